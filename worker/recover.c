/* recover: jobs of lost workers. Every live worker looks, about every third
 * of a lease, for workers whose lease has expired, and runs recover.lua on
 * each job of their processing lists: the script judges (the lease still
 * expired, and Redis reachable for a whole lease: alive.lua), then removes
 * the id from the list, so only one worker wins per job; the job goes back
 * to the front of its queue (resuming at its unfinished stage) or fails with
 * worker_lost when no attempt is left. Workers with nothing left are
 * forgotten (reap.lua). */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "worker.h"

#define RECOVER_WORKERS_BATCH 16 /* expired workers looked at per tick */
#define RECOVER_JOBS_BATCH    64 /* jobs of one lost worker per tick */

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
static int recover_job(struct worker *w, const char *wid, const char *plist, const char *id)
{
    char jkey[KEYS_MAX_LEN], qkey[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN], ckey[KEYS_MAX_LEN],
        ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    const char *queue = "default";
    bool is_own = strcmp(wid, w->id) == 0;
    int rc;

    if (!ids_is_valid(id, strlen(id), IDS_MAX_LEN) ||
        keys_job(jkey, sizeof(jkey), w->cfg->prefix, keys_default_tag(), id) < 0)
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
    keys_queue(qkey, sizeof(qkey), w->cfg->prefix, keys_default_tag(), queue);
    keys_counters(ckey, sizeof(ckey), w->cfg->prefix, keys_default_tag());
    keys_events(ekey, sizeof(ekey), w->cfg->prefix);
    freeReplyObject(r);
    clock_format_rfc3339(clock_now_ms(), ts);
    rargv_init(&a);
    rargv_add(&a, jkey);
    rargv_add(&a, plist);
    rargv_add(&a, qkey);
    rargv_add(&a, ckey);
    rargv_add(&a, ekey);
    rargv_add(&a, w->workers_key);
    rargv_add(&a, w->alive_key);
    rargv_add(&a, id);
    rargv_add(&a, ts);
    rargv_add(&a, wid);
    rargv_addll(&a, JOB_FAILED_TTL_FACTOR);
    rargv_add(&a, is_own ? "1" : "0"); /* our own list: taken by a lost reply, never begun */
    rargv_addll(&a, (long long)w->cfg->lease_s * 1000);
    r = rconn_script(w->rc, SCRIPT_RECOVER, 7, &a, &err);
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
static int recover_worker(struct worker *w, const char *wid)
{
    char plist[KEYS_MAX_LEN], info[KEYS_MAX_LEN];
    struct rargv a;
    struct sq_err err;
    redisReply *r;
    size_t i;
    int rc = 0;

    if (keys_processing(plist, sizeof(plist), w->cfg->prefix, keys_default_tag(), wid) < 0 ||
        keys_worker(info, sizeof(info), w->cfg->prefix, wid) < 0)
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
            recover_job(w, wid, plist, r->element[i]->str) < 0)
            rc = -1;
    freeReplyObject(r);
    rargv_init(&a);
    rargv_add(&a, w->workers_key);
    rargv_add(&a, plist);
    rargv_add(&a, info);
    rargv_add(&a, w->alive_key);
    rargv_add(&a, wid);
    rargv_addll(&a, (long long)w->cfg->lease_s * 1000);
    r = rconn_script(w->rc, SCRIPT_REAP, 4, &a, &err);
    rargv_free(&a);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        log_info("forgot lost worker %s", wid);
    freeReplyObject(r);
    return rc;
}

int recover_own(struct worker *w)
{
    return recover_worker(w, w->id);
}

void recover_tick(struct worker *w)
{
    int64_t now = clock_mono_ms(), lease_ms = (int64_t)w->cfg->lease_s * 1000, redis_now;
    struct rargv a;
    redisReply *r;
    size_t i;

    /* A third of a lease, spread by worker index so the pool does not look at once. */
    if (now - w->last_recover_ms < lease_ms / 3 + w->index * 97 % 500)
        return;
    /* Redis said, at our last renewal, that nobody may be judged yet (an
     * outage, or a restart, ended less than a lease ago). recover.lua checks
     * again: this only spares the scan. */
    redis_now = clock_now_ms() + w->redis_offset_ms;
    if (w->last_heartbeat_ms == 0 || redis_now < w->judge_at_ms)
        return;
    w->last_recover_ms = now;
    rargv_init(&a);
    rargv_add(&a, "ZRANGEBYSCORE");
    rargv_add(&a, w->workers_key);
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
            (void)recover_worker(w, r->element[i]->str);
    freeReplyObject(r);
}
