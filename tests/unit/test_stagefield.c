/* Unit tests for shared/stagefield: a stage.<k> field read as
 * shared/scripts/inc/stages.lua reads it (hand edits included), a stage read
 * in either layout (a start "=" resolved), and the pairs a worker writes
 * turned into that layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "job.h"
#include "pipeline.h"
#include "rargv.h"
#include "stagefield.h"

#define T0     1764089294123LL /* 2025-11-25T16:48:14.123Z */
#define T0_STR "2025-11-25T16:48:14.123Z"

static void parse(const char *v, struct stagefield *s)
{
    stagefield_parse(v, strlen(v), T0, s);
}

static void test_parse(void **state)
{
    struct stagefield s;
    char longname[300];

    (void)state;
    parse("generate p", &s);
    assert_true(s.is_compact);
    assert_string_equal(s.name, "generate");
    assert_string_equal(s.state, "pending");
    assert_null(s.started_at);
    assert_null(s.finished_at);
    assert_false(s.is_started_implicit);

    parse("transform r", &s); /* running since the end of the stage before */
    assert_string_equal(s.state, "running");
    assert_true(s.is_started_implicit);
    assert_null(s.started_at);   /* stagefield_get resolves it */
    parse("transform r 77", &s); /* one time of a running stage: its start */
    assert_false(s.is_started_implicit);
    assert_string_equal(s.started_at, "2025-11-25T16:48:14.200Z");
    assert_null(s.finished_at);

    parse("sort s 1077", &s); /* one time of a stage that ended: its end */
    assert_string_equal(s.state, "succeeded");
    assert_true(s.is_started_implicit);
    assert_null(s.started_at);
    assert_string_equal(s.finished_at, "2025-11-25T16:48:15.200Z");
    parse("sort s 77 1077", &s); /* two: its start and end */
    assert_false(s.is_started_implicit);
    assert_string_equal(s.started_at, "2025-11-25T16:48:14.200Z");
    assert_string_equal(s.finished_at, "2025-11-25T16:48:15.200Z");

    parse("sort f - 7", &s);
    assert_string_equal(s.state, "failed");
    assert_false(s.is_started_implicit);
    assert_null(s.started_at);
    assert_string_equal(s.finished_at, "2025-11-25T16:48:14.130Z");

    parse("a c -123 0", &s); /* a worker's clock behind the API's */
    assert_string_equal(s.state, "canceled");
    assert_string_equal(s.started_at, "2025-11-25T16:48:14.000Z");
    assert_string_equal(s.finished_at, T0_STR);

    parse("a r -", &s); /* running, its start unknown */
    assert_false(s.is_started_implicit);
    assert_null(s.started_at);

    /* edited by hand: what can be read of it, as stages.lua reads it */
    parse("a succeeded 5 9", &s); /* a word: itself */
    assert_string_equal(s.state, "succeeded");
    assert_string_equal(s.started_at, "2025-11-25T16:48:14.128Z");
    parse("a running =", &s);
    assert_string_equal(s.state, "running");
    assert_true(s.is_started_implicit);
    parse("a weird 9", &s);
    assert_string_equal(s.state, "weird");
    assert_true(s.is_started_implicit);
    assert_string_equal(s.finished_at, "2025-11-25T16:48:14.132Z");
    parse("a s  9", &s); /* an empty start: unknown */
    assert_false(s.is_started_implicit);
    assert_null(s.started_at);
    assert_string_equal(s.finished_at, "2025-11-25T16:48:14.132Z");
    parse("x", &s);
    assert_string_equal(s.name, "x");
    assert_null(s.state);
    parse("", &s);
    assert_string_equal(s.name, "");
    assert_null(s.state);
    parse("a b c d e", &s); /* more than four tokens: a name alone */
    assert_string_equal(s.name, "a b c d e");
    assert_null(s.state);
    parse("a b 1e400 nan", &s);
    assert_string_equal(s.state, "b");
    assert_null(s.started_at);
    assert_null(s.finished_at);
    parse("a s 99999999999999999999", &s); /* more digits than a time has */
    assert_null(s.finished_at);
    parse("a s 888888888128120", &s); /* after 9999 (fuzz_stagefield) */
    assert_null(s.finished_at);
    parse("a s -1764089294124", &s); /* before 1970 */
    assert_null(s.finished_at);
    parse("a s -1764089294123", &s); /* 1970 itself */
    assert_string_equal(s.finished_at, "1970-01-01T00:00:00.000Z");
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    parse(longname, &s);
    assert_int_equal(strlen(s.name), STAGEFIELD_TEXT_MAX / 2 - 1); /* cut */
}

/* A hash literal's view (field, value, ...; job_hash_get scans it). */
#define VIEW(name, ...)                                                                            \
    static const char *const name##_fv[] = {__VA_ARGS__};                                          \
    struct job_hash name = {name##_fv, NULL, sizeof(name##_fv) / sizeof(name##_fv[0]),             \
                            NULL,      0,    NULL}

static void test_get(void **state)
{
    VIEW(h, "created_at", T0_STR, "started_at", "2025-11-25T16:48:15.000Z", "stage.1", "a s 2000",
         "stage.2", "b s 2500", "stage.3", "c r 3000", "stage.4.name", "d", "stage.4.state",
         "pending", "stage.5", "e r");
    VIEW(no_created, "stage.1", "a s 1764089294123 1764089295123");
    struct stagefield s;
    int64_t base = stagefield_base(&h);

    (void)state;
    assert_int_equal(base, T0);
    assert_true(stagefield_get(&h, 1, base, &s));
    assert_string_equal(s.started_at, "2025-11-25T16:48:15.000Z"); /* the job's started_at */
    assert_string_equal(s.finished_at, "2025-11-25T16:48:16.123Z");
    assert_true(stagefield_get(&h, 2, base, &s));
    assert_string_equal(s.started_at, "2025-11-25T16:48:16.123Z"); /* stage 1's end */
    assert_string_equal(s.finished_at, "2025-11-25T16:48:16.623Z");
    assert_true(stagefield_get(&h, 3, base, &s));
    assert_string_equal(s.started_at, "2025-11-25T16:48:17.123Z");
    assert_null(s.finished_at);
    assert_true(stagefield_get(&h, 4, base, &s)); /* the older layout */
    assert_false(s.is_compact);
    assert_string_equal(s.name, "d");
    assert_string_equal(s.state, "pending");
    assert_true(stagefield_get(&h, 5, base, &s));
    assert_null(s.started_at); /* "=" after a stage without an end: unknown */
    assert_false(stagefield_get(&h, 6, base, &s));
    /* created_at missing: times after the epoch */
    assert_int_equal(stagefield_base(&no_created), 0);
    assert_true(stagefield_get(&no_created, 1, 0, &s));
    assert_string_equal(s.started_at, T0_STR);
    assert_string_equal(s.finished_at, "2025-11-25T16:48:15.123Z");
}

/* The pairs out holds, as "f=v" joined by "|". */
static void joined(const struct rargv *out, char *buf, size_t cap)
{
    size_t i, n = 0;

    buf[0] = '\0';
    for (i = 0; i + 1 < out->argc; i += 2)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s=%s", i ? "|" : "", out->argv[i],
                              out->argv[i + 1]);
}

/* write(sr, want, field, value, ..., NULL): stagefield_run_write of the
 * pairs gives want. */
static void write_is(struct stagefield_run *sr, const char *want, ...)
{
    struct rargv in, out;
    char got[2048];
    const char *f;
    va_list ap;

    rargv_init(&in);
    rargv_init(&out);
    va_start(ap, want);
    while ((f = va_arg(ap, const char *)) != NULL) {
        rargv_add(&in, f);
        rargv_add(&in, va_arg(ap, const char *));
    }
    va_end(ap);
    assert_int_equal(stagefield_run_write(sr, &in, &out), 0);
    joined(&out, got, sizeof(got));
    assert_string_equal(got, want);
    rargv_free(&in);
    rargv_free(&out);
}

#define T10 "2025-11-25T16:48:14.133Z"
#define T20 "2025-11-25T16:48:14.143Z"
#define T30 "2025-11-25T16:48:14.153Z"

static void test_run_write(void **state)
{
    struct sq_err err;
    struct pipeline_set *set = pipeline_set_new_builtin(3600, &err);
    const struct pipeline *demo = pipeline_set_find(set, "demo");
    VIEW(start, "id", "j", "attempt", "1", "stage", "1", "stage.1", "generate r", "created_at",
         T0_STR);
    struct stagefield_run sr;

    (void)state;
    assert_non_null(demo);
    stagefield_run_init(&sr, &start, demo);
    /* stage 1 ends and stage 2 starts, as run.c writes it: one field each */
    write_is(&sr,
             "stage.1.output={}|stage=2|updated_at=" T10
             "|stage.1=generate s 10|stage.2=transform r",
             "stage.1.state", "succeeded", "stage.1.finished_at", T10, "stage.1.output", "{}",
             "stage.2.state", "running", "stage.2.started_at", T10, "stage", "2", "stage_name",
             "transform", "progress", "0.0000", "overall_progress", "0.2500", "message", "",
             "updated_at", T10, NULL);
    stagefield_run_written(&sr);
    /* progress and a message: written */
    write_is(&sr, "updated_at=" T20 "|progress=0.5000|message=half", "progress", "0.5000",
             "overall_progress", "0.3750", "message", "half", "updated_at", T20, NULL);
    stagefield_run_written(&sr);
    /* the next stage: the progress and message it holds go */
    write_is(&sr,
             ".del=progress message|stage.2.output=[]|stage=3|updated_at=" T30
             "|stage.2=transform s 30|stage.3=sort r",
             "stage.2.state", "succeeded", "stage.2.finished_at", T30, "stage.2.output", "[]",
             "stage.3.state", "running", "stage.3.started_at", T30, "stage", "3", "progress",
             "0.0000", "message", "", "updated_at", T30, NULL);
    stagefield_run_written(&sr);
    /* a write not written (stagefield_run_written not called) changes
     * nothing: the job holds no progress, 0 is not written */
    write_is(&sr, "updated_at=" T30 "|progress=0.9000", "progress", "0.9000", "updated_at", T30,
             NULL);
    write_is(&sr, "updated_at=" T30, "progress", "0.0000", "updated_at", T30, NULL);
    /* the end: the last output is the result, finished_at is updated_at,
     * progress 1 of a succeeded job says nothing */
    write_is(&sr,
             "stage.3.output=[]|stage=4|result={\"r\":1}|state=succeeded|updated_at=" T30
             "|stage.3=sort s 30|stage.4=summarize s 30",
             "stage.3.state", "succeeded", "stage.3.finished_at", T30, "stage.3.output", "[]",
             "stage.4.state", "running", "stage.4.started_at", "garbage", "stage", "4",
             "stage.4.started_at", T30, "stage.4.state", "succeeded", "stage.4.finished_at", T30,
             "stage.4.output", "{\"r\":1}", "result", "{\"r\":1}", "progress", "1.0000",
             "overall_progress", "1.0000", "message", "", "state", "succeeded", "next_attempt_at",
             "", "finished_at", T30, "updated_at", T30, NULL);
    /* a retry: stage_name is not stored (the name in stage.<k>), next_attempt_at is */
    write_is(&sr, "state=queued|stage=0|next_attempt_at=" T30, "state", "queued", "stage", "0",
             "stage_name", "", "progress", "0.0000", "next_attempt_at", T30, NULL);
    pipeline_set_free(set);
}

static void test_run_write_kept(void **state)
{
    struct sq_err err;
    struct pipeline_set *set = pipeline_set_new_builtin(3600, &err);
    const struct pipeline *demo = pipeline_set_find(set, "demo");
    /* a reservation (begun later by an end: its start is not this one) */
    VIEW(held, "id", "j", "attempt", "2", "stage", "3", "stage.3", "sort r 500", "reserved", "1",
         "created_at", T0_STR);
    VIEW(held_first, "id", "j", "attempt", "1", "stage", "1", "stage.1", "generate r", "reserved",
         "1", "created_at", T0_STR);
    VIEW(started, "id", "j", "attempt", "2", "stage", "2", "stage.2", "transform r 500",
         "created_at", T0_STR);
    struct stagefield_run sr;

    (void)state;
    stagefield_run_init(&sr, &held, demo);
    write_is(&sr, ".keep=3|stage=4|stage.3=sort s 500 30|stage.4=summarize r", "stage.3.state",
             "succeeded", "stage.3.finished_at", T30, "stage.4.state", "running",
             "stage.4.started_at", T30, "stage", "4", NULL);
    stagefield_run_init(&sr, &held_first, demo); /* "=": the same either way */
    write_is(&sr, "stage.1=generate f 30", "stage.1.state", "failed", "stage.1.finished_at", T30,
             NULL);
    stagefield_run_init(&sr, &started, demo);
    write_is(&sr, "stage.2=transform f 500 30", "stage.2.state", "failed", "stage.2.finished_at",
             T30, NULL);
    /* without its pipeline (the worker has none of that name): the stored
     * name and start are kept */
    stagefield_run_init(&sr, &started, NULL);
    write_is(&sr, ".keep=2|error={}|state=failed|stage.2=- f 500 30", "stage.2.state", "failed",
             "stage.2.finished_at", T30, "error", "{}", "state", "failed", NULL);
    pipeline_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_run_write),
        cmocka_unit_test(test_run_write_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
