/* fetch: reliable pop. BLMOVE puts the id on this worker's processing list in
 * the same step that takes it off the queue, so a popped job is never only in
 * a process's memory; start.lua then marks it running. */
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "worker.h"

/* Marks the job running; returns its hash reply, NULL when skipped or when
 * Redis could not be reached before giving up. */
static redisReply *fetch_start(struct worker *w, const char *id)
{
    char job_key[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN], ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    redisReply *r;

    if (keys_job(job_key, sizeof(job_key), w->cfg->prefix, id) < 0 ||
        keys_events(ekey, sizeof(ekey), w->cfg->prefix) < 0)
        return NULL;
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&a);
    rargv_add(&a, job_key);
    rargv_add(&a, w->processing_key);
    rargv_add(&a, ekey);
    rargv_add(&a, id);
    rargv_add(&a, w->id);
    rargv_add(&a, ts);
    rargv_addll(&a, JOB_ACTIVE_TTL_S);
    rargv_add(&a, "1");
    r = wredis_script(w, SCRIPT_START, 3, &a);
    rargv_free(&a);
    if (r == NULL)
        return NULL;
    if (r->type == REDIS_REPLY_ERROR) {
        log_write(LOG_LEVEL_ERROR, 0, id, "start script failed: %.*s", (int)r->len, r->str);
        freeReplyObject(r);
        return NULL;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        (r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
         strcmp(r->element[0]->str, "skip") == 0)) {
        log_write(LOG_LEVEL_INFO, 0, id, "skipped: job is %s",
                  (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                   r->element[1]->type == REDIS_REPLY_STRING)
                      ? r->element[1]->str
                      : "not runnable");
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Moves retries whose backoff is over onto the queue, at most once per
 * WORKER_PROMOTE_MS; every worker does it, the script makes that safe. */
static void fetch_promote(struct worker *w)
{
    int64_t now = clock_mono_ms();
    struct rargv a;
    struct sq_err err;
    redisReply *r;

    if (now - w->last_promote_ms < WORKER_PROMOTE_MS)
        return;
    w->last_promote_ms = now;
    rargv_init(&a);
    rargv_add(&a, w->delayed_key);
    rargv_add(&a, w->queue_key);
    rargv_addll(&a, clock_now_ms());
    rargv_addll(&a, WORKER_PROMOTE_BATCH);
    r = rconn_script(w->rc, SCRIPT_PROMOTE, 2, &a, &err);
    rargv_free(&a);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        log_debug("moved %lld retried job(s) to %s", r->integer, w->queue_key);
    freeReplyObject(r);
}

int fetch_next(struct worker *w, char id[IDS_MAX_LEN + 1], redisReply **hash)
{
    struct rargv a;
    redisReply *r;
    struct sq_err err;
    int rc = 0;

    *hash = NULL;
    fetch_promote(w);
    rargv_init(&a);
    rargv_add(&a, "BLMOVE");
    rargv_add(&a, w->queue_key);
    rargv_add(&a, w->processing_key);
    rargv_add(&a, "RIGHT");
    rargv_add(&a, "LEFT");
    rargv_addll(&a, WORKER_FETCH_TIMEOUT_S);
    r = rconn_command(w->rc, &a, &err);
    rargv_free(&a);
    if (r == NULL) {
        log_warnx("fetch: %s", err.msg);
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL)
        goto done;
    if (r->type != REDIS_REPLY_STRING) {
        log_warnx("fetch: unexpected BLMOVE reply type %d%s%.*s", r->type,
                  r->type == REDIS_REPLY_ERROR ? ": " : "",
                  r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
        rc = -1;
        goto done;
    }
    if (!ids_is_valid(r->str, r->len, IDS_MAX_LEN)) {
        /* Not written by stageq: drop it from our list so it cannot block us. */
        rargv_init(&a);
        rargv_add(&a, "LREM");
        rargv_add(&a, w->processing_key);
        rargv_add(&a, "1");
        rargv_addlen(&a, r->str, r->len);
        freeReplyObject(wredis_command(w, &a));
        rargv_free(&a);
        log_warnx("fetch: dropped an invalid job id (%zu bytes) from %s", r->len, w->queue_key);
        goto done;
    }
    memcpy(id, r->str, r->len);
    id[r->len] = '\0';
    *hash = fetch_start(w, id);
    rc = *hash != NULL ? 1 : 0;
done:
    freeReplyObject(r);
    return rc;
}
