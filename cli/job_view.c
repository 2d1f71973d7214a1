/* job_view: the few fields of a GET /v1/jobs/{id} answer that the CLI shows,
 * copied out of the borrowed JSON into bounded buffers. Never prints. */
#include "cli.h"

#include <string.h>

#include "json.h"

static void job_view_str(const cJSON *o, const char *name, char *out, size_t len)
{
    const cJSON *v = o ? json_get(o, name) : NULL;

    out[0] = '\0';
    if (cJSON_IsString(v))
        snprintf(out, len, "%s", v->valuestring);
}

static double job_view_num(const cJSON *o, const char *name)
{
    double d;

    return json_number(json_get(o, name), &d) == 0 ? d : 0.0;
}

static int job_view_int(const cJSON *o, const char *name)
{
    double d = job_view_num(o, name);

    return d >= 0 && d < 1e9 ? (int)d : 0;
}

static double job_view_unit(double d)
{
    return d < 0 ? 0 : d > 1 ? 1 : d;
}

int job_view_read(const cJSON *st, struct job_view *v)
{
    const cJSON *err, *s;
    double eta;
    int k = 0;

    memset(v, 0, sizeof(*v));
    if (!cJSON_IsObject(st) || !cJSON_IsString(json_get(st, "state")))
        return -1;
    job_view_str(st, "id", v->id, sizeof(v->id));
    job_view_str(st, "state", v->state, sizeof(v->state));
    job_view_str(st, "stage_name", v->stage_name, sizeof(v->stage_name));
    job_view_str(st, "message", v->message, sizeof(v->message));
    job_view_str(st, "run_at", v->run_at, sizeof(v->run_at));
    v->stage = job_view_int(st, "stage");
    v->stage_count = job_view_int(st, "stage_count");
    v->attempt = job_view_int(st, "attempt");
    v->max_attempts = job_view_int(st, "max_attempts");
    v->progress = job_view_unit(job_view_num(st, "progress"));
    v->overall = job_view_unit(job_view_num(st, "overall_progress"));
    /* number, null or absent */
    if (json_number(json_get(st, "eta_s"), &eta) == 0 && eta >= 0 && eta < 1e9) {
        v->has_eta = true;
        v->eta_s = eta;
    }
    cJSON_ArrayForEach(s, json_get(st, "stages"))
    {
        if (k >= JOB_VIEW_STAGES_MAX)
            break;
        job_view_str(s, "name", v->names[k], sizeof(v->names[k]));
        k++;
    }
    err = json_get(st, "error");
    if (cJSON_IsObject(err)) {
        job_view_str(err, "code", v->err_code, sizeof(v->err_code));
        job_view_str(err, "message", v->err_msg, sizeof(v->err_msg));
        job_view_str(err, "stage", v->err_stage, sizeof(v->err_stage));
    }
    return 0;
}

bool job_view_is_final(const struct job_view *v)
{
    return strcmp(v->state, "succeeded") == 0 || strcmp(v->state, "failed") == 0 ||
           strcmp(v->state, "canceled") == 0;
}

const char *job_view_stage_name(const struct job_view *v, int k)
{
    if (k < 1 || k > JOB_VIEW_STAGES_MAX || v->names[k - 1][0] == '\0')
        return "?";
    return v->names[k - 1];
}
