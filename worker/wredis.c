/* wredis: the worker's Redis calls, retried through outages with backoff. A
 * job's state change is never silently dropped: the call gives up only when
 * the worker is stopping and its grace period has run out. */
#include <string.h>
#include <time.h>

#include "clock.h"
#include "sentinel.h"
#include "log.h"
#include "worker.h"

int wredis_backoff_max_ms(const struct worker *w)
{
    int eighth = w->cfg->lease_s * 1000 / 8;

    return eighth < WORKER_BACKOFF_MAX_MS ? eighth : WORKER_BACKOFF_MAX_MS;
}

void wredis_sleep_ms(const struct worker *w, int ms)
{
    log_flush();
    while (ms > 0 && !(w->stop != NULL && *w->stop)) {
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

void wredis_log_down(struct worker *w, const char *what, const char *msg)
{
    enum sentinel_status st = rconn_discovery(w->rc);

    /* once per series, and again when the reason changes kind (the two
     * sentinel errors, a master not reachable yet, any other) */
    if (w->is_redis_down && st == w->down_status) {
        log_debug("%s%s", what, msg);
        return;
    }
    log_warnx("%s%s; retrying with backoff", what, msg);
    w->is_redis_down = true;
    w->down_status = st;
}

void wredis_check_conn(struct worker *w)
{
    char peer[300];

    if (rconn_connects(w->rc) == w->connects_seen)
        return;
    /* a new connection, maybe to a new master: what the old one acknowledged
     * may be missing there (an end, a take): recover_own puts what sits on
     * our processing list back before the next take */
    if (w->connects_seen != 0) {
        if (w->on_new_conn != NULL)
            w->on_new_conn(w);
        if (rconn_peer(w->rc, peer, sizeof(peer)) == 0)
            log_info("redis: connected to %s", peer);
    }
    w->connects_seen = rconn_connects(w->rc);
}

void wredis_ask_master(struct worker *w)
{
    struct sq_err err;
    int rv;

    w->last_master_check_ms = clock_mono_ms();
    rv = rconn_check_master(w->rc, &err);
    if (rv > 0)
        log_info("%s: reconnecting", err.msg);
    else if (rv < 0)
        log_debug("master check: %s", err.msg);
}

void wredis_check_master(struct worker *w)
{
    if (clock_mono_ms() - w->last_master_check_ms >= WORKER_MASTER_CHECK_MS)
        wredis_ask_master(w);
}

void wredis_log_up(struct worker *w)
{
    wredis_check_conn(w);
    if (w->is_redis_down)
        log_info("redis is reachable again");
    w->is_redis_down = false;
}

/* The wait before try attempt + 1: backoff; while stopping, 200 ms that the
 * stop flag does not cut short. */
static void wredis_pause(struct worker *w, int attempt)
{
    if (w->on_wait != NULL)
        w->on_wait(w); /* the lease, when due (child.c) */
    /* While stopping, sleep without being cut short by the stop flag. */
    if (*w->stop) {
        struct timespec ts = {0, 200 * 1000000L};
        log_flush();
        nanosleep(&ts, NULL);
    } else {
        wredis_sleep_ms(w, rconn_backoff_ms(attempt, wredis_backoff_max_ms(w)));
    }
}

static redisReply *wredis_call(struct worker *w, int is_script, enum script_id id, int nkeys,
                               const struct rargv *args)
{
    int64_t first_fail = 0;
    int attempt = 0;
    struct sq_err err;

    for (;;) {
        redisReply *r = is_script ? rconn_script(w->rc, id, nkeys, args, &err)
                                  : rconn_command(w->rc, args, &err);
        if (r != NULL && r->type == REDIS_REPLY_ERROR &&
            err_reply_code(r->str, r->len) == SQ_ERR_TRANSIENT) {
            /* Redis is up but cannot serve yet (e.g. LOADING its AOF after a
             * restart): an outage like any other, not an answer. */
            err_set(&err, SQ_ERR_TRANSIENT, "redis: %.*s", (int)(r->len < 120 ? r->len : 120),
                    r->str);
            freeReplyObject(r);
            r = NULL;
        }
        if (r != NULL) {
            if (attempt > 0)
                wredis_log_up(w);
            return r;
        }
        if (err.code == SQ_ERR_NOMEM) {
            log_warnx("%s: not retried", err.msg); /* not an outage: waiting will not help */
            return NULL;
        }
        if (attempt == 0)
            first_fail = clock_mono_ms();
        wredis_log_down(w, "", err.msg);
        attempt++;
        if (*w->stop && clock_mono_ms() - first_fail > (int64_t)w->cfg->grace_s * 1000) {
            log_warnx("giving up on redis: stopping and the grace period is over");
            return NULL;
        }
        wredis_pause(w, attempt);
    }
}

redisReply *wredis_script(struct worker *w, enum script_id id, int nkeys, const struct rargv *args)
{
    return wredis_call(w, 1, id, nkeys, args);
}

redisReply *wredis_command(struct worker *w, const struct rargv *args)
{
    return wredis_call(w, 0, SCRIPT_COUNT, 0, args);
}

/* The outcome of an end's reply: finish.lua's first element, or the reply
 * itself (retry.lua). */
static const redisReply *wredis_end_result(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == FINISH_REPLY_LEN ? r->element[0] : r;
}

/* A write of our own on the connection, so that WAIT covers what a refused
 * end found there: the job's "changed" message (harmless: it says re-read).
 * 0, or -1 when it failed. */
static int wredis_touch(struct worker *w, const char *job_id)
{
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    int rc;

    rargv_init(&a);
    rargv_add(&a, "PUBLISH");
    rargv_add(&a, w->events_chan);
    rargv_add(&a, job_id);
    r = rconn_command(w->rc, &a, &err);
    rargv_free(&a);
    rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    freeReplyObject(r);
    return rc;
}

bool wredis_end_confirmed(struct worker *w, const redisReply *r, unsigned long conn,
                          const char *job_id, bool is_again)
{
    const redisReply *res;
    struct sq_err err;
    int want = w->cfg->min_replicas;

    if (want == 0 || r->type == REDIS_REPLY_ERROR)
        return true;
    res = wredis_end_result(r);
    if (!((res->type == REDIS_REPLY_STRING || res->type == REDIS_REPLY_STATUS) &&
          strcmp(res->str, "ok") == 0)) {
        if (!is_again)
            return true; /* refused at once: nothing of ours was written */
        /* what it found may be our first write, maybe made on another
         * connection: WAIT covers only this connection's writes */
        if (wredis_touch(w, job_id) < 0) {
            log_write(LOG_LEVEL_DEBUG, 0, job_id, "end not confirmed: redis unreachable");
            return false;
        }
        conn = rconn_connects(w->rc);
    }
    if (rconn_wait(w->rc, want, w->cfg->min_replicas_timeout_ms, conn, &err) == 1)
        return true;
    log_write(is_again ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, 0, job_id,
              "end not confirmed (%s): kept, written again", err.msg);
    wredis_ask_master(w); /* a stale master is left before the end is written again */
    return false;
}

redisReply *wredis_end(struct worker *w, enum script_id id, int nkeys, const struct rargv *args,
                       const char *job_id, bool is_again, bool *was_again)
{
    int64_t first_fail = 0;
    int attempt = 0;
    bool is_kept = is_again && w->cfg->min_replicas > 0; /* a try before was not confirmed */

    for (;;) {
        redisReply *r = wredis_script(w, id, nkeys, args);

        wredis_check_conn(w); /* a move to a new master is logged as it happens */
        if (was_again != NULL)
            *was_again = is_again;
        if (r == NULL || wredis_end_confirmed(w, r, rconn_connects(w->rc), job_id, is_again)) {
            /* also when the first try here confirms one kept by the caller */
            if (r != NULL && (attempt > 0 || is_kept))
                log_write(LOG_LEVEL_INFO, 0, job_id, "end confirmed by %d replica(s)",
                          w->cfg->min_replicas);
            return r;
        }
        if (attempt++ == 0)
            first_fail = clock_mono_ms();
        if (*w->stop && clock_mono_ms() - first_fail > (int64_t)w->cfg->grace_s * 1000) {
            log_write(LOG_LEVEL_ERROR, 0, job_id,
                      "end not confirmed by the replicas; given up: stopping and the grace "
                      "period is over");
            return r;
        }
        freeReplyObject(r);
        is_again = true;
        wredis_pause(w, attempt); /* the lease lives on while the replicas are away */
    }
}
