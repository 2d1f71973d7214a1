/* test_stage_exec: the exec stage runner against real programs from
 * tests/stages/ (run with cwd = the repo root), well-behaved and hostile, and
 * table tests of the progress line parser. No Redis, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "json.h"
#include "../../worker/stage_exec.h"

#define S(x) ((char *)(x))

struct progress_log {
    int calls;
    double fraction[8];
    char message[8][64];
};

struct stop_after {
    long long start_ms;
    long long after_ms;
    int calls;
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_progress(void *arg, double fraction, const char *message)
{
    struct progress_log *p = arg;

    if (p->calls < 8) {
        p->fraction[p->calls] = fraction;
        snprintf(p->message[p->calls], sizeof(p->message[0]), "%s",
                 message != NULL ? message : "(null)");
    }
    p->calls++;
}

static int should_stop(void *arg)
{
    struct stop_after *s = arg;

    s->calls++;
    return s->after_ms >= 0 && now_ms() - s->start_ms >= s->after_ms;
}

static void spec_init(struct exec_spec *spec, char *const *argv)
{
    memset(spec, 0, sizeof(*spec));
    spec->argv = argv;
    spec->job_id = "job-42";
    spec->stage_name = "test";
    spec->stage_index = 2;
    spec->stage_count = 3;
    spec->attempt = 1;
}

/* Every run must leave no child behind, living or zombie. */
static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Runs spec with in printed as its input; the output text must be there
 * exactly when the outcome is EXEC_OK (it is checked, then freed). */
static void run(const struct exec_spec *spec, const cJSON *in, const struct exec_hooks *hooks,
                struct exec_result *res)
{
    char *text = in != NULL ? json_print(in) : NULL;

    assert_true(in == NULL || text != NULL);
    assert_int_equal(stage_exec_run(spec, text, hooks, res), 0);
    cJSON_free(text);
    assert_no_children();
    assert_true((res->output_text != NULL) == (res->outcome == EXEC_OK));
    assert_true((res->output != NULL) == (res->outcome == EXEC_OK));
    cJSON_free(res->output_text);
    res->output_text = NULL;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The input text reaches stdin as it is, and stdout comes back as written
 * (whitespace outside strings dropped): not printed again from a tree. */
static void test_text_in_text_out(void **state)
{
    static const char in[] = "[9007199254740993, 1E+2, -0, 1e400, \"a  b\", 0.30000000000000004]";
    char *argv[] = {S("cat"), NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv);
    assert_int_equal(stage_exec_run(&spec, in, NULL, &res), 0);
    assert_no_children();
    assert_int_equal(res.outcome, EXEC_OK);
    assert_non_null(res.output_text);
    assert_string_equal(res.output_text,
                        "[9007199254740993,1E+2,-0,1e400,\"a  b\",0.30000000000000004]");
    cJSON_free(res.output_text);
    cJSON_Delete(res.output);
}

static void test_ok_double(void **state)
{
    char *argv[] = {S("tests/stages/ok_double.py"), NULL};
    struct progress_log log = {0};
    struct exec_hooks hooks = {on_progress, NULL, &log};
    struct exec_spec spec;
    struct exec_result res;
    cJSON *in = cJSON_Parse("{\"n\": 21}");

    (void)state;
    spec_init(&spec, argv);
    run(&spec, in, &hooks, &res);
    assert_int_equal(res.outcome, EXEC_OK);
    assert_non_null(res.output);
    assert_true(cJSON_IsNumber(json_get(res.output, "n")));
    assert_int_equal(json_get(res.output, "n")->valueint, 42);
    assert_int_equal(log.calls, 3);
    assert_true(log.fraction[0] > 0.33 && log.fraction[0] < 0.34);
    assert_true(log.fraction[1] > 0.66 && log.fraction[1] < 0.67);
    assert_true(log.fraction[2] == 1.0);
    assert_string_equal(log.message[0], "reading");
    assert_string_equal(log.message[1], "doubling");
    assert_string_equal(log.message[2], "writing");
    assert_int_equal(res.bad_progress_lines, 0);
    assert_true(res.duration_ms >= 0);
    cJSON_Delete(res.output);
    cJSON_Delete(in);
}

static void test_env_cwd_argv(void **state)
{
    char path[PATH_MAX + 64], cwd[PATH_MAX];
    char *argv[] = {path, S("one arg"), S("--two"), S(""), NULL};
    char *env[] = {S("MY_VAR=first"), S("STAGEQ_ATTEMPT_NOT=x"), S("MY_VAR=second"), NULL};
    struct exec_spec spec;
    struct exec_result res;
    const cJSON *a;

    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(path, sizeof(path), "%s/tests/stages/env_dump.py", cwd);
    spec_init(&spec, argv);
    spec.env = env;
    spec.cwd = "/tmp";
    spec.attempt = 3;
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_OK);
    assert_string_equal(json_get(res.output, "job")->valuestring, "job-42");
    assert_string_equal(json_get(res.output, "stage")->valuestring, "test");
    assert_string_equal(json_get(res.output, "index")->valuestring, "2");
    assert_string_equal(json_get(res.output, "count")->valuestring, "3");
    assert_string_equal(json_get(res.output, "attempt")->valuestring, "3");
    assert_string_equal(json_get(res.output, "progress_fd")->valuestring, "3");
    assert_string_equal(json_get(res.output, "cwd")->valuestring, "/tmp");
    assert_string_equal(json_get(res.output, "custom")->valuestring, "second");
    a = json_get(res.output, "argv");
    assert_int_equal(cJSON_GetArraySize(a), 3);
    assert_string_equal(cJSON_GetArrayItem(a, 0)->valuestring, "one arg");
    assert_string_equal(cJSON_GetArrayItem(a, 1)->valuestring, "--two");
    assert_string_equal(cJSON_GetArrayItem(a, 2)->valuestring, "");
    cJSON_Delete(res.output);
}

/* argv[0] without '/' is looked up in PATH (here: /bin/sh running a script). */
static void test_path_lookup(void **state)
{
    char *argv[] = {S("sh"), S("tests/stages/garbage.sh"), NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_INVALID_OUTPUT);
}

static void test_not_found(void **state)
{
    char *argv1[] = {S("stageq-no-such-program-xyz"), NULL};
    char *argv2[] = {S("tests/stages/no_such_stage.sh"), NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv1);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_SPAWN_FAILED);
    assert_int_equal(res.spawn_errno, ENOENT);
    assert_string_equal(res.message, "program 'stageq-no-such-program-xyz' not found");

    spec_init(&spec, argv2);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_SPAWN_FAILED);
    assert_int_equal(res.spawn_errno, ENOENT);
    assert_non_null(strstr(res.message, "not found"));
}

static void test_not_executable(void **state)
{
    char path[] = "/tmp/stageq-test-noexec.XXXXXX";
    char *argv[] = {path, NULL};
    struct exec_spec spec;
    struct exec_result res;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd); /* mkstemp made it 0600: not executable, even for root */
    spec_init(&spec, argv);
    run(&spec, NULL, NULL, &res);
    unlink(path);
    assert_int_equal(res.outcome, EXEC_SPAWN_FAILED);
    assert_int_equal(res.spawn_errno, EACCES);
    assert_non_null(strstr(res.message, "permission denied executing '/tmp/stageq-test-noexec."));
}

static void test_empty_argv(void **state)
{
    char *argv[] = {NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_SPAWN_FAILED);
    assert_int_equal(res.spawn_errno, EINVAL);
}

static void test_bad_cwd(void **state)
{
    char *argv[] = {S("/bin/true"), NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv);
    spec.cwd = "/nope-stageq-test";
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_SPAWN_FAILED);
    assert_int_equal(res.spawn_errno, ENOENT);
    assert_string_equal(res.message,
                        "cannot chdir to '/nope-stageq-test': No such file or directory");
}

static void test_exit3(void **state)
{
    char *argv[] = {S("tests/stages/exit3.sh"), NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_EXIT);
    assert_int_equal(res.exit_status, 3);
    assert_string_equal(res.message, "exited with status 3");
    assert_null(res.output);
    assert_non_null(strstr(res.stderr_tail, "first line of the failure\n"));
    assert_non_null(strstr(res.stderr_tail, "something went wrong: exit 3"));
}

static void test_permanent(void **state)
{
    char *argv[] = {S("tests/stages/permanent.sh"), NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_EXIT);
    assert_int_equal(res.exit_status, EXEC_EXIT_PERMANENT);
    assert_non_null(strstr(res.stderr_tail, "retrying will not help"));
}

static void test_invalid_output(void **state)
{
    char *argv1[] = {S("tests/stages/garbage.sh"), NULL};
    char *argv2[] = {S("tests/stages/empty.sh"), NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv1);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_INVALID_OUTPUT);
    assert_null(res.output);
    assert_non_null(strstr(res.message, "invalid JSON on stdout"));

    spec_init(&spec, argv2);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_INVALID_OUTPUT);
    assert_null(res.output);
    assert_string_equal(res.message,
                        "empty output: the program must print one JSON value on stdout");
}

static void test_flood(void **state)
{
    char *argv[] = {S("tests/stages/flood.sh"), NULL};
    struct exec_spec spec;
    struct exec_result res;
    long long t0 = now_ms();

    (void)state;
    spec_init(&spec, argv);
    spec.max_output = 64 * 1024;
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_OUTPUT_TOO_LARGE);
    assert_null(res.output);
    assert_true(now_ms() - t0 < 5000);
}

static void test_timeout(void **state)
{
    char *argv[] = {S("tests/stages/sleep_forever.sh"), NULL};
    struct stop_after never = {now_ms(), -1, 0};
    struct exec_hooks hooks = {NULL, should_stop, &never};
    struct exec_spec spec;
    struct exec_result res;
    long long t0 = now_ms(), dt;

    (void)state;
    spec_init(&spec, argv);
    spec.timeout_s = 1;
    spec.kill_grace_ms = 300;
    run(&spec, NULL, &hooks, &res);
    dt = now_ms() - t0;
    assert_int_equal(res.outcome, EXEC_TIMEOUT);
    assert_string_equal(res.message, "timed out after 1 s");
    assert_true(dt >= 1000 && dt < 10000);
    assert_true(res.duration_ms >= 1000);
    /* should_stop is asked at least every 100 ms. */
    assert_true(never.calls >= (int)(dt / 100) - 1);
}

static void test_kill_self(void **state)
{
    char *argv[] = {S("tests/stages/kill_self.sh"), NULL};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv);
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_SIGNAL);
    assert_int_equal(res.signal, SIGKILL);
    assert_string_equal(res.message, "killed by signal 9 (Killed)");
}

static void test_linger(void **state)
{
    char *argv[] = {S("tests/stages/linger.sh"), NULL};
    char pidfile[64], envvar[96];
    char *env[] = {envvar, NULL};
    struct exec_spec spec;
    struct exec_result res;
    long long t0 = now_ms();
    FILE *f;
    int pid = 0, i;

    (void)state;
    snprintf(pidfile, sizeof(pidfile), "/tmp/stageq-test-linger.%d", (int)getpid());
    snprintf(envvar, sizeof(envvar), "STAGEQ_TEST_PIDFILE=%s", pidfile);
    spec_init(&spec, argv);
    spec.env = env;
    run(&spec, NULL, NULL, &res);
    assert_int_equal(res.outcome, EXEC_OK);
    assert_true(cJSON_IsTrue(json_get(res.output, "lingered")));
    cJSON_Delete(res.output);
    assert_true(now_ms() - t0 < 5000);

    f = fopen(pidfile, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    unlink(pidfile);
    assert_true(pid > 1);
    for (i = 0; i < 50 && kill(pid, 0) == 0; i++)
        usleep(20000);
    errno = 0;
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

static void test_should_stop(void **state)
{
    char *argv[] = {S("tests/stages/sleep_forever.sh"), NULL};
    struct stop_after stop = {now_ms(), 300, 0};
    struct exec_hooks hooks = {NULL, should_stop, &stop};
    struct exec_spec spec;
    struct exec_result res;
    long long dt;

    (void)state;
    spec_init(&spec, argv);
    spec.timeout_s = 60;
    spec.kill_grace_ms = 300;
    run(&spec, NULL, &hooks, &res);
    dt = now_ms() - stop.start_ms;
    assert_int_equal(res.outcome, EXEC_STOPPED);
    assert_true(dt >= 300 && dt < 5000);
}

static void test_bad_progress(void **state)
{
    char *argv[] = {S("tests/stages/bad_progress.sh"), NULL};
    struct progress_log log = {0};
    struct exec_hooks hooks = {on_progress, NULL, &log};
    struct exec_spec spec;
    struct exec_result res;

    (void)state;
    spec_init(&spec, argv);
    run(&spec, NULL, &hooks, &res);
    assert_int_equal(res.outcome, EXEC_OK);
    assert_true(cJSON_IsTrue(json_get(res.output, "ok")));
    cJSON_Delete(res.output);
    assert_int_equal(res.bad_progress_lines, 4);
    assert_int_equal(log.calls, 1);
    assert_true(log.fraction[0] == 0.5);
    assert_string_equal(log.message[0], "half");
}

static void test_big_stdin(void **state)
{
    char *argv[] = {S("tests/stages/big_stdin.py"), NULL};
    const size_t n = 5 * 1000 * 1000;
    struct exec_spec spec;
    struct exec_result res;
    char *s = malloc(n + 1);
    cJSON *in;

    (void)state;
    assert_non_null(s);
    memset(s, 'a', n);
    s[n] = '\0';
    in = cJSON_CreateString(s);
    free(s);
    assert_non_null(in);
    spec_init(&spec, argv);
    spec.timeout_s = 60;
    run(&spec, in, NULL, &res);
    assert_int_equal(res.outcome, EXEC_OK);
    assert_true(json_get(res.output, "len")->valuedouble == (double)(n + 2)); /* the quotes */
    cJSON_Delete(res.output);
    cJSON_Delete(in);
}

static void test_no_fd_leak(void **state)
{
    char *ok[] = {S("tests/stages/ok_double.py"), NULL};
    char *bad[] = {S("tests/stages/exit3.sh"), NULL};
    char *empty[] = {S("tests/stages/empty.sh"), NULL};
    char *missing[] = {S("stageq-no-such-program-xyz"), NULL};
    char *const *progs[] = {ok, bad, empty, missing};
    struct exec_spec spec;
    struct exec_result res;
    cJSON *in = cJSON_Parse("{\"n\": 1}");
    int before = count_fds(), i;

    (void)state;
    /* 16 runs: each of the five paths (ok, exit 3, empty output, not found,
     * bad cwd) at least twice. The count must come back exact, so a single
     * descriptor left open by any path fails; more rounds (there were 40)
     * only repeat the same paths, a python start each time. */
    for (i = 0; i < 16; i++) {
        spec_init(&spec, progs[i % 4]);
        if (i % 8 == 1)
            spec.cwd = "/nope-stageq-test";
        run(&spec, in, NULL, &res);
        cJSON_Delete(res.output);
    }
    assert_int_equal(count_fds(), before);
    cJSON_Delete(in);
}

/* ---- stage_exec_parse_progress ---- */

static void test_parse_progress_table(void **state)
{
    static const struct {
        const char *line;
        int rc;
        double fraction;
        const char *msg;
    } cases[] = {
        {"{\"progress\":0.42,\"message\":\"epoch 4/10\"}", 0, 0.42, "epoch 4/10"},
        {"{\"progress\":0}", 0, 0.0, ""},
        {"{\"progress\":1}", 0, 1.0, ""},
        {"{\"progress\":0.25}\r", 0, 0.25, ""},
        {"  {\"message\":\"m\", \"progress\":0.5, \"other\":[1,{}]}  ", 0, 0.5, "m"},
        {"{\"progress\":0.5,\"message\":\"caf\xc3\xa9\"}", 0, 0.5, "caf\xc3\xa9"},
        {"{\"progress\":1.0000001}", -1, 0, ""},
        {"{\"progress\":-0.1}", -1, 0, ""},
        {"{\"progress\":1e400}", -1, 0, ""},
        {"{\"progress\":\"0.5\"}", -1, 0, ""},
        {"{\"progress\":null}", -1, 0, ""},
        {"{\"progress\":true}", -1, 0, ""},
        {"{\"Progress\":0.5}", -1, 0, ""},
        {"{\"message\":\"no progress\"}", -1, 0, ""},
        {"{\"progress\":0.5,\"message\":3}", -1, 0, ""},
        {"{\"progress\":0.5,\"message\":null}", -1, 0, ""},
        {"[0.5]", -1, 0, ""},
        {"0.5", -1, 0, ""},
        {"\"progress\"", -1, 0, ""},
        {"", -1, 0, ""},
        {"\r", -1, 0, ""},
        {"{\"progress\":0.5} x", -1, 0, ""},
        {"{\"progress\":0.5}{\"progress\":0.6}", -1, 0, ""},
        {"{\"progress\":0.5,\"message\":\"\xff\"}", -1, 0, ""},
        {"{\"progress\":0.5,\"message\":\"\xc0\xaf\"}", -1, 0, ""},
        {"{\"progress\":0.5,\"message\":\"a\\u0000b\"}", -1, 0, ""},
        {"{\"progress\":0.5", -1, 0, ""},
        {"not json", -1, 0, ""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double f = -1;
        char msg[64] = "junk";
        int rc =
            stage_exec_parse_progress(cases[i].line, strlen(cases[i].line), &f, msg, sizeof(msg));

        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, cases[i].line, rc, cases[i].rc);
        if (rc == 0) {
            assert_true(f == cases[i].fraction);
            assert_string_equal(msg, cases[i].msg);
        }
    }
}

static void test_parse_progress_bytes(void **state)
{
    const char nul[] = "{\"progress\":0.5}\0";
    double f = 0;
    char msg[16];

    (void)state;
    /* A NUL inside the given length is not the end of the line. */
    assert_int_equal(stage_exec_parse_progress(nul, sizeof(nul) - 1, &f, msg, sizeof(msg)), -1);
    assert_int_equal(stage_exec_parse_progress(nul, sizeof(nul) - 2, &f, msg, sizeof(msg)), 0);
    /* Only len bytes are read: no NUL terminator needed. */
    assert_int_equal(
        stage_exec_parse_progress("{\"progress\":0.7}garbage", 16, &f, msg, sizeof(msg)), 0);
    assert_true(f == 0.7);
    assert_int_equal(stage_exec_parse_progress(NULL, 0, &f, msg, sizeof(msg)), -1);
    /* No message buffer is fine. */
    assert_int_equal(stage_exec_parse_progress("{\"progress\":0.1}", 16, &f, NULL, 0), 0);
}

static void test_parse_progress_truncates_utf8(void **state)
{
    /* "ab" then three 2-byte é. */
    const char *line = "{\"progress\":0.5,\"message\":\"ab\xc3\xa9\xc3\xa9\xc3\xa9\"}";
    char msg[8];
    double f;

    (void)state;
    assert_int_equal(stage_exec_parse_progress(line, strlen(line), &f, msg, 4), 0);
    assert_string_equal(msg, "ab"); /* "ab" + half an é would not be UTF-8 */
    assert_int_equal(stage_exec_parse_progress(line, strlen(line), &f, msg, 5), 0);
    assert_string_equal(msg, "ab\xc3\xa9");
    assert_int_equal(stage_exec_parse_progress(line, strlen(line), &f, msg, 6), 0);
    assert_string_equal(msg, "ab\xc3\xa9");
    assert_int_equal(stage_exec_parse_progress(line, strlen(line), &f, msg, 1), 0);
    assert_string_equal(msg, "");
    assert_int_equal(stage_exec_parse_progress(line, strlen(line), &f, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "ab\xc3\xa9\xc3\xa9"); /* 8 bytes do not fit in 7 + NUL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_double),
        cmocka_unit_test(test_text_in_text_out),
        cmocka_unit_test(test_env_cwd_argv),
        cmocka_unit_test(test_path_lookup),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_not_executable),
        cmocka_unit_test(test_empty_argv),
        cmocka_unit_test(test_bad_cwd),
        cmocka_unit_test(test_exit3),
        cmocka_unit_test(test_permanent),
        cmocka_unit_test(test_invalid_output),
        cmocka_unit_test(test_flood),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_kill_self),
        cmocka_unit_test(test_linger),
        cmocka_unit_test(test_should_stop),
        cmocka_unit_test(test_bad_progress),
        cmocka_unit_test(test_big_stdin),
        cmocka_unit_test(test_no_fd_leak),
        cmocka_unit_test(test_parse_progress_table),
        cmocka_unit_test(test_parse_progress_bytes),
        cmocka_unit_test(test_parse_progress_truncates_utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
