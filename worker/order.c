/* order: the queues a pool serves (--queues), and the order its take step
 * looks at them in. Strict ("high,default,low"): always that order, a lower
 * queue only when the ones before it are empty, paused or at their rate
 * limit. Weighted ("high:6,default:3,low:1"): a smooth weighted round robin
 * over the jobs taken, Sidekiq's promise (a low queue is never starved) made
 * exact — each queue has a credit; the take looks at the queues by credit,
 * highest first; after k jobs from queue u every queue that competed gains
 * k times its weight and u loses k times their total, so over any stretch
 * where all have jobs each gets its weight's share, and a queue found empty,
 * paused or limited drops out (its credit back to 0) until it has jobs again.
 * The take step itself is takejob.lua's take_units: this file builds its
 * keys and spec and reads its answer. A leaf: it calls no other worker file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "num.h"
#include "worker.h"

int order_parse(const char *spec, struct wqueue *qs, int *n, bool *is_weighted, char *err,
                size_t cap)
{
    const char *p = spec;
    int nw = 0;

    *n = 0;
    *is_weighted = false;
    while (*p != '\0') {
        const char *end = strchr(p, ','), *wat;
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p), nlen, wl;
        struct wqueue *q;
        long long wt = 0;
        char num[16];
        int j;

        nlen = ids_split_weight(p, len, &wat, &wl);
        if (*n == WORKER_QUEUES_MAX) {
            snprintf(err, cap, "--queues: at most %d queues", WORKER_QUEUES_MAX);
            return -1;
        }
        if (!ids_is_valid(p, nlen, IDS_NAME_MAX_LEN)) {
            snprintf(err, cap,
                     "--queues: '%.*s' is not a queue name (1-%d characters of "
                     "[A-Za-z0-9._:-]) in '%.200s'",
                     (int)(nlen < 80 ? nlen : 80), p, IDS_NAME_MAX_LEN, spec);
            return -1;
        }
        if (wat != NULL) {
            snprintf(num, sizeof(num), "%.*s", (int)(wl < 15 ? wl : 15), wat);
            if (wl > 15 || num_parse_ll(num, 1, WORKER_WEIGHT_MAX, &wt, NULL) < 0) {
                snprintf(err, cap, "--queues: the weight of '%.*s' must be an integer in [1, %d]",
                         (int)nlen, p, WORKER_WEIGHT_MAX);
                return -1;
            }
            nw++;
        }
        for (j = 0; j < *n; j++)
            if (strlen(qs[j].name) == nlen && memcmp(qs[j].name, p, nlen) == 0) {
                snprintf(err, cap, "--queues: '%.*s' is named twice", (int)nlen, p);
                return -1;
            }
        q = &qs[(*n)++];
        memset(q, 0, sizeof(*q));
        memcpy(q->name, p, nlen);
        q->name[nlen] = '\0';
        q->weight = (int)wt;
        if (end == NULL)
            break;
        p = end + 1;
        if (*p == '\0') {
            snprintf(err, cap, "--queues: a queue name is missing after the last ','");
            return -1;
        }
    }
    if (*n == 0) {
        snprintf(err, cap, "--queues: no queue named");
        return -1;
    }
    if (nw != 0 && nw != *n) {
        snprintf(err, cap,
                 "--queues: give every queue a weight (weighted: \"high:6,low:1\") or none "
                 "(strict order: \"high,low\")");
        return -1;
    }
    *is_weighted = nw > 0;
    return 0;
}

void order_pick(const struct worker *w, int order[WORKER_QUEUES_MAX])
{
    int i, j;

    for (i = 0; i < w->nqueues; i++)
        order[i] = i;
    if (!w->is_weighted)
        return;
    /* by credit, highest first; ties: the heavier, then the one named first */
    for (i = 1; i < w->nqueues; i++) {
        int q = order[i];

        for (j = i; j > 0; j--) {
            const struct wqueue *a = &w->queues[order[j - 1]], *b = &w->queues[q];

            if (a->credit > b->credit || (a->credit == b->credit && a->weight >= b->weight))
                break;
            order[j] = order[j - 1];
        }
        order[j] = q;
    }
}

int order_add_keys(struct rargv *a, const struct wpart *part, const int order[WORKER_QUEUES_MAX],
                   int nqueues)
{
    int i;

    for (i = 0; i < nqueues; i++) {
        const struct wunit *u = &part->units[order[i]];

        rargv_add(a, u->queue_key);
        rargv_add(a, u->delayed_key);
        rargv_add(a, u->paused_key);
        rargv_add(a, u->rate_key);
    }
    return 4 * nqueues;
}

void order_add_spec(struct rargv *a, const struct worker *w, const int order[WORKER_QUEUES_MAX])
{
    char *buf;
    size_t cap = 64 + (size_t)w->nqueues * (64 + KEYS_MAX_LEN), len;
    int i, wmax = 0;

    buf = malloc(cap);
    if (buf == NULL) {
        rargv_add(a, ""); /* takes nothing: the take is tried again */
        return;
    }
    len = (size_t)snprintf(buf, cap, "%lld %d\n", (long long)clock_now_ms(), WORKER_PROMOTE_BATCH);
    for (i = 0; i < w->nqueues; i++)
        if (w->queues[i].weight > wmax)
            wmax = w->queues[i].weight;
    for (i = 0; i < w->nqueues && len < cap; i++) {
        const struct wqueue *q = &w->queues[order[i]];
        /* weighted: a take is at most the queue's share of a batch, so that
         * the weights hold within a few jobs, not within whole batches */
        int most = wmax > 0 ? (WORKER_BATCH_MAX * q->weight + wmax - 1) / wmax : WORKER_BATCH_MAX;

        len += (size_t)snprintf(buf + len, cap - len, "%d %d %d %d %s\n", order[i], q->rate_jobs,
                                q->rate_window_ms, most, q->wake_chan);
    }
    rargv_addlen(a, buf, len < cap ? len : cap - 1);
    free(buf);
}

/* An integer reply's value, or def. */
static long long order_int(const redisReply *r, long long def)
{
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    return def;
}

int order_note(struct worker *w, const redisReply *meta, int taken)
{
    const redisReply *looks;
    long long u, due, wait, total = 0;
    int i;

    if (meta == NULL || meta->type != REDIS_REPLY_ARRAY || meta->elements != 5 ||
        meta->element[3]->type != REDIS_REPLY_STRING || meta->element[3]->len != (size_t)w->nqueues)
        return -1;
    looks = meta->element[3];
    u = order_int(meta->element[0], -1);
    due = order_int(meta->element[1], -1);
    wait = order_int(meta->element[2], -1);
    w->is_paused_seen = memchr(looks->str, 'p', looks->len) != NULL;
    if (order_int(meta->element[4], 0) > 0)
        log_debug("moved %lld due delayed job(s) onto their queues", meta->element[4]->integer);
    if (due >= 0 && (w->next_due_ms < 0 || due < w->next_due_ms))
        w->next_due_ms = due;
    if (wait >= 0) {
        int64_t until = clock_mono_ms() + wait;

        if (w->rate_until_ms == 0 || until < w->rate_until_ms)
            w->rate_until_ms = until;
    }
    if (!w->is_weighted || u < 0 || u >= w->nqueues || taken <= 0)
        return 0;
    for (i = 0; i < w->nqueues; i++) {
        char c = looks->str[i];

        if (c == 'e' || c == 'p' || c == 'r')
            w->queues[i].credit = 0; /* out of the running until it has jobs again */
        else
            total += w->queues[i].weight;
    }
    for (i = 0; i < w->nqueues; i++) {
        char c = looks->str[i];

        if (c != 'e' && c != 'p' && c != 'r')
            w->queues[i].credit += (long long)w->queues[i].weight * taken;
    }
    w->queues[u].credit -= total * taken;
    return 0;
}

void order_wait_reset(struct worker *w)
{
    w->next_due_ms = -1;
    w->rate_until_ms = 0;
}

int order_wait_ms(const struct worker *w, int cap_ms)
{
    int64_t wait = cap_ms;

    if (w->next_due_ms >= 0) {
        int64_t d = w->next_due_ms - clock_now_ms();

        if (d < wait)
            wait = d;
    }
    if (w->rate_until_ms > 0) {
        int64_t d = w->rate_until_ms - clock_mono_ms();

        if (d < wait)
            wait = d;
    }
    return wait < 1 ? 1 : (int)wait;
}
