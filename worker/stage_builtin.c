/* stage_builtin: name → function table for builtin stages, and the progress
 * and error helpers they share. */
#include "stage_builtin.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    stage_builtin_fn fn;
} builtin_table[] = {
    {"echo", builtin_echo},
    {"demo.generate", builtin_demo_generate},
    {"demo.transform", builtin_demo_transform},
    {"demo.sort", builtin_demo_sort},
    {"demo.summarize", builtin_demo_summarize},
    {"blog.stage", builtin_blog_stage},
};

stage_builtin_fn stage_builtin_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(builtin_table) / sizeof(builtin_table[0]); i++)
        if (strcmp(builtin_table[i].name, name) == 0)
            return builtin_table[i].fn;
    return NULL;
}

int stage_progress(struct stage_ctx *ctx, double fraction, const char *message)
{
    if (ctx == NULL)
        return 0;
    if (!ctx->is_stop_requested && ctx->report != NULL &&
        ctx->report(ctx->arg, fraction, message) != 0)
        ctx->is_stop_requested = true;
    return ctx->is_stop_requested ? -1 : 0;
}

int stage_error_set(struct stage_error *err, const char *code, bool is_retryable, const char *fmt,
                    ...)
{
    va_list ap;

    snprintf(err->code, sizeof(err->code), "%s", code);
    err->is_retryable = is_retryable;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

int stage_error_stop(struct stage_error *err)
{
    return stage_error_set(err, "stopped", true, "the stage was asked to stop");
}
