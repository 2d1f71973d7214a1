/* run: one started job through its stages. Every change is one round trip
 * (update.lua / finish.lua / retry.lua, fenced by the attempt number);
 * progress is coalesced to at most one write per WORKER_PROGRESS_MIN_MS, the
 * latest always written in the end, and "stage k done" is folded with "stage
 * k+1 started" (and, while the worker drains a backlog, with the next write
 * when it comes within WORKER_PROGRESS_MIN_MS). While a stage runs, the job's
 * state is checked every WORKER_CHECK_MS so that a cancel stops it within a
 * second. Never exits the process. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "num.h"
#include "stage_builtin.h"
#include "stage_exec.h"
#include "stage_serve.h"
#include "stagefield.h"
#include "worker.h"

#define WORKER_CHECK_MS    250        /* how often a running job's state is read */
#define RUN_BACKOFF_MAX_MS 86400000LL /* a retry waits at most a day */
#define RUN_MESSAGE_MAX    1024       /* bytes of a progress message kept */
#define RUN_JSON_MAX_DEPTH 1000       /* cJSON's own limit: stageq wrote what it reads */

struct run {
    struct worker *w;
    const char *id;
    const struct wpart *part; /* the job's partition: every key named is of its slot */
    char job_key[KEYS_MAX_LEN];
    char attempt[24];
    int attempt_n;
    int max_attempts;
    const struct pipeline *pl;
    char queue[IDS_NAME_MAX_LEN + 1];
    const char *errors; /* earlier attempts' errors (JSON array text) or NULL; borrowed */
    int k;              /* current stage, 1-based */
    int n;              /* stage count */
    int result_ttl_s;
    /* progress coalescing */
    bool has_pending;
    double pending_fraction;
    char pending_message[RUN_MESSAGE_MAX];
    bool has_pending_message;
    int64_t last_write_ms; /* monotonic */
    int64_t last_check_ms; /* monotonic */
    int64_t deadline_ms;   /* monotonic end of the current builtin stage; 0 = none */
    bool is_timed_out;
    bool is_refused;      /* a write or check found the job canceled, expired or fenced */
    int64_t stop_seen_ms; /* monotonic time the worker was asked to stop; 0 = not */
    bool is_shutdown;     /* the grace period ran out: hand the job back */
    char refused[32];
    const struct exec_result *exec; /* details of a failed exec stage, for the error */
    int64_t stage_start_ms;         /* monotonic start of the current stage */
    int64_t begin_us;               /* monotonic start of the job's first stage */
    /* Stage transitions not written yet: while the worker drains a backlog
     * (pipe_has_backlog), a stage that ends within WORKER_PROGRESS_MIN_MS of
     * the last write is written with the next one (the next transition,
     * progress, or the end), like progress. */
    struct rargv adv;
    bool has_adv;
    /* the end being written: the state it writes, and whether its reply
     * answers a try sent again (then that state is our own first write) */
    const char *end_state;
    bool is_end_again;
    const struct job_hash *h; /* the started job's fields (borrowed) */
    /* A held job of a backlog runs unbegun: Redis still has it queued (on our
     * processing list, reserved), and its end writes its start too (finish.lua's
     * '.begun'), so a fast job costs one write. A write before its end, a
     * run of WORKER_PROGRESS_MIN_MS, or a hand-over begins it first
     * (run_begin). */
    bool is_unbegun;
    char begun_ts[CLOCK_RFC3339_LEN]; /* when it began here: its started_at */
    struct stagefield_run sr;         /* what it writes, in the hash's layout (stagefield.h) */
};

static void run_ts(char ts[CLOCK_RFC3339_LEN])
{
    clock_format_rfc3339(clock_now_ms(), ts);
}

/* True when the job's attempt field at names an attempt other than ours, as
 * fence.lua judges it: every attempt stageq writes is an integer, so one that
 * is not (edited by hand) names no other owner and fences nobody. */
static bool run_is_other_attempt(const redisReply *at, const char *ours)
{
    long long n;

    if (at->type != REDIS_REPLY_STRING)
        return true; /* no attempt: the job was written again without one */
    return strcmp(at->str, ours) != 0 && num_parse_ll(at->str, 0, INT_MAX, &n, NULL) == 0;
}

/* Reads a fenced script's answer: 0 'ok', 1 refused (r->refused says why),
 * -1 an error (logged). */
static int run_result(struct run *r, const redisReply *rep)
{
    if (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING) {
        if (strcmp(rep->str, "ok") == 0 ||
            (r->is_end_again && r->end_state != NULL && strcmp(rep->str, r->end_state) == 0))
            return 0;
        snprintf(r->refused, sizeof(r->refused), "%s", rep->str);
        r->is_refused = true;
        return 1;
    }
    log_write(LOG_LEVEL_ERROR, 0, r->id, "state change failed: %.*s",
              rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 0,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    return -1;
}

/* Begins a job run unbegun (fetch_begin, its start the time it began
 * here). Returns as run_write: 0 begun (or it was already), 1 refused
 * (r->refused says why), -1 Redis did not answer (it runs on unbegun: the
 * next write tries again). */
static int run_begin(struct run *r, bool is_retrying)
{
    int rc;

    if (!r->is_unbegun)
        return 0;
    rc = fetch_begin(r->w, r->id, r->begun_ts, is_retrying, r->attempt, r->refused);
    if (rc == 1)
        r->is_refused = true;
    if (rc == 0)
        r->is_unbegun = false;
    return rc;
}

/* Which pending stage runs a write carries. */
enum run_stats { RUN_STATS_NONE, RUN_STATS_DUE, RUN_STATS_ALL };

/* The pending stage runs to send (stats.lua's spec, the caller frees it):
 * every one with RUN_STATS_ALL, with RUN_STATS_DUE when due; NULL when
 * there are none to send. */
static char *run_stats_spec(struct run *r, enum run_stats which)
{
    struct wstats *st = &r->w->stats;

    if (which == RUN_STATS_ALL ? wstats_is_pending(st)
                               : which == RUN_STATS_DUE && wstats_is_due(st, clock_mono_ms()))
        return wstats_spec(st);
    return NULL;
}

/* Adds the stage statistics keys of spec's pipelines in the job's slot:
 * how many, or 0 with *spec dropped (freed, NULL) when a name does not fit
 * (the runs stay pending; a is unchanged then only if none was added, so
 * the caller adds the keys last). */
static int run_stats_keys(struct run *r, struct rargv *a, char **spec)
{
    int n;

    if (*spec == NULL)
        return 0;
    n = wstats_add_keys(a, *spec, r->w->cfg->prefix, r->part->tag);
    if (n < 0) {
        free(*spec);
        *spec = NULL;
        return 0;
    }
    return n;
}

/* Reads a fenced write's reply rep (NULL: Redis unreachable, logged when
 * is_retrying: a state change lost), which carried the stage runs spec (NULL
 * when none; cleared once recorded). Frees rep and spec. Returns as
 * run_write. */
static int run_answer(struct run *r, redisReply *rep, char *spec, bool is_retrying)
{
    int rc;

    if (rep == NULL) {
        free(spec);
        if (is_retrying)
            log_write(LOG_LEVEL_ERROR, 0, r->id, "state change not written: redis unreachable");
        return -1;
    }
    rc = run_result(r, rep);
    if (spec != NULL && rc >= 0) /* recorded by the script */
        wstats_clear(&r->w->stats, clock_mono_ms());
    free(spec);
    freeReplyObject(rep);
    return rc;
}

/* Sends fields with update.lua or retry.lua. With is_retrying, waits through
 * Redis outages (state changes must not be lost); without, one try
 * (progress). Returns 0 when written, 1 when refused (r->refused says why),
 * -1 when Redis could not be reached. */
static int run_write(struct run *r, enum script_id script, long long ttl,
                     const struct rargv *fields, bool is_retrying, long long due_ms)
{
    char qkey[KEYS_MAX_LEN], dkey[KEYS_MAX_LEN], wake[KEYS_MAX_LEN];
    const char *prefix = r->w->cfg->prefix;
    char *spec = NULL;
    struct rargv a;
    redisReply *rep;
    struct sq_err err;
    int nkeys = 1, rc;

    if ((rc = run_begin(r, is_retrying)) != 0)
        return rc;
    rargv_init(&a);
    rargv_add(&a, r->job_key);
    if (script == SCRIPT_RETRY) {
        keys_queue(qkey, sizeof(qkey), prefix, r->part->tag, r->queue);
        keys_delayed(dkey, sizeof(dkey), prefix, r->part->tag, r->queue);
        keys_wake(wake, sizeof(wake), prefix, r->queue);
        rargv_add(&a, r->part->processing_key);
        rargv_add(&a, qkey);
        rargv_add(&a, dkey);
        rargv_add(&a, r->part->counters_key);
        rargv_add(&a, r->part->current_key);
        nkeys = 6;
    } else {
        spec = run_stats_spec(r, RUN_STATS_DUE);
        nkeys += run_stats_keys(r, &a, &spec);
    }
    rargv_add(&a, r->attempt);
    rargv_addll(&a, ttl);
    if (script == SCRIPT_RETRY) {
        char next[IDS_MAX_LEN + 1];
        fetch_next_held_id(r->w, next);
        if (worker_part(r->w, next) != r->part)
            next[0] = '\0'; /* never: the held jobs are of the running one's partition */
        rargv_add(&a, r->id);
        rargv_addll(&a, due_ms);
        rargv_addll(&a, r->n);
        rargv_add(&a, next);
        rargv_add(&a, r->w->id);
        rargv_add(&a, r->w->events_chan);
        rargv_add(&a, wake);
    } else {
        rargv_add(&a, r->w->events_chan);
        rargv_add(&a, r->id);
        rargv_add(&a, spec != NULL ? spec : "");
        rargv_add(&a, r->w->id); /* fenced by the worker too */
    }
    stagefield_run_write(&r->sr, fields, &a);
    r->is_end_again = false;
    if (script == SCRIPT_RETRY) /* a job's end here: confirmed with min_replicas */
        rep = wredis_end(r->w, script, nkeys, &a, r->id, false, &r->is_end_again);
    else
        rep = is_retrying ? wredis_script(r->w, script, nkeys, &a)
                          : rconn_script(r->w->rc, script, nkeys, &a, &err);
    rargv_free(&a);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR &&
        err_reply_code(rep->str, rep->len) == SQ_ERR_TRANSIENT) {
        freeReplyObject(rep); /* one try (progress): kept for the next write */
        rep = NULL;
    }
    rc = run_answer(r, rep, spec, is_retrying);
    if (rc == 0)
        stagefield_run_written(&r->sr);
    return rc;
}

/* finish.lua's arguments (*nkeys its keys): it also takes `take` jobs,
 * begins the next held job and reserve-reads the held ids of the job's
 * partition no end sent reads yet (*is_read), and carries the pending stage
 * runs `which` says (*spec, freed by the caller). */
static void run_finish_args(struct run *r, struct rargv *a, long long ttl,
                            const struct rargv *fields, int take, enum run_stats which, char **spec,
                            int *nkeys, bool *is_read)
{
    char ts[CLOCK_RFC3339_LEN], next[IDS_MAX_LEN + 1], key[KEYS_MAX_LEN];
    char ids[WORKER_READ_MAX][IDS_MAX_LEN + 1];
    char fkey[KEYS_MAX_LEN];
    const char *prefix = r->w->cfg->prefix;
    bool is_due = wstats_is_due(&r->w->stats, clock_mono_ms());
    int order[WORKER_QUEUES_MAX];
    size_t i, nread;

    order_pick(r->w, order);
    fetch_next_held_id(r->w, next);
    if (next[0] != '\0' && worker_part(r->w, next) != r->part)
        next[0] = '\0'; /* never: the held jobs are of the running one's partition */
    if (fetch_next_is_unbegun(r->w))
        next[0] = '\0'; /* it runs unbegun: its own end begins it */
    nread = pipe_bare_ids(r->w, r->part, false, ids, WORKER_READ_MAX);
    *is_read = nread > 0;
    *spec = run_stats_spec(r, which);
    run_ts(ts);
    rargv_init(a);
    rargv_add(a, r->job_key);
    rargv_add(a, r->part->processing_key);
    rargv_add(a, r->part->counters_key);
    rargv_add(a, r->part->current_key);
    if (next[0] != '\0')
        keys_job(key, sizeof(key), prefix, r->part->tag, next);
    rargv_add(a, next[0] != '\0' ? key : r->job_key);
    /* the failed index of the job's own queue (a hopped job's is its stage's) */
    keys_failed(fkey, sizeof(fkey), prefix, r->part->tag, r->queue[0] ? r->queue : "default");
    rargv_add(a, fkey);
    for (i = 0; i < nread; i++) {
        keys_job(key, sizeof(key), prefix, r->part->tag, ids[i]);
        rargv_add(a, key);
    }
    *nkeys = 6 + (int)nread;
    *nkeys += run_stats_keys(r, a, spec);
    if (take > 0) /* takes chain in the job's own partition */
        *nkeys += order_add_keys(a, r->part, order, r->w->nqueues);
    rargv_add(a, r->attempt);
    rargv_addll(a, ttl);
    rargv_add(a, r->id);
    rargv_add(a, r->w->events_chan);
    rargv_addll(a, (long long)nread);
    /* RUN_STATS_ALL with 'idle': recorded unless a job is taken, so they are
     * in Redis by the time this worker waits */
    rargv_add(a, *spec != NULL ? *spec : ""); /* FINISH_ARGV_SPEC */
    rargv_add(a, is_due ? "now" : "idle");
    rargv_addll(a, take); /* FINISH_ARGV_TAKE */
    rargv_add(a, r->w->id);
    rargv_add(a, ts);
    rargv_addll(a, JOB_ACTIVE_TTL_S);
    rargv_add(a, next); /* begun and named current with this end, or "" */
    if (take > 0)
        order_add_spec(a, r->w, order);
    else
        rargv_add(a, "");
    pipe_set_begun(r->w, next);
    for (i = 0; i < nread; i++)
        rargv_add(a, ids[i]);
    rargv_addll(a, KEYS_FAILED_MAX);
    if (r->is_unbegun) { /* finish.lua writes its start with its end */
        rargv_add(a, ".begun");
        rargv_add(a, r->begun_ts);
    }
    stagefield_run_write(&r->sr, fields, a);
}

/* Writes the job's end with finish.lua. While the worker holds jobs taken
 * before (may_defer: a success), it is sent without waiting for the reply
 * (pipe.c) — taking the next batch when half of the held ones are left —
 * and returns 2: the outcome is logged when the reply is read. Otherwise it
 * waits through Redis outages, and while the worker has a backlog and is not
 * stopping the same call takes its next job, or a batch after a fast one
 * (held by pipe.c for fetch_next). Returns as run_write. */
static int run_write_finish(struct run *r, long long ttl, const struct rargv *fields,
                            bool may_defer)
{
    struct worker *w = r->w;
    int take, nkeys;
    bool is_take, is_unconfirmed = false, is_read;
    char *spec = NULL;
    struct rargv a;
    struct sq_err err;
    redisReply *rep = NULL;
    int rc;

    if (pipe_plan_end(w, clock_mono_us() - r->begin_us, may_defer, &take) == 1) {
        run_finish_args(r, &a, ttl, fields, take, RUN_STATS_DUE, &spec, &nkeys, &is_read);
        if (pipe_send_finish(w, r->id, &a, nkeys, take, is_read) == 0) {
            if (spec != NULL) /* sent: sent again with the end if its reply is lost */
                wstats_clear(&w->stats, clock_mono_ms());
            free(spec);
            return 2;
        }
        rargv_free(&a);
        free(spec);
        take = 0; /* not sent: written below, waiting, taking nothing */
    }
    is_take = take > 0;
    run_finish_args(r, &a, ttl, fields, take, RUN_STATS_ALL, &spec, &nkeys, &is_read);
    r->is_end_again = false;
    if (is_take) {
        /* one try: a lost reply may have taken jobs onto our processing
         * list, which recover_own puts back; the retries below take none */
        rep = rconn_script(w->rc, SCRIPT_FINISH, nkeys, &a, &err);
        if (rep != NULL && rep->type == REDIS_REPLY_ERROR &&
            err_reply_code(rep->str, rep->len) == SQ_ERR_TRANSIENT) {
            freeReplyObject(rep); /* not now (the master moved): as a lost reply */
            rep = NULL;
        }
        if (rep == NULL) {
            pipe_set_take_lost(w);
            rargv_free(&a);
            free(spec);
            run_finish_args(r, &a, ttl, fields, 0, RUN_STATS_ALL, &spec, &nkeys, &is_read);
            r->is_end_again = true; /* the lost try may have been written */
        } else if (!wredis_end_confirmed(w, rep, rconn_connects(w->rc), r->id, false)) {
            is_unconfirmed = true; /* written again below, once its takes are held */
        }
    }
    if (rep == NULL)
        rep = wredis_end(w, SCRIPT_FINISH, nkeys, &a, r->id, r->is_end_again, &r->is_end_again);
    if (rep == NULL) {
        rargv_free(&a);
        free(spec);
        log_write(LOG_LEVEL_ERROR, 0, r->id, "state change not written: redis unreachable");
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != FINISH_REPLY_LEN) {
        rc = run_result(r, rep); /* an error */
    } else {
        rc = run_result(r, rep->element[0]);
        if (spec != NULL && rep->element[1]->type == REDIS_REPLY_INTEGER &&
            rep->element[1]->integer == 1)
            wstats_clear(&w->stats, clock_mono_ms());
        pipe_hold(w, rep, take);
    }
    if (is_unconfirmed) {
        /* kept until the replicas have it: again, taking nothing and
         * recording no stage run twice (the first try did both) */
        rargv_set(&a, WORKER_ARGV(nkeys, FINISH_ARGV_TAKE), "0");
        rargv_set(&a, WORKER_ARGV(nkeys, FINISH_ARGV_SPEC), "");
        freeReplyObject(wredis_end(w, SCRIPT_FINISH, nkeys, &a, r->id, true, NULL));
    }
    rargv_free(&a);
    free(spec);
    freeReplyObject(rep);
    return rc;
}

/* Stage r->k succeeded: its duration joins the worker's pending stage runs. */
static void run_record_stage(struct run *r)
{
    wstats_add(&r->w->stats, r->pl->name, r->k, r->pl->stages[r->k - 1].name,
               (long long)(clock_mono_ms() - r->stage_start_ms));
}

/* Sets field in a field, value vector: replaces its value when it is there
 * already (a stage's 'running' becomes 'succeeded'), else appends the pair. */
static void run_fields_put(struct rargv *a, const char *field, const char *value)
{
    size_t i;

    for (i = 0; i + 1 < a->argc; i += 2)
        if (strcmp(a->argv[i], field) == 0) {
            rargv_set(a, i + 1, value);
            return;
        }
    rargv_add(a, field);
    rargv_add(a, value);
}

/* Appends the pending stage transitions to a (they go first: later fields of
 * the same write override theirs): every stage field once, then the current
 * stage and, unless has_progress (the caller writes them), its progress 0
 * and an empty message. */
static void run_take_adv(struct run *r, struct rargv *a, bool has_progress)
{
    char next[16];
    size_t i;

    if (!r->has_adv)
        return;
    for (i = 0; i < r->adv.argc; i++)
        rargv_addlen(a, r->adv.argv[i], r->adv.lens[i]);
    snprintf(next, sizeof(next), "%d", r->k);
    rargv_add(a, JOB_F_STAGE);
    rargv_add(a, next);
    rargv_add(a, JOB_F_STAGE_NAME);
    rargv_add(a, r->pl->stages[r->k - 1].name);
    if (!has_progress) {
        rargv_add(a, JOB_F_PROGRESS);
        rargv_add(a, "0.0000");
        rargv_add(a, JOB_F_OVERALL);
        rargv_addf(a, "%.4f", job_overall_progress(r->k, r->n, 0.0));
    }
    if (!has_progress && !r->has_pending_message) {
        rargv_add(a, JOB_F_MESSAGE);
        rargv_add(a, "");
    }
}

/* The pending transitions were written. */
static void run_adv_written(struct run *r)
{
    rargv_free(&r->adv);
    rargv_init(&r->adv);
    r->has_adv = false;
}

static void run_add_stage_field(struct rargv *a, int k, const char *what, const char *value)
{
    char field[64];

    keys_stage_field(field, sizeof(field), k, what);
    rargv_add(a, field);
    rargv_add(a, value);
}

static void run_add_field(struct rargv *a, const char *field, const char *value)
{
    rargv_add(a, field);
    rargv_add(a, value);
}

static void run_add_num(struct rargv *a, const char *field, double v)
{
    rargv_add(a, field);
    rargv_addf(a, "%.4f", v);
}

/* Writes the pending stage transitions and progress. While a stage runs
 * (is_retrying false) one try: when Redis is away they stay pending and the
 * stage goes on. Between stages (is_retrying) it waits through an outage, as
 * every state change does. */
static void run_flush(struct run *r, bool is_retrying)
{
    char ts[CLOCK_RFC3339_LEN];
    struct rargv a;

    if (!r->has_pending && !r->has_adv)
        return;
    run_ts(ts);
    rargv_init(&a);
    run_take_adv(r, &a, r->has_pending);
    if (r->has_pending) {
        run_add_num(&a, JOB_F_PROGRESS, r->pending_fraction);
        run_add_num(&a, JOB_F_OVERALL, job_overall_progress(r->k, r->n, r->pending_fraction));
    }
    if (r->has_pending_message)
        run_add_field(&a, JOB_F_MESSAGE, r->pending_message);
    run_add_field(&a, JOB_F_UPDATED_AT, ts);
    if (run_write(r, SCRIPT_UPDATE, JOB_ACTIVE_TTL_S, &a, is_retrying && r->has_adv, 0) >= 0) {
        r->has_pending = false;
        r->has_pending_message = false;
        if (r->has_adv)
            run_adv_written(r);
    }
    rargv_free(&a);
    r->last_write_ms = r->last_check_ms = clock_mono_ms();
}

/* Notes the latest progress; it is written by run_check when due. */
static void run_note(struct run *r, double fraction, const char *message)
{
    if (!(fraction >= 0.0))
        fraction = 0.0;
    if (fraction > 1.0)
        fraction = 1.0;
    r->pending_fraction = fraction;
    r->has_pending = true;
    if (message != NULL) {
        snprintf(r->pending_message, sizeof(r->pending_message), "%s", message);
        r->has_pending_message = true;
    }
}

/* Reads the job's state and attempt: is it still ours to run? One try. */
static void run_read_state(struct run *r)
{
    struct rargv a;
    struct sq_err err;
    redisReply *rep;

    rargv_init(&a);
    rargv_add(&a, "HMGET");
    rargv_add(&a, r->job_key);
    rargv_add(&a, JOB_F_STATE);
    rargv_add(&a, JOB_F_ATTEMPT);
    rargv_add(&a, JOB_F_WORKER);
    rep = rconn_command(r->w->rc, &a, &err);
    rargv_free(&a);
    r->last_check_ms = clock_mono_ms();
    if (rep == NULL)
        return; /* Redis away: the stage goes on; the next write will wait for it */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3) {
        const redisReply *st = rep->element[0], *at = rep->element[1], *wk = rep->element[2];
        const char *why = NULL;
        if (st->type != REDIS_REPLY_STRING)
            why = "missing";
        else if (strcmp(st->str, "running") != 0)
            why = st->str;
        else if (run_is_other_attempt(at, r->attempt) ||
                 (wk->type == REDIS_REPLY_STRING && strcmp(wk->str, r->w->id) != 0))
            why = "fenced"; /* another attempt, or a held job another worker began */
        if (why != NULL) {
            snprintf(r->refused, sizeof(r->refused), "%s", why);
            r->is_refused = true;
        }
    }
    freeReplyObject(rep);
}

/* Called often while a stage runs: writes due progress, notices a cancel and
 * a builtin's timeout. Non-zero: the stage must stop. */
static int run_check(struct run *r)
{
    int64_t now = clock_mono_ms();

    log_flush_due();      /* a long builtin stage checks here */
    pipe_flush_due(r->w); /* the ends before it, that wait to share a write */
    if (r->is_refused || r->is_timed_out || r->is_shutdown)
        return 1;
    if (r->is_unbegun && now - r->begin_us / 1000 >= WORKER_PROGRESS_MIN_MS &&
        now - r->last_check_ms >= WORKER_PROGRESS_MIN_MS) {
        /* it runs long: watchers see it running from here (tried again
         * every WORKER_PROGRESS_MIN_MS while Redis does not answer) */
        r->last_check_ms = now;
        if (run_begin(r, false) == 1)
            return 1;
    }
    if (*r->w->stop && r->stop_seen_ms == 0) {
        r->stop_seen_ms = now;
        log_write(LOG_LEVEL_INFO, 0, r->id, "stopping: stage %d may run %d s more", r->k,
                  r->w->cfg->grace_s);
    }
    if (r->stop_seen_ms != 0 && now - r->stop_seen_ms >= (int64_t)r->w->cfg->grace_s * 1000) {
        r->is_shutdown = true;
        return 1;
    }
    lease_heartbeat(r->w, false);
    if (pipe_is_busy(r->w) && now - r->begin_us / 1000 >= WORKER_HOLD_MAX_MS)
        fetch_hand_back(r->w); /* this job is slow: the held ones run elsewhere */
    if (r->deadline_ms != 0 && now >= r->deadline_ms) {
        r->is_timed_out = true;
        return 1;
    }
    if ((r->has_pending || r->has_adv) && now - r->last_write_ms >= WORKER_PROGRESS_MIN_MS)
        run_flush(r, false);
    else if (!r->is_unbegun && now - r->last_check_ms >= WORKER_CHECK_MS)
        run_read_state(r); /* (unbegun, Redis has it queued: the begin looks) */
    return r->is_refused ? 1 : 0;
}

/* Progress callback of builtin stages. */
static int run_report(void *arg, double fraction, const char *message)
{
    struct run *r = arg;

    run_note(r, fraction, message);
    return run_check(r);
}

static void run_on_progress(void *arg, double fraction, const char *message)
{
    run_note(arg, fraction, message);
}

static int run_should_stop(void *arg)
{
    log_flush(); /* called every EXEC_TICK_MS while a stage program runs */
    return run_check(arg);
}

/* The error object of the current failure, printed. Caller frees with cJSON_free. */
static char *run_error_text(const struct run *r, const struct stage_error *err)
{
    cJSON *e = cJSON_CreateObject();
    char ts[CLOCK_RFC3339_LEN], *text;

    run_ts(ts);
    cJSON_AddStringToObject(e, "code", err->code);
    cJSON_AddStringToObject(e, "message", err->message);
    if (r->pl != NULL && r->k >= 1 && r->k <= (int)r->pl->nstages)
        cJSON_AddStringToObject(e, "stage", r->pl->stages[r->k - 1].name);
    cJSON_AddNumberToObject(e, "stage_index", r->k);
    cJSON_AddNumberToObject(e, "attempt", r->attempt_n);
    cJSON_AddBoolToObject(e, "retryable", err->is_retryable);
    if (r->exec != NULL) {
        if (r->exec->outcome == EXEC_EXIT)
            cJSON_AddNumberToObject(e, "exit_status", r->exec->exit_status);
        if (r->exec->outcome == EXEC_SIGNAL)
            cJSON_AddNumberToObject(e, "signal", r->exec->signal);
        cJSON_AddStringToObject(e, "stderr_tail", r->exec->stderr_tail);
        if (r->exec->bad_progress_lines > 0)
            cJSON_AddNumberToObject(e, "bad_progress_lines", r->exec->bad_progress_lines);
    }
    cJSON_AddStringToObject(e, "at", ts);
    text = json_print(e);
    cJSON_Delete(e);
    return text;
}

/* The errors of every attempt so far, with err_text appended. Caller frees. */
static char *run_errors_text(const struct run *r, const char *err_text)
{
    cJSON *arr = r->errors ? cJSON_Parse(r->errors) : NULL, *e = cJSON_Parse(err_text);
    char *text;

    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        arr = cJSON_CreateArray();
    }
    if (e != NULL)
        cJSON_AddItemToArray(arr, e);
    text = json_print(arr);
    cJSON_Delete(arr);
    return text;
}

/* Writes the job's end: succeeded with result (stage_out), or failed with err. */
static void run_finish(struct run *r, const char *stage_out, const struct stage_error *err)
{
    char ts[CLOCK_RFC3339_LEN], *errtext = NULL, *errs = NULL;
    struct rargv a;
    enum job_state st = err ? JOB_FAILED : JOB_SUCCEEDED;
    int rc;

    run_ts(ts);
    rargv_init(&a);
    run_take_adv(r, &a, err == NULL);
    if (r->k >= 1) {
        char field[64];
        keys_stage_field(field, sizeof(field), r->k, "state");
        run_fields_put(&a, field, err ? "failed" : "succeeded");
        run_add_stage_field(&a, r->k, "finished_at", ts);
    }
    if (err != NULL) {
        errtext = run_error_text(r, err);
        errs = errtext ? run_errors_text(r, errtext) : NULL;
        run_add_field(&a, JOB_F_ERROR, errtext ? errtext : "{\"code\":\"internal\"}");
        run_add_field(&a, JOB_F_ERRORS, errs ? errs : "[]");
    } else {
        if (stage_out == NULL)
            stage_out = "null";
        run_add_stage_field(&a, r->k, "output", stage_out);
        run_add_field(&a, JOB_F_RESULT, stage_out);
        if (r->k >= 1)
            run_record_stage(r);
        run_add_num(&a, JOB_F_PROGRESS, 1.0);
        run_add_num(&a, JOB_F_OVERALL, 1.0);
        run_add_field(&a, JOB_F_MESSAGE, "");
    }
    run_add_field(&a, JOB_F_STATE, job_state_name(st));
    run_add_field(&a, JOB_F_NEXT_ATTEMPT_AT, "");
    run_add_field(&a, JOB_F_FINISHED_AT, ts);
    run_add_field(&a, JOB_F_UPDATED_AT, ts);
    r->end_state = job_state_name(st);
    rc = run_write_finish(r, job_ttl_for(st, r->result_ttl_s), &a, err == NULL);
    r->end_state = NULL;
    run_adv_written(r);
    switch (rc) {
    case 0:
        if (err != NULL)
            log_write(LOG_LEVEL_WARN, 0, r->id, "failed in stage %d (attempt %d/%d): %s: %s", r->k,
                      r->attempt_n, r->max_attempts, err->code, err->message);
        else
            log_write(LOG_LEVEL_INFO, 0, r->id, "succeeded");
        break;
    case 1: /* finish.lua has already dropped it from our processing list */
        log_write(LOG_LEVEL_INFO, 0, r->id, "end not recorded: job is %s", r->refused);
        break;
    default:
        break;
    }
    cJSON_free(errtext);
    cJSON_free(errs);
    rargv_free(&a);
}

/* The attempt failed and may be retried: back on the queue after backoff. */
static void run_retry(struct run *r, const struct stage_error *err)
{
    char ts[CLOCK_RFC3339_LEN], due_ts[CLOCK_RFC3339_LEN], *errtext, *errs;
    long long delay_ms = (long long)r->pl->backoff_s * 1000, due = 0;
    struct rargv a;
    int i, rc;

    /* the stages that succeeded are written first: retry.lua resets the
     * others, and a resumed attempt starts after them */
    if (r->has_adv)
        run_flush(r, true);
    for (i = 1; i < r->attempt_n && delay_ms < RUN_BACKOFF_MAX_MS; i++)
        delay_ms *= 2;
    if (delay_ms > RUN_BACKOFF_MAX_MS)
        delay_ms = RUN_BACKOFF_MAX_MS;
    run_ts(ts);
    if (delay_ms > 0) {
        due = clock_now_ms() + delay_ms;
        clock_format_rfc3339(due, due_ts);
    }
    errtext = run_error_text(r, err);
    errs = errtext ? run_errors_text(r, errtext) : NULL;
    rargv_init(&a);
    run_add_field(&a, JOB_F_STATE, job_state_name(JOB_QUEUED));
    run_add_field(&a, JOB_F_STAGE, "0");
    run_add_field(&a, JOB_F_STAGE_NAME, "");
    run_add_num(&a, JOB_F_PROGRESS, 0.0);
    run_add_num(&a, JOB_F_OVERALL, 0.0);
    run_add_field(&a, JOB_F_MESSAGE, "");
    run_add_field(&a, JOB_F_ERROR, errtext ? errtext : "{\"code\":\"internal\"}");
    run_add_field(&a, JOB_F_ERRORS, errs ? errs : "[]");
    run_add_field(&a, JOB_F_NEXT_ATTEMPT_AT, due ? due_ts : "");
    run_add_field(&a, JOB_F_UPDATED_AT, ts);
    r->end_state = job_state_name(JOB_QUEUED);
    rc = run_write(r, SCRIPT_RETRY, JOB_ACTIVE_TTL_S, &a, true, due);
    r->end_state = NULL;
    if (rc == 0)
        log_write(LOG_LEVEL_WARN, 0, r->id,
                  "attempt %d/%d failed in stage %d: %s: %s; retry in %lld ms", r->attempt_n,
                  r->max_attempts, r->k, err->code, err->message, delay_ms);
    else if (r->is_refused)
        log_write(LOG_LEVEL_INFO, 0, r->id, "retry not recorded: job is %s", r->refused);
    cJSON_free(errtext);
    cJSON_free(errs);
    rargv_free(&a);
}

/* The queue stage k+1 runs on when it is not this job's queue (the job's
 * stages name queues: its hash holds every stage's), else NULL. */
static const char *run_next_queue(const struct run *r)
{
    char field[64];
    const char *q;

    keys_stage_field(field, sizeof(field), r->k + 1, "queue");
    q = job_hash_get(r->h, field);
    return q != NULL && strcmp(q, r->queue) != 0 ? q : NULL;
}

/* Sends hop.lua's fields (the end of the job here: waits through Redis
 * outages, confirmed with min_replicas). Returns as run_write. */
static int run_write_hop(struct run *r, const char *queue, const struct rargv *fields)
{
    char qkey[KEYS_MAX_LEN], wake[KEYS_MAX_LEN], next[IDS_MAX_LEN + 1];
    char *spec = run_stats_spec(r, RUN_STATS_ALL);
    struct rargv a;
    redisReply *rep;
    int nkeys = 4, rc;

    if ((rc = run_begin(r, true)) != 0) {
        free(spec);
        return rc;
    }
    /* the job's own slot: the queues of its pipeline have its partition count */
    keys_queue(qkey, sizeof(qkey), r->w->cfg->prefix, r->part->tag, queue);
    keys_wake(wake, sizeof(wake), r->w->cfg->prefix, queue);
    fetch_next_held_id(r->w, next);
    rargv_init(&a);
    rargv_add(&a, r->job_key);
    rargv_add(&a, r->part->processing_key);
    rargv_add(&a, qkey);
    rargv_add(&a, r->part->current_key);
    nkeys += run_stats_keys(r, &a, &spec);
    rargv_add(&a, r->attempt);
    rargv_addll(&a, JOB_ACTIVE_TTL_S);
    rargv_add(&a, r->id);
    rargv_add(&a, r->w->id);
    rargv_add(&a, next);
    rargv_add(&a, r->w->events_chan);
    rargv_add(&a, wake);
    rargv_add(&a, spec != NULL ? spec : "");
    stagefield_run_write(&r->sr, fields, &a);
    r->is_end_again = false;
    rep = wredis_end(r->w, SCRIPT_HOP, nkeys, &a, r->id, false, &r->is_end_again);
    rargv_free(&a);
    return run_answer(r, rep, spec, true);
}

/* Stage k finished with output `out` and stage k+1 runs on `queue`: store
 * the output and hand the job over to that queue, in one step (hop.lua). */
static void run_hop(struct run *r, const char *out, const char *queue)
{
    char ts[CLOCK_RFC3339_LEN], field[64], num[16];
    struct rargv a;
    int rc;

    run_ts(ts);
    rargv_init(&a);
    run_take_adv(r, &a, true); /* the transitions before it not written yet */
    keys_stage_field(field, sizeof(field), r->k, "state");
    run_fields_put(&a, field, "succeeded");
    run_add_stage_field(&a, r->k, "finished_at", ts);
    run_add_stage_field(&a, r->k, "output", out);
    run_record_stage(r);
    snprintf(num, sizeof(num), "%d", r->k);
    run_fields_put(&a, JOB_F_STAGE, num);
    run_fields_put(&a, JOB_F_STAGE_NAME, r->pl->stages[r->k - 1].name);
    run_fields_put(&a, JOB_F_PROGRESS, "1.0000");
    snprintf(num, sizeof(num), "%.4f", job_overall_progress(r->k, r->n, 1.0));
    run_fields_put(&a, JOB_F_OVERALL, num);
    run_fields_put(&a, JOB_F_MESSAGE, "");
    run_fields_put(&a, JOB_F_STATE, job_state_name(JOB_QUEUED));
    run_fields_put(&a, JOB_F_QUEUE, queue);
    snprintf(num, sizeof(num), "%d", r->k + 1);
    run_fields_put(&a, JOB_F_NEXT_STAGE, num);
    run_fields_put(&a, JOB_F_UPDATED_AT, ts);
    r->end_state = job_state_name(JOB_QUEUED);
    rc = run_write_hop(r, queue, &a);
    r->end_state = NULL;
    run_adv_written(r);
    if (rc == 0)
        log_write(LOG_LEVEL_INFO, 0, r->id, "stage %d done: handed over to queue %s for stage %d",
                  r->k, queue, r->k + 1);
    else if (rc == 1)
        log_write(LOG_LEVEL_INFO, 0, r->id, "hand-over not recorded: job is %s", r->refused);
    rargv_free(&a);
}

/* Stage k finished with output `out`: mark it and start stage k+1, one write
 * — or none yet while the worker drains a backlog and the last write is under
 * WORKER_PROGRESS_MIN_MS old: then it goes with the next write (a later
 * transition, progress, or the end), so a backlog of jobs of fast stages costs
 * one write per job, not one per stage. Without a backlog it is written at
 * once: the worker has time for it, and a watcher sees the stage start when
 * it starts, not with the next write (up to the stage's end for a builtin
 * that reports no progress). Returns as run_write (0 when deferred). */
static int run_advance(struct run *r, const char *out)
{
    char ts[CLOCK_RFC3339_LEN], field[64];
    struct rargv *a = &r->adv;
    int64_t now;

    run_ts(ts);
    keys_stage_field(field, sizeof(field), r->k, "state");
    run_fields_put(a, field, "succeeded"); /* its 'running', when not written yet */
    run_add_stage_field(a, r->k, "finished_at", ts);
    run_add_stage_field(a, r->k, "output", out);
    run_add_stage_field(a, r->k + 1, "state", "running");
    run_add_stage_field(a, r->k + 1, "started_at", ts);
    run_record_stage(r);
    r->has_adv = true;
    r->k++;
    now = clock_mono_ms();
    r->stage_start_ms = now;
    r->has_pending = r->has_pending_message = false; /* the last stage's progress is moot */
    if (pipe_has_backlog(r->w) && now - r->last_write_ms < WORKER_PROGRESS_MIN_MS)
        return 0;
    run_flush(r, true);
    if (r->has_adv) /* Redis unreachable for good (run_write logged it) */
        return -1;
    return r->is_refused ? 1 : 0;
}

/* The worker is stopping: hand the job back to the front of its queue at
 * once; stage k (interrupted, or not started yet) runs again elsewhere, its
 * predecessors' outputs kept. is_unstarted: no stage of it ran (the attempt
 * is given back). */
static void run_requeue(struct run *r, int k, bool is_unstarted)
{
    if (r->is_unbegun) { /* still a reservation in Redis: back as it was */
        fetch_requeue(r->w, r->id, r->queue, r->attempt, 1, true, true);
        return;
    }
    if (r->has_adv)
        run_flush(r, true); /* requeue.lua keeps the stages before k */
    fetch_requeue(r->w, r->id, r->queue, r->attempt, k, is_unstarted, true);
}

/* The job was canceled, expired or taken over: drop it from our list. */
static void run_abandon(struct run *r)
{
    struct rargv a;

    log_write(LOG_LEVEL_INFO, 0, r->id, "stopped in stage %d: job is %s", r->k, r->refused);
    rargv_init(&a);
    run_add_field(&a, JOB_F_UPDATED_AT, "-");
    run_write_finish(r, JOB_ACTIVE_TTL_S, &a, false); /* refused; drops the entry */
    rargv_free(&a);
}

/* Runs builtin stage sd on the JSON text in, whose tree is *tree (parsed
 * here when NULL, and kept there). 0 with *out the output text (cJSON_free),
 * or -1 with serr set. */
static int run_builtin(struct run *r, const struct stage_def *sd, const char *in, cJSON **tree,
                       char **out, struct stage_error *serr)
{
    stage_builtin_fn fn = stage_builtin_find(sd->builtin);
    struct stage_ctx ctx = {run_report, r, false, r->k};
    struct stage_input input;
    struct json_err jerr;
    cJSON *o = NULL;

    if (fn == NULL)
        return stage_error_set(serr, "unknown_builtin", false, "no builtin stage '%s'",
                               sd->builtin);
    if (*tree == NULL &&
        (*tree = json_parse_exact(in, strlen(in), RUN_JSON_MAX_DEPTH, &jerr)) == NULL)
        return stage_error_set(serr, "invalid_input", false,
                               "the stage input is not valid JSON: %s", jerr.msg);
    input.text = in;
    input.json = *tree;
    r->deadline_ms = sd->timeout_s > 0 ? clock_mono_ms() + (int64_t)sd->timeout_s * 1000 : 0;
    if (fn(&input, &ctx, &o, serr) < 0)
        return -1;
    *out = json_print(o); /* raw items (numbers, echo's input) print as they are */
    cJSON_Delete(o);
    if (*out == NULL)
        return stage_error_set(serr, "out_of_memory", true, "cannot print the stage output");
    return 0;
}

static int run_exec(struct run *r, const struct stage_def *sd, const char *in, char **out,
                    struct stage_error *serr, struct exec_result *res)
{
    struct exec_spec spec;
    struct exec_hooks hooks = {run_on_progress, run_should_stop, r};
    static const char *const codes[] = {
        [EXEC_OK] = "ok",
        [EXEC_EXIT] = "exit_status",
        [EXEC_SIGNAL] = "killed_by_signal",
        [EXEC_TIMEOUT] = "timeout",
        [EXEC_SPAWN_FAILED] = "spawn_failed",
        [EXEC_OUTPUT_TOO_LARGE] = "output_too_large",
        [EXEC_INVALID_OUTPUT] = "invalid_output",
        [EXEC_STOPPED] = "stopped",
        [EXEC_ERROR] = "stage_error",
    };
    int rc;

    pipe_flush(r->w); /* a program may run long: the ends before it go now */
    memset(&spec, 0, sizeof(spec));
    spec.argv = sd->argv;
    spec.env = sd->env;
    spec.cwd = sd->cwd;
    spec.timeout_s = sd->timeout_s;
    spec.kill_grace_ms = r->w->cfg->kill_grace_ms;
    spec.job_id = r->id;
    spec.stage_name = sd->name;
    spec.stage_index = r->k;
    spec.stage_count = r->n;
    spec.attempt = r->attempt_n;
    spec.pipeline = r->pl->name;
    spec.max_jobs = sd->max_jobs;
    spec.max_rss_mb = sd->max_rss_mb;
    r->deadline_ms = 0; /* stage_exec enforces the exec timeout itself */
    if (sd->is_serve && r->w->serve == NULL &&
        (r->w->serve = stage_serve_pool_new(spec.kill_grace_ms)) == NULL)
        return stage_error_set(serr, "worker_error", true, "out of memory");
    rc = sd->is_serve ? stage_serve_run(r->w->serve, &spec, in, &hooks, res)
                      : stage_exec_run(&spec, in, &hooks, res);
    if (rc < 0)
        return stage_error_set(serr, "worker_error", true, "%s", res->message);
    cJSON_Delete(res->output); /* the text goes on, as the program wrote it */
    res->output = NULL;
    if (res->outcome == EXEC_OK) {
        *out = res->output_text;
        res->output_text = NULL;
        return 0;
    }
    r->exec = res;
    /* A program says "do not retry" by exiting with EXEC_EXIT_PERMANENT
     * (EX_DATAERR), a warm one by answering an error with "retryable": false. */
    return stage_error_set(
        serr, codes[res->outcome],
        !(res->outcome == EXEC_EXIT && res->exit_status == EXEC_EXIT_PERMANENT) &&
            !(res->outcome == EXEC_ERROR && res->is_permanent),
        "%s", res->message);
}

/* Reads the started job's hash into r (the numbers: job_numbers_read, whose
 * fallbacks keep the guarantees for a field edited by hand). 0, or -1 with
 * serr set: the job is then failed. */
static int run_load(struct run *r, const struct job_hash *h, struct stage_error *serr)
{
    struct job_numbers nums;
    const char *v, *name, *bad;
    int nbad;

    name = job_hash_get(h, JOB_F_PIPELINE);
    r->pl = name ? pipeline_set_find(r->w->pipelines, name) : NULL;
    stagefield_run_init(&r->sr, h, r->pl);
    nbad = job_numbers_read(h, r->pl, &nums, &bad);
    r->max_attempts = nums.max_attempts;
    r->attempt_n = nums.attempt;
    r->result_ttl_s = nums.result_ttl_s;
    v = job_hash_get(h, JOB_F_ATTEMPT);
    snprintf(r->attempt, sizeof(r->attempt), "%s", v ? v : "0");
    v = job_hash_get(h, JOB_F_QUEUE);
    snprintf(r->queue, sizeof(r->queue), "%s", v ? v : r->w->cfg->queue);
    r->errors = job_hash_get(h, JOB_F_ERRORS);
    log_ctx_job(r->id, name); /* every line until the job ends names it */
    log_write(LOG_LEVEL_INFO, 0, r->id, "started: pipeline %s, attempt %s", name ? name : "?",
              r->attempt);
    if (nbad > 0)
        log_write(LOG_LEVEL_WARN, 0, r->id,
                  "%d number field(s) of the job are not numbers in range (%s: '%.32s'): "
                  "their fallbacks are used (see the job hash in docs/redis-keys.md)",
                  nbad, bad, job_hash_get(h, bad) ? job_hash_get(h, bad) : "missing");
    if (r->pl == NULL)
        return stage_error_set(serr, "unknown_pipeline", false,
                               "this worker has no pipeline '%.64s'", name ? name : "");
    r->n = (int)r->pl->nstages;
    if (nums.stage_count != r->n) {
        v = job_hash_get(h, JOB_F_STAGE_COUNT);
        return stage_error_set(serr, "pipeline_changed", false,
                               "the job has %.32s stages, pipeline '%s' now has %d", v ? v : "no",
                               r->pl->name, r->n);
    }
    r->k = nums.stage; /* start.lua's (a failure above is stage 1's) */
    return 0;
}

void run_job(struct worker *w, const char *id, const redisReply *hash)
{
    struct run r;
    struct job_hash h = {NULL, NULL, 0, NULL, 0, NULL};
    const char *v, *cur;    /* the next stage's input, JSON text: in h, or cur_owned */
    char *cur_owned = NULL; /* cJSON_free */
    cJSON *cur_json = NULL; /* cur parsed, once a builtin needed it */
    struct stage_error serr;
    struct exec_result res;
    struct json_err jerr;

    memset(&r, 0, sizeof(r));
    rargv_init(&r.adv);
    memset(&res, 0, sizeof(res));
    r.w = w;
    r.id = id;
    r.k = 1;
    r.last_write_ms = r.last_check_ms = r.stage_start_ms = clock_mono_ms();
    r.begin_us = clock_mono_us();
    r.is_unbegun = w->is_unbegun;
    w->is_unbegun = false;
    if (r.is_unbegun)
        run_ts(r.begun_ts);
    log_ctx_job(id, NULL);
    r.part = worker_part(w, id);
    keys_job(r.job_key, sizeof(r.job_key), w->cfg->prefix, r.part->tag, id);
    snprintf(w->current_job, sizeof(w->current_job), "%s", id);
    r.h = &h;
    if (job_hash_view(hash, &h) < 0 || h.n == 0) {
        log_write(LOG_LEVEL_ERROR, 0, id, "cannot read the started job (out of memory?)");
        goto done; /* stays on the processing list: recovered later */
    }
    if (run_load(&r, &h, &serr) < 0) {
        run_finish(&r, NULL, &serr);
        goto done;
    }
    /* start.lua picked the stage: 1, or the first unfinished one when resuming,
     * whose input is its predecessor's stored output. */
    log_ctx_stage(r.k, r.pl->stages[r.k - 1].name);
    if (r.k > 1) {
        char field[64];
        keys_stage_field(field, sizeof(field), r.k - 1, "output");
        v = job_hash_get(&h, field);
        log_write(LOG_LEVEL_INFO, 0, id, "resuming at stage %d", r.k);
    } else {
        v = job_hash_get(&h, JOB_F_INPUT);
    }
    /* the text goes to the stages as stored; parsed here only to refuse what
     * is not JSON (the tree serves a first builtin stage) */
    cur = v != NULL ? v : "null";
    cur_json = json_parse_exact(cur, strlen(cur), RUN_JSON_MAX_DEPTH, &jerr);
    if (cur_json == NULL) {
        stage_error_set(&serr, "invalid_input", false, "the stored input is not valid JSON: %s",
                        jerr.msg);
        run_finish(&r, NULL, &serr);
        goto done;
    }

    if (*w->stop) { /* stopping before it began (finish.lua took it): hand it back */
        run_requeue(&r, r.k, true);
        goto done;
    }
    for (;;) {
        const struct stage_def *sd = &r.pl->stages[r.k - 1];
        char *out = NULL;
        int rc;

        log_ctx_stage(r.k, sd->name);
        memset(&serr, 0, sizeof(serr));
        r.exec = NULL;
        rc = sd->builtin != NULL ? run_builtin(&r, sd, cur, &cur_json, &out, &serr)
                                 : run_exec(&r, sd, cur, &out, &serr, &res);
        if (rc < 0 && r.is_refused) {
            run_abandon(&r);
            break;
        }
        if (rc < 0 && r.is_shutdown) {
            run_requeue(&r, r.k, false);
            break;
        }
        if (rc < 0 && r.is_timed_out)
            stage_error_set(&serr, "timeout", true, "builtin stage ran longer than %d s",
                            sd->timeout_s);
        if (rc < 0) {
            if (serr.is_retryable && r.attempt_n < r.max_attempts)
                run_retry(&r, &serr);
            else
                run_finish(&r, NULL, &serr);
            break;
        }
        cJSON_Delete(cur_json);
        cur_json = NULL;
        cJSON_free(cur_owned);
        cur = cur_owned = out;
        if (r.k == r.n) {
            run_finish(&r, cur, NULL);
            break;
        }
        if (run_next_queue(&r) != NULL) { /* stage k+1 is another pool's */
            run_hop(&r, cur, run_next_queue(&r));
            break;
        }
        if (run_advance(&r, cur) != 0) {
            if (r.is_refused)
                run_abandon(&r);
            break;
        }
        if (*w->stop) { /* stopping: the next stage runs elsewhere, resuming here */
            run_requeue(&r, r.k, false);
            break;
        }
    }
    w->jobs_done++;
done:
    rargv_free(&r.adv);
    log_ctx_job(NULL, NULL);
    w->current_job[0] = '\0';
    cJSON_Delete(res.output);
    cJSON_free(res.output_text);
    cJSON_free(cur_owned);
    cJSON_Delete(cur_json);
    job_hash_view_free(&h);
}
