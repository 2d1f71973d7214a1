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

/* True when s[0..len) is 1..max_len characters of [A-Za-z0-9._:-] and is not
 * "." or "..". Safe on any bytes, including NUL. */
bool ids_is_valid(const char *s, size_t len, size_t max_len);

/* An entry of a --queues list, s[0..len): "name" or "name:weight", the
 * weight being the digits after the last ':' (a name may hold ':' too).
 * Returns the name's length; *weight_at is the weight's text (NULL when
 * there is none) and *weight_len its length. Checks neither part. */
size_t ids_split_weight(const char *s, size_t len, const char **weight_at, size_t *weight_len);

#endif
