/* keys: Redis key and hash-field names. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

static int keys_fmt_result(int n, size_t cap)
{
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int keys_job(char *buf, size_t cap, const char *prefix, const char *id)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:job:%s", prefix, id), cap);
}

int keys_queue(char *buf, size_t cap, const char *prefix, const char *queue)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:queue:%s", prefix, queue), cap);
}

int keys_processing(char *buf, size_t cap, const char *prefix, const char *wid)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:processing:%s", prefix, wid), cap);
}

int keys_delayed(char *buf, size_t cap, const char *prefix, const char *queue)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:delayed:%s", prefix, queue), cap);
}

int keys_worker(char *buf, size_t cap, const char *prefix, const char *wid)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:worker:%s", prefix, wid), cap);
}

int keys_workers(char *buf, size_t cap, const char *prefix)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:workers", prefix), cap);
}

int keys_alive(char *buf, size_t cap, const char *prefix)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:alive", prefix), cap);
}

int keys_events(char *buf, size_t cap, const char *prefix)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:events", prefix), cap);
}

int keys_recent(char *buf, size_t cap, const char *prefix)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:recent", prefix), cap);
}

int keys_counters(char *buf, size_t cap, const char *prefix)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:counters", prefix), cap);
}

int keys_stagehist(char *buf, size_t cap, const char *prefix, const char *pipeline)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:stagehist:%s", prefix, pipeline), cap);
}

int keys_eta(char *buf, size_t cap, const char *prefix, const char *pipeline)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:eta:%s", prefix, pipeline), cap);
}

int keys_stage_field(char *buf, size_t cap, int k, const char *what)
{
    char digits[16];
    size_t nd = 0, nw = strlen(what), i;
    unsigned u = (unsigned)k;

    /* by hand when it fits: every status read names ~7 fields per stage, and
     * snprintf was a tenth of building the status */
    if (k < 0 || sizeof("stage.") + sizeof(digits) + nw + 1 > cap)
        return keys_fmt_result(snprintf(buf, cap, "stage.%d.%s", k, what), cap);
    do
        digits[nd++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    memcpy(buf, "stage.", 6);
    for (i = 0; i < nd; i++)
        buf[6 + i] = digits[nd - 1 - i];
    buf[6 + nd] = '.';
    memcpy(buf + 7 + nd, what, nw + 1);
    return 0;
}
