/* submit: the submit request validator. Fills a struct or an error; answers
 * nobody and never touches Redis (the API maps the error to HTTP). */
#include "submit.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "ids.h"
#include "job.h"
#include "json.h"

/* The top-level members a submit request may have. */
static const char *const submit_fields[] = {"pipeline",     "input",   "id",     "queue",
                                            "result_ttl_s", "delay_s", "run_at", NULL};

static int submit_fail(struct submit_err *err, enum submit_err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err (a message too long is cut at a character boundary); returns -1. */
static int submit_fail(struct submit_err *err, enum submit_err_code code, const char *fmt, ...)
{
    va_list ap;
    int n;

    err->code = code;
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        err->msg[0] = '\0';
    else if ((size_t)n >= sizeof(err->msg))
        err->msg[utf8_clip(err->msg, sizeof(err->msg) - 1)] = '\0';
    return -1;
}

/* Refuses unknown and repeated members. */
static int submit_check_members(const cJSON *root, struct submit_err *err)
{
    const cJSON *m, *o;
    size_t i;

    for (m = root->child; m != NULL; m = m->next) {
        const char *name = m->string ? m->string : "";
        for (i = 0; submit_fields[i] != NULL; i++)
            if (strcmp(name, submit_fields[i]) == 0)
                break;
        if (submit_fields[i] == NULL)
            return submit_fail(err, SUBMIT_ERR_UNKNOWN_FIELD, "unknown field '%.*s'",
                               utf8_clip(name, SUBMIT_SHOW_MAX), name);
        for (o = root->child; o != m; o = o->next)
            if (o->string != NULL && strcmp(o->string, name) == 0)
                return submit_fail(err, SUBMIT_ERR_INVALID_FIELD,
                                   "field '%s' appears more than once", name);
    }
    return 0;
}

/* The queues a job of sr's pipeline visits (its stages', with the queue sr
 * names as home) must have the same partition count: a job keeps its slot
 * for life (keys.h). The pipelines file checks this for the pipeline's own
 * queue; a submit that names another queue is checked here. */
static int submit_check_partitions(const struct pipeline_set *set, const struct submit_req *sr,
                                   struct submit_err *err)
{
    const struct pipeline *p = sr->pipeline;
    const char *first = pipeline_stage_queue(p, 1, sr->queue), *q;
    int want = pipeline_set_partitions(set, first), got;
    size_t k;

    for (k = 2; k <= p->nstages; k++) {
        q = pipeline_stage_queue(p, k, sr->queue);
        if ((got = pipeline_set_partitions(set, q)) != want)
            return submit_fail(err, SUBMIT_ERR_INVALID_FIELD,
                               "queue '%s' has %d partitions and queue '%s' (stage %zu) %d: the "
                               "queues of one job need the same number",
                               first, want, q, k, got);
    }
    return 0;
}

/* delay_s and run_at of root into sr: a delay in seconds (a fraction kept to
 * the millisecond), or a time; not both. */
static int submit_validate_due(const cJSON *root, struct submit_req *sr, struct submit_err *err)
{
    const cJSON *delay = json_get(root, "delay_s"), *run_at = json_get(root, "run_at");
    double d;

    if (delay != NULL && run_at != NULL)
        return submit_fail(err, SUBMIT_ERR_INVALID_FIELD,
                           "give either 'delay_s' or 'run_at', not both");
    if (delay != NULL) {
        d = cJSON_IsNumber(delay) ? delay->valuedouble : -1.0;
        if (!(d >= 0.0 && d <= (double)JOB_DELAY_MAX_S))
            return submit_fail(err, SUBMIT_ERR_INVALID_FIELD,
                               "field 'delay_s' must be a number of seconds in [0, %d] (a "
                               "fraction is kept to the millisecond)",
                               JOB_DELAY_MAX_S);
        sr->has_delay = true;
        sr->delay_ms = (int64_t)(d * 1000.0 + 0.5); /* in range: the cast is defined */
    }
    if (run_at != NULL) {
        if (!cJSON_IsString(run_at) ||
            clock_parse_rfc3339_any(run_at->valuestring, &sr->run_at_ms) < 0)
            return submit_fail(err, SUBMIT_ERR_INVALID_FIELD,
                               "field 'run_at' must be an RFC 3339 time with a 'Z' or an offset, "
                               "such as 2026-11-25T16:48:16Z or 2026-11-25T17:48:16.5+01:00");
        sr->has_run_at = true;
    }
    return 0;
}

/* Fills sr from the body object root. */
static int submit_validate(const cJSON *root, const struct pipeline_set *set, struct submit_req *sr,
                           struct submit_err *err)
{
    const cJSON *pipeline, *id, *queue, *ttl;
    double d;

    if (submit_check_members(root, err) < 0)
        return -1;
    pipeline = json_get(root, "pipeline");
    if (pipeline == NULL)
        return submit_fail(err, SUBMIT_ERR_MISSING_FIELD, "field 'pipeline' is required");
    if (!cJSON_IsString(pipeline))
        return submit_fail(err, SUBMIT_ERR_INVALID_FIELD, "field 'pipeline' must be a string");
    id = json_get(root, "id");
    if (id != NULL) {
        if (!cJSON_IsString(id) ||
            !ids_is_valid(id->valuestring, strlen(id->valuestring), IDS_MAX_LEN))
            return submit_fail(err, SUBMIT_ERR_INVALID_ID,
                               "field 'id' must be 1-%d characters of [A-Za-z0-9._:-], not . or ..",
                               IDS_MAX_LEN);
        sr->id = id->valuestring;
    }
    queue = json_get(root, "queue");
    if (queue != NULL) {
        if (!cJSON_IsString(queue) ||
            !ids_is_valid(queue->valuestring, strlen(queue->valuestring), IDS_NAME_MAX_LEN))
            return submit_fail(
                err, SUBMIT_ERR_INVALID_FIELD,
                "field 'queue' must be 1-%d characters of [A-Za-z0-9._:-], not . or ..",
                IDS_NAME_MAX_LEN);
        sr->queue = queue->valuestring;
    }
    ttl = json_get(root, "result_ttl_s");
    if (ttl != NULL) {
        d = cJSON_IsNumber(ttl) ? ttl->valuedouble : 0.0;
        /* the range check first makes the cast to long long defined */
        if (!cJSON_IsNumber(ttl) || !(d >= 1.0 && d <= (double)JOB_RESULT_TTL_MAX_S) ||
            (double)(long long)d != d)
            return submit_fail(err, SUBMIT_ERR_INVALID_FIELD,
                               "field 'result_ttl_s' must be a whole number of seconds in [1, %d]",
                               JOB_RESULT_TTL_MAX_S);
        sr->result_ttl_s = (int)d;
    }
    if (submit_validate_due(root, sr, err) < 0)
        return -1;
    sr->input = json_get(root, "input");
    sr->pipeline = pipeline_set_find(set, pipeline->valuestring);
    if (sr->pipeline == NULL)
        return submit_fail(err, SUBMIT_ERR_UNKNOWN_PIPELINE, "unknown pipeline '%.*s'",
                           utf8_clip(pipeline->valuestring, SUBMIT_SHOW_MAX),
                           pipeline->valuestring);
    if (sr->queue == NULL)
        sr->queue = sr->pipeline->queue;
    if (ttl == NULL)
        sr->result_ttl_s = sr->pipeline->result_ttl_s;
    return submit_check_partitions(set, sr, err);
}

/* Fills sr from root, the value parsed from body[0..len) (borrowed). */
static int submit_from_tree(const char *body, size_t len, const cJSON *root,
                            const struct pipeline_set *set, struct submit_req *sr,
                            struct submit_err *err)
{
    if (!cJSON_IsObject(root))
        return submit_fail(err, SUBMIT_ERR_INVALID_REQUEST,
                           "the request body must be a JSON object");
    if (submit_validate(root, set, sr, err) < 0)
        return -1;
    if (sr->input != NULL &&
        submit_member_text(body, len, root, sr->input, &sr->input_text, &sr->input_len) < 0)
        return submit_fail(err, SUBMIT_ERR_INVALID_REQUEST,
                           "the input could not be located in the body");
    return 0;
}

int submit_parse(const char *body, size_t len, const struct pipeline_set *set,
                 struct submit_req *out, struct submit_err *err)
{
    struct json_err jerr;
    struct submit_req sr = {0};

    memset(out, 0, sizeof(*out));
    err->code = SUBMIT_OK;
    err->msg[0] = '\0';
    sr.root = json_parse_strict(body, len, JSON_MAX_DEPTH_DEFAULT, &jerr);
    if (sr.root == NULL)
        return submit_fail(err, SUBMIT_ERR_MALFORMED_JSON, SUBMIT_MALFORMED "%s", jerr.msg);
    if (submit_from_tree(body, len, sr.root, set, &sr, err) < 0) {
        submit_req_free(&sr);
        return -1;
    }
    *out = sr;
    return 0;
}

int submit_parse_item(const char *text, size_t len, const cJSON *item,
                      const struct pipeline_set *set, struct submit_req *out,
                      struct submit_err *err)
{
    struct submit_req sr = {0};

    memset(out, 0, sizeof(*out));
    err->code = SUBMIT_OK;
    err->msg[0] = '\0';
    if (submit_from_tree(text, len, item, set, &sr, err) < 0)
        return -1;
    *out = sr; /* root stays NULL: item is the caller's */
    return 0;
}

int submit_due_ms(const struct submit_req *req, int64_t now_ms, int64_t *due_ms,
                  struct submit_err *err)
{
    char ts[CLOCK_RFC3339_LEN];

    *due_ms = now_ms;
    if (req->has_delay) {
        *due_ms = now_ms + req->delay_ms;
    } else if (req->has_run_at) {
        if (req->run_at_ms - now_ms > (int64_t)JOB_DELAY_MAX_S * 1000) {
            clock_format_rfc3339(now_ms + (int64_t)JOB_DELAY_MAX_S * 1000, ts);
            return submit_fail(err, SUBMIT_ERR_INVALID_FIELD,
                               "field 'run_at' is more than %d s (a year) ahead: at most %s",
                               JOB_DELAY_MAX_S, ts);
        }
        *due_ms = req->run_at_ms;
    }
    return 0;
}

int submit_member_text(const char *body, size_t len, const cJSON *root, const cJSON *member,
                       const char **text, size_t *tlen)
{
    const cJSON *m;
    size_t index = 0, off;

    for (m = root->child; m != NULL && m != member; m = m->next)
        index++;
    if (m == NULL || json_member_span(body, len, index, &off, tlen) < 0)
        return -1;
    *text = body + off;
    return 0;
}

void submit_req_free(struct submit_req *req)
{
    if (req == NULL)
        return;
    cJSON_Delete(req->root);
    memset(req, 0, sizeof(*req));
}
