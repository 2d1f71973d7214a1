/* ids: random UUIDs and validation of client-supplied names. */
#include "ids.h"

#include <string.h>
#include <sys/random.h>
#include <uuid/uuid.h>

void ids_new_uuid(char out[IDS_UUID_LEN])
{
    uuid_t u;

    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

void ids_pool_init(struct ids_pool *p)
{
    p->used = sizeof(p->bytes); /* empty: filled by the first id */
}

void ids_pool_uuid(struct ids_pool *p, char out[IDS_UUID_LEN])
{
    unsigned char *u;

    if (p->used + 16 > sizeof(p->bytes)) {
        if (getrandom(p->bytes, sizeof(p->bytes), GRND_NONBLOCK) != (ssize_t)sizeof(p->bytes)) {
            ids_new_uuid(out);
            return;
        }
        p->used = 0;
    }
    u = p->bytes + p->used;
    p->used += 16;
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4: random */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant RFC 4122 */
    uuid_unparse_lower(u, out);
}

bool ids_is_valid(const char *s, size_t len, size_t max_len)
{
    size_t i;

    if (s == NULL || len == 0 || len > max_len)
        return false;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

size_t ids_split_weight(const char *s, size_t len, const char **weight_at, size_t *weight_len)
{
    size_t j = len;

    while (j > 0 && s[j - 1] >= '0' && s[j - 1] <= '9')
        j--;
    *weight_at = NULL;
    *weight_len = 0;
    if (j < len && j >= 2 && s[j - 1] == ':') { /* digits after a ':' that ends a name */
        *weight_at = s + j;
        *weight_len = len - j;
        return j - 1;
    }
    return len;
}
