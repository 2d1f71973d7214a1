/* Allocation-failure injection for the library's parsers, the way hiredis and
 * beanstalkd test theirs: malloc, calloc, realloc, strdup and free are wrapped
 * at link time (-Wl,--wrap=..., see the Makefile) and cJSON's allocator is
 * hooked, so the Nth allocation can be made to fail. Each parser runs with
 * N = 1, 2, ... failing until a run makes fewer than N allocations; every run
 * must end in a clean error (or, where a parser can do without the memory, in
 * the very result of a run without failures), and leave no allocation behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include <hiredis/hiredis.h>

#include "json.h"
#include "rarena.h"
#include "pipeline.h"
#include "redis_url.h"
#include "submit.h"

#define ALLOC_MAX_RUNS 100000 /* a parser making more allocations than this is a bug */

static long alloc_fail_at; /* 1-based allocation to fail; 0: none */
static long alloc_count;   /* allocations asked for since alloc_arm */
static long alloc_live;    /* allocations made minus those freed */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

/* True when this allocation is the one to fail. */
static int alloc_is_failing(void)
{
    alloc_count++;
    return alloc_fail_at != 0 && alloc_count == alloc_fail_at;
}

void *__wrap_malloc(size_t n)
{
    void *p;

    if (alloc_is_failing())
        return NULL;
    p = __real_malloc(n);
    if (p != NULL)
        alloc_live++;
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p;

    if (alloc_is_failing())
        return NULL;
    p = __real_calloc(n, size);
    if (p != NULL)
        alloc_live++;
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    void *q;

    if (alloc_is_failing())
        return NULL; /* p stays valid, as realloc leaves it */
    q = __real_realloc(p, n);
    if (q != NULL && p == NULL)
        alloc_live++;
    return q;
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

void __wrap_free(void *p)
{
    if (p != NULL)
        alloc_live--;
    __real_free(p);
}

static void alloc_arm(long n)
{
    alloc_count = 0;
    alloc_fail_at = n;
}

static void alloc_disarm(void)
{
    alloc_fail_at = 0;
}

/* One parser call. Runs the call (armed), then, disarmed, writes what it
 * produced into out (a summary that any difference in the result changes),
 * frees everything and returns 0; or returns -1 when the call failed. */
typedef int (*alloc_case_fn)(char *out, size_t cap);

/* Runs fn with the 1st, 2nd, ... allocation failing until a run makes fewer
 * allocations than the one to fail (that run must succeed). A failed run must
 * say so, and a run that succeeds despite a failed allocation must give the
 * same result as a run without failures. No run may leave an allocation. */
static void alloc_sweep(const char *name, alloc_case_fn fn)
{
    static char want[16384], got[16384];
    long n, live0;
    int rc;

    live0 = alloc_live;
    alloc_arm(0);
    want[0] = '\0';
    rc = fn(want, sizeof(want));
    alloc_disarm();
    if (rc != 0)
        fail_msg("%s: fails without an allocation failure", name);
    if (alloc_live != live0)
        fail_msg("%s: leaks %ld allocation(s) without a failure", name, alloc_live - live0);
    if (alloc_count == 0)
        fail_msg("%s: makes no allocation: nothing to inject", name);

    for (n = 1; n <= ALLOC_MAX_RUNS; n++) {
        alloc_arm(n);
        got[0] = '\0';
        rc = fn(got, sizeof(got));
        alloc_disarm();
        if (alloc_live != live0)
            fail_msg("%s: allocation %ld failed: %ld allocation(s) leaked", name, n,
                     alloc_live - live0);
        if (alloc_count < n) { /* nothing failed: the full run */
            if (rc != 0 || strcmp(got, want) != 0)
                fail_msg("%s: differs without a failure", name);
            return;
        }
        if (rc == 0 && strcmp(got, want) != 0)
            fail_msg("%s: allocation %ld failed, yet it succeeded with a different result:\n"
                     "%s\ninstead of\n%s",
                     name, n, got, want);
    }
    fail_msg("%s: more than %d allocations", name, ALLOC_MAX_RUNS);
}

/* Appends a printed tree to out (disarmed: printing is not under test). */
static void alloc_put_json(char *out, size_t cap, const cJSON *item)
{
    char *s = cJSON_PrintUnformatted(item);
    size_t len = strlen(out);

    assert_non_null(s);
    snprintf(out + len, cap - len, "%s", s);
    cJSON_free(s);
}

/* ---- the parsers ---------------------------------------------------------- */

static const char json_doc[] =
    "{\"a\": [1, 2.5, -3e2, true, false, null], \"s\": \"caf\\u00e9 \\\"q\\\"\", "
    "\"o\": {\"x\": {\"y\": [[], {}, \"deep\"]}}, \"n\": 9007199254740993}";

/* Parses json_doc with parse (armed), then summarizes the tree (disarmed). */
static int case_json_with(cJSON *(*parse)(const char *, size_t, int, struct json_err *), char *out,
                          size_t cap)
{
    struct json_err err;
    cJSON *root = parse(json_doc, sizeof(json_doc) - 1, JSON_MAX_DEPTH_DEFAULT, &err);

    alloc_disarm();
    if (root == NULL)
        return -1;
    alloc_put_json(out, cap, root);
    cJSON_Delete(root);
    return 0;
}

static int case_json_strict(char *out, size_t cap)
{
    return case_json_with(json_parse_strict, out, cap);
}

static int case_json_exact(char *out, size_t cap)
{
    return case_json_with(json_parse_exact, out, cap);
}

static int case_json_minify(char *out, size_t cap)
{
    char *s = json_minify(json_doc, sizeof(json_doc) - 1);

    alloc_disarm();
    if (s == NULL)
        return -1;
    snprintf(out, cap, "%s", s);
    free(s);
    return 0;
}

static const char pipelines_doc[] =
    "{\"pipelines\": {"
    " \"train\": {\"queue\": \"gpu\", \"max_attempts\": 3, \"backoff_s\": 2, \"result_ttl_s\": 60,"
    "   \"description\": \"fit a model\", \"resume\": true,"
    "   \"stages\": ["
    "     {\"name\": \"prepare\", \"exec\": [\"/bin/sh\", \"-c\", \"cat\"], \"timeout_s\": 10,"
    "      \"env\": {\"A\": \"1\", \"B\": \"two\"}, \"cwd\": \"/tmp\"},"
    "     {\"name\": \"fit\", \"builtin\": \"echo\"},"
    "     {\"name\": \"package\", \"exec\": [\"/bin/cat\"]}]},"
    " \"small\": {\"stages\": [{\"name\": \"only\", \"builtin\": \"echo\"}]}}}";

/* Appends a summary of every pipeline of set (names, queues, stages, argv, env). */
static void alloc_put_pipelines(char *out, size_t cap, const struct pipeline_set *set)
{
    size_t i, k, len;
    char **a;

    for (i = 0; i < set->n; i++) {
        const struct pipeline *p = &set->items[i];
        len = strlen(out);
        snprintf(out + len, cap - len, "[%s q=%s d=%s m=%d b=%d t=%d r=%d:", p->name, p->queue,
                 p->description ? p->description : "-", p->max_attempts, p->backoff_s,
                 p->result_ttl_s, p->is_resume);
        for (k = 0; k < p->nstages; k++) {
            const struct stage_def *s = &p->stages[k];
            len = strlen(out);
            snprintf(out + len, cap - len, " %s/%s/%s/%d", s->name, s->builtin ? s->builtin : "-",
                     s->cwd ? s->cwd : "-", s->timeout_s);
            for (a = s->argv; a != NULL && *a != NULL; a++) {
                len = strlen(out);
                snprintf(out + len, cap - len, " argv:%s", *a);
            }
            for (a = s->env; a != NULL && *a != NULL; a++) {
                len = strlen(out);
                snprintf(out + len, cap - len, " env:%s", *a);
            }
        }
        len = strlen(out);
        snprintf(out + len, cap - len, "]");
    }
}

/* Summarizes set (disarmed) and frees it; -1 when it is NULL. */
static int alloc_put_set(char *out, size_t cap, struct pipeline_set *set)
{
    alloc_disarm();
    if (set == NULL)
        return -1;
    alloc_put_pipelines(out, cap, set);
    pipeline_set_free(set);
    return 0;
}

static int case_pipelines(char *out, size_t cap)
{
    struct sq_err err;

    return alloc_put_set(
        out, cap,
        pipeline_set_parse(pipelines_doc, sizeof(pipelines_doc) - 1, "test", false, 86400, &err));
}

static int case_pipelines_builtin(char *out, size_t cap)
{
    struct sq_err err;

    return alloc_put_set(out, cap, pipeline_set_new_builtin(3600, &err));
}

static int case_redis_url(char *out, size_t cap)
{
    struct redis_url url;
    struct sq_err err;
    int rc = redis_url_parse("redis-sentinel://u:p@h1:26379,h2,[::1]:26380/3?sentinel_password=s#m",
                             &url, &err);

    alloc_disarm();
    if (rc < 0)
        return -1;
    redis_url_describe(&url, out, cap);
    return 0;
}

static struct pipeline_set *submit_set;

static int case_submit(char *out, size_t cap)
{
    static const char body[] = "{\"pipeline\": \"train\", \"id\": \"job-1\", \"queue\": \"q2\","
                               " \"result_ttl_s\": 120, \"input\": {\"n\": [1, 2.50, \"x\"]}}";
    struct submit_req req;
    struct submit_err err;
    int rc = submit_parse(body, sizeof(body) - 1, submit_set, &req, &err);

    alloc_disarm();
    if (rc < 0)
        return -1;
    snprintf(out, cap, "%s %s %s %d %.*s", req.pipeline->name, req.id ? req.id : "-", req.queue,
             req.result_ttl_s, (int)req.input_len, req.input_text ? req.input_text : "");
    submit_req_free(&req);
    return 0;
}

/* A reply of 300 strings, a nested array and a 50,000-byte string built by
 * rarena: several blocks, one alone. A failed block fails the read (hiredis
 * says out of memory) and the reader frees what was built. */
static int case_rarena(char *out, size_t cap)
{
    static char in[80000];
    size_t n = 0, i, len = 0;
    redisReader *rd;
    redisReply *r;
    void *p = NULL;
    int rc;

    /* the setup allocates nothing wrapped: only rarena's allocations count */
    n += (size_t)snprintf(in + n, sizeof(in) - n, "*302\r\n*2\r\n:7\r\n$-1\r\n$50000\r\n");
    memset(in + n, 'b', 50000);
    n += 50000;
    n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
    for (i = 0; i < 300; i++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "$40\r\n%040zu\r\n", i);
    rd = redisReaderCreate(); /* hiredis' own allocations are not wrapped */
    assert_non_null(rd);
    rarena_use(rd);
    assert_int_equal(redisReaderFeed(rd, in, n), REDIS_OK);
    rc = redisReaderGetReply(rd, &p);
    alloc_disarm();
    if (rc != REDIS_OK || p == NULL) {
        assert_int_equal(rd->err, REDIS_ERR_OOM);
        redisReaderFree(rd);
        return -1;
    }
    redisReaderFree(rd);
    r = p;
    len += (size_t)snprintf(out + len, cap - len, "%zu %lld %d %zu %.10s", r->elements,
                            r->element[0]->element[0]->integer, r->element[0]->element[1]->type,
                            r->element[1]->len, r->element[1]->str);
    for (i = 2; i < r->elements && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, " %s", r->element[i]->str);
    rarena_free(r);
    return 0;
}

static void test_json_strict(void **state)
{
    (void)state;
    alloc_sweep("json_parse_strict", case_json_strict);
}

static void test_rarena(void **state)
{
    (void)state;
    alloc_sweep("rarena", case_rarena);
}

static void test_json_exact(void **state)
{
    (void)state;
    alloc_sweep("json_parse_exact", case_json_exact);
}

static void test_json_minify(void **state)
{
    (void)state;
    alloc_sweep("json_minify", case_json_minify);
}

static void test_pipelines(void **state)
{
    (void)state;
    alloc_sweep("pipeline_set_parse", case_pipelines);
    alloc_sweep("pipeline_set_new_builtin", case_pipelines_builtin);
}

static void test_redis_url(void **state)
{
    struct redis_url url;
    struct sq_err err;
    char out[512];

    (void)state;
    /* redis_url_parse allocates nothing (fixed buffers): a failing
     * allocator cannot reach it. Prove it rather than sweep nothing. */
    alloc_arm(1);
    assert_int_equal(case_redis_url(out, sizeof(out)), 0);
    assert_int_equal(alloc_count, 0);
    alloc_arm(1);
    assert_int_equal(redis_url_parse("unix:///tmp/r.sock?db=2", &url, &err), 0);
    alloc_disarm();
    assert_int_equal(alloc_count, 0);
}

static void test_submit(void **state)
{
    struct sq_err err;

    (void)state;
    submit_set =
        pipeline_set_parse(pipelines_doc, sizeof(pipelines_doc) - 1, "test", false, 86400, &err);
    assert_non_null(submit_set);
    alloc_sweep("submit_parse", case_submit);
    pipeline_set_free(submit_set);
    submit_set = NULL;
}

/* cJSON allocates through these hooks: its allocations count and fail too. */
static void *alloc_cjson_malloc(size_t n)
{
    return __wrap_malloc(n);
}

static void alloc_cjson_free(void *p)
{
    __wrap_free(p);
}

int main(void)
{
    cJSON_Hooks hooks = {alloc_cjson_malloc, alloc_cjson_free};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_strict), cmocka_unit_test(test_json_exact),
        cmocka_unit_test(test_json_minify), cmocka_unit_test(test_pipelines),
        cmocka_unit_test(test_redis_url),   cmocka_unit_test(test_submit),
        cmocka_unit_test(test_rarena),
    };

    cJSON_InitHooks(&hooks);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
