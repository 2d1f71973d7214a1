/* rarena: replies built in one block must read exactly as hiredis' own
 * (type, integer, len, str bytes, elements, nesting) for any input fed in
 * any cut, fail as hiredis' own on a protocol error, stay valid until freed
 * (kept past later replies, freed in any order) and be aligned. Leaks show
 * under the sanitizers (make test-asan). */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "rarena.h"

#define DUMP_CAP    (4u << 20)
#define MAX_REPLIES 8

/* Appends a description of r (every field a reader sees) to out. */
static void dump(const redisReply *r, char *out, size_t cap, size_t *len)
{
    size_t i;

    assert_true(((uintptr_t)r % alignof(redisReply)) == 0);
    *len += (size_t)snprintf(out + *len, cap - *len, "(t%d i%lld l%zu n%zu ", r->type, r->integer,
                             r->len, r->elements);
    assert_true(*len < cap);
    if (r->str != NULL) {
        assert_true(*len + r->len + 8 < cap);
        assert_int_equal(r->str[r->len], '\0');
        memcpy(out + *len, r->str, r->len);
        *len += r->len;
    } else {
        *len += (size_t)snprintf(out + *len, cap - *len, "-");
    }
    assert_true((r->elements == 0) == (r->element == NULL));
    for (i = 0; i < r->elements; i++)
        dump(r->element[i], out, cap, len);
    *len += (size_t)snprintf(out + *len, cap - *len, ")");
    assert_true(*len < cap);
}

/* Reads in[0..n) fed `chunk` bytes at a time with hiredis' replies or with
 * rarena's; describes every reply (and an error) in out. */
static void read_all(const char *in, size_t n, size_t chunk, int is_arena, char *out, size_t cap)
{
    redisReader *rd = redisReaderCreate();
    size_t off = 0, len = 0;
    void *reply;
    int rc;

    assert_non_null(rd);
    if (is_arena)
        rarena_use(rd);
    out[0] = '\0';
    for (off = 0; off < n; off += chunk) {
        assert_int_equal(redisReaderFeed(rd, in + off, off + chunk <= n ? chunk : n - off),
                         REDIS_OK);
        for (;;) {
            reply = NULL;
            rc = redisReaderGetReply(rd, &reply);
            if (rc != REDIS_OK) {
                len += (size_t)snprintf(out + len, cap - len, "ERR %s", rd->errstr);
                redisReaderFree(rd);
                return;
            }
            if (reply == NULL)
                break;
            dump(reply, out, cap, &len);
            if (is_arena)
                rarena_free(reply);
            else
                freeReplyObject(reply);
        }
    }
    len += (size_t)snprintf(out + len, cap - len, "|end");
    redisReaderFree(rd); /* a reply cut short is freed here, with freeObject */
}

static void assert_same(const char *in, size_t n)
{
    static const size_t chunks[] = {1, 2, 7, 64, 100000000};
    char *want = malloc(DUMP_CAP), *got = malloc(DUMP_CAP);
    size_t i;

    assert_non_null(want);
    assert_non_null(got);
    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        if (chunks[i] < 64 && n > 100000)
            continue; /* byte by byte over a megabyte: slow, nothing new */
        read_all(in, n, chunks[i], 0, want, DUMP_CAP);
        read_all(in, n, chunks[i], 1, got, DUMP_CAP);
        if (strcmp(want, got) != 0)
            fail_msg("chunk %zu: \"%.200s\" instead of \"%.200s\"", chunks[i], got, want);
    }
    free(want);
    free(got);
}

static void test_small_replies(void **state)
{
    static const char *const cases[] = {
        "+OK\r\n",
        "-ERR wrong type\r\n",
        ":0\r\n:-9223372036854775808\r\n:9223372036854775807\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "$0\r\n\r\n",
        "$5\r\nhello\r\n",
        /* nested arrays, nil, integers, an error inside (EXEC) */
        "*4\r\n*2\r\n$1\r\na\r\n:5\r\n$-1\r\n*0\r\n*2\r\n-ERR x\r\n*1\r\n*1\r\n+deep\r\n",
        /* HGETALL-like then a pub/sub message then a status */
        "*4\r\n$5\r\nstate\r\n$9\r\nsucceeded\r\n$7\r\nstage.1\r\n$9\r\ncheck d 3\r\n"
        "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\n{\"}\r\n+PONG\r\n",
        /* cut short: the partial reply is freed by redisReaderFree */
        "*3\r\n$1\r\na\r\n*2\r\n:1\r\n",
        /* protocol errors, at the top and inside an array being built */
        "?x\r\n",
        "*3\r\n$1\r\na\r\n!x\r\n",
        "*2\r\n*2\r\n$1\r\na\r\n:1x\r\n",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_same(cases[i], strlen(cases[i]));
    assert_same("$3\r\na\0b\r\n", 9); /* a NUL inside a string */
}

/* Strings bigger than a block, alone and inside arrays, and arrays of many
 * elements (several blocks). */
static void test_big_replies(void **state)
{
    size_t big = 1u << 20, cap = big + 300000 + 40000 + 20000 * 64 + 4096, n = 0, i;
    char *in = malloc(cap);

    (void)state;
    assert_non_null(in);
    n += (size_t)sprintf(in + n, "$%zu\r\n", big);
    for (i = 0; i < big; i++)
        in[n++] = (char)('a' + i % 26);
    n += (size_t)sprintf(in + n, "\r\n*5\r\n$1\r\nx\r\n$%zu\r\n", (size_t)300000);
    memset(in + n, 'y', 300000);
    n += 300000;
    n += (size_t)sprintf(in + n, "\r\n:7\r\n$40000\r\n");
    memset(in + n, 'z', 40000);
    n += 40000;
    n += (size_t)sprintf(in + n, "\r\n$-1\r\n*20000\r\n");
    for (i = 0; i < 20000; i++)
        n += (size_t)sprintf(in + n, i % 3 ? "$%zu\r\n%0*zu\r\n" : ":%zu\r\n", i % 50,
                             (int)(i % 50), i);
    assert_true(n < cap);
    assert_same(in, n);
    free(in);
}

/* Replies kept while more are read, then freed in another order. */
static void test_kept_replies(void **state)
{
    static const char in[] =
        "*2\r\n$3\r\none\r\n*1\r\n:1\r\n$3\r\ntwo\r\n*3\r\n$-1\r\n+ok\r\n$5\r\nthree\r\n";
    redisReader *rd = redisReaderCreate();
    redisReply *r[MAX_REPLIES];
    void *p;
    size_t n = 0;

    (void)state;
    assert_non_null(rd);
    rarena_use(rd);
    assert_int_equal(redisReaderFeed(rd, in, sizeof(in) - 1), REDIS_OK);
    while (redisReaderGetReply(rd, &p) == REDIS_OK && p != NULL) {
        assert_true(n < MAX_REPLIES);
        r[n++] = p;
    }
    redisReaderFree(rd); /* the reader goes; the replies stay theirs */
    assert_int_equal(n, 3);
    assert_string_equal(r[1]->str, "two");
    rarena_free(r[1]);
    assert_int_equal(r[0]->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r[0]->element[0]->str, "one");
    assert_int_equal(r[0]->element[1]->element[0]->integer, 1);
    assert_int_equal(r[2]->element[0]->type, REDIS_REPLY_NIL);
    assert_null(r[2]->element[0]->str);
    assert_int_equal(r[2]->element[1]->type, REDIS_REPLY_STATUS);
    assert_string_equal(r[2]->element[2]->str, "three");
    rarena_free(r[2]);
    rarena_free(r[0]);
    rarena_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_replies),
        cmocka_unit_test(test_big_replies),
        cmocka_unit_test(test_kept_replies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
