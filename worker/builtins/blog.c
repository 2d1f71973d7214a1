/* blog: the stage of the "blog" pipeline (four of it), the job of the Flask
 * app that stageq grew out of (the blog's routes, POST /start_task, run it by
 * default). Stage k takes about BLOG_STAGE_MS, as the blog's
 * `await asyncio.sleep(1)`, and returns f"{input_data} -> processed by stage
 * {k}": the input's text when it is a string, else its JSON text as stored
 * (any JSON `data`, its numbers as sent). Reports progress and stops when
 * asked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../stage_builtin.h"
#include "clock.h"

#define BLOG_STAGE_MS 1000 /* the blog's asyncio.sleep(1) per stage */
#define BLOG_TICK_MS  50   /* progress reports (and stop checks) this often */

/* Waits BLOG_STAGE_MS, reporting progress; -1 when the stage must stop. */
static int blog_work(struct stage_ctx *ctx, int k)
{
    int64_t t0 = clock_mono_ms(), now;
    struct timespec ts = {0, BLOG_TICK_MS * 1000000L};
    char msg[48];

    snprintf(msg, sizeof(msg), "executing stage %d", k);
    while ((now = clock_mono_ms()) - t0 < BLOG_STAGE_MS) {
        if (stage_progress(ctx, (double)(now - t0) / BLOG_STAGE_MS, msg) < 0)
            return -1;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        ts.tv_nsec = BLOG_TICK_MS * 1000000L;
    }
    return stage_progress(ctx, 1.0, msg);
}

int builtin_blog_stage(const struct stage_input *in, struct stage_ctx *ctx, cJSON **out,
                       struct stage_error *err)
{
    static const char suffix_fmt[] = " -> processed by stage %d";
    const char *text = cJSON_IsString(in->json) ? in->json->valuestring : in->text;
    int k = ctx != NULL && ctx->stage_index > 0 ? ctx->stage_index : 1;
    char suffix[sizeof(suffix_fmt) + 16], *s;
    size_t tlen, slen;
    cJSON *o;

    if (text == NULL)
        text = "null";
    if (blog_work(ctx, k) < 0)
        return stage_error_stop(err);
    slen = (size_t)snprintf(suffix, sizeof(suffix), suffix_fmt, k);
    tlen = strlen(text);
    s = malloc(tlen + slen + 1);
    if (s == NULL)
        return stage_error_set(err, "out_of_memory", true, "cannot build the output");
    memcpy(s, text, tlen);
    memcpy(s + tlen, suffix, slen + 1);
    o = cJSON_CreateString(s);
    free(s);
    if (o == NULL)
        return stage_error_set(err, "out_of_memory", true, "cannot build the output");
    *out = o;
    return 0;
}
