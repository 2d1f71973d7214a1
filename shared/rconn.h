/* rconn: a synchronous Redis connection (for workers and tools) with connect
 * and read timeouts, AUTH and SELECT, and lazy reconnect. It never sleeps or
 * retries on its own: the caller owns the retry policy (see rconn_backoff_ms). */
#ifndef STAGEQ_RCONN_H
#define STAGEQ_RCONN_H

#include <hiredis/hiredis.h>

#include "err.h"
#include "rargv.h"
#include "redis_url.h"
#include "scripts.h"

struct rconn;

/* Returns a new, not yet connected handle the caller frees with rconn_free, or
 * NULL when memory ran out. timeout_ms bounds connect() and every read. */
struct rconn *rconn_new(const struct redis_url *url, int timeout_ms);

/* Connects (and authenticates, selects the db) unless connected. 0, or -1 with err. */
int rconn_ensure(struct rconn *rc, struct sq_err *err);

/* True while the connection is believed to be up. */
int rconn_is_connected(const struct rconn *rc);

/* Sends one command, connecting first when needed. Returns a reply the caller
 * frees with freeReplyObject (a REDIS_REPLY_ERROR reply is returned as such),
 * or NULL on an I/O or connect error (err set; the connection is dropped and
 * reopened by the next call). */
redisReply *rconn_command(struct rconn *rc, const struct rargv *args, struct sq_err *err);

/* Runs a script with EVALSHA, falling back to EVAL when Redis lost its cache.
 * args: the keys, then the arguments. Same return contract as rconn_command. */
redisReply *rconn_script(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                         struct sq_err *err);

/* Pipelining. rconn_script_send writes a script call (EVALSHA) without
 * reading its reply: 0, or -1 with err (nothing pending then; the connection
 * is dropped). The replies are read in order with rconn_pending_reply; before
 * any other call on the connection, the hook set with rconn_set_drain runs
 * and must read every pending reply. A reply may be a NOSCRIPT error: the
 * caller sends that call again with rconn_script. */
int rconn_script_send(struct rconn *rc, enum script_id id, int nkeys, const struct rargv *args,
                      struct sq_err *err);
/* The oldest pending reply, or NULL when the connection failed (err set;
 * every pending reply is lost with it, the connection is dropped) or none
 * is pending. */
redisReply *rconn_pending_reply(struct rconn *rc, struct sq_err *err);
/* How many replies are pending. */
int rconn_npending(const struct rconn *rc);
void rconn_set_drain(struct rconn *rc, void (*drain)(void *), void *arg);

/* Exponential backoff with jitter for the attempt-th consecutive failure:
 * 100 ms doubling up to max_ms. */
int rconn_backoff_ms(int attempt, int max_ms);

void rconn_free(struct rconn *rc);

#endif
