/* Unit tests for shared/log: every line is one event, JSON lines parse
 * strictly (valid UTF-8) whatever the message holds, the context fields
 * (worker, job, pipeline, stage) and extra fields appear in both formats; the
 * buffer keeps the order, writes when full, at warn, when a line is old, for a
 * line longer than itself, before a fork (no line twice) and on a crash. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "json.h"
#include "log.h"

#define CAPTURE_MAX 262144

static char captured[CAPTURE_MAX];

/* Runs the log calls of fn with stderr sent to a temporary file, then reads
 * what they wrote into captured (cmocka reports on stderr: restored after).
 * Lines still held when fn returns are not in captured (see capture). */
static size_t capture_held(void (*fn)(void))
{
    FILE *tmp = tmpfile();
    int saved;
    size_t n;

    assert_non_null(tmp);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    fn();
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    rewind(tmp);
    n = fread(captured, 1, sizeof(captured) - 1, tmp);
    captured[n] = '\0';
    fclose(tmp);
    return n;
}

/* Runs fn then log_flush, capturing everything written. */
static void (*capture_fn)(void);

static void capture_then_flush(void)
{
    capture_fn();
    log_flush();
}

static size_t capture(void (*fn)(void))
{
    capture_fn = fn;
    return capture_held(capture_then_flush);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* The JSON object of line k (0-based) of captured; the caller frees it. */
static cJSON *json_line(size_t k)
{
    const char *p = captured, *end;
    struct json_err err;
    cJSON *o;

    while (k-- > 0) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    end = strchr(p, '\n');
    assert_non_null(end);
    o = json_parse_strict(p, (size_t)(end - p), 8, &err);
    if (o == NULL)
        fail_msg("line %.*s: %s", (int)(end - p), p, err.msg);
    return o;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = json_get(o, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void log_hostile(void)
{
    log_write(LOG_LEVEL_WARN, 0, NULL,
              "q\"uote\\ nl\n cr\r tab\t ctl\x01\x1b bad\xff\xfe"
              " cut\xe2\x82 over\xc0\xaf ok\xe2\x82\xac");
}

static void test_log_json_hostile(void **state)
{
    cJSON *o;
    const char *msg;

    (void)state;
    log_init("test", LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
    capture(log_hostile);
    assert_int_equal(count_lines(captured), 1);
    o = json_line(0);
    msg = str_of(o, "msg");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "q\"uote\\ nl\n cr\r tab\t ctl\x01\x1b bad"));
    assert_non_null(strstr(msg, "bad\xef\xbf\xbd\xef\xbf\xbd cut\xef\xbf\xbd"));
    assert_non_null(strstr(msg, " ok\xe2\x82\xac"));
    assert_string_equal(str_of(o, "level"), "warn");
    assert_string_equal(str_of(o, "role"), "test");
    assert_int_equal(strlen(str_of(o, "ts")), 24);
    assert_null(json_get(o, "job"));
    cJSON_Delete(o);
}

static void log_context(void)
{
    log_ctx_worker("host:42");
    log_ctx_job("job-1", "train");
    log_ctx_stage(2, "fit");
    log_info("in stage");
    log_job(LOG_LEVEL_INFO, "other-job", "about another job");
    log_ctx_job(NULL, NULL);
    log_info("idle");
    log_ctx_worker(NULL);
}

static void test_log_json_context(void **state)
{
    cJSON *o;

    (void)state;
    log_init("worker/1", LOG_FORMAT_JSON, LOG_LEVEL_INFO);
    capture(log_context);
    assert_int_equal(count_lines(captured), 3);
    o = json_line(0);
    assert_string_equal(str_of(o, "job"), "job-1");
    assert_string_equal(str_of(o, "pipeline"), "train");
    assert_int_equal(json_get(o, "stage")->valueint, 2);
    assert_string_equal(str_of(o, "stage_name"), "fit");
    assert_string_equal(str_of(o, "worker"), "host:42");
    cJSON_Delete(o);
    o = json_line(1); /* another job: not this job's pipeline and stage */
    assert_string_equal(str_of(o, "job"), "other-job");
    assert_null(json_get(o, "pipeline"));
    assert_null(json_get(o, "stage"));
    assert_string_equal(str_of(o, "worker"), "host:42");
    cJSON_Delete(o);
    o = json_line(2);
    assert_null(json_get(o, "job"));
    assert_string_equal(str_of(o, "worker"), "host:42");
    cJSON_Delete(o);
}

static void log_fields(void)
{
    const struct log_kv kv[] = {
        {"method", "GET", 0}, {"path", "/a b\"c", 0}, {"status", NULL, 404}, {"empty", "", 0}};

    log_write_kv(LOG_LEVEL_INFO, kv, 4, "request");
    log_write_kv(LOG_LEVEL_DEBUG, kv, 4, "below the level: not written");
}

/* log_msg_kv: the message as it is (a '%' is no format), the numbers as
 * "%lld" writes them, and nothing below the level. */
static void log_msg_fields(void)
{
    const struct log_kv kv[] = {
        {"path", "/x%sy", 0}, {"neg", NULL, -42}, {"min", NULL, LLONG_MIN}, {"zero", NULL, 0}};

    log_msg_kv(LOG_LEVEL_INFO, kv, 4, "GET /x%sy 200 3ms");
    log_msg_kv(LOG_LEVEL_DEBUG, kv, 4, "below the level: not written");
}

static void test_log_msg_fields(void **state)
{
    cJSON *o;

    (void)state;
    log_init("api", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    capture(log_msg_fields);
    assert_int_equal(count_lines(captured), 1);
    assert_non_null(strstr(captured, " info  api: GET /x%sy 200 3ms path=/x%sy neg=-42 "
                                     "min=-9223372036854775808 zero=0\n"));

    log_init("api", LOG_FORMAT_JSON, LOG_LEVEL_INFO);
    capture(log_msg_fields);
    assert_int_equal(count_lines(captured), 1);
    o = json_line(0);
    assert_string_equal(str_of(o, "msg"), "GET /x%sy 200 3ms");
    assert_int_equal(json_get(o, "neg")->valueint, -42);
    assert_int_equal(json_get(o, "zero")->valueint, 0);
    cJSON_Delete(o);
}

static void test_log_fields(void **state)
{
    cJSON *o;

    (void)state;
    log_init("api", LOG_FORMAT_JSON, LOG_LEVEL_INFO);
    capture(log_fields);
    assert_int_equal(count_lines(captured), 1);
    o = json_line(0);
    assert_string_equal(str_of(o, "method"), "GET");
    assert_string_equal(str_of(o, "path"), "/a b\"c");
    assert_int_equal(json_get(o, "status")->valueint, 404);
    cJSON_Delete(o);

    log_init("api", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    capture(log_fields);
    assert_int_equal(count_lines(captured), 1);
    assert_non_null(strstr(captured, " info  api: request method=GET path=\"/a b\\\"c\" status=404 "
                                     "empty=\"\"\n"));
}

static void test_log_text_one_line(void **state)
{
    (void)state;
    log_init("test", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    capture(log_hostile);
    assert_int_equal(count_lines(captured), 1);
    assert_non_null(strstr(captured, "nl\\n cr\\r tab\\t ctl\\x01\\x1b bad\xef\xbf\xbd"));
    capture(log_context);
    assert_int_equal(count_lines(captured), 3);
    assert_non_null(strstr(
        captured, ": in stage job=job-1 pipeline=train stage=2 stage_name=fit worker=host:42\n"));
    assert_non_null(strstr(captured, ": about another job job=other-job worker=host:42\n"));
    assert_non_null(strstr(captured, ": idle worker=host:42\n"));
}

static void log_three_info(void)
{
    log_info("first");
    log_info("second");
    log_info("third");
}

static void log_info_then_warn(void)
{
    log_info("held one");
    log_info("held two");
    log_warnx("written at once");
}

/* Info lines are held, in order, until a flush; a warn line is written at
 * once, after the lines held before it. */
static void test_log_held_in_order(void **state)
{
    const char *a, *b, *c;

    (void)state;
    log_init("test", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    assert_int_equal(capture_held(log_three_info), 0);
    log_flush(); /* to the real stderr: the next capture starts empty */
    capture(log_three_info);
    assert_int_equal(count_lines(captured), 3);
    a = strstr(captured, "first");
    b = strstr(captured, "second");
    c = strstr(captured, "third");
    assert_true(a != NULL && b != NULL && c != NULL && a < b && b < c);

    capture_held(log_info_then_warn);
    assert_int_equal(count_lines(captured), 3);
    a = strstr(captured, "info  test: held one\n");
    b = strstr(captured, "info  test: held two\n");
    c = strstr(captured, "warn  test: written at once\n");
    assert_true(a != NULL && b != NULL && c != NULL && a < b && b < c);
}

#define FILL_LINES 1200 /* about 80 bytes each: more than the buffer holds (64 KiB) */

static void log_many(void)
{
    int i;

    for (i = 0; i < FILL_LINES; i++)
        log_info("line %04d of the lines that fill the buffer", i);
}

/* A full buffer is written before the next line (whole lines only), and
 * every line comes out once, in order. */
static void test_log_fills(void **state)
{
    char want[64];
    const char *p;
    int i;

    (void)state;
    log_init("test", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    capture_held(log_many);
    assert_true(count_lines(captured) > 0);
    assert_true(count_lines(captured) < FILL_LINES);
    assert_int_equal(captured[strlen(captured) - 1], '\n');
    log_flush();
    capture(log_many);
    assert_int_equal(count_lines(captured), FILL_LINES);
    for (i = 0, p = captured; i < FILL_LINES; i++) {
        snprintf(want, sizeof(want), "line %04d of", i);
        p = strstr(p, want);
        assert_non_null(p);
    }
}

static void log_held_then_slow(void)
{
    struct timespec ts = {0, 150 * 1000000L}; /* more than LOG_FLUSH_MS */

    log_info("old line");
    nanosleep(&ts, NULL);
    log_info("next line");
}

static void log_held_then_due(void)
{
    struct timespec ts = {0, 150 * 1000000L};

    log_info("old line");
    nanosleep(&ts, NULL);
    log_flush_due();
}

/* A line held LOG_FLUSH_MS or longer is written with the next line, or by
 * log_flush_due. */
static void test_log_old_line_written(void **state)
{
    (void)state;
    log_init("test", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    capture_held(log_held_then_slow);
    assert_int_equal(count_lines(captured), 2);
    assert_non_null(strstr(captured, ": old line\n"));
    assert_non_null(strstr(captured, ": next line\n"));
    capture_held(log_held_then_due);
    assert_int_equal(count_lines(captured), 1);
    assert_non_null(strstr(captured, ": old line\n"));
}

static int hold_calls;

static void count_hold(void *arg)
{
    (void)arg;
    hold_calls++;
}

static void log_hold_twice(void)
{
    log_on_hold(count_hold, NULL);
    log_info("one"); /* empty buffer: the hook is called */
    log_info("two"); /* not again */
    log_flush();
    log_info("three"); /* empty again */
    log_warnx("four"); /* written at once: no hook call needed */
    log_on_hold(NULL, NULL);
}

/* The event-loop hook hears of the first line held in an empty buffer. */
static void test_log_on_hold(void **state)
{
    (void)state;
    log_init("test", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    hold_calls = 0;
    capture_held(log_hold_twice);
    assert_int_equal(hold_calls, 2);
    assert_int_equal(count_lines(captured), 4);
}

#define LONG_FIELDS 40 /* of 1000 bytes each: a line longer than the buffer */

static void log_long_line(void)
{
    static char value[1001];
    static struct log_kv kv[LONG_FIELDS];
    static char keys[LONG_FIELDS][16];
    int i;

    memset(value, 'v', sizeof(value) - 1);
    for (i = 0; i < LONG_FIELDS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        kv[i].key = keys[i];
        kv[i].str = value;
    }
    log_info("short line before");
    log_write_kv(LOG_LEVEL_INFO, kv, LONG_FIELDS, "long line");
    log_info("short line after");
}

/* A line longer than the buffer goes out whole, after the lines held before
 * it and before the ones after it. */
static void test_log_line_longer_than_buffer(void **state)
{
    cJSON *o;

    (void)state;
    log_init("test", LOG_FORMAT_JSON, LOG_LEVEL_INFO);
    assert_true(capture(log_long_line) > 40000);
    assert_int_equal(count_lines(captured), 3);
    o = json_line(0);
    assert_string_equal(str_of(o, "msg"), "short line before");
    cJSON_Delete(o);
    o = json_line(1);
    assert_string_equal(str_of(o, "msg"), "long line");
    assert_int_equal(strlen(str_of(o, "k39")), 1000);
    cJSON_Delete(o);
    o = json_line(2);
    assert_string_equal(str_of(o, "msg"), "short line after");
    cJSON_Delete(o);
}

/* In text a line is cut at 16 KiB as before: 16,382 bytes and its newline,
 * plain fields written as they are up to the cut. */
static void test_log_text_cut(void **state)
{
    const char *second, *end;

    (void)state;
    log_init("test", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    capture(log_long_line);
    assert_int_equal(count_lines(captured), 3);
    second = strchr(captured, '\n') + 1;
    end = strchr(second, '\n');
    assert_int_equal(end + 1 - second, 16383);
    assert_non_null(strstr(second, ": long line k0=vvvv"));
    assert_non_null(strstr(end, ": short line after\n"));
}

static void log_and_fork(void)
{
    pid_t pid;
    int status;

    log_info("parent before fork");
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        log_info("child line");
        log_flush();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    log_info("parent after fork");
}

/* The parent's held lines are written before a fork and never again by the
 * child. */
static void test_log_fork_no_duplicate(void **state)
{
    const char *a, *b, *c;

    (void)state;
    log_init("test", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    capture(log_and_fork);
    assert_int_equal(count_lines(captured), 3);
    a = strstr(captured, "parent before fork");
    b = strstr(captured, "child line");
    c = strstr(captured, "parent after fork");
    assert_true(a != NULL && b != NULL && c != NULL && a < b && b < c);
    assert_null(strstr(a + 1, "parent before fork"));
}

static const int crash_signals[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
static int crash_signal;

static void log_then_crash(void)
{
    pid_t pid;
    int status;

    log_flush();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t i;

        for (i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
            signal(crash_signals[i], SIG_DFL); /* not cmocka's handlers */
        if (log_catch_crashes() < 0)
            _exit(3);
        log_info("last line before the crash");
        if (crash_signal == SIGABRT)
            abort();
        kill(getpid(), crash_signal);
        _exit(4); /* not reached: the signal's default action ends the process */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* the default action; or a sanitizer's report and exit, which it keeps */
    assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                                        WEXITSTATUS(status) != 3 && WEXITSTATUS(status) != 4));
    if (WIFSIGNALED(status))
        assert_int_equal(WTERMSIG(status), crash_signal);
}

/* A crash (abort, or a crash signal sent with kill) writes the held lines first,
 * then the signal has its default action. */
static void test_log_crash_writes_held(void **state)
{
    size_t i;

    (void)state;
    log_init("test", LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    for (i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++) {
        crash_signal = crash_signals[i];
        capture_held(log_then_crash);
        assert_int_equal(count_lines(captured), 1);
        assert_non_null(strstr(captured, ": last line before the crash\n"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_held_in_order),
        cmocka_unit_test(test_log_fills),
        cmocka_unit_test(test_log_old_line_written),
        cmocka_unit_test(test_log_on_hold),
        cmocka_unit_test(test_log_line_longer_than_buffer),
        cmocka_unit_test(test_log_text_cut),
        cmocka_unit_test(test_log_fork_no_duplicate),
        cmocka_unit_test(test_log_crash_writes_held),
        cmocka_unit_test(test_log_json_hostile),
        cmocka_unit_test(test_log_json_context),
        cmocka_unit_test(test_log_fields),
        cmocka_unit_test(test_log_msg_fields),
        cmocka_unit_test(test_log_text_one_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
