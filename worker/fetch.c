/* fetch: reliable pop. The id moves onto this worker's processing list in the
 * same step that takes it off the queue, so a popped job is never only in a
 * process's memory. Takes return bare ids (a script names only the keys it
 * is given): the next call begins or reserve-reads them with their keys —
 * start.lua, or finish.lua while there is a backlog. The worker takes from
 * every partition of its queue, fairly: a sweep starts at the partition
 * after the last one that gave jobs. When all are empty it waits: in BLMOVE
 * with one partition, for a wake message with several (wake.c). */
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

/* A take reply the worker may run unbegun (run.c): a reservation of a job
 * as submitted (startjob.lua's reserve_fresh: fresh = 1), as a backlog's
 * jobs are. */
static bool fetch_is_unbegun_ok(const redisReply *r)
{
    size_t i;

    for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, "fresh") == 0)
            return true;
    return false;
}

bool fetch_next_is_unbegun(const struct worker *w)
{
    const redisReply *held = pipe_peek_held(w);

    return held != NULL && !*w->stop && fetch_is_unbegun_ok(held);
}

/* start.lua's arguments for job id begun at ts (RFC 3339), reserve-reading
 * the n held ids: *nkeys its keys. -1 when a key does not fit. */
static int fetch_start_args(struct worker *w, const char *id, const char *ts,
                            char ids[][IDS_MAX_LEN + 1], size_t n, struct rargv *a, int *nkeys)
{
    const struct wpart *part = worker_part(w, id);
    char job_key[KEYS_MAX_LEN];
    size_t i;

    if (keys_job(job_key, sizeof(job_key), w->cfg->prefix, part->tag, id) < 0)
        return -1;
    rargv_init(a);
    rargv_add(a, job_key);
    rargv_add(a, part->processing_key);
    rargv_add(a, part->current_key);
    for (i = 0; i < n; i++) {
        keys_job(job_key, sizeof(job_key), w->cfg->prefix, part->tag, ids[i]);
        rargv_add(a, job_key);
    }
    rargv_add(a, id);
    rargv_add(a, w->id);
    rargv_add(a, ts);
    rargv_addll(a, JOB_ACTIVE_TTL_S);
    rargv_add(a, w->events_chan);
    rargv_addll(a, (long long)n);
    for (i = 0; i < n; i++)
        rargv_add(a, ids[i]);
    *nkeys = 3 + (int)n;
    return 0;
}

int fetch_begin(struct worker *w, const char *id, const char *ts, bool is_retrying,
                const char *attempt, char why[32])
{
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    int nkeys, rc = 0;
    size_t i;

    why[0] = '\0';
    if (fetch_start_args(w, id, ts, NULL, 0, &a, &nkeys) < 0)
        return -1;
    r = is_retrying ? wredis_script(w, SCRIPT_START, nkeys, &a)
                    : rconn_script(w->rc, SCRIPT_START, nkeys, &a, &err);
    rargv_free(&a);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        rc = -1; /* not now: tried again with the next write */
    } else if (r->elements == 3 && r->element[1]->type == REDIS_REPLY_STRING) {
        /* skipped: 'running' is a begin whose reply was lost (or another
         * worker's, which the next check or write finds fenced) */
        if (strcmp(r->element[1]->str, "running") != 0) {
            snprintf(why, 32, "%s", r->element[1]->str);
            rc = 1;
        }
    } else {
        for (i = 0; i + 1 < r->elements; i += 2) /* begun as reserved, or not ours */
            if (r->element[i]->type == REDIS_REPLY_STRING &&
                strcmp(r->element[i]->str, JOB_F_ATTEMPT) == 0 &&
                r->element[i + 1]->type == REDIS_REPLY_STRING &&
                strcmp(r->element[i + 1]->str, attempt) != 0) {
                snprintf(why, 32, "fenced");
                rc = 1;
            }
    }
    freeReplyObject(r);
    return rc;
}

/* Marks the job running (start.lua), and reserve-reads the other held ids
 * of its partition in the same call; returns its hash reply, NULL when
 * skipped or when Redis could not be reached before giving up. */
static redisReply *fetch_start(struct worker *w, const char *id)
{
    char ids[WORKER_READ_MAX][IDS_MAX_LEN + 1];
    char ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    int nkeys;
    size_t n = pipe_bare_ids(w, worker_part(w, id), true, ids, WORKER_READ_MAX);

    clock_format_rfc3339(clock_now_ms(), ts);
    if (fetch_start_args(w, id, ts, ids, n, &a, &nkeys) < 0)
        return NULL;
    /* one try: sent again after a lost reply, it would find the job begun
     * (by us) and skip it; instead the job is put back unstarted from our
     * processing list once we hold none (recover_own) */
    r = rconn_script(w->rc, SCRIPT_START, nkeys, &a, &err);
    rargv_free(&a);
    if (r != NULL && r->type == REDIS_REPLY_ERROR &&
        err_reply_code(r->str, r->len) == SQ_ERR_TRANSIENT) {
        err_set(&err, SQ_ERR_TRANSIENT, "redis: %.*s", (int)(r->len < 120 ? r->len : 120), r->str);
        freeReplyObject(r);
        r = NULL;
    }
    if (r == NULL) {
        wredis_log_down(w, "start: ", err.msg);
        pipe_set_take_lost(w);
        return NULL;
    }
    if (r != NULL && n > 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_ARRAY) {
        redisReply *started = r->element[0];

        pipe_hold_reads(w, r->element[1]);
        r->element[0] = NULL; /* detached */
        freeReplyObject(r);
        r = started;
    }
    return fetch_started(r, id);
}

/* Drops an id stageq never wrote from our processing list, so it cannot
 * block us. */
static void fetch_drop_invalid(struct worker *w, const struct wpart *part, const char *id,
                               size_t len)
{
    struct rargv a;

    rargv_init(&a);
    rargv_add(&a, "LREM");
    rargv_add(&a, part->processing_key);
    rargv_add(&a, "1");
    rargv_addlen(&a, id, len);
    freeReplyObject(wredis_command(w, &a));
    rargv_free(&a);
    log_warnx("fetch: dropped an invalid job id (%zu bytes) from %s", len, part->processing_key);
}

void fetch_next_held_id(const struct worker *w, char id[IDS_MAX_LEN + 1])
{
    const redisReply *held = pipe_peek_held(w);

    id[0] = '\0';
    if (held != NULL && !*w->stop && held->type == REDIS_REPLY_ARRAY &&
        held->elements >= 4) /* a started job, not a skip */
        pipe_reply_id(held, id);
}

/* A read held job (a reservation, or a skip), owned: 1 with the job's
 * reply (*hash, id set), 0 when it was skipped (*hash NULL). */
static int fetch_taken(redisReply *r, char id[IDS_MAX_LEN + 1], redisReply **hash)
{
    pipe_reply_id(r, id);
    *hash = fetch_started(r, id);
    return *hash != NULL ? 1 : 0;
}

/* A held bare id, owned (a string reply): 1 when it is valid (id set),
 * else 0 (dropped from the processing lists: it came from one of them). */
static int fetch_bare(struct worker *w, redisReply *r, char id[IDS_MAX_LEN + 1])
{
    int j, rc = 0;

    if (ids_is_valid(r->str, r->len, IDS_MAX_LEN)) {
        memcpy(id, r->str, r->len + 1);
        rc = 1;
    } else {
        for (j = 0; j < w->nparts; j++)
            fetch_drop_invalid(w, &w->parts[j], r->str, r->len);
    }
    freeReplyObject(r);
    return rc;
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

/* take.lua on partition part, over every queue served (order.c): 1 when it
 * took jobs (held, bare), 0 when every queue there was empty, paused or at
 * its rate limit, -1 when Redis failed. */
static int fetch_take(struct worker *w, const struct wpart *part)
{
    int order[WORKER_QUEUES_MAX], nkeys;
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    int rc, taken;

    order_pick(w, order);
    rargv_init(&a);
    rargv_add(&a, part->processing_key);
    nkeys = 1 + order_add_keys(&a, part, order, w->nqueues);
    rargv_add(&a, "1");
    order_add_spec(&a, w, order);
    r = rconn_script(w->rc, SCRIPT_TAKE, nkeys, &a, &err);
    rargv_free(&a);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fetch_failed(w, "take", r, &err);
        freeReplyObject(r);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_ARRAY) {
        log_warnx("fetch: take: a reply of an unexpected shape (type %d)", r->type);
        freeReplyObject(r);
        return -1;
    }
    taken = (int)r->element[0]->elements;
    (void)order_note(w, r->element[1], taken);
    rc = taken > 0 ? 1 : 0;
    pipe_hold_taken(w, r->element[0]);
    freeReplyObject(r);
    return rc;
}

void fetch_requeue(struct worker *w, const char *id, const char *queue, const char *attempt, int k,
                   bool is_unstarted, bool is_current)
{
    const struct wpart *part = worker_part(w, id);
    char job_key[KEYS_MAX_LEN], qkey[KEYS_MAX_LEN], wake[KEYS_MAX_LEN], ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    redisReply *r;

    if (keys_job(job_key, sizeof(job_key), w->cfg->prefix, part->tag, id) < 0 ||
        keys_queue(qkey, sizeof(qkey), w->cfg->prefix, part->tag, queue) < 0 ||
        keys_wake(wake, sizeof(wake), w->cfg->prefix, queue) < 0)
        return; /* stays on our list: recovered as a lost job */
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&a);
    rargv_add(&a, job_key);
    rargv_add(&a, part->processing_key);
    rargv_add(&a, qkey);
    rargv_add(&a, part->current_key);
    rargv_add(&a, attempt);
    rargv_add(&a, id);
    rargv_add(&a, ts);
    rargv_addll(&a, k);
    rargv_add(&a, is_unstarted ? "1" : "0");
    rargv_add(&a, is_current ? "1" : "0");
    rargv_add(&a, w->id);
    rargv_add(&a, w->events_chan);
    rargv_add(&a, wake);
    r = wredis_script(w, SCRIPT_REQUEUE, 4, &a);
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
    struct job_hash h = {NULL, NULL, 0, NULL, 0, NULL};
    const char *attempt, *stage, *queue;
    int k;

    if (job_hash_view(hash, &h) < 0)
        return; /* out of memory: stays on our list, recovered as a lost job */
    attempt = job_hash_get(&h, JOB_F_ATTEMPT);
    stage = job_hash_get(&h, JOB_F_STAGE);
    queue = job_hash_get(&h, JOB_F_QUEUE);
    /* a stage edited by hand: from stage 1 (it runs again: at least once) */
    (void)num_field_int(stage, 1, PIPELINE_MAX_STAGES, 1, &k);
    fetch_requeue(w, id, queue ? queue : w->queues[0].name, attempt ? attempt : "0", k, true,
                  false);
    job_hash_view_free(&h);
}

/* The queue a bare id (taken, never read) goes back to: the pool's one
 * queue, else its job hash's (one read: only when handing back). */
static void fetch_bare_queue(struct worker *w, const char *id, char queue[IDS_NAME_MAX_LEN + 1])
{
    char job_key[KEYS_MAX_LEN];
    struct rargv a;
    redisReply *r = NULL;

    snprintf(queue, IDS_NAME_MAX_LEN + 1, "%s", w->queues[0].name);
    if (w->nqueues == 1 ||
        keys_job(job_key, sizeof(job_key), w->cfg->prefix, worker_part(w, id)->tag, id) < 0)
        return;
    rargv_init(&a);
    rargv_add(&a, "HGET");
    rargv_add(&a, job_key);
    rargv_add(&a, JOB_F_QUEUE);
    r = wredis_command(w, &a);
    rargv_free(&a);
    if (r != NULL && r->type == REDIS_REPLY_STRING && part_queue_index(w, r->str) >= 0)
        snprintf(queue, IDS_NAME_MAX_LEN + 1, "%s", r->str);
    freeReplyObject(r);
}

/* Hands a bare id back to its queue, never begun. */
static void fetch_requeue_bare(struct worker *w, const char *id)
{
    char queue[IDS_NAME_MAX_LEN + 1];

    fetch_bare_queue(w, id, queue);
    fetch_requeue(w, id, queue, "0", 1, true, false);
}

void fetch_hand_back(struct worker *w)
{
    redisReply *taken;

    pipe_drain(w); /* a batch may be on its way */
    while ((taken = pipe_newest_held(w)) != NULL) {
        char id[IDS_MAX_LEN + 1];
        redisReply *hash = NULL;

        /* the newest first: each goes to the front of its queue, so the
         * oldest ends up first again; a bare id (never read) is a
         * reservation of our queue */
        if (taken->type == REDIS_REPLY_STRING) {
            if (fetch_bare(w, taken, id) == 1)
                fetch_requeue_bare(w, id);
            continue;
        }
        if (fetch_taken(taken, id, &hash) == 1)
            fetch_unstart(w, id, hash);
        freeReplyObject(hash);
    }
}

void fetch_record_stats(struct worker *w)
{
    char *spec;
    struct rargv a;
    struct sq_err err;
    redisReply *r = NULL;
    int nkeys;

    if (!wstats_is_pending(&w->stats) || (spec = wstats_spec(&w->stats)) == NULL)
        return;
    /* in one of the worker's partitions: the API sums them all */
    rargv_init(&a);
    nkeys = wstats_add_keys(&a, spec, w->cfg->prefix, w->parts[0].tag);
    rargv_add(&a, spec);
    if (nkeys >= 0)
        r = rconn_script(w->rc, SCRIPT_RECORD, nkeys, &a, &err);
    rargv_free(&a);
    free(spec);
    if (r != NULL && r->type != REDIS_REPLY_ERROR)
        wstats_clear(&w->stats, clock_mono_ms()); /* else kept for the next write */
    freeReplyObject(r);
}

/* How long BLMOVE waits: WORKER_FETCH_TIMEOUT_MS, at most an eighth of a
 * lease, so that an idle worker renews on time. */
static int fetch_timeout_ms(const struct worker *w)
{
    int eighth = w->cfg->lease_s * 1000 / 8;

    return eighth < WORKER_FETCH_TIMEOUT_MS ? eighth : WORKER_FETCH_TIMEOUT_MS;
}

/* The oldest held job: 1 with it started (*hash, id), 0 when it was
 * skipped or handed back, -1 never. */
static int fetch_held(struct worker *w, redisReply *taken, const char *begun,
                      char id[IDS_MAX_LEN + 1], redisReply **hash)
{
    bool is_begun;
    int rc;

    if (taken->type == REDIS_REPLY_STRING) { /* bare: begun (and the next read) now */
        if (fetch_bare(w, taken, id) == 0)
            return 0;
        if (*w->stop) { /* never begun: back to its queue */
            fetch_requeue_bare(w, id);
            return 0;
        }
        *hash = fetch_start(w, id);
        return *hash != NULL ? 1 : 0;
    }
    rc = fetch_taken(taken, id, hash);
    is_begun = strcmp(id, begun) == 0;
    if (rc == 1 && !is_begun && !*w->stop && fetch_is_unbegun_ok(*hash)) {
        /* the end before did not begin it (fetch_next_is_unbegun): it runs
         * unbegun, begun in Redis by its end, or once it runs long (run.c) */
        w->is_unbegun = true;
    } else if (rc == 1 && !is_begun && !*w->stop && fetch_is_reserved(*hash)) {
        /* reserved, and the last end did not begin it: begin it now
         * (when stopping, run_job hands it back as it is) */
        freeReplyObject(*hash);
        *hash = fetch_start(w, id);
        rc = *hash != NULL ? 1 : 0;
    }
    return rc;
}

/* BLMOVE may wait for the next job: one queue of one partition, not found
 * paused, without a rate limit (BLMOVE would take past a pause or a limit;
 * the others wait on the wake channels, and every take looks at them). */
static bool fetch_may_block(const struct worker *w)
{
    return w->nparts == 1 && w->nqueues == 1 && w->queues[0].rate_jobs == 0 && !w->is_paused_seen;
}

/* Takes from the partitions in turn from w->part_next: 1 when one gave a
 * job (held; the next sweep starts after it), 0 when all were empty, -1 when
 * Redis failed. With one partition of one queue it is one take, skipped when
 * the last one found it empty and nothing is due (BLMOVE waits then). */
static int fetch_sweep(struct worker *w)
{
    int i;

    if (fetch_may_block(w) && pipe_is_queue_empty(w) &&
        (w->next_due_ms < 0 || w->next_due_ms > clock_now_ms()))
        return 0;
    order_wait_reset(w); /* learnt again from every partition */
    for (i = 0; i < w->nparts; i++) {
        int j = (w->part_next + i) % w->nparts;
        int rc = fetch_take(w, &w->parts[j]);

        if (rc != 0) {
            if (rc == 1) {
                w->part_next = (j + 1) % w->nparts;
                pipe_set_queue_empty(w, false);
            }
            return rc;
        }
    }
    pipe_set_queue_empty(w, true);
    return 0;
}

/* One queue of one partition, not paused, not rate-limited: BLMOVE for up
 * to fetch_timeout_ms (until the earliest delayed job is due, when
 * sooner), then start.lua. As fetch_next. */
static int fetch_blmove(struct worker *w, char id[IDS_MAX_LEN + 1], redisReply **hash)
{
    const struct wpart *part = &w->parts[0];
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    int rc = 0;

    rargv_init(&a);
    rargv_add(&a, "BLMOVE");
    rargv_add(&a, part->units[0].queue_key);
    rargv_add(&a, part->processing_key);
    rargv_add(&a, "RIGHT");
    rargv_add(&a, "LEFT");
    rargv_addf(&a, "%.3f", order_wait_ms(w, fetch_timeout_ms(w)) / 1000.0);
    r = rconn_command(w->rc, &a, &err);
    rargv_free(&a);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* UNBLOCKED: the master was demoted while we waited (a failover);
         * the connection is gone, the next call finds the new master */
        fetch_failed(w, "BLMOVE", r, &err);
        freeReplyObject(r);
        return -1;
    }
    /* a job, or the wait is over: take.lua next time (it may have more
     * behind it; due delayed jobs are promoted by it) */
    pipe_set_queue_empty(w, false);
    if (r->type == REDIS_REPLY_NIL)
        goto done;
    if (r->type != REDIS_REPLY_STRING) {
        log_warnx("fetch: unexpected BLMOVE reply type %d", r->type);
        rc = -1;
        goto done;
    }
    if (!ids_is_valid(r->str, r->len, IDS_MAX_LEN)) {
        fetch_drop_invalid(w, part, r->str, r->len); /* not written by stageq */
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

int fetch_next(struct worker *w, char id[IDS_MAX_LEN + 1], redisReply **hash)
{
    char begun[IDS_MAX_LEN + 1];
    redisReply *taken;
    bool may_block;
    int rc;

    *hash = NULL;
    pipe_collect(w); /* the next batch, taken or read by an end sent meanwhile */
    taken = pipe_next_held(w, begun);
    if (taken != NULL)
        return fetch_held(w, taken, begun, id, hash);
    if (*w->stop)
        return 0;
    /* waiting on the wake channels: subscribed before the sweep, so that a
     * push after it looked is a message waiting (wake.c) */
    may_block = fetch_may_block(w);
    if (!may_block)
        (void)wake_subscribe(w);
    rc = fetch_sweep(w);
    if (rc != 0) {
        if (rc < 0)
            return -1;
        taken = pipe_next_held(w, begun);
        return taken != NULL ? fetch_held(w, taken, begun, id, hash) : 0;
    }
    fetch_record_stats(w); /* about to wait: the stage runs seen so far */
    pipe_flush(w);         /* and the ends that wait to share a write */
    log_flush();
    /* BLMOVE's timeout ends on Redis's cron (up to 100 ms late at hz 10):
     * a delayed job due within this wait is waited for here, on time */
    if (may_block && fetch_may_block(w) &&
        order_wait_ms(w, fetch_timeout_ms(w)) >= fetch_timeout_ms(w))
        return fetch_blmove(w, id, hash);
    /* a safety timeout too: 2 s, at most a quarter of a lease (renewed
     * between waits); sooner when a delayed job falls due or a rate
     * window frees a job */
    if (may_block)
        (void)wake_subscribe(w); /* a pause seen in this sweep, or a due time soon */
    (void)wake_wait(w, order_wait_ms(w, 2 * fetch_timeout_ms(w)));
    pipe_set_queue_empty(w, false);
    return 0;
}
