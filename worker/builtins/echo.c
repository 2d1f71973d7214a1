/* echo: output = input, byte for byte (the stored text passed on as a raw
 * item: never parsed and printed again), with one progress report. For tests
 * and benchmarks. */
#include "../stage_builtin.h"

int builtin_echo(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                 struct stage_error *err)
{
    cJSON *copy;

    if (stage_progress(ctx, 1.0, NULL) < 0)
        return stage_error_stop(err);
    copy = cJSON_CreateRaw(in->text != NULL ? in->text : "null");
    if (copy == NULL)
        return stage_error_set(err, "out_of_memory", true, "cannot copy the input");
    *out = copy;
    return 0;
}
