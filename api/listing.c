/* listing: the read-only overview routes. GET /v1/jobs pages through the
 * recent index (<p>:recent, written by submit.lua, newest KEYS_RECENT_MAX
 * jobs) and reads each job's summary with pipelined HMGETs; GET /v1/stats and
 * GET /v1/workers read queue lengths and the workers registry (<p>:workers,
 * <p>:worker:<id>). Every route is a few pipelined round trips; expired jobs
 * read as missing and are skipped. */
#include "api.h"
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "num.h"

#define LISTING_LIMIT_DEFAULT 50
#define LISTING_LIMIT_MAX     500
#define LISTING_MAX_ROUNDS    4 /* index pages read per request when filtering */
#define LISTING_CURSOR_LEN    48
#define LISTING_SCORE_MAX     (1LL << 53) /* an index score (ms) or a cursor's, at most */

/* The summary fields of GET /v1/jobs, in HMGET order. */
static const char *const listing_fields[] = {
    JOB_F_ID,         JOB_F_PIPELINE,    JOB_F_QUEUE,    JOB_F_STATE,   JOB_F_STAGE,
    JOB_F_STAGE_NAME, JOB_F_STAGE_COUNT, JOB_F_PROGRESS, JOB_F_OVERALL, JOB_F_CREATED_AT,
    JOB_F_UPDATED_AT, JOB_F_FINISHED_AT, JOB_F_ATTEMPT,  JOB_F_RUN_AT,
};
#define LISTING_NFIELDS (sizeof(listing_fields) / sizeof(listing_fields[0]))
/* read after them, not shown: tells a job of the compact layout (job.h) */
#define LISTING_MARKER "stage.1"

/* The summary fields whose value is a number in JSON, and its bounds. */
static const struct {
    const char *field;
    double min, max;
} listing_numeric[] = {
    {JOB_F_STAGE, 0, PIPELINE_MAX_STAGES},
    {JOB_F_STAGE_COUNT, 1, PIPELINE_MAX_STAGES},
    {JOB_F_PROGRESS, 0, 1},
    {JOB_F_OVERALL, 0, 1},
    {JOB_F_ATTEMPT, 0, INT_MAX},
};
#define LISTING_NNUMERIC (sizeof(listing_numeric) / sizeof(listing_numeric[0]))

/* Adds field f of value r (a Redis string or nil) to o: a number for the
 * numeric fields, a string otherwise, null when missing. A numeric field
 * that holds no number in its bounds (edited by hand) is null too: it never
 * turns into a string. */
static void listing_add_field(cJSON *o, const char *f, const redisReply *r)
{
    size_t i;
    double d;

    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        cJSON_AddNullToObject(o, f);
        return;
    }
    for (i = 0; i < LISTING_NNUMERIC; i++) {
        if (strcmp(f, listing_numeric[i].field) != 0)
            continue;
        if (num_field_double(r->str, listing_numeric[i].min, listing_numeric[i].max, 0, &d) == 0)
            cJSON_AddNumberToObject(o, f, d);
        else
            cJSON_AddNullToObject(o, f);
        return;
    }
    cJSON_AddStringToObject(o, f, r->str);
}

/* A job of the compact layout stores no id (its key has it: id), no
 * overall_progress, no progress while it is 0 (1 once succeeded), no
 * finished_at (its updated_at once it ended), no stage_name: the summary o
 * of HMGET reply shows them as GET /v1/jobs/{id} does, the stage's name its
 * pipeline's (api's pipelines). */
static void listing_add_derived(const struct api *api, cJSON *o, const redisReply *reply,
                                const char *id)
{
    const char *fv[2 * (LISTING_NFIELDS + 1)], *v;
    const struct pipeline *pl;
    long long stage;
    struct job_hash h = {fv, NULL, 0, NULL, 0, id};
    long long count = 0;
    size_t k;

    for (k = 0; k <= LISTING_NFIELDS; k++)
        if (reply->element[k]->type == REDIS_REPLY_STRING) {
            fv[h.n++] = k < LISTING_NFIELDS ? listing_fields[k] : LISTING_MARKER;
            fv[h.n++] = reply->element[k]->str;
        }
    (void)num_field_ll(job_hash_get(&h, JOB_F_STAGE_COUNT), 0, LLONG_MAX, 0, &count);
    if (job_hash_get(&h, JOB_F_ID) == NULL) /* the key holds it */
        cJSON_ReplaceItemInObject(o, JOB_F_ID, cJSON_CreateString(id));
    if (!job_is_compact(&h, count))
        return;
    if ((v = job_finished_at(&h, count)) != NULL)
        cJSON_ReplaceItemInObject(o, JOB_F_FINISHED_AT, cJSON_CreateString(v));
    /* the name of its stage: its pipeline's (the job's own is in its status) */
    if (job_hash_get(&h, JOB_F_STAGE_NAME) == NULL &&
        (v = job_hash_get(&h, JOB_F_PIPELINE)) != NULL &&
        (pl = pipeline_set_find(api->pipelines, v)) != NULL &&
        num_parse_ll(job_hash_get(&h, JOB_F_STAGE), 1, (long long)pl->nstages, &stage, NULL) == 0)
        cJSON_ReplaceItemInObject(o, JOB_F_STAGE_NAME,
                                  cJSON_CreateString(pl->stages[stage - 1].name));
    if (job_hash_get(&h, JOB_F_PROGRESS) == NULL)
        cJSON_ReplaceItemInObject(o, JOB_F_PROGRESS, cJSON_CreateNumber(job_progress_default(&h)));
    cJSON_ReplaceItemInObject(o, JOB_F_OVERALL, cJSON_CreateNumber(job_overall_of(&h, count)));
}

int listing_check_params(struct api_req *ar, const char *const *names)
{
    const struct evkeyval *kv;
    size_t i;

    TAILQ_FOREACH(kv, &ar->query, next)
    {
        for (i = 0; names[i] != NULL; i++)
            if (strcmp(kv->key, names[i]) == 0)
                break;
        if (names[i] == NULL) {
            errors_reply(ar, API_ERR_INVALID_REQUEST, "unknown query parameter '%.64s'", kv->key);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* GET /v1/jobs                                                              */

struct listing_entry {
    char *id;
    long long score;
    int slot;       /* the partition's: its hash is there */
    size_t src;     /* the index it was read from (ll->slots, ll->keys) */
    cJSON *summary; /* NULL = expired */
};

struct listing_list {
    struct api_req *ar;
    int *slots; /* every partition's recent index is merged (locate_slots) */
    int nslots;
    /* state=failed: the failed indexes (<p>:{t}:failed:<q>, of every
     * partition of every queue the pipelines know, or of queue=) are merged
     * instead, keys[i] in slots[i]; NULL: the recent indexes */
    char **keys;
    bool has_queue;
    char queue[IDS_NAME_MAX_LEN + 1];
    size_t *run_at, *run_n; /* per partition: where its page sits in entries */
    bool has_state, has_pipeline;
    enum job_state state;
    char pipeline[IDS_NAME_MAX_LEN + 1];
    long long limit;
    /* position: continue at score (inclusive) skipping `skip` entries of that
     * score already seen, in the merged order (score, then id, descending);
     * has_pos false = from the newest */
    bool has_pos;
    long long pos_score, pos_skip;
    bool is_exhausted;
    int rounds;
    cJSON *jobs; /* the reply's array */
    long long matched;
    /* the round in flight */
    long long want; /* entries asked for */
    long long per;  /* entries asked of each partition */
    struct rasync_batch b;
    struct listing_entry *entries;
    size_t n, cap;
    size_t pending;
    bool is_failed, is_bad_index;
    enum rasync_err fail_err;
    bool is_redis_error;
};

struct listing_slot {
    struct listing_list *ll;
    size_t i;
};

static void listing_list_round_free(struct listing_list *ll)
{
    size_t i;

    for (i = 0; i < ll->n; i++) {
        free(ll->entries[i].id);
        cJSON_Delete(ll->entries[i].summary);
    }
    free(ll->entries);
    ll->entries = NULL;
    ll->n = ll->cap = 0;
}

static void listing_list_free(struct listing_list *ll)
{
    size_t i;

    listing_list_round_free(ll);
    cJSON_Delete(ll->jobs);
    for (i = 0; ll->keys != NULL && i < (size_t)ll->nslots; i++)
        free(ll->keys[i]);
    free(ll->keys);
    free(ll->slots);
    free(ll->run_at);
    free(ll->run_n);
    free(ll);
}

static void listing_list_next_round(struct listing_list *ll);

/* Answers with the jobs gathered and the cursor of the position reached. */
static void listing_list_reply(struct listing_list *ll)
{
    struct api_req *ar = ll->ar;
    cJSON *body = cJSON_CreateObject();
    char cursor[LISTING_CURSOR_LEN];

    if (body == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        listing_list_free(ll);
        return;
    }
    cJSON_AddItemToObject(body, "jobs", ll->jobs);
    ll->jobs = NULL;
    if (ll->is_exhausted || !ll->has_pos) {
        cJSON_AddNullToObject(body, "next_cursor");
    } else {
        snprintf(cursor, sizeof(cursor), "%lld-%lld", ll->pos_score, ll->pos_skip);
        cJSON_AddStringToObject(body, "next_cursor", cursor);
    }
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    reply_json(ar, 200, body);
    cJSON_Delete(body);
    listing_list_free(ll);
}

/* Moves the position past one index entry of the given score. */
static void listing_list_advance(struct listing_list *ll, long long score)
{
    if (ll->has_pos && ll->pos_score == score) {
        ll->pos_skip++;
    } else {
        ll->has_pos = true;
        ll->pos_score = score;
        ll->pos_skip = 1;
    }
}

/* Every HMGET of the round answered: filter in index order. */
static void listing_list_round_done(struct listing_list *ll)
{
    size_t i;

    if (ll->is_failed) {
        if (ll->is_redis_error)
            errors_reply(ll->ar, API_ERR_REDIS_UNAVAILABLE, "redis could not read the jobs");
        else
            errors_reply_redis(ll->ar, ll->fail_err);
        listing_list_free(ll);
        return;
    }
    for (i = 0; i < ll->n && ll->matched < ll->limit; i++) {
        cJSON *s = ll->entries[i].summary;
        listing_list_advance(ll, ll->entries[i].score);
        if (s == NULL)
            continue;
        if (ll->has_state) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, JOB_F_STATE);
            if (!cJSON_IsString(st) || strcmp(st->valuestring, job_state_name(ll->state)) != 0)
                continue;
        }
        if (ll->has_pipeline) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(s, JOB_F_PIPELINE);
            if (!cJSON_IsString(p) || strcmp(p->valuestring, ll->pipeline) != 0)
                continue;
        }
        if (ll->has_queue) {
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(s, JOB_F_QUEUE);
            if (!cJSON_IsString(q) || strcmp(q->valuestring, ll->queue) != 0)
                continue;
        }
        cJSON_AddItemToArray(ll->jobs, s);
        ll->entries[i].summary = NULL;
        ll->matched++;
    }
    /* the index ends when the page read was short and all of it was consumed */
    if (i == ll->n && (long long)ll->n < ll->want)
        ll->is_exhausted = true;
    listing_list_round_free(ll);
    if (ll->matched >= ll->limit || ll->is_exhausted || ll->rounds >= LISTING_MAX_ROUNDS) {
        listing_list_reply(ll);
        return;
    }
    listing_list_next_round(ll);
}

static void listing_forgot(const redisReply *reply, enum rasync_err err, void *arg)
{
    (void)reply, (void)err, (void)arg; /* best effort: the next listing drops it again */
}

/* A failed index's id whose hash expired: dropped from that index (ZREM in
 * its slot; the answer is not waited for). */
static void listing_forget(struct listing_list *ll, const struct listing_entry *e)
{
    struct rargv args;

    rargv_init(&args);
    rargv_add(&args, "ZREM");
    rargv_add(&args, ll->keys[e->src]);
    rargv_add(&args, e->id);
    if (rasync_command(ll->ar->api->rasync, &args, listing_forgot, NULL) < 0)
        log_debug("could not drop expired job %s from %s", e->id, ll->keys[e->src]);
    rargv_free(&args);
}

/* A summary's state as the status shows it (job_state_shown): a scheduled
 * job that is due is queued. */
static void listing_show_state(cJSON *o)
{
    cJSON *st = cJSON_GetObjectItemCaseSensitive(o, JOB_F_STATE);
    const cJSON *run_at = cJSON_GetObjectItemCaseSensitive(o, JOB_F_RUN_AT);
    const char *shown;

    if (!cJSON_IsString(st))
        return;
    shown = job_state_shown(st->valuestring, cJSON_IsString(run_at) ? run_at->valuestring : NULL,
                            clock_now_ms());
    if (shown != st->valuestring)
        cJSON_SetValuestring(st, shown);
}

static void listing_list_hmget_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct listing_slot *slot = arg;
    struct listing_list *ll = slot->ll;
    size_t i = slot->i, k;
    bool is_missing = true;
    cJSON *o;

    free(slot);
    if (reply == NULL) {
        ll->is_failed = true;
        ll->fail_err = err;
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != LISTING_NFIELDS + 1) {
        ll->is_failed = true;
        ll->is_redis_error = true;
    } else {
        for (k = 0; k < LISTING_NFIELDS; k++)
            if (reply->element[k]->type == REDIS_REPLY_STRING)
                is_missing = false;
        if (!is_missing && (o = cJSON_CreateObject()) != NULL) {
            for (k = 0; k < LISTING_NFIELDS; k++)
                listing_add_field(o, listing_fields[k], reply->element[k]);
            listing_add_derived(ll->ar->api, o, reply, ll->entries[i].id);
            listing_show_state(o);
            ll->entries[i].summary = o;
        } else if (is_missing && ll->keys != NULL) {
            listing_forget(ll, &ll->entries[i]);
        }
    }
    if (--ll->pending == 0)
        listing_list_round_done(ll);
}

/* One partition's page arrived: member, score, member, score ... (batch
 * index: the partition's in ll->slots). */
static void listing_list_page(void *ctx, size_t si, const redisReply *reply)
{
    struct listing_list *ll = ctx;
    long long prev = ll->has_pos ? ll->pos_score : LISTING_SCORE_MAX;
    size_t n, i;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
        ll->is_bad_index = true;
        return;
    }
    n = reply->elements / 2;
    ll->run_at[si] = ll->n;
    for (i = 0; i < n; i++) {
        const redisReply *m = reply->element[2 * i], *s = reply->element[2 * i + 1];
        struct listing_entry *e;

        if (api_grow((void **)&ll->entries, &ll->cap, ll->n, sizeof(*e)) < 0 ||
            m->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING) {
            ll->is_bad_index = true;
            return;
        }
        e = &ll->entries[ll->n];
        memset(e, 0, sizeof(*e));
        if ((e->id = strdup(m->str)) == NULL) {
            ll->is_bad_index = true;
            return;
        }
        ll->n++;
        ll->run_n[si]++;
        e->slot = ll->slots[si];
        e->src = si;
        /* A score that is no whole ms in range (inf, 1.5, set by hand) takes
         * the score before it in its partition: entries come newest first, so
         * the position still moves past it and the next page starts right
         * after it. */
        num_reply_ll(s, 0, LISTING_SCORE_MAX, prev, &e->score);
        prev = e->score;
    }
}

/* The merged order: newest first, then id descending (Redis's order among
 * equal scores within one index), then slot. Only heads of the partitions'
 * pages are compared: a page keeps its own order (a score set by hand reads
 * as the one before it, which may break the id order within a page). */
static int listing_entry_cmp(const struct listing_entry *x, const struct listing_entry *y)
{
    int c;

    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    c = strcmp(y->id, x->id);
    if (c != 0)
        return c;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/* Merges the partitions' pages (each in index order) into one list in the
 * merged order. 0, or -1 when memory ran out. */
static int listing_list_merge(struct listing_list *ll)
{
    struct listing_entry *out;
    size_t k, best, *head;
    int j;

    if (ll->nslots <= 1 || ll->n <= 1)
        return 0;
    out = malloc(ll->n * sizeof(*out));
    head = calloc((size_t)ll->nslots, sizeof(*head));
    if (out == NULL || head == NULL) {
        free(out);
        free(head);
        return -1;
    }
    for (k = 0; k < ll->n; k++) {
        best = (size_t)ll->nslots;
        for (j = 0; j < ll->nslots; j++)
            if (head[j] < ll->run_n[j] &&
                (best == (size_t)ll->nslots ||
                 listing_entry_cmp(&ll->entries[ll->run_at[j] + head[j]],
                                   &ll->entries[ll->run_at[best] + head[best]]) < 0))
                best = (size_t)j;
        out[k] = ll->entries[ll->run_at[best] + head[best]++];
    }
    free(head);
    free(ll->entries);
    ll->entries = out;
    ll->cap = ll->n;
    return 0;
}

/* Every partition's page is in: merge them, skip what the position says was
 * seen, keep the newest `want`, and read each job's summary where it lives
 * (one HMGET per job, sent back to back: one round trip). */
static void listing_list_pages_done(void *ctx, bool is_failed, enum rasync_err err)
{
    struct listing_list *ll = ctx;
    const struct api_config *cfg = ll->ar->api->cfg;
    size_t i, k, skip = 0, keep;

    if (is_failed) {
        errors_reply_redis(ll->ar, err);
        listing_list_free(ll);
        return;
    }
    if (ll->is_bad_index) {
        errors_reply(ll->ar, API_ERR_INTERNAL, "unexpected entry in the recent index");
        listing_list_free(ll);
        return;
    }
    if (listing_list_merge(ll) < 0) {
        errors_reply(ll->ar, API_ERR_INTERNAL, "out of memory");
        listing_list_free(ll);
        return;
    }
    while (ll->has_pos && skip < ll->n && (long long)skip < ll->pos_skip &&
           ll->entries[skip].score == ll->pos_score)
        skip++;
    keep = ll->n - skip < (size_t)ll->want ? ll->n - skip : (size_t)ll->want;
    for (i = 0; i < ll->n; i++)
        if (i < skip || i >= skip + keep)
            free(ll->entries[i].id);
    if (keep > 0) /* entries is NULL when every index was empty */
        memmove(ll->entries, ll->entries + skip, keep * sizeof(ll->entries[0]));
    ll->n = keep;
    if (ll->n == 0) {
        ll->is_exhausted = true;
        listing_list_reply(ll);
        return;
    }
    ll->pending = 1; /* held while sending, so no callback can finish the round */
    for (i = 0; i < ll->n; i++) {
        char key[KEYS_MAX_LEN];
        struct listing_slot *slot = malloc(sizeof(*slot));
        struct rargv args;
        int rc = -1;

        if (slot == NULL || keys_job(key, sizeof(key), cfg->prefix,
                                     keys_slot_tag(ll->entries[i].slot), ll->entries[i].id) < 0) {
            free(slot);
            ll->is_failed = true;
            ll->is_redis_error = true;
            break;
        }
        slot->ll = ll;
        slot->i = i;
        rargv_init(&args);
        rargv_add(&args, "HMGET");
        rargv_add(&args, key);
        for (k = 0; k < LISTING_NFIELDS; k++)
            rargv_add(&args, listing_fields[k]);
        rargv_add(&args, LISTING_MARKER);
        rc = rasync_command(ll->ar->api->rasync, &args, listing_list_hmget_done, slot);
        rargv_free(&args);
        if (rc < 0) {
            free(slot);
            ll->is_failed = true;
            ll->fail_err = RASYNC_UNAVAILABLE;
            break;
        }
        ll->pending++;
    }
    /* callbacks come later, never from inside rasync_command */
    if (--ll->pending == 0)
        listing_list_round_done(ll);
}

/* Adds the failed index of partition j of queue name (of partitions) to
 * ll's sources, unless there already. 0, or -1 (out of memory). */
static int listing_failed_add(struct listing_list *ll, size_t *cap, const char *name,
                              int partitions, int j)
{
    int slot = keys_part_slot(partitions, j), i;
    char key[KEYS_MAX_LEN];

    if (keys_failed(key, sizeof(key), ll->ar->api->cfg->prefix, keys_slot_tag(slot), name) < 0)
        return 0; /* cannot happen: a valid name fits */
    for (i = 0; i < ll->nslots; i++)
        if (strcmp(ll->keys[i], key) == 0)
            return 0;
    if (api_grow((void **)&ll->keys, cap, (size_t)ll->nslots, sizeof(*ll->keys)) < 0)
        return -1;
    if ((ll->keys[ll->nslots] = strdup(key)) == NULL)
        return -1;
    ll->slots[ll->nslots++] = slot; /* slots was sized by the caller */
    return 0;
}

/* state=failed: the sources are the failed indexes of every partition of
 * the queue asked (queue=), else of every queue the pipelines file knows
 * (its "queues", each pipeline's and stage's queue, "default"). Replaces
 * ll->slots and sizes run_at/run_n again. 0, or -1 (out of memory). */
static int listing_failed_sources(struct listing_list *ll)
{
    const struct pipeline_set *ps = ll->ar->api->pipelines;
    const char **names;
    size_t n, i, cap = 0, total = 0;
    int j, rc = -1;

    n = pipeline_set_queue_names(ps, NULL, 0);
    if ((names = calloc(n + 1, sizeof(*names))) == NULL)
        return -1;
    if (ll->has_queue) {
        names[0] = ll->queue;
        n = 1;
    } else {
        n = pipeline_set_queue_names(ps, names, n);
    }
    for (i = 0; i < n; i++)
        total += (size_t)pipeline_set_partitions(ps, names[i]);
    free(ll->slots);
    free(ll->run_at);
    free(ll->run_n);
    ll->nslots = 0;
    ll->slots = malloc(total * sizeof(*ll->slots));
    ll->run_at = calloc(total, sizeof(*ll->run_at));
    ll->run_n = calloc(total, sizeof(*ll->run_n));
    if (ll->slots == NULL || ll->run_at == NULL || ll->run_n == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        int parts = pipeline_set_partitions(ps, names[i]);
        for (j = 0; j < parts; j++)
            if (listing_failed_add(ll, &cap, names[i], parts, j) < 0)
                goto done;
    }
    rc = 0;
done:
    free(names);
    return rc;
}

/* Reads the next page of every partition's index in one batch: the entries
 * at or below the position, as many as the position skips plus a page, so
 * that the merged order's next page is among them. */
static void listing_list_next_round(struct listing_list *ll)
{
    const char *prefix = ll->ar->api->cfg->prefix;
    long long want = ll->limit, skip = ll->has_pos ? ll->pos_skip : 0;
    char rkey[KEYS_MAX_LEN];
    struct rargv args;
    int i;

    /* when filtering, read larger pages: fewer round trips for sparse matches */
    if ((ll->has_state || ll->has_pipeline) && want < 200)
        want = 200;
    ll->rounds++;
    ll->want = want;
    /* no partition holds more than KEYS_RECENT_MAX entries (nor a failed
     * index more than KEYS_FAILED_MAX, the same) */
    ll->per = (skip < KEYS_RECENT_MAX ? skip : KEYS_RECENT_MAX) + want;
    memset(ll->run_n, 0, (size_t)ll->nslots * sizeof(*ll->run_n));
    ll->b.ctx = ll;
    ll->b.on_reply = listing_list_page;
    ll->b.on_done = listing_list_pages_done;
    rasync_batch_begin(&ll->b);
    for (i = 0; i < ll->nslots; i++) {
        if (ll->keys == NULL &&
            keys_recent(rkey, sizeof(rkey), prefix, keys_slot_tag(ll->slots[i])) < 0)
            continue;
        rargv_init(&args);
        rargv_add(&args, "ZREVRANGEBYSCORE");
        rargv_add(&args, ll->keys != NULL ? ll->keys[i] : rkey);
        if (ll->has_pos)
            rargv_addll(&args, ll->pos_score);
        else
            rargv_add(&args, "+inf");
        rargv_add(&args, "-inf");
        rargv_add(&args, "WITHSCORES");
        rargv_add(&args, "LIMIT");
        rargv_add(&args, "0");
        rargv_addll(&args, ll->per);
        rasync_batch_send(ll->ar->api->rasync, &ll->b, &args, (size_t)i);
    }
    rasync_batch_end(&ll->b);
}

void listing_jobs(struct api_req *ar)
{
    static const char *const names[] = {"state", "pipeline", "queue", "limit", "cursor", NULL};
    const char *state = evhttp_find_header(&ar->query, "state");
    const char *queue = evhttp_find_header(&ar->query, "queue");
    const char *pipeline = evhttp_find_header(&ar->query, "pipeline");
    const char *limit = evhttp_find_header(&ar->query, "limit");
    const char *cursor = evhttp_find_header(&ar->query, "cursor");
    struct listing_list *ll;
    long long sc, sk;
    char cbuf[LISTING_CURSOR_LEN], *dash;

    if (listing_check_params(ar, names) < 0)
        return;
    ll = calloc(1, sizeof(*ll));
    if (ll == NULL || (ll->jobs = cJSON_CreateArray()) == NULL) {
        free(ll);
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        return;
    }
    ll->ar = ar;
    ll->limit = LISTING_LIMIT_DEFAULT;
    if ((ll->nslots = locate_slots(ar->api, &ll->slots)) < 0 ||
        (ll->run_at = calloc((size_t)ll->nslots, sizeof(*ll->run_at))) == NULL ||
        (ll->run_n = calloc((size_t)ll->nslots, sizeof(*ll->run_n))) == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if (state != NULL) {
        if (job_state_parse(state, &ll->state) < 0) {
            errors_reply(ar, API_ERR_INVALID_REQUEST,
                         "parameter 'state' must be queued, scheduled, running, succeeded, "
                         "failed or canceled");
            goto fail;
        }
        ll->has_state = true;
    }
    if (pipeline != NULL) {
        if (!ids_is_valid(pipeline, strlen(pipeline), IDS_NAME_MAX_LEN)) {
            errors_reply(ar, API_ERR_INVALID_REQUEST,
                         "parameter 'pipeline' must be 1-%d characters of [A-Za-z0-9._:-]",
                         IDS_NAME_MAX_LEN);
            goto fail;
        }
        snprintf(ll->pipeline, sizeof(ll->pipeline), "%s", pipeline);
        ll->has_pipeline = true;
    }
    if (queue != NULL) {
        if (!ids_is_valid(queue, strlen(queue), IDS_NAME_MAX_LEN)) {
            errors_reply(ar, API_ERR_INVALID_REQUEST,
                         "parameter 'queue' must be 1-%d characters of [A-Za-z0-9._:-]",
                         IDS_NAME_MAX_LEN);
            goto fail;
        }
        snprintf(ll->queue, sizeof(ll->queue), "%s", queue);
        ll->has_queue = true;
    }
    if (ll->has_state && ll->state == JOB_FAILED && listing_failed_sources(ll) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if (limit != NULL && num_parse_ll(limit, 1, LISTING_LIMIT_MAX, &ll->limit, NULL) < 0) {
        errors_reply(ar, API_ERR_INVALID_REQUEST, "parameter 'limit' must be an integer 1-%d",
                     LISTING_LIMIT_MAX);
        goto fail;
    }
    if (cursor != NULL) {
        snprintf(cbuf, sizeof(cbuf), "%s", cursor);
        dash = strchr(cbuf, '-');
        if (dash == NULL || strlen(cursor) >= sizeof(cbuf)) {
            errors_reply(ar, API_ERR_INVALID_REQUEST, "parameter 'cursor' is not a valid cursor");
            goto fail;
        }
        *dash = '\0';
        if (num_parse_ll(cbuf, 0, LISTING_SCORE_MAX, &sc, NULL) < 0 ||
            num_parse_ll(dash + 1, 1, 1000000000LL, &sk, NULL) < 0) {
            errors_reply(ar, API_ERR_INVALID_REQUEST, "parameter 'cursor' is not a valid cursor");
            goto fail;
        }
        ll->has_pos = true;
        ll->pos_score = sc;
        ll->pos_skip = sk;
    }
    listing_list_next_round(ll);
    return;
fail:
    listing_list_free(ll);
}

/* Builds a command from a NULL-terminated list of strings into args. */
static void listing_args(struct rargv *args, const char *first, ...)
{
    va_list ap;
    const char *s;

    rargv_init(args);
    va_start(ap, first);
    for (s = first; s != NULL; s = va_arg(ap, const char *))
        rargv_add(args, s);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* GET /v1/workers                                                           */

static const char *const listing_worker_fields[] = {
    "id", "host", "pid", "queue", "started_at", "heartbeat_at", "job", "jobs_done", "queues",
};
#define LISTING_COUNT_MAX (1LL << 53) /* a count JSON carries exactly */
#define LISTING_NWFIELDS  (sizeof(listing_worker_fields) / sizeof(listing_worker_fields[0]))

struct listing_workers {
    struct api_req *ar;
    struct rasync_batch b;
    struct live live;
    int *slots; /* the partitions whose current hashes name the workers' jobs */
    int nslots;
    bool is_bad_reply;
    cJSON **items;
};

static void listing_workers_free(struct listing_workers *lw)
{
    size_t i;

    for (i = 0; lw->items != NULL && i < lw->live.n; i++)
        cJSON_Delete(lw->items[i]);
    free(lw->items);
    live_free(&lw->live);
    free(lw->slots);
    free(lw);
}

/* A worker's "queues": its --queues as written ("high:6,low:1" or
 * "high,low"; v), else its one queue (q; a worker of an older version), as
 * [{"name", "weight"}] in the order it looks at them (weight null: strict
 * order). Text that is not such a list (edited by hand) is shown as is. */
static void listing_worker_queues(cJSON *o, const redisReply *v, const redisReply *q)
{
    const redisReply *src = v->type == REDIS_REPLY_STRING ? v : q;
    const char *p;
    cJSON *arr;

    if (src->type != REDIS_REPLY_STRING) {
        cJSON_AddNullToObject(o, "queues");
        return;
    }
    arr = cJSON_AddArrayToObject(o, "queues");
    for (p = src->str; arr != NULL && *p != '\0';) {
        const char *end = strchr(p, ','), *wat;
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p), nlen, wl;
        long long wt = 0;
        char num[16], name[IDS_NAME_MAX_LEN + 1];
        cJSON *e;

        nlen = ids_split_weight(p, len, &wat, &wl);
        snprintf(num, sizeof(num), "%.*s", (int)(wl < 15 ? wl : 15), wat != NULL ? wat : "");
        if (!ids_is_valid(p, nlen, IDS_NAME_MAX_LEN) ||
            (wat != NULL && (wl > 6 || num_parse_ll(num, 1, 1000000, &wt, NULL) < 0))) {
            cJSON_DeleteItemFromObject(o, "queues");
            cJSON_AddStringToObject(o, "queues", src->str);
            return;
        }
        e = cJSON_CreateObject();
        if (e == NULL || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            return;
        }
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        cJSON_AddStringToObject(e, "name", name);
        if (wat != NULL)
            cJSON_AddNumberToObject(e, "weight", (double)wt);
        else
            cJSON_AddNullToObject(e, "weight");
        if (end == NULL)
            break;
        p = end + 1;
    }
}

/* Batch indexes: the current hashes (one per slot), then the info hashes. */
static void listing_workers_info(void *ctx, size_t bi, const redisReply *r)
{
    struct listing_workers *lw = ctx;
    char ts[CLOCK_RFC3339_LEN];
    size_t i, k;
    long long n;
    cJSON *o;

    if (bi < (size_t)lw->nslots) {
        if (live_read_current(&lw->live, r) < 0)
            lw->is_bad_reply = true;
        return;
    }
    i = bi - (size_t)lw->nslots;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != LISTING_NWFIELDS ||
        (o = cJSON_CreateObject()) == NULL)
        return;
    for (k = 0; k < LISTING_NWFIELDS; k++) {
        const char *f = listing_worker_fields[k];
        const redisReply *v = r->element[k];
        if (k == 0) {
            cJSON_AddStringToObject(o, f, lw->live.ids[i]); /* the lease names it */
        } else if (strcmp(f, "queues") == 0) {
            listing_worker_queues(o, v, r->element[3]);
        } else if (v->type != REDIS_REPLY_STRING || (strcmp(f, "job") == 0 && v->len == 0)) {
            cJSON_AddNullToObject(o, f);
        } else if (strcmp(f, "pid") == 0 || strcmp(f, "jobs_done") == 0) {
            /* garbage (edited by hand) is null, as a missing field */
            long long min = strcmp(f, "pid") == 0 ? 1 : 0;
            if (num_field_ll(v->str, min, LISTING_COUNT_MAX, 0, &n) == 0)
                cJSON_AddNumberToObject(o, f, (double)n);
            else
                cJSON_AddNullToObject(o, f);
        } else {
            cJSON_AddStringToObject(o, f, v->str);
        }
    }
    if (lw->live.expiry[i] >= 0) {
        clock_format_rfc3339(lw->live.expiry[i], ts);
        cJSON_AddStringToObject(o, "lease_expires_at", ts);
    } else {
        cJSON_AddNullToObject(o, "lease_expires_at");
    }
    lw->items[i] = o;
}

static void listing_workers_done(void *ctx, bool is_failed, enum rasync_err err)
{
    struct listing_workers *lw = ctx;
    struct api_req *ar = lw->ar;
    cJSON *body, *arr;
    size_t i;

    if (is_failed || lw->is_bad_reply) {
        if (is_failed)
            errors_reply_redis(ar, err);
        else
            errors_reply(ar, API_ERR_INTERNAL, "unexpected reply reading the workers");
        listing_workers_free(lw);
        return;
    }
    body = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(body, "workers");
    for (i = 0; arr != NULL && i < lw->live.n; i++) {
        /* its partition's current hash names the job exactly (the info
         * hash's job is its last heartbeat's): read only now, since on a
         * cluster the replies of one batch come from several nodes, in any
         * order */
        cJSON *job = lw->live.jobs[i] != NULL ? cJSON_CreateString(lw->live.jobs[i]) : NULL;
        if (lw->items[i] != NULL && job != NULL &&
            !cJSON_ReplaceItemInObjectCaseSensitive(lw->items[i], "job", job))
            cJSON_Delete(job);
        else if (job != NULL && lw->items[i] == NULL)
            cJSON_Delete(job);
        if (lw->items[i] != NULL)
            cJSON_AddItemToArray(arr, lw->items[i]);
        lw->items[i] = NULL;
    }
    if (arr != NULL)
        cJSON_AddNumberToObject(body, "count", (double)cJSON_GetArraySize(arr));
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    reply_json(ar, 200, body);
    cJSON_Delete(body);
    listing_workers_free(lw);
}

static void listing_workers_live(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct listing_workers *lw = arg;
    const char *prefix = lw->ar->api->cfg->prefix;
    size_t i, k;

    if (reply == NULL) {
        errors_reply_redis(lw->ar, err);
        listing_workers_free(lw);
        return;
    }
    if (live_read(&lw->live, reply) < 0 ||
        (lw->items = calloc(lw->live.n + 1, sizeof(*lw->items))) == NULL) {
        errors_reply(lw->ar, API_ERR_INTERNAL, "unexpected reply reading the workers");
        listing_workers_free(lw);
        return;
    }
    lw->b.ctx = lw;
    lw->b.on_reply = listing_workers_info;
    lw->b.on_done = listing_workers_done;
    rasync_batch_begin(&lw->b);
    for (i = 0; lw->live.n > 0 && i < (size_t)lw->nslots; i++) {
        struct rargv args;
        if (live_current_args(lw->ar->api, lw->slots[i], &args) == 0)
            rasync_batch_send(lw->ar->api->rasync, &lw->b, &args, i);
    }
    for (i = 0; i < lw->live.n; i++) {
        char key[KEYS_MAX_LEN];
        struct rargv args;
        if (keys_worker(key, sizeof(key), prefix, lw->live.ids[i]) < 0)
            continue;
        listing_args(&args, "HMGET", key, (const char *)NULL);
        for (k = 0; k < LISTING_NWFIELDS; k++)
            rargv_add(&args, listing_worker_fields[k]);
        rasync_batch_send(lw->ar->api->rasync, &lw->b, &args, (size_t)lw->nslots + i);
    }
    rasync_batch_end(&lw->b);
}

void listing_workers(struct api_req *ar)
{
    static const char *const names[] = {NULL};
    struct listing_workers *lw;
    struct rargv args;

    if (listing_check_params(ar, names) < 0)
        return;
    lw = calloc(1, sizeof(*lw));
    if (lw == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        return;
    }
    lw->ar = ar;
    if ((lw->nslots = locate_slots(ar->api, &lw->slots)) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        listing_workers_free(lw);
        return;
    }
    if (live_args(ar->api, &args) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "key name too long");
        listing_workers_free(lw);
        return;
    }
    if (rasync_command(ar->api->rasync, &args, listing_workers_live, lw) < 0) {
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
        listing_workers_free(lw);
    }
    rargv_free(&args);
}

/* ------------------------------------------------------------------------ */
/* GET /v1/stats: round 1 reads the live workers, the ids of every
 * partition's recent index and the partitions' current hashes; round 2 the
 * state and queue of each indexed job (an HMGET each, in its partition: SORT
 * ... GET would be one command, but Redis Cluster denies it) and the workers'
 * info; round 3 the length of every partition of every queue seen (the
 * pipelines', the workers', the indexed jobs'). */

#define LISTING_NSTATES JOB_NSTATES

struct listing_queue {
    char name[IDS_NAME_MAX_LEN + 1];
    int partitions;
    long long queued, delayed, running, workers;
};

struct listing_stats {
    struct api_req *ar;
    struct rasync_batch b;
    struct live live;
    int *slots;
    int nslots;
    struct listing_indexed {
        char *id;
        int slot;
    } * jobs; /* round 1: every partition's indexed ids */
    size_t njobs, capjobs;
    struct listing_queue *queues;
    size_t nqueues, capqueues;
    long long by_state[LISTING_NSTATES], indexed, expired;
    bool is_bad_reply;
};

static void listing_stats_free(struct listing_stats *ls)
{
    size_t i;

    for (i = 0; i < ls->njobs; i++)
        free(ls->jobs[i].id);
    free(ls->jobs);
    live_free(&ls->live);
    free(ls->queues);
    free(ls->slots);
    free(ls);
}

/* The index of queue name in ls->queues, added when new; -1 when it is not a
 * valid name or memory ran out. */
static long listing_stats_queue(struct listing_stats *ls, const char *name, size_t len)
{
    struct listing_queue *q;
    size_t i;

    if (!ids_is_valid(name, len, IDS_NAME_MAX_LEN))
        return -1;
    for (i = 0; i < ls->nqueues; i++)
        if (strlen(ls->queues[i].name) == len && memcmp(ls->queues[i].name, name, len) == 0)
            return (long)i;
    if (api_grow((void **)&ls->queues, &ls->capqueues, ls->nqueues, sizeof(ls->queues[0])) < 0)
        return -1;
    q = &ls->queues[ls->nqueues];
    memset(q, 0, sizeof(*q));
    memcpy(q->name, name, len);
    q->partitions = pipeline_set_partitions(ls->ar->api->pipelines, q->name);
    return (long)ls->nqueues++;
}

/* Batch indexes of round 1: the live workers, the ZRANGE of each partition's
 * index, then each partition's current hash. */
static void listing_stats_reply1(void *ctx, size_t i, const redisReply *r)
{
    struct listing_stats *ls = ctx;
    struct listing_indexed *x;
    size_t k;

    if (i == 0) {
        if (live_read(&ls->live, r) < 0)
            ls->is_bad_reply = true;
        return;
    }
    if (i > (size_t)ls->nslots) {
        if (live_read_current(&ls->live, r) < 0)
            ls->is_bad_reply = true;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        ls->is_bad_reply = true;
        return;
    }
    for (k = 0; k < r->elements; k++) {
        if (r->element[k]->type != REDIS_REPLY_STRING ||
            api_grow((void **)&ls->jobs, &ls->capjobs, ls->njobs, sizeof(*x)) < 0) {
            ls->is_bad_reply = true;
            return;
        }
        x = &ls->jobs[ls->njobs];
        if ((x->id = strdup(r->element[k]->str)) == NULL) {
            ls->is_bad_reply = true;
            return;
        }
        x->slot = ls->slots[i - 1];
        ls->njobs++;
    }
}

/* Round 2: HMGET state queue run_at of indexed job i (i < njobs), then HMGET queue
 * job of live worker i - njobs. */
static void listing_stats_reply2(void *ctx, size_t i, const redisReply *r)
{
    struct listing_stats *ls = ctx;
    enum job_state st;
    size_t wi;
    long w;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != (i < ls->njobs ? 3 : 2))
        return;
    if (i < ls->njobs) {
        const redisReply *s = r->element[0], *q = r->element[1], *at = r->element[2];
        ls->indexed++;
        /* counted as the status shows it: a due scheduled job is queued */
        if (s->type != REDIS_REPLY_STRING ||
            job_state_parse(job_state_shown(s->str, at->type == REDIS_REPLY_STRING ? at->str : NULL,
                                            clock_now_ms()),
                            &st) < 0) {
            ls->expired++;
            return;
        }
        if ((int)st >= 0 && (int)st < LISTING_NSTATES)
            ls->by_state[st]++;
        if (q->type == REDIS_REPLY_STRING)
            listing_stats_queue(ls, q->str, q->len);
        return;
    }
    wi = i - ls->njobs;
    if (r->element[0]->type != REDIS_REPLY_STRING)
        return;
    w = listing_stats_queue(ls, r->element[0]->str, r->element[0]->len);
    if (w < 0)
        return;
    ls->queues[w].workers++;
    if ((wi < ls->live.n && ls->live.jobs[wi] != NULL) ||
        (r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len > 0))
        ls->queues[w].running++;
}

/* Round 3: LLEN and ZCARD of partition j of queue q at 2 * (q *
 * KEYS_PARTITIONS_MAX + j) (+1). */
static void listing_stats_reply3(void *ctx, size_t i, const redisReply *r)
{
    struct listing_stats *ls = ctx;
    struct listing_queue *q = &ls->queues[i / 2 / KEYS_PARTITIONS_MAX];

    if (r->type != REDIS_REPLY_INTEGER)
        return;
    if (i % 2 == 0)
        q->queued += r->integer;
    else
        q->delayed += r->integer;
}

static void listing_stats_done3(void *ctx, bool is_failed, enum rasync_err err)
{
    struct listing_stats *ls = ctx;
    struct api_req *ar = ls->ar;
    cJSON *body, *queues, *recent, *states;
    size_t i;

    if (is_failed) {
        errors_reply_redis(ar, err);
        listing_stats_free(ls);
        return;
    }
    body = cJSON_CreateObject();
    queues = cJSON_AddObjectToObject(body, "queues");
    for (i = 0; queues != NULL && i < ls->nqueues; i++) {
        const struct listing_queue *q = &ls->queues[i];
        cJSON *o = cJSON_AddObjectToObject(queues, q->name);
        cJSON_AddNumberToObject(o, "queued", (double)q->queued);
        cJSON_AddNumberToObject(o, "delayed", (double)q->delayed);
        cJSON_AddNumberToObject(o, "running", (double)q->running);
        cJSON_AddNumberToObject(o, "workers", (double)q->workers);
        cJSON_AddNumberToObject(o, "partitions", (double)q->partitions);
    }
    cJSON_AddNumberToObject(body, "workers_alive", (double)ls->live.n);
    recent = cJSON_AddObjectToObject(body, "recent_jobs");
    cJSON_AddNumberToObject(recent, "window", KEYS_RECENT_MAX); /* per partition */
    cJSON_AddNumberToObject(recent, "indexed", (double)ls->indexed);
    cJSON_AddNumberToObject(recent, "expired", (double)ls->expired);
    states = cJSON_AddObjectToObject(recent, "by_state");
    for (i = 0; i < LISTING_NSTATES; i++)
        cJSON_AddNumberToObject(states, job_state_name((enum job_state)i), (double)ls->by_state[i]);
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    reply_json(ar, 200, body); /* a NULL part (out of memory) makes a 500 */
    cJSON_Delete(body);
    listing_stats_free(ls);
}

/* Sends LLEN or ZCARD (cmd) of key (built by mk for queue q in slot) to the
 * batch at index i. */
static void listing_stats_len(struct listing_stats *ls, const char *cmd,
                              int (*mk)(char *, size_t, const char *, const char *, const char *),
                              const struct listing_queue *q, int slot, size_t i)
{
    struct api *api = ls->ar->api;
    char key[KEYS_MAX_LEN];
    struct rargv args;

    if (mk(key, sizeof(key), api->cfg->prefix, keys_slot_tag(slot), q->name) < 0)
        return;
    listing_args(&args, cmd, key, (const char *)NULL);
    rasync_batch_send(api->rasync, &ls->b, &args, i);
}

static void listing_stats_done2(void *ctx, bool is_failed, enum rasync_err err)
{
    struct listing_stats *ls = ctx;
    size_t i;
    int j;

    if (is_failed) {
        errors_reply_redis(ls->ar, err);
        listing_stats_free(ls);
        return;
    }
    ls->b.on_reply = listing_stats_reply3;
    ls->b.on_done = listing_stats_done3;
    rasync_batch_begin(&ls->b);
    for (i = 0; i < ls->nqueues; i++) {
        const struct listing_queue *q = &ls->queues[i];
        for (j = 0; j < q->partitions; j++) {
            size_t at = 2 * (i * KEYS_PARTITIONS_MAX + (size_t)j);
            int slot = keys_part_slot(q->partitions, j);
            listing_stats_len(ls, "LLEN", keys_queue, q, slot, at);
            listing_stats_len(ls, "ZCARD", keys_delayed, q, slot, at + 1);
        }
    }
    rasync_batch_end(&ls->b);
}

static void listing_stats_done1(void *ctx, bool is_failed, enum rasync_err err)
{
    struct listing_stats *ls = ctx;
    struct api *api = ls->ar->api;
    const char *prefix = api->cfg->prefix;
    char key[KEYS_MAX_LEN];
    struct rargv args;
    size_t i;

    if (is_failed || ls->is_bad_reply) {
        if (is_failed)
            errors_reply_redis(ls->ar, err);
        else
            errors_reply(ls->ar, API_ERR_INTERNAL, "unexpected reply reading the stats");
        listing_stats_free(ls);
        return;
    }
    ls->b.on_reply = listing_stats_reply2;
    ls->b.on_done = listing_stats_done2;
    rasync_batch_begin(&ls->b);
    for (i = 0; i < ls->njobs; i++) {
        if (keys_job(key, sizeof(key), prefix, keys_slot_tag(ls->jobs[i].slot), ls->jobs[i].id) < 0)
            continue;
        listing_args(&args, "HMGET", key, JOB_F_STATE, JOB_F_QUEUE, JOB_F_RUN_AT,
                     (const char *)NULL);
        rasync_batch_send(api->rasync, &ls->b, &args, i);
    }
    for (i = 0; i < ls->live.n; i++) {
        if (keys_worker(key, sizeof(key), prefix, ls->live.ids[i]) < 0)
            continue;
        listing_args(&args, "HMGET", key, "queue", "job", (const char *)NULL);
        rasync_batch_send(api->rasync, &ls->b, &args, ls->njobs + i);
    }
    rasync_batch_end(&ls->b);
}

void listing_stats(struct api_req *ar)
{
    static const char *const names[] = {NULL};
    const struct pipeline_set *ps = ar->api->pipelines;
    const char *prefix = ar->api->cfg->prefix;
    char rkey[KEYS_MAX_LEN];
    struct listing_stats *ls;
    struct rargv args;
    size_t i;
    int j;

    if (listing_check_params(ar, names) < 0)
        return;
    ls = calloc(1, sizeof(*ls));
    if (ls == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        return;
    }
    ls->ar = ar;
    if ((ls->nslots = locate_slots(ar->api, &ls->slots)) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        listing_stats_free(ls);
        return;
    }
    for (i = 0; ps != NULL && i < ps->nqueues; i++) /* declared: shown with their partitions */
        listing_stats_queue(ls, ps->queues[i].name, strlen(ps->queues[i].name));
    for (i = 0; ps != NULL && i < ps->n; i++) {
        const struct pipeline *p = &ps->items[i];
        size_t k;
        listing_stats_queue(ls, p->queue, strlen(p->queue));
        for (k = 0; k < p->nstages; k++) /* a stage's own queue: its jobs wait there too */
            if (p->stages[k].queue != NULL)
                listing_stats_queue(ls, p->stages[k].queue, strlen(p->stages[k].queue));
    }
    ls->b.ctx = ls;
    ls->b.on_reply = listing_stats_reply1;
    ls->b.on_done = listing_stats_done1;
    rasync_batch_begin(&ls->b);
    if (live_args(ar->api, &args) == 0)
        rasync_batch_send(ar->api->rasync, &ls->b, &args, 0);
    else
        ls->is_bad_reply = true;
    for (j = 0; j < ls->nslots; j++) {
        if (keys_recent(rkey, sizeof(rkey), prefix, keys_slot_tag(ls->slots[j])) < 0) {
            ls->is_bad_reply = true;
            break;
        }
        listing_args(&args, "ZRANGE", rkey, "0", "-1", (const char *)NULL);
        rasync_batch_send(ar->api->rasync, &ls->b, &args, 1 + (size_t)j);
    }
    for (j = 0; j < ls->nslots; j++)
        if (live_current_args(ar->api, ls->slots[j], &args) == 0)
            rasync_batch_send(ar->api->rasync, &ls->b, &args, 1 + (size_t)ls->nslots + (size_t)j);
    rasync_batch_end(&ls->b);
}
