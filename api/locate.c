/* locate: where the API reads a job's keys. A job lives in the slot of its
 * queue partition (keys.h), a function of its id and of its queue's partition
 * count: from the id alone the API knows a few candidate slots, one per
 * distinct partition count of the pipelines file (usually one), and reads
 * them all in one batch. Also the list of every slot the overview routes
 * merge over. Never answers a request itself. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#define LOCATE_CANDIDATES_MAX 64 /* distinct partition counts pipeline_set_job_slots knows */

int locate_slots(const struct api *api, int **out)
{
    int n = 1, *slots;

    *out = NULL;
    if (api->pipelines != NULL)
        n = pipeline_set_slots(api->pipelines, NULL, 0);
    slots = malloc((size_t)(n > 0 ? n : 1) * sizeof(*slots));
    if (slots == NULL)
        return -1;
    if (api->pipelines != NULL)
        pipeline_set_slots(api->pipelines, slots, n);
    else
        slots[0] = keys_part_slot(1, 0);
    *out = slots;
    return n;
}

/* One lookup: the candidates' replies, in one batch. */
struct locate {
    struct rasync_batch b;
    int slots[LOCATE_CANDIDATES_MAX];
    size_t n, nmissing;
    int *slot_out;
    rasync_cb *done;
    void *arg;
    bool is_delivered; /* done was called */
    bool is_sending;   /* inside locate_job: done must not be called yet */
    bool is_refused;   /* every send failed while sending */
};

/* True when r says the job is not there: an empty HGETALL, or an HMGET
 * whose every field is nil. */
static bool locate_is_missing(const redisReply *r)
{
    size_t i;

    if (r->type != REDIS_REPLY_ARRAY)
        return false; /* not for us to judge: the caller reads it */
    for (i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_NIL)
            return false;
    return true;
}

/* The first reply that finds the job goes to done; when none does, the last
 * (missing) one. Only one hash of an id exists in practice (two would need
 * the same client id submitted to queues of different partition counts):
 * then the reply of the earliest candidate that arrives first wins. */
static void locate_on_reply(void *ctx, size_t i, const redisReply *r)
{
    struct locate *lc = ctx;

    if (lc->is_delivered)
        return;
    if (locate_is_missing(r) && ++lc->nmissing < lc->n)
        return;
    lc->is_delivered = true;
    if (lc->slot_out != NULL)
        *lc->slot_out = lc->slots[i];
    lc->done(r, RASYNC_OK, lc->arg);
}

static void locate_on_done(void *ctx, bool is_failed, enum rasync_err err)
{
    struct locate *lc = ctx;

    if (lc->is_sending) {
        lc->is_refused = true; /* nothing in flight: locate_job returns -1 */
        return;
    }
    if (!lc->is_delivered)
        lc->done(NULL, is_failed && err != RASYNC_OK ? err : RASYNC_UNAVAILABLE, lc->arg);
    free(lc);
}

int locate_job(struct api *api, const char *id, const char *const *fields, size_t nfields,
               int *slot_out, rasync_cb *done, void *arg)
{
    struct locate *lc = calloc(1, sizeof(*lc));
    char key[KEYS_MAX_LEN];
    struct rargv args;
    size_t i, k;
    int n;

    if (lc == NULL)
        return -1;
    n = api->pipelines == NULL ? 0
                               : pipeline_set_job_slots(api->pipelines, id, strlen(id), lc->slots,
                                                        LOCATE_CANDIDATES_MAX);
    if (n < 1) {
        n = 1;
        lc->slots[0] = keys_job_slot(id, strlen(id), 1);
    }
    lc->n = (size_t)n;
    lc->slot_out = slot_out;
    lc->done = done;
    lc->arg = arg;
    lc->b.ctx = lc;
    lc->b.on_reply = locate_on_reply;
    lc->b.on_done = locate_on_done;
    lc->is_sending = true;
    rasync_batch_begin(&lc->b);
    for (i = 0; i < lc->n; i++) {
        if (keys_job(key, sizeof(key), api->cfg->prefix, keys_slot_tag(lc->slots[i]), id) < 0) {
            lc->b.is_failed = true; /* ids are bounded: cannot happen */
            break;
        }
        rargv_init(&args);
        rargv_add(&args, nfields > 0 ? "HMGET" : "HGETALL");
        rargv_add(&args, key);
        for (k = 0; k < nfields; k++)
            rargv_add(&args, fields[k]);
        rasync_batch_send(api->rasync, &lc->b, &args, i);
    }
    rasync_batch_end(&lc->b);
    lc->is_sending = false;
    if (lc->is_refused) {
        free(lc);
        return -1;
    }
    return 0;
}
