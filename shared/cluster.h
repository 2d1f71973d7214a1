/* cluster: the pure parts of Redis Cluster support, used by the connection
 * layers (shared/rconn.c for workers and tools, api/rasync.c for the API) and
 * by the key names (shared/keys.c): CRC16 key slots with hash tags, which
 * argument of a command is its routing key, the slot map read from CLUSTER
 * SLOTS, and MOVED/ASK redirections. It does no I/O and never logs: the
 * callers own the connections and the retry policy. */
#ifndef STAGEQ_CLUSTER_H
#define STAGEQ_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CLUSTER_SLOTS         16384
#define CLUSTER_HOST_MAX_LEN  255
#define CLUSTER_MAX_NODES     256 /* masters a map may name */
#define CLUSTER_MAX_REDIRECTS 5   /* MOVED/ASK hops one command may follow */

/* CRC16 (XMODEM, as Redis Cluster computes it) of buf[0..len). */
uint16_t cluster_crc16(const char *buf, size_t len);

/* The slot of key[0..len): CRC16 of its hash tag (the text between the first
 * '{' and the first '}' after it, when not empty), else of the whole key,
 * modulo 16384. */
int cluster_key_slot(const char *key, size_t len);

/* Where a command goes, from its arguments (argv[0] the command name, any
 * case). */
enum cluster_route {
    CLUSTER_ROUTE_KEY,  /* argv[*key_index] is its key: the node of that slot */
    CLUSTER_ROUTE_ANY,  /* no key (PING, TIME, INFO, PUBLISH, SUBSCRIBE, ...): any node */
    CLUSTER_ROUTE_NONE, /* a key-taking command with no key (EVALSHA with 0 keys): any node */
};
/* Returns the route of argv[0..argc) and, for CLUSTER_ROUTE_KEY, the index of
 * the key argument in *key_index. EVAL/EVALSHA/FCALL route by their first
 * key (argv[3] when numkeys >= 1); SPUBLISH/SSUBSCRIBE by their channel;
 * every other command that takes keys by argv[1]; commands of a known
 * keyless list go anywhere. */
enum cluster_route cluster_command_route(int argc, const char *const *argv, const size_t *lens,
                                         int *key_index);

/* A redirection read from an error reply "MOVED <slot> <host>:<port>" or
 * "ASK <slot> <host>:<port>". */
struct cluster_redirect {
    bool is_ask;
    int slot;
    char host[CLUSTER_HOST_MAX_LEN + 1];
    int port;
};
/* True when err[0..len) is a well-formed MOVED or ASK error (filled in *out);
 * false for any other error text, including a malformed redirection. An
 * empty host ("MOVED 3999 :6380": the node does not know its own address)
 * is returned as "" for the caller to replace with the replying node's. */
bool cluster_parse_redirect(const char *err, size_t len, struct cluster_redirect *out);

/* A node of the map: a master that serves slots, and its replicas' count. */
struct cluster_node {
    char host[CLUSTER_HOST_MAX_LEN + 1];
    int port;
    int nreplicas;
};

/* The slot map: which master serves each slot (-1: none). */
struct cluster_map {
    struct cluster_node nodes[CLUSTER_MAX_NODES];
    int nnodes;
    int16_t slot_node[CLUSTER_SLOTS]; /* index into nodes, or -1 */
};

/* Fills m from a CLUSTER SLOTS reply: 0, or -1 with err (SQ_ERR_REDIS) when
 * the reply is malformed or names more than CLUSTER_MAX_NODES masters; m is
 * then cleared (every slot -1). A master without an address ("" or "?") is
 * given default_host. Slots the reply does not name stay -1. */
int cluster_map_from_slots(struct cluster_map *m, const redisReply *r, const char *default_host,
                           struct sq_err *err);
/* Clears m: no nodes, every slot -1. */
void cluster_map_clear(struct cluster_map *m);
/* The index of host:port among m's nodes, or -1. */
int cluster_map_find(const struct cluster_map *m, const char *host, int port);
/* Records that slot is served by host:port (a MOVED): the node is added when
 * new. Returns its index, or -1 when the map is full or the slot is out of
 * range (m unchanged). */
int cluster_map_set(struct cluster_map *m, int slot, const char *host, int port);
/* How many slots have a node. */
int cluster_map_covered(const struct cluster_map *m);

#endif
