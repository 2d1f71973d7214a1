/* log: level-checked lines on stderr, text or JSON, with the process's context
 * (worker, job, pipeline, stage). The only module that writes diagnostics; it
 * never exits and installs no signal handler of its own. Lines are held in a
 * buffer and written in batches of whole lines so that processes sharing a
 * log pipe or file never interleave inside a line: to a pipe, a socket or a
 * terminal each batch is one write of at most PIPE_BUF bytes (unless one line
 * is longer: the size whose writes POSIX keeps whole); to a regular file,
 * one write of everything held (Linux writes a regular file's writes one
 * after the other, its shared offset too), which costs a few times less per
 * byte than PIPE_BUF pieces. */
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "num.h"
#include "utf8.h"

#define LOG_MSG_MAX   2048              /* bytes of a formatted message */
#define LOG_LINE_MAX  16384             /* bytes of a whole line */
#define LOG_CLEAN_MAX (4 * LOG_MSG_MAX) /* a cleaned message: each byte may grow to 4 */
#define LOG_BUF_SIZE  65536             /* bytes of lines held before a write */

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

/* The context's fields as a text line writes them (" job=... pipeline=...",
 * " stage=... stage_name=...", " worker=..."), written when the context is
 * set rather than on each line: a worker writes two lines per job. */
#define LOG_CTX_TEXT_MAX (2 * (LOG_CTX_MAX * 8 + 16)) /* two fields, each escaped */
static struct {
    char job[LOG_CTX_TEXT_MAX], stage[LOG_CTX_TEXT_MAX], worker[LOG_CTX_TEXT_MAX];
    size_t job_len, stage_len, worker_len;
} log_ctx_text;

static const char *const log_level_names[] = {"error", "warn", "info", "debug"};
static const char *const log_level_padded[] = {"error", "warn ", "info ", "debug"}; /* %-5s */

/* The lines not yet written. data[0..len) always holds whole lines: len grows
 * only after a line is copied in, so a crash handler may write it at any time. */
static struct {
    char data[LOG_BUF_SIZE];
    size_t len;
    int64_t first_ms; /* wall-clock ms of the oldest held line (its time stamp) */
    bool is_hooked;   /* atexit and pthread_atfork registered */
    void (*on_hold)(void *arg);
    void *on_hold_arg;
} log_buf;

/* True when the oldest held line came LOG_FLUSH_MS before now (wall-clock
 * ms, the lines' own time), or when the clock went back since. */
static bool log_is_due(int64_t now)
{
    return log_buf.len > 0 && (now - log_buf.first_ms >= LOG_FLUSH_MS || now < log_buf.first_ms);
}

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

/* What stderr is: 0 not looked at yet, 1 a regular file, 2 anything else
 * (looked at again after log_init: a daemon may have moved it). */
static int log_fd_kind;

/* Writes p[0..n) (whole lines): to a regular file in one write, else in
 * pieces of at most PIPE_BUF bytes that end at a line's end (a longer line
 * goes out alone). Async-signal-safe (fstat, write). */
static void log_write_lines(const char *p, size_t n)
{
    size_t take, k;
    struct stat st;

    if (log_fd_kind == 0 && n > 0)
        log_fd_kind = fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode) ? 1 : 2;
    if (log_fd_kind == 1) {
        log_write_all(p, n);
        return;
    }
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

/* log_flush for a signal handler (SIGSEGV, SIGABRT, SIGTERM...): only write(2),
 * no lock, no allocation. May write a line twice when the signal came in the
 * middle of a log_flush, never loses one. */
static void log_flush_from_signal(void)
{
    log_flush(); /* write(2) only, and errno kept: async-signal-safe */
}

void log_flush_due(void)
{
    struct timespec ts;
    int64_t now;

    if (log_buf.len == 0)
        return;
    /* The coarse clock (a tick behind, a quarter of the cost here: a builtin
     * stage calls this at each progress report); a clock that went back is
     * left to the next line's check. */
    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
        return;
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now - log_buf.first_ms >= LOG_FLUSH_MS)
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

/* Holds line[0..len) (whole lines) that came at now (wall-clock ms), writing
 * what is held first when it would not fit; a line longer than the buffer
 * goes out at once. Writes everything when is_now, or when log_is_due. */
static void log_hold(const char *line, size_t len, int64_t now, bool is_now)
{
    bool was_empty;

    if (!log_buf.is_hooked) {
        log_buf.is_hooked = true;
        atexit(log_flush);
        pthread_atfork(log_flush, NULL, log_forget);
    }
    if (log_buf.len + len > sizeof(log_buf.data))
        log_flush();
    if (len > sizeof(log_buf.data)) {
        int saved = errno;

        log_write_lines(line, len);
        errno = saved;
        return;
    }
    was_empty = log_buf.len == 0;
    if (was_empty)
        log_buf.first_ms = now;
    memcpy(log_buf.data + log_buf.len, line, len);
    atomic_signal_fence(memory_order_release); /* the line is in before len says so */
    log_buf.len += len;
    if (is_now || log_is_due(now))
        log_flush();
    else if (was_empty && log_buf.on_hold != NULL)
        log_buf.on_hold(log_buf.on_hold_arg);
}

void log_init(const char *role, enum log_format format, enum log_level level)
{
    log_set_role(role);
    log_fd_kind = 0;
    log_state.format = format;
    log_state.level = level;
}

void log_set_role(const char *role)
{
    snprintf(log_state.role, sizeof(log_state.role), "%s", role ? role : "stageq");
}

static void log_ctx_copy(char dst[LOG_CTX_MAX], const char *src)
{
    size_t n = src != NULL ? strnlen(src, LOG_CTX_MAX - 1) : 0;

    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

static void log_text_field(char *line, size_t cap, size_t *used, const char *key,
                           const char *value);

void log_ctx_worker(const char *worker)
{
    log_ctx_copy(log_state.worker, worker);
    log_ctx_text.worker_len = 0;
    log_ctx_text.worker[0] = '\0';
    if (log_state.worker[0] != '\0')
        log_text_field(log_ctx_text.worker, sizeof(log_ctx_text.worker), &log_ctx_text.worker_len,
                       "worker", log_state.worker);
}

void log_ctx_job(const char *job, const char *pipeline)
{
    log_ctx_copy(log_state.job, job);
    log_ctx_copy(log_state.pipeline, job ? pipeline : NULL);
    log_ctx_text.job_len = 0;
    log_ctx_text.job[0] = '\0';
    if (log_state.job[0] != '\0')
        log_text_field(log_ctx_text.job, sizeof(log_ctx_text.job), &log_ctx_text.job_len, "job",
                       log_state.job);
    if (log_state.job[0] != '\0' && log_state.pipeline[0] != '\0')
        log_text_field(log_ctx_text.job, sizeof(log_ctx_text.job), &log_ctx_text.job_len,
                       "pipeline", log_state.pipeline);
    log_ctx_stage(0, NULL);
}

void log_ctx_stage(int index, const char *name)
{
    char num[16];

    log_state.stage = index > 0 ? index : 0;
    log_ctx_copy(log_state.stage_name, index > 0 ? name : NULL);
    log_ctx_text.stage_len = 0;
    log_ctx_text.stage[0] = '\0';
    if (log_state.stage > 0) {
        snprintf(num, sizeof(num), "%d", log_state.stage);
        log_text_field(log_ctx_text.stage, sizeof(log_ctx_text.stage), &log_ctx_text.stage_len,
                       "stage", num);
        log_text_field(log_ctx_text.stage, sizeof(log_ctx_text.stage), &log_ctx_text.stage_len,
                       "stage_name", log_state.stage_name);
    }
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
        for (n = 0; n < avail && p[n] >= 0x20 && p[n] < 0x7F; n++)
            ; /* a run of printable ASCII: copied as it is */
        if (n > 0) {
            bool is_cut = used + n >= cap;

            if (is_cut)
                n = cap - 1 - used;
            memcpy(out + used, p, n);
            used += n;
            p += n;
            avail -= n;
            if (is_cut)
                break;
            continue;
        }
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

/* Appends s[0..len) to line[*used..cap) as snprintf would: what fits and a
 * NUL, and *used grows by len even when cut (then *used >= cap). */
static void log_put(char *line, size_t cap, size_t *used, const char *s, size_t len)
{
    size_t k;

    if (*used >= cap)
        return;
    k = len < cap - *used - 1 ? len : cap - *used - 1;
    memcpy(line + *used, s, k);
    line[*used + k] = '\0';
    *used += len;
}

/* The length of s when it is printable ASCII without a space, quote, '=' or
 * backslash (a field value written as it is), else 0. */
static size_t log_plain_len(const char *s)
{
    /* 1: a byte a plain value may hold, printable ASCII but for the space,
     * '"', '=' and '\\' (one load per byte, not five tests) */
    /* clang-format off */
    static const unsigned char plain[256] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
        0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, /* 0x30 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xA0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xB0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xC0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xD0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xE0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xF0 */
    };
    /* clang-format on */
    const unsigned char *p = (const unsigned char *)s;

    for (; plain[*p]; p++)
        ;
    return *p == '\0' ? (size_t)(p - (const unsigned char *)s) : 0;
}

/* Appends " key=value" to line[*used..cap): value quoted (with \" and \\)
 * when empty or holding a space, a quote or '='. */
static void log_text_field(char *line, size_t cap, size_t *used, const char *key, const char *value)
{
    char clean[LOG_CTX_MAX * 4];
    size_t i, len = log_plain_len(value);
    bool is_quoted;

    if (*used >= cap)
        return;
    log_put(line, cap, used, " ", 1);
    log_put(line, cap, used, key, strlen(key));
    log_put(line, cap, used, "=", 1);
    if (len > 0 && len < sizeof(clean)) { /* as log_clean would leave it */
        if (*used + 2 < cap) {
            i = len < cap - 2 - *used ? len : cap - 2 - *used;
            memcpy(line + *used, value, i);
            *used += i;
        }
        if (*used < cap)
            line[*used] = '\0';
        return;
    }
    is_quoted = value[0] == '\0' || strpbrk(value, " \"=\\") != NULL;
    log_clean(clean, sizeof(clean), value, true);
    if (is_quoted)
        log_put(line, cap, used, "\"", 1);
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

static void log_emit(enum log_level level, int64_t now_ms, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        log_hold(line, len, now_ms, level <= LOG_LEVEL_WARN);
}

static void log_json_str(cJSON *o, const char *key, const char *value)
{
    char clean[LOG_CTX_MAX * 4];

    log_clean(clean, sizeof(clean), value, false);
    cJSON_AddStringToObject(o, key, clean);
}

/* The time of a line now: clock_format_rfc3339, its date and time reused
 * within the same second (only the milliseconds change). */
static void log_time(int64_t ms, char ts[CLOCK_RFC3339_LEN])
{
    static char last[CLOCK_RFC3339_LEN];
    static int64_t last_s = -1;

    if (ms < 0 || ms / 1000 != last_s) {
        clock_format_rfc3339(ms, last);
        last_s = ms < 0 ? -1 : ms / 1000;
    } else {
        last[20] = (char)('0' + ms % 1000 / 100); /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
        last[21] = (char)('0' + ms % 100 / 10);
        last[22] = (char)('0' + ms % 10);
    }
    memcpy(ts, last, CLOCK_RFC3339_LEN);
}

static void log_out(enum log_level level, const char *job, const struct log_kv *kv, size_t nkv,
                    const char *msg)
{
    static char clean[LOG_CLEAN_MAX], line[LOG_LINE_MAX];
    char ts[CLOCK_RFC3339_LEN], num[NUM_LL_TEXT_MAX];
    int64_t now;
    bool has_ctx_job = log_state.job[0] != '\0' && (job == NULL || strcmp(job, log_state.job) == 0);
    size_t used = 0, i;

    if (job == NULL && log_state.job[0] != '\0')
        job = log_state.job;
    now = clock_now_ms();
    log_time(now, ts);
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
            log_emit(level, now, line, used);
        } else if ((heap = cJSON_PrintUnformatted(o)) != NULL) {
            size_t hlen = strlen(heap); /* longer than a line buffer: rare */

            heap[hlen] = '\n'; /* over the NUL: the length is known */
            log_emit(level, now, heap, hlen + 1);
            cJSON_free(heap);
        }
        cJSON_Delete(o);
        return;
    }
    /* "%s %-5s %s: %s": ts, level, role (< 64) and clean (< LOG_CLEAN_MAX) fit */
    log_put(line, sizeof(line), &used, ts, strlen(ts));
    log_put(line, sizeof(line), &used, " ", 1);
    log_put(line, sizeof(line), &used, log_level_padded[level], 5);
    log_put(line, sizeof(line), &used, " ", 1);
    log_put(line, sizeof(line), &used, log_state.role, strlen(log_state.role));
    log_put(line, sizeof(line), &used, ": ", 2);
    log_put(line, sizeof(line), &used, clean, strlen(clean));
    /* the context's fields as log_ctx_* wrote them (LOG_CTX_TEXT_MAX each: they fit) */
    if (has_ctx_job) {
        log_put(line, sizeof(line), &used, log_ctx_text.job, log_ctx_text.job_len);
        log_put(line, sizeof(line), &used, log_ctx_text.stage, log_ctx_text.stage_len);
    } else if (job != NULL) {
        log_text_field(line, sizeof(line) - 1, &used, "job", job);
    }
    log_put(line, sizeof(line), &used, log_ctx_text.worker, log_ctx_text.worker_len);
    for (i = 0; i < nkv; i++) {
        if (kv[i].str == NULL)
            num_text_ll(kv[i].num, num);
        log_text_field(line, sizeof(line) - 1, &used, kv[i].key,
                       kv[i].str != NULL ? kv[i].str : num);
    }
    if (used > sizeof(line) - 2)
        used = sizeof(line) - 2;
    line[used++] = '\n';
    log_emit(level, now, line, used);
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

void log_msg_kv(enum log_level level, const struct log_kv *kv, size_t n, const char *msg)
{
    if (level <= log_state.level)
        log_out(level, NULL, kv, n, msg);
}
