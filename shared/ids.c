/* ids: random UUIDs and validation of client-supplied names. */
#include "ids.h"

#include <string.h>
#include <uuid/uuid.h>

void ids_new_uuid(char out[IDS_UUID_LEN])
{
    uuid_t u;

    uuid_generate_random(u);
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
