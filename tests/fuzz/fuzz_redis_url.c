/* fuzz_redis_url: redis_url_parse on any text (a NUL-terminated copy of the
 * bytes, as from the environment), then redis_url_describe into a roomy and a
 * tiny buffer. An accepted URL (plain, unix, redis-sentinel or redis-cluster)
 * must be in range and describe to a NUL-terminated string. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static bool port_ok(int port)
{
    return port >= 1 && port <= 65535;
}

/* A node list of 1..max nodes, each with a host and a port. */
static bool nodes_ok(const struct redis_url_node *list, int n, int max)
{
    int i;

    if (n < 1 || n > max)
        return false;
    for (i = 0; i < n; i++)
        if (!TERMINATED(list[i].host) || list[i].host[0] == '\0' || !port_ok(list[i].port))
            return false;
    return true;
}

/* What every accepted URL must satisfy, whatever its kind. */
static bool url_consistent(const struct redis_url *u)
{
    if (u->db < 0 || !TERMINATED(u->host) || !TERMINATED(u->path) || !TERMINATED(u->user) ||
        !TERMINATED(u->password) || !TERMINATED(u->master_name) || !TERMINATED(u->sentinel_user) ||
        !TERMINATED(u->sentinel_password))
        return false;
    switch (u->kind) {
    case REDIS_URL_TCP:
        return port_ok(u->port) && u->host[0] != '\0' && u->nsentinels == 0 && u->nseeds == 0;
    case REDIS_URL_UNIX:
        return u->path[0] != '\0' && u->nsentinels == 0 && u->nseeds == 0;
    case REDIS_URL_CLUSTER:
        return u->db == 0 && u->nsentinels == 0 && u->host[0] == '\0' &&
               u->master_name[0] == '\0' && nodes_ok(u->seeds, u->nseeds, REDIS_URL_SEEDS_MAX);
    case REDIS_URL_SENTINEL:
        return u->master_name[0] != '\0' && u->host[0] == '\0' && u->nseeds == 0 &&
               nodes_ok(u->sentinels, u->nsentinels, REDIS_URL_SENTINELS_MAX);
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct redis_url url;
    struct sq_err err;
    char desc[1024], tiny[8];
    char *text = malloc(size + 1);

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    err.msg[0] = '\0';
    if (redis_url_parse(text, &url, &err) < 0) {
        if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL || err.msg[0] == '\0')
            abort();
        free(text);
        return 0;
    }
    if (!url_consistent(&url)) {
        fprintf(stderr, "accepted an inconsistent URL: %s\n", text);
        abort();
    }
    redis_url_describe(&url, desc, sizeof(desc));
    redis_url_describe(&url, tiny, sizeof(tiny));
    if (memchr(desc, '\0', sizeof(desc)) == NULL || memchr(tiny, '\0', sizeof(tiny)) == NULL)
        abort();
    free(text);
    return 0;
}
