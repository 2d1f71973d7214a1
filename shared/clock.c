/* clock: wall-clock and monotonic time in milliseconds (and monotonic microseconds). */
#include "clock.h"

#include <stdbool.h>
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

int64_t clock_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The civil date of day z after 1970-01-01 (z >= 0; H. Hinnant's
 * civil_from_days, the inverse of clock_days_from_civil below). */
static void clock_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Writes v's n low decimal digits at out (zero-padded). */
static void clock_put_digits(char *out, unsigned v, int n)
{
    for (; n > 0; n--, v /= 10)
        out[n - 1] = (char)('0' + v % 10);
}

/* Without gmtime_r and snprintf: a status GET formats a time per stage, and
 * snprintf was a fifth of its instructions. The year is written modulo
 * 10,000, as the "%04u" of it was. */
void clock_format_rfc3339(int64_t ms, char out[CLOCK_RFC3339_LEN])
{
    int64_t secs, day_s, y;
    unsigned m, d;

    if (ms < 0)
        ms = 0;
    secs = ms / 1000;
    day_s = secs % 86400;
    clock_civil_from_days(secs / 86400, &y, &m, &d);
    clock_put_digits(out, (unsigned)(y % 10000), 4);
    out[4] = '-';
    clock_put_digits(out + 5, m, 2);
    out[7] = '-';
    clock_put_digits(out + 8, d, 2);
    out[10] = 'T';
    clock_put_digits(out + 11, (unsigned)(day_s / 3600), 2);
    out[13] = ':';
    clock_put_digits(out + 14, (unsigned)(day_s / 60 % 60), 2);
    out[16] = ':';
    clock_put_digits(out + 17, (unsigned)(day_s % 60), 2);
    out[19] = '.';
    clock_put_digits(out + 20, (unsigned)(ms % 1000), 3);
    out[23] = 'Z';
    out[24] = '\0';
}

/* The value of n decimal digits at s, or -1 when one is not a digit (a NUL
 * stops it: nothing past the end is read). */
static int clock_digits(const char *s, int n)
{
    int v = 0;

    for (; n > 0; n--, s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* Days from 1970-01-01 to the civil date y-m-d of the proleptic Gregorian
 * calendar (H. Hinnant's days_from_civil; y >= 1 here, so no negative
 * eras). A day past the month's end runs into the next month, as timegm does. */
static int64_t clock_days_from_civil(int y, int m, int d)
{
    int era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

int clock_parse_rfc3339(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, frac = 0;

    if (s == NULL || strnlen(s, 20) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':')
        return -1;
    y = clock_digits(s, 4), mo = clock_digits(s + 5, 2), d = clock_digits(s + 8, 2);
    h = clock_digits(s + 11, 2), mi = clock_digits(s + 14, 2), sec = clock_digits(s + 17, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        sec < 0 || sec > 60)
        return -1;
    s += 19;
    if (*s == '.') {
        if ((frac = clock_digits(s + 1, 3)) < 0)
            return -1;
        s += 4;
    }
    if (s[0] != 'Z' || s[1] != '\0')
        return -1;
    *ms =
        ((clock_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac;
    return 0;
}

/* Days of month m (1-12) of year y. */
static int clock_month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && is_leap ? 29 : days[m - 1];
}

int clock_parse_rfc3339_any(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, frac = 0, scale = 100, oh, om, sign;
    int64_t v;

    if (s == NULL || strnlen(s, 20) < 20 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return -1;
    y = clock_digits(s, 4), mo = clock_digits(s + 5, 2), d = clock_digits(s + 8, 2);
    h = clock_digits(s + 11, 2), mi = clock_digits(s + 14, 2), sec = clock_digits(s + 17, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > clock_month_days(y, mo) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return -1;
    s += 19;
    if (*s == '.') {
        if (s[1] < '0' || s[1] > '9')
            return -1;
        for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
            frac += (*s - '0') * scale; /* scale reaches 0 after the third digit */
    }
    if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
        oh = om = 0, sign = 1;
    } else if ((s[0] == '+' || s[0] == '-') && strnlen(s, 7) == 6 && s[3] == ':') {
        sign = s[0] == '-' ? -1 : 1;
        oh = clock_digits(s + 1, 2), om = clock_digits(s + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
    } else {
        return -1;
    }
    v = ((clock_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac;
    v -= sign * ((int64_t)oh * 60 + om) * 60000; /* local time minus its offset = UTC */
    if (v < 0)
        return -1;
    *ms = v;
    return 0;
}
