/* Unit tests for shared/pipeline: loading the pipelines file into structs,
 * the built-ins that always exist, defaults, and errors that name the file,
 * the pipeline, the stage and the field. Each test works in its own temp dir. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys.h"
#include "pipeline.h"

#define TTL_DEFAULT_S 4321

struct fx {
    char dir[64];
    char path[128];   /* dir/pipelines.json */
    char *saved_path; /* PATH before a test changed it, restored by the teardown */
    bool is_path_changed;
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/stageq-test-pipeline-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/pipelines.json", fx->dir);
    *state = fx;
    return 0;
}

/* Removes every file of the temp dir (the tests create no subdirectories). */
static int fx_teardown(void **state)
{
    struct fx *fx = *state;
    char p[512];
    struct dirent *de;
    DIR *d = opendir(fx->dir);

    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(fx->dir);
    if (fx->is_path_changed) {
        if (fx->saved_path != NULL)
            setenv("PATH", fx->saved_path, 1);
        else
            unsetenv("PATH");
    }
    free(fx->saved_path);
    free(fx);
    return 0;
}

static void write_bytes(const char *path, const char *buf, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static struct pipeline_set *load_text(const struct fx *fx, const char *json, bool check_programs,
                                      struct sq_err *err)
{
    write_bytes(fx->path, json, strlen(json), 0644);
    memset(err, 0, sizeof(*err));
    return pipeline_set_load(fx->path, true, check_programs, TTL_DEFAULT_S, err);
}

#define MAX_NEEDLES 4

struct err_case {
    const char *json;
    bool check_programs;
    const char *needles[MAX_NEEDLES]; /* each must be in err.msg (NULL = unused) */
};

/* Loads json and expects NULL with an error naming the file and each needle. */
static void expect_error(const struct fx *fx, const char *json, bool check_programs,
                         const char *const *needles, size_t nneedles)
{
    struct sq_err err;
    struct pipeline_set *set = load_text(fx, json, check_programs, &err);
    size_t i;

    if (set != NULL) {
        pipeline_set_free(set);
        fail_msg("loaded but should fail: %s", json);
    }
    if (strstr(err.msg, fx->path) == NULL)
        fail_msg("error does not name the file: '%s' (input %s)", err.msg, json);
    for (i = 0; i < nneedles && needles[i] != NULL; i++)
        if (strstr(err.msg, needles[i]) == NULL)
            fail_msg("error '%s' lacks '%s' (input %s)", err.msg, needles[i], json);
}

static void run_err_cases(const struct fx *fx, const struct err_case *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        expect_error(fx, cases[i].json, cases[i].check_programs, cases[i].needles, MAX_NEEDLES);
}

static void expect_ok(const struct fx *fx, const char *json, bool check_programs)
{
    struct sq_err err;
    struct pipeline_set *set = load_text(fx, json, check_programs, &err);

    if (set == NULL)
        fail_msg("failed to load: '%s' (input %s)", err.msg, json);
    assert_string_equal(set->path, fx->path);
    pipeline_set_free(set);
}

static void assert_builtins(const struct pipeline_set *set, int ttl)
{
    static const char *const demo_stages[] = {"generate", "transform", "sort", "summarize"};
    static const char *const demo_fns[] = {"demo.generate", "demo.transform", "demo.sort",
                                           "demo.summarize"};
    const struct pipeline *p;
    size_t k;

    p = pipeline_set_find(set, "blog"); /* the blog's job: 4 builtin stages */
    assert_non_null(p);
    assert_true(p->is_builtin);
    assert_int_equal(p->nstages, 4);
    for (k = 0; k < 4; k++)
        assert_string_equal(p->stages[k].builtin, "blog.stage");

    p = pipeline_set_find(set, "demo");
    assert_non_null(p);
    assert_true(p->is_builtin);
    assert_string_equal(p->queue, "default");
    assert_int_equal(p->max_attempts, 1);
    assert_int_equal(p->result_ttl_s, ttl);
    assert_int_equal(p->nstages, 4);
    for (k = 0; k < 4; k++) {
        assert_string_equal(p->stages[k].name, demo_stages[k]);
        assert_string_equal(p->stages[k].builtin, demo_fns[k]);
        assert_null(p->stages[k].argv);
        assert_null(p->stages[k].env);
        assert_null(p->stages[k].cwd);
    }

    p = pipeline_set_find(set, "echo");
    assert_non_null(p);
    assert_true(p->is_builtin);
    assert_int_equal(p->result_ttl_s, ttl);
    assert_int_equal(p->nstages, 1);
    assert_string_equal(p->stages[0].name, "echo");
    assert_string_equal(p->stages[0].builtin, "echo");
}

/* ---- loading ---- */

static void test_valid_file(void **state)
{
    const struct fx *fx = *state;
    const char *json =
        "{\"pipelines\": {\n"
        "  \"local\": {\"stages\": [\n"
        "    {\"name\": \"gen\", \"builtin\": \"demo.generate\", \"timeout_s\": 30},\n"
        "    {\"name\": \"out\", \"builtin\": \"echo\"}]},\n"
        "  \"tools\": {\"description\": \"runs programs\", \"queue\": \"gpu.q-1\",\n"
        "    \"max_attempts\": 3, \"backoff_s\": 5, \"result_ttl_s\": 600,\n"
        "    \"stages\": [\n"
        "      {\"name\": \"shell\", \"exec\": [\"/bin/sh\", \"-c\", \"exit 0\"],\n"
        "       \"env\": {\"A\": \"1\", \"B_2\": \"x\"}, \"cwd\": \"/tmp\", \"timeout_s\": 60},\n"
        "      {\"name\": \"t\", \"exec\": [\"true\"]},\n"
        "      {\"name\": \"w\", \"exec\": [\"true\"], \"serve\": true, \"max_jobs\": 1000,\n"
        "       \"max_rss_mb\": 512}]}}}\n";
    struct sq_err err;
    struct pipeline_set *set = load_text(fx, json, true, &err);
    const struct pipeline *p;
    const struct stage_def *s;

    if (set == NULL)
        fail_msg("load failed: %s", err.msg);
    assert_string_equal(set->path, fx->path);
    assert_int_equal(set->n, 5);
    /* built-ins first, then the file's pipelines in file order */
    assert_string_equal(set->items[0].name, "demo");
    assert_string_equal(set->items[1].name, "echo");
    assert_string_equal(set->items[2].name, "blog");
    assert_string_equal(set->items[3].name, "local");
    assert_string_equal(set->items[4].name, "tools");
    assert_builtins(set, TTL_DEFAULT_S);
    assert_null(pipeline_set_find(set, "nope"));

    /* defaults */
    p = pipeline_set_find(set, "local");
    assert_ptr_equal(p, &set->items[3]);
    assert_false(p->is_builtin);
    assert_null(p->description);
    assert_string_equal(p->queue, "default");
    assert_int_equal(p->max_attempts, 1);
    assert_int_equal(p->backoff_s, 1);
    assert_int_equal(p->result_ttl_s, TTL_DEFAULT_S);
    assert_int_equal(p->nstages, 2);
    s = &p->stages[0];
    assert_string_equal(s->name, "gen");
    assert_string_equal(s->builtin, "demo.generate");
    assert_null(s->argv);
    assert_null(s->env);
    assert_null(s->cwd);
    assert_int_equal(s->timeout_s, 30);
    s = &p->stages[1];
    assert_string_equal(s->name, "out");
    assert_string_equal(s->builtin, "echo");
    assert_null(s->argv);
    assert_int_equal(s->timeout_s, 0);

    /* every field given */
    p = pipeline_set_find(set, "tools");
    assert_ptr_equal(p, &set->items[4]);
    assert_false(p->is_builtin);
    assert_string_equal(p->description, "runs programs");
    assert_string_equal(p->queue, "gpu.q-1");
    assert_int_equal(p->max_attempts, 3);
    assert_int_equal(p->backoff_s, 5);
    assert_int_equal(p->result_ttl_s, 600);
    assert_int_equal(p->nstages, 3);
    s = &p->stages[0];
    assert_string_equal(s->name, "shell");
    assert_null(s->builtin);
    assert_non_null(s->argv);
    assert_string_equal(s->argv[0], "/bin/sh");
    assert_string_equal(s->argv[1], "-c");
    assert_string_equal(s->argv[2], "exit 0");
    assert_null(s->argv[3]);
    assert_non_null(s->env);
    assert_string_equal(s->env[0], "A=1");
    assert_string_equal(s->env[1], "B_2=x");
    assert_null(s->env[2]);
    assert_string_equal(s->cwd, "/tmp");
    assert_int_equal(s->timeout_s, 60);
    s = &p->stages[1];
    assert_string_equal(s->name, "t");
    assert_null(s->builtin);
    assert_string_equal(s->argv[0], "true");
    assert_null(s->argv[1]);
    assert_null(s->env);
    assert_null(s->cwd);
    assert_int_equal(s->timeout_s, 0);
    assert_false(s->is_serve);
    assert_int_equal(s->max_jobs, 0);
    assert_int_equal(s->max_rss_mb, 0);
    s = &p->stages[2];
    assert_string_equal(s->name, "w");
    assert_true(s->is_serve);
    assert_int_equal(s->max_jobs, 1000);
    assert_int_equal(s->max_rss_mb, 512);

    pipeline_set_free(set);
    pipeline_set_free(NULL);
}

static void test_limits_accepted(void **state)
{
    const struct fx *fx = *state;
    char *json;
    size_t cap = 8192, len = 0;
    int k;

    /* the bounds themselves, an empty env, empty later argv items, "pipelines": {} */
    expect_ok(fx,
              "{\"pipelines\": {\"p\": {\"max_attempts\": 100, \"backoff_s\": 0,"
              " \"result_ttl_s\": 31536000, \"stages\": [{\"name\": \"s\", \"exec\": [\"x\", \"\"],"
              " \"env\": {}, \"timeout_s\": 604800}]}}}",
              false);
    expect_ok(fx, "{\"pipelines\": {}}", false);
    expect_ok(fx,
              "{\"pipelines\": {\"p\": {\"result_ttl_s\": 1, \"max_attempts\": 1,"
              " \"stages\": [{\"name\": \"s\", \"builtin\": \"echo\"}]}}}",
              true);

    /* 64 stages */
    json = malloc(cap);
    assert_non_null(json);
    len += (size_t)snprintf(json + len, cap - len, "{\"pipelines\": {\"many\": {\"stages\": [");
    for (k = 0; k < PIPELINE_MAX_STAGES; k++)
        len += (size_t)snprintf(json + len, cap - len,
                                "%s{\"name\": \"s%d\", \"builtin\": \"echo\"}", k ? "," : "", k);
    len += (size_t)snprintf(json + len, cap - len, "]}}}");
    assert_true(len < cap);
    expect_ok(fx, json, false);
    free(json);
}

static void test_missing_file(void **state)
{
    const struct fx *fx = *state;
    char absent[192];
    struct sq_err err;
    struct pipeline_set *set;

    snprintf(absent, sizeof(absent), "%s/absent.json", fx->dir);

    set = pipeline_set_load(absent, false, true, TTL_DEFAULT_S, &err);
    assert_non_null(set);
    assert_int_equal(set->n, 3);
    assert_null(set->path);
    assert_builtins(set, TTL_DEFAULT_S);
    pipeline_set_free(set);

    memset(&err, 0, sizeof(err));
    set = pipeline_set_load(absent, true, false, TTL_DEFAULT_S, &err);
    assert_null(set);
    assert_non_null(strstr(err.msg, absent));

    set = pipeline_set_load(NULL, true, true, 77, &err);
    assert_non_null(set);
    assert_int_equal(set->n, 3);
    assert_null(set->path);
    assert_builtins(set, 77);
    pipeline_set_free(set);

    set = pipeline_set_load("", true, true, 78, &err);
    assert_non_null(set);
    assert_int_equal(set->n, 3);
    assert_null(set->path);
    assert_builtins(set, 78);
    pipeline_set_free(set);

    /* only a missing file may be skipped: a directory is an error */
    memset(&err, 0, sizeof(err));
    set = pipeline_set_load(fx->dir, false, false, TTL_DEFAULT_S, &err);
    assert_null(set);
    assert_non_null(strstr(err.msg, fx->dir));
}

static void test_file_size(void **state)
{
    const struct fx *fx = *state;
    static const char head[] = "{\"pipelines\": {}}";
    size_t n = PIPELINE_FILE_MAX_BYTES;
    struct sq_err err;
    struct pipeline_set *set;
    char *buf = malloc(n + 1);

    assert_non_null(buf);
    memset(buf, ' ', n + 1);
    memcpy(buf, head, sizeof(head) - 1);

    /* exactly 1 MiB (trailing whitespace) is accepted */
    write_bytes(fx->path, buf, n, 0644);
    set = pipeline_set_load(fx->path, true, false, TTL_DEFAULT_S, &err);
    if (set == NULL)
        fail_msg("1 MiB file refused: %s", err.msg);
    assert_int_equal(set->n, 3);
    pipeline_set_free(set);

    /* one byte more is not */
    write_bytes(fx->path, buf, n + 1, 0644);
    memset(&err, 0, sizeof(err));
    set = pipeline_set_load(fx->path, true, false, TTL_DEFAULT_S, &err);
    assert_null(set);
    assert_non_null(strstr(err.msg, fx->path));
    assert_non_null(strstr(err.msg, "1 MiB"));
    free(buf);
}

/* ---- errors ---- */

static void test_file_errors(void **state)
{
    static const struct err_case cases[] = {
        {"{\"pipelines\": {", false, {"byte"}},
        {"{\"pipelines\": {}} x", false, {"byte"}},
        {"", false, {"byte"}},
        {"[1, 2]", false, {"object"}},
        {"\"pipelines\"", false, {"object"}},
        {"{\"pipelines\": {}, \"extra\": 1}", false, {"'extra'"}},
        {"{\"pipelines\": {}, \"pipelines\": {}}", false, {"'pipelines'", "twice"}},
        {"{\"pipelines\": []}", false, {"'pipelines'"}},
        {"{\"pipelines\": null}", false, {"'pipelines'"}},
        {"{}", false, {"'pipelines'"}},
    };

    run_err_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

#define ONE_STAGE "\"stages\": [{\"name\": \"s\", \"builtin\": \"echo\"}]"

static void test_pipeline_errors(void **state)
{
    static const struct err_case cases[] = {
        {"{\"pipelines\": {\"pl\": 5}}", false, {"pipeline 'pl'", "object"}},
        {"{\"pipelines\": {\"pl\": {\"retries\": 3, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'retries'"}},
        {"{\"pipelines\": {\"pl\": {\"queue\": \"a\", \"queue\": \"b\", " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'queue'", "twice"}},
        {"{\"pipelines\": {\"pl\": {\"max_attempts\": \"3\", " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'max_attempts'"}},
        {"{\"pipelines\": {\"pl\": {\"max_attempts\": 0, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'max_attempts'"}},
        {"{\"pipelines\": {\"pl\": {\"max_attempts\": 101, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'max_attempts'"}},
        {"{\"pipelines\": {\"pl\": {\"max_attempts\": 2.5, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'max_attempts'"}},
        {"{\"pipelines\": {\"pl\": {\"backoff_s\": -1, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'backoff_s'"}},
        {"{\"pipelines\": {\"pl\": {\"backoff_s\": 86401, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'backoff_s'"}},
        {"{\"pipelines\": {\"pl\": {\"result_ttl_s\": 0, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'result_ttl_s'"}},
        {"{\"pipelines\": {\"pl\": {\"result_ttl_s\": 31536001, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'result_ttl_s'"}},
        {"{\"pipelines\": {\"pl\": {\"result_ttl_s\": null, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'result_ttl_s'"}},
        {"{\"pipelines\": {\"pl\": {\"queue\": \"a b\", " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'queue'"}},
        {"{\"pipelines\": {\"pl\": {\"queue\": \"\", " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'queue'"}},
        {"{\"pipelines\": {\"pl\": {\"queue\": 7, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'queue'"}},
        {"{\"pipelines\": {\"pl\": {\"description\": 5, " ONE_STAGE "}}}",
         false,
         {"pipeline 'pl'", "'description'"}},
        {"{\"pipelines\": {\"pl\": {\"stages\": []}}}", false, {"pipeline 'pl'", "'stages'"}},
        {"{\"pipelines\": {\"pl\": {\"stages\": {}}}}", false, {"pipeline 'pl'", "'stages'"}},
        {"{\"pipelines\": {\"pl\": {}}}", false, {"pipeline 'pl'", "'stages'"}},
        {"{\"pipelines\": {\"demo\": {" ONE_STAGE "}}}", false, {"pipeline 'demo'", "built in"}},
        {"{\"pipelines\": {\"echo\": {" ONE_STAGE "}}}", false, {"pipeline 'echo'", "built in"}},
        {"{\"pipelines\": {\"dup\": {" ONE_STAGE "}, \"other\": {" ONE_STAGE "},"
         " \"dup\": {" ONE_STAGE "}}}",
         false,
         {"pipeline 'dup'", "twice"}},
        {"{\"pipelines\": {\"x y\": {" ONE_STAGE "}}}", false, {"pipeline 'x y'", "name"}},
        {"{\"pipelines\": {\"\": {" ONE_STAGE "}}}", false, {"pipeline ''", "name"}},
        {"{\"pipelines\": {\"..\": {" ONE_STAGE "}}}", false, {"pipeline '..'", "name"}},
        /* an error in the second pipeline names that one */
        {"{\"pipelines\": {\"good\": {" ONE_STAGE "}, \"bad\": {\"backoff_s\": \"1\", " ONE_STAGE
         "}}}",
         false,
         {"pipeline 'bad'", "'backoff_s'"}},
    };

    run_err_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

#define PL(stages) "{\"pipelines\": {\"pl\": {\"stages\": [" stages "]}}}"
#define OK_STAGE   "{\"name\": \"first\", \"builtin\": \"echo\"}"

static void test_stage_errors(void **state)
{
    static const struct err_case cases[] = {
        {PL(OK_STAGE ", 5"), false, {"pipeline 'pl'", "stage 2", "object"}},
        {PL(OK_STAGE ", {\"builtin\": \"echo\"}"), false, {"pipeline 'pl'", "stage 2", "'name'"}},
        {PL("{\"name\": 3, \"builtin\": \"echo\"}"), false, {"pipeline 'pl'", "stage 1", "'name'"}},
        {PL("{\"name\": \"a/b\", \"builtin\": \"echo\"}"),
         false,
         {"pipeline 'pl'", "stage 1 'a/b'", "'name'"}},
        {PL(OK_STAGE ", {\"name\": \"st\", \"builtin\": \"echo\", \"timeout\": 5}"),
         false,
         {"pipeline 'pl'", "stage 2 'st'", "'timeout'"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"builtin\": \"echo\"}"),
         false,
         {"stage 1 'st'", "'builtin'", "twice"}},
        {PL(OK_STAGE ", {\"name\": \"mid\", \"builtin\": \"echo\"}, {\"name\": \"first\", "
                     "\"builtin\": \"echo\"}"),
         false,
         {"pipeline 'pl'", "stage 3 'first'", "twice"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"exec\": [\"true\"]}"),
         false,
         {"stage 1 'st'", "'builtin'", "'exec'"}},
        {PL("{\"name\": \"st\"}"), false, {"stage 1 'st'", "'builtin'", "'exec'"}},
        {PL("{\"name\": \"st\", \"builtin\": \"nope\"}"),
         false,
         {"stage 1 'st'", "'builtin'", "'nope'"}},
        {PL("{\"name\": \"st\", \"builtin\": 1}"), false, {"stage 1 'st'", "'builtin'"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"timeout_s\": 1.5}"),
         false,
         {"stage 1 'st'", "'timeout_s'"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"timeout_s\": -1}"),
         false,
         {"stage 1 'st'", "'timeout_s'"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"timeout_s\": 604801}"),
         false,
         {"stage 1 'st'", "'timeout_s'"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"env\": {\"A\": \"1\"}}"),
         false,
         {"stage 1 'st'", "'env'"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"cwd\": \"/tmp\"}"),
         false,
         {"stage 1 'st'", "'cwd'"}},
        {PL("{\"name\": \"st\", \"exec\": [\"true\"], \"cwd\": 5}"),
         false,
         {"stage 1 'st'", "'cwd'"}},
        {PL("{\"name\": \"st\", \"exec\": [\"true\"], \"serve\": 1}"),
         false,
         {"stage 1 'st'", "'serve'", "true or false"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"serve\": true}"),
         false,
         {"stage 1 'st'", "'serve'", "exec stages only"}},
        {PL("{\"name\": \"st\", \"exec\": [\"true\"], \"max_jobs\": 5}"),
         false,
         {"stage 1 'st'", "'max_jobs'", "\"serve\": true stages only"}},
        {PL("{\"name\": \"st\", \"exec\": [\"true\"], \"serve\": false, \"max_rss_mb\": 5}"),
         false,
         {"stage 1 'st'", "'max_rss_mb'"}},
        {PL("{\"name\": \"st\", \"exec\": [\"true\"], \"serve\": true, \"max_jobs\": -1}"),
         false,
         {"stage 1 'st'", "'max_jobs'"}},
        {PL("{\"name\": \"st\", \"exec\": [\"true\"], \"serve\": true, \"max_rss_mb\": 1048577}"),
         false,
         {"stage 1 'st'", "'max_rss_mb'"}},
    };

    run_err_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_too_many_stages(void **state)
{
    const struct fx *fx = *state;
    const char *const needles[] = {"pipeline 'many'", "'stages'", "64"};
    size_t cap = 8192, len = 0;
    char *json = malloc(cap);
    int k;

    assert_non_null(json);
    len += (size_t)snprintf(json + len, cap - len, "{\"pipelines\": {\"many\": {\"stages\": [");
    for (k = 0; k < PIPELINE_MAX_STAGES + 1; k++)
        len += (size_t)snprintf(json + len, cap - len,
                                "%s{\"name\": \"s%d\", \"builtin\": \"echo\"}", k ? "," : "", k);
    len += (size_t)snprintf(json + len, cap - len, "]}}}");
    assert_true(len < cap);
    expect_error(fx, json, false, needles, 3);
    free(json);
}

static void test_exec_errors(void **state)
{
    static const struct err_case cases[] = {
        {PL(OK_STAGE ", {\"name\": \"ex\", \"exec\": []}"),
         false,
         {"pipeline 'pl'", "stage 2 'ex'", "'exec'"}},
        {PL("{\"name\": \"ex\", \"exec\": \"true\"}"), false, {"stage 1 'ex'", "'exec'"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"\"]}"), false, {"stage 1 'ex'", "'exec'", "item 0"}},
        {PL("{\"name\": \"ex\", \"exec\": [5]}"), false, {"stage 1 'ex'", "'exec'", "item 0"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\", 5]}"),
         false,
         {"stage 1 'ex'", "'exec'", "item 1"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\", null]}"),
         false,
         {"stage 1 'ex'", "'exec'", "item 1"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\"], \"env\": [\"A=1\"]}"),
         false,
         {"stage 1 'ex'", "'env'"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\"], \"env\": \"A=1\"}"),
         false,
         {"stage 1 'ex'", "'env'"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\"], \"env\": {\"OK\": \"1\", \"1BAD\": \"x\"}}"),
         false,
         {"stage 1 'ex'", "'env'", "'1BAD'"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\"], \"env\": {\"A-B\": \"x\"}}"),
         false,
         {"stage 1 'ex'", "'env'", "'A-B'"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\"], \"env\": {\"\": \"x\"}}"),
         false,
         {"stage 1 'ex'", "'env'"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\"], \"env\": {\"A\": 1}}"),
         false,
         {"stage 1 'ex'", "'env'", "'A'"}},
        {PL("{\"name\": \"ex\", \"exec\": [\"x\"], \"env\": {\"A\": null}}"),
         false,
         {"stage 1 'ex'", "'env'", "'A'"}},
    };

    run_err_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- program checks ---- */

static void test_program_checks(void **state)
{
    const struct fx *fx = *state;
    char noexec[192], json[1024];
    const char *const missing_abs[] = {"pipeline 'pl'", "stage 1 'ex'",
                                       "'/nonexistent/prog' not found or not executable"};
    const char *const missing_path[] = {
        "stage 1 'ex'", "'no-such-program-xyz' not found or not executable", "PATH"};
    const char *const not_exec[] = {"stage 1 'ex'", "not found or not executable"};
    const char *const bad_cwd[] = {"stage 1 'ex'", "'cwd'", "/nonexistent/dir"};
    const char *const a_dir[] = {"stage 1 'ex'", "not found or not executable"};

    snprintf(noexec, sizeof(noexec), "%s/noexec.sh", fx->dir);
    write_bytes(noexec, "#!/bin/sh\nexit 0\n", 17, 0644);

    /* with check_programs: refused */
    expect_error(fx, PL("{\"name\": \"ex\", \"exec\": [\"/nonexistent/prog\"]}"), true, missing_abs,
                 3);
    expect_error(fx, PL("{\"name\": \"ex\", \"exec\": [\"no-such-program-xyz\", \"a\"]}"), true,
                 missing_path, 3);
    snprintf(json, sizeof(json), PL("{\"name\": \"ex\", \"exec\": [\"%s\"]}"), noexec);
    expect_error(fx, json, true, not_exec, 2);
    snprintf(json, sizeof(json), PL("{\"name\": \"ex\", \"exec\": [\"%s\"]}"), fx->dir);
    expect_error(fx, json, true, a_dir, 2);
    expect_error(fx, PL("{\"name\": \"ex\", \"exec\": [\"true\"], \"cwd\": \"/nonexistent/dir\"}"),
                 true, bad_cwd, 3);
    snprintf(json, sizeof(json), PL("{\"name\": \"ex\", \"exec\": [\"true\"], \"cwd\": \"%s\"}"),
             noexec);
    expect_error(fx, json, true, bad_cwd, 2);

    /* without: the same files load */
    expect_ok(fx, PL("{\"name\": \"ex\", \"exec\": [\"/nonexistent/prog\"]}"), false);
    expect_ok(fx, PL("{\"name\": \"ex\", \"exec\": [\"no-such-program-xyz\", \"a\"]}"), false);
    snprintf(json, sizeof(json), PL("{\"name\": \"ex\", \"exec\": [\"%s\"]}"), noexec);
    expect_ok(fx, json, false);
    expect_ok(fx, PL("{\"name\": \"ex\", \"exec\": [\"true\"], \"cwd\": \"/nonexistent/dir\"}"),
              false);
}

/* ---- stages that name their own queue ---- */

static void test_stage_queues(void **state)
{
    const struct fx *fx = *state;
    static const struct err_case cases[] = {
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"queue\": \"a/b\"}"),
         false,
         {"stage 1 'st'", "'queue'", "[A-Za-z0-9._:-]"}},
        {PL("{\"name\": \"st\", \"builtin\": \"echo\", \"queue\": 5}"),
         false,
         {"stage 1 'st'", "'queue'"}},
        {"{\"pipelines\": {\"pl\": {\"resume\": false, \"stages\": [" OK_STAGE
         ", {\"name\": \"g\", \"builtin\": \"echo\", \"queue\": \"gpu\"}]}}}",
         false,
         {"pipeline 'pl'", "'resume'", "'queue'"}},
    };
    const char *const missing_gpu[] = {"pipeline 'pl'", "stage 2 'fit'", "'/nonexistent/gpu'"};
    const char *json = "{\"pipelines\": {\"pl\": {\"queue\": \"cpu\", \"stages\": ["
                       "{\"name\": \"prep\", \"exec\": [\"/nonexistent/cpu\"]},"
                       "{\"name\": \"fit\", \"exec\": [\"/nonexistent/gpu\"], \"queue\": \"gpu\"},"
                       "{\"name\": \"pack\", \"builtin\": \"echo\"}]},"
                       "\"flat\": {\"stages\": [{\"name\": \"e\", \"exec\": [\"true\"]}]}}}";
    const char *const cpu_only[] = {"pipeline 'pl'", "stage 1 'prep'", "'/nonexistent/cpu'"};
    struct pipeline_set *set;
    const struct pipeline *p;
    struct sq_err err;

    run_err_cases(fx, cases, sizeof(cases) / sizeof(cases[0]));
    set = load_text(fx, json, false, &err);
    assert_non_null(set);
    p = pipeline_set_find(set, "pl");
    assert_non_null(p);
    assert_true(pipeline_is_routed(p));
    assert_false(pipeline_is_routed(pipeline_set_find(set, "flat")));
    assert_string_equal(pipeline_stage_queue(p, 1, "home"), "home");
    assert_string_equal(pipeline_stage_queue(p, 2, "home"), "gpu");
    assert_string_equal(pipeline_stage_queue(p, 3, p->queue), "cpu");
    assert_string_equal(pipeline_stage_queue(p, 4, "home"), "home"); /* out of range */
    /* a pool checks the programs of its queue's stages only */
    assert_int_equal(pipeline_set_check_programs(set, "other", &err), 0);
    assert_int_equal(pipeline_set_check_programs(set, "gpu", &err), -1);
    for (size_t i = 0; i < 3; i++)
        if (strstr(err.msg, missing_gpu[i]) == NULL)
            fail_msg("'%s' lacks '%s'", err.msg, missing_gpu[i]);
    assert_int_equal(pipeline_set_check_programs(set, "cpu", &err), -1);
    for (size_t i = 0; i < 3; i++)
        if (strstr(err.msg, cpu_only[i]) == NULL)
            fail_msg("'%s' lacks '%s'", err.msg, cpu_only[i]);
    pipeline_set_free(set);
    /* a pipeline whose stages name no queue: every exec stage, on any queue */
    set = load_text(fx, PL("{\"name\": \"ex\", \"exec\": [\"/nonexistent/prog\"]}"), false, &err);
    assert_non_null(set);
    assert_int_equal(pipeline_set_check_programs(set, "anything", &err), -1);
    pipeline_set_free(set);
}

/* The "queues" section: partition counts, their slots, and the rule that
 * the queues of one pipeline share one count. */
static void test_queue_partitions(void **state)
{
    const struct fx *fx = *state;
    static const struct err_case cases[] = {
        {"{\"pipelines\": {}, \"queues\": []}", false, {"'queues'", "object"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": 5}}", false, {"queue 'q'", "object"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"partitions\": 0}}}",
         false,
         {"queue 'q'", "'partitions'", "[1, 1024]"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"partitions\": 1025}}}",
         false,
         {"queue 'q'", "'partitions'"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"partitions\": 2.5}}}",
         false,
         {"queue 'q'", "'partitions'"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"partitions\": 2, \"x\": 1}}}",
         false,
         {"queue 'q'", "unknown field 'x'"}},
        {"{\"pipelines\": {}, \"queues\": {\"a/b\": {\"partitions\": 2}}}", false, {"queue name"}},
        /* a job keeps its slot: the queues of one pipeline need one count */
        {"{\"queues\": {\"gpu\": {\"partitions\": 4}}, \"pipelines\": {\"pl\": {\"stages\": "
         "[{\"name\": \"a\", \"builtin\": \"echo\"}, {\"name\": \"b\", \"builtin\": "
         "\"echo\", \"queue\": \"gpu\"}]}}}",
         false,
         {"pipeline 'pl'", "stage 2 'b'", "'gpu' has 4 partitions", "same number"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"rate_limit\": 5}}}",
         false,
         {"queue 'q'", "'rate_limit'", "object"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"rate_limit\": {\"per_s\": 2}}}}",
         false,
         {"queue 'q'", "'rate_limit' needs 'jobs'"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"rate_limit\": {\"jobs\": 0}}}}",
         false,
         {"queue 'q'", "'jobs'", "[1, 1000000]"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"rate_limit\": {\"jobs\": 1, "
         "\"per_s\": 0}}}}",
         false,
         {"queue 'q'", "'per_s'", "[1, 86400]"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"rate_limit\": {\"jobs\": 1, "
         "\"every\": 3}}}}",
         false,
         {"queue 'q'", "unknown field 'every'"}},
        {"{\"pipelines\": {}, \"queues\": {\"q\": {\"partitions\": 2, \"rate_limit\": "
         "{\"jobs\": 1}}}}",
         false,
         {"queue 'q'", "'rate_limit' has 1 partition (it has 2)"}},
    };
    const char *json = "{\"queues\": {\"big\": {\"partitions\": 6}, \"gpu\": {\"partitions\": "
                       "6}, \"two\": {\"partitions\": 2}},"
                       "\"pipelines\": {\"pl\": {\"queue\": \"big\", \"stages\": ["
                       "{\"name\": \"a\", \"builtin\": \"echo\"},"
                       "{\"name\": \"b\", \"builtin\": \"echo\", \"queue\": \"gpu\"}]}}}";
    struct pipeline_set *set;
    struct sq_err err;
    int slots[16], n, i, j;

    run_err_cases(fx, cases, sizeof(cases) / sizeof(cases[0]));
    set = load_text(fx, json, false, &err);
    if (set == NULL)
        fail_msg("failed to load: '%s'", err.msg);
    assert_int_equal(pipeline_set_partitions(set, "big"), 6);
    assert_int_equal(pipeline_set_partitions(set, "two"), 2);
    assert_int_equal(pipeline_set_partitions(set, "default"), 1);
    assert_int_equal(pipeline_set_partitions(set, "undeclared"), 1);
    assert_null(pipeline_set_queue(set, "undeclared"));
    assert_int_equal(pipeline_set_queue(set, "two")->rate_jobs, 0); /* no limit */
    /* 8192 (default) + 6 (big and gpu: the same slots); two's 4096 and 12288
     * are among big's */
    n = pipeline_set_slots(set, slots, 16);
    assert_int_equal(n, 1 + 6);
    for (i = 1; i < n; i++)
        assert_true(slots[i] > slots[i - 1]);
    for (j = 0; j < 6; j++) {
        for (i = 0; i < n && slots[i] != keys_part_slot(6, j); i++)
            ;
        assert_true(i < n);
    }
    assert_int_equal(pipeline_set_slots(set, slots, 3), n); /* counts past cap */
    /* an id's candidate slots: one per distinct count, 1 first */
    n = pipeline_set_job_slots(set, "abc", 3, slots, 16);
    assert_int_equal(n, 3);
    assert_int_equal(slots[0], 8192);
    assert_int_equal(slots[1], keys_job_slot("abc", 3, 2));
    assert_int_equal(slots[2], keys_job_slot("abc", 3, 6));
    assert_int_equal(pipeline_set_job_slots(set, "abc", 3, slots, 1), 1);
    pipeline_set_free(set);

    set = load_text(fx,
                    "{\"pipelines\": {}, \"queues\": {\"slow\": {\"rate_limit\": {\"jobs\": "
                    "10, \"per_s\": 2}}, \"fast\": {\"rate_limit\": {\"jobs\": 3}}}}",
                    false, &err);
    if (set == NULL)
        fail_msg("failed to load: '%s'", err.msg);
    assert_int_equal(pipeline_set_queue(set, "slow")->rate_jobs, 10);
    assert_int_equal(pipeline_set_queue(set, "slow")->rate_per_s, 2);
    assert_int_equal(pipeline_set_queue(set, "fast")->rate_jobs, 3);
    assert_int_equal(pipeline_set_queue(set, "fast")->rate_per_s, 1); /* per second by default */
    pipeline_set_free(set);
}

static void test_relative_program(void **state)
{
    const struct fx *fx = *state;
    char script[192], json[1024];
    const char *const not_here[] = {"stage 1 'ex'", "'./script.sh' not found or not executable"};
    struct sq_err err;
    struct pipeline_set *set;

    snprintf(script, sizeof(script), "%s/script.sh", fx->dir);
    write_bytes(script, "#!/bin/sh\nexit 0\n", 17, 0755);

    /* resolved against the stage's cwd, not the process's */
    snprintf(json, sizeof(json),
             PL("{\"name\": \"ex\", \"exec\": [\"./script.sh\", \"arg\"], \"cwd\": \"%s\"}"),
             fx->dir);
    set = load_text(fx, json, true, &err);
    if (set == NULL)
        fail_msg("relative program refused: %s", err.msg);
    assert_string_equal(set->items[3].stages[0].argv[0], "./script.sh");
    assert_string_equal(set->items[3].stages[0].argv[1], "arg");
    assert_null(set->items[3].stages[0].argv[2]);
    assert_string_equal(set->items[3].stages[0].cwd, fx->dir);
    pipeline_set_free(set);

    /* elsewhere it is not found */
    expect_error(fx, PL("{\"name\": \"ex\", \"exec\": [\"./script.sh\"], \"cwd\": \"/\"}"), true,
                 not_here, 2);
}

static void set_path(struct fx *fx, const char *value)
{
    if (!fx->is_path_changed) {
        const char *old = getenv("PATH");
        fx->saved_path = old != NULL ? strdup(old) : NULL;
        assert_true(old == NULL || fx->saved_path != NULL);
        fx->is_path_changed = true;
    }
    assert_int_equal(setenv("PATH", value, 1), 0);
}

/* An empty PATH entry is the current directory, which for a stage is its cwd
 * (the worker chdirs there before execve), wherever the entry is in PATH. */
static void test_path_empty_entry(void **state)
{
    struct fx *fx = *state;
    static const char *const paths[] = {"/nonexistent-stageq-dir:", ":/nonexistent-stageq-dir",
                                        "/nonexistent-stageq-dir::/bin", ""};
    const char *const not_found[] = {"stage 1 'ex'", "'stageq-prog-xyz' not found"};
    char prog[192], json[1024];
    size_t i;

    snprintf(prog, sizeof(prog), "%s/stageq-prog-xyz", fx->dir);
    write_bytes(prog, "#!/bin/sh\nexit 0\n", 17, 0755);
    snprintf(json, sizeof(json),
             PL("{\"name\": \"ex\", \"exec\": [\"stageq-prog-xyz\"], \"cwd\": \"%s\"}"), fx->dir);
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        set_path(fx, paths[i]);
        expect_ok(fx, json, true);
        /* from another cwd it is not found */
        expect_error(fx, PL("{\"name\": \"ex\", \"exec\": [\"stageq-prog-xyz\"], \"cwd\": \"/\"}"),
                     true, not_found, 2);
    }
    /* no empty entry: the cwd is not searched */
    set_path(fx, "/nonexistent-stageq-dir:/bin");
    expect_error(fx, json, true, not_found, 2);
}

/* The "schedules" section: what a schedule holds (the input as written),
 * and every refusal naming file, schedule and field. */
static void test_schedules(void **state)
{
#define SCH_PL "{\"pipelines\": {\"p\": {\"stages\": [{\"name\": \"s\", \"builtin\": \"echo\"}]}}, "
    static const struct err_case cases[] = {
        {SCH_PL "\"schedules\": {}}", false, {"'schedules'", "array"}},
        {SCH_PL "\"schedules\": [5]}", false, {"schedules[0]", "object"}},
        {SCH_PL "\"schedules\": [{\"pipeline\": \"p\", \"every_s\": 1}]}",
         false,
         {"schedules[0]", "'name' is required"}},
        {SCH_PL "\"schedules\": [{\"name\": \"a b\", \"pipeline\": \"p\", \"every_s\": 1}]}",
         false,
         {"schedules[0]", "'name'", "[A-Za-z0-9._:-]"}},
        {SCH_PL
         "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"cron\": \"* 24 * * *\"}]}",
         false,
         {"schedule 'n'", "field 'cron'", "field 2 (hour): 24 is out of range 0-23"}},
        {SCH_PL
         "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"cron\": \"0 0 30 2 *\"}]}",
         false,
         {"schedule 'n'", "field 'cron'", "no date"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"nope\", \"every_s\": 1}]}",
         false,
         {"schedule 'n'", "field 'pipeline'", "unknown pipeline 'nope'"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\"}]}",
         false,
         {"schedule 'n'", "'cron' and 'every_s' is required"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"every_s\": 1, "
                "\"cron\": \"* * * * *\"}]}",
         false,
         {"schedule 'n'", "'cron' and 'every_s' is allowed"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"every_s\": 0}]}",
         false,
         {"schedule 'n'", "'every_s'", "[1, 31622400]"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"cron\": \"@daily\", "
                "\"timezone\": \"Mars/Olympus\"}]}",
         false,
         {"schedule 'n'", "field 'timezone'", "Mars/Olympus"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"cron\": \"@daily\", "
                "\"timezone\": \"../../etc/passwd\"}]}",
         false,
         {"schedule 'n'", "field 'timezone'"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"every_s\": 5, "
                "\"timezone\": \"UTC\"}]}",
         false,
         {"schedule 'n'", "'timezone' applies to 'cron' only"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"every_s\": 5, "
                "\"missed\": \"all\"}]}",
         false,
         {"schedule 'n'", "'missed'", "run_once"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"every_s\": 5, "
                "\"extra\": 1}]}",
         false,
         {"schedule 'n'", "unknown field 'extra'"}},
        {SCH_PL "\"schedules\": [{\"name\": \"n\", \"pipeline\": \"p\", \"every_s\": 5}, "
                "{\"name\": \"n\", \"pipeline\": \"p\", \"every_s\": 6}]}",
         false,
         {"schedule 'n'", "defined twice"}},
    };
    const char *json = SCH_PL
        "\"schedules\": [{\"name\": \"tick\", \"pipeline\": \"p\", \"every_s\": 30, "
        "\"input\": {\"n\": 9007199254740993, \"x\": [1.50, \"a b\"]}, \"queue\": \"other\"}, "
        "{\"name\": \"nightly\", \"pipeline\": \"demo\", \"cron\": \"30 2 * * MON-FRI\", "
        "\"timezone\": \"Europe/Berlin\", \"missed\": \"run_once\"}]}";
    struct fx *fx = *state;
    struct sq_err err;
    struct pipeline_set *set;
#undef SCH_PL

    run_err_cases(fx, cases, sizeof(cases) / sizeof(cases[0]));
    set = load_text(fx, json, false, &err);
    if (set == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(set->nschedules, 2);
    assert_string_equal(set->schedules[0].name, "tick");
    assert_string_equal(set->schedules[0].input, "{\"n\":9007199254740993,\"x\":[1.50,\"a b\"]}");
    assert_int_equal(set->schedules[0].every_s, 30);
    assert_null(set->schedules[0].cron);
    assert_string_equal(set->schedules[0].queue, "other");
    assert_int_equal(set->schedules[0].missed, SCHEDULE_MISSED_SKIP);
    assert_int_equal(pipeline_schedule_next(&set->schedules[0], 1767225601LL), 1767225630LL);
    assert_string_equal(set->schedules[1].input, "null");
    assert_string_equal(set->schedules[1].cron, "30 2 * * MON-FRI");
    assert_string_equal(set->schedules[1].timezone, "Europe/Berlin");
    assert_int_equal(set->schedules[1].missed, SCHEDULE_MISSED_RUN_ONCE);
    assert_string_equal(pipeline_schedule_missed_name(set->schedules[1].missed), "run_once");
    /* Thu 2026-01-01 00:00Z -> Thu 02:30 CET = 01:30Z; Fri 01:30Z -> Mon */
    assert_int_equal(pipeline_schedule_next(&set->schedules[1], 1767225600LL), 1767225600LL + 5400);
    assert_int_equal(pipeline_schedule_next(&set->schedules[1], 1767225600LL + 86400 + 5400),
                     1767225600LL + 4 * 86400 + 5400);
    assert_null(set->schedules[1].queue);
    pipeline_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_limits_accepted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_file_size, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stage_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_too_many_stages, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_exec_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_program_checks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stage_queues, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_queue_partitions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_relative_program, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_path_empty_entry, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_schedules, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
