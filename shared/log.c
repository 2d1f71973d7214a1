/* log: level-checked lines on stderr, text or JSON. The only module that writes
 * diagnostics; it never exits. */
#include "log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"

static struct {
    char role[64];
    enum log_format format;
    enum log_level level;
} log_state = {"stageq", LOG_FORMAT_TEXT, LOG_LEVEL_INFO};

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *role, enum log_format format, enum log_level level)
{
    log_set_role(role);
    log_state.format = format;
    log_state.level = level;
}

void log_set_role(const char *role)
{
    snprintf(log_state.role, sizeof(log_state.role), "%s", role ? role : "stageq");
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcasecmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcasecmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

int log_level_parse(const char *s, enum log_level *out)
{
    size_t i;

    for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcasecmp(s, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_write(enum log_level level, int errnum, const char *job, const char *fmt, ...)
{
    char msg[2048], ts[CLOCK_RFC3339_LEN];
    va_list ap;
    int n;

    if (level > log_state.level)
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    if (errnum != 0) {
        size_t used = strlen(msg);
        snprintf(msg + used, sizeof(msg) - used, ": %s", strerror(errnum));
    }
    clock_format_rfc3339(clock_now_ms(), ts);

    if (log_state.format == LOG_FORMAT_JSON) {
        cJSON *o = cJSON_CreateObject();
        char *line;

        cJSON_AddStringToObject(o, "ts", ts);
        cJSON_AddStringToObject(o, "level", log_level_names[level]);
        cJSON_AddStringToObject(o, "role", log_state.role);
        cJSON_AddStringToObject(o, "msg", msg);
        if (job != NULL)
            cJSON_AddStringToObject(o, "job", job);
        line = cJSON_PrintUnformatted(o);
        if (line != NULL)
            fprintf(stderr, "%s\n", line);
        cJSON_free(line);
        cJSON_Delete(o);
    } else if (job != NULL) {
        fprintf(stderr, "%s %-5s %s: %s job=%s\n", ts, log_level_names[level], log_state.role, msg,
                job);
    } else {
        fprintf(stderr, "%s %-5s %s: %s\n", ts, log_level_names[level], log_state.role, msg);
    }
}
