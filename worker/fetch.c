/* fetch: reliable pop. The id moves onto this worker's processing list in the
 * same step that takes it off the queue, so a popped job is never only in a
 * process's memory. With a backlog, finish.lua takes the next job in the
 * same call that ends the last one, or take.lua pops and starts a job in one
 * round trip; on an empty queue the worker waits in BLMOVE, then start.lua
 * marks the job running. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "num.h"
#include "worker.h"

/* Reads the reply of start.lua or take.lua: the job hash (returned), or NULL
 * (freed) when the job was skipped or the script failed. */
static redisReply *fetch_started(redisReply *r, const char *id)
{
    if (r == NULL)
        return NULL;
    if (r->type == REDIS_REPLY_ERROR) {
        log_write(LOG_LEVEL_ERROR, 0, id, "start script failed: %.*s", (int)r->len, r->str);
        freeReplyObject(r);
        return NULL;
    }
    /* a job hash has at least id and state: 4 elements; a skip has 3 */
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 4) {
        log_write(LOG_LEVEL_INFO, 0, id, "skipped: job is %s",
                  (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
                   r->element[1]->type == REDIS_REPLY_STRING)
                      ? r->element[1]->str
                      : "not runnable");
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* A take reply of a job reserved to hold (startjob.lua: not begun yet). */
static bool fetch_is_reserved(const redisReply *r)
{
    size_t i;

    for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[i]->str, "reserved") == 0)
            return true;
    return false;
}

/* Marks the job running; returns its hash reply, NULL when skipped or when
 * Redis could not be reached before giving up. */
static redisReply *fetch_start(struct worker *w, const char *id)
{
    char job_key[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN], ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    redisReply *r;

    if (keys_job(job_key, sizeof(job_key), w->cfg->prefix, keys_default_tag(), id) < 0 ||
        keys_events(ekey, sizeof(ekey), w->cfg->prefix) < 0)
        return NULL;
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&a);
    rargv_add(&a, job_key);
    rargv_add(&a, w->processing_key);
    rargv_add(&a, ekey);
    rargv_add(&a, w->info_key);
    rargv_add(&a, id);
    rargv_add(&a, w->id);
    rargv_add(&a, ts);
    rargv_addll(&a, JOB_ACTIVE_TTL_S);
    rargv_add(&a, "1");
    r = wredis_script(w, SCRIPT_START, 4, &a);
    rargv_free(&a);
    return fetch_started(r, id);
}

/* Drops an id stageq never wrote from our processing list, so it cannot
 * block us. */
static void fetch_drop_invalid(struct worker *w, const char *id, size_t len)
{
    struct rargv a;

    rargv_init(&a);
    rargv_add(&a, "LREM");
    rargv_add(&a, w->processing_key);
    rargv_add(&a, "1");
    rargv_addlen(&a, id, len);
    freeReplyObject(wredis_command(w, &a));
    rargv_free(&a);
    log_warnx("fetch: dropped an invalid job id (%zu bytes) from %s", len, w->queue_key);
}

/* The job id of a take reply: the hash's "id" field, or a skip's third
 * element; "" when there is none. */
static void fetch_reply_id(const redisReply *r, char id[IDS_MAX_LEN + 1])
{
    size_t i;

    id[0] = '\0';
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[2]->type == REDIS_REPLY_STRING && r->element[2]->len <= IDS_MAX_LEN) {
        memcpy(id, r->element[2]->str, r->element[2]->len);
        id[r->element[2]->len] = '\0';
        return;
    }
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, JOB_F_ID) == 0 &&
            v->type == REDIS_REPLY_STRING && v->len <= IDS_MAX_LEN) {
            memcpy(id, v->str, v->len);
            id[v->len] = '\0';
            return;
        }
    }
}

void fetch_next_held_id(const struct worker *w, char id[IDS_MAX_LEN + 1])
{
    const redisReply *held = pipe_peek_held(w);

    id[0] = '\0';
    if (held != NULL && !*w->stop && held->type == REDIS_REPLY_ARRAY &&
        held->elements >= 4) /* a started job, not a skip */
        fetch_reply_id(held, id);
}

/* A take reply (take.lua, or the take of finish.lua), owned: 1 with the
 * job started (*hash, id set), 0 when the queue was empty or the job was
 * skipped (*hash NULL; *is_empty says which). */
static int fetch_taken(struct worker *w, redisReply *r, char id[IDS_MAX_LEN + 1], redisReply **hash,
                       bool *is_empty)
{
    const redisReply *e0, *e1;

    *is_empty = false;
    if (r->type == REDIS_REPLY_NIL) {
        *is_empty = true;
        freeReplyObject(r);
        return 0;
    }
    e0 = r->type == REDIS_REPLY_ARRAY && r->elements >= 2 ? r->element[0] : NULL;
    e1 = e0 != NULL ? r->element[1] : NULL;
    if (e0 != NULL && r->elements == 2 && e0->type == REDIS_REPLY_STRING &&
        strcmp(e0->str, "invalid") == 0 && e1->type == REDIS_REPLY_STRING) {
        fetch_drop_invalid(w, e1->str, e1->len);
        freeReplyObject(r);
        return 0;
    }
    fetch_reply_id(r, id);
    *hash = fetch_started(r, id);
    return *hash != NULL ? 1 : 0;
}

/* Logs a pop that failed: Redis unreachable or away for a moment (r NULL,
 * or a transient error reply: once per outage), or an error reply. Borrows r. */
static void fetch_failed(struct worker *w, const char *what, const redisReply *r,
                         const struct sq_err *err)
{
    char msg[ERR_MSG_LEN];

    if (r != NULL && err_reply_code(r->str, r->len) != SQ_ERR_TRANSIENT) {
        log_warnx("fetch: %s failed: %.*s", what, (int)r->len, r->str);
        return;
    }
    if (r != NULL)
        snprintf(msg, sizeof(msg), "%s: %.*s", what, (int)(r->len < 160 ? r->len : 160), r->str);
    wredis_log_down(w, "fetch: ", r != NULL ? msg : err->msg);
}

/* take.lua: as fetch_taken, or -1 when Redis failed. */
static int fetch_take(struct worker *w, char id[IDS_MAX_LEN + 1], redisReply **hash, bool *is_empty)
{
    char prefix[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN], ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    struct sq_err err;
    redisReply *r;

    *is_empty = false;
    if (keys_job(prefix, sizeof(prefix), w->cfg->prefix, keys_default_tag(), "") < 0 ||
        keys_events(ekey, sizeof(ekey), w->cfg->prefix) < 0)
        return -1;
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&a);
    rargv_add(&a, w->queue_key);
    rargv_add(&a, w->processing_key);
    rargv_add(&a, ekey);
    rargv_add(&a, w->info_key);
    rargv_add(&a, prefix);
    rargv_add(&a, w->id);
    rargv_add(&a, ts);
    rargv_addll(&a, JOB_ACTIVE_TTL_S);
    rargv_addll(&a, IDS_MAX_LEN);
    r = rconn_script(w->rc, SCRIPT_TAKE, 4, &a, &err);
    rargv_free(&a);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fetch_failed(w, "take", r, &err);
        return -1;
    }
    return fetch_taken(w, r, id, hash, is_empty);
}

void fetch_requeue(struct worker *w, const char *id, const char *queue, const char *attempt, int k,
                   bool is_unstarted, bool is_current)
{
    char job_key[KEYS_MAX_LEN], qkey[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN], ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    redisReply *r;

    if (keys_job(job_key, sizeof(job_key), w->cfg->prefix, keys_default_tag(), id) < 0 ||
        keys_queue(qkey, sizeof(qkey), w->cfg->prefix, keys_default_tag(), queue) < 0 ||
        keys_events(ekey, sizeof(ekey), w->cfg->prefix) < 0)
        return; /* stays on our list: recovered as a lost job */
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&a);
    rargv_add(&a, job_key);
    rargv_add(&a, w->processing_key);
    rargv_add(&a, qkey);
    rargv_add(&a, ekey);
    rargv_add(&a, w->info_key);
    rargv_add(&a, attempt);
    rargv_add(&a, id);
    rargv_add(&a, ts);
    rargv_addll(&a, k);
    rargv_add(&a, is_unstarted ? "1" : "0");
    rargv_add(&a, is_current ? "1" : "0");
    r = wredis_script(w, SCRIPT_REQUEUE, 5, &a);
    rargv_free(&a);
    if (r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
        if (is_unstarted)
            log_write(LOG_LEVEL_INFO, 0, id, "handed back before it began: %s", r->str);
        else
            log_write(LOG_LEVEL_INFO, 0, id, "handed back at stage %d (worker stopping): %s", k,
                      r->str);
    }
    freeReplyObject(r);
}

/* Hands one held job back (requeue.lua, its attempt given back). */
static void fetch_unstart(struct worker *w, const char *id, const redisReply *hash)
{
    struct job_hash h = {NULL, NULL, 0, NULL, 0};
    const char *attempt, *stage, *queue;
    int k;

    if (job_hash_view(hash, &h) < 0)
        return; /* out of memory: stays on our list, recovered as a lost job */
    attempt = job_hash_get(&h, JOB_F_ATTEMPT);
    stage = job_hash_get(&h, JOB_F_STAGE);
    queue = job_hash_get(&h, JOB_F_QUEUE);
    /* a stage edited by hand: from stage 1 (it runs again: at least once) */
    (void)num_field_int(stage, 1, PIPELINE_MAX_STAGES, 1, &k);
    fetch_requeue(w, id, queue ? queue : w->cfg->queue, attempt ? attempt : "0", k, true, false);
    job_hash_view_free(&h);
}

void fetch_hand_back(struct worker *w)
{
    redisReply *taken;

    pipe_drain(w); /* a batch may be on its way */
    while ((taken = pipe_newest_held(w)) != NULL) {
        char id[IDS_MAX_LEN + 1];
        redisReply *hash = NULL;
        bool is_empty;

        /* the newest first: each goes to the front of its queue, so the
         * oldest ends up first again */
        if (fetch_taken(w, taken, id, &hash, &is_empty) == 1)
            fetch_unstart(w, id, hash);
        freeReplyObject(hash);
    }
}

void fetch_record_stats(struct worker *w)
{
    char hkey[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN], *spec;
    struct rargv a;
    struct sq_err err;
    redisReply *r;

    if (!wstats_is_pending(&w->stats) || (spec = wstats_spec(&w->stats)) == NULL)
        return;
    keys_stagehist(hkey, sizeof(hkey), w->cfg->prefix, keys_default_tag(), "");
    keys_eta(ekey, sizeof(ekey), w->cfg->prefix, keys_default_tag(), "");
    rargv_init(&a);
    rargv_add(&a, hkey);
    rargv_add(&a, ekey);
    rargv_add(&a, spec);
    r = rconn_script(w->rc, SCRIPT_RECORD, 0, &a, &err);
    rargv_free(&a);
    free(spec);
    if (r != NULL && r->type != REDIS_REPLY_ERROR)
        wstats_clear(&w->stats, clock_mono_ms()); /* else kept for the next write */
    freeReplyObject(r);
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

/* How long BLMOVE waits: WORKER_FETCH_TIMEOUT_MS, at most an eighth of a
 * lease, so that an idle worker renews on time. */
static int fetch_timeout_ms(const struct worker *w)
{
    int eighth = w->cfg->lease_s * 1000 / 8;

    return eighth < WORKER_FETCH_TIMEOUT_MS ? eighth : WORKER_FETCH_TIMEOUT_MS;
}

int fetch_next(struct worker *w, char id[IDS_MAX_LEN + 1], redisReply **hash)
{
    char begun[IDS_MAX_LEN + 1];
    struct rargv a;
    redisReply *r, *taken;
    struct sq_err err;
    int rc = 0;

    *hash = NULL;
    if (!*w->stop)
        fetch_promote(w); /* also while finish.lua keeps taking jobs */
    pipe_collect(w);      /* the next batch, taken by an end sent meanwhile */
    taken = pipe_next_held(w, begun);
    if (taken != NULL) { /* finish.lua took it already */
        bool is_empty, is_begun;

        rc = fetch_taken(w, taken, id, hash, &is_empty);
        is_begun = strcmp(id, begun) == 0;
        if (rc == 1 && !is_begun && !*w->stop && fetch_is_reserved(*hash)) {
            /* reserved, and the last end did not begin it: begin it now
             * (when stopping, run_job hands it back as it is) */
            freeReplyObject(*hash);
            *hash = fetch_start(w, id);
            rc = *hash != NULL ? 1 : 0;
        }
        return rc;
    }
    if (*w->stop)
        return 0;
    if (!pipe_is_queue_empty(w)) { /* a backlog: pop and start in one round trip */
        bool is_empty;
        rc = fetch_take(w, id, hash, &is_empty);
        if (rc != 0 || !is_empty)
            return rc;
        pipe_set_queue_empty(w, true);
    }
    fetch_record_stats(w); /* about to wait: the stage runs seen so far */
    log_flush();
    rargv_init(&a);
    rargv_add(&a, "BLMOVE");
    rargv_add(&a, w->queue_key);
    rargv_add(&a, w->processing_key);
    rargv_add(&a, "RIGHT");
    rargv_add(&a, "LEFT");
    rargv_addf(&a, "%.3f", fetch_timeout_ms(w) / 1000.0);
    r = rconn_command(w->rc, &a, &err);
    rargv_free(&a);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* UNBLOCKED: the master was demoted while we waited (a failover);
         * the connection is gone, the next call finds the new master */
        fetch_failed(w, "BLMOVE", r, &err);
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL)
        goto done;
    pipe_set_queue_empty(w, false); /* there may be more behind it: take.lua next time */
    if (r->type != REDIS_REPLY_STRING) {
        log_warnx("fetch: unexpected BLMOVE reply type %d", r->type);
        rc = -1;
        goto done;
    }
    if (!ids_is_valid(r->str, r->len, IDS_MAX_LEN)) {
        fetch_drop_invalid(w, r->str, r->len); /* not written by stageq */
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
