/* jobs: the /v1/jobs handlers. Submitting validates the request completely
 * before touching Redis, and answers 202 only after the submit script put the
 * job in Redis. Holds no job state: every answer is read from Redis. */
#include "api.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "submit.h"

#define JOBS_JSON_TYPE  "application/json"
#define JOBS_WAIT_MAX_S 300 /* longest ?wait */

/* True for "application/json", any case, optionally followed by parameters. */
bool jobs_is_json_type(const char *ct)
{
    size_t n = sizeof(JOBS_JSON_TYPE) - 1;

    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, JOBS_JSON_TYPE, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* The API error for a submit_parse error: the one place they are matched. */
enum api_err jobs_submit_api_err(enum submit_err_code code)
{
    switch (code) {
    case SUBMIT_ERR_MALFORMED_JSON:
        return API_ERR_MALFORMED_JSON;
    case SUBMIT_ERR_INVALID_REQUEST:
        return API_ERR_INVALID_REQUEST;
    case SUBMIT_ERR_INVALID_ID:
        return API_ERR_INVALID_ID;
    case SUBMIT_ERR_MISSING_FIELD:
        return API_ERR_MISSING_FIELD;
    case SUBMIT_ERR_INVALID_FIELD:
        return API_ERR_INVALID_FIELD;
    case SUBMIT_ERR_UNKNOWN_FIELD:
        return API_ERR_UNKNOWN_FIELD;
    case SUBMIT_ERR_UNKNOWN_PIPELINE:
        return API_ERR_UNKNOWN_PIPELINE;
    case SUBMIT_OK:
        break;
    }
    return API_ERR_INTERNAL;
}

int jobs_submit_outcome(struct api_req *ar, const redisReply *reply, enum rasync_err err)
{
    if (reply == NULL) {
        errors_reply_redis(ar, err);
        return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        log_job(LOG_LEVEL_WARN, ar->id, "redis: submit failed: %.*s", (int)reply->len, reply->str);
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis refused the job, retry later");
        return -1;
    }
    if (reply->type == REDIS_REPLY_STRING)
        return 2; /* the same request again: its job's state */
    if (reply->type != REDIS_REPLY_INTEGER) {
        errors_reply(ar, API_ERR_INTERNAL, "unexpected reply type %d from the submit script",
                     reply->type);
        return -1;
    }
    if (reply->integer < 0) {
        errors_reply(ar, API_ERR_QUEUE_FULL, "the queue holds %d jobs already, retry later",
                     ar->api->cfg->max_queue);
        return -1;
    }
    return reply->integer == 0 ? 0 : 1;
}

int jobs_submit_accepted(struct api_req *ar, const redisReply *reply, enum rasync_err err)
{
    int rc = jobs_submit_outcome(ar, reply, err);

    if (rc == 0) {
        errors_reply(ar, API_ERR_DUPLICATE_ID, "job %s already exists (another request)", ar->id);
        return -1;
    }
    return rc;
}

void jobs_submit_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct api_req *ar = arg;
    char url[sizeof("/v1/jobs/") + IDS_MAX_LEN], events[sizeof(url) + sizeof("/events")];
    char run_at[CLOCK_RFC3339_LEN];
    enum job_state state = ar->run_at_ms > 0 ? JOB_SCHEDULED : JOB_QUEUED;
    cJSON *body;

    switch (jobs_submit_accepted(ar, reply, err)) {
    case -1:
        return;
    case 2:
        if (job_state_parse(reply->str, &state) < 0)
            state = JOB_QUEUED;
        ar->run_at_ms = 0; /* the job of the first request: its status has its run_at */
        break;
    default:
        break;
    }
    snprintf(url, sizeof(url), "/v1/jobs/%s", ar->id);
    snprintf(events, sizeof(events), "%s/events", url);
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", ar->id);
    cJSON_AddStringToObject(body, "status_url", url);
    cJSON_AddStringToObject(body, "events_url", events);
    cJSON_AddStringToObject(body, "state", job_state_name(state));
    if (ar->run_at_ms > 0) {
        clock_format_rfc3339(ar->run_at_ms, run_at);
        cJSON_AddStringToObject(body, "run_at", run_at);
    }
    log_job(LOG_LEVEL_DEBUG, ar->id, "job %s", job_state_name(state));
    if (ar->req != NULL) { /* an element of an array (bulk.c) has none */
        evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Location", url);
        evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    }
    if (ar->wait_s > 0 && body != NULL) {
        sse_wait(ar, ar->wait_s, body); /* answers when the job ends or time is up */
        return;
    }
    reply_json(ar, 202, body); /* NULL body (out of memory) becomes a 500 */
    cJSON_Delete(body);
}

/* ?wait=S: 0 and *out set (0 when absent), or -1 when S is not 1..300. */
static int jobs_parse_wait(const struct api_req *ar, int *out)
{
    const char *w = evhttp_find_header(&ar->query, "wait");
    int v = 0;

    *out = 0;
    if (w == NULL)
        return 0;
    if (*w == '\0' || strlen(w) > 3)
        return -1;
    for (; *w != '\0'; w++) {
        if (*w < '0' || *w > '9')
            return -1;
        v = v * 10 + (*w - '0');
    }
    if (v < 1 || v > JOBS_WAIT_MAX_S)
        return -1;
    *out = v;
    return 0;
}

/* A submit whose write WAIT must confirm (--min-replicas): the script's
 * reply is kept (an integer, or the state of a retried job) and handed to
 * done once enough replicas have the job. */
struct jobs_durable {
    struct api_req *ar;
    rasync_cb *done;
    redisReply outcome; /* its str points to state */
    char state[16];
    int want; /* the replicas WAIT asked for (rasync_wait_count) */
};

bool jobs_durable_is_confirmed(const redisReply *reply, int want)
{
    return reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= want;
}

void jobs_durable_refuse(struct api_req *ar, const redisReply *reply, enum rasync_err err, int want)
{
    const struct api_config *cfg = ar->api->cfg;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE,
                     "job %s reached %lld of the %d replicas required within %d ms: it is not "
                     "durable yet; retry with the same id",
                     ar->id, reply->integer, want, cfg->redis_timeout_ms / 2);
    else
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE,
                     "job %s may be written but its replication could not be confirmed (%s); "
                     "retry with the same id",
                     ar->id,
                     reply == NULL ? (err == RASYNC_TIMEOUT ? "timeout" : "connection lost")
                                   : "WAIT failed");
}

static void jobs_durable_confirmed(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct jobs_durable *jd = arg;
    struct api_req *ar = jd->ar;

    if (jobs_durable_is_confirmed(reply, jd->want))
        jd->done(&jd->outcome, RASYNC_OK, ar);
    else
        jobs_durable_refuse(ar, reply, err, jd->want);
    free(jd);
}

int jobs_durable_wait(struct api *api, int *want, rasync_cb *cb, void *arg)
{
    const struct api_config *cfg = api->cfg;
    struct rargv args;
    int rc;

    rargv_init(&args);
    rargv_add(&args, "WAIT");
    *want = rasync_wait_count(api->rdurable, cfg->min_replicas);
    rargv_addll(&args, *want);
    rargv_addll(&args, cfg->redis_timeout_ms / 2); /* below the command timeout */
    rc = rasync_command(api->rdurable, &args, cb, arg);
    rargv_free(&args);
    return rc;
}

/* The script's reply, inside its callback: WAIT goes on the same connection,
 * right behind the write. */
static void jobs_durable_written(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct jobs_durable *jd = arg;
    struct api_req *ar = jd->ar;

    if (reply == NULL || !((reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) ||
                           reply->type == REDIS_REPLY_STRING)) {
        jd->done(reply, err, ar); /* nothing written, or an error: as without WAIT */
        free(jd);
        return;
    }
    jd->outcome.type = reply->type;
    jd->outcome.integer = reply->integer;
    if (reply->type == REDIS_REPLY_STRING) {
        snprintf(jd->state, sizeof(jd->state), "%.*s", (int)reply->len, reply->str);
        jd->outcome.str = jd->state;
        jd->outcome.len = strlen(jd->state);
    }
    if (jobs_durable_wait(ar->api, &jd->want, jobs_durable_confirmed, jd) < 0)
        jobs_durable_confirmed(NULL, RASYNC_UNAVAILABLE, jd);
}

/* Sends the submit script (args: its keys and arguments, taken), through
 * WAIT when --min-replicas asks for it. 0 when sent, -1 when ar was answered. */
static int jobs_submit_send(struct api_req *ar, struct rargv *args, rasync_cb *done)
{
    struct api *api = ar->api;
    struct jobs_durable *jd;

    if (api->rdurable == NULL) {
        if (rasync_script(api->rasync, SCRIPT_SUBMIT, 5, args, done, ar) == 0)
            return 0; /* done answers; ar must not be touched here */
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
        return -1;
    }
    jd = calloc(1, sizeof(*jd));
    if (jd == NULL) {
        rargv_free(args);
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        return -1;
    }
    jd->ar = ar;
    jd->done = done;
    if (rasync_script(api->rdurable, SCRIPT_SUBMIT, 5, args, jobs_durable_written, jd) == 0)
        return 0;
    free(jd);
    errors_reply_redis_on(ar, api->rdurable, RASYNC_UNAVAILABLE);
    return -1;
}

/* --max-queue is the queue's, shared evenly by its partitions (rounded up),
 * so that a queue never holds much more than the limit whatever its
 * partition count. */
long long jobs_partition_limit(int max_queue, int partitions)
{
    return max_queue <= 0 ? 0 : ((long long)max_queue + partitions - 1) / partitions;
}

int jobs_submit_prepared(struct api_req *ar, const struct pipeline *p, const char *queue,
                         const char *input, size_t input_len, int result_ttl_s, int64_t due_ms,
                         rasync_cb *done)
{
    const struct api_config *cfg = ar->api->cfg;
    const char *first = pipeline_stage_queue(p, 1, queue), *tag;
    int parts = pipeline_set_partitions(ar->api->pipelines, first);
    struct job_new jn;
    char jkey[KEYS_MAX_LEN], qkey[KEYS_MAX_LEN], rkey[KEYS_MAX_LEN], ckey[KEYS_MAX_LEN],
        dkey[KEYS_MAX_LEN], events[KEYS_MAX_LEN], wake[KEYS_MAX_LEN];
    char *input_text = NULL;
    struct rargv args;
    int rc = -1;

    rargv_init(&args);
    input_text = input != NULL ? json_minify(input, input_len) : NULL; /* not printed again */
    if (input != NULL && input_text == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory copying the input");
        goto done;
    }
    /* the job's partition: from its id, whoever chose it; every key there */
    ar->slot = keys_job_slot(ar->id, strlen(ar->id), parts);
    tag = keys_slot_tag(ar->slot);
    if (keys_job(jkey, sizeof(jkey), cfg->prefix, tag, ar->id) < 0 ||
        keys_queue(qkey, sizeof(qkey), cfg->prefix, tag, first) < 0 ||
        keys_recent(rkey, sizeof(rkey), cfg->prefix, tag) < 0 ||
        keys_counters(ckey, sizeof(ckey), cfg->prefix, tag) < 0 ||
        keys_delayed(dkey, sizeof(dkey), cfg->prefix, tag, first) < 0 ||
        keys_events(events, sizeof(events), cfg->prefix) < 0 ||
        keys_wake(wake, sizeof(wake), cfg->prefix, first) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "key name too long");
        goto done;
    }
    jn.id = ar->id;
    jn.pipeline = p;
    jn.queue = queue;
    jn.input_json = input_text != NULL ? input_text : "null";
    jn.result_ttl_s = result_ttl_s;
    jn.now_ms = clock_now_ms();
    jn.now_text = NULL;
    jn.due_ms = due_ms;
    rargv_add(&args, jkey);
    rargv_add(&args, qkey);
    rargv_add(&args, rkey);
    rargv_add(&args, ckey);
    rargv_add(&args, dkey);
    rargv_add(&args, ar->id);
    rargv_addll(&args, job_new_ttl(&jn));
    rargv_addll(&args, jobs_partition_limit(cfg->max_queue, parts));
    rargv_addll(&args, (long long)jn.now_ms);
    rargv_addll(&args, KEYS_RECENT_MAX);
    rargv_add(&args, events); /* submit publishes: /v1/events sees queued jobs */
    rargv_add(&args, wake);   /* idle workers of a partitioned queue wake up */
    ar->run_at_ms = job_new_is_scheduled(&jn) ? due_ms : 0;
    rargv_addll(&args, ar->run_at_ms);
    if (job_new_fields(&args, &jn) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory building the job");
        goto done;
    }
    rc = jobs_submit_send(ar, &args, done);
done:
    rargv_free(&args);
    cJSON_free(input_text);
    return rc;
}

int jobs_body(struct api_req *ar, const char **body, size_t *len)
{
    const struct api_config *cfg = ar->api->cfg;
    struct evhttp_request *req = ar->req;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");

    *len = evbuffer_get_length(in);
    *body = NULL;
    if (!jobs_is_json_type(ct)) {
        errors_reply(ar, API_ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be %s", JOBS_JSON_TYPE);
        return -1;
    }
    if (*len > (size_t)cfg->max_body) {
        errors_reply(ar, API_ERR_PAYLOAD_TOO_LARGE, "request body is larger than %d bytes",
                     cfg->max_body);
        return -1;
    }
    *body = *len > 0 ? (const char *)evbuffer_pullup(in, -1) : NULL;
    if (*len > 0 && *body == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory reading the body");
        return -1;
    }
    return 0;
}

void jobs_submit(struct api_req *ar)
{
    struct submit_req sr = {0};
    struct submit_err serr;
    char uuid[IDS_UUID_LEN];
    const char *body;
    int64_t due_ms;
    size_t len;

    if (jobs_parse_wait(ar, &ar->wait_s) < 0) {
        errors_reply(ar, API_ERR_INVALID_REQUEST, "wait must be an integer from 1 to %d (seconds)",
                     JOBS_WAIT_MAX_S);
        goto done;
    }
    if (jobs_body(ar, &body, &len) < 0)
        goto done;
    if (submit_parse(body, len, ar->api->pipelines, &sr, &serr) < 0) {
        errors_reply(ar, jobs_submit_api_err(serr.code), "%s", serr.msg);
        goto done;
    }

    if (sr.id == NULL) {
        ids_new_uuid(uuid);
        sr.id = uuid;
    }
    snprintf(ar->id, sizeof(ar->id), "%s", sr.id);
    if (submit_due_ms(&sr, clock_now_ms(), &due_ms, &serr) < 0) {
        errors_reply(ar, jobs_submit_api_err(serr.code), "%s", serr.msg);
        goto done;
    }
    jobs_submit_prepared(ar, sr.pipeline, sr.queue, sr.input_text, sr.input_len, sr.result_ttl_s,
                         due_ms, jobs_submit_done);
done:
    submit_req_free(&sr);
}

/* False when reply is no reply or a Redis error: ar is answered. */
static bool jobs_reply_is_usable(struct api_req *ar, const redisReply *reply, enum rasync_err err)
{
    if (reply == NULL) {
        errors_reply_redis(ar, err);
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        log_job(LOG_LEVEL_WARN, ar->id, "redis: HGETALL failed: %.*s", (int)reply->len, reply->str);
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis could not read the job, retry later");
        return false;
    }
    return true;
}

#define JOBS_STATUS_BAD "unexpected reply to HGETALL (or out of memory building the status)"

cJSON *jobs_status_from_reply(struct api_req *ar, const redisReply *reply, enum rasync_err err,
                              bool *is_missing)
{
    cJSON *status;

    *is_missing = false;
    if (!jobs_reply_is_usable(ar, reply, err))
        return NULL;
    status = eta_status_from_reply(ar->api, ar->id, reply, is_missing);
    if (status == NULL && !*is_missing)
        errors_reply(ar, API_ERR_INTERNAL, JOBS_STATUS_BAD);
    return status;
}

/* GET: the status written as text straight from the reply (no tree). */
static void jobs_get_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct api_req *ar = arg;
    struct api *api = ar->api;
    bool is_missing = false;
    const char *text;
    size_t len;

    if (!jobs_reply_is_usable(ar, reply, err))
        return;
    if (eta_status_text(api, ar->id, reply, &text, &len, &is_missing) < 0) {
        if (is_missing)
            errors_reply(ar, API_ERR_NOT_FOUND, "job %s not found or expired", ar->id);
        else
            errors_reply(ar, API_ERR_INTERNAL, JOBS_STATUS_BAD);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    reply_raw(ar, 200, text, len); /* copies text; frees ar */
    eta_status_text_done(api);
}

void jobs_read(struct api_req *ar, rasync_cb *done)
{
    if (locate_job(ar->api, ar->id, NULL, 0, &ar->slot, done, ar) < 0)
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
}

void jobs_get(struct api_req *ar)
{
    jobs_read(ar, jobs_get_done);
}

/* DELETE: step 2, the cancel script's answer. */
static void jobs_cancel_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct api_req *ar = arg;
    cJSON *body;

    if (reply == NULL) {
        errors_reply_redis(ar, err);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
        errors_reply(ar, API_ERR_INTERNAL, "unexpected reply from the cancel script");
        return;
    }
    if (strcmp(reply->str, "missing") == 0) {
        errors_reply(ar, API_ERR_NOT_FOUND, "job %s not found or expired", ar->id);
        return;
    }
    if (strncmp(reply->str, "was:", 4) != 0) {
        errors_reply(ar, API_ERR_JOB_FINISHED, "job %s has already %s", ar->id,
                     strcmp(reply->str, "moved") == 0 ? "moved, retry" : reply->str);
        return;
    }
    log_job(LOG_LEVEL_INFO, ar->id, "canceled (was %s)", reply->str + 4);
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "id", ar->id);
    cJSON_AddStringToObject(body, "state", job_state_name(JOB_CANCELED));
    cJSON_AddStringToObject(body, "previous_state", reply->str + 4);
    reply_json(ar, 200, body);
    cJSON_Delete(body);
}

/* DELETE: step 1, the job's state and queue, read where locate_job found it
 * (the queue names the keys the cancel script must be given, in that slot). */
static void jobs_cancel_read(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct api_req *ar = arg;
    const struct api_config *cfg = ar->api->cfg;
    const redisReply *st, *q;
    const char *tag = keys_slot_tag(ar->slot);
    char jkey[KEYS_MAX_LEN], qkey[KEYS_MAX_LEN], dkey[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN],
        ckey[KEYS_MAX_LEN];
    char ts[CLOCK_RFC3339_LEN];
    struct rargv args;

    if (reply == NULL) {
        errors_reply_redis(ar, err);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        errors_reply(ar, API_ERR_INTERNAL, "unexpected reply to HMGET");
        return;
    }
    st = reply->element[0];
    q = reply->element[1];
    if (st->type != REDIS_REPLY_STRING) {
        errors_reply(ar, API_ERR_NOT_FOUND, "job %s not found or expired", ar->id);
        return;
    }
    if (strcmp(st->str, "queued") != 0 && strcmp(st->str, "running") != 0 &&
        strcmp(st->str, "scheduled") != 0) {
        errors_reply(ar, API_ERR_JOB_FINISHED, "job %s has already %.16s", ar->id, st->str);
        return;
    }
    if (q->type != REDIS_REPLY_STRING ||
        keys_job(jkey, sizeof(jkey), cfg->prefix, tag, ar->id) < 0 ||
        keys_queue(qkey, sizeof(qkey), cfg->prefix, tag, q->str) < 0 ||
        keys_delayed(dkey, sizeof(dkey), cfg->prefix, tag, q->str) < 0 ||
        keys_counters(ckey, sizeof(ckey), cfg->prefix, tag) < 0 ||
        keys_events(ekey, sizeof(ekey), cfg->prefix) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "job %s has no valid queue", ar->id);
        return;
    }
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&args);
    rargv_add(&args, jkey);
    rargv_add(&args, qkey);
    rargv_add(&args, dkey);
    rargv_add(&args, ckey);
    rargv_add(&args, ar->id);
    rargv_add(&args, ts);
    rargv_add(&args, q->str);
    rargv_add(&args, ekey);
    if (rasync_script(ar->api->rasync, SCRIPT_CANCEL, 4, &args, jobs_cancel_done, ar) < 0)
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
    rargv_free(&args);
}

void jobs_cancel(struct api_req *ar)
{
    static const char *const fields[] = {JOB_F_STATE, JOB_F_QUEUE};

    if (locate_job(ar->api, ar->id, fields, 2, &ar->slot, jobs_cancel_read, ar) < 0)
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
}
