/* bulk: POST /v1/jobs with a JSON array of submit requests. The array is
 * parsed (and checked) whole, once; each element is then validated as a
 * single POST would be (submit_parse_item, on its part of the tree), and the
 * valid ones are grouped by the slot their id hashes to: each group is one
 * submit_many.lua call that creates or refuses each job as submit.lua would,
 * in the order sent. A slot's call is sent as soon as it is full, and written
 * to Redis at once (rasync_flush), so that Redis runs it while the rest of the
 * array is prepared: a slot's first call is small (BULK_CALL_FIRST_JOBS), the
 * next ones BULK_CALL_MAX_JOBS; the calls of a slot go in
 * order on one connection, so a later job sees the earlier ones (an id given
 * twice, a queue filling up) exactly as in one call. The calls left when the
 * array is done are sent then. The fields the jobs of a pipeline share are
 * sent once per call. The jobs are not created
 * atomically: each lands in its own partition (on a cluster, on its own
 * node), where no script or transaction can reach the others. Instead every
 * element gets its own answer, in the order sent, and a retry of the whole
 * array with the same ids is safe (an element already created answers 202
 * with its state, as a single retry does). Refusals are answered through an
 * internal request of their own (errors_reply, as a single POST's). */
#include "api.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "job.h"
#include "json.h"
#include "log.h"

/* Jobs per submit_many call: bounds how long one call holds Redis (about
 * 20 µs a job) and its arguments (the fields of up to this many jobs). */
#define BULK_CALL_MAX_JOBS 100
/* Jobs in a slot's first call: Redis waits for it while the API prepares
 * it (about 4 µs a job), then runs it (about 17 µs a job) while the API
 * prepares the next ones: 24 cover the preparing of the other 76 of 100. */
#define BULK_CALL_FIRST_JOBS 24

/* One element of the array. */
struct bulk_job {
    int status;           /* its HTTP status once answered; 0 while valid and unanswered */
    char *body;           /* a refusal's answer (JSON object text), or NULL */
    enum job_state state; /* an accepted job's state, as answered */
    int64_t run_at_ms;    /* a job created scheduled: when due (answered); else 0 */
    int64_t due_ms;       /* when it may run (submit_due_ms) */
    int slot;             /* the slot its id hashes to */
    size_t tpl;           /* its template (bulk.tpls) */
    char *input;          /* the input without its whitespace (cJSON_malloc), NULL = null */
    char id[IDS_MAX_LEN + 1];
};

/* What the jobs of one pipeline, queue and result_ttl_s share: their shared
 * fields (job_new_fields_shared), their queue's keys and channel. */
struct bulk_tpl {
    const struct pipeline *p;
    char queue[IDS_NAME_MAX_LEN + 1]; /* the request's queue (or the pipeline's) */
    int result_ttl_s;
    int parts;               /* partitions of its first stage's queue */
    size_t local;            /* its number (1..) in the call being built; 0: not in it */
    char qkey[KEYS_MAX_LEN]; /* its queue list in the call's slot */
    char dkey[KEYS_MAX_LEN]; /* its delayed zset there */
};

struct bulk_call;

/* A slot the array's jobs hash to, while the array is prepared. */
struct bulk_slot {
    int slot;
    size_t sent;         /* its calls sent so far */
    struct bulk_call *c; /* its call being filled, or NULL */
};

/* One array being submitted, until every element is answered. */
struct bulk {
    struct api_req *ar; /* the client's request */
    size_t n;           /* elements */
    size_t pending;     /* answers still to come, + 1 while sending */
    size_t accepted;
    struct bulk_job *jobs; /* [n] */
    struct bulk_tpl *tpls;
    size_t ntpl, captpl;
    struct bulk_slot *slots; /* [nslots <= n] while preparing, in order of first job */
    size_t nslots;
    int64_t now_ms;                   /* the jobs' creation time */
    char now_text[CLOCK_RFC3339_LEN]; /* the same, as their hashes hold it */
};

/* One submit_many call: jobs idx[0..n) of b (n <= cap), all in one slot. */
struct bulk_call {
    struct bulk *b;
    struct rasync *conn; /* where it was sent */
    int slot;
    size_t n, cap;
    bool *is_held; /* [cap] with --min-replicas: accepted, waiting for WAIT */
    int want;      /* the replicas WAIT asked for */
    size_t idx[];
};

/* One element's internal request: its answer goes to bulk_answered. */
struct bulk_item {
    struct bulk *b;
    size_t k;
};

static void bulk_free(struct bulk *b)
{
    size_t k;

    for (k = 0; b->jobs != NULL && k < b->n; k++) {
        free(b->jobs[k].body);
        cJSON_free(b->jobs[k].input);
    }
    free(b->jobs);
    free(b->tpls);
    free(b->slots);
    free(b);
}

/* The longest 202 of bulk_reply_job before its run_at: three ids, a state,
 * and the rest. */
#define BULK_ACCEPTED_MAX_LEN (3 * IDS_MAX_LEN + 160)

/* Appends the string s to buf at *at (the caller sized buf for it). */
static void bulk_cat(char *buf, size_t *at, const char *s)
{
    size_t n = strlen(s);

    memcpy(buf + *at, s, n);
    *at += n;
}

/* Element k's answer to the array's: {"status":S, ...its body's members}. */
static int bulk_reply_job(struct evbuffer *out, const struct bulk_job *j, bool is_first)
{
    const char *sep = is_first ? "" : ",";
    char run_at[CLOCK_RFC3339_LEN], buf[BULK_ACCEPTED_MAX_LEN];
    size_t at;

    if (j->body != NULL && j->body[0] == '{' && j->body[1] != '}')
        return evbuffer_add_printf(out, "%s{\"status\":%d,%s", sep, j->status, j->body + 1) < 0;
    if (j->body != NULL || j->status != 202)
        return evbuffer_add_printf(out, "%s{\"status\":%d}", sep, j->status) < 0;
    /* as jobs_submit_done's 202 (an id needs no escaping: ids_is_valid),
     * without printf: this is most of the answer */
    at = 0;
    bulk_cat(buf, &at, sep);
    bulk_cat(buf, &at, "{\"status\":202,\"id\":\"");
    bulk_cat(buf, &at, j->id);
    bulk_cat(buf, &at, "\",\"status_url\":\"/v1/jobs/");
    bulk_cat(buf, &at, j->id);
    bulk_cat(buf, &at, "\",\"events_url\":\"/v1/jobs/");
    bulk_cat(buf, &at, j->id);
    bulk_cat(buf, &at, "/events\",\"state\":\"");
    bulk_cat(buf, &at, job_state_name(j->state));
    bulk_cat(buf, &at, "\"");
    if (evbuffer_add(out, buf, at) < 0)
        return -1;
    if (j->run_at_ms > 0) {
        clock_format_rfc3339(j->run_at_ms, run_at);
        if (evbuffer_add_printf(out, ",\"run_at\":\"%s\"", run_at) < 0)
            return -1;
    }
    return evbuffer_add(out, "}", 1);
}

/* Every element answered: one JSON object with the counts and the answers,
 * each with its status first. */
static void bulk_reply(struct bulk *b)
{
    struct api_req *ar = b->ar;
    struct evbuffer *out = evbuffer_new();
    size_t k, len;
    int ok;

    ok = out != NULL && evbuffer_add_printf(out, "{\"accepted\":%zu,\"refused\":%zu,\"jobs\":[",
                                            b->accepted, b->n - b->accepted) > 0;
    for (k = 0; ok && k < b->n; k++)
        ok = bulk_reply_job(out, &b->jobs[k], k == 0) == 0;
    ok = ok && evbuffer_add(out, "]}", 2) == 0;
    if (!ok) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory building the answer");
    } else {
        len = evbuffer_get_length(out);
        evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
        reply_raw(ar, b->accepted == b->n ? 202 : 207, (const char *)evbuffer_pullup(out, -1), len);
    }
    if (out != NULL)
        evbuffer_free(out);
    bulk_free(b);
}

static void bulk_settle(struct bulk *b)
{
    if (--b->pending == 0)
        bulk_reply(b);
}

/* Element k accepted (202): state is its state, run_at_ms when it was
 * created scheduled (else 0). */
static void bulk_accept(struct bulk *b, size_t k, enum job_state state, int64_t run_at_ms)
{
    struct bulk_job *j = &b->jobs[k];

    j->status = 202;
    j->state = state;
    j->run_at_ms = run_at_ms;
    b->accepted++;
    log_job(LOG_LEVEL_DEBUG, j->id, "job %s", job_state_name(state));
    bulk_settle(b);
}

/* An element's internal request answered (status, body[0..len)). */
static void bulk_answered(struct api_req *item, int status, const char *body, size_t len)
{
    struct bulk_item *bi = item->answer_arg;
    struct bulk *b = bi->b;
    struct bulk_job *j = &b->jobs[bi->k];
    char *copy = malloc(len + 1);

    j->status = status;
    if (status == 202)
        b->accepted++;
    if (copy != NULL) {
        if (len > 0)
            memcpy(copy, body, len);
        copy[len] = '\0';
        /* the trailing newline reply_raw adds is not part of the object */
        while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == '\r'))
            copy[--len] = '\0';
    }
    j->body = copy; /* NULL (out of memory): the status alone */
    free(bi);
    bulk_settle(b);
}

/* A new internal request that answers element k of b (its error, as a single
 * POST's); NULL when memory ran out: k is then answered 500 here. */
static struct api_req *bulk_item(struct bulk *b, size_t k)
{
    struct api_req *item = calloc(1, sizeof(*item));
    struct bulk_item *bi = calloc(1, sizeof(*bi));

    if (item == NULL || bi == NULL) {
        free(item);
        free(bi);
        b->jobs[k].status = 500;
        b->jobs[k].body = strdup(REPLY_OOM_BODY);
        bulk_settle(b);
        return NULL;
    }
    bi->b = b;
    bi->k = k;
    item->api = b->ar->api;
    TAILQ_INIT(&item->query);
    item->start_us = clock_mono_us();
    item->route = "bulk";
    item->method = EVHTTP_REQ_POST;
    item->method_name = "POST";
    snprintf(item->log_path, sizeof(item->log_path), "%.100s [%zu]", b->ar->log_path, k);
    snprintf(item->id, sizeof(item->id), "%s", b->jobs[k].id);
    item->on_answer = bulk_answered;
    item->answer_arg = bi;
    item->api->inflight++; /* reply_req_end counts it out */
    return item;
}

/* The template of pipeline p, queue, result_ttl_s (added when new): its
 * index, or -1 when memory ran out. */
static long bulk_tpl(struct bulk *b, const struct pipeline *p, const char *queue, int result_ttl_s)
{
    struct bulk_tpl *t;
    size_t i;

    for (i = 0; i < b->ntpl; i++) {
        t = &b->tpls[i];
        if (t->p == p && t->result_ttl_s == result_ttl_s && strcmp(t->queue, queue) == 0)
            return (long)i;
    }
    if (b->ntpl == b->captpl) {
        size_t ncap = b->captpl ? 2 * b->captpl : 4;
        struct bulk_tpl *nt = realloc(b->tpls, ncap * sizeof(*nt));
        if (nt == NULL)
            return -1;
        b->tpls = nt;
        b->captpl = ncap;
    }
    t = &b->tpls[b->ntpl];
    memset(t, 0, sizeof(*t));
    t->p = p;
    snprintf(t->queue, sizeof(t->queue), "%s", queue);
    t->result_ttl_s = result_ttl_s;
    t->parts = pipeline_set_partitions(b->ar->api->pipelines, pipeline_stage_queue(p, 1, queue));
    return (long)b->ntpl++;
}

/* Validates element k, parsed as elem from body[0..len): ready to send
 * (status 0), or answered. */
static void bulk_prepare(struct bulk *b, size_t k, const cJSON *elem, const char *body, size_t len,
                         struct ids_pool *pool)
{
    struct bulk_job *j = &b->jobs[k];
    struct submit_req sr = {0};
    struct submit_err serr;
    struct api_req *item;
    long tpl;

    if (!cJSON_IsObject(elem)) {
        if ((item = bulk_item(b, k)) != NULL)
            errors_reply(item, API_ERR_INVALID_REQUEST,
                         "each element of the array must be a JSON object (one job's request)");
        return;
    }
    if (submit_parse_item(body, len, elem, b->ar->api->pipelines, &sr, &serr) < 0) {
        if ((item = bulk_item(b, k)) != NULL)
            errors_reply(item, jobs_submit_api_err(serr.code), "%s", serr.msg);
        return;
    }
    if (sr.id != NULL)
        snprintf(j->id, sizeof(j->id), "%s", sr.id);
    else
        ids_pool_uuid(pool, j->id);
    if (submit_due_ms(&sr, b->now_ms, &j->due_ms, &serr) < 0) {
        if ((item = bulk_item(b, k)) != NULL)
            errors_reply(item, jobs_submit_api_err(serr.code), "%s", serr.msg);
        goto done;
    }
    tpl = bulk_tpl(b, sr.pipeline, sr.queue, sr.result_ttl_s);
    j->input = sr.input_text != NULL ? json_minify(sr.input_text, sr.input_len) : NULL;
    if (tpl < 0 || (sr.input_text != NULL && j->input == NULL)) {
        if ((item = bulk_item(b, k)) != NULL)
            errors_reply(item, API_ERR_INTERNAL, "out of memory building the job");
        goto done;
    }
    j->tpl = (size_t)tpl;
    j->slot = keys_job_slot(j->id, strlen(j->id), b->tpls[tpl].parts);
done:
    submit_req_free(&sr);
}

/* The new job j of template t, for job_new_*. */
static void bulk_job_new(const struct bulk *b, const struct bulk_job *j, const struct bulk_tpl *t,
                         struct job_new *jn)
{
    jn->id = j->id;
    jn->pipeline = t->p;
    jn->queue = t->queue;
    jn->input_json = j->input != NULL ? j->input : "null";
    jn->result_ttl_s = t->result_ttl_s;
    jn->now_ms = b->now_ms;
    jn->now_text = b->now_text;
    jn->due_ms = j->due_ms;
}

/* Adds a count to be filled in later: its index. */
static size_t bulk_arg_count(struct rargv *args)
{
    rargv_add(args, "0");
    return args->argc - 1;
}

static void bulk_arg_set_count(struct rargv *args, size_t at)
{
    char num[24];

    snprintf(num, sizeof(num), "%zu", args->argc - at - 1);
    rargv_set(args, at, num);
}

/* The template of b whose number in the call being built is local (1..),
 * or NULL. */
static struct bulk_tpl *bulk_tpl_local(const struct bulk *b, size_t local)
{
    size_t l;

    for (l = 0; l < b->ntpl; l++)
        if (b->tpls[l].local == local)
            return &b->tpls[l];
    return NULL;
}

/* The keys and arguments of submit_many.lua for call c (its slot's tag):
 * the number of keys, or -1 when a key is too long (args may hold part of
 * them). */
static int bulk_call_args(struct bulk_call *c, const char *tag, struct rargv *args)
{
    struct bulk *b = c->b;
    const struct api_config *cfg = b->ar->api->cfg;
    char key[KEYS_MAX_LEN];
    struct job_new jn;
    struct bulk_tpl *t;
    size_t i, ntpl = 0, at;

    for (i = 0; i < b->ntpl; i++)
        b->tpls[i].local = 0;
    for (i = 0; i < c->n; i++) { /* the templates, numbered in the order of their first job */
        t = &b->tpls[b->jobs[c->idx[i]].tpl];
        if (t->local == 0) {
            const char *first = pipeline_stage_queue(t->p, 1, t->queue);
            t->local = ++ntpl;
            if (keys_queue(t->qkey, sizeof(t->qkey), cfg->prefix, tag, first) < 0 ||
                keys_delayed(t->dkey, sizeof(t->dkey), cfg->prefix, tag, first) < 0)
                return -1;
        }
    }
    if (keys_recent(key, sizeof(key), cfg->prefix, tag) < 0)
        return -1;
    rargv_add(args, key);
    if (keys_counters(key, sizeof(key), cfg->prefix, tag) < 0)
        return -1;
    rargv_add(args, key);
    for (i = 1; i <= ntpl; i++) { /* KEYS: each template's list and delayed zset */
        t = bulk_tpl_local(b, i);
        rargv_add(args, t->qkey);
        rargv_add(args, t->dkey);
    }
    for (i = 0; i < c->n; i++) { /* then each job's hash */
        if (keys_job(key, sizeof(key), cfg->prefix, tag, b->jobs[c->idx[i]].id) < 0)
            return -1;
        rargv_add(args, key);
    }
    rargv_addll(args, KEYS_RECENT_MAX);
    if (keys_events(key, sizeof(key), cfg->prefix) < 0)
        return -1;
    rargv_add(args, key);
    rargv_addll(args, (long long)b->now_ms);
    rargv_addll(args, (long long)ntpl);
    for (i = 1; i <= ntpl; i++) { /* the templates */
        t = bulk_tpl_local(b, i);
        memset(&jn, 0, sizeof(jn));
        jn.pipeline = t->p;
        jn.queue = t->queue;
        jn.result_ttl_s = t->result_ttl_s;
        jn.now_ms = b->now_ms;
        jn.now_text = b->now_text;
        rargv_add(args, jn.pipeline->name);
        if (keys_wake(key, sizeof(key), cfg->prefix,
                      pipeline_stage_queue(jn.pipeline, 1, jn.queue)) < 0)
            return -1;
        rargv_add(args, key);
        rargv_addll(args, jobs_partition_limit(cfg->max_queue, t->parts));
        at = bulk_arg_count(args);
        job_new_fields_shared(args, &jn);
        job_new_fields_time(args, &jn); /* one creation time for the array */
        bulk_arg_set_count(args, at);
    }
    for (i = 0; i < c->n; i++) { /* then each job */
        struct bulk_job *j = &b->jobs[c->idx[i]];
        bulk_job_new(b, j, &b->tpls[j->tpl], &jn);
        j->run_at_ms = job_new_is_scheduled(&jn) ? j->due_ms : 0;
        rargv_addll(args, (long long)b->tpls[j->tpl].local);
        rargv_add(args, j->id);
        rargv_addll(args, job_new_ttl(&jn));
        rargv_addll(args, j->run_at_ms);
        at = bulk_arg_count(args);
        job_new_fields_state(args, &jn);
        bulk_arg_set_count(args, at);
    }
    return (int)(2 + 2 * ntpl + c->n);
}

/* Element k's answer from its submit_many reply element e (the reply of a
 * whole call that failed: reply NULL or an error, with err). */
static void bulk_outcome(struct bulk *b, size_t k, const redisReply *e, enum rasync_err err)
{
    struct bulk_job *j = &b->jobs[k];
    struct api_req *item;
    enum job_state state;

    if (e != NULL && e->type == REDIS_REPLY_INTEGER && e->integer > 0) {
        bulk_accept(b, k, j->run_at_ms > 0 ? JOB_SCHEDULED : JOB_QUEUED, j->run_at_ms);
    } else if (e != NULL && e->type == REDIS_REPLY_STRING) {
        if (job_state_parse(e->str, &state) < 0)
            state = JOB_QUEUED;
        bulk_accept(b, k, state, 0); /* the first request's job: its status has its run_at */
    } else if ((item = bulk_item(b, k)) != NULL) {
        jobs_submit_accepted(item, e, err); /* answers the refusal */
    }
}

static void bulk_call_free(struct bulk_call *c)
{
    free(c->is_held);
    free(c);
}

/* --min-replicas: WAIT's reply for the jobs call c accepted. */
static void bulk_call_confirmed(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct bulk_call *c = arg;
    struct bulk *b = c->b;
    bool is_ok = jobs_durable_is_confirmed(reply, c->want);
    struct api_req *item;
    size_t i;

    for (i = 0; i < c->n; i++) {
        struct bulk_job *j = &b->jobs[c->idx[i]];
        if (!c->is_held[i])
            continue;
        if (is_ok)
            bulk_accept(b, c->idx[i], j->state, j->run_at_ms);
        else if ((item = bulk_item(b, c->idx[i])) != NULL)
            jobs_durable_refuse(item, reply, err, c->want);
    }
    bulk_call_free(c);
}

/* submit_many's reply to call c: one element per job. */
static void bulk_call_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct bulk_call *c = arg;
    struct bulk *b = c->b;
    struct api_req *item;
    bool is_held = false;
    size_t i;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        for (i = 0; i < c->n; i++)
            bulk_outcome(b, c->idx[i], reply, err); /* 503 each */
    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != c->n) {
        for (i = 0; i < c->n; i++)
            if ((item = bulk_item(b, c->idx[i])) != NULL)
                errors_reply(item, API_ERR_INTERNAL, "unexpected reply from the submit script");
    } else if (c->is_held == NULL) {
        for (i = 0; i < c->n; i++)
            bulk_outcome(b, c->idx[i], reply->element[i], RASYNC_OK);
    } else { /* --min-replicas: the refusals now, the others once WAIT confirms */
        for (i = 0; i < c->n; i++) {
            const redisReply *e = reply->element[i];
            struct bulk_job *j = &b->jobs[c->idx[i]];
            if (e->type == REDIS_REPLY_INTEGER && e->integer > 0) {
                j->state = j->run_at_ms > 0 ? JOB_SCHEDULED : JOB_QUEUED;
            } else if (e->type == REDIS_REPLY_STRING) {
                if (job_state_parse(e->str, &j->state) < 0)
                    j->state = JOB_QUEUED;
                j->run_at_ms = 0;
            } else {
                bulk_outcome(b, c->idx[i], e, RASYNC_OK);
                continue;
            }
            c->is_held[i] = is_held = true;
        }
        if (is_held) {
            if (jobs_durable_wait(b->ar->api, &c->want, bulk_call_confirmed, c) < 0)
                bulk_call_confirmed(NULL, RASYNC_UNAVAILABLE, c);
            return;
        }
    }
    bulk_call_free(c);
}

/* Sends call c (its jobs in b's order) as one submit_many call; answers its
 * jobs when it cannot be sent. */
static void bulk_call_send(struct bulk_call *c)
{
    struct bulk *b = c->b;
    struct api *api = b->ar->api;
    struct rargv args;
    struct api_req *item;
    size_t i, n = c->n;
    int nkeys;

    c->conn = api->rdurable != NULL ? api->rdurable : api->rasync;
    rargv_init(&args);
    if ((nkeys = bulk_call_args(c, keys_slot_tag(c->slot), &args)) < 0 || args.is_oom) {
        for (i = 0; i < n; i++)
            if ((item = bulk_item(b, c->idx[i])) != NULL)
                errors_reply(item, API_ERR_INTERNAL,
                             args.is_oom ? "out of memory building the job" : "key name too long");
        rargv_free(&args);
        bulk_call_free(c);
        return;
    }
    if (rasync_script(c->conn, SCRIPT_SUBMIT_MANY, nkeys, &args, bulk_call_done, c) == 0)
        return; /* bulk_call_done answers */
    for (i = 0; i < n; i++)
        if ((item = bulk_item(b, c->idx[i])) != NULL)
            errors_reply_redis_on(item, c->conn, RASYNC_UNAVAILABLE);
    bulk_call_free(c);
}

/* A new call of at most cap jobs for slot: NULL when memory ran out. */
static struct bulk_call *bulk_call_new(struct bulk *b, int slot, size_t cap)
{
    struct bulk_call *c = calloc(1, sizeof(*c) + cap * sizeof(c->idx[0]));

    if (c == NULL)
        return NULL;
    if (b->ar->api->rdurable != NULL && (c->is_held = calloc(cap, sizeof(bool))) == NULL) {
        free(c);
        return NULL;
    }
    c->b = b;
    c->slot = slot;
    c->cap = cap;
    return c;
}

/* Adds element k (valid) to its slot's call; sends the call, written at once,
 * when it is full. */
static void bulk_queue(struct bulk *b, size_t k)
{
    int slot = b->jobs[k].slot;
    struct bulk_slot *s = NULL;
    struct api_req *item;
    size_t i;

    for (i = b->nslots; i > 0 && s == NULL; i--) /* the latest first: arrays of one slot */
        if (b->slots[i - 1].slot == slot)
            s = &b->slots[i - 1];
    if (s == NULL) {
        s = &b->slots[b->nslots++];
        s->slot = slot;
    }
    if (s->c == NULL) {
        s->c = bulk_call_new(b, slot, s->sent == 0 ? BULK_CALL_FIRST_JOBS : BULK_CALL_MAX_JOBS);
        if (s->c == NULL) {
            if ((item = bulk_item(b, k)) != NULL)
                errors_reply(item, API_ERR_INTERNAL, "out of memory");
            return;
        }
    }
    s->c->idx[s->c->n++] = k;
    if (s->c->n < s->c->cap)
        return;
    bulk_call_send(s->c);
    s->c = NULL;
    s->sent++;
    rasync_flush(b->ar->api->rdurable != NULL ? b->ar->api->rdurable : b->ar->api->rasync);
}

/* The array body[0..len): parsed and checked whole, then each element
 * validated and queued for its slot's call, the full calls sent as they
 * fill, the others at the end. */
static void bulk_submit(struct api_req *ar, const char *body, size_t len)
{
    struct json_err jerr;
    struct ids_pool pool;
    cJSON *root, *elem;
    struct bulk *b = NULL;
    size_t *off = NULL, *vlen = NULL, k, n;

    if (evhttp_find_header(&ar->query, "wait") != NULL) {
        errors_reply(ar, API_ERR_INVALID_REQUEST,
                     "wait applies to one job: submit an array without it");
        return;
    }
    root = json_parse_strict(body, len, JSON_MAX_DEPTH_DEFAULT, &jerr);
    if (root == NULL) {
        errors_reply(ar, API_ERR_MALFORMED_JSON, SUBMIT_MALFORMED "%s", jerr.msg);
        return;
    }
    n = (size_t)cJSON_GetArraySize(root);
    if (n == 0) {
        errors_reply(ar, API_ERR_INVALID_REQUEST, "the array holds no job");
        goto fail;
    }
    if (n > BULK_MAX_JOBS) {
        errors_reply(ar, API_ERR_PAYLOAD_TOO_LARGE,
                     "the array holds %zu jobs, at most %d per request: split it", n,
                     BULK_MAX_JOBS);
        goto fail;
    }
    off = calloc(n, sizeof(*off));
    vlen = calloc(n, sizeof(*vlen));
    b = calloc(1, sizeof(*b));
    if (off == NULL || vlen == NULL || b == NULL ||
        (b->jobs = calloc(n, sizeof(*b->jobs))) == NULL ||
        (b->slots = calloc(n, sizeof(*b->slots))) == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if (json_element_spans(body, len, n, off, vlen) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "the array's elements could not be located");
        goto fail;
    }
    b->ar = ar;
    b->n = n;
    b->pending = n + 1; /* answers may come while sending: settled last */
    b->now_ms = clock_now_ms();
    clock_format_rfc3339(b->now_ms, b->now_text);
    ids_pool_init(&pool);
    for (k = 0, elem = root->child; k < n && elem != NULL; k++, elem = elem->next) {
        bulk_prepare(b, k, elem, body + off[k], vlen[k], &pool);
        if (b->jobs[k].status == 0)
            bulk_queue(b, k);
    }
    for (k = 0; k < b->nslots; k++)
        if (b->slots[k].c != NULL)
            bulk_call_send(b->slots[k].c);
    cJSON_Delete(root);
    free(off);
    free(vlen);
    free(b->slots);
    b->slots = NULL;
    bulk_settle(b);
    return;
fail:
    cJSON_Delete(root);
    free(off);
    free(vlen);
    if (b != NULL)
        bulk_free(b);
}

void bulk_post(struct api_req *ar)
{
    const char *body;
    size_t len, i = 0;

    if (jobs_body(ar, &body, &len) < 0)
        return;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
        i++;
    if (i < len && body[i] == '[')
        bulk_submit(ar, body, len);
    else
        jobs_submit(ar);
}
