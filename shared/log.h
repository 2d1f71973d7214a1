/* log: one line per event on stderr, as text or JSON lines. It never exits the
 * process and never writes anywhere else. */
#ifndef STAGEQ_LOG_H
#define STAGEQ_LOG_H

#include <errno.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* Sets the format, the lowest level written and the role shown on each line
 * ("api", "supervisor", "worker/3"). The role is copied (truncated at 63 bytes). */
void log_init(const char *role, enum log_format format, enum log_level level);
void log_set_role(const char *role);

/* Parses "text"/"json" and "error"/"warn"/"info"/"debug"; 0 or -1. */
int log_format_parse(const char *s, enum log_format *out);
int log_level_parse(const char *s, enum log_level *out);

/* Writes one line when level is enabled. errnum != 0 appends strerror(errnum);
 * job (may be NULL) is shown as job=<id>. */
void log_write(enum log_level level, int errnum, const char *job, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_errx(...)            log_write(LOG_LEVEL_ERROR, 0, NULL, __VA_ARGS__)
#define log_warn(...)            log_write(LOG_LEVEL_WARN, errno, NULL, __VA_ARGS__)
#define log_warnx(...)           log_write(LOG_LEVEL_WARN, 0, NULL, __VA_ARGS__)
#define log_info(...)            log_write(LOG_LEVEL_INFO, 0, NULL, __VA_ARGS__)
#define log_debug(...)           log_write(LOG_LEVEL_DEBUG, 0, NULL, __VA_ARGS__)
#define log_job(level, job, ...) log_write((level), 0, (job), __VA_ARGS__)

#endif
