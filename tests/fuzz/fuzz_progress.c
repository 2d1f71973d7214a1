/* fuzz_progress: stage_exec_parse_progress (one line a stage wrote on fd 3) on
 * any bytes, with a roomy and a tiny message buffer. An accepted line must
 * give a fraction in [0, 1] and a NUL-terminated message, cut only at a UTF-8
 * character boundary. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when s is whole UTF-8 characters (the last one not cut). */
static int is_whole_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n, k;

    while (p[i] != '\0') {
        if (p[i] < 0x80)
            n = 1;
        else if ((p[i] & 0xE0) == 0xC0)
            n = 2;
        else if ((p[i] & 0xF0) == 0xE0)
            n = 3;
        else if ((p[i] & 0xF8) == 0xF0)
            n = 4;
        else
            return 0;
        for (k = 1; k < n; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
        i += n;
    }
    return 1;
}

static void check(const uint8_t *data, size_t size, size_t cap)
{
    char msg[256];
    double f = -1.0;

    memset(msg, 'x', sizeof(msg));
    if (stage_exec_parse_progress((const char *)data, size, &f, msg, cap) < 0)
        return;
    if (!(f >= 0.0 && f <= 1.0) || memchr(msg, '\0', cap) == NULL || !is_whole_utf8(msg)) {
        fprintf(stderr, "accepted with fraction %g, msgcap %zu, message '%.*s'\n", f, cap, (int)cap,
                msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, 256);
    check(data, size, 5);
    return 0;
}
