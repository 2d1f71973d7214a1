/* Unit tests for shared/job: state names, TTLs, overall progress, the fields
 * of a new job's hash and the status JSON built from a hash. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "clock.h"
#include "job.h"
#include "json.h"
#include "rargv.h"

/* 2025-11-25T16:48:16.000Z in ms since the epoch */
#define T16 1764089296000LL

static void test_state_names(void **state)
{
    static const struct {
        enum job_state s;
        const char *name;
    } all[] = {{JOB_QUEUED, "queued"}, {JOB_RUNNING, "running"},   {JOB_SUCCEEDED, "succeeded"},
               {JOB_FAILED, "failed"}, {JOB_CANCELED, "canceled"}, {JOB_SCHEDULED, "scheduled"}};
    enum job_state s;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        assert_string_equal(job_state_name(all[i].s), all[i].name);
        s = (enum job_state)99;
        assert_int_equal(job_state_parse(all[i].name, &s), 0);
        assert_int_equal(s, all[i].s);
    }
    assert_string_equal(job_state_name((enum job_state)JOB_NSTATES), "unknown");
    assert_string_equal(job_state_name((enum job_state) - 1), "unknown");

    s = JOB_RUNNING;
    assert_int_equal(job_state_parse("unknown", &s), -1);
    assert_int_equal(job_state_parse("", &s), -1);
    assert_int_equal(job_state_parse("Queued", &s), -1);
    assert_int_equal(job_state_parse("queued ", &s), -1);
    assert_int_equal(job_state_parse("cancelled", &s), -1);
    assert_int_equal(job_state_parse(NULL, &s), -1);
    assert_int_equal(s, JOB_RUNNING); /* untouched on failure */
}

static void test_state_is_final(void **state)
{
    (void)state;
    assert_false(job_state_is_final(JOB_QUEUED));
    assert_false(job_state_is_final(JOB_RUNNING));
    assert_true(job_state_is_final(JOB_SUCCEEDED));
    assert_true(job_state_is_final(JOB_FAILED));
    assert_true(job_state_is_final(JOB_CANCELED));
    assert_false(job_state_is_final(JOB_SCHEDULED));
}

/* A scheduled job is shown queued once its run_at has passed. */
static void test_state_shown(void **state)
{
    const char *sched = "scheduled", *q = "queued";

    (void)state;
    assert_string_equal(job_state_shown(sched, "2025-11-25T16:48:16.000Z", T16 - 1), "scheduled");
    assert_string_equal(job_state_shown(sched, "2025-11-25T16:48:16.000Z", T16), "queued");
    assert_string_equal(job_state_shown(sched, "2025-11-25T16:48:16.000Z", T16 + 1), "queued");
    assert_string_equal(job_state_shown(sched, NULL, T16), "queued");
    assert_string_equal(job_state_shown(sched, "garbage", T16), "queued");
    assert_ptr_equal(job_state_shown(q, "2099-01-01T00:00:00.000Z", T16), q);
    assert_string_equal(job_state_shown("running", "2099-01-01T00:00:00.000Z", T16), "running");
    assert_null(job_state_shown(NULL, NULL, T16));
}

static void test_ttl_for(void **state)
{
    (void)state;
    assert_int_equal(job_ttl_for(JOB_QUEUED, 3600), JOB_ACTIVE_TTL_S);
    assert_int_equal(job_ttl_for(JOB_RUNNING, 3600), 604800);
    assert_int_equal(job_ttl_for(JOB_SUCCEEDED, 3600), 3600);
    assert_int_equal(job_ttl_for(JOB_CANCELED, 3600), 3600);
    assert_int_equal(job_ttl_for(JOB_FAILED, 3600), 3600 * JOB_FAILED_TTL_FACTOR);
    assert_int_equal(job_ttl_for(JOB_FAILED, 3600), 25200);
    /* the longest accepted TTL does not overflow once multiplied */
    assert_true(job_ttl_for(JOB_FAILED, JOB_RESULT_TTL_MAX_S) == 220752000LL);
    /* a final state never gets a TTL below one second */
    assert_int_equal(job_ttl_for(JOB_SUCCEEDED, 0), 1);
    assert_int_equal(job_ttl_for(JOB_SUCCEEDED, -5), 1);
    assert_int_equal(job_ttl_for(JOB_FAILED, 0), 7);
}

static void test_overall_progress(void **state)
{
    (void)state;
    assert_true(job_overall_progress(1, 4, 0.5) == 0.125);
    assert_true(job_overall_progress(1, 4, 0.0) == 0.0);
    assert_true(job_overall_progress(3, 4, 0.5) == 0.625);
    assert_true(job_overall_progress(4, 4, 1.0) == 1.0);
    assert_true(job_overall_progress(2, 2, 0.0) == 0.5);
    /* progress outside [0, 1] is clamped before use */
    assert_true(job_overall_progress(2, 4, 1.5) == 0.5);
    assert_true(job_overall_progress(2, 4, -3.0) == 0.25);
    assert_true(job_overall_progress(2, 4, NAN) == 0.25);
    assert_true(job_overall_progress(2, 4, INFINITY) == 0.5);
    /* a stage past the count clamps to 1; nonsense counts give 0 */
    assert_true(job_overall_progress(5, 4, 0.5) == 1.0);
    assert_true(job_overall_progress(1, 0, 0.5) == 0.0);
    assert_true(job_overall_progress(1, -1, 0.5) == 0.0);
    assert_true(job_overall_progress(0, 4, 0.5) == 0.0);
    assert_true(job_overall_progress(-1, 4, 0.5) == 0.0);
}

/* rargv_addll writes integers as "%lld" would, at both ends of the range. */
static void test_rargv_addll(void **state)
{
    static const long long nums[] = {0, 7, -7, 10, 86400, -1000000, LLONG_MAX, LLONG_MIN};
    static const char *const want[] = {
        "0", "7", "-7", "10", "86400", "-1000000", "9223372036854775807", "-9223372036854775808"};
    struct rargv v;
    size_t i;

    (void)state;
    rargv_init(&v);
    for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        assert_int_equal(rargv_addll(&v, nums[i]), 0);
    for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        assert_string_equal(v.argv[i], want[i]);
        assert_int_equal(v.lens[i], strlen(want[i]));
    }
    rargv_free(&v);
}

/* A new job of the compact layout: no id (its key holds it), no progress
 * nor overall_progress, resume only when off, one field per stage. */
static void test_new_fields_demo(void **state)
{
    static const char *const want[] = {
        "HSET",         "stageq:job:job-1", /* what the caller had added before */
        "state",        "queued",
        "input",        "{\"n\":3}",
        "created_at",   "2025-11-25T16:48:14.123Z",
        "updated_at",   "2025-11-25T16:48:14.123Z",
        "pipeline",     "demo",
        "queue",        "fast",
        "attempt",      "0",
        "max_attempts", "1",
        "stage",        "0",
        "stage_count",  "4",
        "result_ttl_s", "7200",
        "stage.1",      "generate pending",
        "stage.2",      "transform pending",
        "stage.3",      "sort pending",
        "stage.4",      "summarize pending",
    };
    struct sq_err err;
    struct pipeline_set *set = pipeline_set_new_builtin(3600, &err);
    const struct pipeline *demo;
    struct pipeline nores;
    struct job_new jn;
    struct rargv v;
    size_t i;

    (void)state;
    assert_non_null(set);
    demo = pipeline_set_find(set, "demo");
    assert_non_null(demo);
    assert_int_equal(demo->nstages, 4);

    memset(&jn, 0, sizeof(jn));
    jn.id = "job-1";
    jn.pipeline = demo;
    jn.queue = "fast";
    jn.input_json = "{\"n\":3}";
    jn.result_ttl_s = 7200;
    jn.now_ms = 1764089294123LL;

    rargv_init(&v);
    assert_int_equal(rargv_add(&v, "HSET"), 0);
    assert_int_equal(rargv_add(&v, "stageq:job:job-1"), 0);
    assert_int_equal(job_new_fields(&v, &jn), 0);
    assert_int_equal(v.is_oom, 0);
    assert_int_equal(v.argc, sizeof(want) / sizeof(want[0]));
    for (i = 0; i < v.argc; i++) {
        if (strcmp(v.argv[i], want[i]) != 0)
            fail_msg("argv[%zu] = '%s', expected '%s'", i, v.argv[i], want[i]);
        assert_int_equal(v.lens[i], strlen(want[i]));
    }
    rargv_free(&v);
    assert_int_equal(v.argc, 0);
    assert_null(v.argv);

    /* a pipeline without resume says so: the only time resume is written */
    nores = *demo;
    nores.is_resume = false;
    jn.pipeline = &nores;
    rargv_init(&v);
    assert_int_equal(job_new_fields(&v, &jn), 0);
    assert_int_equal(v.argc, sizeof(want) / sizeof(want[0])); /* no HSET and key: + resume */
    assert_string_equal(v.argv[22], "resume");
    assert_string_equal(v.argv[23], "0");
    rargv_free(&v);

    /* the one-stage echo pipeline */
    jn.pipeline = pipeline_set_find(set, "echo");
    assert_non_null(jn.pipeline);
    rargv_init(&v);
    assert_int_equal(job_new_fields(&v, &jn), 0);
    assert_int_equal(v.argc, 2 * 11 + 2 * 1);
    assert_string_equal(v.argv[18], "stage_count");
    assert_string_equal(v.argv[19], "1");
    assert_string_equal(v.argv[22], "stage.1");
    assert_string_equal(v.argv[23], "echo pending");
    rargv_free(&v);

    assert_null(pipeline_set_find(set, "nope"));
    pipeline_set_free(set);
    pipeline_set_free(NULL);
    rargv_free(NULL);
}

/* A job due later is written scheduled with its run_at, and its hash lives
 * its active TTL past that time; one due now or before is queued. */
static void test_new_scheduled(void **state)
{
    struct sq_err err;
    struct pipeline_set *set = pipeline_set_new_builtin(60, &err);
    struct job_new jn;
    struct rargv v;
    size_t i;
    bool has_run_at = false;

    (void)state;
    assert_non_null(set);
    memset(&jn, 0, sizeof(jn));
    jn.id = "job-s";
    jn.pipeline = pipeline_set_find(set, "echo");
    assert_non_null(jn.pipeline);
    jn.queue = "default";
    jn.input_json = "null";
    jn.result_ttl_s = 60;
    jn.now_ms = T16;
    jn.due_ms = T16 + 90500;
    assert_true(job_new_is_scheduled(&jn));
    assert_int_equal(job_new_ttl(&jn), JOB_ACTIVE_TTL_S + 91);
    rargv_init(&v);
    assert_int_equal(job_new_fields(&v, &jn), 0);
    for (i = 0; i + 1 < v.argc; i += 2) {
        if (strcmp(v.argv[i], "state") == 0)
            assert_string_equal(v.argv[i + 1], "scheduled");
        if (strcmp(v.argv[i], "run_at") == 0) {
            assert_string_equal(v.argv[i + 1], "2025-11-25T16:49:46.500Z");
            has_run_at = true;
        }
    }
    assert_true(has_run_at);
    rargv_free(&v);
    jn.due_ms = T16; /* due now: queued at once */
    assert_false(job_new_is_scheduled(&jn));
    assert_int_equal(job_new_ttl(&jn), JOB_ACTIVE_TTL_S);
    rargv_init(&v);
    assert_int_equal(job_new_fields(&v, &jn), 0);
    for (i = 0; i + 1 < v.argc; i += 2) {
        assert_string_not_equal(v.argv[i], "run_at");
        if (strcmp(v.argv[i], "state") == 0)
            assert_string_equal(v.argv[i + 1], "queued");
    }
    rargv_free(&v);
    pipeline_set_free(set);
}

/* A hash literal: an array of C strings, field, value, field, value... */
#define HASH(name, ...)                                                                            \
    static const char *const name##_fv[] = {__VA_ARGS__};                                          \
    size_t name##_lens[sizeof(name##_fv) / sizeof(name##_fv[0])];                                  \
    struct job_hash name = {name##_fv, name##_lens, sizeof(name##_fv) / sizeof(name##_fv[0]),      \
                            NULL,      0,           NULL};                                         \
    fill_lens(name##_fv, name##_lens, name.n)

static void fill_lens(const char *const *fv, size_t *lens, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        lens[i] = strlen(fv[i]);
}

/* Prints obj and compares with want. */
static void assert_json(const cJSON *obj, const char *want)
{
    char *out = json_print(obj);
    char copy[2048];

    assert_non_null(out);
    snprintf(copy, sizeof(copy), "%s", out);
    cJSON_free(out);
    if (strcmp(copy, want) != 0)
        fail_msg("got\n%s\nexpected\n%s", copy, want);
}

/* The number member name of o (a number or a raw number item). */
static double num(const cJSON *o, const char *name)
{
    double d = -12345.0;

    assert_int_equal(json_number(json_get(o, name), &d), 0);
    return d;
}

/* o printed and parsed again: what a client reads. */
static cJSON *reparse(const cJSON *o)
{
    char *text = json_print(o);
    cJSON *p;

    assert_non_null(text);
    p = cJSON_Parse(text);
    cJSON_free(text);
    assert_non_null(p);
    return p;
}

static void test_hash_get(void **state)
{
    HASH(h, "id", "j1", "state", "running", "empty", "");

    (void)state;
    assert_string_equal(job_hash_get(&h, "id"), "j1");
    assert_string_equal(job_hash_get(&h, "state"), "running");
    assert_string_equal(job_hash_get(&h, "empty"), "");
    assert_null(job_hash_get(&h, "j1")); /* values are not names */
    assert_null(job_hash_get(&h, "ID"));
    assert_null(job_hash_get(&h, "missing"));
}

/* job_hash_view indexes the fields of an HGETALL reply: every name is found
 * (the first of equal names, as a scan finds it), no value is taken for a
 * name, and an odd or non-string reply is refused. */
static void test_hash_view_index(void **state)
{
    enum { NF = 300 };
    static char names[NF][16], values[NF][16];
    redisReply elems[2 * NF + 2], *ptrs[2 * NF + 2], reply;
    struct job_hash h;
    size_t i;

    (void)state;
    memset(elems, 0, sizeof(elems));
    for (i = 0; i < NF; i++) {
        snprintf(names[i], sizeof(names[i]), "stage.%zu.x", i);
        snprintf(values[i], sizeof(values[i]), "v%zu", i);
        elems[2 * i].type = elems[2 * i + 1].type = REDIS_REPLY_STRING;
        elems[2 * i].str = names[i], elems[2 * i].len = strlen(names[i]);
        elems[2 * i + 1].str = values[i], elems[2 * i + 1].len = strlen(values[i]);
    }
    /* a repeated name at the end: the first one counts */
    elems[2 * NF].type = elems[2 * NF + 1].type = REDIS_REPLY_STRING;
    elems[2 * NF].str = names[7], elems[2 * NF].len = strlen(names[7]);
    elems[2 * NF + 1].str = (char *)"later", elems[2 * NF + 1].len = 5;
    for (i = 0; i < 2 * NF + 2; i++)
        ptrs[i] = &elems[i];
    memset(&reply, 0, sizeof(reply));
    reply.type = REDIS_REPLY_ARRAY;
    reply.elements = 2 * NF + 2;
    reply.element = ptrs;
    assert_int_equal(job_hash_view(&reply, &h), 0);
    assert_non_null(h.slots);
    assert_true(h.nslots > h.n);
    for (i = 0; i < NF; i++)
        assert_string_equal(job_hash_get(&h, names[i]), values[i]);
    assert_string_equal(job_hash_get(&h, "stage.7.x"), "v7");
    assert_null(job_hash_get(&h, "v1"));
    assert_null(job_hash_get(&h, "stage.300.x"));
    assert_null(job_hash_get(&h, ""));
    job_hash_view_free(&h);
    assert_null(h.slots);

    reply.elements = 3; /* odd */
    assert_int_equal(job_hash_view(&reply, &h), -1);
    reply.elements = 4;
    elems[3].type = REDIS_REPLY_INTEGER;
    assert_int_equal(job_hash_view(&reply, &h), -1);
    reply.elements = 0;
    assert_int_equal(job_hash_view(&reply, &h), 0);
    assert_int_equal(h.n, 0);
    assert_null(job_hash_get(&h, "id"));
}

static void test_status_running(void **state)
{
    HASH(h, "id", "j1", "pipeline", "demo", "queue", "default", "state", "running", "attempt", "1",
         "max_attempts", "3", "input", "{\"n\":3,\"s\":\"\xC3\xA9\"}", "stage", "2", "stage_name",
         "transform", "stage_count", "4", "progress", "0.5", "message", "halfway",
         "overall_progress", "0.375", "created_at", "2025-11-25T16:48:14.123Z", "started_at",
         "2025-11-25T16:48:15.000Z", "updated_at", "2025-11-25T16:48:16.500Z", "worker", "w1/3",
         "result_ttl_s", "3600", "stage.1.name", "generate", "stage.1.state", "succeeded",
         "stage.1.started_at", "2025-11-25T16:48:15.000Z", "stage.1.finished_at",
         "2025-11-25T16:48:16.000Z", "stage.1.output", "{\"count\":3,\"items\":[1,2,3]}",
         "stage.2.name", "transform", "stage.2.state", "running", "stage.2.started_at",
         "2025-11-25T16:48:16.000Z", "stage.3.name", "sort", "stage.3.state", "pending",
         "stage.4.name", "summarize", "stage.4.state", "pending");
    cJSON *o, *p;
    const cJSON *v, *stages, *s;

    (void)state;
    o = job_status_json_eta(&h, NULL, 0);
    assert_non_null(o);

    assert_true(num(o, "progress") == 0.5);
    assert_true(num(o, "overall_progress") == 0.375);
    assert_true(num(o, "attempt") == 1.0);
    /* JSON fields go out as their text: what a client reads of them */
    p = reparse(o);
    v = json_get(p, "input");
    assert_true(cJSON_IsObject(v));
    assert_string_equal(cJSON_GetStringValue(json_get(v, "s")), "\xC3\xA9");
    v = json_get(cJSON_GetArrayItem(json_get(p, "stages"), 0), "output");
    assert_true(cJSON_IsObject(v));
    assert_true(json_get(v, "count")->valuedouble == 3.0);
    cJSON_Delete(p);

    stages = json_get(o, "stages");
    assert_true(cJSON_IsArray(stages));
    assert_int_equal(cJSON_GetArraySize(stages), 4);
    s = cJSON_GetArrayItem(stages, 0);
    assert_string_equal(cJSON_GetStringValue(json_get(s, "state")), "succeeded");
    s = cJSON_GetArrayItem(stages, 1);
    assert_string_equal(cJSON_GetStringValue(json_get(s, "name")), "transform");
    assert_string_equal(cJSON_GetStringValue(json_get(s, "state")), "running");
    assert_null(json_get(s, "finished_at")); /* absent, not null */
    assert_null(json_get(s, "output"));

    assert_json(
        o, "{\"id\":\"j1\",\"pipeline\":\"demo\",\"queue\":\"default\",\"state\":\"running\","
           "\"attempt\":1,\"max_attempts\":3,\"stage\":2,\"stage_name\":\"transform\","
           "\"stage_count\":4,\"progress\":0.5,\"message\":\"halfway\","
           "\"overall_progress\":0.375,\"stages\":["
           "{\"name\":\"generate\",\"state\":\"succeeded\","
           "\"started_at\":\"2025-11-25T16:48:15.000Z\","
           "\"finished_at\":\"2025-11-25T16:48:16.000Z\","
           "\"output\":{\"count\":3,\"items\":[1,2,3]}},"
           "{\"name\":\"transform\",\"state\":\"running\","
           "\"started_at\":\"2025-11-25T16:48:16.000Z\"},"
           "{\"name\":\"sort\",\"state\":\"pending\"},"
           "{\"name\":\"summarize\",\"state\":\"pending\"}],"
           "\"input\":{\"n\":3,\"s\":\"\xC3\xA9\"},"
           "\"created_at\":\"2025-11-25T16:48:14.123Z\","
           "\"started_at\":\"2025-11-25T16:48:15.000Z\","
           "\"updated_at\":\"2025-11-25T16:48:16.500Z\",\"finished_at\":null,"
           "\"worker\":\"w1/3\",\"result_ttl_s\":3600,\"result\":null,\"error\":null,"
           "\"errors\":null,\"next_attempt_at\":null,\"run_at\":null,\"resumed_from_stage\":null,"
           "\"next_stage\":null,\"next_stage_name\":null}");
    cJSON_Delete(o);
}

static void test_status_finished(void **state)
{
    HASH(h, "id", "j2", "pipeline", "echo", "queue", "default", "state", "failed", "attempt", "3",
         "max_attempts", "3", "input", "[]", "stage", "1", "stage_name", "echo", "stage_count", "1",
         "progress", "1", "overall_progress", "1", "finished_at", "2025-11-25T16:50:00.000Z",
         "stage.1.name", "echo", "stage.1.state", "failed", "stage.1.output", "not json", "result",
         "{\"sum\":6,\"list\":[1,2,3]}", "error",
         "{\"code\":\"stage_failed\",\"message\":\"boom\",\"stage\":\"echo\"}");
    cJSON *o, *p;

    (void)state;
    o = job_status_json_eta(&h, NULL, 0);
    assert_non_null(o);
    p = reparse(o);
    assert_true(cJSON_IsObject(json_get(p, "result")));
    assert_true(cJSON_IsObject(json_get(p, "error")));
    assert_string_equal(cJSON_GetStringValue(json_get(json_get(p, "error"), "code")),
                        "stage_failed");
    cJSON_Delete(p);
    assert_json(
        o, "{\"id\":\"j2\",\"pipeline\":\"echo\",\"queue\":\"default\",\"state\":\"failed\","
           "\"attempt\":3,\"max_attempts\":3,\"stage\":1,\"stage_name\":\"echo\","
           "\"stage_count\":1,\"progress\":1,\"message\":null,\"overall_progress\":1,"
           "\"stages\":[{\"name\":\"echo\",\"state\":\"failed\",\"output\":\"not json\"}],"
           "\"input\":[],\"created_at\":null,\"started_at\":null,\"updated_at\":null,"
           "\"finished_at\":\"2025-11-25T16:50:00.000Z\",\"worker\":null,"
           "\"result_ttl_s\":null,\"result\":{\"sum\":6,\"list\":[1,2,3]},"
           "\"error\":{\"code\":\"stage_failed\",\"message\":\"boom\",\"stage\":\"echo\"},"
           "\"errors\":null,\"next_attempt_at\":null,\"run_at\":null,\"resumed_from_stage\":null,"
           "\"next_stage\":null,\"next_stage_name\":null}");
    cJSON_Delete(o);
}

/* The value of field in a field, value vector from index from; NULL when absent. */
static const char *fields_value(const struct rargv *v, size_t from, const char *field)
{
    size_t i;

    for (i = from; i + 1 < v->argc; i += 2)
        if (strcmp(v->argv[i], field) == 0)
            return v->argv[i + 1];
    return NULL;
}

/* A pipeline whose stages name queues: the job waits on its first stage's
 * queue, and its hash holds every stage's (the submit's queue for the
 * stages that name none). */
static void test_new_fields_routed(void **state)
{
    static const char text[] = "{\"pipelines\": {\"train\": {\"queue\": \"cpu\", \"stages\": ["
                               "{\"name\": \"prep\", \"builtin\": \"echo\", \"queue\": \"io\"},"
                               "{\"name\": \"fit\", \"builtin\": \"echo\", \"queue\": \"gpu\"},"
                               "{\"name\": \"pack\", \"builtin\": \"echo\"}]}}}";
    struct sq_err err;
    struct pipeline_set *set = pipeline_set_parse(text, strlen(text), "t", false, 60, &err);
    struct job_new jn;
    struct rargv v;

    (void)state;
    assert_non_null(set);
    memset(&jn, 0, sizeof(jn));
    jn.id = "j";
    jn.pipeline = pipeline_set_find(set, "train");
    jn.queue = "home";
    jn.input_json = "1";
    rargv_init(&v);
    assert_int_equal(job_new_fields(&v, &jn), 0);
    assert_string_equal(fields_value(&v, 0, "queue"), "io");
    assert_string_equal(fields_value(&v, 0, "stage.1.queue"), "io");
    assert_string_equal(fields_value(&v, 0, "stage.2.queue"), "gpu");
    assert_string_equal(fields_value(&v, 0, "stage.3.queue"), "home");
    rargv_free(&v);
    /* the others keep no stage queue */
    jn.pipeline = pipeline_set_find(set, "echo");
    rargv_init(&v);
    assert_int_equal(job_new_fields(&v, &jn), 0);
    assert_string_equal(fields_value(&v, 0, "queue"), "home");
    assert_null(fields_value(&v, 0, "stage.1.queue"));
    rargv_free(&v);
    pipeline_set_free(set);
}

/* A job its stage before handed over to another queue (hop.lua): queued
 * there, stage 1 done, waiting for stage 2; every stage shows its queue. */
static void test_status_waiting_at_hop(void **state)
{
    HASH(h, "id", "j5", "pipeline", "train", "queue", "gpu", "state", "queued", "attempt", "1",
         "stage", "1", "stage_name", "prep", "stage_count", "3", "next_stage", "2", "stage.1.name",
         "prep", "stage.1.state", "succeeded", "stage.1.queue", "cpu", "stage.2.name", "fit",
         "stage.2.state", "pending", "stage.2.queue", "gpu", "stage.3.name", "pack",
         "stage.3.state", "pending", "stage.3.queue", "cpu");
    HASH(canceled, "id", "j6", "state", "canceled", "stage_count", "2", "next_stage", "2",
         "stage.1.name", "a", "stage.2.name", "b");
    HASH(bad, "id", "j7", "state", "queued", "stage_count", "2", "next_stage", "9", "stage.1.name",
         "a", "stage.2.name", "b");
    cJSON *o, *p;

    (void)state;
    o = job_status_json_eta(&h, NULL, 0);
    assert_non_null(o);
    p = reparse(o);
    assert_string_equal(cJSON_GetStringValue(json_get(p, "queue")), "gpu");
    assert_int_equal(json_get(p, "next_stage")->valueint, 2);
    assert_string_equal(cJSON_GetStringValue(json_get(p, "next_stage_name")), "fit");
    assert_string_equal(
        cJSON_GetStringValue(json_get(cJSON_GetArrayItem(json_get(p, "stages"), 1), "queue")),
        "gpu");
    assert_string_equal(
        cJSON_GetStringValue(json_get(cJSON_GetArrayItem(json_get(p, "stages"), 2), "queue")),
        "cpu");
    cJSON_Delete(p);
    cJSON_Delete(o);
    /* only a queued job waits for it; a garbage stage number is no stage */
    o = job_status_json_eta(&canceled, NULL, 0);
    p = reparse(o);
    assert_true(cJSON_IsNull(json_get(p, "next_stage")));
    assert_true(cJSON_IsNull(json_get(p, "next_stage_name")));
    assert_null(json_get(cJSON_GetArrayItem(json_get(p, "stages"), 0), "queue"));
    cJSON_Delete(p);
    cJSON_Delete(o);
    o = job_status_json_eta(&bad, NULL, 0);
    p = reparse(o);
    assert_true(cJSON_IsNull(json_get(p, "next_stage")));
    cJSON_Delete(p);
    cJSON_Delete(o);
}

static void test_status_missing_and_odd(void **state)
{
    HASH(minimal, "id", "j3");
    HASH(odd, "id", "j4", "attempt", "x1", "max_attempts", "", "progress", "half", "stage_count",
         "2", "stage.2.name", "b", "message", "", "input", "{broken", "result_ttl_s",
         "99999999999999999999");
    cJSON *o;

    (void)state;
    o = job_status_json_eta(&minimal, NULL, 0);
    assert_non_null(o);
    assert_json(
        o, "{\"id\":\"j3\",\"pipeline\":null,\"queue\":null,\"state\":null,"
           "\"attempt\":null,\"max_attempts\":null,\"stage\":null,\"stage_name\":null,"
           "\"stage_count\":null,\"progress\":null,\"message\":null,"
           "\"overall_progress\":null,\"stages\":[],\"input\":null,\"created_at\":null,"
           "\"started_at\":null,\"updated_at\":null,\"finished_at\":null,"
           "\"worker\":null,\"result_ttl_s\":null,\"result\":null,\"error\":null,"
           "\"errors\":null,\"next_attempt_at\":null,\"run_at\":null,\"resumed_from_stage\":null,"
           "\"next_stage\":null,\"next_stage_name\":null}");
    cJSON_Delete(o);

    o = job_status_json_eta(&odd, NULL, 0);
    assert_non_null(o);
    /* a non-numeric attempt stays a string; an empty one is null */
    assert_true(cJSON_IsString(json_get(o, "attempt")));
    assert_string_equal(cJSON_GetStringValue(json_get(o, "attempt")), "x1");
    assert_true(cJSON_IsNull(json_get(o, "max_attempts")));
    assert_string_equal(cJSON_GetStringValue(json_get(o, "progress")), "half");
    assert_true(cJSON_IsNull(json_get(o, "message")));
    assert_string_equal(cJSON_GetStringValue(json_get(o, "input")), "{broken");
    assert_string_equal(cJSON_GetStringValue(json_get(o, "result_ttl_s")), "99999999999999999999");
    /* stages without fields: name null, state pending */
    assert_json(json_get(o, "stages"),
                "[{\"name\":null,\"state\":\"pending\"},{\"name\":\"b\",\"state\":\"pending\"}]");
    cJSON_Delete(o);
}

static void test_status_empty(void **state)
{
    struct job_hash h = {NULL, NULL, 0, NULL, 0, NULL};
    static const char *const one[] = {"id"};
    size_t lens[1] = {2};
    struct job_hash odd = {one, lens, 1, NULL, 0, NULL};

    (void)state;
    assert_null(job_status_json_eta(&h, NULL, 0));
    assert_null(job_status_json_eta(NULL, NULL, 0));
    assert_null(job_status_json_eta(&odd, NULL, 0));
}

static void test_status_stage_count_bounds(void **state)
{
    HASH(neg, "id", "j5", "stage_count", "-3");
    HASH(big, "id", "j6", "stage_count", "100000");
    cJSON *o;

    (void)state;
    o = job_status_json_eta(&neg, NULL, 0);
    assert_non_null(o);
    assert_int_equal(cJSON_GetArraySize(json_get(o, "stages")), 0);
    cJSON_Delete(o);
    o = job_status_json_eta(&big, NULL, 0);
    assert_non_null(o);
    assert_int_equal(cJSON_GetArraySize(json_get(o, "stages")), PIPELINE_MAX_STAGES);
    cJSON_Delete(o);
}

static void test_rfc3339_parse(void **state)
{
    char buf[CLOCK_RFC3339_LEN];
    int64_t ms = 0;

    (void)state;
    assert_int_equal(clock_parse_rfc3339("2025-11-25T16:48:16.000Z", &ms), 0);
    assert_true(ms == T16);
    assert_int_equal(clock_parse_rfc3339("2025-11-25T16:48:16Z", &ms), 0);
    assert_true(ms == T16);
    clock_format_rfc3339(T16 + 1234, buf);
    assert_int_equal(clock_parse_rfc3339(buf, &ms), 0);
    assert_true(ms == T16 + 1234);
    assert_int_equal(clock_parse_rfc3339("2025-11-25 16:48:16Z", &ms), -1);
    assert_int_equal(clock_parse_rfc3339("2025-11-25T16:48:16.5Z", &ms), -1);
    assert_int_equal(clock_parse_rfc3339("2025-11-25T16:48:16.000", &ms), -1);
    assert_int_equal(clock_parse_rfc3339("2025-13-25T16:48:16.000Z", &ms), -1);
    assert_int_equal(clock_parse_rfc3339("", &ms), -1);
    assert_int_equal(clock_parse_rfc3339(NULL, &ms), -1);
}

/* A client's RFC 3339 time (run_at): offsets, any fraction, real dates. */
static void test_rfc3339_parse_any(void **state)
{
    static const struct {
        const char *text;
        int64_t ms; /* -1: refused */
    } cases[] = {
        {"2025-11-25T16:48:16Z", T16},
        {"2025-11-25t16:48:16z", T16},
        {"2025-11-25T16:48:16.000Z", T16},
        {"2025-11-25T16:48:16.5Z", T16 + 500},
        {"2025-11-25T16:48:16.123456789Z", T16 + 123},
        {"2025-11-25T17:48:16+01:00", T16},
        {"2025-11-25T11:18:16.250-05:30", T16 + 250},
        {"2025-11-25T16:48:16+00:00", T16},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:30:00+01:00", -1}, /* before the epoch */
        {"2025-02-29T00:00:00Z", -1},      /* no such day */
        {"2025-04-31T00:00:00Z", -1},
        {"2025-11-25T24:00:00Z", -1},
        {"2025-11-25T16:48:16", -1},
        {"2025-11-25 16:48:16Z", -1},
        {"2025-11-25T16:48:16.Z", -1},
        {"2025-11-25T16:48:16+0100", -1},
        {"2025-11-25T16:48:16+01:00x", -1},
        {"2025-11-25T16:48:16+24:00", -1},
        {"2025-11-25T16:48:16Zx", -1},
        {"2025-11-25", -1},
        {"", -1},
        {"tomorrow", -1},
    };
    size_t i;
    int64_t ms;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ms = 42;
        if (cases[i].ms < 0) {
            assert_int_equal(clock_parse_rfc3339_any(cases[i].text, &ms), -1);
            assert_true(ms == 42);
        } else {
            assert_int_equal(clock_parse_rfc3339_any(cases[i].text, &ms), 0);
            assert_true(ms == cases[i].ms);
        }
    }
    assert_int_equal(clock_parse_rfc3339_any(NULL, &ms), -1);
}

/* The sscanf + timegm parser clock_parse_rfc3339 had before it parsed the
 * digits itself: the reference its answers are compared with. */
static int old_parse_rfc3339(const char *s, int64_t *ms)
{
    unsigned y, mo, d, h, mi, sec, frac = 0;
    int n = 0, nf = 0;
    struct tm tm;
    time_t t;

    if (s == NULL || sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2u%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return -1;
    s += n;
    if (*s == '.') {
        if (sscanf(s + 1, "%3u%n", &frac, &nf) != 1 || nf != 3)
            return -1;
        s += 1 + nf;
    }
    if (strcmp(s, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (int)y - 1900;
    tm.tm_mon = (int)mo - 1;
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)h;
    tm.tm_min = (int)mi;
    tm.tm_sec = (int)sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = (int64_t)t * 1000 + frac;
    return 0;
}

/* s parses (or not) as the old parser parsed it, to the same value. */
static void assert_parse_as_before(const char *s)
{
    int64_t a = -7, b = -7;
    int ra = clock_parse_rfc3339(s, &a), rb = old_parse_rfc3339(s, &b);

    if (ra != rb || a != b)
        fail_msg("\"%s\": %d %lld, before %d %lld", s, ra, (long long)a, rb, (long long)b);
}

/* The gmtime_r + snprintf formatter clock_format_rfc3339 had before it
 * wrote the digits itself: the new one must write the same bytes. */
static void old_format_rfc3339(int64_t ms, char out[CLOCK_RFC3339_LEN])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    if (ms < 0)
        secs = 0, ms = 0;
    assert_non_null(gmtime_r(&secs, &tm));
    snprintf(out, CLOCK_RFC3339_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)(ms % 1000) % 1000u);
}

static void assert_format_as_before(int64_t ms)
{
    char a[CLOCK_RFC3339_LEN], b[CLOCK_RFC3339_LEN];

    memset(a, 'x', sizeof(a));
    clock_format_rfc3339(ms, a);
    old_format_rfc3339(ms, b);
    if (memcmp(a, b, sizeof(a)) != 0)
        fail_msg("%lld: \"%.*s\", want \"%s\"", (long long)ms, (int)sizeof(a), a, b);
}

static void test_rfc3339_format(void **state)
{
    static const int64_t edges[] = {
        INT64_MIN,        -86400001, -1,           0, 1, 999, 1000,
        86399999,         86400000,  951782400000, /* 2000-02-29 */
        4107542399999,                             /* 2100-02-28T23:59:59.999 */
        4107542400000,                             /* 2100-03-01 (no 29th) */
        253402300799999,                           /* 9999-12-31T23:59:59.999 */
        253402300800000,                           /* 10000-01-01: the year modulo 10,000 */
        (int64_t)1 << 50, INT64_MAX,               /* year 292,278,994 */
    };
    uint64_t x = 88172645463325252ULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        assert_format_as_before(edges[i]);
    for (i = 0; i < 200000; i++) { /* xorshift: times over ~ 35,000 years */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        assert_format_as_before((int64_t)(x % (1ULL << 50)));
        assert_format_as_before((int64_t)(x % 4102444800000ULL)); /* up to 2100 */
    }
}

static void test_rfc3339_edges(void **state)
{
    static const struct {
        const char *s;
        int rc;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"1970-01-01T00:00:00.000Z", 0, 0},
        {"1970-01-01T00:00:00.001Z", 0, 1},
        {"1970-01-01T23:59:59.999Z", 0, 86399999},
        {"1970-01-02T00:00:00Z", 0, 86400000},
        {"1972-02-29T00:00:00Z", 0, 68169600000LL},  /* the first leap day */
        {"2000-02-29T12:00:00Z", 0, 951825600000LL}, /* 2000: divisible by 400 */
        {"2000-03-01T00:00:00Z", 0, 951868800000LL},
        {"2024-02-29T23:59:59.999Z", 0, 1709251199999LL},
        {"2025-12-31T23:59:59Z", 0, 1767225599000LL},
        {"2100-03-01T00:00:00Z", 0, 4107542400000LL}, /* 2100 is no leap year */
        {"9999-12-31T23:59:59.999Z", 0, 253402300799999LL},
        /* out-of-month days and second 60 run on, as timegm ran them */
        {"2025-02-29T00:00:00Z", 0, 1740787200000LL}, /* = 2025-03-01 */
        {"2025-04-31T00:00:00Z", 0, 1746057600000LL}, /* = 2025-05-01 */
        {"2016-12-31T23:59:60Z", 0, 1483228800000LL}, /* = 2017-01-01T00:00:00 */
        {"1969-12-31T23:59:59Z", -1, 0},
        {"0000-01-01T00:00:00Z", -1, 0},
        {"2025-00-10T00:00:00Z", -1, 0},
        {"2025-13-10T00:00:00Z", -1, 0},
        {"2025-01-00T00:00:00Z", -1, 0},
        {"2025-01-32T00:00:00Z", -1, 0},
        {"2025-01-01T24:00:00Z", -1, 0},
        {"2025-01-01T00:60:00Z", -1, 0},
        {"2025-01-01T00:00:61Z", -1, 0},
        {"2025-01-01T00:00:00", -1, 0},
        {"2025-01-01T00:00:00z", -1, 0},
        {"2025-01-01T00:00:00ZZ", -1, 0},
        {"2025-01-01T00:00:00Z ", -1, 0},
        {"2025-01-01T00:00:00+00:00", -1, 0},
        {"2025-01-01t00:00:00Z", -1, 0},
        {"2025/01/01T00:00:00Z", -1, 0},
        {"2025-01-01T00-00:00Z", -1, 0},
        {"2025-1-01T00:00:00Z", -1, 0},
        {"25-01-01T00:00:00Z", -1, 0},
        {"20250-01-01T00:00:00Z", -1, 0},
        {"2a25-01-01T00:00:00Z", -1, 0},
        {"2025-0x-01T00:00:00Z", -1, 0},
        {"2025-01-01T00:00:0aZ", -1, 0},
        {"2025-01-01T00:00:00.Z", -1, 0},
        {"2025-01-01T00:00:00.1Z", -1, 0},
        {"2025-01-01T00:00:00.12Z", -1, 0},
        {"2025-01-01T00:00:00.1234Z", -1, 0},
        {"2025-01-01T00:00:00.12aZ", -1, 0},
        {"2025-01-01T00:00:00.123", -1, 0},
        {"2025-01-01T00:00:00,123Z", -1, 0},
        {"2025-01-01", -1, 0},
        {"Z", -1, 0},
    };
    char buf[CLOCK_RFC3339_LEN + 8];
    int64_t ms, t;
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ms = -7;
        if (clock_parse_rfc3339(cases[i].s, &ms) != cases[i].rc)
            fail_msg("\"%s\": want %d", cases[i].s, cases[i].rc);
        if (cases[i].rc == 0 && ms != cases[i].ms)
            fail_msg("\"%s\": %lld, want %lld", cases[i].s, (long long)ms, (long long)cases[i].ms);
        assert_parse_as_before(cases[i].s);
    }
    /* every day from 1970 into 2404 (two 400-year cycles' worth of leap
     * rules), at a time that moves through the day, as before */
    for (t = 0; t < 13600LL * 86400000; t += 86400000 + 3723001) {
        clock_format_rfc3339(t, buf);
        assert_int_equal(clock_parse_rfc3339(buf, &ms), 0);
        assert_true(ms == t);
        assert_parse_as_before(buf);
    }
    /* every byte at every position of a valid time, and every cut */
    for (i = 0; i < 24; i++) {
        for (j = 0; j < 256; j++) {
            snprintf(buf, sizeof(buf), "2024-02-29T12:34:56.789Z");
            buf[i] = (char)j;
            if ((j >= '0' && j <= '9') || isspace((int)j) || j == '+' || j == '-')
                continue; /* other digits: other times; blanks and signs: below */
            assert_parse_as_before(buf);
        }
        snprintf(buf, sizeof(buf), "2024-02-29T12:34:56.789Z");
        buf[i] = '\0';
        assert_parse_as_before(buf);
    }
    /* sscanf's %u let white space or a sign stand in for a digit; only
     * digits are accepted now */
    assert_int_equal(old_parse_rfc3339("2025-01- 1T00:00:00Z", &ms), 0);
    assert_int_equal(clock_parse_rfc3339("2025-01- 1T00:00:00Z", &ms), -1);
    assert_int_equal(old_parse_rfc3339("2025-01-01T+1:00:00Z", &ms), 0);
    assert_int_equal(clock_parse_rfc3339("2025-01-01T+1:00:00Z", &ms), -1);
    assert_int_equal(old_parse_rfc3339("2025-01-01T00:00:00. 12Z", &ms), 0);
    assert_int_equal(clock_parse_rfc3339("2025-01-01T00:00:00. 12Z", &ms), -1);
    assert_int_equal(clock_parse_rfc3339("2025-01-01T00:00:00.-12Z", &ms), -1);
}

static void eta_set(struct job_eta *eta, long long m1, long long m2, long long m3)
{
    int k;

    for (k = 0; k <= PIPELINE_MAX_STAGES; k++)
        eta->mean_ms[k] = -1;
    eta->mean_ms[1] = m1;
    eta->mean_ms[2] = m2;
    eta->mean_ms[3] = m3;
}

static void test_eta_running(void **state)
{
    HASH(h, "id", "j1", "pipeline", "p", "state", "running", "stage", "2", "stage_count", "3",
         "progress", "0.25", "stage.1.state", "succeeded", "stage.1.started_at",
         "2025-11-25T16:48:14.000Z", "stage.1.finished_at", "2025-11-25T16:48:16.000Z",
         "stage.2.state", "running", "stage.2.started_at", "2025-11-25T16:48:16.000Z",
         "stage.3.state", "pending");
    struct job_eta eta;
    cJSON *o;
    const cJSON *stages;

    (void)state;
    eta_set(&eta, 2000, 4000, 3000);
    /* 1 s into stage 2 (mean 4 s) at 25 %: history says 3 s left, the rate
     * says 3 s left: 3 s; then stage 3's mean 3 s */
    o = job_status_json_eta(&h, &eta, T16 + 1000);
    assert_non_null(o);
    assert_true(fabs(num(o, "stage_eta_s") - 3.0) < 1e-9);
    assert_true(fabs(num(o, "eta_s") - 6.0) < 1e-9);
    stages = json_get(o, "stages");
    assert_true(fabs(num(cJSON_GetArrayItem(stages, 0), "duration_s") - 2.0) < 1e-9);
    assert_true(fabs(num(cJSON_GetArrayItem(stages, 0), "expected_s") - 2.0) < 1e-9);
    assert_true(fabs(num(cJSON_GetArrayItem(stages, 1), "elapsed_s") - 1.0) < 1e-9);
    assert_null(json_get(cJSON_GetArrayItem(stages, 1), "duration_s"));
    assert_true(fabs(num(cJSON_GetArrayItem(stages, 2), "expected_s") - 3.0) < 1e-9);
    cJSON_Delete(o);

    /* 6 s in, past the mean, 25 %: history says 0, the rate 18 s: blended
     * 0.25 * 18 = 4.5 s */
    o = job_status_json_eta(&h, &eta, T16 + 6000);
    assert_true(fabs(num(o, "stage_eta_s") - 4.5) < 1e-9);
    assert_true(fabs(num(o, "eta_s") - 7.5) < 1e-9);
    cJSON_Delete(o);

    /* no history for a stage still to run: the job's estimate is null */
    eta.mean_ms[3] = -1;
    o = job_status_json_eta(&h, &eta, T16 + 1000);
    assert_true(fabs(num(o, "stage_eta_s") - 3.0) < 1e-9);
    assert_true(cJSON_IsNull(json_get(o, "eta_s")));
    assert_true(cJSON_IsNull(json_get(cJSON_GetArrayItem(json_get(o, "stages"), 2), "expected_s")));
    cJSON_Delete(o);

    /* no history at all */
    o = job_status_json_eta(&h, NULL, T16 + 1000);
    assert_true(cJSON_IsNull(json_get(o, "stage_eta_s")));
    assert_true(cJSON_IsNull(json_get(o, "eta_s")));
    cJSON_Delete(o);

    /* job_status_json has no estimates */
    o = job_status_json_eta(&h, NULL, 0);
    assert_null(json_get(o, "eta_s"));
    cJSON_Delete(o);
}

static void test_eta_queued_and_final(void **state)
{
    HASH(q, "id", "j1", "pipeline", "p", "state", "queued", "stage", "0", "stage_count", "3",
         "stage.1.state", "pending", "stage.2.state", "pending", "stage.3.state", "pending");
    /* a retry that resumes: stage 1 already succeeded */
    HASH(r, "id", "j1", "pipeline", "p", "state", "queued", "stage", "0", "stage_count", "3",
         "stage.1.state", "succeeded", "stage.2.state", "pending", "stage.3.state", "pending");
    HASH(d, "id", "j1", "pipeline", "p", "state", "succeeded", "stage", "3", "stage_count", "3");
    struct job_eta eta;
    cJSON *o;

    (void)state;
    eta_set(&eta, 2000, 4000, 3000);
    o = job_status_json_eta(&q, &eta, T16);
    assert_true(cJSON_IsNull(json_get(o, "stage_eta_s")));
    assert_true(fabs(num(o, "eta_s") - 9.0) < 1e-9);
    cJSON_Delete(o);
    o = job_status_json_eta(&r, &eta, T16);
    assert_true(fabs(num(o, "eta_s") - 7.0) < 1e-9);
    cJSON_Delete(o);
    o = job_status_json_eta(&d, &eta, T16);
    assert_true(num(o, "eta_s") == 0.0);
    assert_true(num(o, "stage_eta_s") == 0.0);
    cJSON_Delete(o);
}

/* What the status showed for a number field before numbers became raw text:
 * strtod/strtoll into a cJSON number, or the text as a string. */
static cJSON *old_number_item(const char *v, bool is_int)
{
    char *end;
    double d;

    errno = 0;
    d = is_int ? (double)strtoll(v, &end, 10) : strtod(v, &end);
    if ((is_int && errno != 0) || *end != '\0' || d != d)
        return cJSON_CreateString(v);
    return cJSON_CreateNumber(d);
}

/* Numbers kept as their stored text print as the same value as before, in
 * the same text for the forms stageq writes ("%.4f", integers); text that is
 * not a whole number to num.h (a sign, a space, hex, out of range: a field
 * edited by hand) is shown as the string it is. */
static void test_status_number_text(void **state)
{
    static const struct {
        const char *v, *progress, *attempt; /* NULL: any text of the same value */
    } cases[] = {
        {"0.2500", "0.25", NULL},
        {"1.0000", "1", NULL},
        {"0.0000", "0", NULL},
        {"0.3750", "0.375", NULL},
        {"0", "0", "0"},
        {"3", "3", "3"},
        {"-2", "-2", "-2"},
        {"12.5", "12.5", "\"12.5\""},
        {"-0", "-0", "0"},
        {"-0.0", "-0", "\"-0.0\""},
        {"007", "7", "7"},
        {"+1", "\"+1\"", "\"+1\""}, /* not numbers to num.h: shown as they are */
        {" 1", "\" 1\"", "\" 1\""},
        {"1e3", "1000", "\"1e3\""},
        {"1.5e-7", NULL, "\"1.5e-7\""},
        {"0.00001", NULL, "\"0.00001\""},
        {"123456789012345", "123456789012345", "123456789012345"},
        {"1234567890123456", NULL, NULL},
        {"99999999999999999999", NULL, "\"99999999999999999999\""},
        {"0.1234567890123456789", NULL, "\"0.1234567890123456789\""},
        {"1.", NULL, "\"1.\""},
        {".5", "\".5\"", "\".5\""},
        {"-", "\"-\"", "\"-\""},
        {"1e999", "\"1e999\"", "\"1e999\""},
        {"nan", "\"nan\"", "\"nan\""},
        {"0x10", "\"0x10\"", "\"0x10\""},
        {"half", "\"half\"", "\"half\""},
    };
    const char *fv[6];
    size_t lens[6] = {0}, i;
    struct job_hash h = {fv, lens, 6, NULL, 0, NULL};
    cJSON *o, *printed, *ref;
    char *text;
    const cJSON *got;
    int f;

    (void)state;
    fv[0] = "id", fv[1] = "j1", fv[2] = "progress", fv[4] = "attempt";
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fv[3] = fv[5] = cases[i].v;
        o = job_status_json_eta(&h, NULL, 0);
        assert_non_null(o);
        text = json_print(o);
        assert_non_null(text);
        printed = cJSON_Parse(text); /* what a client reads */
        assert_non_null(printed);
        for (f = 0; f < 2; f++) {
            const char *name = f == 0 ? "progress" : "attempt";
            const char *same = f == 0 ? cases[i].progress : cases[i].attempt;

            ref = old_number_item(cases[i].v, f == 1);
            assert_non_null(ref);
            got = json_get(printed, name);
            assert_non_null(got);
            if (same != NULL && same[0] == '"') { /* garbage: the text, as stored */
                assert_true(cJSON_IsString(got));
                assert_string_equal(got->valuestring, cases[i].v);
            } else if (cJSON_IsNumber(ref) && !isinf(ref->valuedouble)) {
                if (!cJSON_IsNumber(got) || got->valuedouble != ref->valuedouble)
                    fail_msg("\"%s\" as %s: %s", cases[i].v, name, text);
            } else if (cJSON_IsNumber(ref)) { /* infinite: cJSON printed null */
                assert_true(cJSON_IsNull(got));
            } else {
                assert_true(cJSON_IsString(got));
                assert_string_equal(got->valuestring, ref->valuestring);
            }
            if (same != NULL) {
                char *one = cJSON_PrintUnformatted(json_get(o, name));

                assert_non_null(one);
                if (strcmp(one, same) != 0)
                    fail_msg("\"%s\" as %s printed %s, want %s", cases[i].v, name, one, same);
                cJSON_free(one);
            }
            cJSON_Delete(ref);
        }
        cJSON_Delete(printed);
        cJSON_free(text);
        cJSON_Delete(o);
    }
}

/* JSON fields read as before: objects and arrays out as their text, other
 * values as items, text cJSON takes only leniently as its tree, and text
 * that does not parse as a string. */
static void test_status_json_fields(void **state)
{
    static const struct {
        const char *v, *printed;
    } cases[] = {
        {"{\"n\":1,\"s\":\"bench\"}", "{\"n\":1,\"s\":\"bench\"}"},
        {"[1,2,[3]]", "[1,2,[3]]"},
        {"[1, 2]", "[1, 2]"}, /* valid as it stands: kept */
        {"{}", "{}"},
        {"null", "null"},
        {"\"text\"", "\"text\""},
        {"5", "5"},
        {"true", "true"},
        {"{\"a\":1}xyz", "{\"a\":1}"}, /* cJSON ignores what follows */
        {"[01]", "[1]"},               /* not JSON as it stands: printed from the tree */
        {"{\"a\":1.}", "{\"a\":1}"},
        {"[1.5e3,-0.25]", "[1.5e3,-0.25]"},
        {"{broken", "\"{broken\""},
        {"[1,2", "\"[1,2\""},
    };
    const char *fv[4];
    size_t lens[4] = {0}, i;
    struct job_hash h = {fv, lens, 4, NULL, 0, NULL};
    cJSON *o, *p, *old;
    char *one;

    (void)state;
    fv[0] = "id", fv[1] = "j1", fv[2] = "result";
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fv[3] = cases[i].v;
        o = job_status_json_eta(&h, NULL, 0);
        assert_non_null(o);
        one = cJSON_PrintUnformatted(json_get(o, "result"));
        assert_non_null(one);
        if (strcmp(one, cases[i].printed) != 0)
            fail_msg("\"%s\" printed %s, want %s", cases[i].v, one, cases[i].printed);
        cJSON_free(one);
        /* the same value as the tree it was shown as before */
        old = cJSON_Parse(cases[i].v);
        if (old == NULL)
            old = cJSON_CreateString(cases[i].v);
        p = reparse(o);
        assert_true(cJSON_Compare(json_get(p, "result"), old, true));
        /* null stays a null item: the blog's result skips it */
        assert_true(cJSON_IsNull(json_get(o, "result")) == cJSON_IsNull(old));
        cJSON_Delete(old);
        cJSON_Delete(p);
        cJSON_Delete(o);
    }
}

/* The result, the last stage's output again, is checked once: it goes out
 * as that output went. */
static void test_status_result_is_last_output(void **state)
{
    static const struct {
        const char *v, *printed;
    } cases[] = {
        {"{\"n\":1}", "{\"n\":1}"},
        {"[01]", "[1]"},
        {"{broken", "\"{broken\""},
        {"7", "7"},
    };
    const char *fv[12];
    size_t lens[12] = {0}, i;
    struct job_hash h = {fv, lens, 12, NULL, 0, NULL};
    cJSON *o;
    char *one;

    (void)state;
    fv[0] = "id", fv[1] = "j1", fv[2] = "stage_count", fv[3] = "2";
    fv[4] = "stage.1.output", fv[5] = "{\"first\":true}", fv[6] = "stage.2.output";
    fv[8] = "result", fv[10] = "input", fv[11] = "[1,2]";
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fv[7] = fv[9] = cases[i].v;
        o = job_status_json_eta(&h, NULL, 0);
        assert_non_null(o);
        one = cJSON_PrintUnformatted(json_get(o, "result"));
        assert_non_null(one);
        if (strcmp(one, cases[i].printed) != 0)
            fail_msg("\"%s\" printed %s, want %s", cases[i].v, one, cases[i].printed);
        cJSON_free(one);
        cJSON_Delete(o);
    }
    /* a result unlike the last output is checked itself */
    fv[7] = "{\"n\":1}", fv[9] = "[01]";
    o = job_status_json_eta(&h, NULL, 0);
    assert_json(json_get(o, "result"), "[1]");
    cJSON_Delete(o);
    fv[9] = "{\"first\":true}"; /* the first stage's output: not taken as checked */
    o = job_status_json_eta(&h, NULL, 0);
    assert_json(json_get(o, "result"), "{\"first\":true}");
    cJSON_Delete(o);
}

/* Durations print as "%1.15g" printed ms / 1000.0. */
static void test_status_seconds_text(void **state)
{
    HASH(h, "id", "j1", "state", "succeeded", "stage_count", "4", "stage.1.state", "succeeded",
         "stage.1.started_at", "2025-11-25T16:48:14.000Z", "stage.1.finished_at",
         "2025-11-25T16:48:14.002Z", "stage.2.state", "succeeded", "stage.2.started_at",
         "2025-11-25T16:48:14.000Z", "stage.2.finished_at", "2025-11-25T16:48:15.500Z",
         "stage.3.state", "succeeded", "stage.3.started_at", "2025-11-25T16:48:14.000Z",
         "stage.3.finished_at", "2025-11-25T16:48:14.000Z", "stage.4.state", "succeeded",
         "stage.4.started_at", "2025-11-24T16:48:14.000Z", "stage.4.finished_at",
         "2025-11-25T16:48:14.120Z");
    static const int64_t means[] = {0, 1500, 2, 0, 999999999999999LL, 1000000000000000LL, 10};
    struct job_eta eta;
    cJSON *o, *e;
    char *a, *b;
    size_t k;

    (void)state;
    eta_set(&eta, 1500, 2, 0);
    eta.mean_ms[4] = 123456789;
    o = job_status_json_eta(&h, &eta, T16);
    assert_non_null(o);
    assert_json(
        json_get(o, "stages"),
        "[{\"name\":null,\"state\":\"succeeded\",\"started_at\":\"2025-11-25T16:48:14.000Z\","
        "\"finished_at\":\"2025-11-25T16:48:14.002Z\",\"duration_s\":0.002,"
        "\"expected_s\":1.5},"
        "{\"name\":null,\"state\":\"succeeded\",\"started_at\":\"2025-11-25T16:48:14.000Z\","
        "\"finished_at\":\"2025-11-25T16:48:15.500Z\",\"duration_s\":1.5,"
        "\"expected_s\":0.002},"
        "{\"name\":null,\"state\":\"succeeded\",\"started_at\":\"2025-11-25T16:48:14.000Z\","
        "\"finished_at\":\"2025-11-25T16:48:14.000Z\",\"duration_s\":0,\"expected_s\":0},"
        "{\"name\":null,\"state\":\"succeeded\",\"started_at\":\"2025-11-24T16:48:14.000Z\","
        "\"finished_at\":\"2025-11-25T16:48:14.120Z\",\"duration_s\":86400.12,"
        "\"expected_s\":123456.789}]");
    assert_true(num(o, "eta_s") == 0.0 && num(o, "stage_eta_s") == 0.0);
    cJSON_Delete(o);
    /* the same text as cJSON's own number, up to the longest means */
    for (k = 0; k < sizeof(means) / sizeof(means[0]); k++) {
        eta.mean_ms[1] = means[k];
        o = job_status_json_eta(&h, &eta, T16);
        e = cJSON_CreateNumber((double)means[k] / 1000.0);
        a = cJSON_PrintUnformatted(
            json_get(cJSON_GetArrayItem(json_get(o, "stages"), 0), "expected_s"));
        b = cJSON_PrintUnformatted(e);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        cJSON_free(a);
        cJSON_free(b);
        cJSON_Delete(e);
        cJSON_Delete(o);
    }
}

/* The tree points into the hash's strings; a duplicate (what the events
 * hub keeps) owns copies and outlives them. */
static void test_status_duplicate_outlives_hash(void **state)
{
    char *vals[4];
    const char *fv[8];
    size_t lens[8] = {0}, i;
    struct job_hash h = {fv, lens, 8, NULL, 0, NULL};
    cJSON *o, *dup;
    char *before, *after;

    (void)state;
    vals[0] = strdup("j9"), vals[1] = strdup("running"), vals[2] = strdup("0.5000");
    vals[3] = strdup("{\"a\":[1,2]}");
    for (i = 0; i < 4; i++)
        assert_non_null(vals[i]);
    fv[0] = "id", fv[2] = "state", fv[4] = "progress", fv[6] = "input";
    for (i = 0; i < 4; i++)
        fv[2 * i + 1] = vals[i];
    o = job_status_json_eta(&h, NULL, 0);
    assert_non_null(o);
    before = json_print(o);
    dup = cJSON_Duplicate(o, true);
    cJSON_Delete(o);
    for (i = 0; i < 4; i++) {
        memset(vals[i], 'X', strlen(vals[i]));
        free(vals[i]);
    }
    assert_non_null(dup);
    after = json_print(dup);
    assert_non_null(before);
    assert_non_null(after);
    assert_string_equal(before, after);
    assert_true(num(dup, "progress") == 0.5);
    assert_string_equal(cJSON_GetStringValue(json_get(dup, "state")), "running");
    cJSON_free(before);
    cJSON_free(after);
    cJSON_Delete(dup);
}

static void test_eta_from_hash(void **state)
{
    HASH(h, "1", "1500", "1.n", "20", "2", "x", "65", "7", "0", "9", "3", "-4", "4", "250", "5",
         " 5", "6", "+6", "7", "99999999999999999999", "8", "8.5", "9", "0x10", "10", "10");
    struct job_eta eta;

    (void)state;
    job_eta_from_hash(&eta, &h);
    assert_true(eta.mean_ms[1] == 1500);
    assert_true(eta.mean_ms[2] == -1); /* not a number */
    assert_true(eta.mean_ms[3] == -1); /* negative */
    assert_true(eta.mean_ms[4] == 250);
    /* means edited by hand: no history for the stage */
    assert_true(eta.mean_ms[5] == -1);
    assert_true(eta.mean_ms[6] == -1);
    assert_true(eta.mean_ms[7] == -1);
    assert_true(eta.mean_ms[8] == -1);
    assert_true(eta.mean_ms[9] == -1);
    assert_true(eta.mean_ms[10] == 10);
    job_eta_from_hash(&eta, NULL);
    assert_true(eta.mean_ms[1] == -1);
}

/* The numbers a worker runs a job by: as stored, or each field's fallback. */
static void test_numbers_read(void **state)
{
    struct stage_def stages[4];
    struct pipeline pl;
    HASH(good, "attempt", "2", "max_attempts", "5", "result_ttl_s", "60", "stage_count", "4",
         "stage", "3");
    HASH(bad, "attempt", "2.5", "max_attempts", "many", "result_ttl_s", "0", "stage_count", "4x",
         "stage", "9");
    HASH(edge, "attempt", "+2", "max_attempts", "101", "result_ttl_s", "31536001", "stage_count",
         "65", "stage", "0");
    HASH(empty, "id", "j1");
    struct job_numbers n;
    const char *bad_field = "x";

    (void)state;
    memset(&pl, 0, sizeof(pl));
    memset(stages, 0, sizeof(stages));
    pl.max_attempts = 3;
    pl.result_ttl_s = 600;
    pl.nstages = 4;
    pl.stages = stages;
    assert_int_equal(job_numbers_read(&good, &pl, &n, &bad_field), 0);
    assert_null(bad_field);
    assert_int_equal(n.attempt, 2);
    assert_int_equal(n.max_attempts, 5);
    assert_int_equal(n.result_ttl_s, 60);
    assert_int_equal(n.stage_count, 4);
    assert_int_equal(n.stage, 3);

    /* garbage: the pipeline's attempts and TTL, the attempt counted as the
     * last, no stage count (the job fails), from stage 1 */
    assert_int_equal(job_numbers_read(&bad, &pl, &n, &bad_field), 5);
    assert_string_equal(bad_field, "max_attempts");
    assert_int_equal(n.max_attempts, 3);
    assert_int_equal(n.attempt, 3);
    assert_int_equal(n.result_ttl_s, 600);
    assert_int_equal(n.stage_count, 0);
    assert_int_equal(n.stage, 1);
    assert_int_equal(job_numbers_read(&edge, &pl, &n, NULL), 5); /* out of range, a sign */
    assert_int_equal(n.max_attempts, 3);
    assert_int_equal(n.attempt, 3);
    assert_int_equal(n.result_ttl_s, 600);
    assert_int_equal(n.stage_count, 0);
    assert_int_equal(n.stage, 1);

    /* missing, and no pipeline: one attempt, the default TTL */
    assert_int_equal(job_numbers_read(&empty, NULL, &n, &bad_field), 5);
    assert_string_equal(bad_field, "max_attempts");
    assert_int_equal(n.max_attempts, 1);
    assert_int_equal(n.attempt, 1);
    assert_int_equal(n.result_ttl_s, JOB_RESULT_TTL_DEFAULT_S);
    assert_int_equal(n.stage_count, 0);
    assert_int_equal(n.stage, 1);
}

/* A running job whose stage or progress was edited by hand: the status is
 * built, the stage's estimate is left out or made from history alone. */
static void test_eta_garbage_fields(void **state)
{
    HASH(stage, "id", "j1", "state", "running", "stage", "2x", "stage_count", "3", "progress",
         "0.25", "stage.2.state", "running", "stage.2.started_at", "2025-11-25T16:48:16.000Z");
    HASH(prog, "id", "j1", "state", "running", "stage", "2", "stage_count", "3", "progress", "lots",
         "stage.2.state", "running", "stage.2.started_at", "2025-11-25T16:48:16.000Z");
    HASH(count, "id", "j1", "state", "running", "stage", "2", "stage_count", "three");
    struct job_eta eta;
    cJSON *o;

    (void)state;
    eta_set(&eta, 2000, 4000, 3000);
    o = job_status_json_eta(&stage, &eta, T16 + 1000);
    assert_non_null(o);
    assert_true(cJSON_IsNull(json_get(o, "stage_eta_s")));
    assert_true(cJSON_IsNull(json_get(o, "eta_s")));
    assert_string_equal(json_get(o, "stage")->valuestring, "2x");
    cJSON_Delete(o);
    /* 1 s into stage 2 (mean 4 s), progress unknown: 3 s left by history */
    o = job_status_json_eta(&prog, &eta, T16 + 1000);
    assert_non_null(o);
    assert_true(fabs(num(o, "stage_eta_s") - 3.0) < 1e-9);
    assert_string_equal(json_get(o, "progress")->valuestring, "lots");
    cJSON_Delete(o);
    o = job_status_json_eta(&count, &eta, T16 + 1000);
    assert_non_null(o);
    assert_int_equal(cJSON_GetArraySize(json_get(o, "stages")), 0);
    assert_true(cJSON_IsNull(json_get(o, "eta_s")));
    cJSON_Delete(o);
}

/* rargv_resp: the bytes hiredis' redisFormatCommandArgv writes, for empty,
 * binary (NUL, CRLF) and long arguments, lengths of 1 to 4 digits, and none;
 * and a NUL after them, as hiredis writes. */
static void test_rargv_resp(void **state)
{
    static char big[1000];
    const char *argv[] = {"EVALSHA", "", "a\0b\r\nc", big, "0123456789"};
    size_t lens[] = {7, 0, 6, sizeof(big), 10}, n, len, argc;
    char *mine, *theirs;
    int tlen;

    (void)state;
    memset(big, 'x', sizeof(big));
    for (argc = 0; argc <= 5; argc++) {
        mine = rargv_resp(argc, argv, lens, &len);
        tlen = redisFormatCommandArgv(&theirs, (int)argc, argv, lens);
        assert_non_null(mine);
        assert_true(tlen > 0);
        n = (size_t)tlen;
        assert_int_equal(len, n);
        assert_memory_equal(mine, theirs, n);
        /* NUL-terminated like hiredis' (its async send reads past the end) */
        assert_int_equal(mine[len], '\0');
        free(mine);
        redisFreeCommand(theirs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_state_is_final),
        cmocka_unit_test(test_ttl_for),
        cmocka_unit_test(test_overall_progress),
        cmocka_unit_test(test_rargv_addll),
        cmocka_unit_test(test_new_fields_demo),
        cmocka_unit_test(test_hash_get),
        cmocka_unit_test(test_hash_view_index),
        cmocka_unit_test(test_status_running),
        cmocka_unit_test(test_status_finished),
        cmocka_unit_test(test_new_fields_routed),
        cmocka_unit_test(test_status_waiting_at_hop),
        cmocka_unit_test(test_status_missing_and_odd),
        cmocka_unit_test(test_status_empty),
        cmocka_unit_test(test_status_stage_count_bounds),
        cmocka_unit_test(test_rfc3339_parse),
        cmocka_unit_test(test_rfc3339_parse_any),
        cmocka_unit_test(test_state_shown),
        cmocka_unit_test(test_new_scheduled),
        cmocka_unit_test(test_rfc3339_edges),
        cmocka_unit_test(test_rfc3339_format),
        cmocka_unit_test(test_eta_running),
        cmocka_unit_test(test_eta_queued_and_final),
        cmocka_unit_test(test_eta_from_hash),
        cmocka_unit_test(test_status_number_text),
        cmocka_unit_test(test_status_json_fields),
        cmocka_unit_test(test_status_result_is_last_output),
        cmocka_unit_test(test_status_seconds_text),
        cmocka_unit_test(test_status_duplicate_outlives_hash),
        cmocka_unit_test(test_rargv_resp),
        cmocka_unit_test(test_numbers_read),
        cmocka_unit_test(test_eta_garbage_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
