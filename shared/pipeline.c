/* pipeline: the set of pipelines a process knows, starting with the built-in
 * ones. Owns every string it holds. */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

const char *const pipeline_builtin_names[] = {
    "echo", "demo.generate", "demo.transform", "demo.sort", "demo.summarize", NULL,
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
};

static int pipeline_add_builtin(struct pipeline *p, const struct builtin_pipeline *b, int ttl)
{
    size_t n = 0, i;

    while (b->stages[0][n] != NULL)
        n++;
    p->name = strdup(b->name);
    p->queue = strdup("default");
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
    err_set(err, "out of memory loading pipelines");
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

void pipeline_set_free(struct pipeline_set *set)
{
    size_t i, k;

    if (set == NULL)
        return;
    for (i = 0; i < set->n; i++) {
        struct pipeline *p = &set->items[i];
        for (k = 0; k < p->nstages && p->stages != NULL; k++) {
            free(p->stages[k].name);
            free(p->stages[k].builtin);
        }
        free(p->stages);
        free(p->name);
        free(p->queue);
    }
    free(set->items);
    free(set);
}
