/* config: table-driven options read from the environment, then from flags.
 * One table per binary; the same table produces --help. Never exits or prints:
 * the caller decides what to do with an error or a request for help. */
#ifndef STAGEQ_CONFIG_H
#define STAGEQ_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum cfg_type { CFG_INT, CFG_STRING };

/* One option. `flag` is the long flag without dashes ("concurrency"), `env`
 * the environment variable (may be NULL). Values are stored at `offset` in the
 * binary's config struct: an int for CFG_INT, a char[`size`] for CFG_STRING. */
struct cfg_option {
    const char *flag;
    const char *env;
    enum cfg_type type;
    long long min, max; /* bounds for CFG_INT; max length for CFG_STRING is size-1 */
    const char *def;    /* default as text, parsed like user input */
    size_t offset;
    size_t size; /* CFG_STRING: buffer size */
    const char *help;
};

enum cfg_result { CFG_OK = 0, CFG_ERROR = -1, CFG_HELP = 1 };

/* Fills base from defaults, then the environment, then argv (--flag=value or
 * --flag value; -h/--help returns CFG_HELP). On CFG_ERROR err names the option
 * and base holds a mix of values: do not use it. */
enum cfg_result cfg_load(const struct cfg_option *opts, size_t nopts, void *base, int argc,
                         char **argv, struct sq_err *err);

/* Writes the usage text produced from the table to out. */
void cfg_usage(FILE *out, const char *prog, const char *summary, const struct cfg_option *opts,
               size_t nopts);

#endif
