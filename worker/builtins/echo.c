/* echo: output = input, with one progress report. For tests and benchmarks. */
#include "../stage_builtin.h"

int builtin_echo(const cJSON *in, struct stage_ctx *ctx, cJSON **out, struct stage_error *err)
{
    cJSON *copy;

    if (stage_progress(ctx, 1.0, NULL) < 0)
        return stage_error_stop(err);
    copy = in ? cJSON_Duplicate(in, 1) : cJSON_CreateNull();
    if (copy == NULL)
        return stage_error_set(err, "out_of_memory", true, "cannot copy the input");
    *out = copy;
    return 0;
}
