/* errors: the one map from an API error to its HTTP status and code string,
 * and the JSON error reply {"error":{"code","message"}}. No other file picks
 * an error status. */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "utf8.h"

static const struct {
    int status;
    const char *code;
} errors_table[API_ERR_COUNT] = {
    [API_ERR_MALFORMED_JSON] = {400, "malformed_json"},
    [API_ERR_INVALID_REQUEST] = {400, "invalid_request"},
    [API_ERR_INVALID_ID] = {400, "invalid_id"},
    [API_ERR_NOT_FOUND] = {404, "not_found"},
    [API_ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed"},
    [API_ERR_NOT_IMPLEMENTED] = {501, "not_implemented"},
    [API_ERR_UNAUTHORIZED] = {401, "unauthorized"},
    [API_ERR_DUPLICATE_ID] = {409, "duplicate_id"},
    [API_ERR_JOB_FINISHED] = {409, "job_finished"},
    [API_ERR_NOT_RETRYABLE] = {409, "not_retryable"},
    [API_ERR_QUEUE_FULL] = {429, "queue_full"},
    [API_ERR_PAYLOAD_TOO_LARGE] = {413, "payload_too_large"},
    [API_ERR_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported_media_type"},
    [API_ERR_MISSING_FIELD] = {422, "missing_field"},
    [API_ERR_INVALID_FIELD] = {422, "invalid_field"},
    [API_ERR_UNKNOWN_FIELD] = {422, "unknown_field"},
    [API_ERR_UNKNOWN_PIPELINE] = {422, "unknown_pipeline"},
    [API_ERR_REDIS_UNAVAILABLE] = {503, "redis_unavailable"},
    [API_ERR_INTERNAL] = {500, "internal"},
};

/* The HTTP status and the code string of e (an unknown e is "internal", 500). */
static void errors_http(enum api_err e, int *status, const char **code)
{
    if ((unsigned)e >= API_ERR_COUNT || errors_table[e].code == NULL)
        e = API_ERR_INTERNAL;
    *status = errors_table[e].status;
    *code = errors_table[e].code;
}

/* errors_reply with one more string member of the error object (state:
 * "failed", ...) when key is not NULL. */
static void errors_vreply(struct api_req *ar, enum api_err e, const char *key, const char *value,
                          const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

void errors_reply(struct api_req *ar, enum api_err e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    errors_vreply(ar, e, NULL, NULL, fmt, ap);
    va_end(ap);
}

void errors_reply_with(struct api_req *ar, enum api_err e, const char *key, const char *value,
                       const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    errors_vreply(ar, e, key, value, fmt, ap);
    va_end(ap);
}

static void errors_vreply(struct api_req *ar, enum api_err e, const char *key, const char *value,
                          const char *fmt, va_list ap)
{
    char msg[512];
    const char *code;
    cJSON *body = NULL, *inner;
    int status, n;

    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        msg[0] = '\0';
    else if ((size_t)n >= sizeof(msg))
        msg[utf8_clip(msg, sizeof(msg) - 1)] = '\0'; /* whole characters only */
    errors_http(e, &status, &code);
    if (ar->req != NULL && (e == API_ERR_REDIS_UNAVAILABLE || e == API_ERR_QUEUE_FULL))
        evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Retry-After", "1");
    if (ar->req != NULL && e == API_ERR_UNAUTHORIZED)
        evhttp_add_header(evhttp_request_get_output_headers(ar->req), "WWW-Authenticate", "Bearer");
    if (e == API_ERR_INTERNAL)
        log_errx("%s: internal error: %s", ar->log_path, msg);
    body = cJSON_CreateObject();
    inner = cJSON_AddObjectToObject(body, "error");
    if (inner == NULL || cJSON_AddStringToObject(inner, "code", code) == NULL ||
        cJSON_AddStringToObject(inner, "message", msg) == NULL ||
        (key != NULL && cJSON_AddStringToObject(inner, key, value) == NULL)) {
        reply_raw(ar, 500, REPLY_OOM_BODY, sizeof(REPLY_OOM_BODY) - 1);
        goto done;
    }
    reply_json(ar, status, body);
done:
    cJSON_Delete(body);
}

void errors_reply_redis(struct api_req *ar, enum rasync_err err)
{
    errors_reply_redis_on(ar, ar->api->rasync, err);
}

void errors_reply_redis_on(struct api_req *ar, const struct rasync *ra, enum rasync_err err)
{
    if (err == RASYNC_TIMEOUT)
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis did not answer within %d ms",
                     ar->api->cfg->redis_timeout_ms);
    else if (rasync_why(ra)[0] != '\0')
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis is unavailable (%s), retry later",
                     rasync_why(ra));
    else
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis is unavailable, retry later");
}
