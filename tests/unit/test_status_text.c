/* Unit tests for the job status JSON: the answers of GET /v1/jobs/{id} for a
 * wide set of hashes (finished, running, failed, canceled, scheduled, hopped,
 * hostile stage output, numbers at the edges, fields edited by hand) must stay
 * byte for byte what they were when tests/unit/status_golden.h was recorded
 * (STAGEQ_STATUS_RECORD=FILE writes it again: only when a change of the
 * answer is meant). Both ways of building it are checked: the cJSON tree
 * (job_status_json_eta, printed) and the text written straight
 * (job_status_text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job.h"
#include "json.h"

/* 2025-11-25T16:48:16.000Z in ms since the epoch */
#define T16 1764089296000LL

#define HUGE_LEN 300000 /* a stage output far above the 2 KiB first buffer */

struct golden {
    const char *name;
    size_t len;
    uint64_t fnv;     /* FNV-1a 64 of the text */
    const char *text; /* NULL when the text is longer than GOLDEN_TEXT_MAX */
};
#define GOLDEN_TEXT_MAX 4096

#include "status_golden.h"

/* One case: a hash (NULL-terminated field/value list), the pipeline's
 * history (NULL: none) and the time now; id: the key's (a hash of the
 * compact layout holds none), or NULL. */
struct status_case {
    const char *name;
    const char *const *fv;
    const struct job_eta *eta;
    int64_t now_ms;
    const char *id;
};

static char *huge_output;       /* {"blob":"xxx…"}: valid JSON, raw */
static char *huge_string;       /* a string with a control character every 1000 bytes */
static struct job_eta eta4;     /* 4 stages with history */
static struct job_eta eta_part; /* stage 3 without history */
static struct job_eta eta_big;  /* means of more than 15 digits of ms */

#define FV(...) ((const char *const[]){__VA_ARGS__, NULL})

#define FINISHED_BENCH4                                                                            \
    "id", "5b0c1d2e-0000-4000-8000-000000000001", "pipeline", "bench4", "queue", "default",        \
        "state", "succeeded", "attempt", "1", "max_attempts", "1", "input", "{\"n\":1}", "stage",  \
        "4", "stage_name", "s4", "stage_count", "4", "progress", "1", "message", "echo done",      \
        "overall_progress", "1", "created_at", "2025-11-25T16:48:14.123Z", "started_at",           \
        "2025-11-25T16:48:14.200Z", "updated_at", "2025-11-25T16:48:14.260Z", "finished_at",       \
        "2025-11-25T16:48:14.260Z", "worker", "host:4242", "result_ttl_s", "86400",                \
        "success_count", "1", "resume", "0", "stage.1.name", "s1", "stage.1.state", "succeeded",   \
        "stage.1.started_at", "2025-11-25T16:48:14.200Z", "stage.1.finished_at",                   \
        "2025-11-25T16:48:14.210Z", "stage.1.output", "{\"n\":1}", "stage.2.name", "s2",           \
        "stage.2.state", "succeeded", "stage.2.started_at", "2025-11-25T16:48:14.210Z",            \
        "stage.2.finished_at", "2025-11-25T16:48:14.230Z", "stage.2.output", "{\"n\":1}",          \
        "stage.3.name", "s3", "stage.3.state", "succeeded", "stage.3.started_at",                  \
        "2025-11-25T16:48:14.230Z", "stage.3.finished_at", "2025-11-25T16:48:14.245Z",             \
        "stage.3.output", "{\"n\":1}", "stage.4.name", "s4", "stage.4.state", "succeeded",         \
        "stage.4.started_at", "2025-11-25T16:48:14.245Z", "stage.4.finished_at",                   \
        "2025-11-25T16:48:14.260Z", "stage.4.output", "{\"n\":1}", "result", "{\"n\":1}"

#define RUNNING_DEMO                                                                               \
    "id", "j-run", "pipeline", "demo", "queue", "default", "state", "running", "attempt", "1",     \
        "max_attempts", "3", "input", "{\"size\":2000000}", "stage", "2", "stage_name",            \
        "transform", "stage_count", "4", "progress", "0.6", "message",                             \
        "transformed 1200000/2000000", "overall_progress", "0.4", "created_at",                    \
        "2025-11-25T16:48:10.000Z", "started_at", "2025-11-25T16:48:11.000Z", "updated_at",        \
        "2025-11-25T16:48:15.900Z", "worker", "host:4242", "result_ttl_s", "3600", "stage.1.name", \
        "generate", "stage.1.state", "succeeded", "stage.1.started_at",                            \
        "2025-11-25T16:48:11.000Z", "stage.1.finished_at", "2025-11-25T16:48:13.500Z",             \
        "stage.1.output", "{\"size\":2000000,\"sum\":1999999000000}", "stage.2.name", "transform", \
        "stage.2.state", "running", "stage.2.started_at", "2025-11-25T16:48:13.500Z",              \
        "stage.3.name", "sort", "stage.3.state", "pending", "stage.4.name", "summarize",           \
        "stage.4.state", "pending"

/* The same jobs in the compact layout (shared/stagefield.h: one field per
 * stage, times in ms after created_at, "=" at the end of the stage before;
 * no id, overall_progress, finished_at, progress 0 or 1 once succeeded,
 * empty fields, nor the last output beside the result): byte for byte the
 * same answers (test_compact_as_older). */
#define FINISHED_BENCH4_COMPACT                                                                    \
    "pipeline", "bench4", "queue", "default", "state", "succeeded", "attempt", "1",                \
        "max_attempts", "1", "input", "{\"n\":1}", "stage", "4", "stage_count", "4", "message",    \
        "echo done", "created_at", "2025-11-25T16:48:14.123Z", "started_at",                       \
        "2025-11-25T16:48:14.200Z", "updated_at", "2025-11-25T16:48:14.260Z", "worker",            \
        "host:4242", "result_ttl_s", "86400", "resume", "0", "stage.1", "s1 s 87",                 \
        "stage.1.output", "{\"n\":1}", "stage.2", "s2 s 107", "stage.2.output", "{\"n\":1}",       \
        "stage.3", "s3 s 122", "stage.3.output", "{\"n\":1}", "stage.4", "s4 s 137", "result",     \
        "{\"n\":1}"

#define RUNNING_DEMO_COMPACT                                                                       \
    "pipeline", "demo", "queue", "default", "state", "running", "attempt", "1", "max_attempts",    \
        "3", "input", "{\"size\":2000000}", "stage", "2", "stage_count", "4", "progress", "0.6",   \
        "message", "transformed 1200000/2000000", "created_at", "2025-11-25T16:48:10.000Z",        \
        "started_at", "2025-11-25T16:48:11.000Z", "updated_at", "2025-11-25T16:48:15.900Z",        \
        "worker", "host:4242", "result_ttl_s", "3600", "stage.1", "generate s 3500",               \
        "stage.1.output", "{\"size\":2000000,\"sum\":1999999000000}", "stage.2", "transform r",    \
        "stage.3", "sort p", "stage.4", "summarize p"

#define FAILED_OLDER                                                                               \
    "id", "f5", "pipeline", "train", "queue", "gpu", "state", "failed", "attempt", "3",            \
        "max_attempts", "3", "stage", "2", "stage_name", "train", "stage_count", "2", "progress",  \
        "0.9000", "message", "epoch 9/10", "overall_progress", "0.9500", "created_at",             \
        "2025-11-25T16:40:00.000Z", "started_at", "2025-11-25T16:40:01.000Z", "updated_at",        \
        "2025-11-25T16:48:00.000Z", "finished_at", "2025-11-25T16:48:00.000Z", "worker", "gpu1:7", \
        "result_ttl_s", "60", "next_attempt_at", "", "resumed_from_stage", "", "error",            \
        "{\"code\":\"exit_status\"}", "errors", "[{\"code\":\"exit_status\"}]", "resume", "1",     \
        "success_count", "0", "stage.1.name", "prepare", "stage.1.state", "succeeded",             \
        "stage.1.started_at", "2025-11-25T16:40:01.000Z", "stage.1.finished_at",                   \
        "2025-11-25T16:40:02.500Z", "stage.1.output", "{\"rows\":100}", "stage.2.name", "train",   \
        "stage.2.state", "failed", "stage.2.started_at", "2025-11-25T16:40:02.500Z",               \
        "stage.2.finished_at", "2025-11-25T16:48:00.000Z"
#define FAILED_COMPACT                                                                             \
    "pipeline", "train", "queue", "gpu", "state", "failed", "attempt", "3", "max_attempts", "3",   \
        "stage", "2", "stage_count", "2", "progress", "0.9000", "message", "epoch 9/10",           \
        "created_at", "2025-11-25T16:40:00.000Z", "started_at", "2025-11-25T16:40:01.000Z",        \
        "updated_at", "2025-11-25T16:48:00.000Z", "worker", "gpu1:7", "result_ttl_s", "60",        \
        "error", "{\"code\":\"exit_status\"}", "errors", "[{\"code\":\"exit_status\"}]",           \
        "stage.1", "prepare s 2500", "stage.1.output", "{\"rows\":100}", "stage.2",                \
        "train f 480000"

#define CANCELED_OLDER                                                                             \
    "id", "c5", "pipeline", "abc", "queue", "default", "state", "canceled", "attempt", "1",        \
        "max_attempts", "1", "stage", "2", "stage_name", "b", "stage_count", "3", "progress",      \
        "0.1000", "overall_progress", "0.3667", "message", "", "created_at",                       \
        "2025-11-25T16:48:09.000Z", "started_at", "2025-11-25T16:48:10.000Z", "updated_at",        \
        "2025-11-25T16:48:15.000Z", "finished_at", "2025-11-25T16:48:15.000Z", "worker", "w:1",    \
        "result_ttl_s", "86400", "stage.1.name", "a", "stage.1.state", "succeeded",                \
        "stage.1.started_at", "2025-11-25T16:48:10.000Z", "stage.1.finished_at",                   \
        "2025-11-25T16:48:12.000Z", "stage.1.output", "[]", "stage.2.name", "b", "stage.2.state",  \
        "canceled", "stage.2.started_at", "2025-11-25T16:48:12.000Z", "stage.2.finished_at",       \
        "2025-11-25T16:48:15.000Z", "stage.3.name", "c", "stage.3.state", "pending"
#define CANCELED_COMPACT                                                                           \
    "pipeline", "abc", "queue", "default", "state", "canceled", "attempt", "1", "max_attempts",    \
        "1", "stage", "2", "stage_count", "3", "progress", "0.1000", "created_at",                 \
        "2025-11-25T16:48:09.000Z", "started_at", "2025-11-25T16:48:10.000Z", "updated_at",        \
        "2025-11-25T16:48:15.000Z", "worker", "w:1", "result_ttl_s", "86400", "stage.1",           \
        "a s 3000", "stage.1.output", "[]", "stage.2", "b c 6000", "stage.3", "c p"

/* a retry waiting for its backoff, to resume at stage 2 (the stage before
 * it succeeded in attempt 1) */
#define RETRYING_OLDER                                                                             \
    "id", "q5", "pipeline", "abc", "queue", "default", "state", "queued", "attempt", "1",          \
        "max_attempts", "3", "stage", "0", "stage_name", "", "stage_count", "3", "progress",       \
        "0.0000", "overall_progress", "0.0000", "message", "", "created_at",                       \
        "2025-11-25T16:48:09.000Z", "started_at", "2025-11-25T16:48:10.000Z", "updated_at",        \
        "2025-11-25T16:48:13.000Z", "worker", "w:1", "result_ttl_s", "60", "next_attempt_at",      \
        "2025-11-25T16:48:20.000Z", "resumed_from_stage", "", "error", "{\"code\":\"timeout\"}",   \
        "errors", "[{\"code\":\"timeout\"}]", "stage.1.name", "a", "stage.1.state", "succeeded",   \
        "stage.1.started_at", "2025-11-25T16:48:10.000Z", "stage.1.finished_at",                   \
        "2025-11-25T16:48:12.000Z", "stage.1.output", "{}", "stage.2.name", "b", "stage.2.state",  \
        "pending", "stage.3.name", "c", "stage.3.state", "pending"
#define RETRYING_COMPACT                                                                           \
    "pipeline", "abc", "queue", "default", "state", "queued", "attempt", "1", "max_attempts", "3", \
        "stage", "0", "stage_count", "3", "created_at", "2025-11-25T16:48:09.000Z", "started_at",  \
        "2025-11-25T16:48:10.000Z", "updated_at", "2025-11-25T16:48:13.000Z", "worker", "w:1",     \
        "result_ttl_s", "60", "next_attempt_at", "2025-11-25T16:48:20.000Z", "error",              \
        "{\"code\":\"timeout\"}", "errors", "[{\"code\":\"timeout\"}]", "stage.1", "a s 3000",     \
        "stage.1.output", "{}", "stage.2", "b p", "stage.3", "c p"

/* resumed at stage 2 in attempt 2 (its start after stage 1's end), running */
#define RESUMED_OLDER                                                                              \
    "id", "r5", "pipeline", "abc", "queue", "default", "state", "running", "attempt", "2",         \
        "max_attempts", "3", "stage", "2", "stage_name", "b", "stage_count", "3", "progress",      \
        "0.2500", "overall_progress", "0.4167", "message", "", "created_at",                       \
        "2025-11-25T16:48:09.000Z", "started_at", "2025-11-25T16:48:10.000Z", "updated_at",        \
        "2025-11-25T16:48:15.500Z", "worker", "w:2", "result_ttl_s", "60", "next_attempt_at", "",  \
        "resumed_from_stage", "2", "stage.1.name", "a", "stage.1.state", "succeeded",              \
        "stage.1.started_at", "2025-11-25T16:48:10.000Z", "stage.1.finished_at",                   \
        "2025-11-25T16:48:12.000Z", "stage.1.output", "{}", "stage.2.name", "b", "stage.2.state",  \
        "running", "stage.2.started_at", "2025-11-25T16:48:15.000Z", "stage.3.name", "c",          \
        "stage.3.state", "pending"
#define RESUMED_COMPACT                                                                            \
    "pipeline", "abc", "queue", "default", "state", "running", "attempt", "2", "max_attempts",     \
        "3", "stage", "2", "stage_count", "3", "progress", "0.2500", "created_at",                 \
        "2025-11-25T16:48:09.000Z", "started_at", "2025-11-25T16:48:10.000Z", "updated_at",        \
        "2025-11-25T16:48:15.500Z", "worker", "w:2", "result_ttl_s", "60", "resumed_from_stage",   \
        "2", "stage.1", "a s 3000", "stage.1.output", "{}", "stage.2", "b r 6000", "stage.3",      \
        "c p"

/* handed over to the gpu queue for stage 2 (hop.lua) */
#define HOPPED_OLDER                                                                               \
    "id", "h5", "pipeline", "hop", "queue", "gpu", "state", "queued", "attempt", "1",              \
        "max_attempts", "1", "stage", "1", "stage_name", "cpu-prep", "stage_count", "3",           \
        "progress", "1.0000", "overall_progress", "0.3333", "message", "", "created_at",           \
        "2025-11-25T16:48:09.000Z", "started_at", "2025-11-25T16:48:10.000Z", "updated_at",        \
        "2025-11-25T16:48:11.000Z", "worker", "w:1", "result_ttl_s", "86400", "next_stage", "2",   \
        "hopped", "", "stage.1.name", "cpu-prep", "stage.1.state", "succeeded", "stage.1.queue",   \
        "default", "stage.1.started_at", "2025-11-25T16:48:10.000Z", "stage.1.finished_at",        \
        "2025-11-25T16:48:11.000Z", "stage.1.output", "{\"x\":1}", "stage.2.name", "gpu-train",    \
        "stage.2.state", "pending", "stage.2.queue", "gpu", "stage.3.name", "cpu-post",            \
        "stage.3.state", "pending", "stage.3.queue", "default"
#define HOPPED_COMPACT                                                                             \
    "pipeline", "hop", "queue", "gpu", "state", "queued", "attempt", "1", "max_attempts", "1",     \
        "stage", "1", "stage_count", "3", "progress", "1.0000", "created_at",                      \
        "2025-11-25T16:48:09.000Z", "started_at", "2025-11-25T16:48:10.000Z", "updated_at",        \
        "2025-11-25T16:48:11.000Z", "worker", "w:1", "result_ttl_s", "86400", "next_stage", "2",   \
        "stage.1", "cpu-prep s 2000", "stage.1.queue", "default", "stage.1.output", "{\"x\":1}",   \
        "stage.2", "gpu-train p", "stage.2.queue", "gpu", "stage.3", "cpu-post p",                 \
        "stage.3.queue", "default"

/* the cases' pairs: the older hash and the compact one of the same job */
static const struct {
    const char *name, *id;
    const char *const *older, *const *compact;
} same_jobs[] = {
    {"finished bench4", "5b0c1d2e-0000-4000-8000-000000000001", FV(FINISHED_BENCH4),
     FV(FINISHED_BENCH4_COMPACT)},
    {"running demo", "j-run", FV(RUNNING_DEMO), FV(RUNNING_DEMO_COMPACT)},
    {"failed", "f5", FV(FAILED_OLDER), FV(FAILED_COMPACT)},
    {"canceled", "c5", FV(CANCELED_OLDER), FV(CANCELED_COMPACT)},
    {"retrying", "q5", FV(RETRYING_OLDER), FV(RETRYING_COMPACT)},
    {"resumed", "r5", FV(RESUMED_OLDER), FV(RESUMED_COMPACT)},
    {"hopped", "h5", FV(HOPPED_OLDER), FV(HOPPED_COMPACT)},
};

/* The cases' hashes are compound literals of for_each_case: each case is
 * handed to visit while they live. */
typedef void case_fn(const struct status_case *c, size_t index, void *arg);
static case_fn *visit;
static void *visit_arg;
static size_t ncases;

static void add_case(const char *name, const char *const *fv, const struct job_eta *eta,
                     int64_t now_ms)
{
    struct status_case c = {name, fv, eta, now_ms, NULL};

    visit(&c, ncases++, visit_arg);
}

/* A hash of the compact layout, read from the key of job id. */
static void add_case_id(const char *name, const char *id, const char *const *fv,
                        const struct job_eta *eta, int64_t now_ms)
{
    struct status_case c = {name, fv, eta, now_ms, id};

    visit(&c, ncases++, visit_arg);
}

static void for_each_case(case_fn *fn, void *arg)
{
    static char big_fields[2 * (4 * 64 + 16) + 1][32];
    static const char *many[2 * (4 * 64 + 16) + 1];
    size_t i, n = 0;
    int k;

    visit = fn, visit_arg = arg, ncases = 0;
    huge_output = malloc(HUGE_LEN + 16);
    huge_string = malloc(HUGE_LEN + 1);
    assert_non_null(huge_output);
    assert_non_null(huge_string);
    memcpy(huge_output, "{\"blob\":\"", 9);
    memset(huge_output + 9, 'x', HUGE_LEN);
    memcpy(huge_output + 9 + HUGE_LEN, "\"}", 3);
    for (i = 0; i < HUGE_LEN; i++)
        huge_string[i] = (char)(i % 1000 == 999 ? 0x01 : (i % 7 == 0 ? '"' : 'a' + (char)(i % 26)));
    huge_string[HUGE_LEN] = '\0';
    for (k = 0; k <= PIPELINE_MAX_STAGES; k++) {
        eta4.mean_ms[k] = k >= 1 && k <= 4 ? 1000 * k + 7 : -1;
        eta_part.mean_ms[k] = k >= 1 && k <= 4 && k != 3 ? 2500 : -1;
        eta_big.mean_ms[k] = k >= 1 && k <= 4 ? 1234567890123456789LL : -1;
    }
    eta4.mean_ms[2] = 0;

    /* 64 stages, listed as a 64-stage pipeline */
    many[n++] = "id", many[n++] = "j64", many[n++] = "state", many[n++] = "succeeded";
    many[n++] = "stage_count", many[n++] = "64", many[n++] = "pipeline", many[n++] = "big";
    for (k = 1; k <= 64; k++) {
        snprintf(big_fields[n], sizeof(big_fields[n]), "stage.%d.name", k);
        many[n] = big_fields[n], n++;
        snprintf(big_fields[n], sizeof(big_fields[n]), "s%d", k);
        many[n] = big_fields[n], n++;
        snprintf(big_fields[n], sizeof(big_fields[n]), "stage.%d.state", k);
        many[n] = big_fields[n], n++;
        many[n++] = k % 3 == 0 ? "failed" : "succeeded";
    }
    many[n] = NULL;

    add_case("finished bench4", FV(FINISHED_BENCH4), NULL, T16);
    add_case("finished bench4, eta", FV(FINISHED_BENCH4), &eta4, T16);
    add_case("finished bench4, no now", FV(FINISHED_BENCH4), &eta4, 0);
    add_case("running demo", FV(RUNNING_DEMO), NULL, T16);
    add_case("running demo, eta", FV(RUNNING_DEMO), &eta4, T16);
    add_case("running demo, eta without stage 3", FV(RUNNING_DEMO), &eta_part, T16);
    add_case("running demo, huge means", FV(RUNNING_DEMO), &eta_big, T16);
    add_case("running demo, no now", FV(RUNNING_DEMO), &eta4, 0);
    add_case("running, garbage progress and stage",
             FV("id", "j", "pipeline", "demo", "state", "running", "stage", "9", "stage_count", "4",
                "progress", "lots", "stage.1.state", "running", "stage.1.started_at", "garbage"),
             &eta4, T16);
    add_case("running, progress over 1",
             FV("id", "j", "pipeline", "demo", "state", "running", "stage", "1", "stage_count", "2",
                "progress", "1.5", "stage.1.state", "running", "stage.1.started_at",
                "2025-11-25T16:48:15.000Z"),
             &eta4, T16);
    add_case("running, stage started in the future",
             FV("id", "j", "state", "running", "stage", "1", "stage_count", "1", "progress", "0.25",
                "stage.1.state", "running", "stage.1.started_at", "2025-11-25T16:49:00.000Z"),
             &eta4, T16);
    add_case("queued, fresh",
             FV("id", "q1", "pipeline", "demo", "queue", "default", "state", "queued", "attempt",
                "0", "max_attempts", "1", "input", "null", "stage", "0", "stage_count", "4",
                "progress", "0", "overall_progress", "0", "created_at", "2025-11-25T16:48:14.123Z",
                "updated_at", "2025-11-25T16:48:14.123Z", "result_ttl_s", "86400", "resume", "0",
                "stage.1.name", "generate", "stage.1.state", "pending", "stage.2.name", "transform",
                "stage.2.state", "pending", "stage.3.name", "sort", "stage.3.state", "pending",
                "stage.4.name", "summarize", "stage.4.state", "pending"),
             &eta4, T16);
    add_case("queued, resumed: succeeded stages skipped",
             FV("id", "q2", "state", "queued", "attempt", "1", "stage_count", "4",
                "resumed_from_stage", "3", "stage.1.state", "succeeded", "stage.2.state",
                "succeeded", "stage.3.state", "failed", "stage.4.state", "pending",
                "next_attempt_at", "2025-11-25T16:48:20.000Z"),
             &eta_part, T16);
    add_case("queued, retrying with history", FV("id", "q3", "state", "queued", "stage_count", "2"),
             &eta4, T16);
    add_case("failed with errors",
             FV("id", "f1", "pipeline", "train", "queue", "gpu", "state", "failed", "attempt", "3",
                "max_attempts", "3", "stage", "2", "stage_name", "train", "stage_count", "2",
                "progress", "0.9", "message", "epoch 9/10", "overall_progress", "0.95",
                "created_at", "2025-11-25T16:40:00.000Z", "started_at", "2025-11-25T16:40:01.000Z",
                "updated_at", "2025-11-25T16:48:00.000Z", "finished_at", "2025-11-25T16:48:00.000Z",
                "worker", "gpu1:7", "result_ttl_s", "60", "error",
                "{\"stage\":2,\"stage_name\":\"train\",\"kind\":\"exit\",\"message\":\"exit status "
                "1\",\"stderr_tail\":\"Traceback\\n  File \\\"x\\\"\\nValueError: \\u00e9\\t\"}",
                "errors",
                "[{\"attempt\":1,\"message\":\"timeout after 600 s\"},{\"attempt\":2,\"message\":"
                "\"signal 9\"},{\"attempt\":3,\"message\":\"exit status 1\"}]",
                "stage.1.name", "prepare", "stage.1.state", "succeeded", "stage.1.started_at",
                "2025-11-25T16:40:01.000Z", "stage.1.finished_at", "2025-11-25T16:40:02.500Z",
                "stage.1.output", "{\"rows\":100}", "stage.2.name", "train", "stage.2.state",
                "failed", "stage.2.started_at", "2025-11-25T16:40:02.500Z", "stage.2.finished_at",
                "2025-11-25T16:48:00.000Z"),
             &eta4, T16);
    add_case("failed, error not JSON",
             FV("id", "f2", "state", "failed", "error", "plain text, not JSON", "errors", "[1,",
                "result", "", "stage_count", "0"),
             NULL, T16);
    add_case("canceled while running",
             FV("id", "c1", "pipeline", "demo", "queue", "default", "state", "canceled", "attempt",
                "1", "max_attempts", "1", "stage", "2", "stage_count", "3", "progress", "0.1",
                "finished_at", "2025-11-25T16:48:15.000Z", "stage.1.name", "a", "stage.1.state",
                "succeeded", "stage.1.started_at", "2025-11-25T16:48:10.000Z",
                "stage.1.finished_at", "2025-11-25T16:48:12.000Z", "stage.1.output", "[]",
                "stage.2.name", "b", "stage.2.state", "canceled", "stage.2.started_at",
                "2025-11-25T16:48:12.000Z", "stage.2.finished_at", "2025-11-25T16:48:15.000Z",
                "stage.3.name", "c", "stage.3.state", "pending", "stage.3.finished_at", "bogus"),
             &eta4, T16);
    add_case("scheduled, due later",
             FV("id", "s1", "pipeline", "demo", "queue", "default", "state", "scheduled", "run_at",
                "2025-11-25T17:00:00.000Z", "attempt", "0", "stage_count", "1", "stage.1.name", "x",
                "stage.1.state", "pending"),
             &eta4, T16);
    add_case("scheduled, due already: shown queued",
             FV("id", "s2", "state", "scheduled", "run_at", "2025-11-25T16:00:00.000Z",
                "stage_count", "1"),
             &eta4, T16);
    add_case("scheduled, run_at garbage",
             FV("id", "s3", "state", "scheduled", "run_at", "soon", "stage_count", "1"), NULL, T16);
    add_case("hopped: queued for its next stage",
             FV("id", "h1", "pipeline", "hop", "queue", "gpu", "state", "queued", "attempt", "1",
                "stage", "1", "stage_count", "3", "next_stage", "2", "stage.1.name", "cpu-prep",
                "stage.1.state", "succeeded", "stage.1.queue", "default", "stage.1.output",
                "{\"x\":1}", "stage.2.name", "gpu-train", "stage.2.state", "pending",
                "stage.2.queue", "gpu", "stage.3.name", "cpu-post", "stage.3.state", "pending",
                "stage.3.queue", ""),
             &eta4, T16);
    add_case("hopped, next_stage out of range",
             FV("id", "h2", "state", "queued", "stage_count", "2", "next_stage", "3"), NULL, T16);
    add_case("next_stage while running",
             FV("id", "h3", "state", "running", "stage_count", "2", "next_stage", "2"), NULL, T16);
    add_case("next_stage without a name",
             FV("id", "h4", "state", "queued", "stage_count", "2", "next_stage", "2",
                "stage.2.name", ""),
             NULL, T16);
    add_case("hostile strings",
             FV("id", "id\"with\\quotes", "pipeline", "p\x01\x02\x1f\x7f", "queue", "q/slash",
                "state", "running", "stage_name", "tab\there\nnewline\rcr\bbs\fff", "message",
                "invalid utf-8: \xff\xfe \xc3( \xe2\x82 \xf0\x9f\x98\x80 \xed\xa0\x80 end",
                "worker", "\xc3\xa9\xe2\x82\xac", "stage_count", "1", "stage.1.name",
                "\x1b[31mred\x1b[0m", "stage.1.state", "weird\"state", "stage.1.started_at",
                "not a time", "stage.1.finished_at", "", "stage.1.queue", "\\"),
             &eta4, T16);
    add_case(
        "stage outputs: exact numbers, lenient JSON, garbage",
        FV("id", "o1", "state", "succeeded", "stage_count", "8", "stage.1.output",
           "{\"a\":9007199254740993,\"b\":0.30000000000000004,\"c\":1e400,\"d\":-0,\"e\":1E+2}",
           "stage.2.output", " {\"spaced\" : [ 1 , 2 ] } ", "stage.3.output", "01",
           "stage.4.output",
           "{\"ctl\":\"a\x01"
           "b\"}",
           "stage.5.output", "not json at all", "stage.6.output", "null", "stage.7.output", "",
           "stage.8.output", "\"\\u00e9\\ud83d\\ude00 \\\" \\/\"", "result",
           "\"\\u00e9\\ud83d\\ude00 \\\" \\/\""),
        NULL, T16);
    add_case("stage outputs: lenient numbers",
             FV("id", "o2", "state", "succeeded", "stage_count", "3", "stage.1.output", "[1.,2]",
                "stage.2.output", "{\"big\":123456789012345678901234567890}", "stage.3.output",
                "{\"x\":\"\xff\"}", "result", "{\"x\":\"\xff\"}", "input", "{\"n\":1e999}"),
             NULL, T16);
    add_case("result not the last output",
             FV("id", "o3", "state", "succeeded", "stage_count", "1", "stage.1.output", "[1]",
                "result", "[2]"),
             NULL, T16);
    add_case("result lenient, last output garbage",
             FV("id", "o4", "state", "succeeded", "stage_count", "1", "stage.1.output", "{",
                "result", "{"),
             NULL, T16);
    add_case("numbers at the edges",
             FV("id", "n1", "state", "running", "attempt", "007", "max_attempts",
                "9223372036854775807", "stage", "-0", "stage_count", "99999999999999999999",
                "progress", "0.25000", "overall_progress", "1.0000", "result_ttl_s", "-5",
                "resumed_from_stage", "123456789012345678"),
             NULL, T16);
    add_case("numbers at the edges 2",
             FV("id", "n2", "state", "queued", "attempt", " 1", "max_attempts", "1e3", "stage",
                "0x10", "stage_count", "-1", "progress", "1e-5", "overall_progress", "0.00001",
                "result_ttl_s", "1.5", "resumed_from_stage", ""),
             NULL, T16);
    add_case("numbers at the edges 3",
             FV("id", "n3", "state", "queued", "attempt", "-9223372036854775808", "max_attempts",
                "nan", "stage", "inf", "stage_count", "2", "progress", "-0.0", "overall_progress",
                "12345678901234567", "result_ttl_s", "1234567890123456"),
             NULL, T16);
    add_case("numbers at the edges 4",
             FV("id", "n4", "state", "queued", "progress", "1.7976931348623157e308",
                "overall_progress", "-1e-300", "attempt", "+1", "max_attempts", "", "stage", "00",
                "stage_count", "3"),
             NULL, T16);
    add_case("numbers at the edges 5",
             FV("id", "n5", "state", "queued", "progress", "0.1234567890123456", "overall_progress",
                "0.123456789012345", "attempt", "123456789012345", "max_attempts",
                "1234567890123456", "stage_count", "65"),
             NULL, T16);
    add_case("hand edits: state unknown, no id",
             FV("pipeline", "", "state", "bogus", "stage_count", "abc", "stage.1.state", "running"),
             &eta4, T16);
    add_case("hand edits: stage_count over the limit",
             FV("id", "e2", "state", "running", "stage", "1", "stage_count", "300", "stage.1.state",
                "running", "stage.1.started_at", "2025-11-25T16:48:15.000Z"),
             &eta4, T16);
    add_case("hand edits: only some stage fields",
             FV("id", "e3", "state", "succeeded", "stage_count", "3", "stage.2.name", "mid",
                "stage.2.finished_at", "2025-11-25T16:48:15.000Z", "stage.3.started_at",
                "2025-11-25T16:48:15.000Z", "stage.3.finished_at", "2025-11-25T16:48:14.000Z",
                "stage.3.state", "succeeded"),
             &eta4, T16);
    add_case("hand edits: duplicate fields (the first wins)",
             FV("id", "first", "id", "second", "state", "queued", "state", "running"), NULL, T16);
    add_case("minimal: one field", FV("state", "queued"), NULL, T16);
    add_case("state missing", FV("id", "x", "stage_count", "1"), &eta4, T16);
    add_case("huge output, result the same",
             FV("id", "big1", "state", "succeeded", "stage_count", "1", "stage.1.output",
                huge_output, "result", huge_output),
             NULL, T16);
    add_case("huge message with control characters",
             FV("id", "big2", "state", "running", "message", huge_string, "stage_count", "1",
                "stage.1.output", huge_string),
             NULL, T16);
    add_case("64 stages", many, &eta4, T16);
    add_case("durations: long, sub-second, equal",
             FV("id", "d1", "state", "succeeded", "stage_count", "3", "stage.1.state", "succeeded",
                "stage.1.started_at", "2020-01-01T00:00:00.000Z", "stage.1.finished_at",
                "2025-11-25T16:48:16.001Z", "stage.2.state", "succeeded", "stage.2.started_at",
                "2025-11-25T16:48:16.000Z", "stage.2.finished_at", "2025-11-25T16:48:16.010Z",
                "stage.3.state", "pending", "stage.3.started_at", "2025-11-25T16:48:16.000Z",
                "stage.3.finished_at", "2025-11-25T16:48:16.000Z"),
             &eta_big, T16);
    /* the compact layout (shared/stagefield.h) */
    for (i = 0; i < sizeof(same_jobs) / sizeof(same_jobs[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "compact: %s", same_jobs[i].name);
        add_case_id(name, same_jobs[i].id, same_jobs[i].compact, &eta4, T16);
    }
    add_case_id("compact: stage fields edited by hand", "e9",
                FV("state", "running", "stage", "2", "stage_count", "7", "created_at",
                   "2025-11-25T16:48:14.123Z", "stage.1", "x", "stage.2", "b r", "stage.3",
                   "c s 12 nope", "stage.4", "d f  -50", "stage.5", "e r 99999999999999999999",
                   "stage.6", "f g h i j", "stage.7", "g weird 5"),
                &eta4, T16);
    add_case_id("compact: created_at not a time: times after the epoch", "e10",
                FV("state", "succeeded", "stage_count", "1", "created_at", "yesterday",
                   "started_at", "2025-11-25T16:48:14.000Z", "stage.1", "only s 1764089295000",
                   "result", "1"),
                NULL, T16);
    add_case_id("compact: an older stage among compact ones", "e11",
                FV("state", "running", "stage", "2", "stage_count", "2", "progress", "0.5",
                   "created_at", "2025-11-25T16:48:14.123Z", "stage.1.name", "a", "stage.1.state",
                   "succeeded", "stage.1.finished_at", "2025-11-25T16:48:15.000Z", "stage.2",
                   "b r 877"),
                &eta4, T16);
    add_case_id("compact: garbage progress and stage", "e12",
                FV("state", "running", "stage", "nine", "stage_count", "2", "progress", "lots",
                   "stage.1", "a r"),
                &eta4, T16);
    free(huge_output);
    free(huge_string);
}

/* A view over c's hash. */
static void case_hash(const struct status_case *c, struct job_hash *h, size_t *lens)
{
    size_t n = 0;

    while (c->fv[n] != NULL) {
        lens[n] = strlen(c->fv[n]);
        n++;
    }
    h->fv = c->fv, h->lens = lens, h->n = n;
    h->slots = NULL, h->nslots = 0;
    h->id = c->id;
}

static uint64_t fnv64(const char *s, size_t len)
{
    uint64_t x = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < len; i++)
        x = (x ^ (unsigned char)s[i]) * 1099511628211ULL;
    return x;
}

/* The answer of today's tree: a new string (cJSON_free). */
static char *tree_text(const struct status_case *c)
{
    size_t lens[600];
    struct job_hash h;
    cJSON *o;
    char *text;

    case_hash(c, &h, lens);
    o = job_status_json_eta(&h, c->eta, c->now_ms);
    assert_non_null(o);
    text = json_print(o);
    cJSON_Delete(o);
    assert_non_null(text);
    return text;
}

static void write_c_string(FILE *f, const char *s, size_t len)
{
    size_t i, col = 0;

    fputs("\n         \"", f);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (col >= 80) {
            fputs("\"\n         \"", f);
            col = 0;
        }
        if (ch == '"' || ch == '\\')
            col += (size_t)fprintf(f, "\\%c", ch);
        else if (ch < 32 || ch >= 127 || ch == '?')
            col += (size_t)fprintf(f, "\\%03o", ch);
        else
            col += (size_t)fprintf(f, "%c", ch);
    }
    fputc('"', f);
}

static void record_case(const struct status_case *c, size_t i, void *arg)
{
    FILE *f = arg;
    char *t = tree_text(c);
    size_t len = strlen(t);

    (void)i;
    fprintf(f, "    {\"%s\", %zu, 0x%016llxULL,", c->name, len, (unsigned long long)fnv64(t, len));
    if (len <= GOLDEN_TEXT_MAX)
        write_c_string(f, t, len);
    else
        fputs(" NULL", f);
    fputs("},\n", f);
    cJSON_free(t);
}

/* STAGEQ_STATUS_RECORD=FILE: writes the golden answers of today's code. */
static int record(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fputs("/* status_golden.h: the answers of tests/unit/test_status_text.c's cases, recorded\n"
          " * with STAGEQ_STATUS_RECORD=tests/unit/status_golden.h; do not edit. */\n"
          "static const struct golden goldens[] = {\n",
          f);
    for_each_case(record_case, f);
    fputs("};\n", f);
    return fclose(f);
}

static void assert_golden(const struct golden *g, const char *what, const char *got, size_t len)
{
    if (len == g->len && fnv64(got, len) == g->fnv &&
        (g->text == NULL || memcmp(got, g->text, len) == 0))
        return;
    if (g->text != NULL)
        fail_msg("%s: %s\ngot      %.*s\nexpected %s", g->name, what, (int)len, got, g->text);
    fail_msg("%s: %s: %zu bytes (expected %zu), or another text", g->name, what, len, g->len);
}

#define NGOLDENS (sizeof(goldens) / sizeof(goldens[0]))

static void check_tree(const struct status_case *c, size_t i, void *arg)
{
    char *t;

    (void)arg;
    assert_true(i < NGOLDENS);
    assert_string_equal(c->name, goldens[i].name);
    t = tree_text(c);
    assert_golden(&goldens[i], "tree", t, strlen(t));
    cJSON_free(t);
}

static void test_tree_as_recorded(void **state)
{
    (void)state;
    for_each_case(check_tree, NULL);
    assert_int_equal(ncases, NGOLDENS);
}

static void check_text(const struct status_case *c, size_t i, void *arg)
{
    struct json_buf *b = arg;
    size_t lens[600];
    struct job_hash h;

    assert_true(i < NGOLDENS);
    case_hash(c, &h, lens);
    b->len = 0; /* the memory of the case before is reused, as the API does */
    assert_int_equal(job_status_text(&h, c->eta, c->now_ms, b), 0);
    assert_false(b->is_oom);
    assert_int_equal(strlen(b->data), b->len);
    assert_golden(&goldens[i], "text", b->data, b->len);
}

/* Written straight, the text is the tree's, byte for byte. */
static void test_text_as_recorded(void **state)
{
    struct json_buf b = {0};

    (void)state;
    for_each_case(check_text, &b);
    assert_int_equal(ncases, NGOLDENS);
    json_buf_free(&b);
    json_buf_free(&b); /* twice: harmless */
}

/* A job in the compact layout answers byte for byte what the same job in
 * the older layout answered, as a tree and as text, with and without now. */
static void test_compact_as_older(void **state)
{
    struct json_buf a = {0}, b = {0};
    size_t i, lens[600];
    int64_t nows[] = {T16, 0};
    int j;

    (void)state;
    for (i = 0; i < sizeof(same_jobs) / sizeof(same_jobs[0]); i++)
        for (j = 0; j < 2; j++) {
            struct status_case older = {same_jobs[i].name, same_jobs[i].older, &eta4, nows[j],
                                        NULL};
            struct status_case compact = {same_jobs[i].name, same_jobs[i].compact, &eta4, nows[j],
                                          same_jobs[i].id};
            struct job_hash h;
            char *ta = tree_text(&older), *tb = tree_text(&compact);

            if (strcmp(ta, tb) != 0)
                fail_msg("%s (tree)\nolder   %s\ncompact %s", older.name, ta, tb);
            cJSON_free(ta);
            cJSON_free(tb);
            a.len = b.len = 0;
            case_hash(&older, &h, lens);
            assert_int_equal(job_status_text(&h, &eta4, nows[j], &a), 0);
            case_hash(&compact, &h, lens);
            assert_int_equal(job_status_text(&h, &eta4, nows[j], &b), 0);
            if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
                fail_msg("%s (text)\nolder   %s\ncompact %s", older.name, a.data, b.data);
        }
    json_buf_free(&a);
    json_buf_free(&b);
}

/* An empty hash is no job: nothing is written. */
static void test_text_empty(void **state)
{
    struct json_buf b = {0};
    struct job_hash h = {NULL, NULL, 0, NULL, 0, NULL};

    (void)state;
    assert_int_equal(job_status_text(&h, NULL, T16, &b), -1);
    assert_int_equal(job_status_text(NULL, NULL, T16, &b), -1);
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    assert_false(b.is_oom);
}

/* Every byte of a string is escaped as cJSON prints it. */
static void test_text_escapes(void **state)
{
    struct json_buf b = {0};
    char all[256];
    cJSON *s;
    char *want;
    int c;

    (void)state;
    for (c = 1; c < 256; c++)
        all[c - 1] = (char)c;
    all[255] = '\0';
    json_buf_add_string(&b, all);
    s = cJSON_CreateStringReference(all);
    want = json_print(s);
    assert_string_equal(b.data, want);
    cJSON_free(want);
    cJSON_Delete(s);
    b.len = 0;
    json_buf_add_string(&b, "");
    assert_string_equal(b.data, "\"\"");
    json_buf_free(&b);
}

int main(void)
{
    const char *rec = getenv("STAGEQ_STATUS_RECORD");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_as_recorded), cmocka_unit_test(test_text_as_recorded),
        cmocka_unit_test(test_compact_as_older), cmocka_unit_test(test_text_empty),
        cmocka_unit_test(test_text_escapes),
    };

    if (rec != NULL && *rec != '\0') {
        return record(rec) == 0 ? 0 : 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
