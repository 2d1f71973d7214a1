/* cron: parsing 5-field cron expressions and finding their next tick.
 * Calendar arithmetic on local wall-clock times is done here (civil dates,
 * no libc); only the mapping of a wall time to instants asks the C library's
 * tz database (mktime/localtime_r under a TZ set for the call). Never logs,
 * never touches Redis. */
#include "cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define CRON_DST_WINDOW_S (3 * 3600) /* the largest clock change handled (cronie's 3 h) */

/* One field of an expression: its place, name and range; names (3 letters,
 * any case) stand for min, min+1, ... */
struct cron_field {
    const char *name;
    int min, max;
    const char *const *names;
};

static const char *const cron_month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                               "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const cron_day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct cron_field cron_fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, cron_month_names},
    {"day-of-week", 0, 7, cron_day_names}, /* 7 is Sunday too */
};

/* The @ shorthands and what they stand for. */
static const struct {
    const char *name, *expr;
} cron_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* ---- parsing ---- */

/* Reads a value of field f at *p: a number (at most 3 digits) or a name.
 * 0 with *v and *p advanced, or -1 with err set. */
static int cron_value(const char **p, int fi, int *v, struct sq_err *err)
{
    const struct cron_field *f = &cron_fields[fi];
    const char *s = *p;
    int n = 0, digits = 0;
    size_t i;

    if (f->names != NULL && isalpha((unsigned char)s[0])) {
        for (i = 0; f->names[i] != NULL; i++)
            if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
                *v = f->min + (int)i;
                *p = s + 3;
                return 0;
            }
        err_set(err, SQ_ERR_INVALID, "field %d (%s): '%.16s' is not a %s name", fi + 1, f->name, s,
                fi == 3 ? "month (JAN-DEC)" : "day (SUN-SAT)");
        return -1;
    }
    while (digits < 4 && isdigit((unsigned char)s[digits]))
        n = n * 10 + (s[digits++] - '0');
    if (digits == 0) {
        err_set(err, SQ_ERR_INVALID, "field %d (%s): '%.16s' is not a number", fi + 1, f->name, s);
        return -1;
    }
    if (digits > 3 || n < f->min || n > f->max) {
        err_set(err, SQ_ERR_INVALID, "field %d (%s): %.*s is out of range %d-%d", fi + 1, f->name,
                digits, s, f->min, f->max);
        return -1;
    }
    *v = n;
    *p = s + digits;
    return 0;
}

/* Parses one item of a list ("*", "N", "N-M", each with an optional "/S")
 * from item[0..len) into the bit set *bits. */
static int cron_item(const char *item, size_t len, int fi, uint64_t *bits, struct sq_err *err)
{
    const struct cron_field *f = &cron_fields[fi];
    char buf[32];
    const char *p = buf;
    int lo, hi, step = 1, v;

    if (len == 0 || len >= sizeof(buf)) {
        err_set(err, SQ_ERR_INVALID, "field %d (%s): %s", fi + 1, f->name,
                len == 0 ? "an empty list item" : "a list item longer than 31 characters");
        return -1;
    }
    memcpy(buf, item, len);
    buf[len] = '\0';
    if (*p == '*') {
        lo = f->min;
        hi = fi == 4 ? 6 : f->max;
        p++;
    } else {
        if (cron_value(&p, fi, &lo, err) < 0)
            return -1;
        hi = lo;
        if (*p == '-') {
            p++;
            if (cron_value(&p, fi, &hi, err) < 0)
                return -1;
            if (hi < lo) {
                err_set(err, SQ_ERR_INVALID, "field %d (%s): the range %s is reversed", fi + 1,
                        f->name, buf);
                return -1;
            }
        } else if (*p == '/') {
            hi = f->max; /* N/S: from N to the end, Vixie's way (7/S: Sunday) */
        }
    }
    if (*p == '/') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            err_set(err, SQ_ERR_INVALID, "field %d (%s): the step in '%s' is not a number", fi + 1,
                    f->name, buf);
            return -1;
        }
        step = 0;
        while (isdigit((unsigned char)*p) && step <= f->max)
            step = step * 10 + (*p++ - '0');
        if (step < 1 || step > f->max) {
            err_set(err, SQ_ERR_INVALID, "field %d (%s): the step in '%s' must be 1-%d", fi + 1,
                    f->name, buf, f->max);
            return -1;
        }
    }
    if (*p != '\0') {
        err_set(err, SQ_ERR_INVALID, "field %d (%s): unexpected '%.8s' in '%s'", fi + 1, f->name, p,
                buf);
        return -1;
    }
    for (v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << (fi == 4 ? v % 7 : v);
    return 0;
}

/* Parses field fi, text[0..len), into *bits. */
static int cron_field_parse(const char *text, size_t len, int fi, uint64_t *bits,
                            struct sq_err *err)
{
    size_t i = 0, j;

    *bits = 0;
    for (;;) {
        for (j = i; j < len && text[j] != ','; j++)
            ;
        if (cron_item(text + i, j - i, fi, bits, err) < 0)
            return -1;
        if (j == len)
            return 0;
        i = j + 1;
    }
}

int cron_parse(const char *text, struct cron_expr *out, struct sq_err *err)
{
    const char *p = text, *start[5];
    size_t len[5], i, nf = 0;
    uint64_t bits[5];

    memset(out, 0, sizeof(*out));
    if (text == NULL || strlen(text) > CRON_EXPR_MAX_LEN) {
        err_set(err, SQ_ERR_INVALID, "a cron expression is at most %d characters",
                CRON_EXPR_MAX_LEN);
        return -1;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '@') {
        for (i = 0; i < sizeof(cron_macros) / sizeof(cron_macros[0]); i++)
            if (strcasecmp(p, cron_macros[i].name) == 0)
                return cron_parse(cron_macros[i].expr, out, err);
        err_set(err, SQ_ERR_INVALID,
                "'%.32s' is not one of @yearly @annually @monthly @weekly @daily @midnight @hourly",
                p);
        return -1;
    }
    while (*p != '\0') {
        const char *s = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (nf < 5) {
            start[nf] = s;
            len[nf] = (size_t)(p - s);
        }
        nf++;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    if (nf != 5) {
        err_set(err, SQ_ERR_INVALID,
                "expected 5 fields (minute hour day-of-month month day-of-week), got %zu", nf);
        return -1;
    }
    for (i = 0; i < 5; i++)
        if (cron_field_parse(start[i], len[i], (int)i, &bits[i], err) < 0)
            return -1;
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->mdays = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->wdays = (uint8_t)bits[4];
    out->is_mday_star = start[2][0] == '*';
    out->is_wday_star = start[4][0] == '*';
    out->is_fixed = start[0][0] != '*' && start[1][0] != '*';
    return 0;
}

bool cron_tz_is_valid(const char *tz, const char *zoneinfo_dir)
{
    char path[512];
    struct stat st;
    size_t i, n = tz != NULL ? strlen(tz) : 0;

    if (n == 0 || n > CRON_TZ_MAX_LEN || tz[0] == '/')
        return false;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tz[i];
        if (!isalnum(c) && c != '_' && c != '+' && c != '-' && c != '/')
            return false;
    }
    if (strstr(tz, "//") != NULL)
        return false;
    snprintf(path, sizeof(path), "%s/%s", zoneinfo_dir ? zoneinfo_dir : CRON_ZONEINFO_DIR, tz);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- civil calendar (H. Hinnant's algorithms): wall times as "naive"
 * seconds, as if the zone were UTC ---- */

static long long cron_days_from_civil(long long y, int m, int d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void cron_civil_from_days(long long z, long long *y, int *m, int *d)
{
    long long era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static long long cron_floor_div(long long a, long long b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static bool cron_day_matches(const struct cron_expr *e, long long days, int mday)
{
    int wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    bool is_mday = (e->mdays >> mday) & 1, is_wday = (e->wdays >> wday) & 1;

    if (e->is_mday_star || e->is_wday_star)
        return is_mday && is_wday;
    return is_mday || is_wday; /* both restricted: either (Vixie) */
}

/* The first wall time (naive seconds, a whole minute) >= w matching e, or
 * false when there is none up to limit. */
static bool cron_next_wall(const struct cron_expr *e, long long w, long long limit, long long *out)
{
    w = cron_floor_div(w + 59, 60) * 60;
    while (w <= limit) {
        long long days = cron_floor_div(w, 86400), y;
        long long sod = w - days * 86400;
        int m, d, h = (int)(sod / 3600), mi = (int)(sod % 3600 / 60);

        cron_civil_from_days(days, &y, &m, &d);
        if (!((e->months >> m) & 1)) {
            w = cron_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
        } else if (!cron_day_matches(e, days, d)) {
            w = (days + 1) * 86400;
        } else if (!((e->hours >> h) & 1)) {
            w = days * 86400 + (long long)(h + 1) * 3600;
        } else if (!((e->minutes >> mi) & 1)) {
            w += 60;
        } else {
            *out = w;
            return true;
        }
    }
    return false;
}

/* The local wall time of instant t, as naive seconds. */
static bool cron_wall_of(time_t t, long long *out)
{
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL)
        return false;
    *out = cron_days_from_civil((long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
           tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return true;
}

/* The instants whose local wall time is w (naive seconds): 0 (a gap: *jump
 * is then the instant the clock jumped over w), 1, or 2 (an overlap:
 * earlier first). */
static int cron_instants(long long w, long long out[2], long long *jump)
{
    static const int shifts[] = {-3600, 3600, -1800, 1800};
    long long days = cron_floor_div(w, 86400), y, check, lo, hi;
    long long sod = w - days * 86400;
    struct tm tm = {0};
    time_t t;
    size_t i;
    int m, d, n = 0;

    cron_civil_from_days(days, &y, &m, &d);
    tm.tm_year = (int)(y - 1900);
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = (int)(sod / 3600);
    tm.tm_min = (int)(sod % 3600 / 60);
    tm.tm_isdst = -1;
    t = mktime(&tm);
    if (!cron_wall_of(t, &check))
        return 0;
    if (check != w) {
        /* a gap: the first instant whose wall time is past w */
        lo = (long long)t - CRON_DST_WINDOW_S;
        hi = (long long)t + CRON_DST_WINDOW_S;
        while (hi - lo > 1) {
            long long mid = lo + (hi - lo) / 2, wm;
            if (cron_wall_of((time_t)mid, &wm) && wm > w)
                hi = mid;
            else
                lo = mid;
        }
        *jump = hi;
        return 0;
    }
    out[n++] = (long long)t;
    for (i = 0; i < sizeof(shifts) / sizeof(shifts[0]) && n < 2; i++)
        if (cron_wall_of(t + shifts[i], &check) && check == w)
            out[n++] = (long long)t + shifts[i];
    if (n == 2 && out[1] < out[0]) {
        long long tmp = out[0];
        out[0] = out[1];
        out[1] = tmp;
    }
    return n;
}

/* Sets TZ to tz (NULL: UTC) for a computation; *saved receives the old
 * value (NULL: unset), which cron_tz_restore puts back. */
static int cron_tz_enter(const char *tz, char **saved, bool *had)
{
    const char *old = getenv("TZ");

    *had = old != NULL;
    *saved = old != NULL ? strdup(old) : NULL;
    if (old != NULL && *saved == NULL)
        return -1;
    if (setenv("TZ", tz != NULL && tz[0] != '\0' ? tz : "UTC", 1) < 0) {
        free(*saved);
        return -1;
    }
    tzset();
    return 0;
}

static void cron_tz_restore(char *saved, bool had)
{
    if (had)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    free(saved);
    tzset();
}

long long cron_next(const struct cron_expr *e, long long after_s, const char *tz)
{
    long long w_after, w, limit, best = -1, best_wall = 0, ins[2], jump = -1;
    char *saved;
    bool had;
    int n, i;

    if (after_s < 0 || after_s > 253402300799LL - (long long)CRON_SEARCH_YEARS * 366 * 86400)
        return -1; /* before 1970 or after 9999 */
    if (cron_tz_enter(tz, &saved, &had) < 0)
        return -1;
    if (!cron_wall_of((time_t)after_s, &w_after))
        goto done;
    /* a wall time up to one clock change before after_s may still be later */
    w = w_after - CRON_DST_WINDOW_S;
    limit = w_after + (long long)CRON_SEARCH_YEARS * 366 * 86400;
    while (cron_next_wall(e, w, limit, &w)) {
        if (best >= 0 && w > best_wall + CRON_DST_WINDOW_S)
            break; /* nothing later on the wall can be earlier in time */
        n = cron_instants(w, ins, &jump);
        if (n == 0 && e->is_fixed) { /* a gap: a fixed-time job runs at the jump */
            ins[0] = jump;
            n = 1;
        }
        if (n == 2 && e->is_fixed)
            n = 1; /* an overlap: a fixed-time job runs on the first pass only */
        for (i = 0; i < n; i++)
            if (ins[i] > after_s && (best < 0 || ins[i] < best)) {
                best = ins[i];
                best_wall = w;
            }
        w += 60;
    }
done:
    cron_tz_restore(saved, had);
    return best;
}

long long cron_every_next(long long after_s, int every_s)
{
    if (every_s < 1)
        every_s = 1;
    return (cron_floor_div(after_s, every_s) + 1) * every_s;
}
