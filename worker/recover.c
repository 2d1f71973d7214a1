/* recover: jobs of lost workers, partition by partition. Every live worker
 * looks, about every third of a lease, in each partition it serves, for
 * workers whose lease there has expired, and runs recover.lua on each job of
 * their processing lists there: the script judges (the lease still expired,
 * and that partition's Redis reachable for a whole lease: alive.lua), then
 * removes the id from the list, so only one worker wins per job; the job
 * goes back to the front of its queue (resuming at its unfinished stage) or
 * fails with worker_lost when no attempt is left. Every key of one call is
 * of the partition's slot. Workers with nothing left there are forgotten in
 * it (reap.lua); a registry entry long expired is dropped. */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "worker.h"

#define RECOVER_WORKERS_BATCH   16 /* expired workers looked at per tick */
#define RECOVER_JOBS_BATCH      64 /* jobs of one lost worker per tick */
#define RECOVER_REGISTRY_LEASES 10 /* a registry entry expired this many leases is dropped */

static redisReply *recover_cmd(struct worker *w, struct rargv *a)
{
    struct sq_err err;
    redisReply *r = rconn_command(w->rc, a, &err);

    rargv_free(a);
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        log_warnx("recovery: %.*s", (int)r->len, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Recovers one job from the processing list plist of lost worker wid: 0, or
 * -1 when Redis could not be asked (the job stays on the list). */
static int recover_job(struct worker *w, const struct wpart *part, const char *wid,
                       const char *plist, const char *id)
{
    char jkey[KEYS_MAX_LEN], qkey[KEYS_MAX_LEN], fkey[KEYS_MAX_LEN], wake[KEYS_MAX_LEN],
        ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    const char *queue = "default";
    bool is_own = strcmp(wid, w->id) == 0;
    int rc;

    if (!ids_is_valid(id, strlen(id), IDS_MAX_LEN) ||
        keys_job(jkey, sizeof(jkey), w->cfg->prefix, part->tag, id) < 0)
        return 0;
    rargv_init(&a);
    rargv_add(&a, "HGET");
    rargv_add(&a, jkey);
    rargv_add(&a, JOB_F_QUEUE);
    r = recover_cmd(w, &a);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING && ids_is_valid(r->str, r->len, IDS_NAME_MAX_LEN))
        queue = r->str;
    /* the queue's list in this slot: a job never leaves its partition's slot */
    keys_queue(qkey, sizeof(qkey), w->cfg->prefix, part->tag, queue);
    keys_failed(fkey, sizeof(fkey), w->cfg->prefix, part->tag, queue);
    keys_wake(wake, sizeof(wake), w->cfg->prefix, queue);
    freeReplyObject(r);
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&a);
    rargv_add(&a, jkey);
    rargv_add(&a, plist);
    rargv_add(&a, qkey);
    rargv_add(&a, part->counters_key);
    rargv_add(&a, part->leases_key);
    rargv_add(&a, part->alive_key);
    rargv_add(&a, part->current_key);
    rargv_add(&a, fkey);
    rargv_add(&a, id);
    rargv_add(&a, ts);
    rargv_add(&a, wid);
    rargv_addll(&a, JOB_FAILED_TTL_FACTOR);
    rargv_add(&a, is_own ? "1" : "0"); /* our own list: taken by a lost reply, never begun */
    rargv_addll(&a, (long long)w->cfg->lease_s * 1000);
    rargv_add(&a, w->events_chan);
    rargv_add(&a, wake);
    rargv_addll(&a, KEYS_FAILED_MAX);
    r = rconn_script(w->rc, SCRIPT_RECOVER, 8, &a, &err);
    rargv_free(&a);
    if (r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
        (strcmp(r->str, "grace") == 0 || strcmp(r->str, "alive") == 0)) {
        log_debug("not judging %s: %s", wid, r->str); /* Redis knows better than our scan */
    } else if (r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
               strcmp(r->str, "gone") != 0) {
        if (is_own)
            log_write(LOG_LEVEL_INFO, 0, id, "taken by a reply that was lost: %s", r->str);
        else
            log_write(strcmp(r->str, "failed") == 0 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, 0, id,
                      "recovered from lost worker %s: %s", wid, r->str);
    }
    rc = r != NULL && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    freeReplyObject(r);
    return rc;
}

/* 0 when every job of wid's list that was looked at could be asked about. */
static int recover_worker(struct worker *w, const struct wpart *part, const char *wid)
{
    char plist[KEYS_MAX_LEN];
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    size_t i;
    int rc = 0;

    if (keys_processing(plist, sizeof(plist), w->cfg->prefix, part->tag, wid) < 0)
        return 0;
    rargv_init(&a);
    rargv_add(&a, "LRANGE");
    rargv_add(&a, plist);
    rargv_add(&a, "0");
    rargv_addll(&a, RECOVER_JOBS_BATCH - 1);
    r = recover_cmd(w, &a);
    if (r == NULL)
        return -1;
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            recover_job(w, part, wid, plist, r->element[i]->str) < 0)
            rc = -1;
    freeReplyObject(r);
    rargv_init(&a);
    rargv_add(&a, part->leases_key);
    rargv_add(&a, plist);
    rargv_add(&a, part->alive_key);
    rargv_add(&a, part->current_key);
    rargv_add(&a, wid);
    rargv_addll(&a, (long long)w->cfg->lease_s * 1000);
    r = rconn_script(w->rc, SCRIPT_REAP, 4, &a, &err);
    rargv_free(&a);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        log_info("forgot lost worker %s in partition %d", wid, part->index);
    freeReplyObject(r);
    return rc;
}

int recover_own(struct worker *w)
{
    int j, rc = 0;

    for (j = 0; j < w->nparts; j++)
        if (recover_worker(w, &w->parts[j], w->id) < 0)
            rc = -1;
    return rc;
}

/* One partition's expired leases: their jobs there recovered. */
static void recover_part(struct worker *w, const struct wpart *part)
{
    /* Its Redis said, at our last renewal, that nobody may be judged yet
     * (an outage, or a restart, ended less than a lease ago). recover.lua
     * checks again: this only spares the scan. */
    int64_t redis_now = clock_now_ms() + part->redis_offset_ms;
    struct rargv a;
    redisReply *r;
    size_t i;

    if (!part->has_lease || redis_now < part->judge_at_ms)
        return;
    rargv_init(&a);
    rargv_add(&a, "ZRANGEBYSCORE");
    rargv_add(&a, part->leases_key);
    rargv_add(&a, "-inf");
    rargv_addll(&a, redis_now);
    rargv_add(&a, "LIMIT");
    rargv_add(&a, "0");
    rargv_addll(&a, RECOVER_WORKERS_BATCH);
    r = recover_cmd(w, &a);
    if (r == NULL)
        return;
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, w->id) != 0)
            (void)recover_worker(w, part, r->element[i]->str);
    freeReplyObject(r);
}

/* Drops registry entries (display only) expired for RECOVER_REGISTRY_LEASES
 * leases: their info hashes are gone by then (TTL). */
static void recover_registry(struct worker *w)
{
    int64_t lease_ms = (int64_t)w->cfg->lease_s * 1000;
    struct rargv a;

    rargv_init(&a);
    rargv_add(&a, "ZREMRANGEBYSCORE");
    rargv_add(&a, w->workers_key);
    rargv_add(&a, "-inf");
    rargv_addll(&a, clock_now_ms() + w->redis_offset_ms - RECOVER_REGISTRY_LEASES * lease_ms);
    freeReplyObject(recover_cmd(w, &a));
}

void recover_tick(struct worker *w)
{
    int64_t now = clock_mono_ms(), lease_ms = (int64_t)w->cfg->lease_s * 1000;
    int j;

    /* A third of a lease, spread by worker index so the pool does not look at once. */
    if (now - w->last_recover_ms < lease_ms / 3 + w->index * 97 % 500)
        return;
    if (w->last_heartbeat_ms == 0)
        return;
    w->last_recover_ms = now;
    for (j = 0; j < w->nparts; j++)
        recover_part(w, &w->parts[j]);
    recover_registry(w);
}
