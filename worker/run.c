/* run: one started job through its stages. Every change is one round trip
 * (update.lua / finish.lua, fenced by the attempt number); progress is
 * coalesced to at most one write per WORKER_PROGRESS_MIN_MS, and "stage k
 * done" is folded with "stage k+1 started". Never exits the process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "stage_builtin.h"
#include "worker.h"

struct run {
    struct worker *w;
    const char *id;
    char job_key[KEYS_MAX_LEN];
    char attempt[24];
    const struct pipeline *pl;
    int k; /* current stage, 1-based */
    int n; /* stage count */
    int result_ttl_s;
    int64_t last_write_ms; /* monotonic time of the last progress write */
    bool is_refused;       /* a write was refused: canceled, expired or fenced */
    char refused[32];
};

static void run_ts(char ts[CLOCK_RFC3339_LEN])
{
    clock_format_rfc3339(clock_now_ms(), ts);
}

/* Sends fields (already in a) with update.lua or finish.lua. Returns 0 when
 * written, 1 when refused (r->refused says why), -1 when Redis gave up. */
static int run_write(struct run *r, enum script_id script, long long ttl, struct rargv *fields)
{
    struct rargv a;
    redisReply *rep;
    size_t i;
    int rc = -1;

    rargv_init(&a);
    rargv_add(&a, r->job_key);
    if (script == SCRIPT_FINISH)
        rargv_add(&a, r->w->processing_key);
    rargv_add(&a, r->attempt);
    rargv_addll(&a, ttl);
    if (script == SCRIPT_FINISH)
        rargv_add(&a, r->id);
    for (i = 0; i < fields->argc; i++)
        rargv_addlen(&a, fields->argv[i], fields->lens[i]);
    rep = wredis_script(r->w, script, script == SCRIPT_FINISH ? 2 : 1, &a);
    rargv_free(&a);
    if (rep == NULL) {
        log_write(LOG_LEVEL_ERROR, 0, r->id, "state change not written: redis unreachable");
        return -1;
    }
    if (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING) {
        if (strcmp(rep->str, "ok") == 0) {
            rc = 0;
        } else {
            snprintf(r->refused, sizeof(r->refused), "%s", rep->str);
            r->is_refused = true;
            rc = 1;
        }
    } else {
        log_write(LOG_LEVEL_ERROR, 0, r->id, "state change failed: %.*s",
                  rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 0,
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    }
    freeReplyObject(rep);
    return rc;
}

static void add_stage_field(struct rargv *a, int k, const char *what, const char *value, size_t len)
{
    char field[64];

    keys_stage_field(field, sizeof(field), k, what);
    rargv_add(a, field);
    rargv_addlen(a, value, len);
}

static void add_num(struct rargv *a, const char *field, double v)
{
    rargv_add(a, field);
    rargv_addf(a, "%.4f", v);
}

/* Progress callback given to stages. */
static int run_report(void *arg, double fraction, const char *message)
{
    struct run *r = arg;
    struct rargv a;
    char ts[CLOCK_RFC3339_LEN];
    int64_t now = clock_mono_ms();

    if (r->is_refused)
        return 1;
    if (now - r->last_write_ms < WORKER_PROGRESS_MIN_MS)
        return 0; /* coalesced: the stage's end is written anyway */
    if (!(fraction >= 0.0))
        fraction = 0.0;
    if (fraction > 1.0)
        fraction = 1.0;
    r->last_write_ms = now;
    run_ts(ts);
    rargv_init(&a);
    add_num(&a, JOB_F_PROGRESS, fraction);
    add_num(&a, JOB_F_OVERALL, job_overall_progress(r->k, r->n, fraction));
    if (message != NULL) {
        rargv_add(&a, JOB_F_MESSAGE);
        rargv_addlen(&a, message, strnlen(message, 1024));
    }
    rargv_add(&a, JOB_F_UPDATED_AT);
    rargv_add(&a, ts);
    run_write(r, SCRIPT_UPDATE, JOB_ACTIVE_TTL_S, &a);
    rargv_free(&a);
    return r->is_refused ? 1 : 0;
}

/* Writes the job's end: succeeded with result, or failed with err. */
static void run_finish(struct run *r, const char *stage_out, const struct stage_error *err)
{
    char ts[CLOCK_RFC3339_LEN];
    struct rargv a;
    enum job_state st = err ? JOB_FAILED : JOB_SUCCEEDED;
    char *errtext = NULL;

    run_ts(ts);
    rargv_init(&a);
    if (r->k >= 1) {
        add_stage_field(&a, r->k, "state", err ? "failed" : "succeeded", err ? 6 : 9);
        add_stage_field(&a, r->k, "finished_at", ts, strlen(ts));
    }
    if (err != NULL) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "code", err->code);
        cJSON_AddStringToObject(e, "message", err->message);
        if (r->k >= 1 && r->pl != NULL && r->k <= (int)r->pl->nstages)
            cJSON_AddStringToObject(e, "stage", r->pl->stages[r->k - 1].name);
        cJSON_AddNumberToObject(e, "stage_index", r->k);
        cJSON_AddNumberToObject(e, "attempt", strtol(r->attempt, NULL, 10));
        cJSON_AddBoolToObject(e, "retryable", err->is_retryable);
        errtext = json_print(e);
        cJSON_Delete(e);
        rargv_add(&a, JOB_F_ERROR);
        rargv_add(&a, errtext ? errtext : "{\"code\":\"internal\"}");
        cJSON_free(errtext);
    } else {
        if (stage_out == NULL)
            stage_out = "null";
        add_stage_field(&a, r->k, "output", stage_out, strlen(stage_out));
        rargv_add(&a, JOB_F_RESULT);
        rargv_add(&a, stage_out);
        add_num(&a, JOB_F_PROGRESS, 1.0);
        add_num(&a, JOB_F_OVERALL, 1.0);
        rargv_add(&a, JOB_F_MESSAGE);
        rargv_add(&a, "");
    }
    rargv_add(&a, JOB_F_STATE);
    rargv_add(&a, job_state_name(st));
    rargv_add(&a, JOB_F_FINISHED_AT);
    rargv_add(&a, ts);
    rargv_add(&a, JOB_F_UPDATED_AT);
    rargv_add(&a, ts);
    switch (run_write(r, SCRIPT_FINISH, job_ttl_for(st, r->result_ttl_s), &a)) {
    case 0:
        if (err != NULL)
            log_write(LOG_LEVEL_WARN, 0, r->id, "failed in stage %d: %s: %s", r->k, err->code,
                      err->message);
        else
            log_write(LOG_LEVEL_INFO, 0, r->id, "succeeded");
        break;
    case 1: /* finish.lua has already dropped it from our processing list */
        log_write(LOG_LEVEL_INFO, 0, r->id, "end not recorded: job is %s", r->refused);
        break;
    default:
        break;
    }
    rargv_free(&a);
}

/* Stage k finished with output `out`: mark it and start stage k+1, one write. */
static int run_advance(struct run *r, const char *out)
{
    char ts[CLOCK_RFC3339_LEN];
    const char *next = r->pl->stages[r->k].name; /* stage k+1, 0-based index k */
    struct rargv a;
    int rc;

    run_ts(ts);
    rargv_init(&a);
    add_stage_field(&a, r->k, "state", "succeeded", 9);
    add_stage_field(&a, r->k, "finished_at", ts, strlen(ts));
    add_stage_field(&a, r->k, "output", out, strlen(out));
    add_stage_field(&a, r->k + 1, "state", "running", 7);
    add_stage_field(&a, r->k + 1, "started_at", ts, strlen(ts));
    rargv_add(&a, JOB_F_STAGE);
    rargv_addll(&a, r->k + 1);
    rargv_add(&a, JOB_F_STAGE_NAME);
    rargv_add(&a, next);
    add_num(&a, JOB_F_PROGRESS, 0.0);
    add_num(&a, JOB_F_OVERALL, job_overall_progress(r->k + 1, r->n, 0.0));
    rargv_add(&a, JOB_F_MESSAGE);
    rargv_add(&a, "");
    rargv_add(&a, JOB_F_UPDATED_AT);
    rargv_add(&a, ts);
    rc = run_write(r, SCRIPT_UPDATE, JOB_ACTIVE_TTL_S, &a);
    rargv_free(&a);
    r->k++;
    r->last_write_ms = clock_mono_ms();
    return rc;
}

/* The job was canceled, expired or taken over: drop it from our list. */
static void run_abandon(struct run *r)
{
    struct rargv a;

    log_write(LOG_LEVEL_INFO, 0, r->id, "stopped: job is %s", r->refused);
    rargv_init(&a);
    rargv_add(&a, JOB_F_UPDATED_AT);
    rargv_add(&a, "-");
    run_write(r, SCRIPT_FINISH, JOB_ACTIVE_TTL_S, &a); /* refused again; removes the list entry */
    rargv_free(&a);
}

void run_job(struct worker *w, const char *id, const redisReply *hash)
{
    struct run r;
    struct job_hash h;
    const char **fv = NULL;
    size_t *lens = NULL, i;
    const char *v;
    cJSON *cur = NULL;
    struct stage_error serr;
    char *out_text = NULL;

    memset(&r, 0, sizeof(r));
    r.w = w;
    r.id = id;
    r.k = 1;
    r.last_write_ms = clock_mono_ms();
    keys_job(r.job_key, sizeof(r.job_key), w->cfg->prefix, id);

    fv = calloc(hash->elements + 1, sizeof(*fv));
    lens = calloc(hash->elements + 1, sizeof(*lens));
    if (fv == NULL || lens == NULL) {
        log_write(LOG_LEVEL_ERROR, 0, id, "out of memory reading the job");
        goto done; /* stays on the processing list: recovered later */
    }
    for (i = 0; i < hash->elements; i++) {
        fv[i] = hash->element[i]->str ? hash->element[i]->str : "";
        lens[i] = hash->element[i]->len;
    }
    h.fv = fv, h.lens = lens, h.n = hash->elements;
    v = job_hash_get(&h, JOB_F_ATTEMPT);
    snprintf(r.attempt, sizeof(r.attempt), "%s", v ? v : "0");
    v = job_hash_get(&h, JOB_F_RESULT_TTL);
    r.result_ttl_s = v ? (int)strtol(v, NULL, 10) : 86400;
    v = job_hash_get(&h, JOB_F_PIPELINE);
    r.pl = v ? pipeline_set_find(w->pipelines, v) : NULL;
    log_write(LOG_LEVEL_INFO, 0, id, "started: pipeline %s, attempt %s", v ? v : "?", r.attempt);
    if (r.pl == NULL) {
        stage_error_set(&serr, "unknown_pipeline", false, "this worker has no pipeline '%.64s'",
                        v ? v : "");
        run_finish(&r, NULL, &serr);
        goto done;
    }
    r.n = (int)r.pl->nstages;
    v = job_hash_get(&h, JOB_F_STAGE_COUNT);
    if (v == NULL || strtol(v, NULL, 10) != r.n) {
        stage_error_set(&serr, "pipeline_changed", false,
                        "the job has %s stages, pipeline '%s' now has %d", v ? v : "no", r.pl->name,
                        r.n);
        run_finish(&r, NULL, &serr);
        goto done;
    }
    v = job_hash_get(&h, JOB_F_INPUT);
    cur = v ? cJSON_Parse(v) : cJSON_CreateNull();
    if (cur == NULL) {
        stage_error_set(&serr, "invalid_input", false, "the stored input is not valid JSON");
        run_finish(&r, NULL, &serr);
        goto done;
    }

    for (;;) {
        const struct stage_def *sd = &r.pl->stages[r.k - 1];
        stage_builtin_fn fn = stage_builtin_find(sd->builtin);
        struct stage_ctx ctx = {run_report, &r, false};
        cJSON *out = NULL;

        if (fn == NULL) {
            stage_error_set(&serr, "unknown_builtin", false, "no builtin stage '%s'", sd->builtin);
            run_finish(&r, NULL, &serr);
            break;
        }
        memset(&serr, 0, sizeof(serr));
        if (fn(cur, &ctx, &out, &serr) < 0) {
            if (r.is_refused)
                run_abandon(&r);
            else
                run_finish(&r, NULL, &serr);
            break;
        }
        cJSON_Delete(cur);
        cur = out;
        out_text = json_print(cur);
        if (out_text == NULL) {
            stage_error_set(&serr, "out_of_memory", true, "cannot print the stage output");
            run_finish(&r, NULL, &serr);
            break;
        }
        if (r.k == r.n) {
            run_finish(&r, out_text, NULL);
            break;
        }
        if (run_advance(&r, out_text) != 0) {
            if (r.is_refused)
                run_abandon(&r);
            break;
        }
        cJSON_free(out_text);
        out_text = NULL;
    }
    w->jobs_done++;
done:
    cJSON_free(out_text);
    cJSON_Delete(cur);
    free(fv);
    free(lens);
}
