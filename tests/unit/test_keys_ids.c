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
#include "cluster.h"
#include "keys.h"

static void test_keys_names(void **state)
{
    char buf[KEYS_MAX_LEN];
    const char *t = keys_default_tag();

    (void)state;
    assert_string_equal(t, "{8209}");
    assert_int_equal(keys_job(buf, sizeof(buf), "stageq", t, "abc-123"), 0);
    assert_string_equal(buf, "stageq:{8209}:job:abc-123");
    assert_int_equal(keys_queue(buf, sizeof(buf), "stageq", t, "default"), 0);
    assert_string_equal(buf, "stageq:{8209}:queue:default");
    assert_int_equal(keys_delayed(buf, sizeof(buf), "stageq", t, "default"), 0);
    assert_string_equal(buf, "stageq:{8209}:delayed:default");
    assert_int_equal(keys_paused(buf, sizeof(buf), "stageq", t, "low"), 0);
    assert_string_equal(buf, "stageq:{8209}:paused:low");
    assert_int_equal(keys_rate(buf, sizeof(buf), "stageq", t, "api"), 0);
    assert_string_equal(buf, "stageq:{8209}:rate:api");
    assert_int_equal(keys_failed(buf, sizeof(buf), "stageq", t, "default"), 0);
    assert_string_equal(buf, "stageq:{8209}:failed:default");
    assert_int_equal(keys_processing(buf, sizeof(buf), "stageq", t, "host:42:3"), 0);
    assert_string_equal(buf, "stageq:{8209}:processing:host:42:3");
    assert_int_equal(keys_leases(buf, sizeof(buf), "stageq", t), 0);
    assert_string_equal(buf, "stageq:{8209}:leases");
    assert_int_equal(keys_alive(buf, sizeof(buf), "stageq", t), 0);
    assert_string_equal(buf, "stageq:{8209}:alive");
    assert_int_equal(keys_current(buf, sizeof(buf), "stageq", t), 0);
    assert_string_equal(buf, "stageq:{8209}:current");
    assert_int_equal(keys_counters(buf, sizeof(buf), "stageq", t), 0);
    assert_string_equal(buf, "stageq:{8209}:counters");
    assert_int_equal(keys_recent(buf, sizeof(buf), "stageq", t), 0);
    assert_string_equal(buf, "stageq:{8209}:recent");
    assert_int_equal(keys_stagehist(buf, sizeof(buf), "stageq", t, "train"), 0);
    assert_string_equal(buf, "stageq:{8209}:stagehist:train");
    assert_int_equal(keys_eta(buf, sizeof(buf), "stageq", t, "train"), 0);
    assert_string_equal(buf, "stageq:{8209}:eta:train");
    assert_int_equal(keys_workers(buf, sizeof(buf), "stageq"), 0);
    assert_string_equal(buf, "stageq:{w}:workers");
    assert_int_equal(keys_worker(buf, sizeof(buf), "stageq", "h:1:2"), 0);
    assert_string_equal(buf, "stageq:{w}:worker:h:1:2");
    assert_int_equal(keys_schedules(buf, sizeof(buf), "stageq"), 0);
    assert_string_equal(buf, "stageq:{w}:schedules");
    assert_int_equal(keys_events(buf, sizeof(buf), "stageq"), 0);
    assert_string_equal(buf, "stageq:events");
    assert_int_equal(keys_wake(buf, sizeof(buf), "stageq", "gpu"), 0);
    assert_string_equal(buf, "stageq:wake:gpu");
    assert_int_equal(keys_job(buf, sizeof(buf), "test:ns", t, "x"), 0);
    assert_string_equal(buf, "test:ns:{8209}:job:x");
}

/* Every slot has a tag, the tag hashes to its slot, and none is longer than
 * KEYS_TAG_MAX_LEN; every key of a partition is in the partition's slot. */
static void test_keys_tags(void **state)
{
    char buf[KEYS_MAX_LEN];
    int s, longest = 0;

    (void)state;
    for (s = 0; s < CLUSTER_SLOTS; s++) {
        const char *t = keys_slot_tag(s);
        assert_non_null(t);
        assert_true(strlen(t) <= KEYS_TAG_MAX_LEN);
        assert_int_equal(cluster_key_slot(t, strlen(t)), s);
        if ((int)strlen(t) > longest)
            longest = (int)strlen(t);
    }
    assert_int_equal(longest, KEYS_TAG_MAX_LEN);
    assert_null(keys_slot_tag(-1));
    assert_null(keys_slot_tag(CLUSTER_SLOTS));
    /* the same text every time (other processes compute it the same way) */
    assert_string_equal(keys_slot_tag(8192), "{8209}");
    assert_string_equal(keys_slot_tag(12288), "{356}");
    assert_int_equal(keys_job(buf, sizeof(buf), "p", keys_slot_tag(1365), "some-id"), 0);
    assert_int_equal(cluster_key_slot(buf, strlen(buf)), 1365);
    assert_int_equal(keys_processing(buf, sizeof(buf), "p", keys_slot_tag(1365), "w{x}"), 0);
    assert_int_equal(cluster_key_slot(buf, strlen(buf)), 1365);
}

static void test_keys_partitions(void **state)
{
    int p, j, counts[6] = {0}, i;
    char id[32];

    (void)state;
    assert_int_equal(keys_part_slot(1, 0), 8192);
    assert_int_equal(keys_part_slot(2, 0), 4096);
    assert_int_equal(keys_part_slot(2, 1), 12288);
    /* 6 partitions: two in each third of the slots (3 equal shards) */
    for (j = 0; j < 6; j++)
        assert_int_equal(keys_part_slot(6, j) * 3 / CLUSTER_SLOTS, j / 2);
    /* clamped: never out of range */
    assert_int_equal(keys_part_slot(0, 5), 8192);
    assert_int_equal(keys_part_slot(4, 9), keys_part_slot(4, 3));
    assert_int_equal(keys_part_slot(4, -1), keys_part_slot(4, 0));
    for (p = 1; p <= KEYS_PARTITIONS_MAX; p++)
        for (j = 0; j < p; j++) {
            int s = keys_part_slot(p, j);
            assert_true(s >= 0 && s < CLUSTER_SLOTS);
            if (j > 0)
                assert_true(s > keys_part_slot(p, j - 1));
        }
    /* FNV-1a of the id modulo P (the test library computes it the same way) */
    assert_int_equal(keys_part_of("abc", 3, 6), 5);
    assert_int_equal(keys_part_of("abc", 3, 1), 0);
    assert_int_equal(keys_job_slot("abc", 3, 6), keys_part_slot(6, 5));
    /* ids spread over the partitions */
    for (i = 0; i < 6000; i++) {
        int n = snprintf(id, sizeof(id), "job-%d", i);
        counts[keys_part_of(id, (size_t)n, 6)]++;
    }
    for (j = 0; j < 6; j++)
        assert_true(counts[j] > 800 && counts[j] < 1200);
}

static void test_keys_truncation(void **state)
{
    char buf[32];
    const char *t = keys_default_tag();

    (void)state;
    /* "stageq:{8209}:job:abc" is 21 bytes: 22 fit exactly, 21 do not */
    assert_int_equal(keys_job(buf, 22, "stageq", t, "abc"), 0);
    assert_string_equal(buf, "stageq:{8209}:job:abc");
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(keys_job(buf, 21, "stageq", t, "abc"), -1);
    assert_string_equal(buf, "stageq:{8209}:job:ab"); /* truncated and terminated */
    assert_int_equal(buf[21], 'Z');                   /* nothing written past cap */

    assert_int_equal(keys_queue(buf, 10, "stageq", t, "default"), -1);
    assert_string_equal(buf, "stageq:{8");
    assert_int_equal(keys_processing(buf, 8, "stageq", t, "w"), -1);
    assert_int_equal(keys_workers(buf, 18, "stageq"), -1); /* "stageq:{w}:workers" = 18 */
    assert_int_equal(keys_workers(buf, 19, "stageq"), 0);
    assert_int_equal(keys_events(buf, 13, "stageq"), -1); /* "stageq:events" = 13 */
    assert_int_equal(keys_events(buf, 14, "stageq"), 0);
    assert_int_equal(keys_job(buf, 1, "stageq", t, "abc"), -1);
    assert_string_equal(buf, "");
}

static void test_keys_longest(void **state)
{
    char buf[KEYS_MAX_LEN], prefix[KEYS_PREFIX_MAX_LEN + 1], wid[201], id[IDS_MAX_LEN + 1];
    const char *t = keys_slot_tag(0);

    (void)state;
    /* the longest prefix, tag and worker id the header promises still fit */
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        if (strlen(keys_slot_tag(s)) == KEYS_TAG_MAX_LEN)
            t = keys_slot_tag(s);
    memset(prefix, 'p', KEYS_PREFIX_MAX_LEN);
    prefix[KEYS_PREFIX_MAX_LEN] = '\0';
    memset(wid, 'w', 200);
    wid[200] = '\0';
    assert_int_equal(keys_processing(buf, sizeof(buf), prefix, t, wid), 0);
    assert_int_equal(strlen(buf), 64 + 1 + KEYS_TAG_MAX_LEN + strlen(":processing:") + 200);
    memset(id, 'i', IDS_MAX_LEN);
    id[IDS_MAX_LEN] = '\0';
    assert_int_equal(keys_job(buf, sizeof(buf), prefix, t, id), 0);
    assert_int_equal(strlen(buf), 64 + 1 + KEYS_TAG_MAX_LEN + strlen(":job:") + IDS_MAX_LEN);
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
    /* the stage's own field: "stage.<k>" */
    assert_int_equal(keys_stage_field(buf, sizeof(buf), 16, NULL), 0);
    assert_string_equal(buf, "stage.16");
    assert_int_equal(keys_stage_field(buf, 8, 16, NULL), -1); /* "stage.16" = 8 */
    /* the same as snprintf, for every size of k and of the buffer */
    for (i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        for (j = 0; j <= sizeof(whats) / sizeof(whats[0]); j++) {
            const char *what = j < sizeof(whats) / sizeof(whats[0]) ? whats[j] : NULL;
            for (cap = 1; cap <= sizeof(buf); cap++) {
                n = what != NULL ? snprintf(want, cap, "stage.%d.%s", ks[i], what)
                                 : snprintf(want, cap, "stage.%d", ks[i]);
                assert_int_equal(keys_stage_field(buf, cap, ks[i], what),
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

/* The pool's ids are v4 UUIDs like libuuid's, over several refills, and
 * differ from one another. */
static void test_uuid_pool(void **state)
{
    struct ids_pool pool;
    char a[IDS_UUID_LEN], b[IDS_UUID_LEN];
    int i;

    (void)state;
    ids_pool_init(&pool);
    ids_pool_uuid(&pool, a);
    check_uuid(a);
    for (i = 0; i < 3 * IDS_POOL_UUIDS; i++) {
        ids_pool_uuid(&pool, b);
        check_uuid(b);
        assert_string_not_equal(a, b);
        memcpy(a, b, sizeof(a));
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

/* "name" or "name:weight" (--queues): the weight is the digits after the
 * last ':', a name may hold ':' itself. */
static void test_ids_split_weight(void **state)
{
    static const struct {
        const char *in;
        size_t name_len;
        const char *weight; /* NULL: none */
    } cases[] = {
        {"high", 4, NULL}, {"high:6", 4, "6"},       {"a:b", 3, NULL}, {"a:b:12", 3, "12"},
        {"a:1:2", 3, "2"}, {"q:", 2, NULL},          {":5", 2, NULL},  {"x9", 2, NULL},
        {"v1.2", 4, NULL}, {"jobs:2024", 4, "2024"}, {"", 0, NULL},    {"a::3", 2, "3"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *w;
        size_t wl, n = ids_split_weight(cases[i].in, strlen(cases[i].in), &w, &wl);

        assert_int_equal(n, cases[i].name_len);
        if (cases[i].weight == NULL) {
            assert_null(w);
            assert_int_equal(wl, 0);
        } else {
            assert_non_null(w);
            assert_int_equal(wl, strlen(cases[i].weight));
            assert_memory_equal(w, cases[i].weight, wl);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_names),
        cmocka_unit_test(test_keys_tags),
        cmocka_unit_test(test_keys_partitions),
        cmocka_unit_test(test_keys_truncation),
        cmocka_unit_test(test_keys_longest),
        cmocka_unit_test(test_keys_stage_field),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_uuid_pool),
        cmocka_unit_test(test_ids_valid),
        cmocka_unit_test(test_ids_split_weight),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
