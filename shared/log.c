/* log: level-checked lines on stderr, text or JSON, with the process's context
 * (worker, job, pipeline, stage). The only module that writes diagnostics; it
 * never exits and installs no signal handler of its own. Lines are held in a
 * buffer and written in batches of whole lines, each batch one write of at most
 * PIPE_BUF bytes unless one line is longer, so that processes sharing a log
 * pipe or file never interleave inside a line. */
#include "log.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "clock.h"
#include "utf8.h"

#define LOG_MSG_MAX   2048              /* bytes of a formatted message */
#define LOG_LINE_MAX  16384             /* bytes of a whole line */
#define LOG_CLEAN_MAX (4 * LOG_MSG_MAX) /* a cleaned message: each byte may grow to 4 */
#define LOG_BUF_SIZE  32768             /* bytes of lines held before a write */

static struct {
    char role[64];
    enum log_format format;
    enum log_level level;
    char worker[LOG_CTX_MAX];
    char job[LOG_CTX_MAX];
    char pipeline[LOG_CTX_MAX];
    char stage_name[LOG_CTX_MAX];
    int stage; /* 0 = none */
} log_state = {.role = "stageq", .format = LOG_FORMAT_TEXT, .level = LOG_LEVEL_INFO};

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};

/* The lines not yet written. data[0..len) always holds whole lines: len grows
 * only after a line is copied in, so a crash handler may write it at any time. */
static struct {
    char data[LOG_BUF_SIZE];
    size_t len;
    int64_t first_ms; /* monotonic ms when the oldest held line came */
    bool is_hooked;   /* atexit and pthread_atfork registered */
    void (*on_hold)(void *arg);
    void *on_hold_arg;
} log_buf;

/* Writes p[0..n) to stderr, again after EINTR or a short write. Gives up on
 * any other error (nowhere to report it). Async-signal-safe. */
static void log_write_all(const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Writes p[0..n) (whole lines) in pieces of at most PIPE_BUF bytes that end
 * at a line's end; a longer line goes out alone. Async-signal-safe. */
static void log_write_lines(const char *p, size_t n)
{
    size_t take, k;

    while (n > 0) {
        take = n;
        if (take > PIPE_BUF) {
            for (k = PIPE_BUF; k > 0 && p[k - 1] != '\n'; k--)
                ;
            if (k == 0) { /* one line longer than PIPE_BUF: alone */
                for (k = PIPE_BUF; k < n && p[k - 1] != '\n'; k++)
                    ;
            }
            take = k;
        }
        log_write_all(p, take);
        p += take;
        n -= take;
    }
}

void log_flush(void)
{
    int saved = errno;

    log_write_lines(log_buf.data, log_buf.len);
    log_buf.len = 0;
    errno = saved;
}

void log_flush_from_signal(void)
{
    log_flush(); /* write(2) only, and errno kept: async-signal-safe */
}

void log_flush_due(void)
{
    if (log_buf.len > 0 && clock_mono_ms() - log_buf.first_ms >= LOG_FLUSH_MS)
        log_flush();
}

void log_on_hold(void (*fn)(void *arg), void *arg)
{
    log_flush(); /* fn hears of the next line held in an empty buffer */
    log_buf.on_hold = fn;
    log_buf.on_hold_arg = arg;
}

/* The signals of a crash, and the actions they had before log_catch_crashes. */
static const int log_crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define LOG_NCRASH (sizeof(log_crash_signals) / sizeof(log_crash_signals[0]))
static struct sigaction log_crash_old[LOG_NCRASH];

/* Writes the held lines, puts the earlier action back (the default one, or a
 * sanitizer's), and lets it act: a fault the kernel raised happens again when
 * the handler returns; a signal sent by kill or raise (si_code <= 0) is
 * raised again. Async-signal-safe. */
static void log_on_crash(int sig, siginfo_t *si, void *uctx)
{
    size_t i;

    (void)uctx;
    log_flush_from_signal();
    for (i = 0; i < LOG_NCRASH; i++)
        if (log_crash_signals[i] == sig)
            sigaction(sig, &log_crash_old[i], NULL);
    if (si == NULL || si->si_code <= 0)
        raise(sig); /* blocked until this handler returns */
}

int log_catch_crashes(void)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = log_on_crash;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < LOG_NCRASH; i++)
        if (sigaction(log_crash_signals[i], &sa, &log_crash_old[i]) < 0)
            return -1;
    return 0;
}

/* The child of a fork starts empty: the parent writes its own lines. */
static void log_forget(void)
{
    log_buf.len = 0;
    log_buf.on_hold = NULL;
}

/* Holds line[0..len) (whole lines), writing what is held first when it would
 * not fit; a line longer than the buffer goes out at once. Writes everything
 * at once when is_now, or when the oldest held line is LOG_FLUSH_MS old. */
static void log_hold(const char *line, size_t len, bool is_now)
{
    bool was_empty;
    int64_t now;

    if (!log_buf.is_hooked) {
        log_buf.is_hooked = true;
        atexit(log_flush);
        pthread_atfork(log_flush, NULL, log_forget);
    }
    if (log_buf.len + len > sizeof(log_buf.data))
        log_flush();
    if (len > sizeof(log_buf.data)) {
        log_write_lines(line, len);
        return;
    }
    was_empty = log_buf.len == 0;
    now = clock_mono_ms();
    if (was_empty)
        log_buf.first_ms = now;
    memcpy(log_buf.data + log_buf.len, line, len);
    atomic_signal_fence(memory_order_release); /* the line is in before len says so */
    log_buf.len += len;
    if (is_now || now - log_buf.first_ms >= LOG_FLUSH_MS)
        log_flush();
    else if (was_empty && log_buf.on_hold != NULL)
        log_buf.on_hold(log_buf.on_hold_arg);
}

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

static void log_ctx_copy(char dst[LOG_CTX_MAX], const char *src)
{
    snprintf(dst, LOG_CTX_MAX, "%s", src ? src : "");
}

void log_ctx_worker(const char *worker)
{
    log_ctx_copy(log_state.worker, worker);
}

void log_ctx_job(const char *job, const char *pipeline)
{
    log_ctx_copy(log_state.job, job);
    log_ctx_copy(log_state.pipeline, job ? pipeline : NULL);
    log_ctx_stage(0, NULL);
}

void log_ctx_stage(int index, const char *name)
{
    log_state.stage = index > 0 ? index : 0;
    log_ctx_copy(log_state.stage_name, index > 0 ? name : NULL);
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

/* Copies in (NUL-terminated) into out[cap] as valid UTF-8: an invalid byte
 * becomes U+FFFD. For text, control bytes are escaped too (\n, \t, \xNN), so
 * that a line stays one line. Stops before a character that does not fit. */
static void log_clean(char *out, size_t cap, const char *in, bool is_text)
{
    static const char repl[] = "\xEF\xBF\xBD";
    const unsigned char *p = (const unsigned char *)in;
    size_t avail = strlen(in), used = 0, n;
    char esc[8];
    const char *add;

    while (avail > 0) {
        n = utf8_seq_len(p, avail);
        if (n == 0) {
            if (used + 3 >= cap)
                break;
            memcpy(out + used, repl, 3);
            used += 3;
            p++;
            avail--;
            continue;
        }
        if (is_text && n == 1 && (*p < 0x20 || *p == 0x7F)) {
            if (*p == '\n')
                add = "\\n";
            else if (*p == '\r')
                add = "\\r";
            else if (*p == '\t')
                add = "\\t";
            else {
                snprintf(esc, sizeof(esc), "\\x%02x", *p);
                add = esc;
            }
            if (used + strlen(add) >= cap)
                break;
            memcpy(out + used, add, strlen(add));
            used += strlen(add);
        } else {
            if (used + n >= cap)
                break;
            memcpy(out + used, p, n);
            used += n;
        }
        p += n;
        avail -= n;
    }
    out[used] = '\0';
}

/* Appends " key=value" to line[*used..cap): value quoted (with \" and \\)
 * when empty or holding a space, a quote or '='. */
static void log_text_field(char *line, size_t cap, size_t *used, const char *key, const char *value)
{
    char clean[LOG_CTX_MAX * 4];
    bool is_quoted = value[0] == '\0' || strpbrk(value, " \"=\\") != NULL;
    size_t i;
    int n;

    log_clean(clean, sizeof(clean), value, true);
    if (*used >= cap)
        return;
    n = snprintf(line + *used, cap - *used, " %s=%s", key, is_quoted ? "\"" : "");
    *used = n < 0 ? cap : *used + (size_t)n;
    for (i = 0; clean[i] != '\0' && *used + 2 < cap; i++) {
        if (is_quoted && (clean[i] == '"' || clean[i] == '\\'))
            line[(*used)++] = '\\';
        line[(*used)++] = clean[i];
    }
    if (is_quoted && *used + 1 < cap)
        line[(*used)++] = '"';
    if (*used < cap)
        line[*used] = '\0';
}

static void log_emit(enum log_level level, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        log_hold(line, len, level <= LOG_LEVEL_WARN);
}

static void log_json_str(cJSON *o, const char *key, const char *value)
{
    char clean[LOG_CTX_MAX * 4];

    log_clean(clean, sizeof(clean), value, false);
    cJSON_AddStringToObject(o, key, clean);
}

static void log_out(enum log_level level, const char *job, const struct log_kv *kv, size_t nkv,
                    const char *msg)
{
    static char clean[LOG_CLEAN_MAX], line[LOG_LINE_MAX];
    char ts[CLOCK_RFC3339_LEN], num[32];
    bool has_ctx_job = log_state.job[0] != '\0' && (job == NULL || strcmp(job, log_state.job) == 0);
    size_t used = 0, i;
    int n;

    if (job == NULL && log_state.job[0] != '\0')
        job = log_state.job;
    clock_format_rfc3339(clock_now_ms(), ts);
    log_clean(clean, sizeof(clean), msg, log_state.format == LOG_FORMAT_TEXT);

    if (log_state.format == LOG_FORMAT_JSON) {
        cJSON *o = cJSON_CreateObject();
        char *heap;

        if (o == NULL)
            return;
        cJSON_AddStringToObject(o, "ts", ts);
        cJSON_AddStringToObject(o, "level", log_level_names[level]);
        cJSON_AddStringToObject(o, "role", log_state.role);
        cJSON_AddStringToObject(o, "msg", clean);
        if (job != NULL)
            log_json_str(o, "job", job);
        if (has_ctx_job && log_state.pipeline[0] != '\0')
            log_json_str(o, "pipeline", log_state.pipeline);
        if (has_ctx_job && log_state.stage > 0) {
            cJSON_AddNumberToObject(o, "stage", log_state.stage);
            log_json_str(o, "stage_name", log_state.stage_name);
        }
        if (log_state.worker[0] != '\0')
            log_json_str(o, "worker", log_state.worker);
        for (i = 0; i < nkv; i++) {
            if (kv[i].str != NULL)
                log_json_str(o, kv[i].key, kv[i].str);
            else
                cJSON_AddNumberToObject(o, kv[i].key, (double)kv[i].num);
        }
        if (cJSON_PrintPreallocated(o, line, (int)sizeof(line) - 1, 0)) {
            used = strlen(line);
            line[used++] = '\n';
            log_emit(level, line, used);
        } else if ((heap = cJSON_PrintUnformatted(o)) != NULL) {
            size_t hlen = strlen(heap); /* longer than a line buffer: rare */

            heap[hlen] = '\n'; /* over the NUL: the length is known */
            log_emit(level, heap, hlen + 1);
            cJSON_free(heap);
        }
        cJSON_Delete(o);
        return;
    }
    n = snprintf(line, sizeof(line), "%s %-5s %s: %s", ts, log_level_names[level], log_state.role,
                 clean);
    used = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (job != NULL)
        log_text_field(line, sizeof(line) - 1, &used, "job", job);
    if (has_ctx_job && log_state.pipeline[0] != '\0')
        log_text_field(line, sizeof(line) - 1, &used, "pipeline", log_state.pipeline);
    if (has_ctx_job && log_state.stage > 0) {
        snprintf(num, sizeof(num), "%d", log_state.stage);
        log_text_field(line, sizeof(line) - 1, &used, "stage", num);
        log_text_field(line, sizeof(line) - 1, &used, "stage_name", log_state.stage_name);
    }
    if (log_state.worker[0] != '\0')
        log_text_field(line, sizeof(line) - 1, &used, "worker", log_state.worker);
    for (i = 0; i < nkv; i++) {
        if (kv[i].str == NULL)
            snprintf(num, sizeof(num), "%lld", kv[i].num);
        log_text_field(line, sizeof(line) - 1, &used, kv[i].key,
                       kv[i].str != NULL ? kv[i].str : num);
    }
    if (used > sizeof(line) - 2)
        used = sizeof(line) - 2;
    line[used++] = '\n';
    log_emit(level, line, used);
}

void log_write(enum log_level level, int errnum, const char *job, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX];
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
    log_out(level, job, NULL, 0, msg);
}

void log_write_kv(enum log_level level, const struct log_kv *kv, size_t n, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX];
    va_list ap;

    if (level > log_state.level)
        return;
    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0';
    va_end(ap);
    log_out(level, NULL, kv, n, msg);
}
