/* pipeline: named, ordered lists of stages, and the settings that go with
 * them. The built-in pipelines ("demo", "echo") always exist. The worker maps
 * a stage's builtin name to a C function; the API only needs names and counts. */
#ifndef STAGEQ_PIPELINE_H
#define STAGEQ_PIPELINE_H

#include <stddef.h>

#include "err.h"

#define PIPELINE_MAX_STAGES 64

struct stage_def {
    char *name;    /* unique within its pipeline */
    char *builtin; /* name of the builtin function that runs it */
    int timeout_s; /* 0 = none */
};

struct pipeline {
    char *name;
    char *queue;
    int max_attempts; /* >= 1 */
    int backoff_s;
    int result_ttl_s;
    size_t nstages;
    struct stage_def *stages;
};

struct pipeline_set {
    size_t n;
    struct pipeline *items;
};

/* Builtin stage functions the worker provides, by name. NULL-terminated. */
extern const char *const pipeline_builtin_names[];

/* Returns a new set holding the built-in pipelines, with result_ttl_s set to
 * default_result_ttl_s; the caller frees it with pipeline_set_free. NULL with
 * err set on allocation failure. */
struct pipeline_set *pipeline_set_new_builtin(int default_result_ttl_s, struct sq_err *err);

/* Borrowed pointer to the pipeline called name, or NULL. */
const struct pipeline *pipeline_set_find(const struct pipeline_set *set, const char *name);

void pipeline_set_free(struct pipeline_set *set);

#endif
