/* fuzz_cron: cron_parse on any text (a NUL-terminated copy of the bytes, as
 * from the pipelines file), then, when accepted, cron_next from a fixed time
 * in UTC and in a timezone with daylight saving time. An accepted expression
 * has every field non-empty and in range; a next tick is later than the time
 * given, on a whole minute in UTC, or -1. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AFTER_S 1774699200LL /* 2026-03-28T12:00:00Z, the day before Europe's spring jump */

static bool expr_consistent(const struct cron_expr *e)
{
    return e->minutes != 0 && (e->minutes >> 60) == 0 && e->hours != 0 && (e->hours >> 24) == 0 &&
           (e->mdays & 1) == 0 && e->mdays != 0 && (e->months & 1) == 0 && e->months != 0 &&
           (e->months >> 13) == 0 && e->wdays != 0 && (e->wdays >> 7) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct cron_expr e;
    struct sq_err err;
    long long t;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (cron_parse(text, &e, &err) == 0) {
        if (!expr_consistent(&e))
            abort();
        t = cron_next(&e, AFTER_S, NULL);
        if (t != -1 && (t <= AFTER_S || t % 60 != 0))
            abort();
        t = cron_next(&e, AFTER_S, "Europe/Berlin");
        if (t != -1 && t <= AFTER_S)
            abort();
    } else if (err.msg[0] == '\0' || memchr(err.msg, '\0', sizeof(err.msg)) == NULL) {
        abort();
    }
    free(text);
    return 0;
}
