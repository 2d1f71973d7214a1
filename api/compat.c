/* compat: the routes of the Flask app of the blog that stageq grew out of
 * (its client: examples/blog/client.py), so that its client works unchanged:
 * POST /start_task, POST /start_task/{id}, GET /task_status/{id}, running the
 * default pipeline (the built-in "blog": the blog's own four stages). Same
 * machinery as /v1/jobs (the submit script, HGETALL); only the bodies, the
 * status strings and the blog's own error answers ({"message": ...}) differ.
 * `data` is stored as the bytes sent. Errors outside the blog's contract keep
 * the usual {"error":{...}} bodies. */
#include "api.h"

#include <event2/buffer.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "json.h"
#include "log.h"
#include "submit.h"

#define COMPAT_MAX_DEPTH 64

#define COMPAT_MSG_STARTED   "Task started."
#define COMPAT_MSG_EXISTS    "Task is already running or completed."
#define COMPAT_MSG_NOT_FOUND "Task not found."

/* Answers ar with status and {"message": msg}; ar is freed. */
static void compat_reply_message(struct api_req *ar, int status, const char *msg)
{
    cJSON *body = cJSON_CreateObject();

    cJSON_AddStringToObject(body, "message", msg);
    reply_json(ar, status, body); /* NULL body (out of memory) becomes a 500 */
    cJSON_Delete(body);
}

/* True for POST /start_task/{id} (the client chose the id). Routing matched
 * the encoded path, so its literal prefix tells the two routes apart. */
static bool compat_has_client_id(const struct api_req *ar)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ar->req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    return path != NULL && strncmp(path, "/start_task/", sizeof("/start_task/") - 1) == 0;
}

static void compat_start_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct api_req *ar = arg;
    char msg[sizeof("Task  started.") + IDS_MAX_LEN];
    cJSON *body;

    switch (jobs_submit_outcome(ar, reply, err)) {
    case -1:
        return;
    case 0:
    case 2: /* the same request again: the blog answers 400 all the same */
        compat_reply_message(ar, 400, COMPAT_MSG_EXISTS);
        return;
    default:
        break;
    }
    log_job(LOG_LEVEL_DEBUG, ar->id, "job queued (start_task)");
    /* the blog's two variants: "Task started." and "Task <id> started." */
    if (compat_has_client_id(ar))
        snprintf(msg, sizeof(msg), "Task %s started.", ar->id);
    else
        snprintf(msg, sizeof(msg), "%s", COMPAT_MSG_STARTED);
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "message", msg);
    cJSON_AddStringToObject(body, "task_id", ar->id);
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    reply_json(ar, 200, body);
    cJSON_Delete(body);
}

void compat_start_task(struct api_req *ar)
{
    const struct api_config *cfg = ar->api->cfg;
    struct evhttp_request *req = ar->req;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t len = evbuffer_get_length(in);
    const struct pipeline *p = pipeline_set_find(ar->api->pipelines, cfg->default_pipeline);
    cJSON *root = NULL;
    const cJSON *data = NULL;
    const char *data_text = NULL; /* data's bytes as sent: a span of the body */
    size_t data_len = 0;
    struct json_err jerr;
    char uuid[IDS_UUID_LEN];
    const char *body;

    if (p == NULL) { /* main checked it at start */
        errors_reply(ar, API_ERR_INTERNAL, "default pipeline %s is gone", cfg->default_pipeline);
        return;
    }
    /* a missing body is {"data": null}; a body must be JSON, like Flask's get_json */
    if (len > 0 && !jobs_is_json_type(ct)) {
        errors_reply(ar, API_ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json");
        return;
    }
    if (len > (size_t)cfg->max_body) {
        errors_reply(ar, API_ERR_PAYLOAD_TOO_LARGE, "request body is larger than %d bytes",
                     cfg->max_body);
        return;
    }
    if (len > 0) {
        body = (const char *)evbuffer_pullup(in, -1);
        if (body == NULL) {
            errors_reply(ar, API_ERR_INTERNAL, "out of memory reading the body");
            return;
        }
        root = json_parse_strict(body, len, COMPAT_MAX_DEPTH, &jerr);
        if (root == NULL) {
            errors_reply(ar, API_ERR_MALFORMED_JSON, SUBMIT_MALFORMED "%s", jerr.msg);
            return;
        }
        if (!cJSON_IsObject(root)) {
            errors_reply(ar, API_ERR_INVALID_REQUEST, "the body must be a JSON object");
            goto done;
        }
        data = json_get(root, "data"); /* other members are ignored, as Flask does */
        if (data != NULL && submit_member_text(body, len, root, data, &data_text, &data_len) < 0) {
            errors_reply(ar, API_ERR_INTERNAL, "data could not be located in the body");
            goto done;
        }
    }
    if (ar->id[0] == '\0') { /* POST /start_task: a new UUID */
        ids_new_uuid(uuid);
        snprintf(ar->id, sizeof(ar->id), "%s", uuid);
    }
    jobs_submit_prepared(ar, p, p->queue, data_text, data_len, p->result_ttl_s, 0,
                         compat_start_done);
done:
    cJSON_Delete(root);
}

/* The "stage" of a job status object (a number, or a raw number item): 0
 * and *k set, or -1 when it is missing or not a number in int's range. */
static int compat_stage(const cJSON *st, int *k)
{
    double d;

    if (json_number(json_get(st, "stage"), &d) < 0 || !(d >= INT_MIN && d <= INT_MAX))
        return -1;
    *k = (int)d;
    return 0;
}

/* The blog's status line for a job status object. */
static void compat_status_text(const cJSON *st, char *out, size_t cap)
{
    const cJSON *state = json_get(st, "state");
    const char *s = cJSON_IsString(state) ? state->valuestring : "";
    int stage;

    if (strcmp(s, "succeeded") == 0)
        snprintf(out, cap, "Task Completed");
    else if (strcmp(s, "failed") == 0)
        snprintf(out, cap, "Task Failed");
    else if (strcmp(s, "canceled") == 0)
        snprintf(out, cap, "Task Canceled");
    else if (strcmp(s, "running") == 0 && compat_stage(st, &stage) == 0)
        snprintf(out, cap, "Currently executing stage %d.", stage);
    else /* queued, scheduled (or waiting for a retry): no stage runs yet */
        snprintf(out, cap, "Currently executing stage 0.");
}

/* The blog's "result": the output of the last finished stage (the whole
 * result once the job succeeded), else null. Borrowed from st. */
static const cJSON *compat_result(const cJSON *st)
{
    const cJSON *state = json_get(st, "state");
    const cJSON *stages = json_get(st, "stages"), *res = json_get(st, "result"), *out;
    int k;

    if (res != NULL && !cJSON_IsNull(res))
        return res;
    if (!cJSON_IsString(state) || strcmp(state->valuestring, "running") != 0 ||
        compat_stage(st, &k) < 0 || !cJSON_IsArray(stages))
        return NULL;
    for (k = k - 1; k >= 1; k--) { /* stages[k-1] is stage k */
        out = json_get(cJSON_GetArrayItem(stages, k - 1), "output");
        if (out != NULL && !cJSON_IsNull(out))
            return out;
    }
    return NULL;
}

static void compat_status_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct api_req *ar = arg;
    bool is_missing;
    cJSON *st = NULL, *body = NULL;
    const cJSON *res;
    char text[64];

    st = jobs_status_from_reply(ar, reply, err, &is_missing);
    if (is_missing) {
        compat_reply_message(ar, 404, COMPAT_MSG_NOT_FOUND);
        return;
    }
    if (st == NULL)
        return; /* answered */
    body = cJSON_CreateObject();
    if (body == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory building the status");
        goto done;
    }
    compat_status_text(st, text, sizeof(text));
    res = compat_result(st);
    cJSON_AddStringToObject(body, "task_id", ar->id);
    cJSON_AddStringToObject(body, "status", text);
    if (res != NULL)
        cJSON_AddItemToObject(body, "result", cJSON_Duplicate(res, true));
    else
        cJSON_AddNullToObject(body, "result");
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    reply_json(ar, 200, body);
done:
    cJSON_Delete(body);
    cJSON_Delete(st);
}

void compat_task_status(struct api_req *ar)
{
    jobs_read(ar, compat_status_done);
}
