/* test_demo: the builtin stages of the demo pipeline, run in order without
 * Redis, checked against a naive recomputation (qsort, plain loops). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "pipeline.h"
#include "../../worker/stage_builtin.h"

struct progress_log {
    int calls;
    double last;
    int is_monotonic;
    int stop_after; /* ask to stop after this many calls (0 = never) */
};

static int record(void *arg, double f, const char *msg)
{
    struct progress_log *p = arg;

    (void)msg;
    if (f < p->last)
        p->is_monotonic = 0;
    p->last = f;
    p->calls++;
    return p->stop_after != 0 && p->calls >= p->stop_after;
}

/* Runs builtin name as the worker does: in printed to text, that text
 * parsed by json_parse_exact; the output tree printed and parsed back the
 * same way (NULL when the stage failed). */
static cJSON *run_stage(const char *name, const cJSON *in, struct progress_log *log,
                        struct stage_error *err)
{
    struct stage_ctx ctx = {record, log, false, 1};
    stage_builtin_fn fn = stage_builtin_find(name);
    struct stage_input input;
    struct json_err jerr;
    cJSON *out = NULL, *back = NULL;
    char *text = in != NULL ? json_print(in) : NULL;

    assert_non_null(fn);
    input.text = text != NULL ? text : "null";
    input.json = json_parse_exact(input.text, strlen(input.text), 1000, &jerr);
    assert_non_null(input.json);
    if (fn(&input, &ctx, &out, err) == 0) {
        char *o = json_print(out);
        assert_non_null(o);
        back = json_parse_exact(o, strlen(o), 1000, &jerr);
        assert_non_null(back);
        cJSON_free(o);
    }
    cJSON_Delete(out);
    cJSON_Delete((cJSON *)input.json);
    cJSON_free(text);
    return back;
}

static double num(const cJSON *o, const char *name)
{
    double d;

    assert_int_equal(json_number(json_get(o, name), &d), 0);
    return d;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The same generator as demo.c, written out again on purpose. */
static void naive_values(uint64_t seed, long n, uint64_t max, uint32_t *out)
{
    uint64_t s = seed;
    long i;

    for (i = 0; i < n; i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        out[i] = (uint32_t)(1 + z % max);
    }
}

static void test_demo_pipeline_matches_naive(void **state)
{
    const long n = 5000;
    struct stage_error err;
    struct progress_log log = {0, 0.0, 1, 0};
    cJSON *in = cJSON_Parse("{\"size\":5000,\"seed\":7,\"max_value\":1000,\"rounds\":2}");
    cJSON *s1, *s2, *s3, *s4;
    uint32_t *v = malloc(n * sizeof(*v));
    uint64_t sum = 0;
    long i, distinct = 0, hist[10] = {0};
    const cJSON *h;

    (void)state;
    naive_values(7, n, 1000, v);
    for (i = 0; i < n; i++)
        sum += v[i];
    s1 = run_stage("demo.generate", in, &log, &err);
    assert_non_null(s1);
    assert_int_equal((long)num(s1, "sum"), (long)sum);
    assert_true(log.calls >= 5 && log.is_monotonic);
    s2 = run_stage("demo.transform", s1, &log, &err);
    assert_non_null(s2);
    assert_true(num(s2, "total_steps") > 0);
    s3 = run_stage("demo.sort", s2, &log, &err);
    assert_non_null(s3);
    qsort(v, n, sizeof(*v), cmp_u32);
    for (i = 0; i < n; i++)
        distinct += (i == 0 || v[i] != v[i - 1]);
    assert_int_equal((long)num(s3, "min"), v[0]);
    assert_int_equal((long)num(s3, "max"), v[n - 1]);
    assert_int_equal((long)num(s3, "median"), v[(long)((n - 1) * 0.5)]);
    assert_int_equal((long)num(s3, "p90"), v[(long)((n - 1) * 0.9)]);
    assert_int_equal((long)num(s3, "distinct"), distinct);
    s4 = run_stage("demo.summarize", s3, &log, &err);
    assert_non_null(s4);
    for (i = 0; i < n; i++)
        hist[(v[i] - v[0]) * 10 / (v[n - 1] - v[0] + 1)]++;
    h = json_get(s4, "histogram");
    assert_int_equal(cJSON_GetArraySize(h), 10);
    for (i = 0; i < 10; i++) {
        double d;
        assert_int_equal(json_number(cJSON_GetArrayItem(h, (int)i), &d), 0);
        assert_int_equal((long)d, hist[i]);
    }
    assert_true(num(s4, "mean") > 0);
    assert_int_equal((long)num(s4, "size"), n);
    cJSON_Delete(in), cJSON_Delete(s1), cJSON_Delete(s2), cJSON_Delete(s3), cJSON_Delete(s4);
    free(v);
}

static void test_demo_rejects_bad_input(void **state)
{
    static const char *const bad[] = {
        "{\"size\":0}",
        "{\"size\":1.5}",
        "{\"size\":\"10\"}",
        "{\"size\":1e300}",
        "{\"size\":100000000000}",
        "{\"max_value\":1}",
        "{\"rounds\":0}",
        "[1,2]",
        "\"x\"",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct stage_error err;
        struct progress_log log = {0, 0.0, 1, 0};
        cJSON *in = cJSON_Parse(bad[i]);
        cJSON *out = run_stage("demo.generate", in, &log, &err);
        assert_null(out);
        assert_string_equal(err.code, "invalid_input");
        assert_false(err.is_retryable);
        cJSON_Delete(in);
    }
}

static void test_demo_detects_corrupt_input(void **state)
{
    struct stage_error err;
    struct progress_log log = {0, 0.0, 1, 0};
    cJSON *in = cJSON_Parse("{\"size\":100,\"seed\":1,\"max_value\":50,"
                            "\"checksum\":\"0000000000000000\"}");

    (void)state;
    assert_null(run_stage("demo.transform", in, &log, &err));
    assert_string_equal(err.code, "corrupt_input");
    cJSON_Delete(in);
}

static void test_demo_stops_when_asked(void **state)
{
    struct stage_error err;
    struct progress_log log = {0, 0.0, 1, 3};
    cJSON *in = cJSON_Parse("{\"size\":100000}");

    (void)state;
    assert_null(run_stage("demo.generate", in, &log, &err));
    assert_string_equal(err.code, "stopped");
    assert_int_equal(log.calls, 3);
    cJSON_Delete(in);
}

static void test_echo_and_registry(void **state)
{
    struct stage_error err;
    struct progress_log log = {0, 0.0, 1, 0};
    cJSON *in = cJSON_Parse("{\"a\":[1,2,{\"b\":null}]}");
    cJSON *out = run_stage("echo", in, &log, &err);
    size_t i;

    (void)state;
    assert_non_null(out);
    {
        char *a = json_print(in), *b = json_print(out);
        assert_string_equal(a, b);
        cJSON_free(a);
        cJSON_free(b);
    }
    assert_int_equal(log.calls, 1);
    assert_null(stage_builtin_find("nope"));
    for (i = 0; pipeline_builtin_names[i] != NULL; i++)
        assert_non_null(stage_builtin_find(pipeline_builtin_names[i]));
    cJSON_Delete(in);
    cJSON_Delete(out);
}

/* echo passes its input's text on byte for byte: numbers cJSON would print
 * with 15 digits, escapes it would print decoded. */
static void test_echo_keeps_the_text(void **state)
{
    static const char text[] = "{\"s\":\"\\u00e9\\/\",\"n\":[9007199254740993,1E+2,-0,1e400,"
                               "0.30000000000000004]}";
    struct stage_ctx ctx = {NULL, NULL, false, 1};
    struct stage_error err;
    struct stage_input in;
    struct json_err jerr;
    cJSON *out = NULL;
    char *printed;

    (void)state;
    in.text = text;
    in.json = json_parse_exact(text, sizeof(text) - 1, 64, &jerr);
    assert_non_null(in.json);
    assert_int_equal(builtin_echo(&in, &ctx, &out, &err), 0);
    printed = json_print(out);
    assert_string_equal(printed, text);
    cJSON_free(printed);
    cJSON_Delete(out);
    cJSON_Delete((cJSON *)in.json);
}

/* The blog's stages: stage k appends " -> processed by stage k" to a string
 * input, or to the JSON text of any other input (its numbers as sent), in
 * about a second, reporting progress; they stop when asked. */
static void test_blog_stages(void **state)
{
    static const struct {
        int k;
        const char *in, *want;
    } cases[] = {
        {1, "\"hello\"", "\"hello -> processed by stage 1\""},
        {4, "\"a -> processed by stage 3\"",
         "\"a -> processed by stage 3 -> processed by stage 4\""},
        {2, "{\"n\":9007199254740993}", "\"{\\\"n\\\":9007199254740993} -> processed by stage 2\""},
        {3, "null", "\"null -> processed by stage 3\""},
    };
    struct progress_log log;
    struct stage_ctx ctx = {record, &log, false, 1};
    struct stage_error err;
    struct stage_input in;
    struct json_err jerr;
    cJSON *out;
    char *printed;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&log, 0, sizeof(log));
        log.is_monotonic = 1;
        ctx.is_stop_requested = false;
        ctx.stage_index = cases[i].k;
        in.text = cases[i].in;
        in.json = json_parse_exact(in.text, strlen(in.text), 64, &jerr);
        assert_non_null(in.json);
        out = NULL;
        assert_int_equal(stage_builtin_find("blog.stage")(&in, &ctx, &out, &err), 0);
        printed = json_print(out);
        assert_string_equal(printed, cases[i].want);
        assert_true(log.calls >= 2 && log.is_monotonic && log.last == 1.0);
        cJSON_free(printed);
        cJSON_Delete(out);
        cJSON_Delete((cJSON *)in.json);
    }
    memset(&log, 0, sizeof(log));
    log.stop_after = 2;
    ctx.is_stop_requested = false;
    in.text = "\"x\"";
    in.json = json_parse_exact(in.text, 3, 64, &jerr);
    out = NULL;
    assert_int_equal(builtin_blog_stage(&in, &ctx, &out, &err), -1);
    assert_null(out);
    assert_string_equal(err.code, "stopped");
    assert_int_equal(log.calls, 2);
    cJSON_Delete((cJSON *)in.json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_pipeline_matches_naive),
        cmocka_unit_test(test_demo_rejects_bad_input),
        cmocka_unit_test(test_demo_detects_corrupt_input),
        cmocka_unit_test(test_demo_stops_when_asked),
        cmocka_unit_test(test_echo_and_registry),
        cmocka_unit_test(test_echo_keeps_the_text),
        cmocka_unit_test(test_blog_stages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
