/* rcluster: slot routing, redirections and pipelining over one context per
 * Redis Cluster node, for rconn. It keeps the slot map and the node
 * contexts; it never sleeps, never logs and never retries a lost node. */
#include "rcluster.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"

/* A node we talk to (a master of the map, or a seed asked for the map). */
struct rcluster_conn {
    char host[CLUSTER_HOST_MAX_LEN + 1];
    int port;
    redisContext *ctx;     /* NULL: not connected */
    unsigned long conn_no; /* cl->nconnects when ctx was set up */
    int inflight;          /* pipelined replies written and not read yet */
    uint32_t scripts;      /* scripts it had on this connection (SCRIPT_BIT) */
    bool is_written;       /* took a command since the last rcluster_wait */
};

/* A pipelined command, in the order sent. */
struct rcluster_pending {
    int conn;          /* the node it was written to */
    redisReply *reply; /* read ahead (its node had to serve a synchronous call), or NULL */
    int argc;          /* a copy of the command, to send it again after a redirection */
    char **argv;
    size_t *lens;
};

struct rcluster {
    const struct redis_url *url; /* borrowed */
    struct timeval tv;
    struct cluster_map map, next; /* next: where a refresh is read */
    bool is_stale;                /* refresh the map at the next chance */
    int64_t refreshed_ms;         /* clock_mono_ms of the last refresh attempt */
    struct rcluster_conn conns[CLUSTER_MAX_NODES];
    int nconns;
    struct rcluster_pending *pending; /* pending[head .. head+npending) */
    size_t head, npending, cap;
    unsigned long nconnects;
    bool is_write_lost; /* a node that took a command since the last WAIT was lost */
    int last;           /* the node that served the last command, or -1 */
};

/* Error replies that say the map is out of date (a failover, a migration). */
static const char *const rcluster_stale_words[] = {
    "CLUSTERDOWN", "TRYAGAIN", "READONLY", "LOADING", "MASTERDOWN",
};

struct rcluster *rcluster_new(const struct redis_url *url, int timeout_ms)
{
    struct rcluster *cl = calloc(1, sizeof(*cl));

    if (cl == NULL)
        return NULL;
    cl->url = url;
    cl->tv.tv_sec = timeout_ms / 1000;
    cl->tv.tv_usec = (timeout_ms % 1000) * 1000;
    cluster_map_clear(&cl->map);
    cl->is_stale = true;
    cl->last = -1;
    return cl;
}

static void rcluster_entry_free(struct rcluster_pending *e)
{
    int i;

    if (e->reply != NULL)
        freeReplyObject(e->reply);
    for (i = 0; i < e->argc; i++)
        free(e->argv[i]);
    free(e->argv);
    free(e->lens);
    memset(e, 0, sizeof(*e));
}

/* Closes node i's context; what it took since the last WAIT is then
 * unconfirmable, and the map may be stale. */
static void rcluster_drop(struct rcluster *cl, int i)
{
    struct rcluster_conn *c = &cl->conns[i];

    if (c->ctx != NULL)
        redisFree(c->ctx);
    c->ctx = NULL;
    c->inflight = 0;
    if (c->is_written)
        cl->is_write_lost = true;
    c->is_written = false;
    cl->is_stale = true;
}

/* A node failed while replies were pending: every pending reply is lost,
 * the nodes that held some are dropped (their replies cannot be matched any
 * more). */
static void rcluster_pipeline_fail(struct rcluster *cl)
{
    size_t k;
    int i;

    for (k = 0; k < cl->npending; k++)
        rcluster_entry_free(&cl->pending[cl->head + k]);
    cl->head = cl->npending = 0;
    for (i = 0; i < cl->nconns; i++)
        if (cl->conns[i].inflight > 0)
            rcluster_drop(cl, i);
}

/* err from node i's context (why_default when it says nothing), which is
 * then dropped. */
static void rcluster_fail(struct rcluster *cl, int i, struct sq_err *err, const char *why_default)
{
    struct rcluster_conn *c = &cl->conns[i];

    err_set(err, c->ctx != NULL && c->ctx->err == REDIS_ERR_OOM ? SQ_ERR_NOMEM : SQ_ERR_IO,
            "redis: %s:%d: %s", c->host, c->port,
            c->ctx != NULL && c->ctx->errstr[0] ? c->ctx->errstr : why_default);
    if (c->inflight > 0)
        rcluster_pipeline_fail(cl);
    rcluster_drop(cl, i);
}

void rcluster_free(struct rcluster *cl)
{
    int i;

    if (cl == NULL)
        return;
    rcluster_pipeline_fail(cl);
    for (i = 0; i < cl->nconns; i++)
        rcluster_drop(cl, i);
    free(cl->pending);
    free(cl);
}

/* The index of node host:port, added when new (a free slot of a dropped
 * node is reused when the table is full). -1 when the table is full. */
static int rcluster_node(struct rcluster *cl, const char *host, int port)
{
    size_t hl = strlen(host);
    int i, free_i = -1;

    for (i = 0; i < cl->nconns; i++) {
        if (cl->conns[i].port == port && strcmp(cl->conns[i].host, host) == 0)
            return i;
        if (free_i < 0 && cl->conns[i].ctx == NULL && cl->conns[i].inflight == 0 &&
            cluster_map_find(&cl->map, cl->conns[i].host, cl->conns[i].port) < 0)
            free_i = i;
    }
    if (hl > CLUSTER_HOST_MAX_LEN)
        return -1;
    if (cl->nconns < CLUSTER_MAX_NODES)
        free_i = cl->nconns++;
    if (free_i < 0)
        return -1;
    memset(&cl->conns[free_i], 0, sizeof(cl->conns[free_i]));
    memcpy(cl->conns[free_i].host, host, hl + 1);
    cl->conns[free_i].port = port;
    return free_i;
}

/* Connects node i unless connected: 0, or -1 with err. */
static int rcluster_open(struct rcluster *cl, int i, struct sq_err *err)
{
    struct rcluster_conn *c = &cl->conns[i];
    struct sq_err e;

    if (c->ctx != NULL)
        return 0;
    c->ctx = rconn_dial(cl->url, c->host, c->port, cl->tv, &e);
    if (c->ctx == NULL) {
        err_set(err, e.code, "redis: %s:%d: %s", c->host, c->port,
                strncmp(e.msg, "redis: ", 7) == 0 ? e.msg + 7 : e.msg);
        cl->is_stale = true;
        return -1;
    }
    c->conn_no = ++cl->nconnects;
    c->scripts = 0;
    return 0;
}

/* Reads node i's pipelined replies into their entries, so that it can serve
 * a synchronous call: 0, or -1 with err (the pipeline failed). */
static int rcluster_flush(struct rcluster *cl, int i, struct sq_err *err)
{
    size_t k;

    for (k = 0; k < cl->npending && cl->conns[i].inflight > 0; k++) {
        struct rcluster_pending *e = &cl->pending[cl->head + k];
        void *r = NULL;

        if (e->conn != i || e->reply != NULL)
            continue;
        if (redisGetReply(cl->conns[i].ctx, &r) != REDIS_OK || r == NULL) {
            rcluster_fail(cl, i, err, "connection lost");
            return -1;
        }
        e->reply = r;
        cl->conns[i].inflight--;
    }
    return 0;
}

/* Asks node i for the map into cl->next: 0, or -1 with err. */
static int rcluster_ask_map(struct rcluster *cl, int i, struct sq_err *err)
{
    struct rcluster_conn *c = &cl->conns[i];
    redisReply *r;
    int rv = -1;

    if (c->inflight > 0 || rcluster_open(cl, i, err) < 0)
        return -1;
    r = redisCommand(c->ctx, "CLUSTER SLOTS");
    if (r == NULL) {
        rcluster_fail(cl, i, err, "connection lost");
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        err_set(err, err_reply_code(r->str, r->len), "redis: %s:%d: CLUSTER SLOTS: %.*s", c->host,
                c->port, (int)r->len, r->str);
    } else if (cluster_map_from_slots(&cl->next, r, c->host, err) == 0) {
        if (cluster_map_covered(&cl->next) > 0)
            rv = 0;
        else
            err_set(err, SQ_ERR_TRANSIENT, "redis: %s:%d serves no slot map yet", c->host, c->port);
    }
    freeReplyObject(r);
    return rv;
}

/* Reads the map from any node that answers: the connected ones first (no
 * connect to pay), then the seeds, then the nodes of the old map. 0, or -1
 * with err (the old map is kept). */
static int rcluster_refresh(struct rcluster *cl, struct sq_err *err)
{
    struct sq_err e;
    int i, k, n;

    cl->refreshed_ms = clock_mono_ms();
    err_set(&e, SQ_ERR_IO, "redis cluster: no node to ask for the slot map");
    for (i = 0; i < cl->nconns; i++)
        if (cl->conns[i].ctx != NULL && rcluster_ask_map(cl, i, &e) == 0)
            goto found;
    for (k = 0; k < cl->url->nseeds; k++) {
        i = rcluster_node(cl, cl->url->seeds[k].host, cl->url->seeds[k].port);
        if (i >= 0 && rcluster_ask_map(cl, i, &e) == 0)
            goto found;
    }
    for (n = 0; n < cl->map.nnodes; n++) {
        i = rcluster_node(cl, cl->map.nodes[n].host, cl->map.nodes[n].port);
        if (i >= 0 && rcluster_ask_map(cl, i, &e) == 0)
            goto found;
    }
    err_set(err, e.code == SQ_ERR_NOMEM ? SQ_ERR_NOMEM : SQ_ERR_IO,
            "redis cluster: no node gave the slot map (last: %s)", e.msg);
    return -1;
found:
    memcpy(&cl->map, &cl->next, sizeof(cl->map));
    cl->is_stale = false;
    return 0;
}

/* A map to route with: read when there is none, read again when stale
 * (at most every RCLUSTER_REFRESH_MS; a failed refresh keeps the old one).
 * 0, or -1 with err when there is no map. */
static int rcluster_ensure_map(struct rcluster *cl, struct sq_err *err)
{
    if (cl->map.nnodes == 0)
        return rcluster_refresh(cl, err);
    if (cl->is_stale && clock_mono_ms() - cl->refreshed_ms >= RCLUSTER_REFRESH_MS)
        (void)rcluster_refresh(cl, NULL);
    return 0;
}

/* The node a command goes to: its key's slot's master, or for a keyless
 * one the last node used or else any master. -1 with err when no master
 * serves the slot. */
static int rcluster_route(struct rcluster *cl, int argc, const char **argv, const size_t *lens,
                          struct sq_err *err)
{
    int ki, n, slot;

    if (cluster_command_route(argc, (const char *const *)argv, lens, &ki) == CLUSTER_ROUTE_KEY) {
        slot = cluster_key_slot(argv[ki], lens[ki]);
        n = cl->map.slot_node[slot];
        if (n < 0) {
            cl->is_stale = true;
            err_set(err, SQ_ERR_TRANSIENT, "redis cluster: no master serves slot %d", slot);
            return -1;
        }
    } else if (cl->last >= 0 && cl->conns[cl->last].ctx != NULL &&
               cluster_map_find(&cl->map, cl->conns[cl->last].host, cl->conns[cl->last].port) >=
                   0) {
        return cl->last;
    } else {
        n = 0;
    }
    n = rcluster_node(cl, cl->map.nodes[n].host, cl->map.nodes[n].port);
    if (n < 0)
        err_set(err, SQ_ERR_NOMEM, "redis cluster: more than %d nodes", CLUSTER_MAX_NODES);
    return n;
}

/* Whether reply r of node i is a redirection to follow: then *to is the
 * node to send the command to and *is_ask whether it needs ASKING first (a
 * MOVED patches the map and marks it stale). An error that says the map is
 * out of date marks it stale. False when r is anything else or the
 * redirection cannot be followed. */
static bool rcluster_redirected(struct rcluster *cl, int i, const redisReply *r, int *to,
                                bool *is_ask)
{
    struct cluster_redirect rd;
    size_t k, w;

    if (r->type != REDIS_REPLY_ERROR)
        return false;
    if (!cluster_parse_redirect(r->str, r->len, &rd)) {
        for (w = 0; w < r->len && r->str[w] != ' '; w++)
            ;
        for (k = 0; k < sizeof(rcluster_stale_words) / sizeof(rcluster_stale_words[0]); k++)
            if (strlen(rcluster_stale_words[k]) == w &&
                memcmp(rcluster_stale_words[k], r->str, w) == 0)
                cl->is_stale = true;
        return false;
    }
    if (rd.host[0] == '\0') /* the node does not know its own address: the one we reached */
        snprintf(rd.host, sizeof(rd.host), "%s", cl->conns[i].host);
    if (!rd.is_ask) {
        (void)cluster_map_set(&cl->map, rd.slot, rd.host, rd.port);
        cl->is_stale = true;
    }
    *to = rcluster_node(cl, rd.host, rd.port);
    *is_ask = rd.is_ask;
    return *to >= 0;
}

/* Sends a command to node i and reads its reply (ASKING first when
 * is_ask). The reply, or NULL with err (the node dropped). */
static redisReply *rcluster_exec(struct rcluster *cl, int i, bool is_ask, int argc,
                                 const char **argv, const size_t *lens, struct sq_err *err)
{
    struct rcluster_conn *c = &cl->conns[i];
    void *r = NULL;

    if (rcluster_flush(cl, i, err) < 0 || rcluster_open(cl, i, err) < 0)
        return NULL;
    cl->last = i;
    if (is_ask) {
        if (redisAppendCommand(c->ctx, "ASKING") != REDIS_OK ||
            redisAppendCommandArgv(c->ctx, argc, argv, lens) != REDIS_OK ||
            redisGetReply(c->ctx, &r) != REDIS_OK || r == NULL)
            goto fail;
        freeReplyObject(r); /* +OK; an error shows in the command's own reply */
        r = NULL;
        if (redisGetReply(c->ctx, &r) != REDIS_OK || r == NULL)
            goto fail;
        return r;
    }
    r = redisCommandArgv(c->ctx, argc, argv, lens);
    if (r == NULL)
        goto fail;
    return r;
fail:
    rcluster_fail(cl, i, err, "connection lost");
    return NULL;
}

/* Runs a command from node i, following redirections from hop hops on.
 * The node that answers (not with a redirection) counts as written: the
 * next rcluster_wait asks it. */
static redisReply *rcluster_run(struct rcluster *cl, int i, bool is_ask, int hops, int argc,
                                const char **argv, const size_t *lens, struct sq_err *err)
{
    for (;;) {
        redisReply *r = rcluster_exec(cl, i, is_ask, argc, argv, lens, err);
        int to;

        if (r == NULL)
            return NULL;
        if (hops >= CLUSTER_MAX_REDIRECTS || !rcluster_redirected(cl, i, r, &to, &is_ask)) {
            cl->conns[i].is_written = true;
            return r;
        }
        freeReplyObject(r);
        hops++;
        i = to;
    }
}

/* Makes script call argv (EVALSHA) an EVAL when node i's connection has not
 * had the script yet (sc NULL: not a script call). Returns the connection
 * number it was decided for, 0 for none. */
static unsigned long rcluster_script_argv(struct rcluster *cl, int i, const char **argv,
                                          size_t *lens, const struct rcluster_script *sc)
{
    const struct rcluster_conn *c = &cl->conns[i];

    if (sc == NULL || c->ctx == NULL)
        return 0;
    if (!(c->scripts & sc->bit)) {
        argv[0] = "EVAL"; /* loads it: EVALSHA from now on on this connection */
        lens[0] = 4;
        argv[1] = sc->src;
        lens[1] = strlen(sc->src);
    }
    return c->conn_no;
}

redisReply *rcluster_command(struct rcluster *cl, int argc, const char **argv, size_t *lens,
                             const struct rcluster_script *sc, struct sq_err *err)
{
    redisReply *r;
    unsigned long conn;
    int i;

    if (rcluster_ensure_map(cl, err) < 0)
        return NULL;
    i = rcluster_route(cl, argc, argv, lens, err);
    if (i < 0 || (sc != NULL && rcluster_open(cl, i, err) < 0))
        return NULL;
    conn = rcluster_script_argv(cl, i, argv, lens, sc);
    r = rcluster_run(cl, i, false, 0, argc, argv, lens, err);
    /* it ran there (not redirected) on the connection it was decided for */
    if (r != NULL && r->type != REDIS_REPLY_ERROR && conn != 0 && cl->last == i &&
        cl->conns[i].conn_no == conn)
        cl->conns[i].scripts |= sc->bit; /* (an error may be a refusal before it ran) */
    return r;
}

/* Room for one more pending entry: 0, or -1 when memory ran out. */
static int rcluster_pending_room(struct rcluster *cl)
{
    struct rcluster_pending *p;
    size_t cap;

    if (cl->head > 0 && cl->head + cl->npending == cl->cap) {
        memmove(cl->pending, cl->pending + cl->head, cl->npending * sizeof(*cl->pending));
        cl->head = 0;
    }
    if (cl->head + cl->npending < cl->cap)
        return 0;
    cap = cl->cap ? cl->cap * 2 : 16;
    p = realloc(cl->pending, cap * sizeof(*p));
    if (p == NULL)
        return -1;
    cl->pending = p;
    cl->cap = cap;
    return 0;
}

/* Copies argv[0..argc) into e: 0, or -1 when memory ran out (e freed). */
static int rcluster_entry_copy(struct rcluster_pending *e, int argc, const char **argv,
                               const size_t *lens)
{
    int i;

    e->argv = calloc((size_t)argc, sizeof(*e->argv));
    e->lens = malloc((size_t)argc * sizeof(*e->lens));
    if (e->argv == NULL || e->lens == NULL)
        goto fail;
    e->argc = argc;
    for (i = 0; i < argc; i++) {
        e->argv[i] = malloc(lens[i] + 1);
        if (e->argv[i] == NULL)
            goto fail;
        memcpy(e->argv[i], argv[i], lens[i]);
        e->argv[i][lens[i]] = '\0';
        e->lens[i] = lens[i];
    }
    return 0;
fail:
    e->argc = e->argv != NULL ? argc : 0;
    rcluster_entry_free(e);
    return -1;
}

int rcluster_send(struct rcluster *cl, int argc, const char **argv, size_t *lens,
                  const struct rcluster_script *sc, struct sq_err *err)
{
    struct rcluster_pending *e;
    int i, is_written = 0;

    if (rcluster_ensure_map(cl, err) < 0)
        goto fail;
    i = rcluster_route(cl, argc, argv, lens, err);
    if (i < 0 || rcluster_open(cl, i, err) < 0)
        goto fail;
    if (rcluster_pending_room(cl) < 0)
        goto oom;
    (void)rcluster_script_argv(cl, i, argv, lens, sc);
    e = &cl->pending[cl->head + cl->npending];
    memset(e, 0, sizeof(*e));
    if (rcluster_entry_copy(e, argc, argv, lens) < 0)
        goto oom;
    e->conn = i;
    if (redisAppendCommandArgv(cl->conns[i].ctx, argc, argv, lens) != REDIS_OK) {
        rcluster_entry_free(e);
        rcluster_fail(cl, i, err, "out of memory");
        goto fail;
    }
    cl->npending++;
    cl->conns[i].inflight++;
    if (sc != NULL)
        cl->conns[i].scripts |= sc->bit;
    cl->last = i;
    /* a blocking socket: each write takes what fits, bounded by the timeout */
    while (!is_written)
        if (redisBufferWrite(cl->conns[i].ctx, &is_written) != REDIS_OK) {
            rcluster_fail(cl, i, err, "write failed");
            goto fail;
        }
    return 0;
oom:
    err_set(err, SQ_ERR_NOMEM, "out of memory building a command");
fail:
    rcluster_pipeline_fail(cl);
    return -1;
}

redisReply *rcluster_pending_reply(struct rcluster *cl, struct sq_err *err)
{
    struct rcluster_pending e;
    void *r = NULL;
    bool is_ask;
    int to;

    if (cl->npending == 0) {
        err_set(err, SQ_ERR_IO, "redis: no reply pending (the connection was lost)");
        return NULL;
    }
    e = cl->pending[cl->head];
    if (e.reply == NULL) {
        if (redisGetReply(cl->conns[e.conn].ctx, &r) != REDIS_OK || r == NULL) {
            rcluster_fail(cl, e.conn, err, "connection lost");
            return NULL;
        }
        cl->conns[e.conn].inflight--;
        e.reply = r;
    }
    cl->head++;
    if (--cl->npending == 0)
        cl->head = 0;
    r = e.reply;
    e.reply = NULL;
    if (((redisReply *)r)->type == REDIS_REPLY_ERROR)
        cl->conns[e.conn].scripts = 0; /* an EVAL refused before it ran loaded nothing */
    if (rcluster_redirected(cl, e.conn, r, &to, &is_ask)) {
        freeReplyObject(r);
        r = rcluster_run(cl, to, is_ask, 1, e.argc, (const char **)e.argv, e.lens, err);
        if (r == NULL) /* as a lost connection: the later replies go with it */
            rcluster_pipeline_fail(cl);
    } else {
        cl->conns[e.conn].is_written = true;
    }
    rcluster_entry_free(&e);
    return r;
}

int rcluster_npending(const struct rcluster *cl)
{
    return (int)cl->npending;
}

int rcluster_wait(struct rcluster *cl, int n, int timeout_ms, unsigned long conn,
                  struct sq_err *err)
{
    char ns[16], ts[16];
    const char *argv[] = {"WAIT", ns, ts};
    bool is_sent[CLUSTER_MAX_NODES] = {false};
    int i, rv = 1;

    if (cl->is_write_lost) {
        err_set(err, SQ_ERR_IO, "redis: a node that took the write was lost: not confirmed");
        rv = -1;
    }
    for (i = 0; i < cl->nconns && rv == 1; i++)
        if (cl->conns[i].is_written && (cl->conns[i].ctx == NULL || cl->conns[i].conn_no > conn)) {
            err_set(err, SQ_ERR_IO,
                    "redis: the connection to %s:%d was replaced since the write: not confirmed",
                    cl->conns[i].host, cl->conns[i].port);
            rv = -1;
        }
    snprintf(ns, sizeof(ns), "%d", n);
    snprintf(ts, sizeof(ts), "%d", timeout_ms);
    /* every node at once: the waits overlap */
    for (i = 0; i < cl->nconns && rv == 1; i++) {
        if (!cl->conns[i].is_written)
            continue;
        if (redisAppendCommandArgv(cl->conns[i].ctx, 3, argv, NULL) != REDIS_OK) {
            rcluster_fail(cl, i, err, "out of memory");
            rv = -1;
        } else {
            is_sent[i] = true;
        }
    }
    for (i = 0; i < cl->nconns; i++) {
        struct rcluster_conn *c = &cl->conns[i];
        redisReply *r = NULL;

        c->is_written = false;
        if (!is_sent[i])
            continue;
        if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK || r == NULL) {
            rcluster_fail(cl, i, err, "connection lost");
            rv = -1;
            continue;
        }
        if (r->type == REDIS_REPLY_INTEGER && r->integer >= n) {
            /* confirmed on this node */
        } else if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
            err_set(err, SQ_ERR_TRANSIENT,
                    "%lld of %d replica(s) of %s:%d acknowledged it within %d ms", r->integer, n,
                    c->host, c->port, timeout_ms);
            if (rv == 1)
                rv = 0;
        } else {
            err_set(err,
                    r->type == REDIS_REPLY_ERROR ? err_reply_code(r->str, r->len) : SQ_ERR_REDIS,
                    "redis: %s:%d: WAIT failed: %.*s", c->host, c->port,
                    r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            rv = -1;
        }
        freeReplyObject(r);
    }
    cl->is_write_lost = false;
    return rv;
}

unsigned long rcluster_connects(const struct rcluster *cl)
{
    return cl->nconnects;
}

int rcluster_peer(const struct rcluster *cl, char *buf, size_t cap)
{
    if (cl->last < 0 || cl->conns[cl->last].ctx == NULL)
        return -1;
    snprintf(buf, cap, "%s:%d", cl->conns[cl->last].host, cl->conns[cl->last].port);
    return 0;
}
