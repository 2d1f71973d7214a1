/* log: one line per event on stderr, as text or JSON lines. It never exits the
 * process, never writes anywhere else and installs no signal handler.
 *
 * Lines are buffered: written when the buffer fills, when the oldest held line
 * is LOG_FLUSH_MS old (checked at each line and by log_flush_due), at each
 * log_flush (the daemons call it once per loop turn and before they wait), at
 * exit (atexit) and before a fork (pthread_atfork; the child starts with an
 * empty buffer, so no line is written twice). Lines at warn and error are
 * written at once, with everything held before them: the lines that explain a
 * crash are never held. log_catch_crashes writes the held lines on a crash.
 *
 * Every line has a time (RFC 3339, ms, UTC), a level, the role and the message;
 * then the context fields when known: job, pipeline, stage (1-based index),
 * stage_name, worker. Text: "TS LEVEL ROLE: MSG key=value ...", one line per
 * event (control bytes in the message are escaped). JSON: one object per line
 * {"ts","level","role","msg",...}; bytes that are not valid UTF-8 become
 * U+FFFD, so that every line parses. */
#ifndef STAGEQ_LOG_H
#define STAGEQ_LOG_H

#include <errno.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* Sets the format, the lowest level written and the role shown on each line
 * ("api", "supervisor", "worker/3"). The role is copied (truncated at 63 bytes). */
void log_init(const char *role, enum log_format format, enum log_level level);
void log_set_role(const char *role);

#define LOG_FLUSH_MS 100 /* the longest a line is held when lines keep coming */

/* Writes every held line now (whole lines; to a regular file in one write,
 * else each write at most PIPE_BUF bytes unless one line is longer). errno is
 * kept. */
void log_flush(void);

/* log_flush when the oldest held line is LOG_FLUSH_MS old or older. For a
 * loop that wakes at least that often (a stage's poll). */
void log_flush_due(void);

/* For a daemon's main(), never called by shared/ itself: on SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL and SIGABRT, writes the held lines (with write(2) only),
 * then the signal takes the action it had before (the default: the process
 * dies of it, with a core when enabled). Inherited by forked children; an
 * exec resets it. 0, or -1 when sigaction fails (errno set). */
int log_catch_crashes(void);

/* fn(arg) is called when a line is held in an empty buffer: an event loop
 * arranges a log_flush at the end of the current turn (NULL: no call). A
 * forked child starts without it. */
void log_on_hold(void (*fn)(void *arg), void *arg);

/* Parses "text"/"json" and "error"/"warn"/"info"/"debug"; 0 or -1. */
int log_format_parse(const char *s, enum log_format *out);
int log_level_parse(const char *s, enum log_level *out);

/* The context every later line carries (a worker child sets it per job).
 * Strings are copied (truncated at LOG_CTX_MAX - 1 bytes); NULL clears.
 * log_ctx_job clears the stage too; log_ctx_stage(0, NULL) clears it. */
#define LOG_CTX_MAX 256
void log_ctx_worker(const char *worker);
void log_ctx_job(const char *job, const char *pipeline);
void log_ctx_stage(int index, const char *name);

/* Writes one line when level is enabled. errnum != 0 appends strerror(errnum);
 * job (may be NULL) is shown as job=<id>; it replaces the context's job, and
 * when it differs from it the context's pipeline and stage are left out. */
void log_write(enum log_level level, int errnum, const char *job, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One extra field of a line: a string (str != NULL) or else the number num. */
struct log_kv {
    const char *key;
    const char *str;
    long long num;
};

/* log_write without errnum and job, plus the n fields of kv (borrowed) after
 * the context: key=value in text (quoted when needed), members in JSON. */
void log_write_kv(enum log_level level, const struct log_kv *kv, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* log_write_kv with the message msg as it is, not a format: for a line on a
 * hot path (the API's access log) that builds its message without printf. */
void log_msg_kv(enum log_level level, const struct log_kv *kv, size_t n, const char *msg);

#define log_errx(...)            log_write(LOG_LEVEL_ERROR, 0, NULL, __VA_ARGS__)
#define log_warn(...)            log_write(LOG_LEVEL_WARN, errno, NULL, __VA_ARGS__)
#define log_warnx(...)           log_write(LOG_LEVEL_WARN, 0, NULL, __VA_ARGS__)
#define log_info(...)            log_write(LOG_LEVEL_INFO, 0, NULL, __VA_ARGS__)
#define log_debug(...)           log_write(LOG_LEVEL_DEBUG, 0, NULL, __VA_ARGS__)
#define log_job(level, job, ...) log_write((level), 0, (job), __VA_ARGS__)

#endif
