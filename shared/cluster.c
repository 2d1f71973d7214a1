/* cluster: key slots, command routes, the slot map and redirections of
 * Redis Cluster. Pure functions over memory: no I/O, no logging. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "num.h"

uint16_t cluster_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    size_t i;
    int b;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int cluster_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len), *close;

    if (open != NULL) {
        size_t after = (size_t)(open - key) + 1;
        close = memchr(open + 1, '}', len - after);
        if (close != NULL && close > open + 1)
            return cluster_crc16(open + 1, (size_t)(close - open - 1)) & (CLUSTER_SLOTS - 1);
    }
    return cluster_crc16(key, len) & (CLUSTER_SLOTS - 1);
}

/* Commands stageq sends that take no key. Anything else routes by argv[1]. */
static const char *const cluster_keyless[] = {
    "PING",         "TIME",    "INFO",     "PUBLISH",   "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE",
    "PUNSUBSCRIBE", "SCRIPT",  "CLUSTER",  "WAIT",      "AUTH",      "SELECT",      "HELLO",
    "CLIENT",       "ROLE",    "READONLY", "READWRITE", "ASKING",    "COMMAND",     "CONFIG",
    "DBSIZE",       "ECHO",    "FLUSHALL", "FLUSHDB",   "MULTI",     "EXEC",        "DISCARD",
    "MEMORY",       "LATENCY", "SLOWLOG",  "QUIT",
};

static bool cluster_is_cmd(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

enum cluster_route cluster_command_route(int argc, const char *const *argv, const size_t *lens,
                                         int *key_index)
{
    size_t i;
    long long nkeys;

    *key_index = -1;
    if (argc < 1)
        return CLUSTER_ROUTE_ANY;
    for (i = 0; i < sizeof(cluster_keyless) / sizeof(cluster_keyless[0]); i++)
        if (cluster_is_cmd(argv[0], lens[0], cluster_keyless[i]))
            return CLUSTER_ROUTE_ANY;
    if (cluster_is_cmd(argv[0], lens[0], "EVAL") || cluster_is_cmd(argv[0], lens[0], "EVALSHA") ||
        cluster_is_cmd(argv[0], lens[0], "EVAL_RO") ||
        cluster_is_cmd(argv[0], lens[0], "EVALSHA_RO") ||
        cluster_is_cmd(argv[0], lens[0], "FCALL") || cluster_is_cmd(argv[0], lens[0], "FCALL_RO")) {
        if (argc < 3 || num_parse_ll(argv[2], 0, 1000000, &nkeys, NULL) < 0 || nkeys < 1 ||
            argc < 4)
            return CLUSTER_ROUTE_NONE;
        *key_index = 3;
        return CLUSTER_ROUTE_KEY;
    }
    if (argc < 2)
        return CLUSTER_ROUTE_NONE;
    *key_index = 1;
    return CLUSTER_ROUTE_KEY;
}

bool cluster_parse_redirect(const char *err, size_t len, struct cluster_redirect *out)
{
    char buf[CLUSTER_HOST_MAX_LEN + 64], *p, *colon, *end;
    long slot, port;
    size_t hl;

    memset(out, 0, sizeof(*out));
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, err, len);
    buf[len] = '\0';
    if (strncmp(buf, "MOVED ", 6) == 0) {
        p = buf + 6;
    } else if (strncmp(buf, "ASK ", 4) == 0) {
        out->is_ask = true;
        p = buf + 4;
    } else {
        return false;
    }
    if (*p < '0' || *p > '9') /* strtol would skip blanks and take a sign */
        return false;
    slot = strtol(p, &end, 10);
    if (end == p || *end != ' ' || slot < 0 || slot >= CLUSTER_SLOTS)
        return false;
    p = end + 1;
    colon = strrchr(p, ':');
    if (colon == NULL)
        return false;
    hl = (size_t)(colon - p);
    if (hl > CLUSTER_HOST_MAX_LEN || memchr(p, ' ', hl) != NULL)
        return false;
    if (colon[1] < '0' || colon[1] > '9')
        return false;
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return false;
    memcpy(out->host, p, hl);
    out->host[hl] = '\0';
    out->slot = (int)slot;
    out->port = (int)port;
    return true;
}

void cluster_map_clear(struct cluster_map *m)
{
    int s;

    m->nnodes = 0;
    for (s = 0; s < CLUSTER_SLOTS; s++)
        m->slot_node[s] = -1;
}

int cluster_map_find(const struct cluster_map *m, const char *host, int port)
{
    int i;

    for (i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return i;
    return -1;
}

static int cluster_map_add(struct cluster_map *m, const char *host, int port)
{
    int i = cluster_map_find(m, host, port);
    size_t hl = strlen(host);

    if (i >= 0)
        return i;
    if (m->nnodes >= CLUSTER_MAX_NODES || hl > CLUSTER_HOST_MAX_LEN)
        return -1;
    i = m->nnodes++;
    memcpy(m->nodes[i].host, host, hl + 1);
    m->nodes[i].port = port;
    m->nodes[i].nreplicas = 0;
    return i;
}

int cluster_map_set(struct cluster_map *m, int slot, const char *host, int port)
{
    int i;

    if (slot < 0 || slot >= CLUSTER_SLOTS)
        return -1;
    i = cluster_map_add(m, host, port);
    if (i >= 0)
        m->slot_node[slot] = (int16_t)i;
    return i;
}

int cluster_map_covered(const struct cluster_map *m)
{
    int s, n = 0;

    for (s = 0; s < CLUSTER_SLOTS; s++)
        n += m->slot_node[s] >= 0;
    return n;
}

/* An integer element of CLUSTER SLOTS within [lo, hi]. */
static bool cluster_int_in(const redisReply *e, long long lo, long long hi, long long *v)
{
    if (e->type != REDIS_REPLY_INTEGER || e->integer < lo || e->integer > hi)
        return false;
    *v = e->integer;
    return true;
}

int cluster_map_from_slots(struct cluster_map *m, const redisReply *r, const char *default_host,
                           struct sq_err *err)
{
    size_t i;

    cluster_map_clear(m);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        goto malformed;
    for (i = 0; i < r->elements; i++) {
        const redisReply *range = r->element[i], *master;
        long long lo, hi, port, s;
        const char *host;
        int n;

        /* [start, end, [host, port, id, ...], replicas...] */
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            !cluster_int_in(range->element[0], 0, CLUSTER_SLOTS - 1, &lo) ||
            !cluster_int_in(range->element[1], lo, CLUSTER_SLOTS - 1, &hi))
            goto malformed;
        master = range->element[2];
        if (master->type != REDIS_REPLY_ARRAY || master->elements < 2 ||
            master->element[0]->type != REDIS_REPLY_STRING ||
            !cluster_int_in(master->element[1], 1, 65535, &port))
            goto malformed;
        host = master->element[0]->str;
        if (host[0] == '\0' || strcmp(host, "?") == 0)
            host = default_host;
        n = cluster_map_add(m, host, (int)port);
        if (n < 0) {
            err_set(err, SQ_ERR_REDIS, "CLUSTER SLOTS names more than %d masters",
                    CLUSTER_MAX_NODES);
            cluster_map_clear(m);
            return -1;
        }
        m->nodes[n].nreplicas = (int)range->elements - 3;
        for (s = lo; s <= hi; s++)
            m->slot_node[s] = (int16_t)n;
    }
    return 0;
malformed:
    err_set(err, SQ_ERR_REDIS, "malformed CLUSTER SLOTS reply");
    cluster_map_clear(m);
    return -1;
}
