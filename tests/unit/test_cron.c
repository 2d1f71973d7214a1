/* Unit tests for shared/cron: the 5-field parser (lists, ranges, steps,
 * names, @macros, errors naming the field), the next tick in UTC and in a
 * timezone with daylight saving time (cronie's gap and overlap rules), the
 * Vixie day-of-month/day-of-week rule, every_s ticks, and TZ restored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cron.h"

/* 2026-01-01T00:00:00Z, a Thursday */
#define JAN1 1767225600LL

static long long next_of(const char *text, long long after, const char *tz)
{
    struct cron_expr e;
    struct sq_err err = {0};

    if (cron_parse(text, &e, &err) < 0)
        fail_msg("%s: %s", text, err.msg);
    return cron_next(&e, after, tz);
}

static void expect_error(const char *text, const char *msg)
{
    struct cron_expr e;
    struct sq_err err = {0};

    assert_int_equal(cron_parse(text, &e, &err), -1);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("'%s': got '%s', want '%s'", text, err.msg, msg);
}

static void test_parse_fields(void **state)
{
    struct cron_expr e;
    struct sq_err err = {0};

    (void)state;
    assert_int_equal(cron_parse("*/15 9-17 1,15 JAN-mar mon-FRI", &e, &err), 0);
    assert_true(e.minutes == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)));
    assert_int_equal(e.hours, 0x3fe00); /* 9..17 */
    assert_int_equal(e.mdays, (1u << 1) | (1u << 15));
    assert_int_equal(e.months, 0xe); /* 1..3 */
    assert_int_equal(e.wdays, 0x3e); /* 1..5 */
    assert_false(e.is_mday_star);
    assert_false(e.is_wday_star);
    assert_false(e.is_fixed);
    assert_int_equal(cron_parse("0 0 * * 7", &e, &err), 0);
    assert_int_equal(e.wdays, 1); /* 7 is Sunday */
    assert_true(e.is_fixed);
    assert_int_equal(cron_parse("5/20 * * * 5-7", &e, &err), 0);
    assert_true(e.minutes == ((1ULL << 5) | (1ULL << 25) | (1ULL << 45)));
    assert_int_equal(e.wdays, 0x61);                          /* Fri, Sat, Sun */
    assert_int_equal(cron_parse("0 0 * * 7/7", &e, &err), 0); /* found by fuzz_cron: no day */
    assert_int_equal(e.wdays, 1);
    assert_int_equal(cron_parse("0 0 * * 5/1", &e, &err), 0);
    assert_int_equal(e.wdays, 0x61);
    assert_int_equal(cron_parse("  @Hourly", &e, &err), 0);
    assert_true(e.minutes == 1);
    assert_int_equal(e.hours, 0xffffff);
    assert_false(e.is_fixed);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("* 24 * * *", "field 2 (hour): 24 is out of range 0-23");
    expect_error("60 * * * *", "field 1 (minute): 60 is out of range 0-59");
    expect_error("* * 0 * *", "field 3 (day-of-month): 0 is out of range 1-31");
    expect_error("* * * 13 *", "field 4 (month): 13 is out of range 1-12");
    expect_error("* * * * 8", "field 5 (day-of-week): 8 is out of range 0-7");
    expect_error("* * * FOO *", "field 4 (month): 'FOO' is not a month");
    expect_error("* * * * MONDAY", "field 5 (day-of-week): 'MONDAY' is not a day");
    expect_error("*/0 * * * *", "field 1 (minute): the step in '*/0' must be 1-59");
    expect_error("* 5-1 * * *", "field 2 (hour): the range 5-1 is reversed");
    expect_error("1,,2 * * * *", "field 1 (minute): an empty list item");
    expect_error("x * * * *", "field 1 (minute): 'x' is not a number");
    expect_error("1x * * * *", "field 1 (minute): unexpected 'x'");
    expect_error("0001 * * * *", "field 1 (minute): 0001 is out of range");
    expect_error("* * * *", "expected 5 fields");
    expect_error("* * * * * *", "expected 5 fields");
    expect_error("", "expected 5 fields");
    expect_error("@every 5m", "is not one of @yearly");
}

static void test_next_utc(void **state)
{
    (void)state;
    assert_int_equal(next_of("*/5 * * * *", JAN1 + 120, NULL), JAN1 + 300);
    assert_int_equal(next_of("*/5 * * * *", JAN1 + 300, NULL), JAN1 + 600); /* strictly after */
    assert_int_equal(next_of("* * * * *", JAN1 + 59, "UTC"), JAN1 + 60);
    assert_int_equal(next_of("@daily", JAN1, NULL), JAN1 + 86400);
    assert_int_equal(next_of("@yearly", JAN1, NULL), 1798761600LL);    /* 2027-01-01 */
    assert_int_equal(next_of("0 0 29 2 *", JAN1, NULL), 1835395200LL); /* 2028-02-29 */
    assert_int_equal(next_of("0 0 30 2 *", JAN1, NULL), -1);           /* never */
    assert_int_equal(next_of("30 9 * * MON-FRI", JAN1 + 86400 + 9 * 3600 + 1800, NULL),
                     JAN1 + 4 * 86400 + 9 * 3600 + 1800); /* Fri 09:30 -> Mon 09:30 */
}

/* Both day fields restricted: either matches (a Friday, or the 13th; AND
 * would give Friday Feb 13). A field starting with '*' (even a step of 1): both
 * must match, which leaves the other field's days. */
static void test_vixie_day_rule(void **state)
{
    (void)state;
    assert_int_equal(next_of("0 0 13 * FRI", JAN1, NULL), JAN1 + 86400); /* Fri Jan 2 */
    assert_int_equal(next_of("0 0 13 * *", JAN1, NULL), JAN1 + 12 * 86400);
    assert_int_equal(next_of("0 0 * * FRI", JAN1, NULL), JAN1 + 86400);
    assert_int_equal(next_of("0 0 */1 * FRI", JAN1, NULL), JAN1 + 86400); /* '*' first: AND */
    assert_int_equal(next_of("0 0 13 1-12 5", JAN1 + 86400, NULL), JAN1 + 8 * 86400);
}

/* Europe/Berlin, 2026: the clock jumps 02:00 CET -> 03:00 CEST on Mar 29
 * (01:00Z) and falls 03:00 CEST -> 02:00 CET on Oct 25 (01:00Z). */
static void test_next_dst(void **state)
{
    const char *tz = "Europe/Berlin";
    long long mar28 = 1774699200LL, mar29_jump = 1774746000LL;
    long long oct24 = 1792843200LL, oct25_0030z = 1792888200LL, oct25_0100z = 1792890000LL;

    (void)state;
    /* a fixed time in the gap fires once, at the jump */
    assert_int_equal(next_of("30 2 * * *", mar28, tz), mar29_jump);
    assert_int_equal(next_of("30 2 * * *", mar29_jump, tz), mar29_jump + 86400 - 1800);
    /* a wildcard job skips the minutes that do not exist */
    assert_int_equal(next_of("*/30 * * * *", mar29_jump - 1800, tz), mar29_jump);
    assert_int_equal(next_of("15 * * * *", mar29_jump - 3600 + 900, tz), mar29_jump + 900);
    /* before the jump, 01:30 CET is 00:30Z */
    assert_int_equal(next_of("30 1 * * *", mar28, tz), mar29_jump - 1800);
    /* a fixed time in the overlap fires on the first pass only */
    assert_int_equal(next_of("30 2 * * *", oct24, tz), oct25_0030z);        /* 02:30 CEST */
    assert_int_equal(next_of("30 2 * * *", oct25_0030z, tz), 1792978200LL); /* Oct 26 02:30 CET */
    /* a wildcard job fires on both passes */
    assert_int_equal(next_of("*/30 * * * *", oct25_0030z, tz), oct25_0100z); /* 02:00 CET */
    assert_int_equal(next_of("30 * * * *", oct25_0030z, tz), oct25_0100z + 1800);
    /* a far zone: 09:00 in Tokyo is 00:00Z */
    assert_int_equal(next_of("0 9 * * *", JAN1, "Asia/Tokyo"), JAN1 + 86400);
}

static void test_tz_restored(void **state)
{
    (void)state;
    setenv("TZ", "America/New_York", 1);
    assert_int_equal(next_of("0 9 * * *", JAN1, "Asia/Tokyo"), JAN1 + 86400);
    assert_string_equal(getenv("TZ"), "America/New_York");
    unsetenv("TZ");
    assert_int_equal(next_of("0 9 * * *", JAN1, "UTC"), JAN1 + 9 * 3600);
    assert_null(getenv("TZ"));
}

static void test_tz_valid(void **state)
{
    (void)state;
    assert_true(cron_tz_is_valid("Europe/Berlin", NULL));
    assert_true(cron_tz_is_valid("UTC", NULL));
    assert_false(cron_tz_is_valid("Europe/Nowhere", NULL));
    assert_false(cron_tz_is_valid("../../etc/passwd", NULL));
    assert_false(cron_tz_is_valid("/etc/passwd", NULL));
    assert_false(cron_tz_is_valid("Europe", NULL)); /* a directory */
    assert_false(cron_tz_is_valid("", NULL));
    assert_false(cron_tz_is_valid(NULL, NULL));
}

static void test_every(void **state)
{
    (void)state;
    assert_int_equal(cron_every_next(JAN1, 30), JAN1 + 30);
    assert_int_equal(cron_every_next(JAN1 + 29, 30), JAN1 + 30);
    assert_int_equal(cron_every_next(JAN1 + 30, 30), JAN1 + 60);
    assert_int_equal(cron_every_next(JAN1 + 5, 1), JAN1 + 6);
    assert_int_equal(cron_every_next(10, 7), 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_next_utc),     cmocka_unit_test(test_vixie_day_rule),
        cmocka_unit_test(test_next_dst),     cmocka_unit_test(test_tz_restored),
        cmocka_unit_test(test_tz_valid),     cmocka_unit_test(test_every),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
