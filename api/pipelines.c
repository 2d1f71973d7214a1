/* pipelines: GET /v1/pipelines — the pipelines this API accepts, from the same
 * file the workers load. Shows names, settings and stage kinds; never argv or
 * env, which may hold secrets. */
#include "api.h"

#include "pipeline.h"

void pipelines_list(struct api_req *ar)
{
    const struct pipeline_set *set = ar->api->pipelines;
    cJSON *body = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(body, "pipelines");
    size_t i, k;

    for (i = 0; arr != NULL && i < set->n; i++) {
        const struct pipeline *p = &set->items[i];
        cJSON *o = cJSON_CreateObject(), *stages;

        cJSON_AddStringToObject(o, "name", p->name);
        if (p->description != NULL)
            cJSON_AddStringToObject(o, "description", p->description);
        cJSON_AddStringToObject(o, "queue", p->queue);
        cJSON_AddNumberToObject(o, "max_attempts", p->max_attempts);
        cJSON_AddNumberToObject(o, "backoff_s", p->backoff_s);
        cJSON_AddNumberToObject(o, "result_ttl_s", p->result_ttl_s);
        cJSON_AddBoolToObject(o, "builtin", p->is_builtin);
        stages = cJSON_AddArrayToObject(o, "stages");
        for (k = 0; stages != NULL && k < p->nstages; k++) {
            const struct stage_def *sd = &p->stages[k];
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "name", sd->name);
            cJSON_AddStringToObject(s, "kind", sd->builtin ? "builtin" : "exec");
            if (sd->builtin != NULL)
                cJSON_AddStringToObject(s, "builtin", sd->builtin);
            if (sd->timeout_s > 0)
                cJSON_AddNumberToObject(s, "timeout_s", sd->timeout_s);
            if (sd->queue != NULL)
                cJSON_AddStringToObject(s, "queue", sd->queue);
            cJSON_AddItemToArray(stages, s);
        }
        cJSON_AddItemToArray(arr, o);
    }
    reply_json(ar, 200, body); /* a NULL body (out of memory) becomes a 500 */
    cJSON_Delete(body);
}
