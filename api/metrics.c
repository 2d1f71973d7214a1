/* metrics: GET /metrics in the Prometheus text format 0.0.4: it reads and
 * renders, and counts nothing itself. Cluster-wide figures come from Redis,
 * so every API replica answers the same: job counters (<p>:counters), stage
 * durations (<p>:stagehist:<pipeline>), queue depths, running jobs and live
 * workers (live.c). They are read with pipelined commands: one round trip,
 * two when a live worker serves a queue no loaded pipeline names.
 * Per-replica figures come from this process: the HTTP figures counters.c
 * keeps, and the Redis errors of rasync.c. Never blocks the loop; never
 * writes to Redis. */
#include "api.h"

#include <event2/buffer.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"
#include "version.h"

#define METRICS_CTYPE "text/plain; version=0.0.4; charset=utf-8"

/* The job events of <p>:counters, in output order. */
static const struct {
    const char *event;
    const char *help;
} metrics_events[] = {
    {"submitted", "Jobs accepted into a queue."},
    {"succeeded", "Jobs that finished successfully."},
    {"failed", "Jobs that failed for good (no attempts left, or a permanent error)."},
    {"canceled", "Jobs canceled before they finished."},
    {"retried", "Failed attempts sent back to the queue for another try."},
};
#define METRICS_NEVENTS (sizeof(metrics_events) / sizeof(metrics_events[0]))

/* The stage-duration buckets: the upper bounds the writers use, as printed. */
static const char *const metrics_stage_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",  "1",    "2.5",  "5",
    "10",    "30",   "60",    "120",  "300", "600",  "1800", "3600", "+Inf",
};
#define METRICS_NSTAGE_LE (sizeof(metrics_stage_le) / sizeof(metrics_stage_le[0]))

/* ---- what one scrape reads from Redis ---- */

struct metrics_counter {
    char pipeline[IDS_NAME_MAX_LEN + 1];
    unsigned long long v[METRICS_NEVENTS];
};

struct metrics_stage {
    char name[IDS_NAME_MAX_LEN + 1];
    unsigned long long buckets[METRICS_NSTAGE_LE]; /* not cumulative */
    double sum;
};

struct metrics_hist {
    const char *pipeline; /* borrowed from the pipeline set */
    struct metrics_stage *stages;
    size_t n, cap;
};

struct metrics_queue {
    char name[IDS_NAME_MAX_LEN + 1];
    long long depth, delayed, running;
    bool is_read; /* LLEN and ZCARD sent */
};

struct metrics_scrape {
    struct api_req *ar;
    struct rasync_batch b;
    struct metrics_counter *counters;
    size_t ncounters, capcounters;
    struct metrics_hist *hists; /* one per loaded pipeline */
    size_t nhists;
    struct metrics_queue *queues;
    size_t nqueues, capqueues;
    struct live live;
    bool is_bad_reply, is_oom;
};

/* Batch indexes of round 1; the queue commands follow. */
enum { METRICS_I_COUNTERS = 0, METRICS_I_LIVE, METRICS_I_WORKERS, METRICS_I_HISTS };

static void metrics_scrape_free(struct metrics_scrape *ms)
{
    size_t i;

    if (ms == NULL)
        return;
    free(ms->counters);
    for (i = 0; ms->hists != NULL && i < ms->nhists; i++)
        free(ms->hists[i].stages);
    free(ms->hists);
    free(ms->queues);
    live_free(&ms->live);
    free(ms);
}

/* The counter row of pipeline name[0..len), added when new; NULL when the
 * name is not a valid pipeline name or memory ran out. */
static struct metrics_counter *metrics_counter_row(struct metrics_scrape *ms, const char *name,
                                                   size_t len)
{
    struct metrics_counter *c;
    size_t i;

    if (!ids_is_valid(name, len, IDS_NAME_MAX_LEN))
        return NULL;
    for (i = 0; i < ms->ncounters; i++)
        if (strlen(ms->counters[i].pipeline) == len &&
            memcmp(ms->counters[i].pipeline, name, len) == 0)
            return &ms->counters[i];
    if (api_grow((void **)&ms->counters, &ms->capcounters, ms->ncounters, sizeof(*c)) < 0) {
        ms->is_oom = true;
        return NULL;
    }
    c = &ms->counters[ms->ncounters++];
    memset(c, 0, sizeof(*c));
    memcpy(c->pipeline, name, len);
    return c;
}

/* The stage row of h called name[0..len), added when new (NULL as above). */
static struct metrics_stage *metrics_stage_row(struct metrics_scrape *ms, struct metrics_hist *h,
                                               const char *name, size_t len)
{
    struct metrics_stage *st;
    size_t i;

    if (!ids_is_valid(name, len, IDS_NAME_MAX_LEN))
        return NULL;
    for (i = 0; i < h->n; i++)
        if (strlen(h->stages[i].name) == len && memcmp(h->stages[i].name, name, len) == 0)
            return &h->stages[i];
    if (api_grow((void **)&h->stages, &h->cap, h->n, sizeof(*st)) < 0) {
        ms->is_oom = true;
        return NULL;
    }
    st = &h->stages[h->n++];
    memset(st, 0, sizeof(*st));
    memcpy(st->name, name, len);
    return st;
}

/* The queue row called name[0..len), added when new (NULL as above). */
static struct metrics_queue *metrics_queue_row(struct metrics_scrape *ms, const char *name,
                                               size_t len)
{
    struct metrics_queue *q;
    size_t i;

    if (!ids_is_valid(name, len, IDS_NAME_MAX_LEN))
        return NULL;
    for (i = 0; i < ms->nqueues; i++)
        if (strlen(ms->queues[i].name) == len && memcmp(ms->queues[i].name, name, len) == 0)
            return &ms->queues[i];
    if (api_grow((void **)&ms->queues, &ms->capqueues, ms->nqueues, sizeof(*q)) < 0) {
        ms->is_oom = true;
        return NULL;
    }
    q = &ms->queues[ms->nqueues++];
    memset(q, 0, sizeof(*q));
    memcpy(q->name, name, len);
    return q;
}

/* A Redis string holding a non-negative integer (HINCRBY's range). 0, or -1
 * on garbage: the caller skips that field, as one the writers never wrote. */
static int metrics_parse_count(const redisReply *r, unsigned long long *out)
{
    long long v;

    if (num_reply_ll(r, 0, LLONG_MAX, 0, &v) < 0)
        return -1;
    *out = (unsigned long long)v;
    return 0;
}

/* HGETALL <p>:counters: "<event>:<pipeline>" -> count. */
static void metrics_read_counters(struct metrics_scrape *ms, const redisReply *r)
{
    size_t i, e;

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        ms->is_bad_reply = true;
        return;
    }
    for (i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i];
        const char *colon;
        struct metrics_counter *c;
        unsigned long long v;

        if (f->type != REDIS_REPLY_STRING || (colon = memchr(f->str, ':', f->len)) == NULL ||
            metrics_parse_count(r->element[i + 1], &v) < 0)
            continue;
        for (e = 0; e < METRICS_NEVENTS; e++)
            if (strlen(metrics_events[e].event) == (size_t)(colon - f->str) &&
                memcmp(metrics_events[e].event, f->str, (size_t)(colon - f->str)) == 0)
                break;
        if (e == METRICS_NEVENTS)
            continue; /* an event this version does not know */
        c = metrics_counter_row(ms, colon + 1, f->len - (size_t)(colon + 1 - f->str));
        if (c != NULL)
            c->v[e] = v;
    }
}

/* HGETALL <p>:stagehist:<pipeline>: "<stage>|<le>", "<stage>|sum" (and
 * "<stage>|count", unused: _count is the +Inf bucket, as Prometheus wants). */
static void metrics_read_hist(struct metrics_scrape *ms, struct metrics_hist *h,
                              const redisReply *r)
{
    size_t i, k;

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        ms->is_bad_reply = true;
        return;
    }
    for (i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        const char *bar, *what;
        struct metrics_stage *st;
        unsigned long long n;

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            (bar = memrchr(f->str, '|', f->len)) == NULL)
            continue;
        what = bar + 1;
        if (strcmp(what, "count") == 0)
            continue;
        if (strcmp(what, "sum") == 0) {
            double d;

            /* garbage: the field is skipped (the stage's sum reads 0) */
            if (num_field_double(v->str, 0, DBL_MAX, 0, &d) < 0)
                continue;
            if ((st = metrics_stage_row(ms, h, f->str, (size_t)(bar - f->str))) != NULL)
                st->sum = d;
            continue;
        }
        for (k = 0; k < METRICS_NSTAGE_LE; k++)
            if (strcmp(what, metrics_stage_le[k]) == 0)
                break;
        if (k == METRICS_NSTAGE_LE || metrics_parse_count(v, &n) < 0)
            continue;
        if ((st = metrics_stage_row(ms, h, f->str, (size_t)(bar - f->str))) != NULL)
            st->buckets[k] = n;
    }
}

/* SORT <p>:workers BY nosort GET # GET ...->queue GET ...->job: id, queue,
 * job of every registered worker. Replies come in the order sent, so the live
 * set (ZRANGEBYSCORE, sent just before) is already known: only live workers
 * count. Their queues join the list; a non-empty job is a running job. */
static void metrics_read_workers(struct metrics_scrape *ms, const redisReply *r)
{
    size_t i, k;

    if (r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0) {
        ms->is_bad_reply = true;
        return;
    }
    for (i = 0; i + 2 < r->elements; i += 3) {
        const redisReply *id = r->element[i], *q = r->element[i + 1], *job = r->element[i + 2];
        struct metrics_queue *row;

        if (id->type != REDIS_REPLY_STRING)
            continue;
        for (k = 0; k < ms->live.n; k++)
            if (strcmp(ms->live.ids[k], id->str) == 0)
                break;
        if (k == ms->live.n || q->type != REDIS_REPLY_STRING)
            continue;
        row = metrics_queue_row(ms, q->str, q->len);
        if (row != NULL && job->type == REDIS_REPLY_STRING && job->len > 0)
            row->running++;
    }
}

static void metrics_on_reply(void *ctx, size_t i, const redisReply *r)
{
    struct metrics_scrape *ms = ctx;
    size_t qi;

    if (i == METRICS_I_COUNTERS) {
        metrics_read_counters(ms, r);
    } else if (i == METRICS_I_LIVE) {
        if (live_read(&ms->live, r) < 0)
            ms->is_bad_reply = true;
    } else if (i == METRICS_I_WORKERS) {
        metrics_read_workers(ms, r);
    } else if (i < METRICS_I_HISTS + ms->nhists) {
        metrics_read_hist(ms, &ms->hists[i - METRICS_I_HISTS], r);
    } else {
        qi = (i - METRICS_I_HISTS - ms->nhists) / 2;
        if (qi >= ms->nqueues || r->type != REDIS_REPLY_INTEGER)
            return;
        if ((i - METRICS_I_HISTS - ms->nhists) % 2 == 0)
            ms->queues[qi].depth = r->integer;
        else
            ms->queues[qi].delayed = r->integer;
    }
}

/* ---- the text format ---- */

/* Writes d the shortest way that reads back exactly (Go's ParseFloat reads
 * what %g writes). Reads back its own text only: no Redis data. */
static void metrics_fmt_double(char out[32], double d)
{
    snprintf(out, 32, "%.15g", d);
    if (strtod(out, NULL) != d)
        snprintf(out, 32, "%.17g", d);
}

/* Appends v as a label value: backslash, double quote and newline escaped. */
static void metrics_label(struct evbuffer *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\')
            evbuffer_add(b, "\\\\", 2);
        else if (*v == '"')
            evbuffer_add(b, "\\\"", 2);
        else if (*v == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, v, 1);
    }
}

static void metrics_family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} */
static void metrics_sample1(struct evbuffer *b, const char *name, const char *label,
                            const char *value)
{
    evbuffer_add_printf(b, "%s{%s=\"", name, label);
    metrics_label(b, value);
    evbuffer_add(b, "\"} ", 3);
}

static int metrics_cmp_counter(const void *a, const void *b)
{
    return strcmp(((const struct metrics_counter *)a)->pipeline,
                  ((const struct metrics_counter *)b)->pipeline);
}

static int metrics_cmp_queue(const void *a, const void *b)
{
    return strcmp(((const struct metrics_queue *)a)->name, ((const struct metrics_queue *)b)->name);
}

static void metrics_render_jobs(struct evbuffer *b, struct metrics_scrape *ms)
{
    char name[64];
    size_t e, i;

    qsort(ms->counters, ms->ncounters, sizeof(*ms->counters), metrics_cmp_counter);
    for (e = 0; e < METRICS_NEVENTS; e++) {
        snprintf(name, sizeof(name), "stageq_jobs_%s_total", metrics_events[e].event);
        metrics_family(b, name, "counter", metrics_events[e].help);
        for (i = 0; i < ms->ncounters; i++) {
            metrics_sample1(b, name, "pipeline", ms->counters[i].pipeline);
            evbuffer_add_printf(b, "%llu\n", ms->counters[i].v[e]);
        }
    }
}

static void metrics_render_stages(struct evbuffer *b, const struct metrics_scrape *ms)
{
    static const char name[] = "stageq_stage_duration_seconds";
    char sum[32];
    size_t i, k, le;

    metrics_family(b, name, "histogram",
                   "Duration of the stage runs that succeeded, by pipeline and stage name.");
    for (i = 0; i < ms->nhists; i++) {
        const struct metrics_hist *h = &ms->hists[i];
        for (k = 0; k < h->n; k++) {
            const struct metrics_stage *st = &h->stages[k];
            unsigned long long cum = 0;

            for (le = 0; le < METRICS_NSTAGE_LE; le++) {
                cum += st->buckets[le];
                evbuffer_add_printf(b, "%s_bucket{pipeline=\"", name);
                metrics_label(b, h->pipeline);
                evbuffer_add_printf(b, "\",stage=\"");
                metrics_label(b, st->name);
                evbuffer_add_printf(b, "\",le=\"%s\"} %llu\n", metrics_stage_le[le], cum);
            }
            metrics_fmt_double(sum, st->sum);
            evbuffer_add_printf(b, "%s_sum{pipeline=\"", name);
            metrics_label(b, h->pipeline);
            evbuffer_add_printf(b, "\",stage=\"");
            metrics_label(b, st->name);
            evbuffer_add_printf(b, "\"} %s\n%s_count{pipeline=\"", sum, name);
            metrics_label(b, h->pipeline);
            evbuffer_add_printf(b, "\",stage=\"");
            metrics_label(b, st->name);
            evbuffer_add_printf(b, "\"} %llu\n", cum);
        }
    }
}

static void metrics_render_queues(struct evbuffer *b, struct metrics_scrape *ms)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } gauges[] = {
        {"stageq_queue_depth", "Jobs waiting in the queue.", offsetof(struct metrics_queue, depth)},
        {"stageq_queue_delayed", "Retries waiting for their backoff before they rejoin the queue.",
         offsetof(struct metrics_queue, delayed)},
        {"stageq_jobs_running", "Jobs that live workers of the queue are running.",
         offsetof(struct metrics_queue, running)},
    };
    size_t g, i;

    qsort(ms->queues, ms->nqueues, sizeof(*ms->queues), metrics_cmp_queue);
    for (g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        metrics_family(b, gauges[g].name, "gauge", gauges[g].help);
        for (i = 0; i < ms->nqueues; i++) {
            const char *q = (const char *)&ms->queues[i];
            metrics_sample1(b, gauges[g].name, "queue", ms->queues[i].name);
            evbuffer_add_printf(b, "%lld\n",
                                *(const long long *)(const void *)(q + gauges[g].offset));
        }
    }
    metrics_family(b, "stageq_workers_alive", "gauge",
                   "Worker processes whose lease has not expired.");
    evbuffer_add_printf(b, "stageq_workers_alive %zu\n", ms->live.n);
}

static void metrics_render_http(struct evbuffer *b, const struct counters *m)
{
    static const char lat[] = "stageq_http_request_duration_seconds";
    char sum[32];
    size_t i, k;

    metrics_family(b, "stageq_http_requests_total", "counter",
                   "HTTP requests this API process answered, by route template, method and "
                   "status (streams are counted when they end).");
    for (i = 0; i < m->nreqs; i++) {
        evbuffer_add_printf(b, "stageq_http_requests_total{route=\"");
        metrics_label(b, m->reqs[i].route);
        evbuffer_add_printf(b, "\",method=\"%s\",status=\"%d\"} %llu\n", m->reqs[i].method,
                            m->reqs[i].status, m->reqs[i].n);
    }
    metrics_family(b, lat, "histogram",
                   "Time from a request's arrival to its reply (streams: to their end), by route "
                   "template, in this API process.");
    for (i = 0; i < m->nlats; i++) {
        const struct counters_lat *l = &m->lats[i];
        unsigned long long cum = 0;

        for (k = 0; k < COUNTERS_NHTTP_LE; k++) {
            cum += l->buckets[k];
            evbuffer_add_printf(b, "%s_bucket{route=\"", lat);
            metrics_label(b, l->route);
            evbuffer_add_printf(b, "\",le=\"%s\"} %llu\n", counters_http_le[k].text, cum);
        }
        metrics_fmt_double(sum, (double)l->sum_us / 1e6);
        evbuffer_add_printf(b, "%s_sum{route=\"", lat);
        metrics_label(b, l->route);
        evbuffer_add_printf(b, "\"} %s\n%s_count{route=\"", sum, lat);
        metrics_label(b, l->route);
        evbuffer_add_printf(b, "\"} %llu\n", cum);
    }
}

/* Renders the whole page and answers ar (freed with ms). */
static void metrics_reply(struct metrics_scrape *ms)
{
    struct api_req *ar = ms->ar;
    const struct api *api = ar->api;
    struct evbuffer *b = evbuffer_new();
    size_t len;
    char *text;

    if (b == NULL || ms->is_oom) {
        if (b != NULL)
            evbuffer_free(b);
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        metrics_scrape_free(ms);
        return;
    }
    metrics_render_jobs(b, ms);
    metrics_render_stages(b, ms);
    metrics_render_queues(b, ms);
    metrics_render_http(b, api->counters);
    metrics_family(b, "stageq_redis_errors_total", "counter",
                   "Redis commands of this API process that timed out, were lost with their "
                   "connection, or got an error reply.");
    evbuffer_add_printf(b, "stageq_redis_errors_total %llu\n",
                        rasync_errors(api->rasync) +
                            (api->rdurable != NULL ? rasync_errors(api->rdurable) : 0));
    if (STAGEQ_VERSION[0] != '\0') {
        metrics_family(b, "stageq_build_info", "gauge", "Always 1; the label says the version.");
        metrics_sample1(b, "stageq_build_info", "version", STAGEQ_VERSION);
        evbuffer_add(b, "1\n", 2);
    }
    len = evbuffer_get_length(b);
    text = (char *)evbuffer_pullup(b, -1);
    if (text == NULL && len > 0) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
        reply_content(ar, 200, METRICS_CTYPE, text ? text : "", len);
    }
    evbuffer_free(b);
    metrics_scrape_free(ms);
}

/* Adds LLEN and ZCARD of every queue not read yet to the batch. */
static void metrics_send_queues(struct metrics_scrape *ms)
{
    struct api *api = ms->ar->api;
    char key[KEYS_MAX_LEN];
    struct rargv args;
    size_t i, base = METRICS_I_HISTS + ms->nhists;

    for (i = 0; i < ms->nqueues; i++) {
        if (ms->queues[i].is_read)
            continue;
        ms->queues[i].is_read = true;
        if (keys_queue(key, sizeof(key), api->cfg->prefix, keys_default_tag(), ms->queues[i].name) <
            0)
            continue;
        rargv_init(&args);
        rargv_add(&args, "LLEN");
        rargv_add(&args, key);
        rasync_batch_send(api->rasync, &ms->b, &args, base + 2 * i);
        if (keys_delayed(key, sizeof(key), api->cfg->prefix, keys_default_tag(),
                         ms->queues[i].name) < 0)
            continue;
        rargv_init(&args);
        rargv_add(&args, "ZCARD");
        rargv_add(&args, key);
        rasync_batch_send(api->rasync, &ms->b, &args, base + 2 * i + 1);
    }
}

static void metrics_on_done(void *ctx, bool is_failed, enum rasync_err err)
{
    struct metrics_scrape *ms = ctx;
    size_t i;

    if (is_failed || ms->is_bad_reply) {
        if (is_failed)
            errors_reply_redis(ms->ar, err);
        else
            errors_reply(ms->ar, API_ERR_INTERNAL, "unexpected reply reading the metrics");
        metrics_scrape_free(ms);
        return;
    }
    for (i = 0; i < ms->nqueues && ms->queues[i].is_read; i++)
        ;
    if (i == ms->nqueues) {
        metrics_reply(ms);
        return;
    }
    /* round 2: the queues only live workers named */
    rasync_batch_begin(&ms->b);
    metrics_send_queues(ms);
    rasync_batch_end(&ms->b);
}

void metrics_get(struct api_req *ar)
{
    struct api *api = ar->api;
    const struct pipeline_set *ps = api->pipelines;
    const char *prefix = api->cfg->prefix;
    char key[KEYS_MAX_LEN], wpat[KEYS_MAX_LEN + 16], qpat[KEYS_MAX_LEN + 16],
        jpat[KEYS_MAX_LEN + 16];
    struct metrics_scrape *ms = calloc(1, sizeof(*ms));
    struct rargv args;
    size_t i, k;

    if (ms == NULL ||
        (ps != NULL && ps->n > 0 && (ms->hists = calloc(ps->n, sizeof(*ms->hists))) == NULL)) {
        free(ms);
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        return;
    }
    ms->ar = ar;
    /* every loaded pipeline, its stages and its queue show, at zero if need be */
    for (i = 0; ps != NULL && i < ps->n; i++) {
        const struct pipeline *p = &ps->items[i];
        ms->hists[i].pipeline = p->name;
        ms->nhists++;
        metrics_counter_row(ms, p->name, strlen(p->name));
        metrics_queue_row(ms, p->queue, strlen(p->queue));
        for (k = 0; k < p->nstages; k++) {
            const char *q = p->stages[k].queue; /* a stage's own: its jobs wait there too */
            metrics_stage_row(ms, &ms->hists[i], p->stages[k].name, strlen(p->stages[k].name));
            if (q != NULL)
                metrics_queue_row(ms, q, strlen(q));
        }
    }
    if (keys_worker(key, sizeof(key), prefix, "*") < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "key name too long");
        metrics_scrape_free(ms);
        return;
    }
    snprintf(qpat, sizeof(qpat), "%s->queue", key);
    snprintf(jpat, sizeof(jpat), "%s->job", key);
    ms->b.ctx = ms;
    ms->b.on_reply = metrics_on_reply;
    ms->b.on_done = metrics_on_done;
    rasync_batch_begin(&ms->b);
    rargv_init(&args);
    rargv_add(&args, "HGETALL");
    if (keys_counters(key, sizeof(key), prefix, keys_default_tag()) == 0)
        rargv_add(&args, key);
    rasync_batch_send(api->rasync, &ms->b, &args, METRICS_I_COUNTERS);
    if (live_args(api, &args) == 0)
        rasync_batch_send(api->rasync, &ms->b, &args, METRICS_I_LIVE);
    else
        ms->is_bad_reply = true;
    rargv_init(&args);
    keys_workers(wpat, sizeof(wpat), prefix);
    rargv_add(&args, "SORT");
    rargv_add(&args, wpat);
    rargv_add(&args, "BY");
    rargv_add(&args, "nosort");
    rargv_add(&args, "GET");
    rargv_add(&args, "#");
    rargv_add(&args, "GET");
    rargv_add(&args, qpat);
    rargv_add(&args, "GET");
    rargv_add(&args, jpat);
    rasync_batch_send(api->rasync, &ms->b, &args, METRICS_I_WORKERS);
    for (i = 0; i < ms->nhists; i++) {
        rargv_init(&args);
        rargv_add(&args, "HGETALL");
        if (keys_stagehist(key, sizeof(key), prefix, keys_default_tag(), ms->hists[i].pipeline) ==
            0)
            rargv_add(&args, key);
        rasync_batch_send(api->rasync, &ms->b, &args, METRICS_I_HISTS + i);
    }
    metrics_send_queues(ms);
    rasync_batch_end(&ms->b);
}
