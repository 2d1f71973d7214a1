/* rconn: synchronous hiredis connection with timeouts and lazy reconnect.
 * With a redis-sentinel URL every connect asks the sentinels again, and a
 * reply that says the master moved drops the connection; it never caches a
 * master's address, never sleeps and never retries. With a redis-cluster URL
 * every call goes through shared/rcluster.c (one connection per node). */
#include "rconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/sds.h>

#include "clock.h"
#include "rcluster.h"

/* Each sentinel asked, and the new master's setup, are bounded by this (the
 * Sentinel client guidelines: a few hundred ms), or the read timeout when
 * shorter. */
#define RCONN_DISCOVERY_TIMEOUT_MS 500

struct rconn {
    struct redis_url url; /* its sentinels reordered by sentinel_connect */
    int timeout_ms;
    redisContext *ctx;
    int npending;             /* replies of rconn_script_send not read yet */
    uint32_t scripts;         /* scripts ctx had (SCRIPT_BIT): EVALSHA for them, EVAL first */
    void (*drain)(void *arg); /* reads them before any other call */
    void *drain_arg;
    bool is_held;            /* the drain hook's owner holds calls not sent yet */
    redisContext *sctx;      /* the sentinel the master check asks, kept open, or NULL */
    int healthy;             /* replicas the sentinels last counted healthy (-1: not known) */
    unsigned long nconnects; /* connections set up so far */
    enum sentinel_status discovery; /* how the last connect attempt's discovery went */
    struct rcluster *cl;            /* a redis-cluster URL: every call goes there */
};

/* What bounds each sentinel asked and the new master's setup. */
static int rconn_discovery_ms(const struct rconn *rc)
{
    return rc->timeout_ms < RCONN_DISCOVERY_TIMEOUT_MS ? rc->timeout_ms
                                                       : RCONN_DISCOVERY_TIMEOUT_MS;
}

struct rconn *rconn_new(const struct redis_url *url, int timeout_ms)
{
    struct rconn *rc = calloc(1, sizeof(*rc));

    if (rc == NULL)
        return NULL;
    rc->url = *url;
    rc->timeout_ms = timeout_ms;
    rc->healthy = -1;
    if (url->kind == REDIS_URL_CLUSTER) {
        rc->cl = rcluster_new(&rc->url, timeout_ms);
        if (rc->cl == NULL) {
            free(rc);
            return NULL;
        }
    }
    return rc;
}

static void rconn_drop(struct rconn *rc)
{
    if (rc->ctx != NULL) {
        redisFree(rc->ctx);
        rc->ctx = NULL;
    }
    rc->npending = 0; /* their replies went with the connection */
}

/* Context ctx failed (its errstr says why, or why_default): err set
 * (SQ_ERR_NOMEM when hiredis ran out of memory, else SQ_ERR_IO, during: the
 * command, or ""). */
static void rconn_ctx_error(const redisContext *ctx, struct sq_err *err, const char *why_default,
                            const char *during)
{
    err_set(err, ctx->err == REDIS_ERR_OOM ? SQ_ERR_NOMEM : SQ_ERR_IO, "redis: %s%s%s",
            ctx->errstr[0] ? ctx->errstr : why_default, during[0] ? " during " : "", during);
}

/* The context failed: err set as rconn_ctx_error does and the connection
 * dropped with its pending replies. */
static void rconn_fail(struct rconn *rc, struct sq_err *err, const char *why_default,
                       const char *during)
{
    rconn_ctx_error(rc->ctx, err, why_default, during);
    rconn_drop(rc);
}

/* Runs a setup command (AUTH, SELECT) on a fresh context; 0 or -1 with err. */
static int rconn_ctx_setup(redisContext *ctx, int argc, const char **argv, struct sq_err *err)
{
    redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
    int ok;

    if (r == NULL) {
        rconn_ctx_error(ctx, err, "connection lost", argv[0]);
        return -1;
    }
    ok = r->type != REDIS_REPLY_ERROR;
    if (!ok)
        err_set(err, err_reply_code(r->str, r->len), "redis: %s failed: %.*s", argv[0], (int)r->len,
                r->str);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

redisContext *rconn_dial(const struct redis_url *url, const char *host, int port, struct timeval tv,
                         struct sq_err *err)
{
    redisContext *ctx = host == NULL ? redisConnectUnixWithTimeout(url->path, tv)
                                     : redisConnectWithTimeout(host, port, tv);

    if (ctx == NULL) {
        err_set(err, SQ_ERR_NOMEM, "redis: out of memory");
        return NULL;
    }
    if (ctx->err) {
        err_set(err, SQ_ERR_IO, "redis: connect: %s", ctx->errstr);
        goto fail;
    }
    if (redisSetTimeout(ctx, tv) != REDIS_OK) {
        err_set(err, SQ_ERR_IO, "redis: cannot set timeout");
        goto fail;
    }
    if (url->password[0] != '\0') {
        const char *a3[] = {"AUTH", url->user, url->password};
        const char *a2[] = {"AUTH", url->password};
        if (url->user[0] != '\0' ? rconn_ctx_setup(ctx, 3, a3, err)
                                 : rconn_ctx_setup(ctx, 2, a2, err))
            goto fail;
    }
    return ctx;
fail:
    redisFree(ctx);
    return NULL;
}

/* Opens rc->ctx to the Redis the URL names, authenticated (not selected):
 * directly, or through the sentinels. 0, or -1 with err (rc->ctx may be set). */
static int rconn_open(struct rconn *rc, struct timeval tv, struct sq_err *err)
{
    struct sq_err e;

    rc->discovery = SENTINEL_OK;
    if (rc->url.kind == REDIS_URL_SENTINEL) {
        rc->ctx = sentinel_connect(&rc->url, rconn_discovery_ms(rc), &rc->discovery, &e);
        if (rc->ctx == NULL) {
            err_set(err, e.code, "redis: %s", e.msg);
            return -1;
        }
        if (redisSetTimeout(rc->ctx, tv) != REDIS_OK) {
            err_set(err, SQ_ERR_IO, "redis: cannot set timeout");
            return -1;
        }
        return 0;
    }
    rc->ctx = rconn_dial(&rc->url, rc->url.kind == REDIS_URL_UNIX ? NULL : rc->url.host,
                         rc->url.port, tv, err);
    return rc->ctx != NULL ? 0 : -1;
}

/* Connects (and authenticates, selects the db) unless connected. 0, or -1 with err. */
static int rconn_ensure(struct rconn *rc, struct sq_err *err)
{
    struct timeval tv = {rc->timeout_ms / 1000, (rc->timeout_ms % 1000) * 1000};
    char db[16];

    if (rc->ctx != NULL)
        return 0;
    if (rconn_open(rc, tv, err) < 0)
        goto fail;
    if (rc->url.db != 0) {
        const char *as[] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", rc->url.db);
        if (rconn_ctx_setup(rc->ctx, 2, as, err) < 0)
            goto fail;
    }
    rc->nconnects++;
    rc->scripts = 0;
    return 0;
fail:
    rconn_drop(rc);
    return -1;
}

/* Reads every pending reply before another call: the drain hook's job, or
 * read and dropped here when it left some. */
static void rconn_settle(struct rconn *rc, struct sq_err *err)
{
    if ((rconn_npending(rc) > 0 || rc->is_held) && rc->drain != NULL)
        rc->drain(rc->drain_arg);
    while (rconn_npending(rc) > 0) { /* a hook that left some: not ours to read */
        redisReply *p = rconn_pending_reply(rc, err);
        if (p == NULL)
            break;
        freeReplyObject(p);
    }
}

/* Runs a command (sc: NULL, or the script an EVALSHA argv runs through a
 * cluster, see rcluster_command; argv, lens rewritten then). */
static redisReply *rconn_argv(struct rconn *rc, int argc, const char **argv, size_t *lens,
                              const struct rcluster_script *sc, struct sq_err *err)
{
    redisReply *r;

    rconn_settle(rc, err);
    if (rc->cl != NULL)
        return rcluster_command(rc->cl, argc, argv, lens, sc, err);
    if (rconn_ensure(rc, err) < 0)
        return NULL;
    r = redisCommandArgv(rc->ctx, argc, argv, lens);
    if (r == NULL) {
        rconn_fail(rc, err, "connection lost", "");
    } else if (sentinel_reply_is_failover(r)) {
        rconn_drop(rc); /* the next call finds the master again */
    }
    return r;
}

redisReply *rconn_command(struct rconn *rc, const struct rargv *args, struct sq_err *err)
{
    if (args->is_oom) {
        err_set(err, SQ_ERR_NOMEM, "out of memory building a command");
        return NULL;
    }
    return rconn_argv(rc, (int)args->argc, (const char **)args->argv, args->lens, NULL, err);
}

#define RCONN_ARGV_SMALL 512   /* a call's arguments held on the stack (8 grouped ends fit) */
#define RCONN_RESP_SMALL 16384 /* bytes of a call formatted on the stack */

/* Room for a script call's argv and lengths (EVALSHA, sha, nkeys, args):
 * small[] / small_lens[] (RCONN_ARGV_SMALL) when they fit, else allocated
 * (rconn_script_unroom frees them). 0, or -1 with err (nothing to free). */
static int rconn_script_room(const struct rargv *args, const char **small, size_t *small_lens,
                             const char ***argv, size_t **lens, struct sq_err *err)
{
    *argv = small;
    *lens = small_lens;
    if (!args->is_oom && args->argc + 3 <= RCONN_ARGV_SMALL)
        return 0;
    *argv = NULL;
    *lens = NULL;
    if (!args->is_oom) {
        *argv = malloc((args->argc + 3) * sizeof(**argv));
        *lens = malloc((args->argc + 3) * sizeof(**lens));
    }
    if (*argv == NULL || *lens == NULL) {
        free(*argv);
        free(*lens);
        err_set(err, SQ_ERR_NOMEM, "out of memory building a command");
        return -1;
    }
    return 0;
}

static void rconn_script_unroom(const char **small, const char **argv, size_t *lens)
{
    if (argv != small) {
        free(argv);
        free(lens);
    }
}

/* Whether a call of script id goes with EVAL: the connection it goes on (a
 * new one when there is none) has not had it yet. EVALSHA would be refused
 * NOSCRIPT, and so would each pipelined call sent before that reply is read.
 * (Through a cluster, rcluster_command and rcluster_send decide per node.) */
static int rconn_script_is_new(const struct rconn *rc, enum script_id id)
{
    return rc->cl == NULL && (rc->ctx == NULL || !(rc->scripts & SCRIPT_BIT(id)));
}

redisReply *rconn_script(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                         struct sq_err *err)
{
    const char **argv, *small[RCONN_ARGV_SMALL];
    size_t *lens, n, small_lens[RCONN_ARGV_SMALL];
    char nk[16];
    redisReply *r = NULL;
    struct rcluster_script sc = {SCRIPT_BIT(id), scripts_src(id)};

    if (rconn_script_room(args, small, small_lens, &argv, &lens, err) < 0)
        return NULL;
    n = scripts_argv(id, rconn_script_is_new(rc, id), nkeys, args, argv, lens, nk);
    r = rconn_argv(rc, (int)n, argv, lens, &sc, err);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && scripts_is_noscript(r->str, r->len)) {
        freeReplyObject(r); /* its cache was flushed (SCRIPT FLUSH, a restart) */
        n = scripts_argv(id, 1, nkeys, args, argv, lens, nk);
        r = rconn_argv(rc, (int)n, argv, lens, &sc, err);
    }
    if (r != NULL && r->type != REDIS_REPLY_ERROR && rc->ctx != NULL)
        rc->scripts |= SCRIPT_BIT(id); /* (an error may be a refusal before it ran) */
    rconn_script_unroom(small, argv, lens);
    return r;
}

/* rconn_script_send, written at once (is_flush) or left in hiredis' output
 * buffer for rconn_flush or the next call (rconn_script_append). */
static int rconn_script_put(struct rconn *rc, enum script_id id, int nkeys,
                            const struct rargv *args, bool is_flush, struct sq_err *err)
{
    const char **argv, *small[RCONN_ARGV_SMALL];
    size_t *lens, n, len, small_lens[RCONN_ARGV_SMALL];
    char nk[16], resp_small[RCONN_RESP_SMALL], *resp;
    int rv = -1, is_written = !is_flush;

    if ((rc->cl == NULL && rconn_ensure(rc, err) < 0) ||
        rconn_script_room(args, small, small_lens, &argv, &lens, err) < 0)
        return -1;
    n = scripts_argv(id, rconn_script_is_new(rc, id), nkeys, args, argv, lens, nk);
    if (rc->cl != NULL) {
        struct rcluster_script sc = {SCRIPT_BIT(id), scripts_src(id)};

        rv = rcluster_send(rc->cl, (int)n, argv, lens, &sc, err);
        goto done;
    }
    /* formatted here without hiredis' printf per argument (rargv_resp), on
     * the stack when it fits: hiredis copies it to its output buffer */
    len = rargv_resp_size(n, lens);
    resp = len < sizeof(resp_small) ? resp_small : malloc(len + 1);
    if (resp != NULL)
        rargv_resp_write(resp, n, argv, lens);
    if (resp == NULL || redisAppendFormattedCommand(rc->ctx, resp, len) != REDIS_OK) {
        if (resp != resp_small)
            free(resp);
        rconn_fail(rc, err, "out of memory", "");
        goto done;
    }
    if (resp != resp_small)
        free(resp);
    /* a blocking socket: each write takes what fits, bounded by the timeout */
    while (!is_written)
        if (redisBufferWrite(rc->ctx, &is_written) != REDIS_OK) {
            rconn_fail(rc, err, "write failed", "");
            goto done;
        }
    rc->npending++;
    rc->scripts |= SCRIPT_BIT(id);
    rv = 0;
done:
    rconn_script_unroom(small, argv, lens);
    return rv;
}

int rconn_script_send(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                      struct sq_err *err)
{
    return rconn_script_put(rc, id, nkeys, args, true, err);
}

int rconn_script_append(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                        struct sq_err *err)
{
    return rconn_script_put(rc, id, nkeys, args, false, err);
}

bool rconn_has_unsent(const struct rconn *rc)
{
    return rc->cl == NULL && rc->ctx != NULL && sdslen(rc->ctx->obuf) > 0;
}

int rconn_flush(struct rconn *rc, struct sq_err *err)
{
    int is_written = 0;

    if (!rconn_has_unsent(rc))
        return 0;
    while (!is_written)
        if (redisBufferWrite(rc->ctx, &is_written) != REDIS_OK) {
            rconn_fail(rc, err, "write failed", "");
            return -1;
        }
    return 0;
}

redisReply *rconn_pending_reply(struct rconn *rc, struct sq_err *err)
{
    void *r = NULL;

    if (rc->cl != NULL)
        return rcluster_pending_reply(rc->cl, err);
    if (rc->npending == 0 || rc->ctx == NULL) {
        err_set(err, SQ_ERR_IO, "redis: no reply pending (the connection was lost)");
        return NULL;
    }
    if (redisGetReply(rc->ctx, &r) != REDIS_OK || r == NULL) {
        rconn_fail(rc, err, "connection lost", "");
        return NULL;
    }
    rc->npending--;
    if (((redisReply *)r)->type == REDIS_REPLY_ERROR)
        rc->scripts = 0; /* an EVAL refused before it ran (LOADING, BUSY, ...) loaded nothing */
    if (sentinel_reply_is_failover(r))
        rconn_drop(rc); /* the later replies go with it */
    return r;
}

int rconn_wait(struct rconn *rc, int n, int timeout_ms, unsigned long conn, struct sq_err *err)
{
    char ns[16], ts[16];
    const char *argv[] = {"WAIT", ns, ts};
    int want = rc->url.kind == REDIS_URL_SENTINEL ? sentinel_wait_count(n, rc->healthy) : n;
    redisReply *r;
    int rv = -1;

    rconn_settle(rc, err);
    if (rc->cl != NULL)
        return rcluster_wait(rc->cl, n, timeout_ms, conn, err);
    if (rc->ctx == NULL || rc->nconnects != conn) {
        err_set(err, SQ_ERR_IO,
                "redis: the connection was replaced since the write: not confirmed");
        return -1;
    }
    snprintf(ns, sizeof(ns), "%d", want);
    snprintf(ts, sizeof(ts), "%d", timeout_ms);
    r = redisCommandArgv(rc->ctx, 3, argv, NULL);
    if (r == NULL) {
        rconn_fail(rc, err, "connection lost", "WAIT");
        return -1;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= want) {
        rv = 1;
    } else if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
        err_set(err, SQ_ERR_TRANSIENT, "%lld of %d replica(s) acknowledged it within %d ms%s",
                r->integer, want, timeout_ms,
                want > n ? " (every replica the sentinels count healthy)" : "");
        rv = 0;
    } else {
        err_set(err, r->type == REDIS_REPLY_ERROR ? err_reply_code(r->str, r->len) : SQ_ERR_REDIS,
                "redis: WAIT failed: %.*s", r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        if (sentinel_reply_is_failover(r))
            rconn_drop(rc);
    }
    freeReplyObject(r);
    return rv;
}

/* Asks the kept sentinel connection (opened anew when there is none or it
 * failed: each sentinel in turn, the one that answers promoted) for the
 * master and its healthy replicas. 0 with host[cap], *port set, or -1 with
 * err when no sentinel answered. */
static int rconn_ask_sentinels(struct rconn *rc, char *host, size_t cap, int *port,
                               struct sq_err *err)
{
    int i, dt = rconn_discovery_ms(rc);

    if (rc->sctx != NULL &&
        sentinel_ask_state(rc->sctx, rc->url.master_name, host, cap, port, &rc->healthy, err) == 0)
        return 0;
    for (i = 0; i < rc->url.nsentinels; i++) {
        if (rc->sctx != NULL)
            redisFree(rc->sctx);
        rc->sctx = sentinel_open(&rc->url, i, dt, err);
        if (rc->sctx != NULL && sentinel_ask_state(rc->sctx, rc->url.master_name, host, cap, port,
                                                   &rc->healthy, err) == 0) {
            sentinel_promote(&rc->url, i);
            return 0;
        }
    }
    if (rc->sctx != NULL)
        redisFree(rc->sctx);
    rc->sctx = NULL;
    return -1;
}

int rconn_check_master(struct rconn *rc, struct sq_err *err)
{
    char host[256];
    int port;

    if (rc->url.kind != REDIS_URL_SENTINEL || rc->ctx == NULL || rc->npending > 0)
        return 0;
    if (rconn_ask_sentinels(rc, host, sizeof(host), &port, err) < 0)
        return -1;
    if (rc->ctx->tcp.host != NULL && strcmp(rc->ctx->tcp.host, host) == 0 &&
        rc->ctx->tcp.port == port)
        return 0;
    err_set(err, SQ_ERR_TRANSIENT, "redis: the sentinels name %s:%d as master '%s' now", host, port,
            rc->url.master_name);
    rconn_drop(rc); /* the next call connects to it */
    return 1;
}

unsigned long rconn_connects(const struct rconn *rc)
{
    if (rc->cl != NULL)
        return rcluster_connects(rc->cl);
    return rc->nconnects;
}

enum sentinel_status rconn_discovery(const struct rconn *rc)
{
    return rc->discovery;
}

int rconn_peer(const struct rconn *rc, char *buf, size_t cap)
{
    if (rc->cl != NULL)
        return rcluster_peer(rc->cl, buf, cap);
    if (rc->ctx == NULL || rc->url.kind == REDIS_URL_UNIX)
        return -1;
    snprintf(buf, cap, "%s:%d", rc->ctx->tcp.host ? rc->ctx->tcp.host : "?", rc->ctx->tcp.port);
    return 0;
}

int rconn_npending(const struct rconn *rc)
{
    if (rc->cl != NULL)
        return rcluster_npending(rc->cl);
    return rc->npending;
}

void rconn_set_drain(struct rconn *rc, void (*drain)(void *), void *arg)
{
    rc->drain = drain;
    rc->drain_arg = arg;
}

void rconn_set_held(struct rconn *rc, bool is_held)
{
    rc->is_held = is_held;
}

int rconn_backoff_ms(int attempt, int max_ms)
{
    long long ms = 100;
    int i;

    for (i = 1; i < attempt && ms < max_ms; i++)
        ms *= 2;
    if (ms > max_ms)
        ms = max_ms;
    /* +-20 % jitter so that many workers do not reconnect in lockstep */
    ms = ms * 8 / 10 + (clock_mono_ms() % (ms * 4 / 10 + 1));
    return (int)ms;
}

void rconn_free(struct rconn *rc)
{
    if (rc == NULL)
        return;
    rconn_drop(rc);
    if (rc->sctx != NULL)
        redisFree(rc->sctx);
    rcluster_free(rc->cl);
    free(rc);
}
