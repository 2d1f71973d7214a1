/* fuzz_redis_url: redis_url_parse on any text (a NUL-terminated copy of the
 * bytes, as from the environment), then redis_url_describe into a roomy and a
 * tiny buffer. An accepted URL must be in range and describe to a
 * NUL-terminated string. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    if ((url.kind != REDIS_URL_TCP && url.kind != REDIS_URL_UNIX) ||
        (url.kind == REDIS_URL_TCP && (url.port < 1 || url.port > 65535 || url.host[0] == '\0')) ||
        (url.kind == REDIS_URL_UNIX && url.path[0] == '\0') || url.db < 0 ||
        memchr(url.host, '\0', sizeof(url.host)) == NULL ||
        memchr(url.path, '\0', sizeof(url.path)) == NULL ||
        memchr(url.user, '\0', sizeof(url.user)) == NULL ||
        memchr(url.password, '\0', sizeof(url.password)) == NULL) {
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
