/* part: the queues a worker process serves and their partitions (keys.h):
 * which partition a job id lives in, and the slot, tag and keys of each.
 * Touches no Redis; calls only order.c's parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

const struct wpart *worker_part(const struct worker *w, const char *id)
{
    return &w->parts[keys_part_of(id, strlen(id), w->nparts)];
}

int part_queues(struct worker *w, char *err, size_t cap)
{
    const struct worker_config *cfg = w->cfg;
    int i;

    if (cfg->queues[0] != '\0') {
        if (order_parse(cfg->queues, w->queues, &w->nqueues, &w->is_weighted, err, cap) < 0)
            return -1;
    } else if (order_parse(cfg->queue, w->queues, &w->nqueues, &w->is_weighted, err, cap) < 0 ||
               w->nqueues != 1 || w->is_weighted) {
        snprintf(err, cap, "--queue: '%.64s' must be 1-%d characters of [A-Za-z0-9._:-]",
                 cfg->queue, IDS_NAME_MAX_LEN);
        return -1;
    }
    w->nparts = pipeline_set_partitions(w->pipelines, w->queues[0].name);
    for (i = 0; i < w->nqueues; i++) {
        struct wqueue *q = &w->queues[i];
        const struct queue_def *qd = pipeline_set_queue(w->pipelines, q->name);

        if (pipeline_set_partitions(w->pipelines, q->name) != w->nparts) {
            /* a job's partition follows from its id and its queue's count:
             * one count, one set of slots for every queue of the pool */
            snprintf(err, cap,
                     "--queues: '%s' has %d partition(s) and '%s' %d: the queues of one pool "
                     "have one partition count (the pipelines file's \"queues\")",
                     q->name, pipeline_set_partitions(w->pipelines, q->name), w->queues[0].name,
                     w->nparts);
            return -1;
        }
        q->rate_jobs = qd != NULL ? qd->rate_jobs : 0;
        q->rate_window_ms = qd != NULL && qd->rate_per_s > 0 ? qd->rate_per_s * 1000 : 1000;
        if (keys_wake(q->wake_chan, sizeof(q->wake_chan), cfg->prefix, q->name) < 0) {
            snprintf(err, cap, "key names too long");
            return -1;
        }
    }
    return 0;
}

/* Fills w->parts: the slot, tag and keys of each partition of the queues.
 * 0, or -1 when a name does not fit or memory ran out. */
int part_init(struct worker *w)
{
    const char *prefix = w->cfg->prefix;
    int j, i;

    for (j = 0; j < w->nparts; j++) {
        struct wpart *p = &w->parts[j];

        p->index = j;
        p->slot = keys_part_slot(w->nparts, j);
        p->tag = keys_slot_tag(p->slot);
        p->units = calloc((size_t)w->nqueues, sizeof(p->units[0]));
        if (p->tag == NULL || p->units == NULL ||
            keys_processing(p->processing_key, sizeof(p->processing_key), prefix, p->tag, w->id) <
                0 ||
            keys_leases(p->leases_key, sizeof(p->leases_key), prefix, p->tag) < 0 ||
            keys_alive(p->alive_key, sizeof(p->alive_key), prefix, p->tag) < 0 ||
            keys_current(p->current_key, sizeof(p->current_key), prefix, p->tag) < 0 ||
            keys_counters(p->counters_key, sizeof(p->counters_key), prefix, p->tag) < 0)
            return -1;
        for (i = 0; i < w->nqueues; i++) {
            struct wunit *u = &p->units[i];
            const char *q = w->queues[i].name;

            if (keys_queue(u->queue_key, sizeof(u->queue_key), prefix, p->tag, q) < 0 ||
                keys_delayed(u->delayed_key, sizeof(u->delayed_key), prefix, p->tag, q) < 0 ||
                keys_paused(u->paused_key, sizeof(u->paused_key), prefix, p->tag, q) < 0 ||
                keys_rate(u->rate_key, sizeof(u->rate_key), prefix, p->tag, q) < 0)
                return -1;
        }
    }
    return 0;
}

void part_free(struct worker *w)
{
    int j;

    for (j = 0; w->parts != NULL && j < w->nparts; j++)
        free(w->parts[j].units);
    free(w->parts);
    w->parts = NULL;
}

/* The number of the served queue named name, or -1. */
int part_queue_index(const struct worker *w, const char *name)
{
    int i;

    for (i = 0; name != NULL && i < w->nqueues; i++)
        if (strcmp(w->queues[i].name, name) == 0)
            return i;
    return -1;
}
