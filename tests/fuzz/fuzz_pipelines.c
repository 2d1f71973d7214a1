/* fuzz_pipelines: pipeline_set_parse (the pipelines file) on any bytes,
 * without program checks (no file system). An accepted set must be
 * consistent: every pipeline named, with a queue and 1..PIPELINE_MAX_STAGES
 * stages, each stage exactly one of builtin and exec. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const struct pipeline *p, const char *what)
{
    fprintf(stderr, "pipeline '%s': %s\n", p->name ? p->name : "?", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sq_err err;
    struct pipeline_set *set;
    size_t i, k;

    err.msg[0] = '\0';
    set = pipeline_set_parse((const char *)data, size, "fuzz.json", false, 86400, &err);
    if (set == NULL) {
        if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL ||
            strncmp(err.msg, "fuzz.json", 9) != 0) {
            fprintf(stderr, "bad error message: %.*s\n", (int)sizeof(err.msg), err.msg);
            abort();
        }
        return 0;
    }
    for (i = 0; i < set->n; i++) {
        const struct pipeline *p = &set->items[i];
        if (p->name == NULL || p->queue == NULL || p->max_attempts < 1)
            fuzz_fail(p, "incomplete");
        if (pipeline_set_find(set, p->name) != p)
            fuzz_fail(p, "name not unique");
        if (p->nstages < 1 || p->nstages > PIPELINE_MAX_STAGES || p->stages == NULL)
            fuzz_fail(p, "stage count");
        for (k = 0; k < p->nstages; k++) {
            const struct stage_def *sd = &p->stages[k];
            if (sd->name == NULL || (sd->builtin == NULL) == (sd->argv == NULL))
                fuzz_fail(p, "stage neither builtin nor exec");
            if (sd->argv != NULL && (sd->argv[0] == NULL || sd->argv[0][0] == '\0'))
                fuzz_fail(p, "exec stage without a program");
        }
    }
    pipeline_set_free(set);
    return 0;
}
