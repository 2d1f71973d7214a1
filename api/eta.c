/* eta.c: the stage history behind the statuses' estimates. Every pipeline
 * this API knows has a hash <p>:{t}:eta:<pipeline> in each partition of its
 * queue (the mean duration of each stage's recent runs there, written by the
 * workers' scripts in the slot of the job they ran, see
 * shared/scripts/inc/stats.lua). The API reads them all once a second in one
 * pipelined batch and keeps, per pipeline, the partitions' means weighted by
 * their run counts, so a status costs no extra Redis read and its estimate is
 * at most about a second behind. */
#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "keys.h"
#include "job.h"
#include "log.h"
#include "num.h"

#define ETA_REFRESH_MS    1000
#define ETA_TEXT_KEEP_MAX 65536 /* bytes of eta_status_text's memory kept between answers */

/* One pipeline's stage means over the partitions of the round in flight. */
struct eta_acc {
    double weighted[PIPELINE_MAX_STAGES + 1]; /* sum of mean * runs */
    long long runs[PIPELINE_MAX_STAGES + 1];
};

struct eta {
    struct api *api;
    struct event *timer;
    size_t n;               /* the API's pipelines, in pipeline_set order */
    struct job_eta *tables; /* [n] */
    bool *has;              /* [n]: tables[i] read at least once */
    struct eta_acc *acc;    /* [n]: the round in flight */
    struct rasync_batch b;
    bool is_reading;      /* a round is in flight */
    struct json_buf text; /* eta_status_text's answer, its memory reused */
};

/* The reply of partition j of pipeline i (batch index i *
 * KEYS_PARTITIONS_MAX + j): its means, weighted by "<k>.n" (the runs they
 * average; 1 when absent or garbage). */
static void eta_on_reply(void *ctx, size_t bi, const redisReply *reply)
{
    struct eta *e = ctx;
    struct eta_acc *a = &e->acc[bi / KEYS_PARTITIONS_MAX];
    struct job_eta t;
    struct job_hash h;
    char f[16];
    long long n;
    int k;

    if (job_hash_view(reply, &h) < 0)
        return;
    job_eta_from_hash(&t, &h);
    for (k = 1; k <= PIPELINE_MAX_STAGES; k++) {
        if (t.mean_ms[k] < 0)
            continue;
        snprintf(f, sizeof(f), "%d.n", k);
        if (num_field_ll(job_hash_get(&h, f), 1, INT_MAX, 1, &n) < 0)
            n = 1;
        a->weighted[k] += (double)t.mean_ms[k] * (double)n;
        a->runs[k] += n;
    }
    job_hash_view_free(&h);
}

static void eta_on_done(void *ctx, bool is_failed, enum rasync_err err)
{
    struct eta *e = ctx;
    size_t i;
    int k;

    (void)err;
    e->is_reading = false;
    if (is_failed)
        return; /* keep the last figures; the next round tries again */
    for (i = 0; i < e->n; i++) {
        for (k = 0; k <= PIPELINE_MAX_STAGES; k++)
            e->tables[i].mean_ms[k] =
                e->acc[i].runs[k] > 0
                    ? (int64_t)(e->acc[i].weighted[k] / (double)e->acc[i].runs[k] + 0.5)
                    : -1;
        e->has[i] = true;
    }
}

static void eta_refresh(struct eta *e)
{
    const struct pipeline_set *set = e->api->pipelines;
    char key[KEYS_MAX_LEN];
    struct rargv args;
    size_t i;
    int j, parts;

    if (e->is_reading || !rasync_is_ready(e->api->rasync))
        return;
    memset(e->acc, 0, (e->n ? e->n : 1) * sizeof(*e->acc));
    e->is_reading = true;
    rasync_batch_begin(&e->b);
    for (i = 0; i < e->n; i++) {
        parts = pipeline_set_partitions(set, set->items[i].queue);
        for (j = 0; j < parts; j++) {
            if (keys_eta(key, sizeof(key), e->api->cfg->prefix,
                         keys_slot_tag(keys_part_slot(parts, j)), set->items[i].name) < 0)
                continue;
            rargv_init(&args);
            rargv_add(&args, "HGETALL");
            rargv_add(&args, key);
            rasync_batch_send(e->api->rasync, &e->b, &args, i * KEYS_PARTITIONS_MAX + (size_t)j);
        }
    }
    rasync_batch_end(&e->b);
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

    if (e == NULL)
        return NULL;
    e->api = api;
    e->n = api->pipelines->n;
    e->tables = calloc(e->n ? e->n : 1, sizeof(*e->tables));
    e->has = calloc(e->n ? e->n : 1, sizeof(*e->has));
    e->acc = calloc(e->n ? e->n : 1, sizeof(*e->acc));
    e->timer = event_new(api->base, -1, EV_PERSIST, eta_on_timer, e);
    e->b.ctx = e;
    e->b.on_reply = eta_on_reply;
    e->b.on_done = eta_on_done;
    if (e->tables == NULL || e->has == NULL || e->acc == NULL || e->timer == NULL ||
        event_add(e->timer, &tv) < 0) {
        eta_free(e);
        return NULL;
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
    free(e->acc);
    json_buf_free(&e->text);
    free(e);
}

/* The figures of pipeline name, or NULL (unknown here, or not read yet). */
static const struct job_eta *eta_lookup(struct eta *e, const char *name)
{
    size_t i;

    if (e == NULL || name == NULL)
        return NULL;
    if (!e->is_reading && e->n > 0 && !e->has[0])
        eta_refresh(e); /* first use, before the first tick */
    for (i = 0; i < e->n; i++)
        if (e->has[i] && strcmp(e->api->pipelines->items[i].name, name) == 0)
            return &e->tables[i];
    return NULL;
}

cJSON *eta_status_from_reply(struct api *api, const char *id, const redisReply *reply,
                             bool *is_missing)
{
    struct job_hash h;
    cJSON *status;

    *is_missing = false;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR || job_hash_view(reply, &h) < 0)
        return NULL;
    h.id = id;
    if (h.n == 0) {
        *is_missing = true;
        return NULL;
    }
    status = job_status_json_eta(&h, eta_lookup(api->eta, job_hash_get(&h, JOB_F_PIPELINE)),
                                 clock_now_ms());
    job_hash_view_free(&h);
    return status;
}

int eta_status_text(struct api *api, const char *id, const redisReply *reply, const char **text,
                    size_t *len, bool *is_missing)
{
    struct eta *e = api->eta;
    struct job_hash h;
    int rc;

    *is_missing = false;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR || job_hash_view(reply, &h) < 0)
        return -1;
    h.id = id;
    if (h.n == 0) {
        *is_missing = true;
        return -1;
    }
    e->text.len = 0;
    e->text.is_oom = false;
    rc = job_status_text(&h, eta_lookup(e, job_hash_get(&h, JOB_F_PIPELINE)), clock_now_ms(),
                         &e->text);
    job_hash_view_free(&h);
    *text = e->text.data;
    *len = e->text.len;
    return rc;
}

void eta_status_text_done(struct api *api)
{
    /* a huge answer's memory is not kept for the next one */
    if (api->eta->text.cap > ETA_TEXT_KEEP_MAX)
        json_buf_free(&api->eta->text);
}
