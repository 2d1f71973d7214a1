/* test_wstats: the worker's gathered stage runs (worker/stats.c) and the
 * spec they are sent in (stats.lua reads it): grouping by pipeline, the
 * newest durations first and at most WSTATS_RUNS of them, counts per
 * duration, when a flush is due. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../worker/worker.h"

static void test_empty(void **state)
{
    struct wstats s;
    char *spec;

    (void)state;
    memset(&s, 0, sizeof(s));
    assert_false(wstats_is_pending(&s));
    assert_false(wstats_is_due(&s, 1000000));
    spec = wstats_spec(&s);
    assert_non_null(spec);
    assert_string_equal(spec, "");
    free(spec);
    wstats_free(&s);
}

static void test_spec_groups_and_counts(void **state)
{
    struct wstats s;
    char *spec;

    (void)state;
    memset(&s, 0, sizeof(s));
    wstats_add(&s, "a", 1, "one", 5);
    wstats_add(&s, "b", 1, "x", 7);
    wstats_add(&s, "a", 2, "two", 0);
    wstats_add(&s, "a", 1, "one", 5);
    wstats_add(&s, "a", 1, "one", 9);
    wstats_add(&s, "a", 2, "two", -3); /* a clock step back counts as 0 */
    assert_true(wstats_is_pending(&s));
    spec = wstats_spec(&s);
    assert_non_null(spec);
    /* pipeline a's lines together, newest run first, "<ms>:<times>" */
    assert_string_equal(spec, "a 1 one 9,5,5 5:2,9:1\n"
                              "a 2 two 0,0 0:2\n"
                              "b 1 x 7 7:1");
    free(spec);
    wstats_free(&s);
}

/* The keys stats.lua reads with a spec: a histogram and an ETA hash per
 * run of lines of one pipeline, in the slot of the tag given, in order. */
static void test_keys_follow_the_spec(void **state)
{
    struct rargv a;

    (void)state;
    rargv_init(&a);
    assert_int_equal(
        wstats_add_keys(&a, "a 1 one 9 9:1\na 2 two 0 0:1\nab 1 x 7 7:1", "sq", "{48576}"), 4);
    assert_int_equal(a.argc, 4);
    assert_string_equal(a.argv[0], "sq:{48576}:stagehist:a");
    assert_string_equal(a.argv[1], "sq:{48576}:eta:a");
    assert_string_equal(a.argv[2], "sq:{48576}:stagehist:ab");
    assert_string_equal(a.argv[3], "sq:{48576}:eta:ab");
    assert_int_equal(wstats_add_keys(&a, "", "sq", "{1}"), 0);
    assert_int_equal(wstats_add_keys(&a, NULL, "sq", "{1}"), 0);
    assert_int_equal(a.argc, 4);
    rargv_free(&a);
}

static void test_runs_are_capped(void **state)
{
    struct wstats s;
    char *spec, want[512];
    size_t len = 0;
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    for (i = 1; i <= WSTATS_RUNS + 5; i++)
        wstats_add(&s, "p", 1, "s", 100);
    spec = wstats_spec(&s);
    len += (size_t)snprintf(want, sizeof(want), "p 1 s ");
    for (i = 0; i < WSTATS_RUNS; i++)
        len += (size_t)snprintf(want + len, sizeof(want) - len, "%s100", i ? "," : "");
    snprintf(want + len, sizeof(want) - len, " 100:%d", WSTATS_RUNS + 5);
    assert_string_equal(spec, want);
    free(spec);
    wstats_free(&s);
}

static void test_due_and_clear(void **state)
{
    struct wstats s;
    char *spec;
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    wstats_add(&s, "p", 1, "s", 1);
    assert_true(wstats_is_due(&s, WSTATS_FLUSH_MS)); /* never sent: due at once */
    wstats_clear(&s, 5000);
    assert_false(wstats_is_pending(&s));
    wstats_add(&s, "p", 1, "s", 2);
    assert_false(wstats_is_due(&s, 5000 + WSTATS_FLUSH_MS - 1));
    assert_true(wstats_is_due(&s, 5000 + WSTATS_FLUSH_MS));
    /* after a clear only the new runs are sent */
    spec = wstats_spec(&s);
    assert_string_equal(spec, "p 1 s 2 2:1");
    free(spec);
    /* many distinct durations make it due before the second is over */
    for (i = 0; i < WSTATS_MAX_VALS; i++)
        wstats_add(&s, "p", 1, "s", 1000 + i);
    assert_true(wstats_is_due(&s, 5001));
    wstats_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_spec_groups_and_counts),
        cmocka_unit_test(test_keys_follow_the_spec),
        cmocka_unit_test(test_runs_are_capped),
        cmocka_unit_test(test_due_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
