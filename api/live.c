/* live: which workers are alive, read from the workers' registry
 * (<p>:{w}:workers, a sorted set of worker id -> lease expiry in ms): those
 * whose lease has not expired, and the job each runs, from the current hashes
 * of the partitions (<p>:{t}:current). The commands are built here and read
 * here, for every route that shows workers (listing.c, metrics.c). Sends
 * nothing itself. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "num.h"

#define LIVE_EXPIRY_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

int live_args(struct api *api, struct rargv *args)
{
    char key[KEYS_MAX_LEN];

    if (keys_workers(key, sizeof(key), api->cfg->prefix) < 0)
        return -1;
    rargv_init(args);
    rargv_add(args, "ZRANGEBYSCORE");
    rargv_add(args, key);
    rargv_addll(args, (long long)clock_now_ms());
    rargv_add(args, "+inf");
    rargv_add(args, "WITHSCORES");
    return 0;
}

/* Worker w runs job (both NUL-terminated): set when w is alive and has no
 * job yet. 0, or -1 (out of memory). */
static int live_set_job(struct live *lv, const char *w, const char *job)
{
    size_t k;

    for (k = 0; k < lv->n && strcmp(lv->ids[k], w) != 0; k++)
        ;
    if (k == lv->n || lv->jobs[k] != NULL)
        return 0; /* not alive (its lease ran out), or seen in another partition */
    return (lv->jobs[k] = strdup(job)) == NULL ? -1 : 0;
}

int live_read(struct live *lv, const redisReply *r)
{
    size_t n, i;

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return -1;
    n = r->elements / 2;
    lv->ids = calloc(n + 1, sizeof(*lv->ids));
    lv->expiry = calloc(n + 1, sizeof(*lv->expiry));
    lv->jobs = calloc(n + 1, sizeof(*lv->jobs));
    if (lv->ids == NULL || lv->expiry == NULL || lv->jobs == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        const redisReply *m = r->element[2 * i], *s = r->element[2 * i + 1];
        if (m->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING ||
            (lv->ids[i] = strdup(m->str)) == NULL)
            return -1;
        lv->n = i + 1;
        /* a score that is no whole ms of a date (inf, 1.5, set by hand):
         * -1, unknown (the query found the lease unexpired all the same) */
        num_reply_ll(s, 0, LIVE_EXPIRY_MAX_MS, -1, &lv->expiry[i]);
    }
    lv->is_read = true;
    for (i = 0; i + 1 < lv->npend; i += 2)
        if (live_set_job(lv, lv->pend[i], lv->pend[i + 1]) < 0)
            return -1;
    return 0;
}

int live_current_args(struct api *api, int slot, struct rargv *args)
{
    char key[KEYS_MAX_LEN];

    if (keys_current(key, sizeof(key), api->cfg->prefix, keys_slot_tag(slot)) < 0)
        return -1;
    rargv_init(args);
    rargv_add(args, "HGETALL");
    rargv_add(args, key);
    return 0;
}

int live_read_current(struct live *lv, const redisReply *r)
{
    size_t i;
    char **grown;

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return -1;
    for (i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *w = r->element[i], *job = r->element[i + 1];
        if (w->type != REDIS_REPLY_STRING || job->type != REDIS_REPLY_STRING || job->len == 0)
            continue;
        if (lv->is_read) {
            if (live_set_job(lv, w->str, job->str) < 0)
                return -1;
            continue;
        }
        /* the live list is not in yet: keep the pair for live_read */
        if ((grown = realloc(lv->pend, (lv->npend + 2) * sizeof(*grown))) == NULL)
            return -1;
        lv->pend = grown;
        lv->pend[lv->npend] = strdup(w->str);
        lv->pend[lv->npend + 1] = strdup(job->str);
        lv->npend += 2;
        if (lv->pend[lv->npend - 2] == NULL || lv->pend[lv->npend - 1] == NULL)
            return -1;
    }
    return 0;
}

void live_free(struct live *lv)
{
    size_t i;

    for (i = 0; i < lv->n; i++) {
        free(lv->ids[i]);
        free(lv->jobs != NULL ? lv->jobs[i] : NULL);
    }
    free(lv->jobs);
    free(lv->ids);
    free(lv->expiry);
    for (i = 0; i < lv->npend; i++)
        free(lv->pend[i]);
    free(lv->pend);
    memset(lv, 0, sizeof(*lv));
}
