/* test_live: the live workers and the job each runs (api/live.c), joined
 * from the registry's reply and the partitions' current hashes whatever
 * order they come in (on a cluster one batch's replies come from several
 * nodes in any order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/api.h"

/* A reply array of n strings (NULL: a nil element), freed by reply_free. */
static redisReply *reply_strings(size_t n, const char *const *s)
{
    redisReply *r = calloc(1, sizeof(*r));
    size_t i;

    assert_non_null(r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n + 1, sizeof(*r->element));
    assert_non_null(r->element);
    for (i = 0; i < n; i++) {
        redisReply *e = calloc(1, sizeof(*e));
        assert_non_null(e);
        if (s[i] == NULL) {
            e->type = REDIS_REPLY_NIL;
        } else {
            e->type = REDIS_REPLY_STRING;
            e->str = strdup(s[i]);
            e->len = strlen(s[i]);
        }
        r->element[i] = e;
    }
    return r;
}

static void reply_free(redisReply *r)
{
    size_t i;

    for (i = 0; i < r->elements; i++) {
        free(r->element[i]->str);
        free(r->element[i]);
    }
    free(r->element);
    free(r);
}

static const char *const live3[] = {"w1", "1700000000000", "w2", "1700000000001", "w3", "inf"};
/* partition A: w1 runs a1, w9 (not alive) runs x, w3 idle (empty) */
static const char *const cur_a[] = {"w1", "a1", "w9", "x", "w3", ""};
/* partition B: w1 again (the first seen stays), w2 runs b2 */
static const char *const cur_b[] = {"w1", "b1", "w2", "b2"};

static void check_joined(const struct live *lv)
{
    assert_int_equal(lv->n, 3);
    assert_string_equal(lv->ids[0], "w1");
    assert_int_equal(lv->expiry[0], 1700000000000LL);
    assert_int_equal(lv->expiry[2], -1); /* inf: unknown */
    assert_string_equal(lv->jobs[0], "a1");
    assert_string_equal(lv->jobs[1], "b2");
    assert_null(lv->jobs[2]);
}

static void run_order(int order)
{
    redisReply *l = reply_strings(6, live3), *a = reply_strings(6, cur_a),
               *b = reply_strings(4, cur_b);
    struct live lv;

    memset(&lv, 0, sizeof(lv));
    switch (order) {
    case 0: /* the registry first, as on one server */
        assert_int_equal(live_read(&lv, l), 0);
        assert_int_equal(live_read_current(&lv, a), 0);
        assert_int_equal(live_read_current(&lv, b), 0);
        break;
    case 1: /* both current hashes first */
        assert_int_equal(live_read_current(&lv, a), 0);
        assert_int_equal(live_read_current(&lv, b), 0);
        assert_int_equal(live_read(&lv, l), 0);
        break;
    default: /* the registry between them */
        assert_int_equal(live_read_current(&lv, a), 0);
        assert_int_equal(live_read(&lv, l), 0);
        assert_int_equal(live_read_current(&lv, b), 0);
        break;
    }
    check_joined(&lv);
    live_free(&lv);
    reply_free(l);
    reply_free(a);
    reply_free(b);
}

static void test_registry_first(void **state)
{
    (void)state;
    run_order(0);
}

static void test_current_first(void **state)
{
    (void)state;
    run_order(1);
}

static void test_registry_between(void **state)
{
    (void)state;
    run_order(2);
}

static void test_bad_replies(void **state)
{
    static const char *const odd[] = {"w1", "a1", "w2"};
    redisReply *r = reply_strings(3, odd);
    struct live lv;

    (void)state;
    memset(&lv, 0, sizeof(lv));
    assert_int_equal(live_read_current(&lv, r), -1); /* odd: not pairs */
    assert_int_equal(live_read(&lv, r), -1);
    live_free(&lv);
    reply_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_first),
        cmocka_unit_test(test_current_first),
        cmocka_unit_test(test_registry_between),
        cmocka_unit_test(test_bad_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
