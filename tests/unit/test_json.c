/* Unit tests for shared/json: what json_parse_strict accepts and refuses, the
 * offsets it reports, that it never reads past len, and json_get/json_print. */
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

#define DEPTH JSON_MAX_DEPTH_DEFAULT

/* Parses s[0..len) from an exactly sized heap copy (no NUL after it, so ASan
 * sees any read past len) and returns the tree. */
static cJSON *parse_exact(const char *s, size_t len, int max_depth, struct json_err *err)
{
    char *copy = malloc(len ? len : 1);
    cJSON *root;

    assert_non_null(copy);
    memcpy(copy, s, len);
    memset(err, 0, sizeof(*err));
    err->offset = (size_t)-1;
    root = json_parse_strict(copy, len, max_depth, err);
    free(copy);
    return root;
}

/* Expects s[0..len) to be refused at byte offset `off`. */
static void refuse_n(const char *s, size_t len, int max_depth, size_t off)
{
    struct json_err err;
    cJSON *root = parse_exact(s, len, max_depth, &err);

    if (root != NULL) {
        cJSON_Delete(root);
        fail_msg("accepted %zu bytes: '%.*s'", len, (int)len, s);
    }
    if (err.offset != off)
        fail_msg("'%.*s': offset %zu, expected %zu (%s)", (int)len, s, err.offset, off, err.msg);
    assert_true(err.msg[0] != '\0');
}
#define refuse(lit, off) refuse_n((lit), sizeof(lit) - 1, DEPTH, (off))

/* Expects s to be accepted and printed back (unformatted) as want. */
static void accept_n(const char *s, size_t len, int max_depth, const char *want)
{
    struct json_err err;
    cJSON *root = parse_exact(s, len, max_depth, &err);
    char *out;

    if (root == NULL)
        fail_msg("refused '%.*s': %s", (int)len, s, err.msg);
    out = json_print(root);
    assert_non_null(out);
    if (strcmp(out, want) != 0) {
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", out);
        cJSON_free(out);
        cJSON_Delete(root);
        fail_msg("'%.*s' printed as '%s', expected '%s'", (int)len, s, copy, want);
    }
    cJSON_free(out);
    cJSON_Delete(root);
}
#define accept(lit, want) accept_n((lit), sizeof(lit) - 1, DEPTH, (want))

static void test_accepts_values(void **state)
{
    (void)state;
    accept("{}", "{}");
    accept("[]", "[]");
    accept(" \t\r\n{ \"a\" : [1, 2.5, -3e2, true, false, null, \"s\"] }\n\t \r",
           "{\"a\":[1,2.5,-300,true,false,null,\"s\"]}");
    accept("0", "0");
    accept(" 42 ", "42");
    accept("-1.5", "-1.5");
    accept("\"x\"", "\"x\"");
    accept("true", "true");
    accept("false", "false");
    accept("null", "null");
    accept("\n\"padded\"\n", "\"padded\"");
    accept("{\"a\":{\"b\":{}},\"c\":[[]]}", "{\"a\":{\"b\":{}},\"c\":[[]]}");
    /* brackets inside strings do not count as nesting */
    accept_n("\"[[[{{{\"", 8, 0, "\"[[[{{{\"");
}

static void test_accepts_utf8(void **state)
{
    (void)state;
    accept("\"\xC3\xA9\"", "\"\xC3\xA9\"");                 /* é */
    accept("\"\xE4\xB8\xAD\"", "\"\xE4\xB8\xAD\"");         /* 中 */
    accept("\"\xF0\x9F\x98\x80\"", "\"\xF0\x9F\x98\x80\""); /* 😀 */
    accept("{\"\xC3\xA9\":\"\xE4\xB8\xAD\xF0\x9F\x98\x80\"}",
           "{\"\xC3\xA9\":\"\xE4\xB8\xAD\xF0\x9F\x98\x80\"}");
    /* the extremes of the valid ranges */
    accept("\"\xC2\x80\"", "\"\xC2\x80\"");                 /* U+0080 */
    accept("\"\xEF\xBF\xBF\"", "\"\xEF\xBF\xBF\"");         /* U+FFFF */
    accept("\"\xED\x9F\xBF\"", "\"\xED\x9F\xBF\"");         /* U+D7FF, just below the surrogates */
    accept("\"\xEE\x80\x80\"", "\"\xEE\x80\x80\"");         /* U+E000, just above */
    accept("\"\xF4\x8F\xBF\xBF\"", "\"\xF4\x8F\xBF\xBF\""); /* U+10FFFF */
    accept("\"\x7F\"", "\"\x7F\""); /* DEL is not a control character in JSON */
}

static void test_accepts_escapes(void **state)
{
    (void)state;
    accept("\"\\u00e9\"", "\"\xC3\xA9\"");
    accept("\"\\u4E2D\"", "\"\xE4\xB8\xAD\"");
    accept("\"\\ud83d\\ude00\"", "\"\xF0\x9F\x98\x80\"");
    accept("\"a\\\"b\\\\c\\/d\\n\\t\"", "\"a\\\"b\\\\c/d\\n\\t\"");
    accept("\"\\u0001\"", "\"\\u0001\"");
    /* an escaped backslash followed by the text u0000 is not the \u0000 escape */
    accept("\"\\\\u0000\"", "\"\\\\u0000\"");
    accept("[\"\\\\\",\"u0000\"]", "[\"\\\\\",\"u0000\"]");
}

static void test_refuses_empty_and_garbage(void **state)
{
    struct json_err err;

    (void)state;
    err.offset = 99;
    assert_null(json_parse_strict("", 0, DEPTH, &err));
    assert_int_equal(err.offset, 0);
    assert_string_equal(err.msg, "empty body, expected JSON at byte 0");
    assert_null(json_parse_strict(NULL, 5, DEPTH, &err));
    assert_null(json_parse_strict("x", 1, DEPTH, NULL)); /* a NULL err is allowed */

    refuse("   ", 2);
    refuse("{} x", 3);
    refuse("{}{}", 2);
    refuse("[1] [2]", 4);
    refuse("1 2", 2);
    refuse("\"a\"\"b\"", 3);
    refuse("{}}", 2);
    refuse("nul", 0);
    refuse("{} \x0c", 3); /* form feed is not JSON whitespace */

    memset(&err, 0, sizeof(err));
    assert_null(json_parse_strict("{} x", 4, DEPTH, &err));
    assert_string_equal(err.msg, "unexpected data after the JSON value at byte 3");
}

static void test_refuses_truncated(void **state)
{
    (void)state;
    refuse("{", 0);
    refuse("[1,", 2);
    refuse("[1,]", 3);
    refuse("{\"a\" 1}", 5);
    refuse("{\"a\":1", 5);
    refuse("\"abc", 1); /* cJSON reports the start of the unterminated string */
    refuse("\"\\", 1);
    refuse("\"\\u00\"", 1);
    refuse("tru", 0);
    refuse("-", 0);
}

static void test_refuses_bad_utf8(void **state)
{
    struct json_err err;

    (void)state;
    refuse("\"\xC3\"", 1); /* lead byte, then no continuation */
    refuse("[\"ok\",\"\xC3\"]", 7);
    refuse("\"\xC3", 1);               /* lead byte at the very end */
    refuse("\"\xC0\xAF\"", 1);         /* overlong '/' */
    refuse("\"\xC1\xBF\"", 1);         /* overlong */
    refuse("\"\xE0\x80\xAF\"", 1);     /* 3-byte overlong */
    refuse("\"\xF0\x8F\xBF\xBF\"", 1); /* 4-byte overlong */
    refuse("\"\xED\xA0\x80\"", 1);     /* U+D800 surrogate */
    refuse("\"\xED\xBF\xBF\"", 1);     /* U+DFFF surrogate */
    refuse("\"\xF4\x90\x80\x80\"", 1); /* U+110000 */
    refuse("\"\xF5\x80\x80\x80\"", 1);
    refuse("\"\xF8\x88\x80\x80\x80\"", 1);
    refuse("\"\xFF\"", 1);
    refuse("\"\x80\"", 1);       /* lone continuation byte */
    refuse("\"ab\xE4\xB8\"", 3); /* truncated sequence */
    refuse("{\"k\xC3\":1}", 3);  /* in a key */
    refuse("[\xC3\xA9]", 1);     /* non-ASCII outside strings */
    refuse("\xEF\xBB\xBF{}", 0); /* a BOM is not JSON */

    memset(&err, 0, sizeof(err));
    assert_null(json_parse_strict("\"\xC0\xAF\"", 4, DEPTH, &err));
    assert_string_equal(err.msg, "invalid UTF-8 at byte 1");
}

static void test_refuses_control_and_nul(void **state)
{
    struct json_err err;

    (void)state;
    refuse("\"a\x01z\"", 2);
    refuse("\"tab\there\"", 4);
    refuse("\"line\nbreak\"", 5);
    refuse("{\"k\":\"\x1f\"}", 6);
    refuse("\"\\u0000\"", 1);
    refuse("{\"k\":\"ab\\u0000\"}", 8);
    refuse("{\"\\u0000\":1}", 2);
    refuse("[\"\\\\\\u0000\"]", 4); /* escaped backslash, then the \u0000 escape */
    /* escapes JSON does not have: cJSON read \u with bad hex digits as U+0000 */
    refuse("[\"ab\\ud3d\\u0041\"]", 4);
    refuse("\"\\u12\"", 1);
    refuse("\"\\uzzzz\"", 1);
    refuse("\"\\x41\"", 1);
    refuse("\"\\'\"", 1);
    refuse_n("[\"a\\\0b\"]", 7, DEPTH, 3);
    refuse_n("[1,\0 2]", 7, DEPTH, 3);
    refuse_n("\0", 1, DEPTH, 0);
    refuse_n("{}\0", 3, DEPTH, 2);
    refuse_n("\"a\0b\"", 5, DEPTH, 2); /* NUL inside a string is a raw control character */
    /* control characters outside strings are not whitespace either */
    refuse("\x01{}", 0);
    refuse("[1,\x0b 2]", 3);
    refuse("{\"a\":\x0c 1}", 5);

    memset(&err, 0, sizeof(err));
    assert_null(json_parse_strict("\"a\x01z\"", 5, DEPTH, &err));
    assert_string_equal(err.msg, "raw control character in string at byte 2");
    assert_null(json_parse_strict("\"\\u0000\"", 8, DEPTH, &err));
    assert_string_equal(err.msg, "\\u0000 is not allowed in strings at byte 1");
    assert_null(json_parse_strict("[1,\0 2]", 7, DEPTH, &err));
    assert_string_equal(err.msg, "NUL byte at byte 3");
    assert_null(json_parse_strict("\x01{}", 3, DEPTH, &err));
    assert_string_equal(err.msg, "invalid character at byte 0");
    /* numbers cJSON would take but JSON does not */
    refuse("{\"n\":01}", 5);
    refuse("[1,-.5]", 3);
    refuse("1.", 0);
    refuse("[0.5,1.e3]", 5);
    assert_null(json_parse_strict("{\"n\":01}", 8, DEPTH, &err));
    assert_string_equal(err.msg, "invalid number at byte 5");
}

/* Builds n '[' then n ']' (or objects {"a":...}) into buf. */
static size_t nest(char *buf, size_t cap, int n, int objects)
{
    size_t len = 0;
    int i;

    for (i = 0; i < n; i++) {
        const char *open = objects ? "{\"a\":" : "[";
        assert_true(len + 5 < cap);
        memcpy(buf + len, open, strlen(open));
        len += strlen(open);
    }
    if (objects) {
        assert_true(len + 1 < cap);
        buf[len++] = '1';
    }
    for (i = 0; i < n; i++) {
        assert_true(len + 1 < cap);
        buf[len++] = objects ? '}' : ']';
    }
    return len;
}

static void test_depth(void **state)
{
    static char buf[8192];
    struct json_err err;
    size_t len;
    cJSON *root;

    (void)state;
    /* exactly at the limit: accepted */
    len = nest(buf, sizeof(buf), DEPTH, 0);
    root = parse_exact(buf, len, DEPTH, &err);
    assert_non_null(root);
    cJSON_Delete(root);
    len = nest(buf, sizeof(buf), DEPTH, 1);
    root = parse_exact(buf, len, DEPTH, &err);
    assert_non_null(root);
    cJSON_Delete(root);

    /* one deeper: refused at the bracket that goes too deep */
    len = nest(buf, sizeof(buf), DEPTH + 1, 0);
    refuse_n(buf, len, DEPTH, DEPTH);
    len = nest(buf, sizeof(buf), DEPTH + 1, 1);
    refuse_n(buf, len, DEPTH, (size_t)DEPTH * 5);

    /* small limits */
    accept_n("[[1],{\"a\":[]}]", 14, 3, "[[1],{\"a\":[]}]");
    refuse_n("[[1],{\"a\":[]}]", 14, 2, 10);
    refuse_n("[[[1]]]", 7, 2, 2);
    accept_n("7", 1, 0, "7");
    refuse_n("[]", 2, 0, 0);
    /* closing brackets free depth again */
    accept_n("[[],[],[]]", 10, 2, "[[],[],[]]");

    /* a document far deeper than cJSON's own limit is refused by the pre-pass */
    len = nest(buf, sizeof(buf), 4000, 0);
    refuse_n(buf, len, DEPTH, DEPTH);
}

static void test_no_read_past_len(void **state)
{
    static const char *const ok[] = {
        "{\"a\":[1,2,\"x\"]}", "123", "-0.5e-3", "\"abc\"", "true", "null", "[\"\\u00e9\"]",
        "\"\xF0\x9F\x98\x80\""};
    static const char *const bad[] = {"\"abc",      "\"\\",    "\"\\u00", "\"\\ud83d",
                                      "\"\xE4\xB8", "-",       "1e",      "[",
                                      "{\"a\"",     "{\"a\":", "tr",      "\"\\u000"};
    struct json_err err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cJSON *root = parse_exact(ok[i], strlen(ok[i]), DEPTH, &err);
        if (root == NULL)
            fail_msg("refused '%s': %s", ok[i], err.msg);
        cJSON_Delete(root);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *root = parse_exact(bad[i], strlen(bad[i]), DEPTH, &err);
        if (root != NULL) {
            cJSON_Delete(root);
            fail_msg("accepted '%s'", bad[i]);
        }
        assert_true(err.offset < strlen(bad[i]));
    }
    /* a number whose next byte in memory would extend it: only len bytes count */
    {
        const char mem[] = "12345";
        cJSON *root = json_parse_strict(mem, 2, DEPTH, &err);
        assert_non_null(root);
        assert_true(cJSON_IsNumber(root));
        assert_true(root->valuedouble == 12.0);
        cJSON_Delete(root);
    }
}

static void test_numbers_check(void **state)
{
    static const char *const good[] = {
        "0",       "-0",          "12",
        "-12",     "0.5",         "-0.5",
        "1e5",     "1E+5",        "1e-05",
        "12.25e3", "[1,-2,0.0]",  "{\"a\":1,\"b\":[true,false,null]}",
        "\"01\"",  "\"a\\\"01\"", "[\"\\u0030\",1.5]",
        "{}",      "[]",          "\"1.\"",
    };
    static const char *const bad[] = {
        "01",  "-01", "00",     "1.",         "-.5",       "1.e5",       "1e",
        "1e+", "-",   "[1,01]", "{\"a\":1.}", "[\"x\",-]", "[0.5,1.e3]",
    };
    size_t i;

    cJSON *root;
    struct json_err err;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        root = json_parse_strict(good[i], strlen(good[i]), DEPTH, &err);
        if (root == NULL)
            fail_msg("refused %s", good[i]);
        cJSON_Delete(root);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (json_parse_strict(bad[i], strlen(bad[i]), DEPTH, &err) != NULL)
            fail_msg("accepted %s", bad[i]);
    /* only len bytes are read: "12" of "123", "1." of "1.5" */
    root = json_parse_strict("123", 2, DEPTH, &err);
    assert_non_null(root);
    assert_true(root->valuedouble == 12.0);
    cJSON_Delete(root);
    assert_null(json_parse_strict("1.5", 2, DEPTH, &err));
    assert_null(json_parse_strict("1e5", 2, DEPTH, &err));
}

static void test_json_number(void **state)
{
    cJSON *n = cJSON_CreateNumber(2.5), *r = cJSON_CreateRaw("-0.25"), *o = cJSON_CreateRaw("{}");
    cJSON *s = cJSON_CreateString("1"), *inf = cJSON_CreateRaw("inf");
    double d = 0;

    (void)state;
    assert_int_equal(json_number(n, &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(json_number(r, &d), 0);
    assert_true(d == -0.25);
    assert_int_equal(json_number(o, &d), -1);
    assert_int_equal(json_number(s, &d), -1);
    assert_int_equal(json_number(inf, &d), -1);
    assert_int_equal(json_number(NULL, &d), -1);
    cJSON_Delete(n);
    cJSON_Delete(r);
    cJSON_Delete(o);
    cJSON_Delete(s);
    cJSON_Delete(inf);
}

static void test_json_get(void **state)
{
    static const char doc[] = "{\"Name\":1,\"name\":2,\"n\\u0061me2\":3}";
    struct json_err err;
    cJSON *root = json_parse_strict(doc, sizeof(doc) - 1, DEPTH, &err);
    const cJSON *v;

    (void)state;
    assert_non_null(root);
    v = json_get(root, "name");
    assert_non_null(v);
    assert_true(v->valuedouble == 2.0);
    v = json_get(root, "Name");
    assert_non_null(v);
    assert_true(v->valuedouble == 1.0);
    assert_null(json_get(root, "NAME"));
    assert_null(json_get(root, "nam"));
    v = json_get(root, "name2");
    assert_non_null(v);
    assert_true(v->valuedouble == 3.0);
    assert_null(json_get(NULL, "name"));
    assert_null(json_get(root->child, "x")); /* not an object */
    cJSON_Delete(root);
}

/* json_parse_exact prints every number back as it was sent, nested or not;
 * json_parse_strict + cJSON alone does not (the defect: 15 digits). */
static void test_parse_exact_keeps_numbers(void **state)
{
    static const char *const same[] = {
        "9007199254740993",
        "0.30000000000000004",
        "1e400",
        "-0",
        "1E+2",
        "123456789012345678901234567890",
        "0.1000000000000000055511151231257827021181583404541015625",
        "-1.0e-10",
        "[1.0,2.50,{\"a\":[9007199254740993,{\"b\":-0}]},\"9.9 in a string\",true,null]",
        "{\"x\":1,\"x\":2.0,\"\\\"1\\\"\":3e0}", /* duplicate keys, digits in names */
    };
    struct json_err err;
    size_t i;
    cJSON *t;
    char *out;
    double d;

    (void)state;
    for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        t = json_parse_exact(same[i], strlen(same[i]), DEPTH, &err);
        if (t == NULL)
            fail_msg("refused %s: %s", same[i], err.msg);
        out = json_print(t);
        assert_non_null(out);
        if (strcmp(out, same[i]) != 0)
            fail_msg("%s printed as %s", same[i], out);
        cJSON_free(out);
        cJSON_Delete(t);
    }
    /* the plain parser loses them: what the fix is for */
    t = json_parse_strict("[9007199254740993,0.30000000000000004,1e400]", 44, DEPTH, &err);
    out = json_print(t);
    assert_string_not_equal(out, "[9007199254740993,0.30000000000000004,1e400]");
    cJSON_free(out);
    cJSON_Delete(t);
    /* numbers read back through json_number; whitespace goes */
    t = json_parse_exact(" { \"n\" : 2.5e1 , \"s\" : \"-1\" } ", 30, DEPTH, &err);
    assert_non_null(t);
    assert_int_equal(json_number(json_get(t, "n"), &d), 0);
    assert_true(d == 25.0);
    assert_int_equal(json_number(json_get(t, "s"), &d), -1);
    out = json_print(t);
    assert_string_equal(out, "{\"n\":2.5e1,\"s\":\"-1\"}");
    cJSON_free(out);
    cJSON_Delete(t);
    /* as strict as json_parse_strict */
    assert_null(json_parse_exact("[01]", 4, DEPTH, &err));
    assert_null(json_parse_exact("[1.]", 4, DEPTH, &err));
    assert_null(json_parse_exact("[1] x", 5, DEPTH, &err));
}

static void test_minify_and_member_span(void **state)
{
    static const char doc[] = " {\"a\" : [ 1.0 , \"x y\\\" z\" ] ,\n\t\"input\": { \"n\" : -0 } ,"
                              " \"c\":\"}\" , \"d\" : 1E+2 } ";
    size_t off, len;
    char *m;

    (void)state;
    m = json_minify(doc, sizeof(doc) - 1);
    assert_non_null(m);
    assert_string_equal(m,
                        "{\"a\":[1.0,\"x y\\\" z\"],\"input\":{\"n\":-0},\"c\":\"}\",\"d\":1E+2}");
    cJSON_free(m);
    assert_int_equal(json_member_span(doc, sizeof(doc) - 1, 0, &off, &len), 0);
    assert_memory_equal(doc + off, "[ 1.0 , \"x y\\\" z\" ]", len);
    assert_int_equal(json_member_span(doc, sizeof(doc) - 1, 1, &off, &len), 0);
    assert_int_equal(len, strlen("{ \"n\" : -0 }"));
    assert_memory_equal(doc + off, "{ \"n\" : -0 }", len);
    assert_int_equal(json_member_span(doc, sizeof(doc) - 1, 2, &off, &len), 0);
    assert_memory_equal(doc + off, "\"}\"", len);
    assert_int_equal(json_member_span(doc, sizeof(doc) - 1, 3, &off, &len), 0);
    assert_memory_equal(doc + off, "1E+2", len);
    assert_int_equal(len, 4);
    assert_int_equal(json_member_span(doc, sizeof(doc) - 1, 4, &off, &len), -1);
    assert_int_equal(json_member_span("{}", 2, 0, &off, &len), -1);
    assert_int_equal(json_member_span("[1]", 3, 0, &off, &len), -1);
}

/* json_element_spans: each element of an array as sent, in one pass. */
static void test_element_spans(void **state)
{
    static const char doc[] = " [ {\"a\" : [1, \"]\"]} ,\"x,y\", 2.50 ,[ ] ] ";
    size_t off[5], len[5];

    (void)state;
    assert_int_equal(json_element_spans(doc, sizeof(doc) - 1, 3, off, len), 0);
    assert_memory_equal(doc + off[0], "{\"a\" : [1, \"]\"]}", len[0]);
    assert_int_equal(len[0], strlen("{\"a\" : [1, \"]\"]}"));
    assert_memory_equal(doc + off[1], "\"x,y\"", len[1]);
    assert_memory_equal(doc + off[2], "2.50", len[2]);
    assert_int_equal(len[2], 4);
    assert_int_equal(json_element_spans(doc, sizeof(doc) - 1, 5, off, len), -1); /* 4 only */
    assert_int_equal(json_element_spans("[]", 2, 1, off, len), -1);
    assert_int_equal(json_element_spans("{\"a\":1}", 7, 1, off, len), -1);
}

/* json_create_number: the shortest text that reads back as the same double. */
/* json_is_strict may say true only where json_parse_strict takes the text,
 * and then says whether it is null. */
static void assert_check_agrees(const char *buf, size_t len, int max_depth)
{
    bool is_null = false;
    bool ok = json_is_strict(buf, len, max_depth, &is_null);
    cJSON *root;

    if (!ok)
        return;
    root = json_parse_strict(buf, len, max_depth, NULL);
    if (root == NULL)
        fail_msg("json_is_strict took \"%.*s\", json_parse_strict did not", (int)len, buf);
    assert_int_equal(is_null, cJSON_IsNull(root));
    cJSON_Delete(root);
}

static void test_is_strict(void **state)
{
    static const char *const yes[] = {
        "{}",
        "[]",
        " 0 ",
        "-0",
        "1.5e+10",
        "-12.25E-3",
        "true",
        "false",
        "null",
        "\"\"",
        "{\"a\":[1,2.5,-0,1e5,true,false,null,\"x\\u00e9\\n\\\"\\\\\\/\\b\\f\\r\\t\"],\"b\":{}}",
        "\t[ 1 , { \"k\" : \"v\" } ]\r\n",
        "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
        "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
        "\"\\u0041\\uFFFF\"",
    };
    static const char *const no[] = {
        "",
        " ",
        "nul",
        "nulll",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{1:2}",
        "[1 2]",
        "01",
        "1.",
        ".5",
        "-",
        "+1",
        "1e",
        "1e+",
        "0x10",
        "NaN",
        "Infinity",
        "[1]]",
        "[[1]",
        "\"abc",
        "\"a\\x\"",
        "\"\\u12g4\"",
        "\"\\u0000\"",
        "\"a\tb\"",
        "\"\xc3\"",
        "\"\xed\xa0\x80\"",
        "\xef\xbb\xbf{}",
        "{} {}",
        "[true false]",
        "truex",
        "\x01",
        "'a'",
        "\"\\ud83d\\ude00\"", /* a surrogate pair: json_parse_strict takes it, left to it */
        "1234567890123456789012345678901234567890123456789012345678901234", /* 64 chars */
    };
    static const char *const seeds[] = {
        "{\"a\":[1,-2.5e+3,true,null,\"x\\u00e9\\n\"],\"b\":{\"c\":false}}",
        "[\"h\xc3\xa9\",0,{},[],\"\\ud83d\\ude00\"]",
        " null ",
    };
    char buf[128], deep[2 * JSON_CHECK_DEPTH_MAX + 4];
    size_t i, j, k, n;
    bool is_null = true;

    (void)state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!json_is_strict(yes[i], strlen(yes[i]), 64, &is_null))
            fail_msg("json_is_strict refused \"%s\"", yes[i]);
        assert_check_agrees(yes[i], strlen(yes[i]), 64);
    }
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (json_is_strict(no[i], strlen(no[i]), 64, NULL))
            fail_msg("json_is_strict took \"%s\"", no[i]);
    assert_false(json_is_strict(NULL, 0, 64, NULL));
    /* the length is the end: no read past it, a NUL inside is a byte */
    assert_true(json_is_strict("[1]]", 3, 64, NULL));
    assert_false(json_is_strict("[1]\0", 4, 64, NULL));
    assert_false(json_is_strict("\"a\0\"", 4, 64, NULL));
    /* depth: max_depth counts containers, JSON_CHECK_DEPTH_MAX caps it */
    assert_true(json_is_strict("[[1]]", 5, 2, NULL));
    assert_false(json_is_strict("[[1]]", 5, 1, NULL));
    for (n = JSON_CHECK_DEPTH_MAX; n <= JSON_CHECK_DEPTH_MAX + 1; n++) {
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        assert_int_equal(json_is_strict(deep, 2 * n, 1000, NULL), n <= JSON_CHECK_DEPTH_MAX);
    }
    /* every byte at every position of the seeds, and every cut of them */
    for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        n = strlen(seeds[i]);
        assert_true(n < sizeof(buf));
        assert_true(json_is_strict(seeds[i], n, 64, NULL) || strstr(seeds[i], "\\ud83d") != NULL);
        for (j = 0; j <= n; j++)
            assert_check_agrees(seeds[i], j, 64);
        for (j = 0; j < n; j++) {
            for (k = 0; k < 256; k++) {
                memcpy(buf, seeds[i], n);
                buf[j] = (char)k;
                assert_check_agrees(buf, n, 64);
            }
        }
    }
}

static void test_create_number(void **state)
{
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {0.30000000000000004, "0.30000000000000004"}, /* cJSON: 0.3 */
        {0.1, "0.1"},
        {-0.0, "-0"},
        {0.0, "0"},
        {1e300, "1e+300"},
        {9007199254740992.0, "9007199254740992"}, /* cJSON: 9.00719925474099e+15 */
        {1000220114765.0, "1000220114765"},
        {2.5, "2.5"},
        {1.0 / 3.0, "0.3333333333333333"},
        {5e-324, "5e-324"},
        {1e17, "1e+17"},
    };
    size_t i;
    cJSON *item;
    char *out;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        item = json_create_number(cases[i].d);
        assert_non_null(item);
        out = json_print(item);
        assert_non_null(out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%.17g printed as %s, want %s", cases[i].d, out, cases[i].want);
        assert_true(strtod(out, NULL) == cases[i].d);
        cJSON_free(out);
        cJSON_Delete(item);
    }
    item = json_create_number(1.0 / 0.0);
    assert_true(cJSON_IsNull(item));
    cJSON_Delete(item);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_values),
        cmocka_unit_test(test_accepts_utf8),
        cmocka_unit_test(test_accepts_escapes),
        cmocka_unit_test(test_refuses_empty_and_garbage),
        cmocka_unit_test(test_refuses_truncated),
        cmocka_unit_test(test_refuses_bad_utf8),
        cmocka_unit_test(test_refuses_control_and_nul),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_no_read_past_len),
        cmocka_unit_test(test_json_get),
        cmocka_unit_test(test_numbers_check),
        cmocka_unit_test(test_json_number),
        cmocka_unit_test(test_parse_exact_keeps_numbers),
        cmocka_unit_test(test_minify_and_member_span),
        cmocka_unit_test(test_element_spans),
        cmocka_unit_test(test_create_number),
        cmocka_unit_test(test_is_strict),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
