/* part: the partitions of the queue a worker process serves (keys.h): which
 * one a job id lives in, and the slot, tag and keys of each. Touches no
 * Redis and calls no other worker file. */
#include <string.h>

#include "worker.h"

const struct wpart *worker_part(const struct worker *w, const char *id)
{
    return &w->parts[keys_part_of(id, strlen(id), w->nparts)];
}

/* Fills w->parts: the slot, tag and keys of each partition of the queue.
 * 0, or -1 when a name does not fit. */
int part_init(struct worker *w)
{
    const char *prefix = w->cfg->prefix, *q = w->cfg->queue;
    int j;

    for (j = 0; j < w->nparts; j++) {
        struct wpart *p = &w->parts[j];

        p->index = j;
        p->slot = keys_part_slot(w->nparts, j);
        p->tag = keys_slot_tag(p->slot);
        if (p->tag == NULL ||
            keys_queue(p->queue_key, sizeof(p->queue_key), prefix, p->tag, q) < 0 ||
            keys_delayed(p->delayed_key, sizeof(p->delayed_key), prefix, p->tag, q) < 0 ||
            keys_processing(p->processing_key, sizeof(p->processing_key), prefix, p->tag, w->id) <
                0 ||
            keys_leases(p->leases_key, sizeof(p->leases_key), prefix, p->tag) < 0 ||
            keys_alive(p->alive_key, sizeof(p->alive_key), prefix, p->tag) < 0 ||
            keys_current(p->current_key, sizeof(p->current_key), prefix, p->tag) < 0 ||
            keys_counters(p->counters_key, sizeof(p->counters_key), prefix, p->tag) < 0)
            return -1;
    }
    return 0;
}
