/* sentinel: Redis Sentinel discovery as the Sentinel client guidelines ask,
 * for both connection layers (rconn, sync; the API's async module). The pure
 * helpers build and read the replies; sentinel_connect does the whole
 * discovery synchronously. It never caches an address: every (re)connect asks
 * again. It never sleeps or retries a round on its own: callers own backoff. */
#ifndef STAGEQ_SENTINEL_H
#define STAGEQ_SENTINEL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "redis_url.h"

/* Why a discovery failed. The first two are the two errors the guidelines
 * tell apart, and that logs and /readyz name differently. */
enum sentinel_status {
    SENTINEL_OK = 0,
    SENTINEL_UNREACHABLE,    /* no sentinel answered (all unreachable or timed out) */
    SENTINEL_UNKNOWN_MASTER, /* sentinels answered, none knows url->master_name */
    SENTINEL_NOT_MASTER,     /* the address given answers ROLE as a replica (mid-failover) */
    SENTINEL_MASTER_DOWN,    /* the master address given cannot be reached or set up */
};

/* A short human name of a status ("all sentinels unreachable", ...). */
const char *sentinel_status_text(enum sentinel_status st);

/* Reads a SENTINEL get-master-addr-by-name reply. Returns 1 with host[cap]
 * and *port filled, 0 for a nil reply (this sentinel does not know the
 * master), -1 for anything else (an error reply or a malformed one). */
int sentinel_parse_master_addr(const redisReply *r, char *host, size_t cap, int *port);

/* Reads a ROLE reply: 1 when it says master, 0 when it says anything else
 * (slave, sentinel), -1 when it is an error or malformed. */
int sentinel_parse_role(const redisReply *r);

/* Reads a SENTINEL REPLICAS reply (an array of flat field/value arrays):
 * returns how many replicas the sentinel considers healthy (their "flags"
 * name none of s_down, o_down, disconnected), or -1 for an error reply or a
 * malformed one. With N >= 1 both layers WAIT for max(N, this count): a
 * replica Sentinel may promote has acknowledged what we confirm. */
int sentinel_parse_healthy_replicas(const redisReply *r);

/* The replica count a WAIT asks for: min_replicas, raised to healthy (the
 * last count of sentinel_parse_healthy_replicas, -1 when unknown) when
 * min_replicas >= 1; 0 stays 0 (no WAIT). */
int sentinel_wait_count(int min_replicas, int healthy);

/* True when r (may be NULL), or an element of it at any depth (a script's
 * array, the replies of an EXEC), is an error reply for which
 * err_reply_is_failover holds (the connection must be dropped and the
 * master found again; for a plain address it only means reconnect). */
bool sentinel_reply_is_failover(const redisReply *r);

/* Moves sentinel i of url to the front (the one that answered is asked first
 * next time). */
void sentinel_promote(struct redis_url *url, int i);

/* Opens a connection to sentinel i of url (connect and every reply bounded
 * by timeout_ms; AUTH with the sentinel credentials when set), for a caller
 * that keeps it to ask again. Returns a context the caller frees with
 * redisFree, or NULL with err set. */
redisContext *sentinel_open(const struct redis_url *url, int i, int timeout_ms, struct sq_err *err);

/* Asks the open sentinel connection sc, in one round trip, for the address of
 * master_name (host[cap], *port) and how many of its replicas are healthy
 * (*healthy, sentinel_parse_healthy_replicas: -1 when unreadable). Returns 0,
 * or -1 with err set when sc failed (the caller frees it) or the sentinel
 * does not know the master. */
int sentinel_ask_state(redisContext *sc, const char *master_name, char *host, size_t cap, int *port,
                       int *healthy, struct sq_err *err);

/* The whole discovery, synchronously: asks each sentinel of url in turn
 * (connect and reply bounded by timeout_ms each; AUTH with the sentinel
 * credentials when set) for url->master_name, promotes the first that knows
 * it, connects to the address it gave (bounded by timeout_ms), authenticates
 * with the data credentials, and checks ROLE. Returns a connected context the
 * caller frees with redisFree, with its read timeout set to timeout_ms and the
 * db NOT yet selected, or NULL with *st and err set. url must be
 * REDIS_URL_SENTINEL; it is modified only by sentinel_promote. */
redisContext *sentinel_connect(struct redis_url *url, int timeout_ms, enum sentinel_status *st,
                               struct sq_err *err);

#endif
