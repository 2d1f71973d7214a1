/* ids: job ids (UUID v4 or client-supplied) and the names used in keys. */
#ifndef STAGEQ_IDS_H
#define STAGEQ_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_UUID_LEN     37  /* 36 chars + NUL */
#define IDS_MAX_LEN      128 /* longest job id */
#define IDS_NAME_MAX_LEN 64  /* longest queue or pipeline name */

/* Writes a new random (v4) UUID in lower case into out. */
void ids_new_uuid(char out[IDS_UUID_LEN]);

/* A source of many v4 UUIDs (a bulk submit's): the random bytes of
 * IDS_POOL_UUIDS ids are read from the kernel at once (one getrandom(2)),
 * where libuuid's uuid_generate_random makes five system calls per id.
 * Initialize with ids_pool_init; it lives on the caller's stack. */
#define IDS_POOL_UUIDS 64
struct ids_pool {
    unsigned char bytes[IDS_POOL_UUIDS * 16];
    size_t used; /* bytes handed out */
};
void ids_pool_init(struct ids_pool *p);
/* Writes the pool's next UUID into out, as ids_new_uuid does (libuuid's
 * uuid_generate_random when the kernel gives no random bytes). */
void ids_pool_uuid(struct ids_pool *p, char out[IDS_UUID_LEN]);

/* True when s[0..len) is 1..max_len characters of [A-Za-z0-9._:-] and is not
 * "." or "..". Safe on any bytes, including NUL. */
bool ids_is_valid(const char *s, size_t len, size_t max_len);

/* An entry of a --queues list, s[0..len): "name" or "name:weight", the
 * weight being the digits after the last ':' (a name may hold ':' too).
 * Returns the name's length; *weight_at is the weight's text (NULL when
 * there is none) and *weight_len its length. Checks neither part. */
size_t ids_split_weight(const char *s, size_t len, const char **weight_at, size_t *weight_len);

#endif
