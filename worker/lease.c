/* lease: a worker process's leases, one in each partition of its queue
 * (<p>:{t}:leases, a sorted set scored by expiry, judged on the clock of
 * that partition's Redis: lease.lua), and its registry entry
 * (<p>:{w}:workers and the info hash <p>:{w}:worker:<id>: what GET
 * /v1/workers and redis-cli show; heartbeat.lua). A worker that stops
 * renewing — killed, frozen, cut off — has its jobs of a partition recovered
 * by the others once its lease there has expired, and once that Redis has
 * been reachable for a whole lease (alive.lua). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "config.h"
#include "worker.h"
#include "num.h"

/* Reads lease.lua's reply {now, judge_at} (that Redis's time, ms). */
static void lease_read_times(struct wpart *w, const redisReply *r)
{
    long long now, judge_at;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
        num_parse_ll(r->element[0]->str, 0, INT64_MAX / 2, &now, NULL) < 0 ||
        num_parse_ll(r->element[1]->str, 0, INT64_MAX / 2, &judge_at, NULL) < 0)
        return;
    w->redis_offset_ms = now - clock_now_ms();
    w->judge_at_ms = judge_at;
    w->has_lease = true;
}

static void lease_args(const struct worker *w, const struct wpart *part, struct rargv *a)
{
    rargv_init(a);
    rargv_add(a, part->leases_key);
    rargv_add(a, part->alive_key);
    rargv_add(a, w->id);
    rargv_addll(a, (long long)w->cfg->lease_s * 1000);
}

/* One lease.lua reply of partition part (owned): 0, or -1 with why. */
static int lease_reply(struct wpart *part, redisReply *r, const struct sq_err *err, char *why,
                       size_t cap)
{
    int rc = 0;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        snprintf(why, cap, "%s", r != NULL ? r->str : err->msg);
        rc = -1;
    } else {
        lease_read_times(part, r);
    }
    freeReplyObject(r);
    return rc;
}

/* lease.lua in every partition, pipelined (one at a time, EVAL, after a
 * NOSCRIPT: a node that lost its script cache): 0, or -1 with why. */
static int lease_parts(struct worker *w, struct sq_err *err, char *why, size_t cap)
{
    struct rargv a;
    redisReply *r;
    int j, sent = 0, rc = 0;
    bool is_noscript = false;

    pipe_drain(w); /* the replies below are read in order: none of the ends' before them */
    for (j = 0; j < w->nparts; j++) {
        lease_args(w, &w->parts[j], &a);
        rc = rconn_script_send(w->rc, SCRIPT_LEASE, 2, &a, err);
        rargv_free(&a);
        if (rc < 0) {
            snprintf(why, cap, "%s", err->msg);
            return -1; /* nothing pending any more: the connection is dropped */
        }
        sent++;
    }
    for (j = 0; j < sent; j++) {
        r = rconn_pending_reply(w->rc, err);
        if (r == NULL) {
            snprintf(why, cap, "%s", err->msg);
            return -1; /* the connection went with the others' replies */
        }
        if (r->type == REDIS_REPLY_ERROR && scripts_is_noscript(r->str, r->len)) {
            is_noscript = true;
            freeReplyObject(r);
            continue;
        }
        rc |= lease_reply(&w->parts[j], r, err, why, cap);
    }
    for (j = 0; is_noscript && j < w->nparts; j++) {
        lease_args(w, &w->parts[j], &a);
        r = rconn_script(w->rc, SCRIPT_LEASE, 2, &a, err);
        rargv_free(&a);
        rc |= lease_reply(&w->parts[j], r, err, why, cap);
    }
    return rc;
}

void lease_heartbeat(struct worker *w, bool is_forced)
{
    int64_t now = clock_mono_ms(), lease_ms = (int64_t)w->cfg->lease_s * 1000;
    char ts[CLOCK_RFC3339_LEN], host[128], why[ERR_MSG_LEN];
    long long redis_now;
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
    rargv_add(&a, w->id);
    rargv_addll(&a, lease_ms);
    rargv_addll(&a, 2LL * w->cfg->lease_s);
    rargv_add(&a, "id"), rargv_add(&a, w->id);
    rargv_add(&a, "host"), rargv_add(&a, host);
    rargv_add(&a, "pid"), rargv_addll(&a, (long long)getpid());
    rargv_add(&a, "queue"), rargv_add(&a, w->queues[0].name);
    rargv_add(&a, "queues"), rargv_add(&a, w->cfg->queues[0] ? w->cfg->queues : w->cfg->queue);
    rargv_add(&a, "started_at"), rargv_add(&a, w->started_at);
    rargv_add(&a, "heartbeat_at"), rargv_add(&a, ts);
    rargv_add(&a, "job"), rargv_add(&a, w->current_job);
    rargv_add(&a, "jobs_done"), rargv_addll(&a, w->jobs_done);
    /* the leases first: they are what recovery judges */
    if (lease_parts(w, &err, why, sizeof(why)) < 0) {
        rargv_free(&a);
        /* retried at the next call; warned of once per outage, like every
         * failed Redis call (the lease is often the first to see it) */
        wredis_log_down(w, "lease not renewed: ", why);
        w->is_lease_failing = true;
        return;
    }
    r = rconn_script(w->rc, SCRIPT_HEARTBEAT, 2, &a, &err);
    rargv_free(&a);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        wredis_log_down(w, "lease not renewed: ", r ? r->str : err.msg);
        w->is_lease_failing = true;
    } else {
        if (w->is_lease_failing)
            log_info("lease renewed");
        w->is_lease_failing = false;
        w->last_heartbeat_ms = now;
        if (r->type == REDIS_REPLY_STRING &&
            num_parse_ll(r->str, 0, INT64_MAX / 2, &redis_now, NULL) == 0)
            w->redis_offset_ms = redis_now - clock_now_ms();
    }
    freeReplyObject(r);
}

/* One try of "CMD key [member]" (member NULL: none); the reply is dropped. */
static void lease_drop(struct worker *w, const char *cmd, const char *key, const char *member)
{
    struct rargv a;
    struct sq_err err;

    rargv_init(&a);
    rargv_add(&a, cmd);
    rargv_add(&a, key);
    if (member != NULL)
        rargv_add(&a, member);
    freeReplyObject(rconn_command(w->rc, &a, &err));
    rargv_free(&a);
}

void lease_release(struct worker *w)
{
    int j;

    for (j = 0; j < w->nparts; j++) {
        lease_drop(w, "ZREM", w->parts[j].leases_key, w->id);
        lease_drop(w, "HDEL", w->parts[j].current_key, w->id);
    }
    lease_drop(w, "ZREM", w->workers_key, w->id);
    lease_drop(w, "DEL", w->info_key, NULL);
}
