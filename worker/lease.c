/* lease: a worker process's lease in <prefix>:workers (a sorted set scored by
 * expiry) and its info hash <prefix>:worker:<id> (what GET /v1/workers and
 * redis-cli show). A worker that stops renewing — killed, frozen, cut off —
 * has its jobs recovered by the others once the lease has expired, and once
 * Redis has been reachable for a whole lease (alive.lua). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "config.h"
#include "worker.h"
#include "num.h"

/* Reads heartbeat.lua's reply {now, judge_at} (Redis time, ms). */
static void lease_read_times(struct worker *w, const redisReply *r)
{
    long long now, judge_at;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
        num_parse_ll(r->element[0]->str, 0, INT64_MAX / 2, &now, NULL) < 0 ||
        num_parse_ll(r->element[1]->str, 0, INT64_MAX / 2, &judge_at, NULL) < 0)
        return;
    w->redis_offset_ms = now - clock_now_ms();
    w->judge_at_ms = judge_at;
}

void lease_heartbeat(struct worker *w, bool is_forced)
{
    int64_t now = clock_mono_ms(), lease_ms = (int64_t)w->cfg->lease_s * 1000;
    char ts[CLOCK_RFC3339_LEN], host[128];
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    const char *colon;

    if (!is_forced && w->last_heartbeat_ms != 0 && now - w->last_heartbeat_ms < lease_ms / 4)
        return;
    clock_format_rfc3339(clock_now_ms(), ts);
    colon = strrchr(w->id, ':');
    snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - w->id) : (int)strlen(w->id), w->id);
    rargv_init(&a);
    rargv_add(&a, w->workers_key);
    rargv_add(&a, w->info_key);
    rargv_add(&a, w->alive_key);
    rargv_add(&a, w->id);
    rargv_addll(&a, lease_ms);
    rargv_addll(&a, 2LL * w->cfg->lease_s);
    rargv_add(&a, "id"), rargv_add(&a, w->id);
    rargv_add(&a, "host"), rargv_add(&a, host);
    rargv_add(&a, "pid"), rargv_addll(&a, (long long)getpid());
    rargv_add(&a, "queue"), rargv_add(&a, w->cfg->queue);
    rargv_add(&a, "started_at"), rargv_add(&a, w->started_at);
    rargv_add(&a, "heartbeat_at"), rargv_add(&a, ts);
    rargv_add(&a, "job"), rargv_add(&a, w->current_job);
    rargv_add(&a, "jobs_done"), rargv_addll(&a, w->jobs_done);
    r = rconn_script(w->rc, SCRIPT_HEARTBEAT, 3, &a, &err);
    rargv_free(&a);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* retried at the next call; warned of once per outage, like every
         * failed Redis call (the lease is often the first to see it) */
        wredis_log_down(w, "lease not renewed: ", r ? r->str : err.msg);
        w->is_lease_failing = true;
    } else {
        if (w->is_lease_failing)
            log_info("lease renewed");
        w->is_lease_failing = false;
        w->last_heartbeat_ms = now;
        lease_read_times(w, r);
    }
    freeReplyObject(r);
}

void lease_release(struct worker *w)
{
    struct rargv a;
    struct sq_err err;

    rargv_init(&a);
    rargv_add(&a, "ZREM");
    rargv_add(&a, w->workers_key);
    rargv_add(&a, w->id);
    freeReplyObject(rconn_command(w->rc, &a, &err));
    rargv_free(&a);
    rargv_init(&a);
    rargv_add(&a, "DEL");
    rargv_add(&a, w->info_key);
    freeReplyObject(rconn_command(w->rc, &a, &err));
    rargv_free(&a);
}
