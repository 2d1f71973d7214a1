/* pipe: a worker draining a backlog of fast jobs takes them in batches
 * (finish.lua's take), holds the jobs it has not begun, and sends each job's
 * end the moment it is known without waiting for the reply; once half of a
 * batch is done, the end it sends takes the next batch, so the replies are
 * there by the time the held jobs run out. They are read then, or before any
 * call that waits (rconn's drain hook), or as a window: with WORKER_SENT_WINDOW
 * ends unanswered the oldest reply is read before the next end goes, so an
 * end (and its PUBLISH, which live clients wait for) is not queued in Redis
 * behind a whole batch of the worker's. A reply lost with the connection is a
 * write of unknown fate: the end is sent again, waiting, fenced like every end,
 * so it is recorded once; the jobs its take may have moved onto our processing
 * list are put back unstarted (recover_own) once the worker holds none. With
 * STAGEQ_MIN_REPLICAS every pending reply is read at once and one WAIT covers
 * all the ends they wrote; those it does not confirm are written again
 * (wredis_end) until they are. The fast ends (jobs run unbegun, that begin,
 * read, take and record nothing) go several in one finish_many call: they
 * wait here, not in the connection's buffer, until that call is appended
 * (pipe_emit), which the connection's drain hook does before any other call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "log.h"
#include "scripts.h"
#include "worker.h"

void pipe_reply_id(const redisReply *r, char id[IDS_MAX_LEN + 1])
{
    size_t i;

    id[0] = '\0';
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_STRING && r->len <= IDS_MAX_LEN) { /* a bare id */
        memcpy(id, r->str, r->len + 1);
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[2]->type == REDIS_REPLY_STRING && r->element[2]->len <= IDS_MAX_LEN) {
        memcpy(id, r->element[2]->str, r->element[2]->len);
        id[r->element[2]->len] = '\0';
        return;
    }
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, JOB_F_ID) == 0 &&
            v->type == REDIS_REPLY_STRING && v->len <= IDS_MAX_LEN) {
            memcpy(id, v->str, v->len);
            id[v->len] = '\0';
            return;
        }
    }
}

/* A job's end sent without waiting for its reply. */
struct sent_finish {
    struct rargv args; /* finish.lua's, to send again when the reply is lost */
    int nkeys;
    char id[IDS_MAX_LEN + 1];
    int take;     /* jobs it takes too (0: none) */
    bool is_read; /* it reserve-reads held ids too */
    bool is_fast; /* one of a finish_many call's ends */
    int ncall;    /* the first end of a call: the ends its reply answers (else 0) */
};

/* finish.lua's arguments pipe_is_fast reads: ARGV[n], with the 6 keys of an
 * end that reads no held id (ARGV[5] 0: its fields from ARGV[15]) */
enum {
    FINISH_KEY_JOB = 1,
    FINISH_KEY_PROCESSING = 2,
    FINISH_KEY_COUNTERS = 3,
    FINISH_KEY_FAILED = 6,
    FINISH_NKEYS_FAST = 6,
    FINISH_ARGV_ATTEMPT = 1,
    FINISH_ARGV_TTL = 2,
    FINISH_ARGV_ID = 3,
    FINISH_ARGV_CHANNEL = 4,
    FINISH_ARGV_NREAD = 5,
    FINISH_ARGV_WORKER = 9,
    FINISH_ARGV_NEXT = 12,
    FINISH_ARGV_KEEP = 14,
    FINISH_ARGV_BEGUN = 15, /* '.begun' <time>, then the fields */
};

/* The batching state of one worker child: written here only. */
struct pipe {
    /* the jobs taken (finish.lua, take.lua), oldest first, consumed by
     * fetch_next: a bare id (a string reply: taken, not read yet), or the
     * reply of its read (startjob.lua's: reserved — still queued —, started,
     * or skipped). All of one partition: a take chained in an end takes from
     * the ending job's, and a sweep takes only when none is held. */
    redisReply *held[WORKER_HELD_MAX];
    bool is_read_sent[WORKER_HELD_MAX]; /* a bare id an end sent reads */
    size_t nheld;
    int chain; /* takes chained in ends since the last sweep (fairness, P > 1) */
    /* ends sent while jobs were held, their replies not read yet */
    struct sent_finish sent[WORKER_SENT_MAX];
    size_t nsent;
    bool is_take_sent;   /* one of them takes jobs too */
    bool is_take_lost;   /* a finish-and-take reply was lost, or the connection was
                            replaced (maybe a new master): recover_own first */
    bool is_queue_empty; /* the last pop found nothing: wait in BLMOVE */
    bool is_backlog;     /* the last take chained in an end took all it asked:
                            jobs waited in the queue while this worker ran */
    int64_t job_us;      /* how long a job runs here (moving average), for the batch size */
    /* the held job the last end began (finish.lua's begin), "" when none:
     * the others are reservations, begun by start.lua when their turn comes */
    char begun[IDS_MAX_LEN + 1];
    /* ends appended and not written yet (rconn_script_append), or held for
     * a finish_many call: since when, monotonic µs (0: none) */
    int64_t unsent_since_us;
    size_t nunsent; /* how many */
    size_t ngroup;  /* the newest ngroup sent: fast ends held, not appended yet */
};

struct pipe *pipe_new(void)
{
    return calloc(1, sizeof(struct pipe));
}

void pipe_free(struct pipe *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->nheld; i++)
        freeReplyObject(p->held[i]);
    for (i = 0; i < p->nsent; i++)
        rargv_free(&p->sent[i].args);
    free(p);
}

static void pipe_read(struct worker *w, size_t n);

static const char *pipe_key(const struct rargv *a, size_t k)
{
    return a->argv[k - 1];
}

static const char *pipe_arg(const struct rargv *a, size_t n)
{
    return a->argv[WORKER_ARGV(FINISH_NKEYS_FAST, n)];
}

/* An end that can share a finish_many call: the job ran unbegun ('.begun'
 * first among its fields, no '.' directive after it: finish.lua's fast end),
 * and it begins, reads, takes and records nothing. */
static bool pipe_is_fast(const struct rargv *a, int nkeys, int take, bool is_read)
{
    size_t nfixed = WORKER_ARGV(FINISH_NKEYS_FAST, FINISH_ARGV_BEGUN + 2);

    return nkeys == FINISH_NKEYS_FAST && take == 0 && !is_read && a->argc >= nfixed &&
           (a->argc - nfixed) % 2 == 0 && strcmp(pipe_arg(a, FINISH_ARGV_ATTEMPT), "1") == 0 &&
           strcmp(pipe_arg(a, FINISH_ARGV_NREAD), "0") == 0 &&
           pipe_arg(a, FINISH_ARGV_SPEC)[0] == '\0' &&
           strcmp(pipe_arg(a, FINISH_ARGV_TAKE), "0") == 0 &&
           pipe_arg(a, FINISH_ARGV_NEXT)[0] == '\0' &&
           strcmp(pipe_arg(a, FINISH_ARGV_BEGUN), ".begun") == 0 &&
           (a->argc == nfixed || pipe_arg(a, FINISH_ARGV_BEGUN + 2)[0] != '.');
}

/* What the ends of one finish_many call share, in its order: its first
 * keys (the processing list, the counters) and arguments (worker, events
 * channel, failed index length). */
static const size_t many_keys[] = {FINISH_KEY_PROCESSING, FINISH_KEY_COUNTERS};
static const size_t many_args[] = {FINISH_ARGV_WORKER, FINISH_ARGV_CHANNEL, FINISH_ARGV_KEEP};
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Whether fast end b can share a's call. */
static bool pipe_is_same_call(const struct rargv *a, const struct rargv *b)
{
    size_t i;

    for (i = 0; i < NELEMS(many_keys); i++)
        if (strcmp(pipe_key(a, many_keys[i]), pipe_key(b, many_keys[i])) != 0)
            return false;
    for (i = 0; i < NELEMS(many_args); i++)
        if (strcmp(pipe_arg(a, many_args[i]), pipe_arg(b, many_args[i])) != 0)
            return false;
    return true;
}

/* finish_many's arguments for fast ends e[0..n): a view of theirs (no
 * string copied), for one call. */
#define MANY_SMALL 512 /* arguments held in the view itself: 8 ends of a bench4 job use ~300 */

struct many_view {
    struct rargv v; /* argv/lens: arrays of its own (small ones when they fit), strings borrowed */
    int nkeys;
    char nfields[WORKER_SENT_MAX][24]; /* each end's field count, as text */
    char *small[MANY_SMALL];
    size_t small_lens[MANY_SMALL];
};

static void many_add(struct many_view *m, const char *s, size_t len)
{
    m->v.argv[m->v.argc] = (char *)s; /* borrowed: never freed through v */
    m->v.lens[m->v.argc++] = len;
}

/* Fills m for e[0..n) (n <= WORKER_SENT_MAX): 0, or -1 when memory ran out.
 * many_free releases it. */
static int pipe_many_args(const struct sent_finish *e, size_t n, struct many_view *m)
{
    const struct rargv *a0 = &e[0].args;
    size_t i, k, first = WORKER_ARGV(FINISH_NKEYS_FAST, FINISH_ARGV_BEGUN + 2), cap = 5 + 2 * n;
    static const size_t keys[] = {FINISH_KEY_JOB, FINISH_KEY_FAILED};
    static const size_t own[] = {FINISH_ARGV_ID, FINISH_ARGV_TTL, FINISH_ARGV_BEGUN + 1};

    for (i = 0; i < n; i++)
        cap += 4 + e[i].args.argc - first;
    memset(&m->v, 0, sizeof(m->v));
    if (cap <= MANY_SMALL) { /* no malloc of a few KiB per call (glibc sorts its lists for each) */
        m->v.argv = m->small;
        m->v.lens = m->small_lens;
    } else {
        m->v.argv = malloc(cap * sizeof(m->v.argv[0]));
        m->v.lens = malloc(cap * sizeof(m->v.lens[0]));
    }
    if (m->v.argv == NULL || m->v.lens == NULL) {
        free(m->v.argv);
        free(m->v.lens);
        return -1;
    }
    m->v.cap = cap;
    for (k = 0; k < NELEMS(many_keys); k++)
        many_add(m, pipe_key(a0, many_keys[k]), a0->lens[many_keys[k] - 1]);
    for (i = 0; i < n; i++)
        for (k = 0; k < NELEMS(keys); k++)
            many_add(m, pipe_key(&e[i].args, keys[k]), e[i].args.lens[keys[k] - 1]);
    for (k = 0; k < NELEMS(many_args); k++)
        many_add(m, pipe_arg(a0, many_args[k]),
                 a0->lens[WORKER_ARGV(FINISH_NKEYS_FAST, many_args[k])]);
    for (i = 0; i < n; i++) {
        const struct rargv *a = &e[i].args;

        for (k = 0; k < NELEMS(own); k++)
            many_add(m, pipe_arg(a, own[k]), a->lens[WORKER_ARGV(FINISH_NKEYS_FAST, own[k])]);
        many_add(m, m->nfields[i],
                 (size_t)snprintf(m->nfields[i], sizeof(m->nfields[i]), "%zu", a->argc - first));
        for (k = first; k < a->argc; k++)
            many_add(m, a->argv[k], a->lens[k]);
    }
    m->nkeys = (int)(2 + 2 * n);
    return 0;
}

static void many_free(struct many_view *m)
{
    if (m->v.argv != m->small) {
        free(m->v.argv); /* the strings are borrowed */
        free(m->v.lens);
    }
}

/* Makes the fast ends held one call (appended next, or lost). */
static void pipe_seal(struct worker *w)
{
    struct pipe *p = w->pipe;

    if (p->ngroup > 0)
        p->sent[p->nsent - p->ngroup].ncall = (int)p->ngroup;
    p->ngroup = 0;
    rconn_set_held(w->rc, false);
}

/* Appends the fast ends held (the newest ngroup sent) as one finish_many
 * call: 0, or -1 when the connection went (with it the replies of every
 * end sent: read as lost). */
static int pipe_emit(struct worker *w)
{
    struct pipe *p = w->pipe;
    struct many_view m;
    struct sq_err err;
    int rc;

    if (p->ngroup == 0)
        return 0;
    rc = pipe_many_args(&p->sent[p->nsent - p->ngroup], p->ngroup, &m);
    pipe_seal(w);
    if (rc < 0) {
        log_warnx("out of memory; writing the ends again");
        return -1;
    }
    rc = rconn_script_append(w->rc, SCRIPT_FINISH_MANY, m.nkeys, &m.v, &err);
    if (rc < 0)
        log_warnx("%s; writing the ends again", err.msg);
    many_free(&m);
    return rc;
}

static bool pipe_has_unsent(const struct worker *w)
{
    return w->pipe->ngroup > 0 || rconn_has_unsent(w->rc);
}

int pipe_send_finish(struct worker *w, const char *id, struct rargv *args, int nkeys, int take,
                     bool is_read)
{
    struct pipe *p = w->pipe;
    struct sq_err err;
    struct sent_finish *s;
    size_t len = strlen(id), max = w->cfg->min_replicas > 0 ? WORKER_SENT_MAX : WORKER_SENT_WINDOW;
    bool is_fast = pipe_is_fast(args, nkeys, take, is_read);

    if (len > IDS_MAX_LEN)
        return -1;
    if (p->nsent >= max)
        pipe_read(w, p->nsent - max + 1); /* the oldest: a window, not a stop */
    /* a fast end joins the ones held; any other goes after them */
    if (p->ngroup > 0 &&
        !(is_fast && pipe_is_same_call(&p->sent[p->nsent - p->ngroup].args, args)) &&
        pipe_emit(w) < 0) {
        pipe_drain(w); /* the ends sent before went with the connection */
        return -1;
    }
    if (!pipe_has_unsent(w)) /* (written meanwhile by a read, if any) */
        p->unsent_since_us = clock_mono_us(), p->nunsent = 0;
    if (!is_fast && rconn_script_append(w->rc, SCRIPT_FINISH, nkeys, args, &err) < 0) {
        log_write(LOG_LEVEL_WARN, 0, id, "%s; writing its end again", err.msg);
        pipe_drain(w); /* the ends sent before went with the connection */
        return -1;
    }
    s = &p->sent[p->nsent++];
    s->args = *args; /* moved */
    rargv_init(args);
    s->nkeys = nkeys;
    memcpy(s->id, id, len + 1);
    s->take = take;
    s->is_read = is_read;
    s->is_fast = is_fast;
    s->ncall = is_fast ? 0 : 1;
    if (is_fast) { /* held: appended by pipe_emit, before any other call */
        p->ngroup++;
        rconn_set_held(w->rc, true);
    }
    if (take > 0)
        p->is_take_sent = true;
    /* at once with the next batch's take (wanted before the held jobs run
     * out), and with a group: written, they are answered by the time the
     * window is full (its oldest reply is read then) */
    if (take > 0 || ++p->nunsent >= WORKER_GROUP_MAX)
        pipe_flush(w);
    else
        pipe_flush_due(w);
    return 0;
}

void pipe_flush(struct worker *w)
{
    struct sq_err err;

    w->pipe->unsent_since_us = 0;
    w->pipe->nunsent = 0;
    if (pipe_emit(w) < 0) {
        pipe_drain(w); /* they went with the connection: read as lost */
    } else if (rconn_flush(w->rc, &err) < 0) {
        log_warnx("%s; writing the ends again", err.msg);
        pipe_drain(w);
    }
}

void pipe_flush_due(struct worker *w)
{
    if (pipe_has_unsent(w) && clock_mono_us() - w->pipe->unsent_since_us >= WORKER_FLUSH_US)
        pipe_flush(w);
}

/* Logs the outcome of an end sent by pipe_send_finish (res: the first
 * element of finish.lua's reply, or an error). Returns 0, or -1 for an error
 * reply, which is sent again waiting: NOSCRIPT (nothing ran), a transient one
 * (BUSY, LOADING, ...: wredis retries it) or any other (logged there). */
static int pipe_log_result(const char *id, const redisReply *res, bool is_again)
{
    if (res->type == REDIS_REPLY_STRING || res->type == REDIS_REPLY_STATUS) {
        /* sent again after a lost reply: the first one may have written it */
        if (strcmp(res->str, "ok") == 0 || (is_again && strcmp(res->str, "succeeded") == 0))
            log_write(LOG_LEVEL_INFO, 0, id, "succeeded");
        else
            log_write(LOG_LEVEL_INFO, 0, id, "end not recorded: job is %s", res->str);
        return 0;
    }
    if (res->type == REDIS_REPLY_ERROR && !is_again)
        return -1;
    log_write(LOG_LEVEL_ERROR, 0, id, "state change failed: %.*s",
              res->type == REDIS_REPLY_ERROR ? (int)res->len : 0,
              res->type == REDIS_REPLY_ERROR ? res->str : "");
    return 0;
}

/* One end's reply (owned): logged, its takes held. Returns 1 when it wrote
 * the end ('ok'), 0 when it was refused, -1 when it must be sent again. */
static int pipe_answer(struct worker *w, const struct sent_finish *s, redisReply *rep)
{
    const redisReply *res =
        rep->type == REDIS_REPLY_ARRAY && rep->elements == FINISH_REPLY_LEN ? rep->element[0] : rep;
    int rc = pipe_log_result(s->id, res, false);

    if (rc == 0 && (res->type == REDIS_REPLY_STRING || res->type == REDIS_REPLY_STATUS) &&
        strcmp(res->str, "ok") == 0)
        rc = 1;
    if (res != rep)
        pipe_hold(w, rep, s->take);
    freeReplyObject(rep);
    return rc;
}

/* The answers of a finish_many call's ends e[0..n) from its reply rep
 * (owned; NULL: lost), as pipe_answer's; lost[j] when e[j] is to be sent
 * again as an end that may have been written (a lost reply, an error part
 * way). A NOSCRIPT (nothing ran) is sent again at once, loading the script.
 * 'again': the job is not as its reservation read it; finish.lua fences it. */
static void pipe_answer_many(struct worker *w, const struct sent_finish *e, size_t n,
                             redisReply *rep, int *answers, bool *lost)
{
    struct sq_err err;
    size_t j;

    if (rep != NULL && rep->type == REDIS_REPLY_ERROR && scripts_is_noscript(rep->str, rep->len)) {
        struct many_view m;

        freeReplyObject(rep);
        rep = NULL;
        if (pipe_many_args(e, n, &m) == 0) {
            rep = rconn_script(w->rc, SCRIPT_FINISH_MANY, m.nkeys, &m.v, &err);
            many_free(&m);
        }
    }
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
        log_write(LOG_LEVEL_WARN, 0, e[0].id, "the ends of %zu jobs: %.*s; written one by one", n,
                  (int)rep->len, rep->str);
    for (j = 0; j < n; j++) {
        const redisReply *r = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == n
                                  ? rep->element[j]
                                  : NULL;

        lost[j] = r == NULL;
        answers[j] = -1;
        if (r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, "ok") == 0) {
            log_write(LOG_LEVEL_INFO, 0, e[j].id, "succeeded");
            answers[j] = 1;
        }
    }
    freeReplyObject(rep);
}

/* The number of ends the call sent at e[0] answers. */
static size_t pipe_call_len(const struct sent_finish *e)
{
    return e->ncall > 1 ? (size_t)e->ncall : 1;
}

/* Reads the replies of the first n ends sent (rounded up to whole calls), in
 * order, and drops them from the sent list; the others stay pending — unless
 * the connection was lost, which lost every reply: then all of them are read
 * (sent again). The fast ends held are appended first. */
static void pipe_read(struct worker *w, size_t n)
{
    redisReply *reps[WORKER_SENT_MAX];
    struct sent_finish done[WORKER_SENT_MAX];
    int answers[WORKER_SENT_MAX];
    bool lost[WORKER_SENT_MAX];
    struct pipe *p = w->pipe;
    struct sq_err err;
    size_t i, c, ncalls = 0, nleft = 0, total = p->nsent;
    bool is_confirmed = true, has_written = false;

    if (w->cfg->min_replicas > 0)
        n = total; /* one WAIT after the last of them covers them all */
    if (n > total - p->ngroup)
        (void)pipe_emit(w); /* a failure: lost with the connection, read so below */
    for (i = 0; i < total - p->ngroup; i += pipe_call_len(&p->sent[i]))
        if (i < n) {
            ncalls++;
            if (n < i + pipe_call_len(&p->sent[i]))
                n = i + pipe_call_len(&p->sent[i]); /* the whole call */
        } else {
            nleft++;
        }
    for (c = 0; c < ncalls; c++)
        if ((reps[c] = rconn_pending_reply(w->rc, &err)) == NULL)
            break;
    if (c < ncalls || (size_t)rconn_npending(w->rc) < nleft) {
        for (; c < WORKER_SENT_MAX; c++)
            reps[c] = NULL;
        pipe_seal(w); /* the ends held go again with the others, alone */
        n = total;
    }
    /* off the list before anything is sent again below */
    memcpy(done, p->sent, n * sizeof(done[0]));
    memmove(p->sent, p->sent + n, (total - n) * sizeof(p->sent[0]));
    p->nsent = total - n;
    p->is_take_sent = false;
    for (i = 0; i < p->nsent; i++)
        if (p->sent[i].take > 0)
            p->is_take_sent = true;
    for (i = 0, c = 0; i < n; i += pipe_call_len(&done[i]), c++) {
        if (done[i].is_fast) {
            pipe_answer_many(w, &done[i], pipe_call_len(&done[i]), reps[c], &answers[i], &lost[i]);
        } else {
            answers[i] = reps[c] != NULL ? pipe_answer(w, &done[i], reps[c]) : -1;
            lost[i] = reps[c] == NULL;
        }
    }
    for (i = 0; i < n; i++)
        has_written = has_written || answers[i] == 1;
    /* with min_replicas, one WAIT covers every end written: their replies
     * came on this connection, and nothing is pending on it now */
    if (has_written && w->cfg->min_replicas > 0)
        is_confirmed = rconn_wait(w->rc, w->cfg->min_replicas, w->cfg->min_replicas_timeout_ms,
                                  rconn_connects(w->rc), &err) == 1;
    if (!is_confirmed)
        wredis_ask_master(w); /* a stale master is left before the ends are written again */
    for (i = 0; i < n; i++) {
        struct sent_finish *s = &done[i];
        redisReply *rep;

        if (answers[i] == 0 || (answers[i] == 1 && is_confirmed)) {
            rargv_free(&s->args);
            continue;
        }
        if (answers[i] == 1) {
            /* written, not confirmed by the replicas: kept, written again
             * (its takes are held; its stage runs are recorded) */
            log_write(LOG_LEVEL_WARN, 0, s->id, "end not confirmed by %d replica(s): kept",
                      w->cfg->min_replicas);
            rargv_set(&s->args, WORKER_ARGV(s->nkeys, FINISH_ARGV_TAKE), "0");
            rargv_set(&s->args, WORKER_ARGV(s->nkeys, FINISH_ARGV_SPEC), "");
            freeReplyObject(wredis_end(w, SCRIPT_FINISH, s->nkeys, &s->args, s->id, true, NULL));
            rargv_free(&s->args);
            continue;
        }
        /* lost, or an error, or a fast end finish_many left: again, alone,
         * waiting, taking nothing; whatever a lost take moved onto our list
         * is put back once we hold nothing */
        if (s->take > 0) {
            rargv_set(&s->args, WORKER_ARGV(s->nkeys, FINISH_ARGV_TAKE), "0");
            p->is_take_lost = true;
        }
        rep = wredis_end(w, SCRIPT_FINISH, s->nkeys, &s->args, s->id, lost[i], NULL);
        if (rep == NULL)
            log_write(LOG_LEVEL_ERROR, 0, s->id, "state change not written: redis unreachable");
        else
            pipe_log_result(s->id,
                            rep->type == REDIS_REPLY_ARRAY && rep->elements == FINISH_REPLY_LEN
                                ? rep->element[0]
                                : rep,
                            true);
        freeReplyObject(rep);
        rargv_free(&s->args);
    }
}

void pipe_drain(void *arg)
{
    struct worker *w = arg;

    pipe_read(w, w->pipe->nsent);
}

/* The next held job can run without a call: read, not a bare id. */
static bool pipe_is_next_ready(const struct pipe *p)
{
    return p->nheld > 0 && p->held[0]->type == REDIS_REPLY_ARRAY;
}

void pipe_collect(struct worker *w)
{
    struct pipe *p = w->pipe;
    size_t i;

    if (pipe_is_next_ready(p))
        return;
    for (i = 0; i < p->nsent; i++)
        if ((p->nheld == 0 && p->sent[i].take > 0) || (p->nheld > 0 && p->sent[i].is_read)) {
            pipe_read(w, i + 1);
            return;
        }
}

/* Puts the read replies in reads (an array, detached from it) in the place
 * of the bare held ids they read (matched by id). */
static void pipe_put_reads(struct pipe *p, redisReply *reads)
{
    size_t i, j;

    for (i = 0; reads->type == REDIS_REPLY_ARRAY && i < reads->elements; i++) {
        char id[IDS_MAX_LEN + 1];

        pipe_reply_id(reads->element[i], id);
        for (j = 0; j < p->nheld; j++)
            if (p->held[j]->type == REDIS_REPLY_STRING && strcmp(p->held[j]->str, id) == 0) {
                freeReplyObject(p->held[j]);
                p->held[j] = reads->element[i];
                reads->element[i] = NULL; /* detached: freeReplyObject skips NULL */
                break;
            }
    }
}

/* Appends the bare ids of taken (an array, detached from it) to the held
 * jobs; fewer than take: the queue ran empty. */
static void pipe_put_taken(struct pipe *p, redisReply *taken, int take)
{
    size_t i;

    if (taken->type != REDIS_REPLY_ARRAY) {
        if (take > 0)
            p->is_queue_empty = true; /* nothing taken: wait next time */
        return;
    }
    if (taken->elements < (size_t)take)
        p->is_queue_empty = true; /* wait once these are done */
    for (i = 0; i < taken->elements && p->nheld < WORKER_HELD_MAX; i++) {
        if (taken->element[i]->type != REDIS_REPLY_STRING)
            continue;
        p->is_read_sent[p->nheld] = false;
        p->held[p->nheld++] = taken->element[i];
        taken->element[i] = NULL;
    }
    if (i < taken->elements) /* never (a take fits): put back once we hold none */
        p->is_take_lost = true;
}

void pipe_hold_taken(struct worker *w, redisReply *taken)
{
    w->pipe->chain = 0; /* a sweep: a new partition, maybe */
    w->pipe->is_backlog = false;
    pipe_put_taken(w->pipe, taken, 1);
}

void pipe_hold_reads(struct worker *w, redisReply *reads)
{
    pipe_put_reads(w->pipe, reads);
}

size_t pipe_bare_ids(struct worker *w, const struct wpart *part, bool is_all,
                     char ids[][IDS_MAX_LEN + 1], size_t max)
{
    struct pipe *p = w->pipe;
    size_t i, n = 0;

    for (i = 0; i < p->nheld && n < max; i++) {
        const redisReply *h = p->held[i];

        if (h->type != REDIS_REPLY_STRING || h->len > IDS_MAX_LEN ||
            (p->is_read_sent[i] && !is_all) || !ids_is_valid(h->str, h->len, IDS_MAX_LEN) ||
            worker_part(w, h->str) != part)
            continue;
        p->is_read_sent[i] = true;
        memcpy(ids[n++], h->str, h->len + 1);
    }
    return n;
}

void pipe_hold(struct worker *w, redisReply *rep, int take)
{
    struct pipe *p = w->pipe;

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != FINISH_REPLY_LEN)
        return;
    pipe_put_reads(p, rep->element[3]);
    if (take > 0) {
        const redisReply *taken = rep->element[2];

        (void)order_note(w, rep->element[4],
                         taken->type == REDIS_REPLY_ARRAY ? (int)taken->elements : 0);
        p->is_backlog = taken->type == REDIS_REPLY_ARRAY && taken->elements >= (size_t)take;
        pipe_put_taken(p, rep->element[2], take);
    }
}

/* How many jobs to take when jobs run `us` microseconds: about
 * WORKER_BATCH_US of work, 1 to WORKER_BATCH_MAX. */
static int pipe_batch(int64_t us)
{
    if (us * WORKER_BATCH_MAX <= WORKER_BATCH_US)
        return WORKER_BATCH_MAX;
    return us >= WORKER_BATCH_US ? 1 : (int)(WORKER_BATCH_US / us);
}

int pipe_plan_end(struct worker *w, int64_t us, bool may_defer, int *take)
{
    struct pipe *p = w->pipe;
    int batch;
    bool may_take;

    /* the time of a job here, smoothed: one preempted job does not stop the
     * batches, a few slow ones do (and one over WORKER_HOLD_MAX_MS has
     * handed the held ones back already) */
    if (us > WORKER_HOLD_MAX_MS * 1000LL)
        us = WORKER_HOLD_MAX_MS * 1000LL; /* a long job counts as a slow one, no more */
    p->job_us = p->job_us == 0 ? us : p->job_us + (us - p->job_us) / 4;
    batch = pipe_batch(p->job_us);
    if (may_defer && !*w->stop)
        pipe_collect(w); /* the next batch is here by now: this end need not wait */
    /* with several partitions, a partition's backlog is taken a few batches
     * at a time: then the held ones run out and the next sweep starts at
     * the next partition (fair rotation) */
    may_take = !*w->stop && !p->is_queue_empty && !p->is_take_lost && !p->is_take_sent &&
               (w->nparts == 1 || p->chain < WORKER_PART_CHAIN);
    if (may_defer && p->nheld > 0 && !*w->stop) {
        *take = may_take && batch > 1 && p->nheld <= (size_t)batch / 2 ? batch : 0;
        p->chain += *take > 0;
        return 1;
    }
    *take = may_take && p->nheld == 0 ? batch : 0;
    p->chain += *take > 0;
    return 0;
}

bool pipe_is_busy(const struct worker *w)
{
    return w->pipe->nheld > 0 || w->pipe->is_take_sent;
}

bool pipe_has_backlog(const struct worker *w)
{
    return pipe_is_busy(w) || w->pipe->is_backlog;
}

const redisReply *pipe_peek_held(const struct worker *w)
{
    return w->pipe->nheld > 0 ? w->pipe->held[0] : NULL;
}

redisReply *pipe_next_held(struct worker *w, char begun[IDS_MAX_LEN + 1])
{
    struct pipe *p = w->pipe;
    redisReply *taken;

    if (p->nheld == 0)
        return NULL;
    taken = p->held[0];
    memmove(p->held, p->held + 1, --p->nheld * sizeof(p->held[0]));
    memmove(p->is_read_sent, p->is_read_sent + 1, p->nheld * sizeof(p->is_read_sent[0]));
    memcpy(begun, p->begun, sizeof(p->begun));
    p->begun[0] = '\0';
    return taken;
}

redisReply *pipe_newest_held(struct worker *w)
{
    struct pipe *p = w->pipe;

    p->begun[0] = '\0';
    return p->nheld > 0 ? p->held[--p->nheld] : NULL;
}

void pipe_set_begun(struct worker *w, const char *id)
{
    snprintf(w->pipe->begun, sizeof(w->pipe->begun), "%s", id);
}

bool pipe_is_queue_empty(const struct worker *w)
{
    return w->pipe->is_queue_empty;
}

void pipe_set_queue_empty(struct worker *w, bool is_empty)
{
    w->pipe->is_queue_empty = is_empty;
    if (is_empty)
        w->pipe->is_backlog = false;
}

void pipe_set_take_lost(struct worker *w)
{
    w->pipe->is_take_lost = true;
}

bool pipe_is_take_lost(const struct worker *w)
{
    return w->pipe->is_take_lost;
}

void pipe_set_take_recovered(struct worker *w)
{
    w->pipe->is_take_lost = false;
}
