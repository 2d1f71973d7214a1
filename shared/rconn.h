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

/* Exponential backoff with jitter for the attempt-th consecutive failure:
 * 100 ms doubling up to max_ms. */
int rconn_backoff_ms(int attempt, int max_ms);

void rconn_free(struct rconn *rc);

#endif
