/* cron: 5-field cron expressions (minute hour day-of-month month
 * day-of-week) and their next tick in an IANA timezone, for the pipelines
 * file's "schedules". Pure apart from the timezone switch cron_next makes
 * (TZ is set, used and restored inside the call: not thread-safe, like
 * localtime itself); never touches Redis, never logs. Safe on any bytes
 * (it is fuzzed).
 *
 * The syntax is Vixie cron's (cronie's): each field a comma-separated list of
 * `*`, N, N-M, each optionally followed by /STEP; month names JAN-DEC and day
 * names SUN-SAT (any case); day-of-week 7 is Sunday; @hourly, @daily
 * (@midnight), @weekly, @monthly, @yearly (@annually). When both day-of-month
 * and day-of-week are restricted (neither starts with `*`), a day matches
 * when EITHER does (the Vixie rule).
 *
 * Daylight saving time, the way cronie handles it (its man page, "special
 * considerations"): a job at a fixed time (neither its minute nor its hour
 * field starts with `*`) whose local time falls in a gap (the clock jumps
 * forward) fires once at the instant of the jump; in an overlap (the clock
 * goes back) it fires only on the first pass. A job with `*` in its minute or
 * hour field follows the clock as it is: minutes that do not exist never
 * fire, minutes that happen twice fire twice (two distinct instants). */
#ifndef STAGEQ_CRON_H
#define STAGEQ_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define CRON_EXPR_MAX_LEN 256      /* bytes of an expression */
#define CRON_TZ_MAX_LEN   64       /* bytes of a timezone name */
#define CRON_SEARCH_YEARS 8        /* cron_next looks this far ahead (Feb 29 on a Monday: 28) */
#define CRON_EVERY_MAX_S  31622400 /* every_s: at most a leap year */
#define CRON_ZONEINFO_DIR "/usr/share/zoneinfo"

struct cron_expr {
    uint64_t minutes;  /* bit m: minute m (0..59) */
    uint32_t hours;    /* bit h: hour h (0..23) */
    uint32_t mdays;    /* bit d: day of month d (1..31) */
    uint16_t months;   /* bit m: month m (1..12) */
    uint8_t wdays;     /* bit d: day of week d (0..6, 0 = Sunday) */
    bool is_mday_star; /* the day-of-month field starts with '*' */
    bool is_wday_star; /* the day-of-week field starts with '*' */
    bool is_fixed;     /* neither minute nor hour starts with '*' (DST rule above) */
};

/* Parses text (NUL-terminated) into *out. 0, or -1 with err naming the field:
 * "field 2 (hour): 24 is out of range 0-23". Safe on any bytes. */
int cron_parse(const char *text, struct cron_expr *out, struct sq_err *err);

/* True when tz (borrowed) is a usable IANA name: 1..CRON_TZ_MAX_LEN bytes of
 * [A-Za-z0-9_+-/], no "." path part, no leading '/', naming a regular file
 * under zoneinfo_dir (NULL: CRON_ZONEINFO_DIR). */
bool cron_tz_is_valid(const char *tz, const char *zoneinfo_dir);

/* The first tick of e strictly after after_s (Unix seconds), in timezone tz
 * (an IANA name; NULL or "" is UTC), with the DST rules above. -1 when e has
 * no tick in the next CRON_SEARCH_YEARS years (Feb 30) or the time is out of
 * range. Sets TZ for the call and restores the previous value. */
long long cron_next(const struct cron_expr *e, long long after_s, const char *tz);

/* The first multiple of every_s (>= 1) strictly after after_s: every_s
 * ticks are aligned on the Unix epoch, the same on every machine. */
long long cron_every_next(long long after_s, int every_s);

#endif
