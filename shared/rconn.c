/* rconn: synchronous hiredis connection with timeouts and lazy reconnect. */
#include "rconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "clock.h"

struct rconn {
    struct redis_url url;
    int timeout_ms;
    redisContext *ctx;
    int npending;             /* replies of rconn_script_send not read yet */
    void (*drain)(void *arg); /* reads them before any other call */
    void *drain_arg;
};

struct rconn *rconn_new(const struct redis_url *url, int timeout_ms)
{
    struct rconn *rc = calloc(1, sizeof(*rc));

    if (rc == NULL)
        return NULL;
    rc->url = *url;
    rc->timeout_ms = timeout_ms;
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

int rconn_is_connected(const struct rconn *rc)
{
    return rc->ctx != NULL;
}

/* Runs a setup command (AUTH, SELECT) on a fresh context; 0 or -1. */
static int rconn_setup_cmd(struct rconn *rc, int argc, const char **argv, struct sq_err *err)
{
    redisReply *r = redisCommandArgv(rc->ctx, argc, argv, NULL);
    int ok;

    if (r == NULL) {
        err_set(err, "redis: %s during %s", rc->ctx->errstr, argv[0]);
        return -1;
    }
    ok = r->type != REDIS_REPLY_ERROR;
    if (!ok)
        err_set(err, "redis: %s failed: %.*s", argv[0], (int)r->len, r->str);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int rconn_ensure(struct rconn *rc, struct sq_err *err)
{
    struct timeval tv = {rc->timeout_ms / 1000, (rc->timeout_ms % 1000) * 1000};
    char db[16];

    if (rc->ctx != NULL)
        return 0;
    if (rc->url.kind == REDIS_URL_UNIX)
        rc->ctx = redisConnectUnixWithTimeout(rc->url.path, tv);
    else
        rc->ctx = redisConnectWithTimeout(rc->url.host, rc->url.port, tv);
    if (rc->ctx == NULL) {
        err_set(err, "redis: out of memory");
        return -1;
    }
    if (rc->ctx->err) {
        err_set(err, "redis: connect: %s", rc->ctx->errstr);
        goto fail;
    }
    if (redisSetTimeout(rc->ctx, tv) != REDIS_OK) {
        err_set(err, "redis: cannot set timeout");
        goto fail;
    }
    if (rc->url.password[0] != '\0') {
        const char *a3[] = {"AUTH", rc->url.user, rc->url.password};
        const char *a2[] = {"AUTH", rc->url.password};
        if (rc->url.user[0] != '\0' ? rconn_setup_cmd(rc, 3, a3, err)
                                    : rconn_setup_cmd(rc, 2, a2, err))
            goto fail;
    }
    if (rc->url.db != 0) {
        const char *as[] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", rc->url.db);
        if (rconn_setup_cmd(rc, 2, as, err) < 0)
            goto fail;
    }
    return 0;
fail:
    rconn_drop(rc);
    return -1;
}

static redisReply *rconn_argv(struct rconn *rc, int argc, const char **argv, const size_t *lens,
                              struct sq_err *err)
{
    redisReply *r;

    if (rc->npending > 0 && rc->drain != NULL)
        rc->drain(rc->drain_arg);
    while (rc->npending > 0) { /* a hook that left some: not ours to read */
        redisReply *p = rconn_pending_reply(rc, err);
        if (p == NULL)
            break;
        freeReplyObject(p);
    }
    if (rconn_ensure(rc, err) < 0)
        return NULL;
    r = redisCommandArgv(rc->ctx, argc, argv, lens);
    if (r == NULL) {
        err_set(err, "redis: %s", rc->ctx->errstr[0] ? rc->ctx->errstr : "connection lost");
        rconn_drop(rc);
    }
    return r;
}

redisReply *rconn_command(struct rconn *rc, const struct rargv *args, struct sq_err *err)
{
    if (args->is_oom) {
        err_set(err, "out of memory building a command");
        return NULL;
    }
    return rconn_argv(rc, (int)args->argc, (const char **)args->argv, args->lens, err);
}

/* Room for a script call's argv and lengths (EVALSHA, sha, nkeys, args): 0,
 * or -1 with err (nothing to free). */
static int rconn_script_room(const struct rargv *args, const char ***argv, size_t **lens,
                             struct sq_err *err)
{
    *argv = NULL;
    *lens = NULL;
    if (!args->is_oom) {
        *argv = malloc((args->argc + 3) * sizeof(**argv));
        *lens = malloc((args->argc + 3) * sizeof(**lens));
    }
    if (*argv == NULL || *lens == NULL) {
        free(*argv);
        free(*lens);
        err_set(err, "out of memory building a command");
        return -1;
    }
    return 0;
}

redisReply *rconn_script(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                         struct sq_err *err)
{
    const char **argv;
    size_t *lens, n;
    char nk[16];
    redisReply *r = NULL;

    if (rconn_script_room(args, &argv, &lens, err) < 0)
        return NULL;
    n = scripts_argv(id, 0, nkeys, args, argv, lens, nk);
    r = rconn_argv(rc, (int)n, argv, lens, err);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && scripts_is_noscript(r->str, r->len)) {
        freeReplyObject(r);
        n = scripts_argv(id, 1, nkeys, args, argv, lens, nk);
        r = rconn_argv(rc, (int)n, argv, lens, err);
    }
    free(argv);
    free(lens);
    return r;
}

int rconn_script_send(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                      struct sq_err *err)
{
    const char **argv;
    size_t *lens, n;
    char nk[16];
    int rv = -1, is_written = 0;

    if (rconn_ensure(rc, err) < 0 || rconn_script_room(args, &argv, &lens, err) < 0)
        return -1;
    n = scripts_argv(id, 0, nkeys, args, argv, lens, nk);
    if (redisAppendCommandArgv(rc->ctx, (int)n, argv, lens) != REDIS_OK) {
        err_set(err, "redis: %s", rc->ctx->errstr[0] ? rc->ctx->errstr : "out of memory");
        rconn_drop(rc);
        goto done;
    }
    /* a blocking socket: each write takes what fits, bounded by the timeout */
    while (!is_written)
        if (redisBufferWrite(rc->ctx, &is_written) != REDIS_OK) {
            err_set(err, "redis: %s", rc->ctx->errstr[0] ? rc->ctx->errstr : "write failed");
            rconn_drop(rc);
            goto done;
        }
    rc->npending++;
    rv = 0;
done:
    free(argv);
    free(lens);
    return rv;
}

redisReply *rconn_pending_reply(struct rconn *rc, struct sq_err *err)
{
    void *r = NULL;

    if (rc->npending == 0 || rc->ctx == NULL) {
        err_set(err, "redis: no reply pending");
        return NULL;
    }
    if (redisGetReply(rc->ctx, &r) != REDIS_OK || r == NULL) {
        err_set(err, "redis: %s", rc->ctx->errstr[0] ? rc->ctx->errstr : "connection lost");
        rconn_drop(rc);
        return NULL;
    }
    rc->npending--;
    return r;
}

int rconn_npending(const struct rconn *rc)
{
    return rc->npending;
}

void rconn_set_drain(struct rconn *rc, void (*drain)(void *), void *arg)
{
    rc->drain = drain;
    rc->drain_arg = arg;
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
    free(rc);
}
