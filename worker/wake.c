/* wake: an idle worker that serves several queues or partitions cannot
 * block on one list (BLMOVE takes one key, and the partitions live in other
 * slots), and one whose queue is paused or rate-limited must not (BLMOVE
 * would take past the pause or the limit). So it subscribes to the wake
 * channel of every queue it serves (<p>:wake:<q>, published by every push
 * that makes a partition list non-empty: submit, retry, requeue, recover,
 * hop, a take's promotion; by a resume; and by a scheduled submit that is
 * the earliest due) on a connection of its own, sweeps every partition
 * once, and waits for a message only when all were empty, at most until
 * the earliest due delayed job or the end of a rate wait (order.c). Subscribed before
 * the sweep, it misses no push: one that lands after the sweep looked is a
 * message waiting on the socket. Classic PUBLISH reaches every node of a
 * cluster (and the replicas), so any node will do: the one the worker's
 * connection is on, else the URL's first address. It never touches a key. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "num.h"
#include "worker.h"

struct wake {
    redisContext *c;
};

/* A reply of the subscription (owned): 1 for a message, 0 for anything
 * else (the subscribe confirmation). Frees it. */
static int wake_is_message(redisReply *r)
{
    int is_msg = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                 r->element[0]->type == REDIS_REPLY_STRING &&
                 strcmp(r->element[0]->str, "message") == 0;

    freeReplyObject(r);
    return is_msg;
}

static void wake_close(struct worker *w)
{
    if (w->wake != NULL && w->wake->c != NULL) {
        redisFree(w->wake->c);
        w->wake->c = NULL;
    }
}

/* The address to subscribe at: the node the worker's connection is on
 * (rconn_peer), else the URL's own. */
static redisContext *wake_connect(struct worker *w, int timeout_ms)
{
    const struct redis_url *u = w->url;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char peer[300], host[300];
    const char *colon;
    long long port = 0;

    if (u->kind == REDIS_URL_UNIX)
        return redisConnectUnixWithTimeout(u->path, tv);
    if (rconn_peer(w->rc, peer, sizeof(peer)) == 0 && (colon = strrchr(peer, ':')) != NULL &&
        num_parse_ll(colon + 1, 1, 65535, &port, NULL) == 0) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - peer), peer);
        return redisConnectWithTimeout(host, (int)port, tv);
    }
    if (u->kind == REDIS_URL_CLUSTER && u->nseeds > 0)
        return redisConnectWithTimeout(u->seeds[0].host, u->seeds[0].port, tv);
    if (u->kind == REDIS_URL_TCP)
        return redisConnectWithTimeout(u->host, u->port, tv);
    return NULL; /* Sentinel, not connected yet: after the first call */
}

/* Connects and subscribes when not yet: 0, or -1 (logged at debug level:
 * the caller's sweep goes on, and it waits a while instead). */
static int wake_open(struct worker *w)
{
    redisContext *c;
    redisReply *r;

    if (w->wake == NULL && (w->wake = calloc(1, sizeof(*w->wake))) == NULL)
        return -1;
    if (w->wake->c != NULL)
        return 0;
    c = wake_connect(w, w->cfg->redis_timeout_ms);
    if (c == NULL || c->err) {
        log_debug("wake: cannot connect: %s", c != NULL ? c->errstr : "no address yet");
        if (c != NULL)
            redisFree(c);
        return -1;
    }
    if (w->url->password[0] != '\0') {
        r = w->url->user[0] != '\0' ? redisCommand(c, "AUTH %s %s", w->url->user, w->url->password)
                                    : redisCommand(c, "AUTH %s", w->url->password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            log_debug("wake: AUTH refused");
            freeReplyObject(r);
            redisFree(c);
            return -1;
        }
        freeReplyObject(r);
    }
    {
        const char *argv[1 + WORKER_QUEUES_MAX];
        int i;

        argv[0] = "SUBSCRIBE";
        for (i = 0; i < w->nqueues; i++)
            argv[1 + i] = w->queues[i].wake_chan;
        /* one confirmation each: the first here, the others are read (and
         * dropped) as replies that are no message */
        r = redisCommandArgv(c, 1 + w->nqueues, argv, NULL);
    }
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        log_debug("wake: SUBSCRIBE failed");
        freeReplyObject(r);
        redisFree(c);
        return -1;
    }
    freeReplyObject(r);
    w->wake->c = c;
    return 0;
}

int wake_subscribe(struct worker *w)
{
    void *r = NULL;
    int rc;

    if (wake_open(w) < 0)
        return -1;
    /* the messages of pushes before this sweep: it finds their jobs */
    for (;;) {
        struct pollfd pfd = {w->wake->c->fd, POLLIN, 0};

        if (redisGetReplyFromReader(w->wake->c, &r) != REDIS_OK)
            goto fail;
        if (r != NULL) {
            (void)wake_is_message(r);
            r = NULL;
            continue;
        }
        rc = poll(&pfd, 1, 0);
        if (rc == 0)
            return 0;
        if (rc < 0 && errno == EINTR)
            return 0;
        if (rc < 0 || redisBufferRead(w->wake->c) != REDIS_OK)
            goto fail;
    }
fail:
    wake_close(w);
    return -1;
}

int wake_wait(struct worker *w, int timeout_ms)
{
    int64_t end = clock_mono_ms() + timeout_ms;
    void *r = NULL;

    if (w->wake == NULL || w->wake->c == NULL) {
        wredis_sleep_ms(w,
                        timeout_ms < 200 ? timeout_ms : 200); /* not subscribed: sweep again soon */
        return 0;
    }
    log_flush();
    while (!*w->stop) {
        int64_t left = end - clock_mono_ms();
        struct pollfd pfd = {w->wake->c->fd, POLLIN, 0};
        int rc;

        if (redisGetReplyFromReader(w->wake->c, &r) != REDIS_OK)
            break;
        if (r != NULL) {
            if (wake_is_message(r))
                return 1;
            r = NULL;
            continue;
        }
        if (left <= 0)
            return 0;
        /* in steps of 100 ms: the stop flag is looked at */
        rc = poll(&pfd, 1, left < 100 ? (int)left : 100);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && redisBufferRead(w->wake->c) != REDIS_OK)
            break;
    }
    if (*w->stop)
        return 0;
    log_debug("wake: subscription lost; subscribing again");
    wake_close(w);
    return 0;
}

void wake_free(struct wake *wk)
{
    if (wk == NULL)
        return;
    if (wk->c != NULL)
        redisFree(wk->c);
    free(wk);
}
