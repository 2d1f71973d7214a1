/* Unit tests for shared/submit: the submit request validator. Every error code
 * with its exact message, the order of the checks, the defaults taken from the
 * pipeline, and that a refused request leaves nothing to free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "submit.h"

#define TTL_DEFAULT_S 4321

static int set_setup(void **state)
{
    struct sq_err err;
    struct pipeline_set *set;
    /* a file pipeline with its own queue and result_ttl_s */
    static const char text[] = "{\"pipelines\": {\"p1\": {\"queue\": \"q1\", \"result_ttl_s\": 77,"
                               " \"stages\": [{\"name\": \"s\", \"builtin\": \"echo\"}]}}}";

    set = pipeline_set_parse(text, sizeof(text) - 1, "test", false, TTL_DEFAULT_S, &err);
    if (set == NULL) {
        fprintf(stderr, "pipeline_set_parse: %s\n", err.msg);
        return -1;
    }
    *state = set;
    return 0;
}

static int set_teardown(void **state)
{
    pipeline_set_free(*state);
    return 0;
}

/* Parses s from an exactly sized heap copy (no NUL after it: ASan sees any
 * read past len). */
static int parse(const struct pipeline_set *set, const char *s, struct submit_req *out,
                 struct submit_err *err)
{
    size_t len = strlen(s);
    char *copy = malloc(len ? len : 1);
    int rc;

    assert_non_null(copy);
    memcpy(copy, s, len);
    rc = submit_parse(copy, len, set, out, err);
    free(copy);
    return rc;
}

/* Expects s refused with code and, when msg is not NULL, exactly msg. */
static void refuse(const struct pipeline_set *set, const char *s, enum submit_err_code code,
                   const char *msg)
{
    struct submit_req req;
    struct submit_err err;

    memset(&req, 0xAB, sizeof(req));
    if (parse(set, s, &req, &err) == 0) {
        submit_req_free(&req);
        fail_msg("accepted: %s", s);
    }
    if (err.code != code)
        fail_msg("%s: code %d, expected %d (%s)", s, (int)err.code, (int)code, err.msg);
    if (msg != NULL)
        assert_string_equal(err.msg, msg);
    assert_null(req.root); /* left empty */
    assert_null(req.pipeline);
    submit_req_free(&req);
}

static void test_defaults(void **state)
{
    const struct pipeline_set *set = *state;
    struct submit_req req;
    struct submit_err err;

    assert_int_equal(parse(set, "{\"pipeline\":\"echo\"}", &req, &err), 0);
    assert_int_equal(err.code, SUBMIT_OK);
    assert_non_null(req.root);
    assert_string_equal(req.pipeline->name, "echo");
    assert_null(req.id);    /* the caller makes a UUID */
    assert_null(req.input); /* absent: null */
    assert_string_equal(req.queue, "default");
    assert_int_equal(req.result_ttl_s, TTL_DEFAULT_S);
    submit_req_free(&req);
    assert_null(req.root);

    /* queue and ttl from a file pipeline */
    assert_int_equal(parse(set, "{\"pipeline\":\"p1\",\"input\":null}", &req, &err), 0);
    assert_string_equal(req.pipeline->name, "p1");
    assert_string_equal(req.queue, "q1");
    assert_int_equal(req.result_ttl_s, 77);
    assert_non_null(req.input);
    assert_true(cJSON_IsNull(req.input));
    submit_req_free(&req);
}

static void test_all_fields(void **state)
{
    const struct pipeline_set *set = *state;
    struct submit_req req;
    struct submit_err err;
    char *printed;

    assert_int_equal(parse(set,
                           " {\"input\":{\"a\":[1,2]},\"id\":\"job-1\",\"queue\":\"q.x\","
                           "\"result_ttl_s\":31536000,\"pipeline\":\"p1\"}\n",
                           &req, &err),
                     0);
    assert_string_equal(req.pipeline->name, "p1");
    assert_string_equal(req.id, "job-1");
    assert_string_equal(req.queue, "q.x");
    assert_int_equal(req.result_ttl_s, 31536000);
    printed = cJSON_PrintUnformatted(req.input);
    assert_string_equal(printed, "{\"a\":[1,2]}");
    cJSON_free(printed);
    submit_req_free(&req);
    submit_req_free(&req); /* emptied: a second free does nothing */
    submit_req_free(NULL);

    assert_int_equal(parse(set, "{\"pipeline\":\"echo\",\"result_ttl_s\":1.0}", &req, &err), 0);
    assert_int_equal(req.result_ttl_s, 1);
    submit_req_free(&req);
}

static void test_malformed_json(void **state)
{
    const struct pipeline_set *set = *state;
    struct submit_req req;
    struct submit_err err;

    refuse(set, "{\"pipeline\":", SUBMIT_ERR_MALFORMED_JSON,
           "malformed JSON body: syntax error at byte 11");
    refuse(set, "", SUBMIT_ERR_MALFORMED_JSON,
           "malformed JSON body: empty body, expected JSON at byte 0");
    refuse(set, "{\"pipeline\":\"echo\"} x", SUBMIT_ERR_MALFORMED_JSON,
           "malformed JSON body: unexpected data after the JSON value at byte 20");
    refuse(set, "{\"a\":\"\\u0000\"}", SUBMIT_ERR_MALFORMED_JSON, NULL);
    refuse(set, "{\"a\":\"\xc3\x28\"}", SUBMIT_ERR_MALFORMED_JSON,
           "malformed JSON body: invalid UTF-8 at byte 6");
    /* NULL body with length 0: the API passes that for an empty body */
    assert_int_equal(submit_parse(NULL, 0, set, &req, &err), -1);
    assert_int_equal(err.code, SUBMIT_ERR_MALFORMED_JSON);
    assert_null(req.root);
}

static void test_invalid_request(void **state)
{
    const struct pipeline_set *set = *state;

    refuse(set, "[1]", SUBMIT_ERR_INVALID_REQUEST, "the request body must be a JSON object");
    refuse(set, "\"x\"", SUBMIT_ERR_INVALID_REQUEST, NULL);
    refuse(set, "null", SUBMIT_ERR_INVALID_REQUEST, NULL);
    refuse(set, "1", SUBMIT_ERR_INVALID_REQUEST, NULL);
}

static void test_fields(void **state)
{
    const struct pipeline_set *set = *state;
    char buf[512];

    refuse(set, "{}", SUBMIT_ERR_MISSING_FIELD, "field 'pipeline' is required");
    refuse(set, "{\"input\":1}", SUBMIT_ERR_MISSING_FIELD, "field 'pipeline' is required");
    refuse(set, "{\"pipeline\":5}", SUBMIT_ERR_INVALID_FIELD, "field 'pipeline' must be a string");
    refuse(set, "{\"pipeline\":null}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"inptu\":1}", SUBMIT_ERR_UNKNOWN_FIELD,
           "unknown field 'inptu'");
    refuse(set, "{\"pipeline\":\"echo\",\"Pipeline\":1}", SUBMIT_ERR_UNKNOWN_FIELD,
           "unknown field 'Pipeline'");
    refuse(set, "{\"pipeline\":\"echo\",\"pipeline\":\"echo\"}", SUBMIT_ERR_INVALID_FIELD,
           "field 'pipeline' appears more than once");
    refuse(set, "{\"pipeline\":\"echo\",\"queue\":\"a/b\"}", SUBMIT_ERR_INVALID_FIELD,
           "field 'queue' must be 1-64 characters of [A-Za-z0-9._:-], not . or ..");
    refuse(set, "{\"pipeline\":\"echo\",\"queue\":7}", SUBMIT_ERR_INVALID_FIELD, NULL);
    snprintf(buf, sizeof(buf), "{\"pipeline\":\"echo\",\"queue\":\"%065d\"}", 0);
    refuse(set, buf, SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"result_ttl_s\":0}", SUBMIT_ERR_INVALID_FIELD,
           "field 'result_ttl_s' must be a whole number of seconds in [1, 31536000]");
    refuse(set, "{\"pipeline\":\"echo\",\"result_ttl_s\":1.5}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"result_ttl_s\":\"10\"}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"result_ttl_s\":1e300}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"result_ttl_s\":-1e300}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"result_ttl_s\":31536001}", SUBMIT_ERR_INVALID_FIELD,
           NULL);
}

static void test_invalid_id(void **state)
{
    const struct pipeline_set *set = *state;
    char buf[512];
    static const char msg[] = "field 'id' must be 1-128 characters of [A-Za-z0-9._:-], not . or ..";

    refuse(set, "{\"pipeline\":\"echo\",\"id\":\"../x\"}", SUBMIT_ERR_INVALID_ID, msg);
    refuse(set, "{\"pipeline\":\"echo\",\"id\":\"\"}", SUBMIT_ERR_INVALID_ID, msg);
    refuse(set, "{\"pipeline\":\"echo\",\"id\":\".\"}", SUBMIT_ERR_INVALID_ID, msg);
    refuse(set, "{\"pipeline\":\"echo\",\"id\":\"a b\"}", SUBMIT_ERR_INVALID_ID, msg);
    refuse(set, "{\"pipeline\":\"echo\",\"id\":5}", SUBMIT_ERR_INVALID_ID, msg);
    snprintf(buf, sizeof(buf), "{\"pipeline\":\"echo\",\"id\":\"%0129d\"}", 0);
    refuse(set, buf, SUBMIT_ERR_INVALID_ID, msg);
    snprintf(buf, sizeof(buf), "{\"pipeline\":\"echo\",\"id\":\"%0128d\"}", 0);
    {
        struct submit_req req;
        struct submit_err err;
        assert_int_equal(parse(set, buf, &req, &err), 0);
        assert_int_equal(strlen(req.id), 128);
        submit_req_free(&req);
    }
}

static void test_unknown_pipeline(void **state)
{
    const struct pipeline_set *set = *state;
    char buf[512], want[128];
    int i, nb, nw;

    refuse(set, "{\"pipeline\":\"nope\"}", SUBMIT_ERR_UNKNOWN_PIPELINE, "unknown pipeline 'nope'");
    refuse(set, "{\"pipeline\":\"\"}", SUBMIT_ERR_UNKNOWN_PIPELINE, "unknown pipeline ''");
    /* client text is clipped to 64 bytes, at a character boundary: 21 'é'
     * (42 bytes) + 'x' + 11 'é' = 65 bytes; the clip drops the last 'é' */
    nb = snprintf(buf, sizeof(buf), "{\"pipeline\":\"");
    nw = snprintf(want, sizeof(want), "unknown pipeline '");
    for (i = 0; i < 33; i++) {
        const char *c = i == 21 ? "x" : "\xc3\xa9";
        nb += snprintf(buf + nb, sizeof(buf) - (size_t)nb, "%s", c);
        if (i < 32)
            nw += snprintf(want + nw, sizeof(want) - (size_t)nw, "%s", c);
    }
    snprintf(buf + nb, sizeof(buf) - (size_t)nb, "\"}");
    snprintf(want + nw, sizeof(want) - (size_t)nw, "'");
    refuse(set, buf, SUBMIT_ERR_UNKNOWN_PIPELINE, want);
}

/* A job keeps its slot: the queue a submit names must have the partition
 * count of the other queues its stages run on. */
static void test_partitions(void **state)
{
    struct sq_err err;
    struct pipeline_set *set;
    struct submit_req req;
    struct submit_err serr;
    static const char text[] =
        "{\"queues\": {\"wide\": {\"partitions\": 4}, \"gpu\": {\"partitions\": 4}},"
        " \"pipelines\": {\"hop\": {\"queue\": \"wide\", \"stages\": ["
        "{\"name\": \"a\", \"builtin\": \"echo\"},"
        "{\"name\": \"b\", \"queue\": \"gpu\", \"builtin\": \"echo\"}]}}}";

    (void)state;
    set = pipeline_set_parse(text, sizeof(text) - 1, "test", false, TTL_DEFAULT_S, &err);
    assert_non_null(set);
    /* its own queue, or another of 4 partitions: accepted */
    assert_int_equal(parse(set, "{\"pipeline\":\"hop\"}", &req, &serr), 0);
    submit_req_free(&req);
    assert_int_equal(parse(set, "{\"pipeline\":\"hop\",\"queue\":\"gpu\"}", &req, &serr), 0);
    submit_req_free(&req);
    /* a queue of 1 partition whose job would hop to one of 4 */
    refuse(set, "{\"pipeline\":\"hop\",\"queue\":\"narrow\"}", SUBMIT_ERR_INVALID_FIELD,
           "queue 'narrow' has 1 partitions and queue 'gpu' (stage 2) 4: the queues of one job "
           "need the same number");
    /* a pipeline whose stages name no queue may go anywhere */
    assert_int_equal(parse(set, "{\"pipeline\":\"echo\",\"queue\":\"wide\"}", &req, &serr), 0);
    submit_req_free(&req);
    pipeline_set_free(set);
}

/* The first failing check wins, in the documented order. */
static void test_order(void **state)
{
    const struct pipeline_set *set = *state;

    refuse(set, "{\"inptu\":1,\"pipeline\":5}", SUBMIT_ERR_UNKNOWN_FIELD, NULL);
    refuse(set, "{\"id\":\"../\",\"pipeline\":\"nope\"}", SUBMIT_ERR_INVALID_ID, NULL);
    refuse(set, "{\"queue\":\"a/b\",\"result_ttl_s\":0,\"pipeline\":\"nope\"}",
           SUBMIT_ERR_INVALID_FIELD,
           "field 'queue' must be 1-64 characters of [A-Za-z0-9._:-], not . or ..");
    refuse(set, "{\"result_ttl_s\":0,\"pipeline\":\"nope\"}", SUBMIT_ERR_INVALID_FIELD, NULL);
}

/* The input's bytes as sent: a span of the body, whitespace and all, its
 * numbers as written (not cJSON's 15 digits); absent: NULL. */
static void test_input_text(void **state)
{
    static const char body[] = "{ \"pipeline\" : \"echo\", \"input\" : [ 1.0, 9007199254740993,"
                               " {\"k\":\"]\\\"\"} ] , \"id\" : \"x\" }";
    static const char scalar[] = "{\"input\":1E+2,\"pipeline\":\"echo\"}";
    struct submit_req req;
    struct submit_err err;

    assert_int_equal(submit_parse(body, sizeof(body) - 1, *state, &req, &err), 0);
    assert_non_null(req.input_text);
    assert_int_equal(req.input_len, strlen("[ 1.0, 9007199254740993, {\"k\":\"]\\\"\"} ]"));
    assert_memory_equal(req.input_text, "[ 1.0, 9007199254740993, {\"k\":\"]\\\"\"} ]",
                        req.input_len);
    submit_req_free(&req);
    assert_int_equal(submit_parse(scalar, sizeof(scalar) - 1, *state, &req, &err), 0);
    assert_int_equal(req.input_len, 4);
    assert_memory_equal(req.input_text, "1E+2", 4);
    submit_req_free(&req);
    assert_int_equal(parse(*state, "{\"pipeline\":\"echo\"}", &req, &err), 0);
    assert_null(req.input_text);
    assert_int_equal(req.input_len, 0);
    submit_req_free(&req);
}

/* submit_parse_item: an element of an array parsed once, whole: the same
 * request (its input's bytes a span of the element's text), or the same
 * refusal, as submit_parse of the element's text alone; the tree stays the
 * caller's. */
static void test_parse_item(void **state)
{
    static const char arr[] = "[{\"pipeline\":\"echo\",\"input\": [1.50, 2] ,\"id\":\"e-1\"},"
                              "{\"pipeline\":\"nope\"},7,{\"pipeline\":\"echo\",\"bogus\":1}]";
    struct submit_req req, one;
    struct submit_err err, err1;
    struct json_err jerr;
    size_t off[4], len[4], k;
    cJSON *root = json_parse_strict(arr, sizeof(arr) - 1, JSON_MAX_DEPTH_DEFAULT, &jerr);
    const cJSON *e;

    assert_non_null(root);
    assert_int_equal(json_element_spans(arr, sizeof(arr) - 1, 4, off, len), 0);
    for (k = 0, e = root->child; k < 4; k++, e = e->next) {
        int rc = submit_parse_item(arr + off[k], len[k], e, *state, &req, &err);
        int rc1 = submit_parse(arr + off[k], len[k], *state, &one, &err1);
        assert_int_equal(rc, rc1);
        assert_int_equal(err.code, err1.code);
        assert_string_equal(err.msg, err1.msg);
        assert_null(req.root);
        if (rc == 0) {
            assert_ptr_equal(req.pipeline, one.pipeline);
            assert_string_equal(req.id, one.id);
            assert_int_equal(req.input_len, one.input_len);
            assert_memory_equal(req.input_text, "[1.50, 2]", req.input_len);
            assert_true(req.input_text >= arr && req.input_text < arr + sizeof(arr));
        }
        submit_req_free(&req);
        submit_req_free(&one);
    }
    assert_int_equal(submit_parse_item(arr + off[0], len[0], root->child, *state, &req, &err), 0);
    cJSON_Delete(root); /* the tree is the caller's: req borrowed from it */
}

/* delay_s and run_at: accepted forms, refusals, and the due time. */
static void test_due(void **state)
{
    const struct pipeline_set *set = *state;
    const int64_t now = 1764089296000LL; /* 2025-11-25T16:48:16Z */
    struct submit_req req;
    struct submit_err err;
    int64_t due;

    assert_int_equal(parse(set, "{\"pipeline\":\"echo\"}", &req, &err), 0);
    assert_false(req.has_delay || req.has_run_at);
    assert_int_equal(submit_due_ms(&req, now, &due, &err), 0);
    assert_true(due == now);
    submit_req_free(&req);

    assert_int_equal(parse(set, "{\"pipeline\":\"echo\",\"delay_s\":2.5}", &req, &err), 0);
    assert_true(req.has_delay && req.delay_ms == 2500);
    assert_int_equal(submit_due_ms(&req, now, &due, &err), 0);
    assert_true(due == now + 2500);
    submit_req_free(&req);

    assert_int_equal(parse(set, "{\"pipeline\":\"echo\",\"delay_s\":0.0004}", &req, &err), 0);
    assert_true(req.delay_ms == 0); /* ms precision */
    submit_req_free(&req);
    assert_int_equal(parse(set, "{\"pipeline\":\"echo\",\"delay_s\":31536000}", &req, &err), 0);
    assert_true(req.delay_ms == 31536000000LL);
    submit_req_free(&req);

    assert_int_equal(parse(set,
                           "{\"pipeline\":\"echo\",\"run_at\":\"2025-11-25T17:48:17.5+01:00\"}",
                           &req, &err),
                     0);
    assert_true(req.has_run_at && req.run_at_ms == now + 1500);
    assert_int_equal(submit_due_ms(&req, now, &due, &err), 0);
    assert_true(due == now + 1500);
    submit_req_free(&req);

    /* in the past: due at once (the caller queues it) */
    assert_int_equal(
        parse(set, "{\"pipeline\":\"echo\",\"run_at\":\"2020-01-01T00:00:00Z\"}", &req, &err), 0);
    assert_int_equal(submit_due_ms(&req, now, &due, &err), 0);
    assert_true(due < now);
    submit_req_free(&req);

    /* more than a year ahead */
    assert_int_equal(
        parse(set, "{\"pipeline\":\"echo\",\"run_at\":\"2026-11-26T16:48:16Z\"}", &req, &err), 0);
    assert_int_equal(submit_due_ms(&req, now, &due, &err), -1);
    assert_int_equal(err.code, SUBMIT_ERR_INVALID_FIELD);
    assert_string_equal(err.msg, "field 'run_at' is more than 31536000 s (a year) ahead: at most "
                                 "2026-11-25T16:48:16.000Z");
    submit_req_free(&req);

    refuse(set, "{\"pipeline\":\"echo\",\"delay_s\":-1}", SUBMIT_ERR_INVALID_FIELD,
           "field 'delay_s' must be a number of seconds in [0, 31536000] (a fraction is kept to "
           "the millisecond)");
    refuse(set, "{\"pipeline\":\"echo\",\"delay_s\":\"5\"}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"delay_s\":null}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"delay_s\":31536000.001}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"delay_s\":1e400}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"run_at\":\"tomorrow\"}", SUBMIT_ERR_INVALID_FIELD,
           "field 'run_at' must be an RFC 3339 time with a 'Z' or an offset, such as "
           "2026-11-25T16:48:16Z or 2026-11-25T17:48:16.5+01:00");
    refuse(set, "{\"pipeline\":\"echo\",\"run_at\":\"2025-11-25T16:48:16\"}",
           SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"run_at\":1764089296}", SUBMIT_ERR_INVALID_FIELD, NULL);
    refuse(set, "{\"pipeline\":\"echo\",\"delay_s\":1,\"run_at\":\"2025-11-25T16:48:16Z\"}",
           SUBMIT_ERR_INVALID_FIELD, "give either 'delay_s' or 'run_at', not both");
    refuse(set, "{\"pipeline\":\"echo\",\"delay_s\":1,\"delay_s\":2}", SUBMIT_ERR_INVALID_FIELD,
           "field 'delay_s' appears more than once");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_all_fields),
        cmocka_unit_test(test_malformed_json),   cmocka_unit_test(test_invalid_request),
        cmocka_unit_test(test_fields),           cmocka_unit_test(test_invalid_id),
        cmocka_unit_test(test_unknown_pipeline), cmocka_unit_test(test_order),
        cmocka_unit_test(test_input_text),       cmocka_unit_test(test_parse_item),
        cmocka_unit_test(test_partitions),       cmocka_unit_test(test_due),
    };

    return cmocka_run_group_tests(tests, set_setup, set_teardown);
}
