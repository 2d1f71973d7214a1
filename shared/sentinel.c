/* sentinel: finds the master of a Sentinel group the way the Sentinel client
 * guidelines ask (each sentinel in turn with a short timeout, the one that
 * answered promoted, ROLE checked on the address it gave). It keeps no state
 * but the order of the sentinels in the url, never sleeps, never retries. */
#include "sentinel.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "config.h"
#include "num.h"

static const char *const status_texts[] = {
    [SENTINEL_OK] = "ok",
    [SENTINEL_UNREACHABLE] = "all sentinels unreachable",
    [SENTINEL_UNKNOWN_MASTER] = "no sentinel knows the master",
    [SENTINEL_NOT_MASTER] = "the address the sentinels gave is not a master (failover under way)",
    [SENTINEL_MASTER_DOWN] = "the master the sentinels gave cannot be reached",
};

const char *sentinel_status_text(enum sentinel_status st)
{
    if ((unsigned)st >= sizeof(status_texts) / sizeof(status_texts[0]))
        return "unknown sentinel status";
    return status_texts[st];
}

bool sentinel_reply_is_failover(const redisReply *r)
{
    size_t i;

    if (r == NULL)
        return false;
    if (r->type == REDIS_REPLY_ERROR)
        return err_reply_is_failover(r->str, r->len);
    if (r->type != REDIS_REPLY_ARRAY)
        return false;
    for (i = 0; i < r->elements; i++)
        if (sentinel_reply_is_failover(r->element[i]))
            return true;
    return false;
}

int sentinel_parse_master_addr(const redisReply *r, char *host, size_t cap, int *port)
{
    const redisReply *h, *p;
    char portbuf[8];
    long long v;

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return -1;
    h = r->element[0];
    p = r->element[1];
    if (h == NULL || p == NULL || h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING ||
        h->len == 0 || h->len >= cap || memchr(h->str, '\0', h->len) != NULL || p->len == 0 ||
        p->len >= sizeof(portbuf) || memchr(p->str, '\0', p->len) != NULL)
        return -1;
    memcpy(portbuf, p->str, p->len);
    portbuf[p->len] = '\0';
    if (num_parse_ll(portbuf, 1, 65535, &v, NULL) < 0)
        return -1;
    memcpy(host, h->str, h->len);
    host[h->len] = '\0';
    *port = (int)v;
    return 1;
}

int sentinel_parse_role(const redisReply *r)
{
    const redisReply *e;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return -1;
    e = r->element[0];
    if (e == NULL || (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS))
        return -1;
    return e->len == 6 && memcmp(e->str, "master", 6) == 0;
}

/* Flags that take a replica out of the count: Sentinel would not promote it. */
static const char *const unhealthy_flags[] = {"s_down", "o_down", "disconnected"};

/* True when the comma-separated flags[len] name none of unhealthy_flags. */
static bool flags_are_healthy(const char *flags, size_t len)
{
    size_t start = 0, end, i;

    while (start <= len) {
        for (end = start; end < len && flags[end] != ','; end++)
            ;
        for (i = 0; i < sizeof(unhealthy_flags) / sizeof(unhealthy_flags[0]); i++)
            if (strlen(unhealthy_flags[i]) == end - start &&
                memcmp(unhealthy_flags[i], flags + start, end - start) == 0)
                return false;
        start = end + 1;
    }
    return true;
}

static bool is_text(const redisReply *e)
{
    return e != NULL && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS);
}

int sentinel_parse_healthy_replicas(const redisReply *r)
{
    size_t i, k;
    int n = 0;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (i = 0; i < r->elements; i++) {
        const redisReply *rep = r->element[i], *flags = NULL;

        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 != 0)
            return -1;
        for (k = 0; k + 1 < rep->elements; k += 2) {
            if (!is_text(rep->element[k]) || !is_text(rep->element[k + 1]))
                return -1;
            if (rep->element[k]->len == 5 && memcmp(rep->element[k]->str, "flags", 5) == 0)
                flags = rep->element[k + 1];
        }
        if (flags == NULL)
            return -1;
        if (flags_are_healthy(flags->str, flags->len))
            n++;
    }
    return n;
}

int sentinel_wait_count(int min_replicas, int healthy)
{
    return min_replicas >= 1 && healthy > min_replicas ? healthy : min_replicas;
}

void sentinel_promote(struct redis_url *url, int i)
{
    struct redis_url_node n;

    if (i <= 0 || i >= url->nsentinels)
        return;
    n = url->sentinels[i];
    memmove(&url->sentinels[1], &url->sentinels[0], (size_t)i * sizeof(url->sentinels[0]));
    url->sentinels[0] = n;
}

/* Runs argv on c; returns the reply (caller frees) or NULL with err naming
 * what (the node) and argv[0]. */
static redisReply *node_command(redisContext *c, const char *what, int argc, const char **argv,
                                struct sq_err *err)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);

    if (r == NULL)
        err_set(err, SQ_ERR_IO, "%s: %s during %s", what,
                c->errstr[0] ? c->errstr : "connection lost", argv[0]);
    return r;
}

/* Connects to host:port with both timeouts at timeout_ms and authenticates
 * with user/password when a password is set. Returns a context the caller
 * frees with redisFree, or NULL with err naming what. */
static redisContext *node_open(const char *host, int port, const char *user, const char *password,
                               int timeout_ms, const char *what, struct sq_err *err)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    const char *argv[3] = {"AUTH", user, password};
    redisReply *r;

    if (c == NULL) {
        err_set(err, SQ_ERR_NOMEM, "%s: out of memory", what);
        return NULL;
    }
    if (c->err) {
        err_set(err, SQ_ERR_IO, "%s: connect: %s", what, c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        err_set(err, SQ_ERR_IO, "%s: cannot set the timeout", what);
        goto fail;
    }
    if (password[0] == '\0')
        return c;
    if (user[0] == '\0') /* AUTH password: the default user */
        argv[1] = password;
    r = node_command(c, what, user[0] ? 3 : 2, argv, err);
    if (r == NULL)
        goto fail;
    if (r->type == REDIS_REPLY_ERROR) {
        err_set(err, err_reply_code(r->str, r->len), "%s: AUTH failed: %.*s", what, (int)r->len,
                r->str);
        freeReplyObject(r);
        goto fail;
    }
    freeReplyObject(r);
    return c;
fail:
    redisFree(c);
    return NULL;
}

redisContext *sentinel_open(const struct redis_url *url, int i, int timeout_ms, struct sq_err *err)
{
    const struct redis_url_node *n = &url->sentinels[i];
    char what[300];

    snprintf(what, sizeof(what), "sentinel %s:%d", n->host, n->port);
    return node_open(n->host, n->port, url->sentinel_user, url->sentinel_password, timeout_ms, what,
                     err);
}

int sentinel_ask_state(redisContext *sc, const char *master_name, char *host, size_t cap, int *port,
                       int *healthy, struct sq_err *err)
{
    const char *am[] = {"SENTINEL", "get-master-addr-by-name", master_name};
    const char *ar[] = {"SENTINEL", "REPLICAS", master_name};
    void *rm = NULL, *rr = NULL;
    int rv = -1;

    if (redisAppendCommandArgv(sc, 3, am, NULL) != REDIS_OK ||
        redisAppendCommandArgv(sc, 3, ar, NULL) != REDIS_OK || redisGetReply(sc, &rm) != REDIS_OK ||
        redisGetReply(sc, &rr) != REDIS_OK) {
        err_set(err, SQ_ERR_IO, "sentinel: %s", sc->errstr[0] ? sc->errstr : "connection lost");
        goto done;
    }
    if (sentinel_parse_master_addr(rm, host, cap, port) != 1) {
        err_set(err, SQ_ERR_REDIS, "sentinel: does not know master '%s'", master_name);
        goto done;
    }
    *healthy = sentinel_parse_healthy_replicas(rr);
    rv = 0;
done:
    freeReplyObject(rm);
    freeReplyObject(rr);
    return rv;
}

/* Asks sentinel i for the master's address: 1 with host/port set, 0 when it
 * does not know the master, -1 when it cannot be asked (err says why). */
static int ask_sentinel(const struct redis_url *url, int i, int timeout_ms, char *host, size_t cap,
                        int *port, struct sq_err *err)
{
    const struct redis_url_node *n = &url->sentinels[i];
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", url->master_name};
    char what[300];
    redisContext *c;
    redisReply *r;
    int rv = -1;

    snprintf(what, sizeof(what), "sentinel %s:%d", n->host, n->port);
    c = sentinel_open(url, i, timeout_ms, err);
    if (c == NULL)
        return -1;
    r = node_command(c, what, 3, argv, err);
    if (r != NULL) {
        rv = sentinel_parse_master_addr(r, host, cap, port);
        if (rv < 0)
            err_set(err, SQ_ERR_REDIS,
                    "%s: unexpected reply to SENTINEL get-master-addr-by-name: %.*s", what,
                    r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                    r->type == REDIS_REPLY_ERROR ? r->str : "");
        freeReplyObject(r);
    }
    redisFree(c);
    return rv;
}

/* The first half of the discovery: asks each sentinel of url in turn
 * (connect and reply bounded by timeout_ms each; AUTH with the sentinel
 * credentials when set) for url->master_name and promotes the first that
 * knows it. Returns 0 with host[cap] and *port set (*st SENTINEL_OK), or -1
 * with *st SENTINEL_UNREACHABLE or SENTINEL_UNKNOWN_MASTER and err set. */
static int sentinel_master_addr(struct redis_url *url, int timeout_ms, char *host, size_t cap,
                                int *port, enum sentinel_status *st, struct sq_err *err)
{
    struct sq_err last;
    int i, nnil = 0;

    snprintf(last.msg, sizeof(last.msg), "no sentinel in the URL");
    for (i = 0; i < url->nsentinels; i++) {
        int rv = ask_sentinel(url, i, timeout_ms, host, cap, port, &last);
        if (rv == 1) {
            sentinel_promote(url, i);
            *st = SENTINEL_OK;
            return 0;
        }
        if (rv == 0)
            nnil++;
    }
    *st = nnil > 0 ? SENTINEL_UNKNOWN_MASTER : SENTINEL_UNREACHABLE;
    if (nnil > 0)
        err_set(err, SQ_ERR_REDIS,
                "no sentinel knows master '%s' (%d of %d answered it is unknown)", url->master_name,
                nnil, url->nsentinels);
    else
        err_set(err, SQ_ERR_IO, "all %d sentinels unreachable (last: %s)", url->nsentinels,
                last.msg);
    return -1;
}

redisContext *sentinel_connect(struct redis_url *url, int timeout_ms, enum sentinel_status *st,
                               struct sq_err *err)
{
    char host[256], what[512];
    const char *argv[] = {"ROLE"};
    redisContext *c = NULL;
    redisReply *r;
    int port = 0, role;

    if (sentinel_master_addr(url, timeout_ms, host, sizeof(host), &port, st, err) < 0)
        return NULL;
    snprintf(what, sizeof(what), "master '%s' at %s:%d", url->master_name, host, port);
    *st = SENTINEL_MASTER_DOWN;
    c = node_open(host, port, url->user, url->password, timeout_ms, what, err);
    if (c == NULL)
        return NULL;
    r = node_command(c, what, 1, argv, err);
    if (r == NULL)
        goto fail;
    role = sentinel_parse_role(r);
    if (role < 0)
        err_set(err, SQ_ERR_REDIS, "%s: unexpected reply to ROLE: %.*s", what,
                r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                r->type == REDIS_REPLY_ERROR ? r->str : "");
    else if (role == 0) {
        *st = SENTINEL_NOT_MASTER;
        err_set(err, SQ_ERR_TRANSIENT, "%s: ROLE says it is not a master (failover under way)",
                what);
    }
    freeReplyObject(r);
    if (role != 1)
        goto fail;
    *st = SENTINEL_OK;
    return c;
fail:
    redisFree(c);
    return NULL;
}
