/* stage_builtin: the registry of stages compiled into the worker, and the
 * context through which a running stage reports progress and learns that it
 * must stop. A builtin never touches Redis itself. */
#ifndef STAGEQ_STAGE_BUILTIN_H
#define STAGEQ_STAGE_BUILTIN_H

#include <cjson/cJSON.h>
#include <stdbool.h>

/* What a failed stage says about itself. */
struct stage_error {
    char code[48];     /* machine-readable, e.g. "invalid_input", "canceled" */
    char message[256]; /* for people */
    bool is_retryable; /* false: another attempt cannot help (bad input) */
};

struct stage_ctx {
    /* Called with the latest progress (0..1) and an optional message (may be
     * NULL). Returns non-zero to ask the stage to stop (canceled, lost lease,
     * shutdown). Set by the runner; NULL means "nobody listens". */
    int (*report)(void *arg, double fraction, const char *message);
    void *arg;
    bool is_stop_requested; /* sticky once report asked to stop */
    int stage_index;        /* which stage of its pipeline runs (1-based); 0: unknown */
};

/* Reports progress; returns 0 to go on, -1 when the stage must stop now (it
 * should then fail with stage_error_stop). Borrows message. */
int stage_progress(struct stage_ctx *ctx, double fraction, const char *message);

/* Fills err for a stage that stopped because it was asked to; returns -1. */
int stage_error_stop(struct stage_error *err);
/* Fills err (printf-style message); returns -1 so a builtin can `return` it. */
int stage_error_set(struct stage_error *err, const char *code, bool is_retryable, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* A builtin's input, both borrowed: the JSON text as stored (valid JSON: the
 * job's input or the previous stage's output) and that text parsed by
 * json_parse_exact, so its numbers are raw items holding their text (read
 * them with json_number; copied or printed, they stay as they were sent). */
struct stage_input {
    const char *text;
    const cJSON *json;
};

/* A builtin stage: reads `in` (borrowed), may report progress through ctx,
 * and on success returns 0 with *out a new tree the caller frees with
 * cJSON_Delete (the runner prints it: numbers it computes are made with
 * json_create_number, which keeps every digit; a raw item of in->text passes
 * the input on byte for byte); on failure returns -1 with err filled and *out
 * untouched. */
typedef int (*stage_builtin_fn)(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                                struct stage_error *err);

/* The function registered as name, or NULL. */
stage_builtin_fn stage_builtin_find(const char *name);

/* builtins/echo.c */
int builtin_echo(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                 struct stage_error *err);
/* builtins/demo.c: the four stages of the "demo" pipeline */
int builtin_demo_generate(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                          struct stage_error *err);
int builtin_demo_transform(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                           struct stage_error *err);
int builtin_demo_sort(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                      struct stage_error *err);
int builtin_demo_summarize(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                           struct stage_error *err);
/* builtins/blog.c: each stage of the "blog" pipeline (stage k, from
 * ctx->stage_index, appends " -> processed by stage k" to its input's text,
 * in about a second) */
int builtin_blog_stage(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                       struct stage_error *err);

#endif
