/* redis_url: parses STAGEQ_REDIS_URL. All connecting goes through rconn (sync)
 * and the API's rasync (async), both built on this one parsed form, so that
 * sentinel support can be added here later. */
#ifndef STAGEQ_REDIS_URL_H
#define STAGEQ_REDIS_URL_H

#include "err.h"

enum redis_url_kind { REDIS_URL_TCP, REDIS_URL_UNIX };

struct redis_url {
    enum redis_url_kind kind;
    char host[256];     /* TCP: host name or address, without brackets */
    int port;           /* TCP: 1..65535, default 6379 */
    char path[108];     /* UNIX: socket path */
    char user[128];     /* optional ACL user ("" = default user) */
    char password[256]; /* optional ("" = no AUTH) */
    int db;             /* 0..15 by default config; we accept 0..INT_MAX-ish (0..100000) */
};

/* Accepts redis://[[user]:password@]host[:port][/db] (IPv6 host in brackets)
 * and unix://path[?db=N] (path absolute: unix:///run/redis.sock). Percent
 * escapes in user and password are decoded. Returns 0, or -1 with err set. */
int redis_url_parse(const char *text, struct redis_url *out, struct sq_err *err);

/* Resolves a TCP url's host once, to a numeric address in addr[cap] (IPv4
 * preferred), for connectors that must not resolve on an event loop
 * (redisAsyncConnect resolves blocking). Returns 0, or -1 with err set. */
int redis_url_resolve(const struct redis_url *url, char *addr, unsigned long cap,
                      struct sq_err *err);

/* Writes a form of url that is safe to log (password hidden). */
void redis_url_describe(const struct redis_url *url, char *buf, unsigned long cap);

#endif
