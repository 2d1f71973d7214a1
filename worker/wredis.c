/* wredis: the worker's Redis calls, retried through outages with backoff. A
 * job's state change is never silently dropped: the call gives up only when
 * the worker is stopping and its grace period has run out. */
#include <string.h>
#include <time.h>

#include "clock.h"
#include "sentinel.h"
#include "log.h"
#include "worker.h"

int worker_backoff_max_ms(const struct worker *w)
{
    int quarter = w->cfg->lease_s * 1000 / 4;

    return quarter < WORKER_BACKOFF_MAX_MS ? quarter : WORKER_BACKOFF_MAX_MS;
}

void worker_sleep_ms(const struct worker *w, int ms)
{
    while (ms > 0 && !(w->stop != NULL && *w->stop)) {
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Error replies that mean "not now" rather than "no", besides those that
 * say the master moved (sentinel_is_failover_error): retried like an outage. */
bool wredis_is_transient(const char *s, size_t len)
{
    static const char *const prefixes[] = {"BUSY", "TRYAGAIN", "CLUSTERDOWN"};
    size_t i;

    if (sentinel_is_failover_error(s, len))
        return true;
    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);
        if (len >= n && strncmp(s, prefixes[i], n) == 0)
            return true;
    }
    return false;
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
        w->is_take_lost = true;
        if (rconn_peer(w->rc, peer, sizeof(peer)) == 0)
            log_info("redis: connected to %s", peer);
    }
    w->connects_seen = rconn_connects(w->rc);
}

void wredis_check_master(struct worker *w)
{
    int64_t now = clock_mono_ms();
    struct sq_err err;
    int rv;

    if (now - w->last_master_check_ms < WORKER_MASTER_CHECK_MS)
        return;
    w->last_master_check_ms = now;
    rv = rconn_check_master(w->rc, &err);
    if (rv > 0)
        log_info("%s: reconnecting", err.msg);
    else if (rv < 0)
        log_debug("master check: %s", err.msg);
}

void wredis_log_up(struct worker *w)
{
    wredis_check_conn(w);
    if (w->is_redis_down)
        log_info("redis is reachable again");
    w->is_redis_down = false;
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
        if (r != NULL && r->type == REDIS_REPLY_ERROR && wredis_is_transient(r->str, r->len)) {
            /* Redis is up but cannot serve yet (e.g. LOADING its AOF after a
             * restart): an outage like any other, not an answer. */
            err_set(&err, "redis: %.*s", (int)(r->len < 120 ? r->len : 120), r->str);
            freeReplyObject(r);
            r = NULL;
        }
        if (r != NULL) {
            if (attempt > 0)
                wredis_log_up(w);
            return r;
        }
        if (args->is_oom)
            return NULL;
        if (attempt == 0)
            first_fail = clock_mono_ms();
        wredis_log_down(w, "", err.msg);
        attempt++;
        if (*w->stop && clock_mono_ms() - first_fail > (int64_t)w->cfg->grace_s * 1000) {
            log_warnx("giving up on redis: stopping and the grace period is over");
            return NULL;
        }
        /* While stopping, sleep without being cut short by the stop flag. */
        if (*w->stop) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        } else {
            worker_sleep_ms(w, rconn_backoff_ms(attempt, worker_backoff_max_ms(w)));
        }
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
