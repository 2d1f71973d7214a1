/* redis_url: parses STAGEQ_REDIS_URL. All connecting goes through rconn (sync)
 * and the API's async connection module, both built on this one parsed form:
 * a plain address (redis://, unix://), a Sentinel group (redis-sentinel://)
 * whose master shared/sentinel.h discovers, or a Redis Cluster's seed nodes
 * (redis-cluster://) from which the connection reads the slot map. */
#ifndef STAGEQ_REDIS_URL_H
#define STAGEQ_REDIS_URL_H

#include "err.h"

enum redis_url_kind { REDIS_URL_TCP, REDIS_URL_UNIX, REDIS_URL_SENTINEL, REDIS_URL_CLUSTER };

#define REDIS_URL_SENTINELS_MAX 16
#define REDIS_URL_SEEDS_MAX     16

/* One sentinel of a redis-sentinel:// URL. */
struct redis_url_node {
    char host[256]; /* name or address, without brackets */
    int port;       /* default 26379 */
};

struct redis_url {
    enum redis_url_kind kind;
    char host[256];     /* TCP: host name or address, without brackets */
    int port;           /* TCP: 1..65535, default 6379 */
    char path[108];     /* UNIX: socket path */
    char user[128];     /* optional ACL user ("" = default user) */
    char password[256]; /* optional ("" = no AUTH) */
    int db;             /* 0..15 by default config; we accept 0..INT_MAX-ish (0..100000) */
    /* REDIS_URL_SENTINEL only. user/password/db above are those of the data
     * nodes (the master); the sentinels' own credentials are separate. The
     * order of sentinels[] is the order they are asked in: a connector may
     * move the one that answered to the front (Sentinel client guidelines). */
    int nsentinels;
    struct redis_url_node sentinels[REDIS_URL_SENTINELS_MAX];
    char master_name[128];       /* the fragment: #mymaster */
    char sentinel_user[128];     /* optional ACL user for the sentinels */
    char sentinel_password[256]; /* optional ("" = no AUTH to sentinels) */
    /* REDIS_URL_CLUSTER only: the seed nodes (any nodes of the cluster; the
     * slot map is read from the first that answers). user/password above go
     * to every node; db is 0. */
    int nseeds;
    struct redis_url_node seeds[REDIS_URL_SEEDS_MAX];
};

/* Accepts redis://[[user]:password@]host[:port][/db] (IPv6 host in brackets),
 * unix://path[?db=N] (path absolute: unix:///run/redis.sock) and
 * redis-sentinel://[[user]:password@]h1[:port][,h2[:port]...][/db]#master
 * (the form Lettuce uses; up to REDIS_URL_SENTINELS_MAX sentinels, port
 * default 26379; the user and password are the data nodes';
 * ?sentinel_password=P and ?sentinel_user=U set the sentinels' own; the
 * #master fragment is required). Percent escapes in users, passwords and the
 * master name are decoded; in a redis-sentinel URL a password must escape
 * '/', '?' and '#'.
 * redis-cluster://[[user]:password@]h1[:port][,h2[:port]...][/0] names up to
 * REDIS_URL_SEEDS_MAX seed nodes of a Redis Cluster (port default 6379; the
 * user and password go to every node; the database can only be 0; no query
 * parameter and no fragment; a password must escape '/', '?' and '#').
 * Returns 0, or -1 with err naming what is wrong. */
int redis_url_parse(const char *text, struct redis_url *out, struct sq_err *err);

/* Resolves a TCP url's host once, to a numeric address in addr[cap] (IPv4
 * preferred), for connectors that must not resolve on an event loop
 * (redisAsyncConnect resolves blocking). Returns 0, or -1 with err set. */
int redis_url_resolve(const struct redis_url *url, char *addr, unsigned long cap,
                      struct sq_err *err);

/* Writes a form of url that is safe to log (every password hidden), cut to
 * cap bytes (NUL included). */
void redis_url_describe(const struct redis_url *url, char *buf, unsigned long cap);

#endif
