/* rcluster: the synchronous Redis Cluster client behind rconn (a
 * redis-cluster:// URL). Private to rconn.c: nobody else sees the cluster.
 * One hiredis context per node, opened lazily; the slot map read with
 * CLUSTER SLOTS; each command sent to the master of its key's slot, MOVED
 * and ASK followed, pipelined calls answered in the order sent whatever node
 * served them. It never sleeps and never retries a failed node: the caller
 * owns the retry policy, as with a single Redis. */
#ifndef STAGEQ_RCLUSTER_H
#define STAGEQ_RCLUSTER_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "err.h"
#include "redis_url.h"

/* At most one full CLUSTER SLOTS refresh per this many ms while the map is
 * stale (after a MOVED, a lost node, CLUSTERDOWN or TRYAGAIN); a MOVED
 * patches its slot at once. */
#define RCLUSTER_REFRESH_MS 100

struct rcluster;

/* Returns a new handle (no connection yet) the caller frees with
 * rcluster_free, or NULL when memory ran out. Borrows url (its seeds, user
 * and password), which must outlive it. timeout_ms bounds each node's
 * connect() and every read. */
struct rcluster *rcluster_new(const struct redis_url *url, int timeout_ms);
void rcluster_free(struct rcluster *cl);

/* A script call rcluster_command or rcluster_send writes: with EVAL and the
 * source in place of EVALSHA and the sha (argv[0], argv[1]) when its node's
 * connection has not had the script yet (bit: SCRIPT_BIT of it), so that a
 * pipeline of calls sent before the first reply is read is not refused
 * NOSCRIPT. */
struct rcluster_script {
    uint32_t bit;
    const char *src;
};

/* Sends one command to the master of its key's slot (a keyless one to any
 * master), reading the map first when there is none, and follows MOVED (the
 * map is patched and marked stale) and ASK (ASKING, then the command, the
 * map unchanged) up to CLUSTER_MAX_REDIRECTS hops. Returns a reply the
 * caller frees with freeReplyObject (an error reply as such: the last
 * redirection after too many hops; CLUSTERDOWN or TRYAGAIN, which mark the
 * map stale), or NULL with err (SQ_ERR_IO: no node gave a map, the node was
 * unreachable or lost (dropped), SQ_ERR_TRANSIENT: no master serves the
 * slot, SQ_ERR_NOMEM). lens must not be NULL. sc: NULL, or the script an
 * EVALSHA argv runs (see struct rcluster_script; argv, lens rewritten then). */
redisReply *rcluster_command(struct rcluster *cl, int argc, const char **argv, size_t *lens,
                             const struct rcluster_script *sc, struct sq_err *err);

/* Writes a command to its slot's master without reading the reply (kept in
 * order with the other pending ones): 0, or -1 with err (every pending
 * reply is then lost, the nodes that held some are dropped). sc: NULL, or
 * the script an EVALSHA argv runs (argv, lens rewritten then: EVAL). */
int rcluster_send(struct rcluster *cl, int argc, const char **argv, size_t *lens,
                  const struct rcluster_script *sc, struct sq_err *err);
/* The oldest pending reply, whatever node serves it; a MOVED or ASK is
 * followed synchronously and the final answer returned in its place. NULL
 * with err when none is pending or a node failed (every pending reply is
 * then lost). The caller frees the reply with freeReplyObject. */
redisReply *rcluster_pending_reply(struct rcluster *cl, struct sq_err *err);
int rcluster_npending(const struct rcluster *cl);

/* WAIT n timeout_ms on every node that took a command since the last
 * rcluster_wait, at once. Returns 1 when every one of them had n replicas
 * acknowledge, 0 when one had fewer (err says which), -1 with err when a
 * node failed, one of them was lost since, or its connection was set up
 * after connection number conn (rcluster_connects). */
int rcluster_wait(struct rcluster *cl, int n, int timeout_ms, unsigned long conn,
                  struct sq_err *err);

/* How many node connections were set up so far. */
unsigned long rcluster_connects(const struct rcluster *cl);
/* "host:port" of the node that served the last command: 0, or -1 when it is
 * not connected. */
int rcluster_peer(const struct rcluster *cl, char *buf, size_t cap);

/* rconn.c: opens a context to host:port (the URL's unix socket when host is
 * NULL) with connect and read timeout tv, authenticated with the URL's user
 * and password. Returns it (the caller frees it with redisFree), or NULL
 * with err. */
redisContext *rconn_dial(const struct redis_url *url, const char *host, int port, struct timeval tv,
                         struct sq_err *err);

#endif
