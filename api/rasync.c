/* rasync: the API's one asynchronous Redis connection (hiredis async on the
 * libevent loop), shared and pipelined by all requests: AUTH/SELECT after
 * connecting, reconnect with backoff, a timeout per command, scripts by SHA
 * with an EVAL fallback. It never blocks the loop and never queues a command
 * while disconnected: the caller is told at once that Redis is unavailable. */
#include "api.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "log.h"
#include "rconn.h"

#define RASYNC_BACKOFF_MAX_MS 1000 /* reconnect at least every second: 503s say Retry-After: 1 */
#define RASYNC_CONNECT_MIN_MS 1000 /* shortest time allowed for connect + setup */
#define RASYNC_LOG_EVERY      30   /* repeat a failure's warning every N attempts */

struct rasync {
    struct event_base *base;
    struct redis_url url;
    char addr[NI_MAXHOST]; /* numeric address of url.host, resolved once */
    char desc[512];        /* the URL, safe to log */
    int timeout_ms;
    redisAsyncContext *ac; /* the current context, or NULL */
    bool is_ready;         /* ac is connected and set up: commands accepted */
    bool is_setup_failed;  /* AUTH or SELECT failed on ac */
    bool is_freeing;
    int attempt;               /* consecutive failed connection attempts */
    int64_t last_reply_ms;     /* monotonic time of the last reply on ac */
    unsigned long long errors; /* commands failed (see rasync_errors) */
    /* One timer for three jobs, told apart by ac: with ac NULL it connects;
     * with ac set it drops ac (connect/setup took too long, or ac stalled). */
    struct event *retry_ev;
};

/* One command in flight. It lives until hiredis calls back (with a reply or
 * NULL), even when its timeout already answered the caller. */
struct rasync_req {
    struct rasync *ra;
    rasync_cb *cb;
    void *arg;
    struct event *timer;
    int64_t sent_ms;
    bool is_done; /* cb was called */
    bool is_script;
    bool is_retried; /* the script was sent again with EVAL */
    enum script_id script;
    int nkeys;
    struct rargv args; /* scripts only: kept for the EVAL retry */
};

static void rasync_schedule(struct rasync *ra, int delay_ms)
{
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

    evtimer_add(ra->retry_ev, &tv);
}

static void rasync_schedule_reconnect(struct rasync *ra)
{
    if (ra->is_freeing)
        return;
    if (ra->attempt < 1000000)
        ra->attempt++;
    rasync_schedule(ra, rconn_backoff_ms(ra->attempt, RASYNC_BACKOFF_MAX_MS));
}

/* Warns on the first failure of a series and every RASYNC_LOG_EVERY attempts,
 * so that a long outage does not flood the log. */
static void rasync_log_failure(const struct rasync *ra, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rasync_log_failure(const struct rasync *ra, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    enum log_level level = LOG_LEVEL_DEBUG;

    if (ra->attempt == 0 || ra->attempt % RASYNC_LOG_EVERY == 0)
        level = LOG_LEVEL_WARN;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_write(level, 0, NULL, "%s (attempt %d)", msg, ra->attempt + 1);
}

/* Drops the current context from outside any hiredis callback: pending
 * commands get NULL now, and a reconnect is scheduled. */
static void rasync_drop(struct rasync *ra)
{
    redisAsyncContext *ac = ra->ac;

    ra->ac = NULL;
    ra->is_ready = false;
    if (ac != NULL)
        redisAsyncFree(ac); /* its callbacks see ac != ra->ac and stay quiet */
    rasync_schedule_reconnect(ra);
}

static void rasync_on_connect(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;

    if (ra == NULL || c != ra->ac || status == REDIS_OK)
        return; /* success is noticed by the setup PING (unix sockets skip this) */
    rasync_log_failure(ra, "redis: cannot connect to %s: %s", ra->desc, c->errstr);
    ra->ac = NULL; /* hiredis frees the context after we return */
    ra->is_ready = false;
    rasync_schedule_reconnect(ra);
}

static void rasync_on_disconnect(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;
    bool was_ready;

    if (ra == NULL || c != ra->ac)
        return;
    was_ready = ra->is_ready;
    ra->ac = NULL; /* hiredis frees the context after we return */
    ra->is_ready = false;
    if (ra->is_freeing)
        return;
    if (was_ready)
        log_warnx("redis: connection to %s lost: %s", ra->desc,
                  status == REDIS_OK ? "closed" : c->errstr);
    rasync_schedule_reconnect(ra);
}

/* Reply to AUTH or SELECT. */
static void rasync_on_setup_reply(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync *ra = privdata;
    redisReply *reply = r;

    if (c != ra->ac || reply == NULL)
        return; /* stale context, or lost: the disconnect callback handles it */
    if (reply->type == REDIS_REPLY_ERROR && !ra->is_setup_failed) {
        ra->is_setup_failed = true;
        rasync_log_failure(ra, "redis: setup of the connection to %s failed: %.*s", ra->desc,
                           (int)reply->len, reply->str);
    }
}

/* Reply to the PING that ends the setup: the connection becomes usable. */
static void rasync_on_setup_done(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync *ra = privdata;
    redisReply *reply = r;

    if (c != ra->ac || reply == NULL)
        return;
    ra->last_reply_ms = clock_mono_ms();
    if (ra->is_setup_failed || reply->type == REDIS_REPLY_ERROR) {
        if (!ra->is_setup_failed)
            rasync_log_failure(ra, "redis: PING on %s failed: %.*s", ra->desc, (int)reply->len,
                               reply->str);
        redisAsyncDisconnect(c); /* deferred by hiredis; then the disconnect callback */
        return;
    }
    evtimer_del(ra->retry_ev); /* the connect deadline */
    ra->is_ready = true;
    ra->attempt = 0;
    log_info("redis: connected to %s", ra->desc);
}

/* Starts a new context and queues AUTH, SELECT and PING on it. */
static void rasync_connect(struct rasync *ra)
{
    redisAsyncContext *ac;
    char db[16];
    int ok = 1, deadline;

    if (ra->url.kind == REDIS_URL_UNIX)
        ac = redisAsyncConnectUnix(ra->url.path);
    else
        ac = redisAsyncConnect(ra->addr, ra->url.port);
    if (ac == NULL || ac->err) {
        rasync_log_failure(ra, "redis: cannot connect to %s: %s", ra->desc,
                           ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rasync_schedule_reconnect(ra);
        return;
    }
    ac->data = ra;
    if (redisLibeventAttach(ac, ra->base) != REDIS_OK) {
        redisAsyncFree(ac);
        rasync_schedule_reconnect(ra);
        return;
    }
    redisAsyncSetConnectCallback(ac, rasync_on_connect);
    redisAsyncSetDisconnectCallback(ac, rasync_on_disconnect);
    ra->ac = ac;
    ra->is_ready = false;
    ra->is_setup_failed = false;
    ra->last_reply_ms = clock_mono_ms();

    /* hiredis writes these once connected, before anything sent later. */
    if (ra->url.password[0] != '\0') {
        const char *av[3] = {"AUTH", ra->url.user, ra->url.password};
        if (ra->url.user[0] != '\0')
            ok = redisAsyncCommandArgv(ac, rasync_on_setup_reply, ra, 3, av, NULL) == REDIS_OK;
        else
            ok =
                redisAsyncCommandArgv(ac, rasync_on_setup_reply, ra, 2,
                                      (const char *[]){"AUTH", ra->url.password}, NULL) == REDIS_OK;
    }
    if (ok && ra->url.db != 0) {
        snprintf(db, sizeof(db), "%d", ra->url.db);
        ok = redisAsyncCommandArgv(ac, rasync_on_setup_reply, ra, 2, (const char *[]){"SELECT", db},
                                   NULL) == REDIS_OK;
    }
    if (ok)
        ok = redisAsyncCommandArgv(ac, rasync_on_setup_done, ra, 1, (const char *[]){"PING"},
                                   NULL) == REDIS_OK;
    if (!ok) {
        rasync_drop(ra);
        return;
    }
    /* Deadline for connect + setup: a black-holed address must not keep us
     * waiting for the kernel's connect timeout. */
    deadline = ra->timeout_ms > RASYNC_CONNECT_MIN_MS ? ra->timeout_ms : RASYNC_CONNECT_MIN_MS;
    rasync_schedule(ra, deadline);
}

static void rasync_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct rasync *ra = arg;

    (void)fd;
    (void)what;
    if (ra->ac == NULL) {
        rasync_connect(ra);
        return;
    }
    if (!ra->is_ready)
        rasync_log_failure(ra, "redis: no answer from %s within %d ms of connecting", ra->desc,
                           ra->timeout_ms > RASYNC_CONNECT_MIN_MS ? ra->timeout_ms
                                                                  : RASYNC_CONNECT_MIN_MS);
    else
        log_warnx("redis: no reply from %s for %d ms, reconnecting", ra->desc, ra->timeout_ms);
    rasync_drop(ra);
}

static void rasync_req_free(struct rasync_req *req)
{
    if (req == NULL)
        return;
    if (req->timer != NULL)
        event_free(req->timer);
    rargv_free(&req->args);
    free(req);
}

static void rasync_on_reply(redisAsyncContext *c, void *r, void *privdata);

/* The one place a command's outcome reaches its caller (reply or timeout):
 * failures are counted here, for stageq_redis_errors_total. */
static void rasync_deliver(struct rasync_req *req, const redisReply *reply, enum rasync_err err)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        req->ra->errors++;
    req->is_done = true;
    req->cb(reply, err, req->arg);
}

/* Hands req to hiredis on ac. 0, or -1 (req untouched by hiredis). */
static int rasync_send(redisAsyncContext *ac, struct rasync_req *req, const struct rargv *args)
{
    const char **argv = NULL;
    size_t *lens = NULL, n;
    char nk[16];
    int rc = -1;

    if (!req->is_script)
        return redisAsyncCommandArgv(ac, rasync_on_reply, req, (int)args->argc,
                                     (const char **)args->argv, args->lens) == REDIS_OK
                   ? 0
                   : -1;
    argv = malloc((req->args.argc + 3) * sizeof(*argv));
    lens = malloc((req->args.argc + 3) * sizeof(*lens));
    if (argv == NULL || lens == NULL)
        goto done;
    n = scripts_argv(req->script, req->is_retried, req->nkeys, &req->args, argv, lens, nk);
    if (redisAsyncCommandArgv(ac, rasync_on_reply, req, (int)n, argv, lens) == REDIS_OK)
        rc = 0;
done:
    free(argv);
    free(lens);
    return rc;
}

static void rasync_on_reply(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync_req *req = privdata;
    struct rasync *ra = req->ra;
    redisReply *reply = r;

    if (reply != NULL && c == ra->ac)
        ra->last_reply_ms = clock_mono_ms();
    if (reply != NULL && !req->is_done && req->is_script && !req->is_retried &&
        reply->type == REDIS_REPLY_ERROR && scripts_is_noscript(reply->str, reply->len)) {
        /* Redis lost its script cache (restart, SCRIPT FLUSH): send the source. */
        req->is_retried = true;
        if (rasync_send(c, req, NULL) == 0)
            return;
        reply = NULL;
    }
    if (!req->is_done)
        rasync_deliver(req, reply, reply != NULL ? RASYNC_OK : RASYNC_UNAVAILABLE);
    rasync_req_free(req);
}

static void rasync_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct rasync_req *req = arg;
    struct rasync *ra = req->ra;
    bool is_stalled;

    (void)fd;
    (void)what;
    if (req->is_done)
        return;
    /* Nothing at all came back since this command went out: the connection
     * is stuck (Redis stopped, network black hole). Replace it; hiredis has no
     * timeout of its own and would otherwise keep every command forever. */
    is_stalled = ra->ac != NULL && ra->is_ready && ra->last_reply_ms < req->sent_ms;
    rasync_deliver(req, NULL, RASYNC_TIMEOUT);
    /* req stays alive until hiredis calls back. */
    if (is_stalled && ra->ac != NULL && !evtimer_pending(ra->retry_ev, NULL))
        rasync_schedule(ra, 0);
}

static struct rasync_req *rasync_req_new(struct rasync *ra, rasync_cb *cb, void *arg)
{
    struct rasync_req *req = calloc(1, sizeof(*req));

    if (req == NULL)
        return NULL;
    req->ra = ra;
    req->cb = cb;
    req->arg = arg;
    rargv_init(&req->args);
    req->timer = evtimer_new(ra->base, rasync_on_timeout, req);
    if (req->timer == NULL) {
        free(req);
        return NULL;
    }
    return req;
}

/* Sends req (built by the caller) and arms its timeout. Frees req on failure. */
static int rasync_submit(struct rasync *ra, struct rasync_req *req, const struct rargv *args)
{
    struct timeval tv = {ra->timeout_ms / 1000, (ra->timeout_ms % 1000) * 1000};

    if (!ra->is_ready || ra->ac == NULL || rasync_send(ra->ac, req, args) < 0) {
        rasync_req_free(req);
        return -1;
    }
    req->sent_ms = clock_mono_ms();
    evtimer_add(req->timer, &tv);
    return 0;
}

int rasync_command(struct rasync *ra, const struct rargv *args, rasync_cb *cb, void *arg)
{
    struct rasync_req *req;

    if (args->is_oom || args->argc == 0 || !ra->is_ready)
        return -1;
    req = rasync_req_new(ra, cb, arg);
    if (req == NULL)
        return -1;
    return rasync_submit(ra, req, args);
}

int rasync_script(struct rasync *ra, enum script_id id, int nkeys, struct rargv *args,
                  rasync_cb *cb, void *arg)
{
    struct rasync_req *req;

    if (args->is_oom || !ra->is_ready || (req = rasync_req_new(ra, cb, arg)) == NULL) {
        rargv_free(args);
        return -1;
    }
    req->is_script = true;
    req->script = id;
    req->nkeys = nkeys;
    req->args = *args; /* take the strings */
    rargv_init(args);
    return rasync_submit(ra, req, NULL);
}

bool rasync_is_ready(const struct rasync *ra)
{
    return ra->is_ready;
}

unsigned long long rasync_errors(const struct rasync *ra)
{
    return ra->errors;
}

/* Resolves url.host once into a numeric address (IPv4 preferred, as hiredis'
 * own connect does), because redisAsyncConnect would resolve blocking. */
static int rasync_resolve(struct rasync *ra, struct sq_err *err)
{
    return redis_url_resolve(&ra->url, ra->addr, sizeof(ra->addr), err);
}

struct rasync *rasync_new(struct event_base *base, const struct redis_url *url, int timeout_ms,
                          struct sq_err *err)
{
    struct rasync *ra = calloc(1, sizeof(*ra));

    if (ra == NULL) {
        err_set(err, "out of memory");
        return NULL;
    }
    ra->base = base;
    ra->url = *url;
    ra->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    redis_url_describe(url, ra->desc, sizeof(ra->desc));
    if (url->kind == REDIS_URL_TCP && rasync_resolve(ra, err) < 0)
        goto fail;
    ra->retry_ev = evtimer_new(base, rasync_on_retry, ra);
    if (ra->retry_ev == NULL) {
        err_set(err, "out of memory");
        goto fail;
    }
    rasync_connect(ra);
    return ra;
fail:
    free(ra);
    return NULL;
}

void rasync_free(struct rasync *ra)
{
    if (ra == NULL)
        return;
    ra->is_freeing = true;
    if (ra->retry_ev != NULL)
        evtimer_del(ra->retry_ev);
    rasync_drop(ra); /* answers every pending command with NULL */
    if (ra->retry_ev != NULL)
        event_free(ra->retry_ev);
    free(ra);
}

/* ------------------------------------------------------------------------ */
/* Batches: commands sent back to back, one round trip.                     */

struct rasync_batch_slot {
    struct rasync_batch *b;
    size_t i;
};

void rasync_batch_begin(struct rasync_batch *b)
{
    b->pending = 1; /* held while sending, so no callback can finish the batch */
    b->is_failed = false;
    b->err = RASYNC_OK;
}

void rasync_batch_end(struct rasync_batch *b)
{
    if (--b->pending == 0)
        b->on_done(b->ctx, b->is_failed, b->err);
}

static void rasync_batch_cb(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct rasync_batch_slot *slot = arg;
    struct rasync_batch *b = slot->b;
    size_t i = slot->i;

    free(slot);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply != NULL)
            log_warnx("redis: %.*s", (int)reply->len, reply->str);
        b->is_failed = true;
        b->err = reply == NULL ? err : RASYNC_UNAVAILABLE;
    } else if (!b->is_failed) {
        b->on_reply(b->ctx, i, reply);
    }
    rasync_batch_end(b);
}

void rasync_batch_send(struct rasync *ra, struct rasync_batch *b, struct rargv *args, size_t i)
{
    struct rasync_batch_slot *slot = b->is_failed ? NULL : malloc(sizeof(*slot));

    if (slot != NULL) {
        slot->b = b;
        slot->i = i;
        if (rasync_command(ra, args, rasync_batch_cb, slot) == 0) {
            b->pending++;
        } else {
            free(slot);
            slot = NULL;
        }
    }
    if (slot == NULL) {
        b->is_failed = true;
        b->err = RASYNC_UNAVAILABLE;
    }
    rargv_free(args);
}
