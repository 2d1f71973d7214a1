/* options: the checks of the options both daemons read (their rows are the
 * OPTIONS_SHARED_ROWS macro of options.h). */
#include "options.h"

#include <string.h>

#include "ids.h"
#include "keys.h"

int options_check(const struct options_shared *o, struct redis_url *url, enum log_format *format,
                  enum log_level *level, struct sq_err *err)
{
    struct sq_err e;

    if (redis_url_parse(o->redis_url, url, &e) < 0) {
        err_set(err, SQ_ERR_INVALID, "--redis-url: %s", e.msg);
        return -1;
    }
    if (!ids_is_valid(o->prefix, strlen(o->prefix), KEYS_PREFIX_MAX_LEN)) {
        err_set(err, SQ_ERR_INVALID, "--prefix: '%s' must be 1-%d characters of [A-Za-z0-9._:-]",
                o->prefix, KEYS_PREFIX_MAX_LEN);
        return -1;
    }
    if (log_format_parse(o->log_format, format) < 0) {
        err_set(err, SQ_ERR_INVALID, "--log: '%s' is not text or json", o->log_format);
        return -1;
    }
    if (log_level_parse(o->log_level, level) < 0) {
        err_set(err, SQ_ERR_INVALID, "--log-level: '%s' is not error, warn, info or debug",
                o->log_level);
        return -1;
    }
    return 0;
}
