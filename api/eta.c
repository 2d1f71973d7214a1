/* eta.c: the stage history behind the statuses' estimates. Every pipeline
 * this API knows has a hash <p>:eta:<pipeline> (the mean duration of each
 * stage's recent runs, written by the workers' scripts, see
 * shared/scripts/inc/stats.lua). The API reads them all once a second in one
 * pipelined batch and keeps the last answer, so a status costs no extra
 * Redis read and its estimate is at most about a second behind. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "keys.h"
#include "job.h"
#include "log.h"

#define ETA_REFRESH_MS 1000

struct eta_slot {
    struct eta *eta;
    size_t i;
};

struct eta {
    struct api *api;
    struct event *timer;
    size_t n;               /* the API's pipelines, in pipeline_set order */
    struct job_eta *tables; /* [n] */
    bool *has;              /* [n]: tables[i] read at least once */
    struct eta_slot *slots; /* [n]: callback arguments */
    size_t pending;         /* replies of the current round still to come */
};

static void eta_on_reply(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct eta_slot *slot = arg;
    struct eta *e = slot->eta;
    struct job_hash h;

    e->pending--;
    if (err != RASYNC_OK || reply == NULL || job_hash_view(reply, &h) < 0)
        return; /* keep the last figures; the next round tries again */
    job_eta_from_hash(&e->tables[slot->i], &h);
    e->has[slot->i] = true;
    job_hash_view_free(&h);
}

static void eta_refresh(struct eta *e)
{
    const struct pipeline_set *set = e->api->pipelines;
    char key[KEYS_MAX_LEN];
    struct rargv args;
    size_t i;

    if (e->pending > 0 || !rasync_is_ready(e->api->rasync))
        return;
    for (i = 0; i < e->n; i++) {
        if (keys_eta(key, sizeof(key), e->api->cfg->prefix, keys_default_tag(),
                     set->items[i].name) < 0)
            continue;
        rargv_init(&args);
        rargv_add(&args, "HGETALL");
        rargv_add(&args, key);
        if (rasync_command(e->api->rasync, &args, eta_on_reply, &e->slots[i]) == 0)
            e->pending++;
        rargv_free(&args);
    }
}

static void eta_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    eta_refresh(arg);
}

struct eta *eta_new(struct api *api)
{
    struct eta *e = calloc(1, sizeof(*e));
    struct timeval tv = {ETA_REFRESH_MS / 1000, (ETA_REFRESH_MS % 1000) * 1000};
    size_t i;

    if (e == NULL)
        return NULL;
    e->api = api;
    e->n = api->pipelines->n;
    e->tables = calloc(e->n ? e->n : 1, sizeof(*e->tables));
    e->has = calloc(e->n ? e->n : 1, sizeof(*e->has));
    e->slots = calloc(e->n ? e->n : 1, sizeof(*e->slots));
    e->timer = event_new(api->base, -1, EV_PERSIST, eta_on_timer, e);
    if (e->tables == NULL || e->has == NULL || e->slots == NULL || e->timer == NULL ||
        event_add(e->timer, &tv) < 0) {
        eta_free(e);
        return NULL;
    }
    for (i = 0; i < e->n; i++) {
        e->slots[i].eta = e;
        e->slots[i].i = i;
    }
    return e;
}

void eta_free(struct eta *e)
{
    if (e == NULL)
        return;
    if (e->timer != NULL)
        event_free(e->timer);
    free(e->tables);
    free(e->has);
    free(e->slots);
    free(e);
}

/* The figures of pipeline name, or NULL (unknown here, or not read yet). */
static const struct job_eta *eta_lookup(struct eta *e, const char *name)
{
    size_t i;

    if (e == NULL || name == NULL)
        return NULL;
    if (e->pending == 0 && e->n > 0 && !e->has[0])
        eta_refresh(e); /* first use, before the first tick */
    for (i = 0; i < e->n; i++)
        if (e->has[i] && strcmp(e->api->pipelines->items[i].name, name) == 0)
            return &e->tables[i];
    return NULL;
}

cJSON *eta_status_from_reply(struct api *api, const redisReply *reply, bool *is_missing)
{
    struct job_hash h;
    cJSON *status;

    *is_missing = false;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR || job_hash_view(reply, &h) < 0)
        return NULL;
    if (h.n == 0) {
        *is_missing = true;
        return NULL;
    }
    status = job_status_json_eta(&h, eta_lookup(api->eta, job_hash_get(&h, JOB_F_PIPELINE)),
                                 clock_now_ms());
    job_hash_view_free(&h);
    return status;
}
