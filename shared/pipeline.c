/* pipeline: the set of pipelines a process knows: the built-in ones and the
 * pipelines file. Owns every string it holds. */
#include "pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_path.h"
#include "ids.h"
#include "cron.h"
#include "json.h"
#include "keys.h"
#include <stdarg.h>
const char *const pipeline_builtin_names[] = {
    "echo", "demo.generate", "demo.transform", "demo.sort", "demo.summarize", "blog.stage", NULL,
};

struct builtin_pipeline {
    const char *name;
    const char *stages[2][PIPELINE_MAX_STAGES]; /* [0] stage names, [1] builtin names */
};

static const struct builtin_pipeline builtin_pipelines[] = {
    {"demo",
     {{"generate", "transform", "sort", "summarize", NULL},
      {"demo.generate", "demo.transform", "demo.sort", "demo.summarize", NULL}}},
    {"echo", {{"echo", NULL}, {"echo", NULL}}},
    /* the blog's job (the default of its routes, POST /start_task) */
    {"blog",
     {{"stage1", "stage2", "stage3", "stage4", NULL},
      {"blog.stage", "blog.stage", "blog.stage", "blog.stage", NULL}}},
};

static int pipeline_add_builtin(struct pipeline *p, const struct builtin_pipeline *b, int ttl)
{
    size_t n = 0, i;

    while (b->stages[0][n] != NULL)
        n++;
    p->name = strdup(b->name);
    p->queue = strdup("default");
    p->is_builtin = true;
    p->is_resume = true;
    p->max_attempts = 1;
    p->backoff_s = 0;
    p->result_ttl_s = ttl;
    p->stages = calloc(n, sizeof(*p->stages));
    if (p->name == NULL || p->queue == NULL || p->stages == NULL)
        return -1;
    p->nstages = n;
    for (i = 0; i < n; i++) {
        p->stages[i].name = strdup(b->stages[0][i]);
        p->stages[i].builtin = strdup(b->stages[1][i]);
        if (p->stages[i].name == NULL || p->stages[i].builtin == NULL)
            return -1;
    }
    return 0;
}

struct pipeline_set *pipeline_set_new_builtin(int default_result_ttl_s, struct sq_err *err)
{
    size_t n = sizeof(builtin_pipelines) / sizeof(builtin_pipelines[0]), i;
    struct pipeline_set *set = calloc(1, sizeof(*set));

    if (set == NULL)
        goto fail;
    set->items = calloc(n, sizeof(*set->items));
    if (set->items == NULL)
        goto fail;
    for (i = 0; i < n; i++) {
        set->n++;
        if (pipeline_add_builtin(&set->items[i], &builtin_pipelines[i], default_result_ttl_s) < 0)
            goto fail;
    }
    return set;
fail:
    err_set(err, SQ_ERR_NOMEM, "out of memory loading pipelines");
    pipeline_set_free(set);
    return NULL;
}

const struct pipeline *pipeline_set_find(const struct pipeline_set *set, const char *name)
{
    size_t i;

    for (i = 0; i < set->n; i++)
        if (strcmp(set->items[i].name, name) == 0)
            return &set->items[i];
    return NULL;
}

static void strv_free(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static void pipeline_free_one(struct pipeline *p)
{
    size_t k;

    for (k = 0; k < p->nstages && p->stages != NULL; k++) {
        free(p->stages[k].name);
        free(p->stages[k].builtin);
        strv_free(p->stages[k].argv);
        strv_free(p->stages[k].env);
        free(p->stages[k].cwd);
        free(p->stages[k].queue);
    }
    free(p->stages);
    free(p->name);
    free(p->description);
    free(p->queue);
}

void pipeline_set_free(struct pipeline_set *set)
{
    size_t i;

    if (set == NULL)
        return;
    for (i = 0; i < set->n; i++)
        pipeline_free_one(&set->items[i]);
    free(set->items);
    for (i = 0; i < set->nqueues; i++)
        free(set->queues[i].name);
    free(set->queues);
    for (i = 0; i < set->nschedules; i++) {
        struct schedule_def *sd = &set->schedules[i];
        free(sd->name);
        free(sd->pipeline);
        free(sd->input);
        free(sd->cron);
        free(sd->timezone);
        free(sd->queue);
    }
    free(set->schedules);
    free(set->path);
    free(set);
}

/* ---- the pipelines file ---- */

/* Where an error is: "file: pipelines.NAME.stages[K] (STAGE): ". */
struct ploc {
    const char *file;
    const char *pipeline; /* NULL at file level */
    int stage;            /* 1-based; 0 = pipeline level */
    const char *stage_name;
};

static void ploc_err(const struct ploc *at, struct sq_err *err, enum sq_err_code code,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void ploc_err(const struct ploc *at, struct sq_err *err, enum sq_err_code code,
                     const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (at->pipeline == NULL)
        err_set(err, code, "%s: %s", at->file, what);
    else if (at->stage == 0)
        err_set(err, code, "%s: pipeline '%.64s': %s", at->file, at->pipeline, what);
    else
        err_set(err, code, "%s: pipeline '%.64s', stage %d%s%.64s%s: %s", at->file, at->pipeline,
                at->stage, at->stage_name ? " '" : "", at->stage_name ? at->stage_name : "",
                at->stage_name ? "'" : "", what);
}

/* Refuses members of obj not in allowed (NULL-terminated) and repeated ones. */
static int check_members(const cJSON *obj, const char *const *allowed, const struct ploc *at,
                         struct sq_err *err)
{
    const cJSON *m, *o;
    size_t i;

    for (m = obj->child; m != NULL; m = m->next) {
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(m->string, allowed[i]) == 0)
                break;
        if (allowed[i] == NULL) {
            ploc_err(at, err, SQ_ERR_INVALID, "unknown field '%.64s'", m->string);
            return -1;
        }
        for (o = obj->child; o != m; o = o->next)
            if (strcmp(o->string, m->string) == 0) {
                ploc_err(at, err, SQ_ERR_INVALID, "field '%s' appears twice", m->string);
                return -1;
            }
    }
    return 0;
}

static int get_int(const cJSON *obj, const char *name, int min, int max, int def, int *out,
                   const struct ploc *at, struct sq_err *err)
{
    const cJSON *v = json_get(obj, name);
    double d;

    if (v == NULL) {
        *out = def;
        return 0;
    }
    d = cJSON_IsNumber(v) ? v->valuedouble : 0.5;
    if (!cJSON_IsNumber(v) || !(d >= min && d <= max) || d != (double)(long long)d) {
        ploc_err(at, err, SQ_ERR_INVALID, "field '%s' must be an integer in [%d, %d]", name, min,
                 max);
        return -1;
    }
    *out = (int)d;
    return 0;
}

/* A string field: NULL in *out when absent and !required. */
static int get_str(const cJSON *obj, const char *name, bool required, char **out,
                   const struct ploc *at, struct sq_err *err)
{
    const cJSON *v = json_get(obj, name);

    *out = NULL;
    if (v == NULL) {
        if (required)
            ploc_err(at, err, SQ_ERR_INVALID, "field '%s' is required", name);
        return required ? -1 : 0;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        ploc_err(at, err, SQ_ERR_INVALID, "field '%s' must be a non-empty string", name);
        return -1;
    }
    *out = strdup(v->valuestring);
    if (*out == NULL) {
        ploc_err(at, err, SQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

static bool is_env_name(const char *s)
{
    size_t i;

    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (i = 1; s[i] != '\0'; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return i <= 128;
}

static bool is_builtin_name(const char *s)
{
    size_t i;

    for (i = 0; pipeline_builtin_names[i] != NULL; i++)
        if (strcmp(pipeline_builtin_names[i], s) == 0)
            return true;
    return false;
}

/* True when the path prog names an executable regular file (relative to cwd
 * when it has no leading '/', as the worker chdirs before execve). */
static bool path_is_executable(const char *prog, const char *cwd)
{
    char buf[4096];
    struct stat st;

    if (prog[0] != '/' && cwd != NULL) {
        if (snprintf(buf, sizeof(buf), "%s/%s", cwd, prog) >= (int)sizeof(buf))
            return false;
        prog = buf;
    }
    return stat(prog, &st) == 0 && S_ISREG(st.st_mode) && access(prog, X_OK) == 0;
}

static int program_found(const char *candidate, void *cwd)
{
    return path_is_executable(candidate, cwd) ? 1 : 0;
}

/* True when prog can be executed: a path or a name found in PATH (an empty
 * or relative PATH entry is relative to the stage's cwd). */
static bool program_exists(const char *prog, const char *cwd)
{
    return exec_path_each(prog, program_found, (void *)cwd) == 1;
}

/* An exec stage's cwd is a directory and its program can be executed. */
static int check_program(const struct stage_def *sd, const struct ploc *at, struct sq_err *err)
{
    struct stat st;

    if (sd->cwd != NULL && (stat(sd->cwd, &st) != 0 || !S_ISDIR(st.st_mode))) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'cwd': '%.128s' is not a directory", sd->cwd);
        return -1;
    }
    if (!program_exists(sd->argv[0], sd->cwd)) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'exec': program '%.128s' not found or not executable%s", sd->argv[0],
                 strchr(sd->argv[0], '/') ? "" : " in PATH");
        return -1;
    }
    return 0;
}

static char **strv_new(size_t n)
{
    return calloc(n + 1, sizeof(char *));
}

static int load_exec(struct stage_def *sd, const cJSON *argv, const cJSON *env, bool check_programs,
                     const struct ploc *at, struct sq_err *err)
{
    const cJSON *a;
    size_t n = 0, i = 0;

    if (!cJSON_IsArray(argv) || cJSON_GetArraySize(argv) < 1 || cJSON_GetArraySize(argv) > 256) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'exec' must be an array of 1 to 256 strings (program, arguments)");
        return -1;
    }
    n = (size_t)cJSON_GetArraySize(argv);
    sd->argv = strv_new(n);
    if (sd->argv == NULL)
        goto oom;
    cJSON_ArrayForEach(a, argv)
    {
        if (!cJSON_IsString(a) || (i == 0 && a->valuestring[0] == '\0')) {
            ploc_err(at, err, SQ_ERR_INVALID, "field 'exec' item %zu must be a%s string", i,
                     i == 0 ? " non-empty" : "");
            return -1;
        }
        sd->argv[i] = strdup(a->valuestring);
        if (sd->argv[i++] == NULL)
            goto oom;
    }
    if (env != NULL) {
        const cJSON *e;
        if (!cJSON_IsObject(env)) {
            ploc_err(at, err, SQ_ERR_INVALID,
                     "field 'env' must be an object of NAME: \"value\" strings");
            return -1;
        }
        sd->env = strv_new((size_t)cJSON_GetArraySize(env));
        if (sd->env == NULL)
            goto oom;
        i = 0;
        cJSON_ArrayForEach(e, env)
        {
            size_t len;
            const cJSON *prev;
            for (prev = env->child; prev != e; prev = prev->next)
                if (strcmp(prev->string, e->string) == 0) {
                    ploc_err(at, err, SQ_ERR_INVALID, "field 'env': '%.64s' appears twice",
                             e->string);
                    return -1;
                }
            if (strncmp(e->string, "STAGEQ_", 7) == 0) {
                ploc_err(at, err, SQ_ERR_INVALID,
                         "field 'env': '%.64s': STAGEQ_* variables are set by the worker",
                         e->string);
                return -1;
            }
            if (!is_env_name(e->string) || !cJSON_IsString(e)) {
                ploc_err(at, err, SQ_ERR_INVALID,
                         "field 'env': '%.64s' must be a name of [A-Za-z0-9_] with a "
                         "string value",
                         e->string);
                return -1;
            }
            len = strlen(e->string) + strlen(e->valuestring) + 2;
            sd->env[i] = malloc(len);
            if (sd->env[i] == NULL)
                goto oom;
            snprintf(sd->env[i++], len, "%s=%s", e->string, e->valuestring);
        }
    }
    if (check_programs)
        return check_program(sd, at, err);
    return 0;
oom:
    ploc_err(at, err, SQ_ERR_NOMEM, "out of memory");
    return -1;
}

static int load_stage(struct stage_def *sd, const cJSON *js, bool check_programs, struct ploc *at,
                      struct sq_err *err)
{
    static const char *const fields[] = {"name",       "builtin", "exec",  "timeout_s",
                                         "env",        "cwd",     "serve", "max_jobs",
                                         "max_rss_mb", "queue",   NULL};
    const cJSON *exec, *builtin, *serve = json_get(js, "serve");

    if (!cJSON_IsObject(js)) {
        ploc_err(at, err, SQ_ERR_INVALID, "must be an object");
        return -1;
    }
    if (get_str(js, "name", true, &sd->name, at, err) < 0)
        return -1;
    at->stage_name = sd->name;
    if (!ids_is_valid(sd->name, strlen(sd->name), IDS_NAME_MAX_LEN)) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'name' must be 1-%d characters of [A-Za-z0-9._:-]",
                 IDS_NAME_MAX_LEN);
        return -1;
    }
    if (check_members(js, fields, at, err) < 0 ||
        get_int(js, "timeout_s", 0, PIPELINE_TIMEOUT_MAX_S, 0, &sd->timeout_s, at, err) < 0 ||
        get_str(js, "cwd", false, &sd->cwd, at, err) < 0 ||
        get_int(js, "max_jobs", 0, PIPELINE_MAX_JOBS_MAX, 0, &sd->max_jobs, at, err) < 0 ||
        get_int(js, "max_rss_mb", 0, PIPELINE_MAX_RSS_MB_MAX, 0, &sd->max_rss_mb, at, err) < 0 ||
        get_str(js, "queue", false, &sd->queue, at, err) < 0)
        return -1;
    if (sd->queue != NULL && !ids_is_valid(sd->queue, strlen(sd->queue), IDS_NAME_MAX_LEN)) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'queue' must be 1-%d characters of [A-Za-z0-9._:-]", IDS_NAME_MAX_LEN);
        return -1;
    }
    if (serve != NULL && !cJSON_IsBool(serve)) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'serve' must be true or false");
        return -1;
    }
    sd->is_serve = cJSON_IsTrue(serve);
    if (!sd->is_serve && (json_get(js, "max_jobs") != NULL || json_get(js, "max_rss_mb") != NULL)) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "'max_jobs' and 'max_rss_mb' apply to \"serve\": true stages only");
        return -1;
    }
    exec = json_get(js, "exec");
    builtin = json_get(js, "builtin");
    if ((exec == NULL) == (builtin == NULL)) {
        ploc_err(at, err, SQ_ERR_INVALID, "exactly one of 'builtin' and 'exec' is required");
        return -1;
    }
    if (builtin != NULL) {
        if (json_get(js, "env") != NULL || sd->cwd != NULL || sd->is_serve) {
            ploc_err(at, err, SQ_ERR_INVALID, "'env', 'cwd' and 'serve' apply to exec stages only");
            return -1;
        }
        if (get_str(js, "builtin", true, &sd->builtin, at, err) < 0)
            return -1;
        if (!is_builtin_name(sd->builtin)) {
            ploc_err(at, err, SQ_ERR_INVALID, "field 'builtin': no builtin stage '%.64s'",
                     sd->builtin);
            return -1;
        }
        return 0;
    }
    return load_exec(sd, exec, json_get(js, "env"), check_programs, at, err);
}

static int load_pipeline(struct pipeline *p, const cJSON *jp, bool check_programs, int default_ttl,
                         struct ploc *at, struct sq_err *err)
{
    static const char *const fields[] = {"description",  "queue",  "max_attempts", "backoff_s",
                                         "result_ttl_s", "resume", "stages",       NULL};
    const cJSON *resume = json_get(jp, "resume");
    const cJSON *stages, *js;
    size_t k = 0, j;

    if (!cJSON_IsObject(jp)) {
        ploc_err(at, err, SQ_ERR_INVALID, "must be an object");
        return -1;
    }
    if (check_members(jp, fields, at, err) < 0 ||
        get_str(jp, "description", false, &p->description, at, err) < 0 ||
        get_str(jp, "queue", false, &p->queue, at, err) < 0 ||
        get_int(jp, "max_attempts", 1, PIPELINE_MAX_ATTEMPTS, 1, &p->max_attempts, at, err) < 0 ||
        get_int(jp, "backoff_s", 0, PIPELINE_BACKOFF_MAX_S, 1, &p->backoff_s, at, err) < 0 ||
        get_int(jp, "result_ttl_s", 1, 31536000, default_ttl, &p->result_ttl_s, at, err) < 0)
        return -1;
    if (p->queue == NULL && (p->queue = strdup("default")) == NULL) {
        ploc_err(at, err, SQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (!ids_is_valid(p->queue, strlen(p->queue), IDS_NAME_MAX_LEN)) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'queue' must be 1-%d characters of [A-Za-z0-9._:-]", IDS_NAME_MAX_LEN);
        return -1;
    }
    if (resume != NULL && !cJSON_IsBool(resume)) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'resume' must be true or false");
        return -1;
    }
    p->is_resume = resume == NULL || cJSON_IsTrue(resume);
    stages = json_get(jp, "stages");
    if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) < 1 ||
        cJSON_GetArraySize(stages) > PIPELINE_MAX_STAGES) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'stages' must be an array of 1 to %d stages",
                 PIPELINE_MAX_STAGES);
        return -1;
    }
    p->stages = calloc((size_t)cJSON_GetArraySize(stages), sizeof(*p->stages));
    if (p->stages == NULL) {
        ploc_err(at, err, SQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    cJSON_ArrayForEach(js, stages)
    {
        at->stage = (int)k + 1;
        at->stage_name = NULL;
        p->nstages = k + 1;
        if (load_stage(&p->stages[k], js, check_programs, at, err) < 0)
            return -1;
        for (j = 0; j < k; j++)
            if (strcmp(p->stages[j].name, p->stages[k].name) == 0) {
                ploc_err(at, err, SQ_ERR_INVALID, "stage name '%s' is used twice",
                         p->stages[k].name);
                return -1;
            }
        k++;
    }
    at->stage = 0;
    if (!p->is_resume && pipeline_is_routed(p)) {
        /* a job that moves between queues goes on where it stopped: stage 1
         * again could be another pool's */
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'resume' must be true when a stage names its own 'queue'");
        return -1;
    }
    return 0;
}

/* A queue's "rate_limit": {"jobs": N, "per_s": S} (may be absent). */
static int load_rate_limit(struct queue_def *qd, const cJSON *q, struct ploc *at,
                           struct sq_err *err)
{
    static const char *const fields[] = {"jobs", "per_s", NULL};
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(q, "rate_limit");

    if (rl == NULL)
        return 0;
    if (!cJSON_IsObject(rl)) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'rate_limit' must be an object {\"jobs\": N, \"per_s\": S}");
        return -1;
    }
    if (check_members(rl, fields, at, err) < 0 ||
        get_int(rl, "jobs", 1, PIPELINE_RATE_JOBS_MAX, 0, &qd->rate_jobs, at, err) < 0 ||
        get_int(rl, "per_s", 1, PIPELINE_RATE_PER_S_MAX, 1, &qd->rate_per_s, at, err) < 0)
        return -1;
    if (qd->rate_jobs == 0) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'rate_limit' needs 'jobs' (1-%d)",
                 PIPELINE_RATE_JOBS_MAX);
        return -1;
    }
    if (qd->partitions != 1) {
        /* one sliding log in one slot: exact cluster-wide */
        ploc_err(at, err, SQ_ERR_INVALID,
                 "a queue with a 'rate_limit' has 1 partition (it has %d): its limit is one "
                 "counter in one slot",
                 qd->partitions);
        return -1;
    }
    return 0;
}

/* The "queues" section: {"name": {"partitions": P, "rate_limit": {...}}, ...}
 * (may be absent). */
static int load_queues(struct pipeline_set *set, const cJSON *jq, struct ploc *at,
                       struct sq_err *err)
{
    static const char *const fields[] = {"partitions", "rate_limit", NULL};
    const cJSON *q;
    size_t n;

    if (jq == NULL)
        return 0;
    if (!cJSON_IsObject(jq)) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'queues' must be an object of name: queue");
        return -1;
    }
    n = (size_t)cJSON_GetArraySize(jq);
    set->queues = calloc(n + 1, sizeof(*set->queues));
    if (set->queues == NULL) {
        ploc_err(at, err, SQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    cJSON_ArrayForEach(q, jq)
    {
        struct queue_def *qd = &set->queues[set->nqueues];
        char where[96];
        struct ploc qat = *at;

        snprintf(where, sizeof(where), "queue '%.64s'", q->string);
        qat.pipeline = NULL;
        if (!ids_is_valid(q->string, strlen(q->string), IDS_NAME_MAX_LEN)) {
            ploc_err(&qat, err, SQ_ERR_INVALID,
                     "queues: a queue name must be 1-%d characters of [A-Za-z0-9._:-]",
                     IDS_NAME_MAX_LEN);
            return -1;
        }
        if (!cJSON_IsObject(q)) {
            ploc_err(&qat, err, SQ_ERR_INVALID, "queues: %s must be an object", where);
            return -1;
        }
        /* errors name the queue where a pipeline's name would be */
        qat.pipeline = where;
        if (check_members(q, fields, &qat, err) < 0 ||
            get_int(q, "partitions", 1, KEYS_PARTITIONS_MAX, 1, &qd->partitions, &qat, err) < 0 ||
            load_rate_limit(qd, q, &qat, err) < 0)
            return -1;
        qd->name = strdup(q->string);
        if (qd->name == NULL) {
            ploc_err(at, err, SQ_ERR_NOMEM, "out of memory");
            return -1;
        }
        set->nqueues++;
    }
    return 0;
}

/* A job stays in its partition's slot for life (keys.h): the queues a
 * pipeline's stages run on must have one partition count. The home queue a
 * submit names is checked by the API against the same rule. */
static int check_hop_partitions(const struct pipeline_set *set, struct ploc *at, struct sq_err *err)
{
    size_t i, k;

    for (i = 0; i < set->n; i++) {
        const struct pipeline *p = &set->items[i];
        int want = pipeline_set_partitions(set, p->queue);

        for (k = 0; k < p->nstages; k++) {
            const char *q = pipeline_stage_queue(p, k + 1, p->queue);
            if (pipeline_set_partitions(set, q) != want) {
                struct ploc pat = {at->file, p->name, (int)k + 1, p->stages[k].name};
                ploc_err(&pat, err, SQ_ERR_INVALID,
                         "queue '%.64s' has %d partitions and queue '%.64s' %d: the queues of "
                         "one pipeline need the same number (a job keeps its slot)",
                         q, pipeline_set_partitions(set, q), p->queue, want);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- the "schedules" section ---- */

#define PIPELINE_FILE_NAME_MAX 160 /* bytes of the file name in a schedule's errors */

static const char *const schedule_missed_names[] = {"skip", "run_once", NULL};

const char *pipeline_schedule_missed_name(enum schedule_missed m)
{
    return schedule_missed_names[m == SCHEDULE_MISSED_RUN_ONCE ? 1 : 0];
}

long long pipeline_schedule_next(const struct schedule_def *sd, long long after_s)
{
    if (sd->cron == NULL)
        return cron_every_next(after_s, sd->every_s);
    return cron_next(&sd->expr, after_s, sd->timezone);
}

/* The "when" of schedule sd from js: exactly one of cron / every_s, and a
 * timezone (cron only). */
static int load_schedule_when(struct schedule_def *sd, const cJSON *js, const struct ploc *at,
                              struct sq_err *err)
{
    struct sq_err cerr = {0};
    bool has_cron = json_get(js, "cron") != NULL, has_every = json_get(js, "every_s") != NULL;

    if (has_cron == has_every) {
        ploc_err(at, err, SQ_ERR_INVALID, "exactly one of the fields 'cron' and 'every_s' is %s",
                 has_cron ? "allowed" : "required");
        return -1;
    }
    if (get_str(js, "timezone", false, &sd->timezone, at, err) < 0)
        return -1;
    if (has_every) {
        if (sd->timezone != NULL) {
            ploc_err(at, err, SQ_ERR_INVALID,
                     "field 'timezone' applies to 'cron' only (every_s ticks are aligned on the "
                     "Unix epoch)");
            return -1;
        }
        return get_int(js, "every_s", 1, CRON_EVERY_MAX_S, 0, &sd->every_s, at, err);
    }
    if (get_str(js, "cron", true, &sd->cron, at, err) < 0)
        return -1;
    if (cron_parse(sd->cron, &sd->expr, &cerr) < 0) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'cron': %s", cerr.msg);
        return -1;
    }
    if (sd->timezone != NULL && !cron_tz_is_valid(sd->timezone, NULL)) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'timezone': '%.64s' is not a timezone of the tz database (%s)",
                 sd->timezone, CRON_ZONEINFO_DIR);
        return -1;
    }
    if (cron_next(&sd->expr, 946684800LL, NULL) < 0) { /* from 2000-01-01 */
        ploc_err(at, err, SQ_ERR_INVALID, "field 'cron': '%.64s' names no date that exists",
                 sd->cron);
        return -1;
    }
    return 0;
}

/* One schedule: js validated into sd; exact (the same schedule parsed with
 * json_parse_exact) gives the input's numbers as written. */
static int load_schedule(struct pipeline_set *set, struct schedule_def *sd, const cJSON *js,
                         const cJSON *exact, const char *file, size_t index, struct sq_err *err)
{
    static const char *const fields[] = {"name",     "pipeline", "input", "cron", "every_s",
                                         "timezone", "missed",   "queue", NULL};
    char where[PIPELINE_FILE_NAME_MAX + 96];
    struct ploc sat = {where, NULL, 0, NULL}, *at = &sat;
    char *missed = NULL;
    size_t i;

    /* errors start "file: schedules[i]: " until the name is known, then
     * "file: schedule 'name': " */
    snprintf(where, sizeof(where), "%.*s: schedules[%zu]", PIPELINE_FILE_NAME_MAX, file, index);

    if (!cJSON_IsObject(js)) {
        ploc_err(at, err, SQ_ERR_INVALID, "must be an object");
        return -1;
    }
    if (get_str(js, "name", true, &sd->name, at, err) < 0)
        return -1;
    if (!ids_is_valid(sd->name, strlen(sd->name), IDS_NAME_MAX_LEN)) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'name' must be 1-%d characters of [A-Za-z0-9._:-], not . or ..",
                 IDS_NAME_MAX_LEN);
        return -1;
    }
    snprintf(where, sizeof(where), "%.*s: schedule '%s'", PIPELINE_FILE_NAME_MAX, file, sd->name);
    for (i = 0; i < set->nschedules; i++)
        if (&set->schedules[i] != sd && strcmp(set->schedules[i].name, sd->name) == 0) {
            ploc_err(at, err, SQ_ERR_INVALID, "is defined twice");
            return -1;
        }
    if (check_members(js, fields, at, err) < 0 ||
        get_str(js, "pipeline", true, &sd->pipeline, at, err) < 0 ||
        get_str(js, "queue", false, &sd->queue, at, err) < 0 ||
        load_schedule_when(sd, js, at, err) < 0 ||
        get_str(js, "missed", false, &missed, at, err) < 0)
        goto fail;
    if (pipeline_set_find(set, sd->pipeline) == NULL) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'pipeline': unknown pipeline '%.64s'",
                 sd->pipeline);
        goto fail;
    }
    if (sd->queue != NULL && !ids_is_valid(sd->queue, strlen(sd->queue), IDS_NAME_MAX_LEN)) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'queue' must be 1-%d characters of [A-Za-z0-9._:-]", IDS_NAME_MAX_LEN);
        goto fail;
    }
    for (i = 0; missed != NULL && schedule_missed_names[i] != NULL; i++)
        if (strcmp(missed, schedule_missed_names[i]) == 0)
            break;
    if (missed != NULL && schedule_missed_names[i] == NULL) {
        ploc_err(at, err, SQ_ERR_INVALID, "field 'missed' must be \"skip\" or \"run_once\"");
        goto fail;
    }
    sd->missed = missed != NULL && i == 1 ? SCHEDULE_MISSED_RUN_ONCE : SCHEDULE_MISSED_SKIP;
    {
        const cJSON *in = json_get(exact, "input");
        char *printed = in != NULL ? json_print(in) : NULL;

        sd->input = in == NULL || printed != NULL ? strdup(in != NULL ? printed : "null") : NULL;
        cJSON_free(printed);
    }
    if (sd->input == NULL) {
        ploc_err(at, err, SQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    free(missed);
    return 0;
fail:
    free(missed);
    return -1;
}

/* The "schedules" section: [{...}, ...] (may be absent). text[0..len) is
 * parsed again exactly for the inputs. */
static int load_schedules(struct pipeline_set *set, const cJSON *js, const char *text, size_t len,
                          struct ploc *at, struct sq_err *err)
{
    struct json_err jerr;
    cJSON *exact;
    const cJSON *one;
    size_t n, i = 0;
    int rc = -1;

    if (js == NULL)
        return 0;
    if (!cJSON_IsArray(js) || cJSON_GetArraySize(js) > PIPELINE_MAX_SCHEDULES) {
        ploc_err(at, err, SQ_ERR_INVALID,
                 "field 'schedules' must be an array of at most %d "
                 "schedules",
                 PIPELINE_MAX_SCHEDULES);
        return -1;
    }
    exact = json_parse_exact(text, len, 32, &jerr);
    n = (size_t)cJSON_GetArraySize(js);
    set->schedules = calloc(n + 1, sizeof(*set->schedules));
    if (exact == NULL || set->schedules == NULL) {
        ploc_err(at, err, SQ_ERR_NOMEM, "out of memory");
        goto done;
    }
    cJSON_ArrayForEach(one, js)
    {
        set->nschedules++;
        if (load_schedule(set, &set->schedules[i], one,
                          cJSON_GetArrayItem(json_get(exact, "schedules"), (int)i), at->file, i,
                          err) < 0)
            goto done;
        i++;
    }
    rc = 0;
done:
    cJSON_Delete(exact);
    return rc;
}

/* Reads the whole file (at most PIPELINE_FILE_MAX_BYTES) into a new buffer. */
static char *read_file(const char *path, size_t *len, bool *is_missing, struct sq_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    *is_missing = false;
    if (f == NULL) {
        *is_missing = errno == ENOENT;
        err_set(err, SQ_ERR_INVALID, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(PIPELINE_FILE_MAX_BYTES + 1);
    if (buf == NULL) {
        err_set(err, SQ_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    n = fread(buf, 1, PIPELINE_FILE_MAX_BYTES + 1, f);
    if (ferror(f) || n > PIPELINE_FILE_MAX_BYTES) {
        err_set(err, ferror(f) ? SQ_ERR_IO : SQ_ERR_INVALID, "%s: %s", path,
                ferror(f) ? "read error" : "larger than 1 MiB");
        free(buf);
        buf = NULL;
        goto done;
    }
    *len = n;
done:
    fclose(f);
    return buf;
}

struct pipeline_set *pipeline_set_parse(const char *text, size_t len, const char *name_for_errors,
                                        bool check_programs, int default_result_ttl_s,
                                        struct sq_err *err)
{
    struct pipeline_set *set = pipeline_set_new_builtin(default_result_ttl_s, err);
    struct ploc at = {name_for_errors, NULL, 0, NULL};
    struct json_err jerr;
    const cJSON *pipes, *jp;
    cJSON *root = NULL;
    struct pipeline *items;
    size_t nfile;

    if (set == NULL)
        return NULL;
    root = json_parse_strict(text, len, 32, &jerr);
    if (root == NULL) {
        err_set(err, SQ_ERR_INVALID, "%s: %s", name_for_errors, jerr.msg);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        ploc_err(&at, err, SQ_ERR_INVALID, "must be a JSON object {\"pipelines\": {...}}");
        goto fail;
    }
    {
        static const char *const top[] = {"pipelines", "queues", "schedules", NULL};
        if (check_members(root, top, &at, err) < 0)
            goto fail;
    }
    pipes = json_get(root, "pipelines");
    if (!cJSON_IsObject(pipes)) {
        ploc_err(&at, err, SQ_ERR_INVALID, "field 'pipelines' must be an object of name: pipeline");
        goto fail;
    }
    nfile = (size_t)cJSON_GetArraySize(pipes);
    items = realloc(set->items, (set->n + nfile) * sizeof(*items) + 1);
    if (items == NULL) {
        ploc_err(&at, err, SQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    set->items = items;
    memset(set->items + set->n, 0, nfile * sizeof(*items));
    cJSON_ArrayForEach(jp, pipes)
    {
        struct pipeline *p = &set->items[set->n];
        at.pipeline = jp->string;
        if (!ids_is_valid(jp->string, strlen(jp->string), IDS_NAME_MAX_LEN)) {
            ploc_err(&at, err, SQ_ERR_INVALID,
                     "a pipeline name must be 1-%d characters of [A-Za-z0-9._:-]",
                     IDS_NAME_MAX_LEN);
            goto fail;
        }
        if (pipeline_set_find(set, jp->string) != NULL) {
            const struct pipeline *old = pipeline_set_find(set, jp->string);
            ploc_err(&at, err, SQ_ERR_INVALID, "%s",
                     old->is_builtin ? "is built in and cannot be redefined" : "is defined twice");
            goto fail;
        }
        set->n++;
        p->name = strdup(jp->string);
        if (p->name == NULL) {
            ploc_err(&at, err, SQ_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (load_pipeline(p, jp, check_programs, default_result_ttl_s, &at, err) < 0)
            goto fail;
    }
    if (load_queues(set, json_get(root, "queues"), &at, err) < 0 ||
        check_hop_partitions(set, &at, err) < 0)
        goto fail;
    at.pipeline = NULL;
    if (load_schedules(set, json_get(root, "schedules"), text, len, &at, err) < 0)
        goto fail;
    cJSON_Delete(root);
    return set;
fail:
    cJSON_Delete(root);
    pipeline_set_free(set);
    return NULL;
}

const struct queue_def *pipeline_set_queue(const struct pipeline_set *set, const char *queue)
{
    size_t i;

    for (i = 0; set != NULL && queue != NULL && i < set->nqueues; i++)
        if (strcmp(set->queues[i].name, queue) == 0)
            return &set->queues[i];
    return NULL;
}

int pipeline_set_partitions(const struct pipeline_set *set, const char *queue)
{
    const struct queue_def *qd = pipeline_set_queue(set, queue);

    return qd != NULL ? qd->partitions : 1;
}

/* Adds v to the sorted distinct values a[0..*n) when it is new and there is
 * room (cap). */
static void counts_add(int *a, int *n, int cap, int v)
{
    int i, j;

    for (i = 0; i < *n; i++) {
        if (a[i] == v)
            return;
        if (a[i] > v)
            break;
    }
    if (*n >= cap)
        return;
    for (j = *n; j > i; j--)
        a[j] = a[j - 1];
    a[i] = v;
    (*n)++;
}

static void slots_mark_queue(const struct pipeline_set *set, const char *queue, unsigned char *seen)
{
    int parts = pipeline_set_partitions(set, queue), j, s;

    for (j = 0; j < parts; j++) {
        s = keys_part_slot(parts, j);
        seen[s / 8] |= (unsigned char)(1u << (s % 8));
    }
}

/* Adds name to names[0..*n) (cap) unless there already; counts it beyond cap. */
static void names_add(const char **names, size_t *n, size_t cap, const char *name)
{
    size_t i;

    for (i = 0; i < *n && i < cap; i++)
        if (strcmp(names[i], name) == 0)
            return;
    if (*n < cap)
        names[*n] = name;
    (*n)++;
}

size_t pipeline_set_queue_names(const struct pipeline_set *set, const char **names, size_t cap)
{
    size_t n = 0, i, k;

    names_add(names, &n, cap, "default");
    for (i = 0; set != NULL && i < set->nqueues; i++)
        names_add(names, &n, cap, set->queues[i].name);
    for (i = 0; set != NULL && i < set->n; i++) {
        names_add(names, &n, cap, set->items[i].queue);
        for (k = 0; k < set->items[i].nstages; k++)
            if (set->items[i].stages[k].queue != NULL)
                names_add(names, &n, cap, set->items[i].stages[k].queue);
    }
    return n;
}

int pipeline_set_slots(const struct pipeline_set *set, int *slots, int cap)
{
    unsigned char seen[16384 / 8] = {0};
    int n = 0, s;
    size_t i, k;

    slots_mark_queue(set, "default", seen);
    for (i = 0; i < set->nqueues; i++)
        slots_mark_queue(set, set->queues[i].name, seen);
    for (i = 0; i < set->n; i++) {
        slots_mark_queue(set, set->items[i].queue, seen);
        for (k = 0; k < set->items[i].nstages; k++)
            if (set->items[i].stages[k].queue != NULL)
                slots_mark_queue(set, set->items[i].stages[k].queue, seen);
    }
    for (s = 0; s < 16384; s++)
        if (seen[s / 8] & (1u << (s % 8))) {
            if (n < cap)
                slots[n] = s;
            n++;
        }
    return n;
}

int pipeline_set_job_slots(const struct pipeline_set *set, const char *id, size_t len, int *slots,
                           int cap)
{
    int counts[64] = {0}, nc = 0, n = 0, i, s;
    size_t q;

    /* the distinct partition counts, 1 first (queues not declared) */
    counts_add(counts, &nc, 64, 1);
    for (q = 0; q < set->nqueues; q++)
        counts_add(counts, &nc, 64, set->queues[q].partitions);
    for (i = 0; i < nc && n < cap; i++) {
        int j;
        s = keys_job_slot(id, len, counts[i]);
        for (j = 0; j < n && slots[j] != s; j++)
            ;
        if (j == n)
            slots[n++] = s;
    }
    return n;
}

bool pipeline_is_routed(const struct pipeline *p)
{
    size_t k;

    for (k = 0; k < p->nstages; k++)
        if (p->stages[k].queue != NULL)
            return true;
    return false;
}

const char *pipeline_stage_queue(const struct pipeline *p, size_t k, const char *home)
{
    if (k >= 1 && k <= p->nstages && p->stages[k - 1].queue != NULL)
        return p->stages[k - 1].queue;
    return home;
}

int pipeline_set_check_programs(const struct pipeline_set *set, const char *queue,
                                struct sq_err *err)
{
    struct ploc at = {set->path ? set->path : "pipelines", NULL, 0, NULL};
    size_t i, k;

    for (i = 0; i < set->n; i++) {
        const struct pipeline *p = &set->items[i];
        bool is_routed = pipeline_is_routed(p);
        at.pipeline = p->name;
        for (k = 1; k <= p->nstages; k++) {
            const struct stage_def *sd = &p->stages[k - 1];
            if (sd->argv == NULL ||
                (is_routed && strcmp(pipeline_stage_queue(p, k, p->queue), queue) != 0))
                continue;
            at.stage = (int)k;
            at.stage_name = sd->name;
            if (check_program(sd, &at, err) < 0)
                return -1;
        }
    }
    return 0;
}

struct pipeline_set *pipeline_set_load(const char *path, bool is_required, bool check_programs,
                                       int default_result_ttl_s, struct sq_err *err)
{
    struct pipeline_set *set;
    char *text = NULL;
    size_t len = 0;
    bool is_missing;

    if (path == NULL || path[0] == '\0')
        return pipeline_set_new_builtin(default_result_ttl_s, err);
    text = read_file(path, &len, &is_missing, err);
    if (text == NULL) {
        if (is_missing && !is_required)
            return pipeline_set_new_builtin(default_result_ttl_s, err);
        return NULL;
    }
    set = pipeline_set_parse(text, len, path, check_programs, default_result_ttl_s, err);
    free(text);
    if (set != NULL)
        set->path = strdup(path);
    return set;
}
