/* test_stage_serve: the answer line parser of warm stage programs (table
 * tests, any bytes), and the pool against real programs from tests/stages/
 * (run with cwd = the repo root): reuse, sharing, faults, recycling, and no
 * process left behind. No Redis, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "json.h"
#include "../../worker/stage_serve.h"

#define S(x) ((char *)(x))

static char *const dual_argv[] = {S("python3"), S("tests/stages/dual.py"), NULL};

/* ---- answer lines ---- */

struct answer_case {
    const char *line;
    int rc;
    enum exec_outcome outcome;
    const char *text; /* EXEC_OK: output_text; EXEC_ERROR: message; else a part of it */
    bool is_permanent;
};

static void test_parse_answer_table(void **state)
{
    static const struct answer_case cases[] = {
        {"{\"output\":{\"n\":1}}", 0, EXEC_OK, "{\"n\":1}", false},
        {"{ \"output\" : [1, 2.50, 9007199254740993] }", 0, EXEC_OK, "[1,2.50,9007199254740993]",
         false},
        {"{\"output\":null}\r", 0, EXEC_OK, "null", false},
        {"{\"output\":\"a b\"}", 0, EXEC_OK, "\"a b\"", false},
        {"{\"error\":{\"message\":\"boom\"}}", 0, EXEC_ERROR, "boom", false},
        {"{\"error\":{\"message\":\"no\",\"retryable\":false}}", 0, EXEC_ERROR, "no", true},
        {"{\"error\":{\"message\":\"again\",\"retryable\":true,\"type\":\"X\"}}", 0, EXEC_ERROR,
         "again", false},
        {"", -1, EXEC_INVALID_OUTPUT, "empty", false},
        {"hello", -1, EXEC_INVALID_OUTPUT, "not JSON", false},
        {"{\"output\":1} trailing", -1, EXEC_INVALID_OUTPUT, "not JSON", false},
        {"{\"output\":1}\n{\"output\":2}", -1, EXEC_INVALID_OUTPUT, "more than one line", false},
        {"{\"output\":1,\"error\":{\"message\":\"x\"}}", -1, EXEC_INVALID_OUTPUT, "must be", false},
        {"{\"result\":1}", -1, EXEC_INVALID_OUTPUT, "must be", false},
        {"{\"Output\":1}", -1, EXEC_INVALID_OUTPUT, "must be", false},
        {"{}", -1, EXEC_INVALID_OUTPUT, "must be", false},
        {"[1]", -1, EXEC_INVALID_OUTPUT, "must be", false},
        {"\"output\"", -1, EXEC_INVALID_OUTPUT, "must be", false},
        {"{\"error\":\"boom\"}", -1, EXEC_INVALID_OUTPUT, "must be an object", false},
        {"{\"error\":{}}", -1, EXEC_INVALID_OUTPUT, "message", false},
        {"{\"error\":{\"message\":3}}", -1, EXEC_INVALID_OUTPUT, "message", false},
        {"{\"error\":{\"message\":\"m\",\"retryable\":\"no\"}}", -1, EXEC_INVALID_OUTPUT,
         "retryable", false},
        {"{\"output\":\"\\u0000\"}", -1, EXEC_INVALID_OUTPUT, "not JSON", false},
        {"{\"output\":01}", -1, EXEC_INVALID_OUTPUT, "not JSON", false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct answer_case *c = &cases[i];
        struct exec_result res;

        memset(&res, 0, sizeof(res));
        print_message("case %zu: %s\n", i, c->line);
        assert_int_equal(stage_serve_parse_answer(c->line, strlen(c->line), &res), c->rc);
        assert_int_equal(res.outcome, c->outcome);
        if (c->outcome == EXEC_OK) {
            assert_non_null(res.output);
            assert_string_equal(res.output_text, c->text);
        } else {
            assert_null(res.output);
            assert_null(res.output_text);
            assert_non_null(strstr(res.message, c->text));
        }
        assert_int_equal(res.is_permanent, c->is_permanent);
        cJSON_Delete(res.output);
        cJSON_free(res.output_text);
    }
}

static void test_parse_answer_bytes(void **state)
{
    unsigned char buf[64];
    unsigned seed = 7;
    int i;
    size_t j;

    (void)state;
    for (i = 0; i < 20000; i++) {
        struct exec_result res;
        size_t len = (size_t)(rand_r(&seed) % sizeof(buf));

        for (j = 0; j < len; j++)
            buf[j] = (unsigned char)(i % 3 == 0 ? "{}\":[]outperrormessage ,1"[rand_r(&seed) % 25]
                                                : rand_r(&seed));
        memset(&res, 0, sizeof(res));
        stage_serve_parse_answer((const char *)buf, len, &res);
        assert_true((res.output_text != NULL) == (res.outcome == EXEC_OK));
        cJSON_Delete(res.output);
        cJSON_free(res.output_text);
    }
}

/* ---- the pool with real programs ---- */

static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void spec_init(struct exec_spec *spec, const char *stage)
{
    memset(spec, 0, sizeof(*spec));
    spec->argv = dual_argv;
    spec->job_id = "job-7";
    spec->pipeline = "p";
    spec->stage_name = stage;
    spec->stage_index = 1;
    spec->stage_count = 2;
    spec->attempt = 1;
    spec->kill_grace_ms = 2000;
}

/* Runs one job; returns the pid in the output's "pids" (0 when it failed). */
static long run_one(struct serve_pool *pool, const struct exec_spec *spec, const char *in,
                    struct exec_result *res)
{
    const cJSON *pids;
    long pid = 0;

    assert_int_equal(stage_serve_run(pool, spec, in, NULL, res), 0);
    assert_true((res->output_text != NULL) == (res->outcome == EXEC_OK));
    if (res->outcome == EXEC_OK) {
        pids = json_get(res->output, "pids");
        assert_true(cJSON_IsArray(pids));
        pid = (long)cJSON_GetArrayItem(pids, cJSON_GetArraySize(pids) - 1)->valuedouble;
    }
    cJSON_Delete(res->output);
    cJSON_free(res->output_text);
    res->output = NULL;
    res->output_text = NULL;
    return pid;
}

static void test_pool_reuse_and_share(void **state)
{
    struct serve_pool *pool = stage_serve_pool_new(2000);
    struct exec_spec a, b, other;
    struct exec_result res;
    long p1, p2, p3, p4;

    (void)state;
    spec_init(&a, "a");
    spec_init(&b, "b");
    spec_init(&other, "a");
    other.pipeline = "q"; /* another pipeline: its own program */
    p1 = run_one(pool, &a, "{\"s\":\"\"}", &res);
    assert_int_equal(res.outcome, EXEC_OK);
    p2 = run_one(pool, &a, "{\"s\":\"x\"}", &res);
    p3 = run_one(pool, &b, "{\"s\":\"y\"}", &res);
    p4 = run_one(pool, &other, "{\"s\":\"z\"}", &res);
    assert_true(p1 > 0);
    assert_int_equal(p1, p2);
    assert_int_equal(p1, p3);
    assert_true(p4 > 0 && p4 != p1);
    assert_int_equal(stage_serve_pool_size(pool), 2);
    stage_serve_pool_free(pool);
    assert_no_children();
    assert_int_equal(kill((pid_t)p1, 0), -1);
}

/* Each fault fails the job as said, and the next job gets a new process. */
static void test_pool_faults(void **state)
{
    static const struct {
        const char *in;
        enum exec_outcome outcome;
        const char *message;
        bool is_new_process;
    } faults[] = {
        {"{\"do\":{\"a\":\"crash\"}}", EXEC_EXIT, "exited with status 3", true},
        {"{\"do\":{\"a\":\"garbage\"}}", EXEC_INVALID_OUTPUT, "not JSON", true},
        {"{\"do\":{\"a\":\"two_lines\"}}", EXEC_INVALID_OUTPUT, "more than one line", true},
        {"{\"do\":{\"a\":\"bad_shape\"}}", EXEC_INVALID_OUTPUT, "must be", true},
        {"{\"do\":{\"a\":\"fail\"}}", EXEC_ERROR, "stage a failed", false},
        {"{\"do\":{\"a\":\"permanent\"}}", EXEC_ERROR, "refuses", false},
        {"{\"do\":{\"a\":\"noisy\"}}", EXEC_OK, "ok", false},
        {"{\"do\":{\"a\":\"exit_after\"}}", EXEC_OK, "ok", true},
    };
    struct serve_pool *pool = stage_serve_pool_new(2000);
    struct exec_spec a;
    struct exec_result res;
    size_t i;

    (void)state;
    spec_init(&a, "a");
    for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        long before, after;

        print_message("fault %zu: %s\n", i, faults[i].in);
        before = run_one(pool, &a, "{}", &res);
        assert_true(before > 0);
        run_one(pool, &a, faults[i].in, &res);
        assert_int_equal(res.outcome, faults[i].outcome);
        assert_non_null(strstr(res.message, faults[i].message));
        if (faults[i].outcome == EXEC_EXIT)
            assert_non_null(strstr(res.stderr_tail, "about to crash in a"));
        if (i == 5)
            assert_true(res.is_permanent);
        after = run_one(pool, &a, "{}", &res);
        assert_int_equal(res.outcome, EXEC_OK);
        assert_true(faults[i].is_new_process ? after != before : after == before);
    }
    stage_serve_pool_free(pool);
    assert_no_children();
}

/* Output between jobs: the stream is broken, the next job gets a new process
 * (and is not answered by the stray line). */
static void test_pool_line_between_jobs(void **state)
{
    struct serve_pool *pool = stage_serve_pool_new(2000);
    struct exec_spec a;
    struct exec_result res;
    long before, after;

    (void)state;
    spec_init(&a, "a");
    before = run_one(pool, &a, "{\"do\":{\"a\":\"late_line\"}}", &res);
    assert_int_equal(res.outcome, EXEC_OK);
    usleep(1000 * 1000); /* the line comes 0.2 s after the answer */
    after = run_one(pool, &a, "{\"s\":\"x\"}", &res);
    assert_int_equal(res.outcome, EXEC_OK);
    assert_true(before > 0 && after > 0 && after != before);
    stage_serve_pool_free(pool);
    assert_no_children();
}

static void test_pool_max_jobs(void **state)
{
    struct serve_pool *pool = stage_serve_pool_new(2000);
    struct exec_spec a;
    struct exec_result res;
    long pids[5];
    int i;

    (void)state;
    spec_init(&a, "a");
    a.max_jobs = 2;
    for (i = 0; i < 5; i++)
        pids[i] = run_one(pool, &a, "{}", &res);
    assert_int_equal(pids[0], pids[1]);
    assert_true(pids[2] != pids[1]);
    assert_int_equal(pids[2], pids[3]);
    assert_true(pids[4] != pids[3]);
    stage_serve_pool_free(pool);
    assert_no_children();
}

static void test_pool_timeout(void **state)
{
    struct serve_pool *pool = stage_serve_pool_new(300);
    struct exec_spec a;
    struct exec_result res;
    long before, after;

    (void)state;
    spec_init(&a, "a");
    before = run_one(pool, &a, "{}", &res); /* started without a timeout: this machine is slow */
    a.timeout_s = 1;
    run_one(pool, &a, "{\"do\":{\"a\":\"sleep:30\"}}", &res);
    assert_int_equal(res.outcome, EXEC_TIMEOUT);
    assert_int_equal(stage_serve_pool_size(pool), 0);
    assert_no_children();
    a.timeout_s = 0;
    after = run_one(pool, &a, "{}", &res);
    assert_true(after > 0 && after != before);
    stage_serve_pool_free(pool);
    assert_no_children();
}

static void test_pool_spawn_failed(void **state)
{
    static char *const missing[] = {S("no-such-program-stageq"), NULL};
    struct serve_pool *pool = stage_serve_pool_new(0);
    struct exec_spec a;
    struct exec_result res;

    (void)state;
    spec_init(&a, "a");
    a.argv = missing;
    run_one(pool, &a, "{}", &res);
    assert_int_equal(res.outcome, EXEC_SPAWN_FAILED);
    assert_non_null(strstr(res.message, "not found"));
    assert_int_equal(stage_serve_pool_size(pool), 0);
    stage_serve_pool_free(pool);
    assert_no_children();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_answer_table),     cmocka_unit_test(test_parse_answer_bytes),
        cmocka_unit_test(test_pool_reuse_and_share),   cmocka_unit_test(test_pool_faults),
        cmocka_unit_test(test_pool_line_between_jobs), cmocka_unit_test(test_pool_max_jobs),
        cmocka_unit_test(test_pool_timeout),           cmocka_unit_test(test_pool_spawn_failed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
