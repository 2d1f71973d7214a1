/* wredis: the worker's Redis calls, retried through outages with backoff. A
 * job's state change is never silently dropped: the call gives up only when
 * the worker is stopping and its grace period has run out. */
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "worker.h"

int worker_backoff_max_ms(const struct worker *w)
{
    int eighth = w->cfg->lease_s * 1000 / 8;

    return eighth < WORKER_BACKOFF_MAX_MS ? eighth : WORKER_BACKOFF_MAX_MS;
}

int worker_fetch_timeout_ms(const struct worker *w)
{
    int eighth = w->cfg->lease_s * 1000 / 8;

    return eighth < WORKER_FETCH_TIMEOUT_MS ? eighth : WORKER_FETCH_TIMEOUT_MS;
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

/* Error replies that mean "not now" rather than "no": retried like an outage. */
static bool wredis_is_transient(const char *s, size_t len)
{
    static const char *const prefixes[] = {"LOADING",    "BUSY",        "TRYAGAIN",
                                           "MASTERDOWN", "CLUSTERDOWN", "READONLY"};
    size_t i;

    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);
        if (len >= n && strncmp(s, prefixes[i], n) == 0)
            return true;
    }
    return false;
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
                log_info("redis is back after %d failed attempt(s)", attempt);
            return r;
        }
        if (args->is_oom)
            return NULL;
        if (attempt == 0) {
            first_fail = clock_mono_ms();
            log_warnx("%s; retrying with backoff", err.msg);
        }
        attempt++;
        if (*w->stop && clock_mono_ms() - first_fail > (int64_t)w->cfg->grace_s * 1000) {
            log_warnx("giving up on redis: stopping and the grace period is over");
            return NULL;
        }
        /* The lease first, when due: the renewal is the first thing to
         * get through when Redis is back (see alive.lua). */
        lease_heartbeat(w, false);
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
