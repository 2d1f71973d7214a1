/* fuzz_stagefield: stagefield_parse on any bytes (a stage.<k> field of a job
 * hash, anyone with redis-cli may write it), then the same value as the
 * stage a worker starts (stagefield_run_init of a start reply holding it)
 * and a write of that stage's end (stagefield_run_write). A stage read has a
 * name, and every string terminated within its buffer; a time is one
 * clock_parse_rfc3339 reads back to the text it was formatted from; a start
 * not given is unknown until resolved. The write's pairs come in pairs and
 * name the stage's field. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "pipeline.h"
#include "rargv.h"
#include "stagefield.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE_MS 1764089294123LL /* 2025-11-25T16:48:14.123Z */

/* A time the parse gave: NULL, or RFC 3339 text that reads back as itself. */
static bool time_ok(const char *t)
{
    char again[CLOCK_RFC3339_LEN];
    int64_t ms;

    if (t == NULL)
        return true;
    if (strnlen(t, CLOCK_RFC3339_LEN) != CLOCK_RFC3339_LEN - 1 || clock_parse_rfc3339(t, &ms) < 0)
        return false;
    clock_format_rfc3339(ms, again);
    return strcmp(again, t) == 0;
}

static struct pipeline_set *demo_set(void)
{
    static struct pipeline_set *set;
    struct sq_err err;

    if (set == NULL)
        set = pipeline_set_new_builtin(3600, &err);
    return set;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *v = (const char *)data;
    size_t half = STAGEFIELD_TEXT_MAX / 2;
    struct stagefield s;
    struct stagefield_run sr;
    struct rargv in, out;
    char *value = malloc(size + 1);
    size_t i;

    stagefield_parse(v, size, BASE_MS, &s);
    if (s.name == NULL || strnlen(s.name, half) == half ||
        (s.state != NULL && strnlen(s.state, half) == half) || !time_ok(s.started_at) ||
        !time_ok(s.finished_at) || (s.is_started_implicit && s.started_at != NULL) ||
        !s.is_compact)
        abort();
    if (value == NULL)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';
    {
        /* a start reply (or a reservation's) holding the value as stage 2 */
        const char *fv[] = {"stage", "2", "stage.2", value, "created_at", "2025-11-25T16:48:14.123Z",
                            "reserved", "1"};
        struct job_hash h = {fv, NULL, size % 2 == 0 ? 8 : 6, NULL, 0, NULL};

        stagefield_run_init(&sr, &h, size % 3 == 0 ? NULL : pipeline_set_find(demo_set(), "demo"));
    }
    rargv_init(&in);
    rargv_init(&out);
    rargv_add(&in, "stage.2.state"), rargv_add(&in, "succeeded");
    rargv_add(&in, "stage.2.finished_at"), rargv_add(&in, "2025-11-25T16:48:15.000Z");
    rargv_add(&in, "stage.3.state"), rargv_add(&in, "running");
    rargv_add(&in, "stage.3.started_at"), rargv_add(&in, "2025-11-25T16:48:15.000Z");
    rargv_add(&in, "message"), rargv_add(&in, value);
    if (stagefield_run_write(&sr, &in, &out) == 0) {
        bool has_stage2 = false;

        if (out.argc % 2 != 0)
            abort();
        for (i = 0; i + 1 < out.argc; i += 2)
            has_stage2 = has_stage2 || strcmp(out.argv[i], "stage.2") == 0;
        if (!has_stage2)
            abort();
        stagefield_run_written(&sr);
    }
    rargv_free(&in);
    rargv_free(&out);
    free(value);
    return 0;
}
