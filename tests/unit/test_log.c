/* Unit tests for shared/log: every line is one event, JSON lines parse
 * strictly (valid UTF-8) whatever the message holds, the context fields
 * (worker, job, pipeline, stage) and extra fields appear in both formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "json.h"
#include "log.h"

#define CAPTURE_MAX 65536

static char captured[CAPTURE_MAX];

/* Runs the log calls of fn with stderr sent to a temporary file, then reads
 * what they wrote into captured (cmocka reports on stderr: restored after). */
static size_t capture(void (*fn)(void))
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_json_hostile),
        cmocka_unit_test(test_log_json_context),
        cmocka_unit_test(test_log_fields),
        cmocka_unit_test(test_log_text_one_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
