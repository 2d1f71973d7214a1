/* rconn: a synchronous Redis connection (for workers and tools) with connect
 * and read timeouts, AUTH and SELECT, and lazy reconnect. With a
 * redis-sentinel URL each connect finds the master through the sentinels
 * (shared/sentinel.h), and the connection is dropped on connection loss, a
 * timeout, or an error reply that says the master moved (READONLY,
 * UNBLOCKED, LOADING, MASTERDOWN, NOREPLICAS: alone, in a script's or an
 * EXEC's array, or as a pending reply): the next call finds the master again.
 * The caller still gets that reply or error. With a redis-cluster URL
 * (shared/rcluster.h) it keeps one connection per master and sends each
 * command to the master of its key's slot, following MOVED and ASK; a lost
 * node, CLUSTERDOWN or TRYAGAIN fail that call as a lost connection would
 * and make it read the slot map again. It never sleeps or retries on its
 * own: the caller owns the retry policy (see rconn_backoff_ms). */
#ifndef STAGEQ_RCONN_H
#define STAGEQ_RCONN_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "err.h"
#include "rargv.h"
#include "redis_url.h"
#include "scripts.h"
#include "sentinel.h"

struct rconn;

/* Returns a new, not yet connected handle the caller frees with rconn_free, or
 * NULL when memory ran out. timeout_ms bounds connect() and every read. */
struct rconn *rconn_new(const struct redis_url *url, int timeout_ms);

/* Sends one command, connecting first when needed. Returns a reply the caller
 * frees with freeReplyObject (a REDIS_REPLY_ERROR reply is returned as such;
 * one that says the master moved has dropped the connection), or NULL on an
 * I/O or connect error or a timeout (err set; the connection is dropped and
 * reopened by the next call). */
redisReply *rconn_command(struct rconn *rc, const struct rargv *args, struct sq_err *err);

/* Runs a script with EVALSHA, falling back to EVAL when Redis lost its cache.
 * args: the keys, then the arguments. Same return contract as rconn_command. */
redisReply *rconn_script(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                         struct sq_err *err);

/* Pipelining. rconn_script_send writes a script call (EVALSHA) without
 * reading its reply: 0, or -1 with err (nothing pending then; the connection
 * is dropped). The replies are read in order with rconn_pending_reply (on a
 * cluster: in the order sent, whatever node serves each; one answered MOVED
 * or ASK is sent again and its answer returned in its place); before
 * any other call on the connection, the hook set with rconn_set_drain runs
 * and must read every pending reply. A reply may be a NOSCRIPT error: the
 * caller sends that call again with rconn_script. */
int rconn_script_send(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                      struct sq_err *err);
/* rconn_script_send without the write: the call waits in the output buffer
 * until rconn_flush, or the next call on the connection, writes it with
 * whatever joined it (one write for several). On a cluster it is written at
 * once. */
int rconn_script_append(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                        struct sq_err *err);
/* True when calls appended are not written yet. */
bool rconn_has_unsent(const struct rconn *rc);
/* Writes the calls appended: 0, or -1 with err (the connection is dropped,
 * every pending reply lost with it). */
int rconn_flush(struct rconn *rc, struct sq_err *err);
/* The oldest pending reply, or NULL when the connection failed (err set;
 * every pending reply is lost with it, the connection is dropped) or none
 * is pending. */
redisReply *rconn_pending_reply(struct rconn *rc, struct sq_err *err);
/* WAIT for the replicas: n of them, or with a redis-sentinel URL and n >= 1
 * every replica the sentinels counted healthy at the last rconn_check_master
 * when they are more (sentinel_wait_count). Returns 1 when that many
 * acknowledged every write sent on the connection so far, 0 when fewer did
 * within timeout_ms (err says how many), -1 with err when Redis failed or
 * the connection is not the one numbered conn any more (rconn_connects, read
 * when the write's reply came: a WAIT on another connection would confirm
 * nothing). Reads the pending replies first (the drain hook). timeout_ms
 * must stay below the read timeout. On a cluster: WAIT n on every node that
 * took a command since the last rconn_wait, 1 only when each confirms. */
int rconn_wait(struct rconn *rc, int n, int timeout_ms, unsigned long conn, struct sq_err *err);
/* With a redis-sentinel URL and a connection: asks a sentinel, on a
 * connection kept open between checks (reopened on error, each sentinel in
 * turn), which master they name now and how many replicas they count healthy
 * (a demoted master keeps serving its clients until Sentinel reconfigures
 * it, seconds after a failover). Returns 1 when they name another one (the
 * connection is dropped, err says which), 0 when it is the same or there is
 * nothing to check (plain or cluster URL, not connected, replies pending), -1 when no
 * sentinel answered (err set; the connection is kept). */
int rconn_check_master(struct rconn *rc, struct sq_err *err);
/* How many connections rc has set up (on a cluster: to any node, the first
 * one to each master included). A new number means later calls went to a
 * new connection, maybe to a new master. */
unsigned long rconn_connects(const struct rconn *rc);
/* How the last connect attempt's Sentinel discovery went (SENTINEL_OK when
 * it succeeded, or for a plain URL): tells "all sentinels unreachable" from
 * "no sentinel knows the master" and a master not reachable yet. */
enum sentinel_status rconn_discovery(const struct rconn *rc);
/* Writes "host:port" of the Redis connected to (on a cluster: the node that
 * served the last command) into buf[cap]: 0, or -1 when not connected or on
 * a unix socket. */
int rconn_peer(const struct rconn *rc, char *buf, size_t cap);
/* How many replies are pending. */
int rconn_npending(const struct rconn *rc);
void rconn_set_drain(struct rconn *rc, void (*drain)(void *), void *arg);
/* The drain hook's owner holds calls of its own not appended yet (they are
 * to go before any other): the hook runs before the next call even with no
 * reply pending. */
void rconn_set_held(struct rconn *rc, bool is_held);

/* Exponential backoff with jitter for the attempt-th consecutive failure:
 * 100 ms doubling up to max_ms. */
int rconn_backoff_ms(int attempt, int max_ms);

void rconn_free(struct rconn *rc);

#endif
