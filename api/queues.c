/* queues: GET /v1/queues (and /v1/queues/{q}), and pausing a queue. The
 * figures of a queue are summed over its partitions, every command naming
 * keys of one slot, sent back to back: round 1 reads the live workers, the
 * partitions' current hashes and every partition of every queue the
 * pipelines file knows; round 2 the live workers' info (the queues they
 * serve) and the queue of each job running; round 3, only when workers
 * serve queues the file does not know, those queues' partitions. Pause and
 * resume write <p>:{t}:paused:<q> in every partition (keys.h). Never reads
 * a job's list or sets whole. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"

#define QUEUES_NOPS      5 /* commands per partition: see queues_send_parts */
#define QUEUES_COUNT_MAX (1LL << 53)

struct queues_q {
    char name[IDS_NAME_MAX_LEN + 1];
    int partitions;
    const struct queue_def *def; /* its "queues" entry, or NULL */
    bool is_known;               /* named by the pipelines file */
    long long depth, scheduled, failed, running, workers, rate_used;
    int paused_parts;
    char paused_at[CLOCK_RFC3339_LEN + 16];
};

/* A pair of a partition's current hash: worker runs job, in slot. */
struct queues_cur {
    char *worker, *job;
    int slot;
    bool is_live;
};

struct queues_req {
    struct api_req *ar;
    struct rasync_batch b;
    bool is_one;   /* GET /v1/queues/{q}, pause, resume: only queue ar->id */
    bool is_pause; /* pause (else resume), when one of those */
    int status;    /* of the answer: 200 */
    struct queues_q *qs;
    size_t nq, capq, nread; /* qs[0..nread) have their partitions' reads sent */
    struct live live;
    int *slots;
    int nslots;
    struct queues_cur *curs;
    size_t ncur, capcur;
    size_t nwait;     /* round 2: live workers asked (the rest of its index: curs) */
    long long now_ms; /* the API's clock, for the rate window */
    bool is_bad;
};

static void queues_req_free(struct queues_req *qr)
{
    size_t i;

    for (i = 0; i < qr->ncur; i++) {
        free(qr->curs[i].worker);
        free(qr->curs[i].job);
    }
    free(qr->curs);
    free(qr->qs);
    free(qr->slots);
    live_free(&qr->live);
    free(qr);
}

/* The index of queue name[0..len) in qr->qs, added when new (when is_add);
 * -1 when it is not a valid name, not there, or memory ran out. */
static long queues_find(struct queues_req *qr, const char *name, size_t len, bool is_add)
{
    struct queues_q *q;
    size_t i;

    if (!ids_is_valid(name, len, IDS_NAME_MAX_LEN))
        return -1;
    for (i = 0; i < qr->nq; i++)
        if (strlen(qr->qs[i].name) == len && memcmp(qr->qs[i].name, name, len) == 0)
            return (long)i;
    if (!is_add || api_grow((void **)&qr->qs, &qr->capq, qr->nq, sizeof(qr->qs[0])) < 0)
        return -1;
    q = &qr->qs[qr->nq];
    memset(q, 0, sizeof(*q));
    memcpy(q->name, name, len);
    q->partitions = pipeline_set_partitions(qr->ar->api->pipelines, q->name);
    q->def = pipeline_set_queue(qr->ar->api->pipelines, q->name);
    return (long)qr->nq++;
}

/* A queue the pipelines file names: added (a listing), or only marked
 * known when it is the one queue asked about. */
static void queues_add_known(struct queues_req *qr, const char *name)
{
    long i = queues_find(qr, name, strlen(name), !qr->is_one);

    if (i >= 0)
        qr->qs[i].is_known = true;
}

/* Every queue the pipelines file knows: its "queues" section, each
 * pipeline's and stage's queue, and "default". */
static void queues_add_file(struct queues_req *qr)
{
    const struct pipeline_set *ps = qr->ar->api->pipelines;
    size_t n = pipeline_set_queue_names(ps, NULL, 0), i;
    const char **names = calloc(n + 1, sizeof(*names));

    if (names == NULL) {
        qr->is_bad = true;
        return;
    }
    n = pipeline_set_queue_names(ps, names, n);
    for (i = 0; i < n; i++)
        queues_add_known(qr, names[i]);
    free(names);
}

/* Sends one command of the batch: cmd key [a1 [a2]] (key by mk for q in
 * partition slot). */
static void queues_send(struct queues_req *qr, size_t idx, const char *cmd,
                        int (*mk)(char *, size_t, const char *, const char *, const char *),
                        const struct queues_q *q, int slot, const char *a1, const char *a2)
{
    struct api *api = qr->ar->api;
    char key[KEYS_MAX_LEN];
    struct rargv args;

    if (mk(key, sizeof(key), api->cfg->prefix, keys_slot_tag(slot), q->name) < 0) {
        qr->is_bad = true;
        return;
    }
    rargv_init(&args);
    rargv_add(&args, cmd);
    rargv_add(&args, key);
    if (a1 != NULL)
        rargv_add(&args, a1);
    if (a2 != NULL)
        rargv_add(&args, a2);
    rasync_batch_send(api->rasync, &qr->b, &args, idx);
}

/* Sends the reads of every partition of qs[nread..nq) at batch index base +
 * (i * KEYS_PARTITIONS_MAX + j) * QUEUES_NOPS + op: LLEN of the list, ZCARD
 * of the delayed set, GET of the paused key, ZCARD of the failed index, and
 * for a rate-limited queue ZCOUNT of its takes in the window. */
static void queues_send_parts(struct queues_req *qr, size_t base)
{
    char from[32];
    size_t i, at;
    int j, slot;

    for (i = qr->nread; i < qr->nq; i++) {
        const struct queues_q *q = &qr->qs[i];
        for (j = 0; j < q->partitions; j++) {
            at = base + (i * KEYS_PARTITIONS_MAX + (size_t)j) * QUEUES_NOPS;
            slot = keys_part_slot(q->partitions, j);
            queues_send(qr, at, "LLEN", keys_queue, q, slot, NULL, NULL);
            queues_send(qr, at + 1, "ZCARD", keys_delayed, q, slot, NULL, NULL);
            queues_send(qr, at + 2, "GET", keys_paused, q, slot, NULL, NULL);
            queues_send(qr, at + 3, "ZCARD", keys_failed, q, slot, NULL, NULL);
            if (q->def != NULL && q->def->rate_jobs > 0) {
                snprintf(from, sizeof(from), "%lld",
                         qr->now_ms - (long long)q->def->rate_per_s * 1000);
                queues_send(qr, at + 4, "ZCOUNT", keys_rate, q, slot, from, "+inf");
            }
        }
    }
    qr->nread = qr->nq;
}

/* One partition read's reply (index relative to the base of its round). */
static void queues_read_part(struct queues_req *qr, size_t rel, const redisReply *r)
{
    size_t op = rel % QUEUES_NOPS, qi = rel / QUEUES_NOPS / KEYS_PARTITIONS_MAX;
    struct queues_q *q;

    if (qi >= qr->nq)
        return;
    q = &qr->qs[qi];
    if (op == 2) {
        if (r->type != REDIS_REPLY_STRING)
            return;
        q->paused_parts++;
        /* the first seen: every partition's is the same pause, give or take */
        if (q->paused_at[0] == '\0')
            snprintf(q->paused_at, sizeof(q->paused_at), "%.*s",
                     (int)(r->len < sizeof(q->paused_at) - 1 ? r->len : sizeof(q->paused_at) - 1),
                     r->str);
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER)
        return;
    if (op == 0)
        q->depth += r->integer;
    else if (op == 1)
        q->scheduled += r->integer;
    else if (op == 3)
        q->failed += r->integer;
    else
        q->rate_used += r->integer;
}

static cJSON *queues_json(const struct queues_q *q)
{
    cJSON *o = cJSON_CreateObject(), *rl;

    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "name", q->name);
    cJSON_AddBoolToObject(o, "known", q->is_known);
    cJSON_AddNumberToObject(o, "partitions", q->partitions);
    cJSON_AddNumberToObject(o, "depth", (double)q->depth);
    cJSON_AddNumberToObject(o, "scheduled", (double)q->scheduled);
    cJSON_AddNumberToObject(o, "running", (double)q->running);
    cJSON_AddNumberToObject(o, "workers", (double)q->workers);
    cJSON_AddBoolToObject(o, "paused", q->paused_parts > 0);
    cJSON_AddNumberToObject(o, "paused_partitions", q->paused_parts);
    if (q->paused_at[0] != '\0')
        cJSON_AddStringToObject(o, "paused_at", q->paused_at);
    else
        cJSON_AddNullToObject(o, "paused_at");
    if (q->def != NULL && q->def->rate_jobs > 0) {
        rl = cJSON_AddObjectToObject(o, "rate_limit");
        cJSON_AddNumberToObject(rl, "jobs", q->def->rate_jobs);
        cJSON_AddNumberToObject(rl, "per_s", q->def->rate_per_s);
        cJSON_AddNumberToObject(o, "rate_used", (double)q->rate_used);
    } else {
        cJSON_AddNullToObject(o, "rate_limit");
        cJSON_AddNullToObject(o, "rate_used");
    }
    cJSON_AddNumberToObject(o, "failed", (double)q->failed);
    return o;
}

static int queues_cmp(const void *a, const void *b)
{
    return strcmp(((const struct queues_q *)a)->name, ((const struct queues_q *)b)->name);
}

static void queues_answer(struct queues_req *qr)
{
    struct api_req *ar = qr->ar;
    cJSON *body = NULL, *arr;
    size_t i;

    if (qr->is_bad) {
        errors_reply(ar, API_ERR_INTERNAL, "unexpected reply reading the queues");
        queues_req_free(qr);
        return;
    }
    if (qr->is_one) {
        body = qr->nq > 0 ? queues_json(&qr->qs[0]) : NULL;
    } else {
        qsort(qr->qs, qr->nq, sizeof(qr->qs[0]), queues_cmp);
        body = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(body, "queues");
        for (i = 0; arr != NULL && i < qr->nq; i++)
            cJSON_AddItemToArray(arr, queues_json(&qr->qs[i]));
        cJSON_AddNumberToObject(body, "count", (double)qr->nq);
    }
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    reply_json(ar, qr->status, body); /* NULL (out of memory) makes a 500 */
    cJSON_Delete(body);
    queues_req_free(qr);
}

static void queues_done3(void *ctx, bool is_failed, enum rasync_err err)
{
    struct queues_req *qr = ctx;

    if (is_failed) {
        errors_reply_redis(qr->ar, err);
        queues_req_free(qr);
        return;
    }
    queues_answer(qr);
}

static void queues_reply3(void *ctx, size_t i, const redisReply *r)
{
    queues_read_part(ctx, i, r);
}

/* A live worker serves the queues of its info hash: "queues" (a
 * comma-separated list, with weights "q:6" when weighted) when there, else
 * "queue". Each counts it; in a listing, an unknown one is added. */
static void queues_read_worker(struct queues_req *qr, const redisReply *r)
{
    const redisReply *list;
    const char *s, *end, *wat;
    size_t n;
    long qi;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return;
    list = r->element[1]->type == REDIS_REPLY_STRING ? r->element[1] : r->element[0];
    if (list->type != REDIS_REPLY_STRING)
        return;
    for (s = list->str; s < list->str + list->len; s = end + 1) {
        end = memchr(s, ',', (size_t)(list->str + list->len - s));
        if (end == NULL)
            end = list->str + list->len;
        /* "q:6": the name without its weight */
        qi = queues_find(qr, s, ids_split_weight(s, (size_t)(end - s), &wat, &n), !qr->is_one);
        if (qi >= 0)
            qr->qs[qi].workers++;
    }
}

/* Round 2: HMGET queue queues of live worker i (i < nwait), then HGET queue
 * of the job of current pair i - nwait. */
static void queues_reply2(void *ctx, size_t i, const redisReply *r)
{
    struct queues_req *qr = ctx;
    long qi;

    if (i < qr->nwait) {
        queues_read_worker(qr, r);
        return;
    }
    if (r->type != REDIS_REPLY_STRING)
        return; /* ended and expired meanwhile */
    qi = queues_find(qr, r->str, r->len, !qr->is_one);
    if (qi >= 0)
        qr->qs[qi].running++;
}

static void queues_done2(void *ctx, bool is_failed, enum rasync_err err)
{
    struct queues_req *qr = ctx;

    if (is_failed) {
        errors_reply_redis(qr->ar, err);
        queues_req_free(qr);
        return;
    }
    if (qr->nread == qr->nq) {
        queues_answer(qr);
        return;
    }
    qr->b.on_reply = queues_reply3;
    qr->b.on_done = queues_done3;
    rasync_batch_begin(&qr->b);
    queues_send_parts(qr, 0);
    rasync_batch_end(&qr->b);
}

/* Round 1: index 0 the live workers, 1..nslots the current hashes, then the
 * partitions' reads. */
static void queues_reply1(void *ctx, size_t i, const redisReply *r)
{
    struct queues_req *qr = ctx;
    size_t k;

    if (i == 0) {
        if (live_read(&qr->live, r) < 0)
            qr->is_bad = true;
        return;
    }
    if (i > (size_t)qr->nslots) {
        queues_read_part(qr, i - 1 - (size_t)qr->nslots, r);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        qr->is_bad = true;
        return;
    }
    for (k = 0; k + 1 < r->elements; k += 2) {
        const redisReply *w = r->element[k], *job = r->element[k + 1];
        struct queues_cur *c;

        if (w->type != REDIS_REPLY_STRING || job->type != REDIS_REPLY_STRING || job->len == 0 ||
            !ids_is_valid(job->str, job->len, IDS_MAX_LEN))
            continue;
        if (api_grow((void **)&qr->curs, &qr->capcur, qr->ncur, sizeof(*c)) < 0) {
            qr->is_bad = true;
            return;
        }
        c = &qr->curs[qr->ncur];
        memset(c, 0, sizeof(*c));
        c->slot = qr->slots[i - 1];
        c->worker = strdup(w->str);
        c->job = strdup(job->str);
        qr->ncur++;
        if (c->worker == NULL || c->job == NULL)
            qr->is_bad = true;
    }
}

static void queues_done1(void *ctx, bool is_failed, enum rasync_err err)
{
    struct queues_req *qr = ctx;
    struct api *api = qr->ar->api;
    char key[KEYS_MAX_LEN];
    struct rargv args;
    size_t i, k;

    if (is_failed || qr->is_bad) {
        if (is_failed)
            errors_reply_redis(qr->ar, err);
        else
            errors_reply(qr->ar, API_ERR_INTERNAL, "unexpected reply reading the queues");
        queues_req_free(qr);
        return;
    }
    qr->b.on_reply = queues_reply2;
    qr->b.on_done = queues_done2;
    rasync_batch_begin(&qr->b);
    qr->nwait = qr->live.n;
    for (i = 0; i < qr->live.n; i++) {
        if (keys_worker(key, sizeof(key), api->cfg->prefix, qr->live.ids[i]) < 0)
            continue;
        rargv_init(&args);
        rargv_add(&args, "HMGET");
        rargv_add(&args, key);
        rargv_add(&args, "queue");
        rargv_add(&args, "queues");
        rasync_batch_send(api->rasync, &qr->b, &args, i);
    }
    for (i = 0; i < qr->ncur; i++) {
        struct queues_cur *c = &qr->curs[i];
        for (k = 0; k < qr->live.n && strcmp(qr->live.ids[k], c->worker) != 0; k++)
            ;
        /* a dead worker's pair is stale; a worker runs one job: its first */
        if (k == qr->live.n || qr->live.jobs[k] != NULL)
            continue;
        qr->live.jobs[k] = c->job; /* borrowed: marks the worker as seen */
        c->job = NULL;
        if (keys_job(key, sizeof(key), api->cfg->prefix, keys_slot_tag(c->slot), qr->live.jobs[k]) <
            0)
            continue;
        rargv_init(&args);
        rargv_add(&args, "HGET");
        rargv_add(&args, key);
        rargv_add(&args, JOB_F_QUEUE);
        rasync_batch_send(api->rasync, &qr->b, &args, qr->nwait + i);
    }
    rasync_batch_end(&qr->b);
}

/* Reads the figures of the queues (one, or all) and answers status with them. */
static void queues_read(struct queues_req *qr)
{
    struct api *api = qr->ar->api;
    struct rargv args;
    int j;

    qr->now_ms = (long long)clock_now_ms();
    if ((qr->nslots = locate_slots(api, &qr->slots)) < 0) {
        errors_reply(qr->ar, API_ERR_INTERNAL, "out of memory");
        queues_req_free(qr);
        return;
    }
    qr->b.ctx = qr;
    qr->b.on_reply = queues_reply1;
    qr->b.on_done = queues_done1;
    rasync_batch_begin(&qr->b);
    if (live_args(api, &args) == 0)
        rasync_batch_send(api->rasync, &qr->b, &args, 0);
    else
        qr->is_bad = true;
    for (j = 0; j < qr->nslots; j++)
        if (live_current_args(api, qr->slots[j], &args) == 0)
            rasync_batch_send(api->rasync, &qr->b, &args, 1 + (size_t)j);
    queues_send_parts(qr, 1 + (size_t)qr->nslots);
    rasync_batch_end(&qr->b);
}

/* A new request record for ar: all queues, or only ar->id. NULL when ar was
 * answered (bad query, out of memory). */
static struct queues_req *queues_req_new(struct api_req *ar, bool is_one)
{
    static const char *const names[] = {NULL};
    struct queues_req *qr;

    if (listing_check_params(ar, names) < 0)
        return NULL;
    qr = calloc(1, sizeof(*qr));
    if (qr == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    qr->ar = ar;
    qr->is_one = is_one;
    qr->status = 200;
    if (is_one && queues_find(qr, ar->id, strlen(ar->id), true) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        queues_req_free(qr);
        return NULL;
    }
    queues_add_file(qr);
    return qr;
}

void queues_list(struct api_req *ar)
{
    struct queues_req *qr = queues_req_new(ar, false);

    if (qr != NULL)
        queues_read(qr);
}

void queues_get(struct api_req *ar)
{
    struct queues_req *qr = queues_req_new(ar, true);

    if (qr != NULL)
        queues_read(qr);
}

/* ---- pause and resume ---- */

static void queues_set_done(void *ctx, bool is_failed, enum rasync_err err)
{
    struct queues_req *qr = ctx;

    if (is_failed) {
        errors_reply_redis(qr->ar, err);
        queues_req_free(qr);
        return;
    }
    log_info("queue %s %s", qr->ar->id, qr->is_pause ? "paused" : "resumed");
    queues_read(qr); /* answered with the queue's figures */
}

static void queues_set_reply(void *ctx, size_t i, const redisReply *r)
{
    (void)ctx;
    (void)i;
    (void)r; /* OK, 0 or 1: an error reply fails the batch */
}

/* Pauses (is_pause) or resumes queue ar->id: SET or DEL of the paused key
 * of each partition, and on resume the wake publish, in one batch. */
static void queues_set(struct api_req *ar, bool is_pause)
{
    struct queues_req *qr = queues_req_new(ar, true);
    struct api *api = ar->api;
    char key[KEYS_MAX_LEN], ts[CLOCK_RFC3339_LEN];
    struct rargv args;
    int j, parts;

    if (qr == NULL)
        return;
    qr->is_pause = is_pause;
    parts = qr->qs[0].partitions;
    clock_format_rfc3339(clock_now_ms(), ts);
    qr->b.ctx = qr;
    qr->b.on_reply = queues_set_reply;
    qr->b.on_done = queues_set_done;
    rasync_batch_begin(&qr->b);
    for (j = 0; j < parts; j++) {
        if (keys_paused(key, sizeof(key), api->cfg->prefix, keys_slot_tag(keys_part_slot(parts, j)),
                        ar->id) < 0)
            continue; /* cannot happen: a valid name fits */
        rargv_init(&args);
        rargv_add(&args, is_pause ? "SET" : "DEL");
        rargv_add(&args, key);
        if (is_pause)
            rargv_add(&args, ts);
        rasync_batch_send(api->rasync, &qr->b, &args, (size_t)j);
    }
    if (!is_pause && keys_wake(key, sizeof(key), api->cfg->prefix, ar->id) == 0) {
        rargv_init(&args);
        rargv_add(&args, "PUBLISH");
        rargv_add(&args, key);
        rargv_add(&args, "1");
        rasync_batch_send(api->rasync, &qr->b, &args, (size_t)parts);
    }
    rasync_batch_end(&qr->b);
}

void queues_pause(struct api_req *ar)
{
    queues_set(ar, true);
}

void queues_resume(struct api_req *ar)
{
    queues_set(ar, false);
}
