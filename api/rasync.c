/* rasync: the API's one module of asynchronous Redis connections (hiredis
 * async on the libevent loop). Finding the master (Sentinel discovery, or on a
 * Redis Cluster the slot map and the MOVED/ASK redirections), connecting, the
 * setup (AUTH, SELECT, ROLE), the deadlines, dropping a connection on a
 * failover reply and reconnecting with backoff live here and nowhere else,
 * for two kinds of handle: the command connection, shared and pipelined by all
 * requests (a timeout per command, scripts by SHA with an EVAL fallback; on a
 * cluster, one such connection per master), and
 * the subscriber, a connection of its own (hiredis 0.14's pub/sub tolerates
 * nothing else on it) that holds one SUBSCRIBE while its owner wants it. It
 * never blocks the loop and never queues a command while disconnected: the
 * caller is told at once that Redis is unavailable. */
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
#include "cluster.h"
#include "log.h"
#include "rarena.h"
#include "rconn.h"
#include "sentinel.h"

#define RASYNC_BACKOFF_MAX_MS  1000 /* reconnect at least every second: 503s say Retry-After: 1 */
#define RASYNC_CONNECT_MIN_MS  1000 /* shortest time allowed for connect + setup */
#define RASYNC_LOG_EVERY       30   /* repeat a failure's warning every N attempts */
#define RASYNC_SENTINEL_MAX_MS 1000 /* longest wait for one sentinel's answer */
#define RASYNC_CHECK_MS        1000 /* a command connection asks who is master this often */
#define RASYNC_LOWER_AFTER_MS  5000 /* a lower count of healthy replicas is believed after */

enum rasync_kind { RASYNC_COMMANDS, RASYNC_SUBSCRIBER };

/* Where a handle is in the life of its connection; what retry_ev does when
 * it fires follows from it (rasync_on_retry). */
enum rasync_phase {
    RASYNC_WAITING,    /* no context: retry_ev connects (after the backoff) */
    RASYNC_ASKING,     /* sac asks sentinel si for the master: retry_ev is its deadline */
    RASYNC_SETTING_UP, /* ac connecting, its setup sent: retry_ev is the deadline */
    RASYNC_READY,      /* ac usable; a subscriber's retry_ev guards a (UN)SUBSCRIBE */
    RASYNC_DROPPING,   /* ac must go (stalled, failover reply): retry_ev drops it now */
};

/* A subscriber's subscription. At most one SUBSCRIBE or UNSUBSCRIBE is in
 * flight (see "the subscriber" below). */
enum rasync_sub {
    RASYNC_SUB_OFF,     /* not subscribed, nothing in flight */
    RASYNC_SUB_PENDING, /* SUBSCRIBE sent, not confirmed */
    RASYNC_SUB_ON,      /* confirmed: messages flow */
    RASYNC_SUB_LEAVING  /* UNSUBSCRIBE sent, not confirmed (messages may still come) */
};

/* How each kind names itself in the log. */
static const struct {
    const char *name;        /* the log lines' prefix */
    const char *what;        /* "setup of the redis <what> failed" */
    enum log_level up_level; /* of "connected to ..." */
} rasync_kinds[] = {
    [RASYNC_COMMANDS] = {"redis", "connection", LOG_LEVEL_INFO},
    [RASYNC_SUBSCRIBER] = {"events", "subscription", LOG_LEVEL_DEBUG},
};

struct rasync_cluster;

struct rasync {
    struct event_base *base;
    enum rasync_kind kind;
    const char *name; /* rasync_kinds[kind].name */
    struct redis_url url;
    char addr[NI_MAXHOST]; /* numeric address of url.host, resolved once */
    char desc[512];        /* the URL, safe to log */
    int timeout_ms;
    redisAsyncContext *ac; /* the current context, or NULL */
    uint32_t scripts;      /* scripts ac had (SCRIPT_BIT): EVALSHA for them, EVAL first */
    enum rasync_phase phase;
    char node[300];          /* "host:port" of ac's node: asked anew on every connect */
    char why[700];           /* the last failure, for 503s and /readyz; "" when ready */
    struct rasync *follower; /* reconnected when this one finds the master elsewhere */
    /* Sentinel discovery: url.sentinels[].host are numeric, resolved once */
    redisAsyncContext *sac; /* the sentinel being asked, or NULL */
    int si;                 /* its index in url.sentinels */
    bool is_answered;       /* a sentinel of this round answered without knowing the master */
    /* RASYNC_COMMANDS behind a Sentinel: while ready, the first sentinel is
     * asked every RASYNC_CHECK_MS who is master (a stale master that came
     * back, a graceful failover, are left at once) */
    struct event *check_ev;
    redisAsyncContext *cac; /* the sentinel asked, kept open between checks, or NULL */
    bool is_check_pending;  /* a check sent on cac is not answered yet */
    int healthy;            /* replicas the sentinels last counted healthy (-1: not known) */
    bool is_check_other;    /* the last check named another master than ac's */
    int64_t lower_since_ms; /* monotonic: since when checks count fewer than healthy (0: not) */
    bool is_setup_failed;   /* AUTH or SELECT failed on ac */
    bool is_freeing;
    int attempt;               /* consecutive failed connection attempts */
    int64_t last_reply_ms;     /* monotonic time of the last reply on ac */
    unsigned long long errors; /* commands failed (see rasync_errors) */
    char drop_why[400];        /* RASYNC_DROPPING: why, for the log */
    struct event *retry_ev;
    /* RASYNC_SUBSCRIBER only */
    char channel[KEYS_MAX_LEN];
    struct rasync_sub_hooks hooks;
    enum rasync_sub sub;
    bool is_sub_wanted;
    /* RASYNC_COMMANDS on a cluster: the links to its nodes and the slot map
     * (see "cluster mode" below); NULL otherwise */
    struct rasync_cluster *cl;
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

/* How long Redis may take to answer the setup or a (UN)SUBSCRIBE. */
static int rasync_deadline_ms(const struct rasync *ra)
{
    return ra->timeout_ms > RASYNC_CONNECT_MIN_MS ? ra->timeout_ms : RASYNC_CONNECT_MIN_MS;
}

/* Warns on the first failure of a series and every RASYNC_LOG_EVERY attempts,
 * so that a long outage does not flood the log. */
static void rasync_log_failure(struct rasync *ra, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rasync_log_failure(struct rasync *ra, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    enum log_level level = LOG_LEVEL_DEBUG;

    if (ra->attempt == 0 || ra->attempt % RASYNC_LOG_EVERY == 0)
        level = LOG_LEVEL_WARN;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_write(level, 0, NULL, "%s: %s (attempt %d)", ra->name, msg, ra->attempt + 1);
    snprintf(ra->why, sizeof(ra->why), "%s", msg);
}

/* ac is gone (hiredis frees it, or the caller did): forget it, schedule the
 * next attempt, tell a subscriber's owner. */
static void rasync_lost(struct rasync *ra)
{
    ra->ac = NULL;
    ra->phase = RASYNC_WAITING;
    ra->sub = RASYNC_SUB_OFF;
    if (ra->is_freeing)
        return;
    if (ra->attempt < 1000000)
        ra->attempt++;
    rasync_schedule(ra, rconn_backoff_ms(ra->attempt, RASYNC_BACKOFF_MAX_MS));
    if (ra->hooks.on_down != NULL)
        ra->hooks.on_down(ra->hooks.arg);
}

/* Drops the current context from outside any hiredis callback: pending
 * commands get NULL now, and a reconnect is scheduled. */
static void rasync_drop(struct rasync *ra)
{
    redisAsyncContext *ac = ra->ac, *sac = ra->sac, *cac = ra->cac;

    ra->ac = NULL;
    ra->sac = NULL;
    ra->cac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac); /* its callbacks see ac != ra->ac and stay quiet */
    if (sac != NULL)
        redisAsyncFree(sac);
    if (cac != NULL)
        redisAsyncFree(cac);
    rasync_lost(ra);
}

/* Asks for ac to be dropped at once, from the loop (the caller may be inside
 * one of ac's callbacks, where freeing it is not allowed). New commands are
 * refused from now on. */
static void rasync_schedule_drop(struct rasync *ra, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rasync_schedule_drop(struct rasync *ra, const char *fmt, ...)
{
    va_list ap;

    if (ra->ac == NULL || ra->phase == RASYNC_DROPPING)
        return;
    va_start(ap, fmt);
    vsnprintf(ra->drop_why, sizeof(ra->drop_why), fmt, ap);
    va_end(ap);
    ra->phase = RASYNC_DROPPING;
    rasync_schedule(ra, 0);
}

static void rasync_on_connect(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;

    if (ra == NULL || c != ra->ac || status == REDIS_OK)
        return; /* success is noticed by the setup's last reply (unix sockets skip this) */
    if (ra->url.kind == REDIS_URL_SENTINEL)
        rasync_log_failure(ra, "%s: %s: %s", sentinel_status_text(SENTINEL_MASTER_DOWN), ra->node,
                           c->errstr);
    else
        rasync_log_failure(ra, "cannot connect to %s: %s", ra->node, c->errstr);
    rasync_lost(ra); /* hiredis frees the context after we return */
}

static void rasync_on_disconnect(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;
    const char *why = status == REDIS_OK ? "closed" : c->errstr;

    if (ra == NULL || c != ra->ac)
        return;
    snprintf(ra->why, sizeof(ra->why), "connection to %s lost: %s", ra->node, why);
    if (ra->sub == RASYNC_SUB_ON || ra->sub == RASYNC_SUB_LEAVING)
        log_warnx("%s: redis subscription lost: %s", ra->name, why);
    else if (ra->kind == RASYNC_COMMANDS && ra->phase == RASYNC_READY)
        log_warnx("%s: connection to %s lost: %s", ra->name, ra->desc, why);
    else if (ra->phase == RASYNC_READY)
        log_debug("%s: idle redis connection lost: %s", ra->name, why);
    rasync_lost(ra); /* hiredis frees the context after we return */
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
        rasync_log_failure(ra, "setup of the redis %s failed: %.*s", rasync_kinds[ra->kind].what,
                           (int)reply->len, reply->str);
    }
}

static void rasync_sub_update(struct rasync *ra);

/* The node is ready: a follower on another node is moved to this one. */
static void rasync_lead(struct rasync *ra)
{
    struct rasync *f = ra->follower;

    if (f != NULL && f->ac != NULL && f->phase != RASYNC_DROPPING && strcmp(f->node, ra->node) != 0)
        rasync_schedule_drop(f, "the master is now %s (was %s)", ra->node, f->node);
}

/* Reply to the PING (ROLE for a master found by the sentinels) that ends the
 * setup: the connection becomes usable. */
static void rasync_on_setup_done(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync *ra = privdata;
    redisReply *reply = r;

    if (c != ra->ac || reply == NULL || (c->c.flags & REDIS_DISCONNECTING))
        return;
    ra->last_reply_ms = clock_mono_ms();
    if (ra->is_setup_failed || reply->type == REDIS_REPLY_ERROR) {
        if (!ra->is_setup_failed)
            rasync_log_failure(ra, "%s on %s failed: %.*s",
                               ra->url.kind == REDIS_URL_SENTINEL ? "ROLE" : "PING", ra->node,
                               (int)reply->len, reply->str);
        redisAsyncDisconnect(c); /* deferred by hiredis; then the disconnect callback */
        return;
    }
    if (ra->url.kind == REDIS_URL_SENTINEL && sentinel_parse_role(reply) != 1) {
        /* mid-failover: the sentinels named a node that is (again) a replica */
        rasync_log_failure(ra, "%s: %s (master '%s')", sentinel_status_text(SENTINEL_NOT_MASTER),
                           ra->node, ra->url.master_name);
        redisAsyncDisconnect(c);
        return;
    }
    evtimer_del(ra->retry_ev); /* the connect deadline */
    ra->phase = RASYNC_READY;
    ra->attempt = 0;
    ra->why[0] = '\0';
    if (ra->url.kind == REDIS_URL_SENTINEL)
        log_write(rasync_kinds[ra->kind].up_level, 0, NULL,
                  "%s: connected to %s (master '%s' at %s)", ra->name, ra->desc,
                  ra->url.master_name, ra->node);
    else if (ra->url.kind == REDIS_URL_CLUSTER)
        log_write(rasync_kinds[ra->kind].up_level, 0, NULL, "%s: connected to %s (node %s)",
                  ra->name, ra->desc, ra->node);
    else
        log_write(rasync_kinds[ra->kind].up_level, 0, NULL, "%s: connected to %s", ra->name,
                  ra->desc);
    rasync_sub_update(ra);
    rasync_lead(ra);
}

/* Writes "host:port" ("[v6]:port") into buf[cap]. */
static void rasync_node_name(char *buf, size_t cap, const char *host, int port)
{
    snprintf(buf, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* Queues AUTH [user] password on ac when password is set. 1 when queued or
 * not needed, 0 when hiredis refused it. */
static int rasync_send_auth(redisAsyncContext *ac, redisCallbackFn *fn, struct rasync *ra,
                            const char *user, const char *password)
{
    const char *argv[3] = {"AUTH", user, password};

    if (password[0] == '\0')
        return 1;
    if (user[0] == '\0')
        argv[1] = password;
    return redisAsyncCommandArgv(ac, fn, ra, user[0] != '\0' ? 3 : 2, argv, NULL) == REDIS_OK;
}

/* Starts a new context to the data node (host NULL: the unix socket) and
 * queues AUTH, SELECT and PING (ROLE behind a Sentinel) on it. */
static void rasync_open_node(struct rasync *ra, const char *host, int port)
{
    redisAsyncContext *ac;
    char db[16];
    int ok;

    if (host == NULL) {
        ac = redisAsyncConnectUnix(ra->url.path);
        snprintf(ra->node, sizeof(ra->node), "%s", ra->url.path);
    } else {
        char was[sizeof(ra->node)];
        snprintf(was, sizeof(was), "%s", ra->node);
        ac = redisAsyncConnect(host, port);
        rasync_node_name(ra->node, sizeof(ra->node), host, port);
        if (strcmp(was, ra->node) != 0) { /* another master: count its replicas afresh */
            ra->healthy = -1;
            ra->lower_since_ms = 0;
        }
    }
    if (ac == NULL || ac->err) {
        rasync_log_failure(ra, "cannot connect to %s: %s", ra->node,
                           ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rasync_lost(ra);
        return;
    }
    ac->data = ra;
    /* Replies of the data node in one block each (a status GET's HGETALL:
     * one malloc, not 2n + 1). Nothing here or in shared/ frees an async
     * reply: hiredis does, after the callback, with rarena_free. The
     * sentinels' contexts keep hiredis' own replies. */
    rarena_use(ac->c.reader);
    if (redisLibeventAttach(ac, ra->base) != REDIS_OK) {
        redisAsyncFree(ac);
        rasync_lost(ra);
        return;
    }
    redisAsyncSetConnectCallback(ac, rasync_on_connect);
    redisAsyncSetDisconnectCallback(ac, rasync_on_disconnect);
    ra->ac = ac;
    ra->scripts = 0;
    ra->phase = RASYNC_SETTING_UP;
    ra->sub = RASYNC_SUB_OFF;
    ra->is_setup_failed = false;
    ra->last_reply_ms = clock_mono_ms();

    /* hiredis writes these once connected, before anything sent later. */
    ok = rasync_send_auth(ac, rasync_on_setup_reply, ra, ra->url.user, ra->url.password);
    if (ok && ra->url.db != 0) {
        snprintf(db, sizeof(db), "%d", ra->url.db);
        ok = redisAsyncCommandArgv(ac, rasync_on_setup_reply, ra, 2, (const char *[]){"SELECT", db},
                                   NULL) == REDIS_OK;
    }
    if (ok)
        ok = redisAsyncCommandArgv(
                 ac, rasync_on_setup_done, ra, 1,
                 (const char *[]){ra->url.kind == REDIS_URL_SENTINEL ? "ROLE" : "PING"},
                 NULL) == REDIS_OK;
    if (!ok) {
        rasync_drop(ra);
        return;
    }
    /* Deadline for connect + setup: a black-holed address must not keep us
     * waiting for the kernel's connect timeout. */
    rasync_schedule(ra, rasync_deadline_ms(ra));
}

/* ---- Sentinel discovery ----
 *
 * As the Sentinel client guidelines ask: the sentinels are asked in turn
 * (each bounded by a short deadline) for the master's address, the first that
 * knows it goes to the front of the list, and the node it named must say
 * ROLE master. Nothing is cached: every connect asks again. */

static void rasync_ask_next(struct rasync *ra);

/* The sentinel being asked is gone or useless: forget it, ask the next. */
static void rasync_sentinel_done(struct rasync *ra, redisAsyncContext *c, bool is_inside)
{
    ra->sac = NULL;
    if (is_inside)
        redisAsyncDisconnect(c); /* inside its callback: hiredis closes it after */
    else
        redisAsyncFree(c);
    rasync_ask_next(ra);
}

static void rasync_on_sentinel_connect(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;

    if (ra == NULL || c != ra->sac || status == REDIS_OK)
        return;
    log_debug("%s: sentinel %s:%d: %s", ra->name, ra->url.sentinels[ra->si].host,
              ra->url.sentinels[ra->si].port, c->errstr);
    ra->sac = NULL; /* hiredis frees it after we return */
    rasync_ask_next(ra);
}

static void rasync_on_sentinel_disconnect(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;

    (void)status;
    if (ra == NULL || c != ra->sac)
        return;
    ra->sac = NULL; /* lost before it answered; hiredis frees it after we return */
    rasync_ask_next(ra);
}

/* The reply to AUTH (the sentinels' own password): an error shows in the
 * reply to the question that follows it. */
static void rasync_on_sentinel_auth(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync *ra = privdata;
    redisReply *reply = r;

    if (c == ra->sac && reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_debug("%s: sentinel %s:%d refused AUTH: %.*s", ra->name, ra->url.sentinels[ra->si].host,
                  ra->url.sentinels[ra->si].port, (int)reply->len, reply->str);
}

/* Names numeric host[] from a sentinel's answer into addr[cap] (a name is
 * resolved: Sentinel gives addresses unless told to announce host names). */
static int rasync_numeric(const char *host, char *addr, size_t cap)
{
    struct redis_url tmp;
    struct sq_err e;

    memset(&tmp, 0, sizeof(tmp));
    tmp.kind = REDIS_URL_TCP;
    snprintf(tmp.host, sizeof(tmp.host), "%s", host);
    return redis_url_resolve(&tmp, addr, cap, &e);
}

/* The answer to SENTINEL get-master-addr-by-name. */
static void rasync_on_sentinel_reply(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync *ra = privdata;
    redisReply *reply = r;
    char host[256], addr[NI_MAXHOST];
    int port = 0, rc;

    if (c != ra->sac || reply == NULL)
        return; /* lost: the disconnect callback asks the next */
    rc = sentinel_parse_master_addr(reply, host, sizeof(host), &port);
    if (rc == 0)
        ra->is_answered = true;
    if (rc <= 0 || rasync_numeric(host, addr, sizeof(addr)) < 0) {
        if (rc < 0)
            log_debug("%s: sentinel %s:%d: unexpected answer%s%.*s", ra->name,
                      ra->url.sentinels[ra->si].host, ra->url.sentinels[ra->si].port,
                      reply->type == REDIS_REPLY_ERROR ? ": " : "",
                      reply->type == REDIS_REPLY_ERROR ? (int)reply->len : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        rasync_sentinel_done(ra, c, true);
        return;
    }
    evtimer_del(ra->retry_ev); /* this sentinel's deadline */
    ra->sac = NULL;
    redisAsyncDisconnect(c);
    sentinel_promote(&ra->url, ra->si);
    rasync_open_node(ra, addr, port);
}

/* Connects to sentinel n and queues its AUTH (when the URL has a sentinel
 * password) and SENTINEL get-master-addr-by-name: a new context whose data
 * is ra, or NULL (nothing left behind). */
static redisAsyncContext *rasync_ask(struct rasync *ra, const struct redis_url_node *n,
                                     redisConnectCallback *on_connect,
                                     redisDisconnectCallback *on_disconnect,
                                     redisCallbackFn *on_auth, redisCallbackFn *on_reply)
{
    redisAsyncContext *c = redisAsyncConnect(n->host, n->port);

    if (c == NULL || c->err || redisLibeventAttach(c, ra->base) != REDIS_OK)
        goto fail;
    c->data = ra;
    redisAsyncSetConnectCallback(c, on_connect);
    redisAsyncSetDisconnectCallback(c, on_disconnect);
    if (rasync_send_auth(c, on_auth, ra, ra->url.sentinel_user, ra->url.sentinel_password) &&
        redisAsyncCommandArgv(
            c, on_reply, ra, 3,
            (const char *[]){"SENTINEL", "get-master-addr-by-name", ra->url.master_name},
            NULL) == REDIS_OK)
        return c;
fail:
    if (c != NULL)
        redisAsyncFree(c);
    return NULL;
}

/* Asks the next sentinel of the round; after the last, the round failed. */
static void rasync_ask_next(struct rasync *ra)
{
    redisAsyncContext *sac;
    int ms = ra->timeout_ms < RASYNC_SENTINEL_MAX_MS ? ra->timeout_ms : RASYNC_SENTINEL_MAX_MS;

    if (ra->is_freeing)
        return;
    if (++ra->si >= ra->url.nsentinels) {
        evtimer_del(ra->retry_ev);
        if (ra->is_answered)
            rasync_log_failure(ra, "%s: none of %d knows master '%s'",
                               sentinel_status_text(SENTINEL_UNKNOWN_MASTER), ra->url.nsentinels,
                               ra->url.master_name);
        else
            rasync_log_failure(ra, "%s: none of %d answered (%s)",
                               sentinel_status_text(SENTINEL_UNREACHABLE), ra->url.nsentinels,
                               ra->desc);
        rasync_lost(ra);
        return;
    }
    sac = rasync_ask(ra, &ra->url.sentinels[ra->si], rasync_on_sentinel_connect,
                     rasync_on_sentinel_disconnect, rasync_on_sentinel_auth,
                     rasync_on_sentinel_reply);
    if (sac == NULL) {
        rasync_ask_next(ra);
        return;
    }
    ra->sac = sac;
    ra->phase = RASYNC_ASKING;
    rasync_schedule(ra, ms);
}

/* ---- the master check ---- */

static void rasync_on_check_reply(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync *ra = privdata;
    char host[256], addr[NI_MAXHOST], node[sizeof(ra->node)];
    int port = 0;

    if (c != ra->cac || r == NULL)
        return;
    if (sentinel_parse_master_addr(r, host, sizeof(host), &port) != 1 ||
        rasync_numeric(host, addr, sizeof(addr)) < 0)
        return; /* no answer is no news: commands and timeouts tell the rest */
    rasync_node_name(node, sizeof(node), addr, port);
    ra->is_check_other = strcmp(node, ra->node) != 0;
    if (rasync_is_ready(ra) && strcmp(node, ra->node) != 0)
        rasync_schedule_drop(ra, "the sentinels name %s as master '%s', not %s", node,
                             ra->url.master_name, ra->node);
}

/* The second reply of a check, SENTINEL REPLICAS: the count WAIT asks for. */
static void rasync_on_replicas_reply(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync *ra = privdata;
    int64_t now;
    int n;

    if (c != ra->cac || r == NULL)
        return;
    ra->is_check_pending = false;
    n = sentinel_parse_healthy_replicas(r);
    if (n < 0 || ra->is_check_other)
        return; /* the replicas of a master we are about to leave say nothing of ours */
    if (ra->healthy < 0 || n >= ra->healthy) {
        ra->healthy = n;
        ra->lower_since_ms = 0;
        return;
    }
    /* Fewer than before. In a graceful failover the sentinels stop counting
     * the replica they promote a moment before they name it master, while
     * the old master still takes writes and its other replica still acks
     * them: lowering WAIT's count then would acknowledge jobs the
     * switch-over throws away. A lower count is believed only once the
     * checks have said it for RASYNC_LOWER_AFTER_MS (a replica really
     * lost: submits answer 503 until then). */
    now = clock_mono_ms();
    if (ra->lower_since_ms == 0)
        ra->lower_since_ms = now;
    else if (now - ra->lower_since_ms >= RASYNC_LOWER_AFTER_MS) {
        ra->healthy = n;
        ra->lower_since_ms = 0;
    }
}

static void rasync_on_check_gone(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;

    (void)status;
    if (ra != NULL && c == ra->cac)
        ra->cac = NULL; /* hiredis frees it after we return */
}

static void rasync_on_check_connect(const redisAsyncContext *c, int status)
{
    if (status != REDIS_OK)
        rasync_on_check_gone(c, status);
}

/* Every RASYNC_CHECK_MS: asks the sentinel again on the connection kept from
 * the last check, or on a new one to the first sentinel (the last that
 * answered) when there is none or the last check went unanswered. */
static void rasync_on_check(evutil_socket_t fd, short what, void *arg)
{
    struct rasync *ra = arg;
    const struct redis_url_node *n = &ra->url.sentinels[0];
    const char *master[] = {"SENTINEL", "get-master-addr-by-name", ra->url.master_name};
    const char *replicas[] = {"SENTINEL", "REPLICAS", ra->url.master_name};
    redisAsyncContext *cac = ra->cac;

    (void)fd;
    (void)what;
    if (cac != NULL && (ra->is_check_pending || !rasync_is_ready(ra))) {
        ra->cac = NULL;
        redisAsyncFree(cac);
    }
    if (!rasync_is_ready(ra))
        return;
    if (ra->cac == NULL)
        ra->cac = rasync_ask(ra, n, rasync_on_check_connect, rasync_on_check_gone, NULL,
                             rasync_on_check_reply);
    else if (redisAsyncCommandArgv(ra->cac, rasync_on_check_reply, ra, 3, master, NULL) != REDIS_OK)
        return;
    if (ra->cac != NULL)
        ra->is_check_pending = redisAsyncCommandArgv(ra->cac, rasync_on_replicas_reply, ra, 3,
                                                     replicas, NULL) == REDIS_OK;
}

int rasync_wait_count(const struct rasync *ra, int min_replicas)
{
    return ra->url.kind == REDIS_URL_SENTINEL ? sentinel_wait_count(min_replicas, ra->healthy)
                                              : min_replicas;
}

/* A new connection: to the address of the URL, or to the master the
 * sentinels name now. */
static void rasync_connect(struct rasync *ra)
{
    switch (ra->url.kind) {
    case REDIS_URL_SENTINEL:
        ra->si = -1;
        ra->is_answered = false;
        rasync_ask_next(ra);
        break;
    case REDIS_URL_UNIX:
        rasync_open_node(ra, NULL, 0);
        break;
    case REDIS_URL_TCP:
        rasync_open_node(ra, ra->addr, ra->url.port);
        break;
    case REDIS_URL_CLUSTER:
        /* the subscriber: any node hears every PUBLISH of the cluster; the
         * next seed after each loss (a command handle never gets here) */
        ra->si = (ra->si + 1) % ra->url.nseeds;
        rasync_open_node(ra, ra->url.seeds[ra->si].host, ra->url.seeds[ra->si].port);
        break;
    }
}

static void rasync_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct rasync *ra = arg;

    (void)fd;
    (void)what;
    switch (ra->phase) {
    case RASYNC_WAITING:
        rasync_connect(ra);
        return;
    case RASYNC_ASKING:
        if (ra->sac == NULL) {
            rasync_ask_next(ra);
            return;
        }
        log_debug("%s: sentinel %s:%d did not answer in time", ra->name,
                  ra->url.sentinels[ra->si].host, ra->url.sentinels[ra->si].port);
        rasync_sentinel_done(ra, ra->sac, false);
        return;
    case RASYNC_SETTING_UP:
        rasync_log_failure(ra, "no answer from %s within %d ms of connecting", ra->desc,
                           rasync_deadline_ms(ra));
        break;
    case RASYNC_DROPPING:
        log_warnx("%s: %s, reconnecting", ra->name, ra->drop_why);
        snprintf(ra->why, sizeof(ra->why), "%s", ra->drop_why);
        break;
    case RASYNC_READY:
        if (ra->sub == RASYNC_SUB_PENDING)
            log_warnx("%s: redis did not confirm the subscription in time, reconnecting", ra->name);
        else if (ra->sub == RASYNC_SUB_LEAVING)
            log_warnx("%s: redis did not confirm the unsubscribe in time, reconnecting", ra->name);
        else
            return;
        break;
    }
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
static struct rasync *rasync_open(struct event_base *base, enum rasync_kind kind,
                                  const struct redis_url *url, int timeout_ms, struct sq_err *err);

/* The one place a command's outcome reaches its caller (reply or timeout):
 * failures are counted here, for stageq_redis_errors_total. */
static void rasync_deliver(struct rasync_req *req, const redisReply *reply, enum rasync_err err)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        req->ra->errors++;
    req->is_done = true;
    req->cb(reply, err, req->arg);
}

/* Queues argv[0..argc) for req on ac, formatted here (rargv_resp: hiredis'
 * own formatting is a printf per argument, a third of a bulk submit's
 * cost in the API). 0, or -1 (req untouched by hiredis). */
static int rasync_send_argv(redisAsyncContext *ac, struct rasync_req *req, size_t argc,
                            const char *const *argv, const size_t *lens)
{
    size_t len;
    char *cmd = rargv_resp(argc, argv, lens, &len);
    int rc;

    if (cmd == NULL)
        return -1;
    rc = redisAsyncFormattedCommand(ac, rasync_on_reply, req, cmd, len) == REDIS_OK ? 0 : -1;
    free(cmd);
    return rc;
}

/* Hands req to hiredis on ac. 0, or -1 (req untouched by hiredis). A
 * script's first call on a connection is an EVAL, which loads it: EVALSHA
 * would be refused NOSCRIPT, and so would every call pipelined behind it
 * before the reply (a bulk submit's), each sent again after the replies. */
static int rasync_send(redisAsyncContext *ac, struct rasync_req *req, const struct rargv *args)
{
    const char **argv = NULL;
    size_t *lens = NULL, n;
    char nk[16];
    int rc = -1;
    struct rasync *ra = req->ra;
    uint32_t bit;

    if (!req->is_script)
        return rasync_send_argv(ac, req, args->argc, (const char *const *)args->argv, args->lens);
    bit = SCRIPT_BIT(req->script);
    argv = malloc((req->args.argc + 3) * sizeof(*argv));
    lens = malloc((req->args.argc + 3) * sizeof(*lens));
    if (argv == NULL || lens == NULL)
        goto done;
    n = scripts_argv(req->script, req->is_retried || ac != ra->ac || !(ra->scripts & bit),
                     req->nkeys, &req->args, argv, lens, nk);
    rc = rasync_send_argv(ac, req, n, argv, lens);
    if (rc == 0 && ac == ra->ac)
        ra->scripts |= bit;
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
    /* an EVAL refused before it ran (CLUSTERDOWN, LOADING, ...) loaded nothing */
    if (reply != NULL && c == ra->ac && req->is_script && reply->type == REDIS_REPLY_ERROR)
        ra->scripts = 0;
    if (reply != NULL && c == ra->ac && reply->type == REDIS_REPLY_ERROR &&
        err_reply_is_failover(reply->str, reply->len))
        /* a demoted master, a replica, a node loading: find the master again */
        rasync_schedule_drop(ra, "%s answered %.*s", ra->node, (int)reply->len, reply->str);
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
    is_stalled = ra->phase == RASYNC_READY && ra->last_reply_ms < req->sent_ms;
    rasync_deliver(req, NULL, RASYNC_TIMEOUT);
    /* req stays alive until hiredis calls back. */
    if (is_stalled)
        rasync_schedule_drop(ra, "no reply from %s for %d ms", ra->desc, ra->timeout_ms);
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

    if (!rasync_is_ready(ra) || rasync_send(ra->ac, req, args) < 0) {
        rasync_req_free(req);
        return -1;
    }
    req->sent_ms = clock_mono_ms();
    evtimer_add(req->timer, &tv);
    return 0;
}

/* ---- cluster mode ----
 *
 * A command handle on a redis-cluster:// URL owns no connection itself: it
 * holds one plain handle ("link") per node it talks to, each with all of the
 * above (setup, deadlines, stall detection, reconnect with backoff, EVALSHA
 * then EVAL per node), and the slot map read with CLUSTER SLOTS over any link
 * (the seeds' until a map is known, then the masters'). A command goes to the
 * master of its key's slot (cluster_command_route); a keyless one to any
 * master, or, sent from inside a reply's callback, on the link that carried
 * that reply (WAIT covers the write that replied). Its reply comes back
 * through rasync_cl_on_reply, which follows MOVED (the map is updated at
 * once and read again) and ASK (ASKING, then the command, on the named node,
 * the map unchanged) up to CLUSTER_MAX_REDIRECTS hops, so that the caller
 * sees the final answer only. A redirection to a node not connected yet
 * waits for its link (polled, within the command timeout). CLUSTERDOWN,
 * TRYAGAIN, a lost or timed-out command mark the map stale and reach the
 * caller as they are (its 503 path); the tick reads the map again. Links are
 * only ever freed by the tick, never inside a reply's callback. */

#define RASYNC_CL_TICK_MS     100  /* housekeeping: map refresh, links no longer needed */
#define RASYNC_CL_REFRESH_MS  100  /* at most one CLUSTER SLOTS this often */
#define RASYNC_CL_RECHECK_MS  1000 /* a map with a master unreachable is read again this often */
#define RASYNC_CL_PERIODIC_MS 5000 /* and a healthy one this often */
#define RASYNC_CL_PARK_MS     20   /* a redirected command looks for its node's link this often */
#define RASYNC_CL_LINKS_MAX   (CLUSTER_MAX_NODES + REDIS_URL_SEEDS_MAX)

/* A plain handle to one node of the cluster. */
struct rasync_link {
    char host[CLUSTER_HOST_MAX_LEN + 1];
    int port;
    struct rasync *ra;
};

struct rasync_creq;

struct rasync_cluster {
    struct cluster_map map;
    int node_link[CLUSTER_MAX_NODES];          /* map node -> index in links (-1: none) */
    int covered;                               /* slots the map names a master for */
    bool has_map;                              /* a CLUSTER SLOTS was read */
    bool is_stale;                             /* read it again soon */
    bool is_refreshing;                        /* a CLUSTER SLOTS is in flight */
    int64_t refresh_ms;                        /* monotonic time the last one was sent */
    char slots_host[CLUSTER_HOST_MAX_LEN + 1]; /* the node it was sent to */
    char slots_node[300];                      /* the same as "host:port", for messages */
    struct rasync_link links[RASYNC_CL_LINKS_MAX];
    int nlinks;
    unsigned next;              /* round robin of keyless commands over the links */
    struct rasync *in_reply;    /* the link whose reply is being delivered, or NULL */
    struct rasync_creq *parked; /* redirected commands waiting for a link */
    struct event *tick_ev;
};

/* One command of a cluster handle, from rasync_command/rasync_script until
 * its caller is answered. */
struct rasync_creq {
    struct rasync *ra; /* the cluster handle */
    rasync_cb *cb;
    void *arg;
    struct rargv args; /* the command, or the script's keys then arguments */
    bool is_script;
    enum script_id script;
    int nkeys;
    int hops;                            /* redirections followed */
    bool is_ask;                         /* send ASKING first */
    char host[CLUSTER_HOST_MAX_LEN + 1]; /* redirected: the node it goes to next */
    int port;
    struct rasync *link; /* the link it was last sent on (valid during its reply) */
    struct event *park_ev;
    int64_t deadline_ms;             /* parked: answered RASYNC_TIMEOUT then */
    struct rasync_creq *prev, *next; /* in the parked list */
};

static void rasync_cl_creq_free(struct rasync_creq *cq)
{
    if (cq == NULL)
        return;
    if (cq->park_ev != NULL)
        event_free(cq->park_ev);
    rargv_free(&cq->args);
    free(cq);
}

static void rasync_cl_unpark(struct rasync_creq *cq)
{
    struct rasync_cluster *cl = cq->ra->cl;

    if (cq->prev != NULL)
        cq->prev->next = cq->next;
    else if (cl->parked == cq)
        cl->parked = cq->next;
    if (cq->next != NULL)
        cq->next->prev = cq->prev;
    cq->prev = cq->next = NULL;
    if (cq->park_ev != NULL)
        evtimer_del(cq->park_ev);
}

/* Answers cq's caller and frees cq. A reply delivered so makes the link that
 * carried it the one keyless commands sent from the callback go on. */
static void rasync_cl_deliver(struct rasync_creq *cq, const redisReply *reply, enum rasync_err err)
{
    struct rasync_cluster *cl = cq->ra->cl;
    struct rasync *outer = cl->in_reply;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        cq->ra->errors++;
    cl->in_reply = reply != NULL ? cq->link : NULL;
    cq->cb(reply, err, cq->arg);
    cl->in_reply = outer;
    rasync_cl_creq_free(cq);
}

/* Copies src into dst (initialized here): 0, or -1 when memory ran out. */
static int rasync_rargv_copy(struct rargv *dst, const struct rargv *src)
{
    size_t i;

    rargv_init(dst);
    for (i = 0; i < src->argc; i++)
        rargv_addlen(dst, src->argv[i], src->lens[i]);
    return dst->is_oom ? -1 : 0;
}

/* Runs script id on ra (a plain handle) with a copy of args: EVAL at once
 * when is_eval, else EVALSHA then EVAL on NOSCRIPT. rasync_command's
 * contract; args stay the caller's. */
static int rasync_script_copy(struct rasync *ra, enum script_id id, int nkeys,
                              const struct rargv *args, bool is_eval, rasync_cb *cb, void *arg)
{
    struct rasync_req *req;

    if (!rasync_is_ready(ra) || (req = rasync_req_new(ra, cb, arg)) == NULL)
        return -1;
    req->is_script = true;
    req->script = id;
    req->nkeys = nkeys;
    req->is_retried = is_eval;
    if (rasync_rargv_copy(&req->args, args) < 0) {
        rasync_req_free(req);
        return -1;
    }
    return rasync_submit(ra, req, NULL);
}

/* The index of the link to host:port, a new one (connecting) when there is
 * none: -1 when out of memory or the table is full. */
static int rasync_cl_link(struct rasync *ra, const char *host, int port)
{
    struct rasync_cluster *cl = ra->cl;
    struct rasync_link *l;
    struct redis_url u;
    struct sq_err err;
    int i;

    for (i = 0; i < cl->nlinks; i++)
        if (cl->links[i].port == port && strcmp(cl->links[i].host, host) == 0)
            return i;
    if (cl->nlinks >= RASYNC_CL_LINKS_MAX || strlen(host) >= sizeof(u.host))
        return -1;
    memset(&u, 0, sizeof(u));
    u.kind = REDIS_URL_TCP;
    snprintf(u.host, sizeof(u.host), "%s", host);
    u.port = port;
    snprintf(u.user, sizeof(u.user), "%s", ra->url.user);
    snprintf(u.password, sizeof(u.password), "%s", ra->url.password);
    l = &cl->links[cl->nlinks];
    l->ra = rasync_open(ra->base, RASYNC_COMMANDS, &u, ra->timeout_ms, &err);
    if (l->ra == NULL) {
        log_warnx("%s: cluster node %s:%d: %s", ra->name, host, port, err.msg);
        return -1;
    }
    snprintf(l->host, sizeof(l->host), "%s", host);
    l->port = port;
    rasync_connect(l->ra);
    return cl->nlinks++;
}

/* Binds every master of the map to its link (opening the missing ones). */
static void rasync_cl_bind(struct rasync *ra)
{
    struct rasync_cluster *cl = ra->cl;
    int i;

    for (i = 0; i < cl->map.nnodes; i++)
        cl->node_link[i] = rasync_cl_link(ra, cl->map.nodes[i].host, cl->map.nodes[i].port);
    cl->covered = cluster_map_covered(&cl->map);
}

/* The link of slot's master, or NULL. */
static struct rasync *rasync_cl_slot_link(const struct rasync_cluster *cl, int slot)
{
    int n = cl->map.slot_node[slot];

    if (n < 0 || cl->node_link[n] < 0)
        return NULL;
    return cl->links[cl->node_link[n]].ra;
}

/* A ready link of a master (any link before a map is known), taken in turn;
 * NULL when none is ready. */
static struct rasync *rasync_cl_any_link(struct rasync_cluster *cl)
{
    int i, n;

    if (cl->has_map) {
        for (i = 0; i < cl->map.nnodes; i++) {
            n = cl->node_link[(cl->next + (unsigned)i) % (unsigned)cl->map.nnodes];
            if (n >= 0 && rasync_is_ready(cl->links[n].ra)) {
                cl->next++;
                return cl->links[n].ra;
            }
        }
        return NULL;
    }
    for (i = 0; i < cl->nlinks; i++)
        if (rasync_is_ready(cl->links[i].ra))
            return cl->links[i].ra;
    return NULL;
}

static void rasync_cl_on_reply(const redisReply *reply, enum rasync_err err, void *arg);

static void rasync_cl_on_asked(const redisReply *reply, enum rasync_err err, void *arg)
{
    (void)reply;
    (void)err;
    (void)arg;
}

/* Sends cq where it goes now (its redirection's node, else its key's
 * master, else any master): 0 when sent, 1 when that node's link is not
 * ready (yet), -1 when sending failed. */
static int rasync_cl_send(struct rasync_creq *cq)
{
    struct rasync *ra = cq->ra, *link = NULL;
    struct rasync_cluster *cl = ra->cl;
    const char *asking[] = {"ASKING"};
    struct rargv ask = {.argc = 1, .cap = 1, .argv = (char **)asking, .lens = (size_t[]){6}};
    int ki = 0, li;

    if (cq->host[0] != '\0') {
        li = rasync_cl_link(ra, cq->host, cq->port);
        if (li < 0)
            return -1;
        link = cl->links[li].ra;
    } else if (cq->is_script && cq->nkeys >= 1) {
        link = rasync_cl_slot_link(cl, cluster_key_slot(cq->args.argv[0], cq->args.lens[0]));
    } else if (!cq->is_script &&
               cluster_command_route((int)cq->args.argc, (const char *const *)cq->args.argv,
                                     cq->args.lens, &ki) == CLUSTER_ROUTE_KEY) {
        link = rasync_cl_slot_link(cl, cluster_key_slot(cq->args.argv[ki], cq->args.lens[ki]));
    } else {
        link = cl->in_reply != NULL ? cl->in_reply : rasync_cl_any_link(cl);
    }
    if (link == NULL || !rasync_is_ready(link))
        return 1;
    /* ASKING's reply is not looked at: a refusal shows in the command's. */
    if (cq->is_ask && rasync_command(link, &ask, rasync_cl_on_asked, NULL) < 0)
        return -1;
    if ((cq->is_script ? rasync_script_copy(link, cq->script, cq->nkeys, &cq->args, cq->is_ask,
                                            rasync_cl_on_reply, cq)
                       : rasync_command(link, &cq->args, rasync_cl_on_reply, cq)) < 0)
        return -1;
    cq->link = link;
    return 0;
}

static void rasync_cl_on_park(evutil_socket_t fd, short what, void *arg);

/* cq was redirected to a node whose link is not ready: it tries again every
 * RASYNC_CL_PARK_MS until its deadline. */
static void rasync_cl_park(struct rasync_creq *cq)
{
    struct rasync_cluster *cl = cq->ra->cl;
    struct timeval tv = {0, RASYNC_CL_PARK_MS * 1000};

    if (cq->park_ev == NULL)
        cq->park_ev = evtimer_new(cq->ra->base, rasync_cl_on_park, cq);
    if (cq->park_ev == NULL) {
        rasync_cl_deliver(cq, NULL, RASYNC_UNAVAILABLE);
        return;
    }
    if (cq->prev == NULL && cl->parked != cq) {
        cq->next = cl->parked;
        if (cl->parked != NULL)
            cl->parked->prev = cq;
        cl->parked = cq;
    }
    evtimer_add(cq->park_ev, &tv);
}

static void rasync_cl_on_park(evutil_socket_t fd, short what, void *arg)
{
    struct rasync_creq *cq = arg;
    int rc;

    (void)fd;
    (void)what;
    rc = rasync_cl_send(cq);
    if (rc == 1 && clock_mono_ms() < cq->deadline_ms) {
        rasync_cl_park(cq);
        return;
    }
    rasync_cl_unpark(cq);
    if (rc != 0)
        rasync_cl_deliver(cq, NULL, rc == 1 ? RASYNC_TIMEOUT : RASYNC_UNAVAILABLE);
}

/* A reply (or failure) of a link for cq: redirections are followed here,
 * anything else goes to the caller. */
static void rasync_cl_on_reply(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct rasync_creq *cq = arg;
    struct rasync *ra = cq->ra;
    struct rasync_cluster *cl = ra->cl;
    struct cluster_redirect rd;
    int rc;

    if (reply == NULL || ra->is_freeing) {
        cl->is_stale = true; /* a lost node: who serves its slots now? */
        rasync_cl_deliver(cq, reply, err);
        return;
    }
    if (reply->type != REDIS_REPLY_ERROR) {
        rasync_cl_deliver(cq, reply, RASYNC_OK);
        return;
    }
    if (!cluster_parse_redirect(reply->str, reply->len, &rd) || cq->hops >= CLUSTER_MAX_REDIRECTS) {
        if (err_reply_code(reply->str, reply->len) == SQ_ERR_TRANSIENT)
            cl->is_stale = true; /* CLUSTERDOWN, TRYAGAIN: a failover or a migration */
        rasync_cl_deliver(cq, reply, RASYNC_OK);
        return;
    }
    if (rd.host[0] == '\0') /* the node does not know its own address */
        snprintf(rd.host, sizeof(rd.host), "%s", cq->link->url.host);
    cq->hops++;
    cq->is_ask = rd.is_ask;
    snprintf(cq->host, sizeof(cq->host), "%s", rd.host);
    cq->port = rd.port;
    if (!rd.is_ask) {
        /* the slot moved for good: note it now, read the whole map soon */
        int n = cluster_map_set(&cl->map, rd.slot, rd.host, rd.port);
        if (n >= 0)
            cl->node_link[n] = rasync_cl_link(ra, rd.host, rd.port);
        cl->covered = cluster_map_covered(&cl->map);
        cl->is_stale = true;
    }
    log_debug("%s: %.*s: redirected (hop %d)", ra->name, (int)reply->len, reply->str, cq->hops);
    rc = rasync_cl_send(cq);
    if (rc == 1)
        rasync_cl_park(cq);
    else if (rc < 0)
        rasync_cl_deliver(cq, NULL, RASYNC_UNAVAILABLE);
}

/* A new command of the cluster handle ra (its arguments still to be set),
 * or NULL when memory ran out. */
static struct rasync_creq *rasync_cl_creq_new(struct rasync *ra, rasync_cb *cb, void *arg)
{
    struct rasync_creq *cq = calloc(1, sizeof(*cq));

    if (cq == NULL)
        return NULL;
    cq->ra = ra;
    cq->cb = cb;
    cq->arg = arg;
    cq->deadline_ms = clock_mono_ms() + ra->timeout_ms;
    rargv_init(&cq->args);
    return cq;
}

/* Sends a new command cq: 0, or -1 (cq freed). */
static int rasync_cl_submit(struct rasync_creq *cq)
{
    if (rasync_cl_send(cq) != 0) {
        /* its node is not connected: the caller answers 503 at once, and
         * the map is read again (a failover may have moved the slot) */
        cq->ra->cl->is_stale = true;
        rasync_cl_creq_free(cq);
        return -1;
    }
    return 0;
}

static void rasync_cl_on_slots(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct rasync *ra = arg;
    struct rasync_cluster *cl = ra->cl;
    struct cluster_map *m;
    struct sq_err e;
    int was;

    (void)err;
    cl->is_refreshing = false;
    if (ra->is_freeing)
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        snprintf(ra->why, sizeof(ra->why), "CLUSTER SLOTS on %s failed: %.*s", cl->slots_node,
                 reply != NULL ? (int)reply->len : 9, reply != NULL ? reply->str : "no answer");
        return;
    }
    m = malloc(sizeof(*m));
    if (m == NULL || cluster_map_from_slots(m, reply, cl->slots_host, &e) < 0) {
        snprintf(ra->why, sizeof(ra->why), "CLUSTER SLOTS on %s: %s", cl->slots_node,
                 m != NULL ? e.msg : "out of memory");
        free(m);
        return;
    }
    was = cl->has_map ? cl->covered : -1;
    cl->map = *m;
    free(m);
    cl->has_map = true;
    cl->is_stale = false;
    rasync_cl_bind(ra);
    if (was != cl->covered)
        log_write(cl->covered == CLUSTER_SLOTS ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, 0, NULL,
                  "%s: cluster map from %s: %d masters, %d of %d slots covered", ra->name,
                  cl->slots_node, cl->map.nnodes, cl->covered, CLUSTER_SLOTS);
}

/* Sends CLUSTER SLOTS on a ready link; without one, opens the seeds'. */
static void rasync_cl_refresh(struct rasync *ra)
{
    struct rasync_cluster *cl = ra->cl;
    const char *argv[] = {"CLUSTER", "SLOTS"};
    struct rargv args = {.argc = 2, .cap = 2, .argv = (char **)argv, .lens = (size_t[]){7, 5}};
    struct rasync *link = rasync_cl_any_link(cl);
    int i;

    if (link == NULL) {
        for (i = 0; i < cl->nlinks && link == NULL; i++)
            if (rasync_is_ready(cl->links[i].ra))
                link = cl->links[i].ra;
    }
    if (link == NULL) {
        for (i = 0; i < ra->url.nseeds; i++)
            rasync_cl_link(ra, ra->url.seeds[i].host, ra->url.seeds[i].port);
        return;
    }
    cl->refresh_ms = clock_mono_ms();
    snprintf(cl->slots_host, sizeof(cl->slots_host), "%s", link->url.host);
    rasync_node_name(cl->slots_node, sizeof(cl->slots_node), link->url.host, link->url.port);
    cl->is_refreshing = rasync_command(link, &args, rasync_cl_on_slots, ra) == 0;
}

static bool rasync_cl_has_master(const struct rasync_cluster *cl);

/* Frees the links the map does not name (seeds that are replicas, former
 * masters), once a map is known and one of its masters is reachable. Never
 * called inside a reply's callback. */
static void rasync_cl_prune(struct rasync *ra)
{
    struct rasync_cluster *cl = ra->cl;
    struct rasync *victims[RASYNC_CL_LINKS_MAX];
    int i = 0, nv = 0;

    if (!cl->has_map || !rasync_cl_has_master(cl))
        return; /* the seeds may be the only way back to the cluster */
    while (i < cl->nlinks) {
        if (cluster_map_find(&cl->map, cl->links[i].host, cl->links[i].port) >= 0) {
            i++;
            continue;
        }
        victims[nv++] = cl->links[i].ra;
        cl->links[i] = cl->links[--cl->nlinks];
    }
    if (nv == 0)
        return;
    /* the table is right before rasync_free calls back (a callback may send) */
    rasync_cl_bind(ra);
    for (i = 0; i < nv; i++)
        rasync_free(victims[i]);
}

/* True when some master of the map has a ready link. */
static bool rasync_cl_has_master(const struct rasync_cluster *cl)
{
    int i;

    for (i = 0; i < cl->map.nnodes; i++)
        if (cl->node_link[i] >= 0 && rasync_is_ready(cl->links[cl->node_link[i]].ra))
            return true;
    return false;
}

/* True when every master of the map has a ready link. */
static bool rasync_cl_all_up(const struct rasync_cluster *cl)
{
    int i;

    for (i = 0; i < cl->map.nnodes; i++)
        if (cl->node_link[i] < 0 || !rasync_is_ready(cl->links[cl->node_link[i]].ra))
            return false;
    return true;
}

/* Why a cluster handle is not ready, into ra->why (kept when the last
 * CLUSTER SLOTS failed and no map is known). */
static void rasync_cl_explain(struct rasync *ra)
{
    struct rasync_cluster *cl = ra->cl;
    const char *last = "no answer yet";
    int i;

    for (i = 0; i < cl->nlinks; i++)
        if (cl->links[i].ra->why[0] != '\0')
            last = cl->links[i].ra->why;
    if (!cl->has_map && rasync_cl_any_link(cl) == NULL)
        snprintf(ra->why, sizeof(ra->why), "cannot reach any seed node: %.600s", last);
    else if (cl->has_map && cl->covered < CLUSTER_SLOTS)
        snprintf(ra->why, sizeof(ra->why), "cluster map covers %d of %d slots", cl->covered,
                 CLUSTER_SLOTS);
    else if (cl->has_map && !rasync_cl_has_master(cl))
        snprintf(ra->why, sizeof(ra->why), "no cluster master is reachable: %.600s", last);
}

/* Every RASYNC_CL_TICK_MS: drops unneeded links, reads the map when it is
 * stale, incomplete, has a master unreachable, or is old. */
static void rasync_cl_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct rasync *ra = arg;
    struct rasync_cluster *cl = ra->cl;
    int64_t age = clock_mono_ms() - cl->refresh_ms;
    bool is_due;

    (void)fd;
    (void)what;
    rasync_cl_prune(ra);
    is_due = !cl->has_map || cl->is_stale || cl->covered < CLUSTER_SLOTS
                 ? age >= RASYNC_CL_REFRESH_MS
                 : age >= (rasync_cl_all_up(cl) ? RASYNC_CL_PERIODIC_MS : RASYNC_CL_RECHECK_MS);
    if (is_due && !cl->is_refreshing)
        rasync_cl_refresh(ra);
    rasync_cl_explain(ra);
}

/* Opens the seeds' links and starts the tick. 0, or -1 with err. */
static int rasync_cl_start(struct rasync *ra, struct sq_err *err)
{
    struct timeval tv = {0, RASYNC_CL_TICK_MS * 1000};
    struct rasync_cluster *cl = calloc(1, sizeof(*cl));
    int i;

    if (cl == NULL)
        goto oom;
    ra->cl = cl;
    cluster_map_clear(&cl->map);
    for (i = 0; i < CLUSTER_MAX_NODES; i++)
        cl->node_link[i] = -1;
    cl->refresh_ms = clock_mono_ms() - RASYNC_CL_PERIODIC_MS;
    cl->tick_ev = event_new(ra->base, -1, EV_PERSIST, rasync_cl_on_tick, ra);
    if (cl->tick_ev == NULL || event_add(cl->tick_ev, &tv) < 0)
        goto oom;
    for (i = 0; i < ra->url.nseeds; i++)
        rasync_cl_link(ra, ra->url.seeds[i].host, ra->url.seeds[i].port);
    return 0;
oom:
    err_set(err, SQ_ERR_NOMEM, "out of memory");
    return -1;
}

/* Frees the links (their pending commands are answered RASYNC_UNAVAILABLE),
 * then answers the parked ones. */
static void rasync_cl_free(struct rasync *ra)
{
    struct rasync_cluster *cl = ra->cl;
    int i;

    if (cl == NULL)
        return;
    if (cl->tick_ev != NULL)
        event_free(cl->tick_ev);
    for (i = 0; i < cl->nlinks; i++)
        rasync_free(cl->links[i].ra);
    cl->nlinks = 0;
    while (cl->parked != NULL) {
        struct rasync_creq *cq = cl->parked;
        rasync_cl_unpark(cq);
        rasync_cl_deliver(cq, NULL, RASYNC_UNAVAILABLE);
    }
    free(cl);
    ra->cl = NULL;
}

int rasync_command(struct rasync *ra, const struct rargv *args, rasync_cb *cb, void *arg)
{
    struct rasync_req *req;
    struct rasync_creq *cq;

    if (args->is_oom || args->argc == 0 || !rasync_is_ready(ra))
        return -1;
    if (ra->cl != NULL) {
        cq = rasync_cl_creq_new(ra, cb, arg);
        if (cq == NULL || rasync_rargv_copy(&cq->args, args) < 0) {
            rasync_cl_creq_free(cq);
            return -1;
        }
        return rasync_cl_submit(cq); /* keeps its copy for a redirection */
    }
    req = rasync_req_new(ra, cb, arg);
    if (req == NULL)
        return -1;
    return rasync_submit(ra, req, args);
}

int rasync_script(struct rasync *ra, enum script_id id, int nkeys, struct rargv *args,
                  rasync_cb *cb, void *arg)
{
    struct rasync_req *req;

    if (ra->cl != NULL && !args->is_oom && rasync_is_ready(ra)) {
        struct rasync_creq *cq = rasync_cl_creq_new(ra, cb, arg);
        if (cq == NULL) {
            rargv_free(args);
            return -1;
        }
        cq->is_script = true;
        cq->script = id;
        cq->nkeys = nkeys;
        cq->args = *args; /* take the strings */
        rargv_init(args);
        return rasync_cl_submit(cq);
    }
    if (args->is_oom || !rasync_is_ready(ra) || ra->cl != NULL ||
        (req = rasync_req_new(ra, cb, arg)) == NULL) {
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

/* Writes what ac holds for Redis now (hiredis' write handler, called before
 * the loop would), unless inside one of its callbacks or not ready. */
static void rasync_flush_one(struct rasync *ra)
{
    redisAsyncContext *ac = ra->ac;

    if (ra->phase != RASYNC_READY || ac == NULL || (ac->c.flags & REDIS_IN_CALLBACK) ||
        sdslen(ac->c.obuf) == 0)
        return;
    redisAsyncHandleWrite(ac); /* a write error frees ac: pending callbacks get NULL */
}

void rasync_flush(struct rasync *ra)
{
    int i;

    if (ra->cl == NULL) {
        rasync_flush_one(ra);
        return;
    }
    for (i = 0; i < ra->cl->nlinks; i++)
        if (ra->cl->links[i].ra != NULL)
            rasync_flush_one(ra->cl->links[i].ra);
}

bool rasync_is_ready(const struct rasync *ra)
{
    if (ra->cl != NULL)
        return !ra->is_freeing && ra->cl->has_map && ra->cl->covered == CLUSTER_SLOTS &&
               rasync_cl_has_master(ra->cl);
    return ra->phase == RASYNC_READY && ra->ac != NULL;
}

const char *rasync_why(const struct rasync *ra)
{
    return rasync_is_ready(ra) ? "" : ra->why;
}

void rasync_follow(struct rasync *leader, struct rasync *follower)
{
    if (leader->url.kind == REDIS_URL_CLUSTER)
        return; /* no one master to follow: the subscriber moves on its own */
    leader->follower = follower;
}

unsigned long long rasync_errors(const struct rasync *ra)
{
    return ra->errors;
}

/* ---- the subscriber ----
 *
 * The connection stays open, idle, while nobody listens; the subscription
 * comes and goes on it. Toggling on one connection rather than connecting on
 * demand: the first listener after a quiet spell waits one round trip (not
 * connect + AUTH + SELECT + SUBSCRIBE), and a Redis that went away is noticed
 * and reconnected to while idle. hiredis 0.14.1 allows it within two rules,
 * checked with a small test program against that version:
 * - UNSUBSCRIBE takes no callback of its own: its reply reaches the
 *   SUBSCRIBE's callback (and privdata), after hiredis dropped the channel
 *   and, the count being 0, left subscribed mode. Nothing to free.
 * - A SUBSCRIBE sent while an UNSUBSCRIBE is in flight relies on hiredis'
 *   pending_subs bookkeeping, and any regular command sent in subscribed mode
 *   ends up on a list no reply ever shifts: so at most one of SUBSCRIBE and
 *   UNSUBSCRIBE is in flight (ra->sub), a wish that changes meanwhile is
 *   served when the reply comes, and the only regular commands (the setup)
 *   go out right after connecting, before any SUBSCRIBE. */

static void rasync_on_sub(redisAsyncContext *c, void *r, void *privdata);

/* Sends SUBSCRIBE or UNSUBSCRIBE when the wish and the state differ and
 * nothing is in flight; settles the deadline when nothing is owed. A send
 * that fails (hiredis out of memory or closing ac) is left to the deadline. */
static void rasync_sub_update(struct rasync *ra)
{
    if (ra->kind != RASYNC_SUBSCRIBER || !rasync_is_ready(ra) || ra->is_freeing)
        return;
    if (ra->sub == RASYNC_SUB_OFF && ra->is_sub_wanted) {
        if (redisAsyncCommandArgv(ra->ac, rasync_on_sub, ra, 2,
                                  (const char *[]){"SUBSCRIBE", ra->channel}, NULL) != REDIS_OK)
            log_warnx("%s: cannot send SUBSCRIBE to redis", ra->name);
        ra->sub = RASYNC_SUB_PENDING;
        rasync_schedule(ra, rasync_deadline_ms(ra));
    } else if (ra->sub == RASYNC_SUB_ON && !ra->is_sub_wanted) {
        /* Its reply comes to rasync_on_sub (hiredis: no callback of its own). */
        if (redisAsyncCommandArgv(ra->ac, NULL, NULL, 2,
                                  (const char *[]){"UNSUBSCRIBE", ra->channel}, NULL) != REDIS_OK)
            log_warnx("%s: cannot send UNSUBSCRIBE to redis", ra->name);
        ra->sub = RASYNC_SUB_LEAVING;
        rasync_schedule(ra, rasync_deadline_ms(ra));
    } else if (ra->sub == RASYNC_SUB_OFF || ra->sub == RASYNC_SUB_ON) {
        evtimer_del(ra->retry_ev); /* Redis owes nothing */
    }
}

/* Every reply on the subscriber connection once SUBSCRIBE was sent: its
 * confirmation, one "message" per PUBLISH, the UNSUBSCRIBE's confirmation. */
static void rasync_on_sub(redisAsyncContext *c, void *r, void *privdata)
{
    struct rasync *ra = privdata;
    redisReply *reply = r, *kind, *payload;

    if (c != ra->ac || reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    if (c->c.flags & REDIS_DISCONNECTING)
        return; /* dropped (a failed AUTH may still leave the default user subscribed) */
    kind = reply->element[0];
    payload = reply->element[2];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    ra->last_reply_ms = clock_mono_ms();
    if (strcmp(kind->str, "subscribe") == 0) {
        ra->sub = RASYNC_SUB_ON;
        log_info("%s: subscribed to %s", ra->name, ra->channel);
        rasync_sub_update(ra); /* settles, or leaves if nobody wants it any more */
        ra->hooks.on_subscribed(ra->hooks.arg);
        return;
    }
    if (strcmp(kind->str, "unsubscribe") == 0) {
        ra->sub = RASYNC_SUB_OFF;
        log_debug("%s: unsubscribed from %s", ra->name, ra->channel);
        rasync_sub_update(ra); /* subscribes again when wanted meanwhile */
        return;
    }
    if (strcmp(kind->str, "message") == 0 && payload->type == REDIS_REPLY_STRING)
        ra->hooks.on_message(ra->hooks.arg, payload->str, payload->len);
}

void rasync_subscribe(struct rasync *ra, bool is_wanted)
{
    if (is_wanted && !ra->is_sub_wanted && ra->sub == RASYNC_SUB_LEAVING)
        log_debug("%s: a listener came while unsubscribing: subscribing again once redis "
                  "confirms",
                  ra->name);
    ra->is_sub_wanted = is_wanted;
    rasync_sub_update(ra);
}

bool rasync_is_subscribed(const struct rasync *ra)
{
    return rasync_is_ready(ra) && ra->sub == RASYNC_SUB_ON;
}

/* ---- handles ---- */

/* A new handle of kind, connecting (a TCP host name is resolved here, once,
 * because redisAsyncConnect would resolve blocking). */
static struct rasync *rasync_open(struct event_base *base, enum rasync_kind kind,
                                  const struct redis_url *url, int timeout_ms, struct sq_err *err)
{
    struct rasync *ra = calloc(1, sizeof(*ra));
    int i;

    if (ra == NULL) {
        err_set(err, SQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ra->base = base;
    ra->kind = kind;
    ra->name = rasync_kinds[kind].name;
    ra->url = *url;
    ra->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    ra->healthy = -1;
    redis_url_describe(url, ra->desc, sizeof(ra->desc));
    snprintf(ra->why, sizeof(ra->why), "connecting to %s", ra->desc);
    if (url->kind == REDIS_URL_TCP &&
        redis_url_resolve(&ra->url, ra->addr, sizeof(ra->addr), err) < 0)
        goto fail;
    for (i = 0; i < url->nsentinels && url->kind == REDIS_URL_SENTINEL; i++) {
        struct redis_url_node *n = &ra->url.sentinels[i];
        if (rasync_numeric(n->host, n->host, sizeof(n->host)) < 0) {
            err_set(err, SQ_ERR_IO, "cannot resolve sentinel host '%s'", n->host);
            goto fail;
        }
    }
    for (i = 0; i < url->nseeds && url->kind == REDIS_URL_CLUSTER; i++) {
        struct redis_url_node *n = &ra->url.seeds[i];
        if (rasync_numeric(n->host, n->host, sizeof(n->host)) < 0) {
            err_set(err, SQ_ERR_IO, "cannot resolve cluster node '%s'", n->host);
            goto fail;
        }
    }
    ra->si = -1; /* a cluster subscriber starts at the first seed */
    ra->retry_ev = evtimer_new(base, rasync_on_retry, ra);
    if (ra->retry_ev == NULL) {
        err_set(err, SQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    return ra;
fail:
    free(ra);
    return NULL;
}

struct rasync *rasync_new(struct event_base *base, const struct redis_url *url, int timeout_ms,
                          struct sq_err *err)
{
    struct rasync *ra = rasync_open(base, RASYNC_COMMANDS, url, timeout_ms, err);
    struct timeval tv = {RASYNC_CHECK_MS / 1000, (RASYNC_CHECK_MS % 1000) * 1000};

    if (ra == NULL)
        return NULL;
    if (url->kind == REDIS_URL_CLUSTER) {
        if (rasync_cl_start(ra, err) < 0) {
            rasync_free(ra);
            return NULL;
        }
        return ra;
    }
    if (url->kind == REDIS_URL_SENTINEL) {
        ra->check_ev = event_new(base, -1, EV_PERSIST, rasync_on_check, ra);
        if (ra->check_ev == NULL || event_add(ra->check_ev, &tv) < 0) {
            err_set(err, SQ_ERR_NOMEM, "out of memory");
            rasync_free(ra);
            return NULL;
        }
    }
    rasync_connect(ra);
    return ra;
}

struct rasync *rasync_new_subscriber(struct event_base *base, const struct redis_url *url,
                                     int timeout_ms, const char *channel,
                                     const struct rasync_sub_hooks *hooks, struct sq_err *err)
{
    struct rasync *ra;

    if (strlen(channel) >= sizeof(ra->channel)) {
        err_set(err, SQ_ERR_INVALID, "events channel name too long");
        return NULL;
    }
    ra = rasync_open(base, RASYNC_SUBSCRIBER, url, timeout_ms, err);
    if (ra == NULL)
        return NULL;
    snprintf(ra->channel, sizeof(ra->channel), "%s", channel);
    ra->hooks = *hooks;
    rasync_connect(ra); /* idle (no SUBSCRIBE) until wanted */
    return ra;
}

void rasync_free(struct rasync *ra)
{
    if (ra == NULL)
        return;
    ra->is_freeing = true;
    rasync_cl_free(ra);
    if (ra->retry_ev != NULL)
        evtimer_del(ra->retry_ev);
    rasync_drop(ra); /* answers every pending command with NULL */
    if (ra->retry_ev != NULL)
        event_free(ra->retry_ev);
    if (ra->check_ev != NULL)
        event_free(ra->check_ev);
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
