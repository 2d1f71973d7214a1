/* stage: what every kind of stage shares: progress reports through the
 * stage context, and the stage error record. Builtins call these, and the
 * builtin table names the builtins: kept apart, neither file calls back. */
#include "stage_builtin.h"

#include <stdarg.h>
#include <stdio.h>

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
