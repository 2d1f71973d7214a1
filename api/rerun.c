/* rerun: POST /v1/jobs/{id}/retry. Reads the job where it lives (locate_job:
 * its whole hash), works out the queue of its first unfinished stage, and
 * has rerun.lua requeue it there, every key in the job's slot. Never writes
 * a job that is neither failed nor canceled. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "num.h"
#include "stagefield.h"

#define RERUN_TRIES 3 /* reads again when the hash changed between read and script */

/* One request: the tries left. */
struct rerun {
    struct api_req *ar;
    int tries;
};

static void rerun_start(struct rerun *rr);

/* The value of field f in an HGETALL reply (field, value, ...), or NULL. */
static const char *rerun_field(const redisReply *r, const char *f)
{
    size_t i;

    for (i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            r->element[i + 1]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, f) == 0)
            return r->element[i + 1]->str;
    return NULL;
}

/* The queue the job goes back to, as rerun.lua finds it: the queue of its
 * first unfinished stage (with resume, the first that did not succeed; else
 * stage 1), its stage.<k>.queue when the stages name queues, else its own. */
static const char *rerun_target(const redisReply *r, const char *queue)
{
    char f[64];
    const char *v, *resume;
    struct job_hash h;
    struct stagefield st;
    int64_t base;
    long long n = 1, k = 1;

    if (job_hash_view(r, &h) < 0)
        return queue; /* out of memory: rerun.lua finds it is not that queue: 'moved' */
    resume = job_hash_get(&h, JOB_F_RESUME);
    base = stagefield_base(&h);
    v = job_hash_get(&h, JOB_F_STAGE_COUNT);
    if (v != NULL && num_field_ll(v, 1, PIPELINE_MAX_STAGES, 1, &n) < 0)
        n = 1;
    while (!(resume != NULL && strcmp(resume, "0") == 0) && k < n) {
        if (!stagefield_get(&h, k, base, &st) || st.state == NULL ||
            strcmp(st.state, "succeeded") != 0)
            break;
        k++;
    }
    v = NULL;
    if (keys_stage_field(f, sizeof(f), (int)k, "queue") == 0)
        v = job_hash_get(&h, f);
    job_hash_view_free(&h);
    return v != NULL ? v : queue;
}

static void rerun_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct rerun *rr = arg;
    struct api_req *ar = rr->ar;
    bool is_missing = false;
    cJSON *status;

    if (reply == NULL) {
        errors_reply_redis(ar, err);
        goto done;
    }
    if (reply->type == REDIS_REPLY_ARRAY) {
        log_job(LOG_LEVEL_INFO, ar->id, "requeued by a retry request");
        status = eta_status_from_reply(ar->api, ar->id, reply, &is_missing);
        if (status == NULL)
            errors_reply(ar, API_ERR_INTERNAL, "job %s was requeued; its status could not be built",
                         ar->id);
        else
            reply_json(ar, 202, status);
        cJSON_Delete(status);
        goto done;
    }
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
        if (reply->type == REDIS_REPLY_ERROR)
            log_job(LOG_LEVEL_WARN, ar->id, "redis: rerun failed: %.*s", (int)reply->len,
                    reply->str);
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis could not requeue the job, retry later");
        goto done;
    }
    if (strcmp(reply->str, "missing") == 0) {
        errors_reply(ar, API_ERR_NOT_FOUND, "job %s not found or expired", ar->id);
    } else if (strncmp(reply->str, "state:", 6) == 0) {
        errors_reply_with(ar, API_ERR_NOT_RETRYABLE, "state", reply->str + 6,
                          "job %s is %.16s: only a failed or canceled job can be retried", ar->id,
                          reply->str + 6);
    } else if (strcmp(reply->str, "busy") == 0) {
        errors_reply_with(ar, API_ERR_NOT_RETRYABLE, "state", "canceled",
                          "job %s is canceled but its worker is still stopping it: retry in a "
                          "moment",
                          ar->id);
    } else if (strcmp(reply->str, "moved") == 0 && --rr->tries > 0) {
        rerun_start(rr); /* it changed since we read it: read it again */
        return;
    } else {
        errors_reply_with(ar, API_ERR_NOT_RETRYABLE, "state", "changing",
                          "job %s kept changing while it was requeued: retry", ar->id);
    }
done:
    free(rr);
}

/* The job's hash, read where it lives: requeue it with rerun.lua. */
static void rerun_read(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct rerun *rr = arg;
    struct api_req *ar = rr->ar;
    const struct api_config *cfg = ar->api->cfg;
    const char *tag = keys_slot_tag(ar->slot), *st, *queue, *worker, *target;
    char jkey[KEYS_MAX_LEN], qkey[KEYS_MAX_LEN], fkey[KEYS_MAX_LEN], ckey[KEYS_MAX_LEN],
        pkey[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN], wkey[KEYS_MAX_LEN], ts[CLOCK_RFC3339_LEN];
    struct rargv args;

    if (reply == NULL) {
        errors_reply_redis(ar, err);
        goto fail;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis could not read the job, retry later");
        goto fail;
    }
    if ((st = rerun_field(reply, JOB_F_STATE)) == NULL) {
        errors_reply(ar, API_ERR_NOT_FOUND, "job %s not found or expired", ar->id);
        goto fail;
    }
    if (strcmp(st, "failed") != 0 && strcmp(st, "canceled") != 0) {
        errors_reply_with(ar, API_ERR_NOT_RETRYABLE, "state", st,
                          "job %s is %.16s: only a failed or canceled job can be retried", ar->id,
                          st);
        goto fail;
    }
    queue = rerun_field(reply, JOB_F_QUEUE);
    worker = rerun_field(reply, JOB_F_WORKER);
    if (worker == NULL)
        worker = "";
    target = queue != NULL ? rerun_target(reply, queue) : NULL;
    if (target == NULL || !ids_is_valid(queue, strlen(queue), IDS_NAME_MAX_LEN) ||
        !ids_is_valid(target, strlen(target), IDS_NAME_MAX_LEN) || tag == NULL ||
        keys_job(jkey, sizeof(jkey), cfg->prefix, tag, ar->id) < 0 ||
        keys_queue(qkey, sizeof(qkey), cfg->prefix, tag, target) < 0 ||
        keys_failed(fkey, sizeof(fkey), cfg->prefix, tag, queue) < 0 ||
        keys_counters(ckey, sizeof(ckey), cfg->prefix, tag) < 0 ||
        (worker[0] != '\0' && keys_processing(pkey, sizeof(pkey), cfg->prefix, tag, worker) < 0) ||
        keys_events(ekey, sizeof(ekey), cfg->prefix) < 0 ||
        keys_wake(wkey, sizeof(wkey), cfg->prefix, target) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "job %s has no valid queue", ar->id);
        goto fail;
    }
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&args);
    rargv_add(&args, jkey);
    rargv_add(&args, qkey);
    rargv_add(&args, fkey);
    rargv_add(&args, ckey);
    rargv_add(&args, worker[0] != '\0' ? pkey : jkey);
    rargv_add(&args, ar->id);
    rargv_add(&args, ts);
    rargv_addll(&args, JOB_ACTIVE_TTL_S);
    rargv_add(&args, ekey);
    rargv_add(&args, wkey);
    rargv_add(&args, target);
    rargv_add(&args, queue);
    rargv_add(&args, worker);
    if (rasync_script(ar->api->rasync, SCRIPT_RERUN, 5, &args, rerun_done, rr) < 0) {
        rargv_free(&args);
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
        goto fail;
    }
    rargv_free(&args);
    return;
fail:
    free(rr);
}

static void rerun_start(struct rerun *rr)
{
    if (locate_job(rr->ar->api, rr->ar->id, NULL, 0, &rr->ar->slot, rerun_read, rr) < 0) {
        errors_reply_redis(rr->ar, RASYNC_UNAVAILABLE);
        free(rr);
    }
}

void rerun_post(struct api_req *ar)
{
    static const char *const names[] = {NULL};
    struct rerun *rr;

    if (listing_check_params(ar, names) < 0)
        return;
    rr = calloc(1, sizeof(*rr));
    if (rr == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        return;
    }
    rr->ar = ar;
    rr->tries = RERUN_TRIES;
    rerun_start(rr);
}
