/* log: level-checked lines on stderr, text or JSON, with the process's context
 * (worker, job, pipeline, stage). The only module that writes diagnostics; it
 * never exits. Each line goes out in one write, so that processes sharing a
 * log file never interleave inside a line. */
#include "log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "utf8.h"

#define LOG_MSG_MAX   2048              /* bytes of a formatted message */
#define LOG_LINE_MAX  16384             /* bytes of a whole line */
#define LOG_CLEAN_MAX (4 * LOG_MSG_MAX) /* a cleaned message: each byte may grow to 4 */

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

static void log_emit(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        fwrite(line, 1, len, stderr);
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
            log_emit(line, used);
        } else if ((heap = cJSON_PrintUnformatted(o)) != NULL) {
            fprintf(stderr, "%s\n", heap); /* longer than a line buffer: rare */
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
    log_emit(line, used);
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
