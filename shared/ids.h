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

#endif
