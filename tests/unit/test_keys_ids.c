/* Unit tests for shared/keys (key and field names, truncation) and shared/ids
 * (UUID v4 format, validation of client-supplied names). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"
#include "keys.h"

static void test_keys_names(void **state)
{
    char buf[KEYS_MAX_LEN];

    (void)state;
    assert_int_equal(keys_job(buf, sizeof(buf), "stageq", "abc-123"), 0);
    assert_string_equal(buf, "stageq:job:abc-123");
    assert_int_equal(keys_queue(buf, sizeof(buf), "stageq", "default"), 0);
    assert_string_equal(buf, "stageq:queue:default");
    assert_int_equal(keys_processing(buf, sizeof(buf), "stageq", "host:42:3"), 0);
    assert_string_equal(buf, "stageq:processing:host:42:3");
    assert_int_equal(keys_workers(buf, sizeof(buf), "stageq"), 0);
    assert_string_equal(buf, "stageq:workers");
    assert_int_equal(keys_alive(buf, sizeof(buf), "stageq"), 0);
    assert_string_equal(buf, "stageq:alive");
    assert_int_equal(keys_events(buf, sizeof(buf), "stageq"), 0);
    assert_string_equal(buf, "stageq:events");
    assert_int_equal(keys_job(buf, sizeof(buf), "test:ns", "x"), 0);
    assert_string_equal(buf, "test:ns:job:x");
    assert_int_equal(keys_counters(buf, sizeof(buf), "stageq"), 0);
    assert_string_equal(buf, "stageq:counters");
    assert_int_equal(keys_stagehist(buf, sizeof(buf), "stageq", "train"), 0);
    assert_string_equal(buf, "stageq:stagehist:train");
}

static void test_keys_truncation(void **state)
{
    char buf[32];

    (void)state;
    /* "stageq:job:abc" is 14 bytes: 15 fit exactly, 14 do not */
    assert_int_equal(keys_job(buf, 15, "stageq", "abc"), 0);
    assert_string_equal(buf, "stageq:job:abc");
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(keys_job(buf, 14, "stageq", "abc"), -1);
    assert_string_equal(buf, "stageq:job:ab"); /* truncated and terminated */
    assert_int_equal(buf[14], 'Z');            /* nothing written past cap */

    assert_int_equal(keys_queue(buf, 10, "stageq", "default"), -1);
    assert_string_equal(buf, "stageq:qu");
    assert_int_equal(keys_processing(buf, 8, "stageq", "w"), -1);
    assert_int_equal(keys_workers(buf, 14, "stageq"), -1); /* "stageq:workers" = 14 */
    assert_int_equal(keys_workers(buf, 15, "stageq"), 0);
    assert_int_equal(keys_events(buf, 13, "stageq"), -1); /* "stageq:events" = 13 */
    assert_int_equal(keys_events(buf, 14, "stageq"), 0);
    assert_int_equal(keys_job(buf, 1, "stageq", "abc"), -1);
    assert_string_equal(buf, "");
}

static void test_keys_longest(void **state)
{
    char buf[KEYS_MAX_LEN], prefix[KEYS_PREFIX_MAX_LEN + 1], wid[201], id[IDS_MAX_LEN + 1];

    (void)state;
    /* the longest prefix and worker id the header promises still fit */
    memset(prefix, 'p', KEYS_PREFIX_MAX_LEN);
    prefix[KEYS_PREFIX_MAX_LEN] = '\0';
    memset(wid, 'w', 200);
    wid[200] = '\0';
    assert_int_equal(keys_processing(buf, sizeof(buf), prefix, wid), 0);
    assert_int_equal(strlen(buf), 64 + strlen(":processing:") + 200);
    memset(id, 'i', IDS_MAX_LEN);
    id[IDS_MAX_LEN] = '\0';
    assert_int_equal(keys_job(buf, sizeof(buf), prefix, id), 0);
    assert_int_equal(strlen(buf), 64 + strlen(":job:") + IDS_MAX_LEN);
}

static void test_keys_stage_field(void **state)
{
    static const int ks[] = {0, 1, 9, 10, 99, 100, 12345, INT_MAX, -1, INT_MIN};
    static const char *const whats[] = {"", "output", "finished_at"};
    char buf[64], want[64];
    size_t i, j, cap;
    int n;

    (void)state;
    assert_int_equal(keys_stage_field(buf, sizeof(buf), 1, "name"), 0);
    assert_string_equal(buf, "stage.1.name");
    assert_int_equal(keys_stage_field(buf, sizeof(buf), 64, "finished_at"), 0);
    assert_string_equal(buf, "stage.64.finished_at");
    assert_int_equal(keys_stage_field(buf, 13, 1, "state"), -1); /* "stage.1.state" = 13 */
    assert_string_equal(buf, "stage.1.stat");
    assert_int_equal(keys_stage_field(buf, 14, 1, "state"), 0);
    assert_string_equal(buf, "stage.1.state");
    /* the same as snprintf, for every size of k and of the buffer */
    for (i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        for (j = 0; j < sizeof(whats) / sizeof(whats[0]); j++) {
            for (cap = 1; cap <= sizeof(buf); cap++) {
                n = snprintf(want, cap, "stage.%d.%s", ks[i], whats[j]);
                assert_int_equal(keys_stage_field(buf, cap, ks[i], whats[j]),
                                 (size_t)n >= cap ? -1 : 0);
                assert_string_equal(buf, want);
            }
        }
    }
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void check_uuid(const char *u)
{
    size_t i;

    assert_int_equal(strlen(u), 36);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (u[i] != '-')
                fail_msg("'%s': expected '-' at %zu", u, i);
        } else if (!is_lower_hex(u[i])) {
            fail_msg("'%s': '%c' at %zu is not lower-case hex", u, u[i], i);
        }
    }
    if (u[14] != '4')
        fail_msg("'%s': version nibble is not 4", u);
    if (strchr("89ab", u[19]) == NULL)
        fail_msg("'%s': variant nibble is not 8, 9, a or b", u);
    assert_true(ids_is_valid(u, 36, IDS_MAX_LEN));
}

static void test_uuid(void **state)
{
    char a[IDS_UUID_LEN], b[IDS_UUID_LEN];
    int i;

    (void)state;
    memset(a, 'Z', sizeof(a));
    ids_new_uuid(a);
    check_uuid(a);
    ids_new_uuid(b);
    check_uuid(b);
    assert_string_not_equal(a, b);
    for (i = 0; i < 200; i++) {
        ids_new_uuid(b);
        check_uuid(b);
    }
}

#define VALID(lit) ids_is_valid((lit), sizeof(lit) - 1, IDS_MAX_LEN)

static void test_ids_valid(void **state)
{
    char buf[IDS_MAX_LEN + 2];
    int c;

    (void)state;
    assert_true(VALID("a"));
    assert_true(VALID("Z"));
    assert_true(VALID("0"));
    assert_true(VALID("job-42"));
    assert_true(VALID("ns:job_1.v2-final"));
    assert_true(VALID("ABCxyz0123456789._:-"));
    assert_true(VALID("a..b"));
    assert_true(VALID("..."));
    assert_true(VALID(".a"));
    assert_true(VALID("-"));
    assert_true(VALID(":"));

    assert_false(VALID(""));
    assert_false(VALID("."));
    assert_false(VALID(".."));
    assert_false(VALID("a/b"));
    assert_false(VALID("/"));
    assert_false(VALID("../x"));
    assert_false(VALID("a b"));
    assert_false(VALID(" a"));
    assert_false(VALID("a\n"));
    assert_false(VALID("a\tb"));
    assert_false(VALID("a\\b"));
    assert_false(VALID("a*"));
    assert_false(VALID("a%2F"));
    assert_false(VALID("\xC3\xA9"));        /* é */
    assert_false(VALID("job\xE4\xB8\xAD")); /* 中 */
    assert_false(VALID("a\x7F"));
    assert_false(ids_is_valid(NULL, 0, IDS_MAX_LEN));
    assert_false(ids_is_valid(NULL, 3, IDS_MAX_LEN));

    /* NUL inside the counted length; only the counted bytes are looked at */
    assert_false(ids_is_valid("ab\0cd", 5, IDS_MAX_LEN));
    assert_false(ids_is_valid("ab\0", 3, IDS_MAX_LEN));
    assert_true(ids_is_valid("ab\0cd", 2, IDS_MAX_LEN));
    assert_true(ids_is_valid("abc/", 3, IDS_MAX_LEN));
    assert_false(ids_is_valid("..x", 2, IDS_MAX_LEN));

    /* length limits: max_len inclusive */
    memset(buf, 'x', sizeof(buf));
    assert_true(ids_is_valid(buf, IDS_MAX_LEN, IDS_MAX_LEN));
    assert_false(ids_is_valid(buf, IDS_MAX_LEN + 1, IDS_MAX_LEN));
    assert_true(ids_is_valid(buf, IDS_NAME_MAX_LEN, IDS_NAME_MAX_LEN));
    assert_false(ids_is_valid(buf, IDS_NAME_MAX_LEN + 1, IDS_NAME_MAX_LEN));
    assert_false(ids_is_valid(buf, 1, 0));

    /* exactly 65 byte values are allowed */
    {
        int n = 0;
        for (c = 0; c < 256; c++) {
            char ch = (char)c;
            if (ids_is_valid(&ch, 1, 1))
                n++;
        }
        assert_int_equal(n, 26 + 26 + 10 + 3); /* "." alone is refused */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_names),   cmocka_unit_test(test_keys_truncation),
        cmocka_unit_test(test_keys_longest), cmocka_unit_test(test_keys_stage_field),
        cmocka_unit_test(test_uuid),         cmocka_unit_test(test_ids_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
