/* clock: wall-clock and monotonic time in milliseconds. */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t clock_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_format_rfc3339(int64_t ms, char out[CLOCK_RFC3339_LEN])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (ms < 0)
        secs = 0, ms = 0;
    gmtime_r(&secs, &tm);
    snprintf(out, CLOCK_RFC3339_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)(ms % 1000) % 1000u);
}

int clock_parse_rfc3339(const char *s, int64_t *ms)
{
    unsigned y, mo, d, h, mi, sec, frac = 0;
    int n = 0, nf = 0;
    struct tm tm;
    time_t t;

    if (s == NULL || sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2u%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return -1;
    s += n;
    if (*s == '.') {
        if (sscanf(s + 1, "%3u%n", &frac, &nf) != 1 || nf != 3)
            return -1;
        s += 1 + nf;
    }
    if (strcmp(s, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (int)y - 1900;
    tm.tm_mon = (int)mo - 1;
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)h;
    tm.tm_min = (int)mi;
    tm.tm_sec = (int)sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = (int64_t)t * 1000 + frac;
    return 0;
}
