/* demo: the four builtin stages of the "demo" pipeline. Real, input-sized CPU
 * work: a data set of `size` pseudo-random values is described by (seed, size,
 * max_value) — the way real pipelines pass a reference to data kept elsewhere —
 * and each stage rebuilds it deterministically, checks it against the
 * checksum its predecessor reported, and adds its own facts to what it passes on.
 *   generate  → sum and checksum of the values
 *   transform → Collatz stopping times of every value, `rounds` of them per
 *               value (v, v + max_value, ...): the heavy stage, sized by input
 *   sort      → LSD radix sort: min, percentiles, max, distinct count
 *   summarize → a 10-bucket histogram and the final result */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../stage_builtin.h"
#include "json.h"

#define DEMO_SIZE_MAX          10000000LL
#define DEMO_SIZE_DEFAULT      100000LL
#define DEMO_MAX_VALUE_MAX     100000000LL
#define DEMO_MAX_VALUE_DEFAULT 1000000LL
#define DEMO_SEED_MAX          9007199254740991LL /* 2^53 - 1: exact in a JSON number */
#define DEMO_ROUNDS_MAX        1000LL
#define DEMO_ROUNDS_DEFAULT    8LL
#define DEMO_TICK_MAX          4096 /* items between progress reports at most */
#define DEMO_REPORTS           10   /* progress reports per pass over the data */

struct demo_set {
    long long size, seed, max_value, rounds;
    char checksum[17];
};

/* Reads integer member name of obj into *out: a whole number in [min, max];
 * def when the member is absent and def >= min. */
static int demo_int(const cJSON *obj, const char *name, long long min, long long max, long long def,
                    long long *out, struct stage_error *err)
{
    const cJSON *v = obj ? json_get(obj, name) : NULL;
    double d;

    if (v == NULL) {
        if (def < min)
            return stage_error_set(err, "invalid_input", false, "input.%s is required", name);
        *out = def;
        return 0;
    }
    if (json_number(v, &d) < 0)
        d = 0.5; /* refused below */
    if (!(d >= (double)min && d <= (double)max) || d != (double)(long long)d)
        return stage_error_set(err, "invalid_input", false,
                               "input.%s must be an integer in [%lld, %lld]", name, min, max);
    *out = (long long)d;
    return 0;
}

static uint64_t demo_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t demo_value(uint64_t *state, long long max_value)
{
    return (uint32_t)(1 + demo_next(state) % (uint64_t)max_value);
}

static uint64_t demo_mix(uint64_t h, uint32_t v)
{
    return (h ^ v) * 0x100000001b3ULL;
}

static void demo_hex(uint64_t h, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, h);
}

/* Reads the data-set description that every stage's input carries. */
static int demo_set_read(const cJSON *in, struct demo_set *ds, int need_checksum,
                         struct stage_error *err)
{
    const cJSON *c;

    if (in != NULL && !cJSON_IsObject(in) && !cJSON_IsNull(in))
        return stage_error_set(err, "invalid_input", false, "input must be an object or null");
    if (demo_int(in, "size", 1, DEMO_SIZE_MAX, need_checksum ? 0 : DEMO_SIZE_DEFAULT, &ds->size,
                 err) < 0 ||
        demo_int(in, "seed", 0, DEMO_SEED_MAX, need_checksum ? -1 : 1, &ds->seed, err) < 0 ||
        demo_int(in, "max_value", 2, DEMO_MAX_VALUE_MAX, need_checksum ? 0 : DEMO_MAX_VALUE_DEFAULT,
                 &ds->max_value, err) < 0 ||
        demo_int(in, "rounds", 1, DEMO_ROUNDS_MAX, DEMO_ROUNDS_DEFAULT, &ds->rounds, err) < 0)
        return -1;
    ds->checksum[0] = '\0';
    if (need_checksum) {
        c = json_get(in, "checksum");
        if (!cJSON_IsString(c) || strlen(c->valuestring) != 16)
            return stage_error_set(err, "invalid_input", false,
                                   "input.checksum must be 16 hex digits");
        memcpy(ds->checksum, c->valuestring, 17);
    }
    return 0;
}

/* Reports progress every size/DEMO_REPORTS items of a pass that covers
 * [from, to) of the stage; -1 when the stage must stop. */
static int demo_tick(struct stage_ctx *ctx, long long i, long long size, double from, double to,
                     const char *what)
{
    long long step = size / DEMO_REPORTS;

    /* Often enough that a cancel or a timeout is noticed quickly even for
     * large inputs: the runner coalesces the writes. */
    if (step > DEMO_TICK_MAX)
        step = DEMO_TICK_MAX;
    char msg[96];

    if (step == 0)
        step = 1;
    if (i % step != 0)
        return 0;
    snprintf(msg, sizeof(msg), "%s %lld/%lld", what, i, size);
    return stage_progress(ctx, from + (to - from) * (double)i / (double)size, msg);
}

static unsigned demo_collatz(uint64_t v)
{
    unsigned steps = 0;

    while (v != 1) {
        v = (v & 1) ? 3 * v + 1 : v >> 1;
        steps++;
    }
    return steps;
}

/* Adds name: d to o, written in the shortest form that reads back as d
 * (json_create_number; cJSON's own keeps 15 digits). */
static void demo_add(cJSON *o, const char *name, double d)
{
    cJSON *item = json_create_number(d);

    if (item != NULL && !cJSON_AddItemToObject(o, name, item))
        cJSON_Delete(item);
}

static cJSON *demo_out_base(const cJSON *in, const struct demo_set *ds, const char *checksum)
{
    cJSON *out = (in != NULL && cJSON_IsObject(in)) ? cJSON_Duplicate(in, 1) : cJSON_CreateObject();

    if (out == NULL)
        return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(out, "size");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "seed");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "max_value");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "checksum");
    cJSON_DeleteItemFromObjectCaseSensitive(out, "rounds");
    demo_add(out, "size", (double)ds->size);
    demo_add(out, "seed", (double)ds->seed);
    demo_add(out, "max_value", (double)ds->max_value);
    cJSON_AddStringToObject(out, "checksum", checksum);
    demo_add(out, "rounds", (double)ds->rounds);
    return out;
}

int builtin_demo_generate(const struct stage_input *input, struct stage_ctx *ctx, cJSON **out,
                          struct stage_error *err)
{
    const cJSON *in = input->json;
    struct demo_set ds;
    uint64_t state, h = 0xcbf29ce484222325ULL, sum = 0;
    long long i;
    char hex[17];
    cJSON *o;

    if (demo_set_read(in, &ds, 0, err) < 0)
        return -1;
    state = (uint64_t)ds.seed;
    for (i = 0; i < ds.size; i++) {
        uint32_t v;
        if (demo_tick(ctx, i, ds.size, 0.0, 1.0, "generated") < 0)
            return stage_error_stop(err);
        v = demo_value(&state, ds.max_value);
        sum += v;
        h = demo_mix(h, v);
    }
    demo_hex(h, hex);
    o = cJSON_CreateObject();
    if (o == NULL)
        return stage_error_set(err, "out_of_memory", true, "cannot build the output");
    demo_add(o, "size", (double)ds.size);
    demo_add(o, "seed", (double)ds.seed);
    demo_add(o, "max_value", (double)ds.max_value);
    demo_add(o, "rounds", (double)ds.rounds);
    demo_add(o, "sum", (double)sum);
    cJSON_AddStringToObject(o, "checksum", hex);
    *out = o;
    return 0;
}

/* Rebuilds the values into a new array (or only checks them when vals is
 * NULL) and verifies the checksum; -1 with err on mismatch or stop. */
static int demo_rebuild(const struct demo_set *ds, uint32_t *vals, struct stage_ctx *ctx,
                        double from, double to, struct stage_error *err)
{
    uint64_t state = (uint64_t)ds->seed, h = 0xcbf29ce484222325ULL;
    long long i;
    char hex[17];

    for (i = 0; i < ds->size; i++) {
        uint32_t v = demo_value(&state, ds->max_value);
        if (demo_tick(ctx, i, ds->size, from, to, "rebuilt") < 0)
            return stage_error_stop(err);
        h = demo_mix(h, v);
        if (vals != NULL)
            vals[i] = v;
    }
    demo_hex(h, hex);
    if (strcmp(hex, ds->checksum) != 0)
        return stage_error_set(err, "corrupt_input", false,
                               "data set checksum %s does not match input.checksum %s", hex,
                               ds->checksum);
    return 0;
}

int builtin_demo_transform(const struct stage_input *input, struct stage_ctx *ctx, cJSON **out,
                           struct stage_error *err)
{
    const cJSON *in = input->json;
    struct demo_set ds;
    uint64_t state, h = 0xcbf29ce484222325ULL, total = 0;
    unsigned max_steps = 0, max_value_at = 0;
    long long i, r;
    char hex[17];
    cJSON *o;

    if (demo_set_read(in, &ds, 1, err) < 0)
        return -1;
    state = (uint64_t)ds.seed;
    for (i = 0; i < ds.size; i++) {
        uint32_t v;
        unsigned s;
        if (demo_tick(ctx, i, ds.size, 0.0, 1.0, "transformed") < 0)
            return stage_error_stop(err);
        v = demo_value(&state, ds.max_value);
        h = demo_mix(h, v);
        s = demo_collatz(v);
        total += s;
        for (r = 1; r < ds.rounds; r++)
            total += demo_collatz((uint64_t)v + (uint64_t)r * (uint64_t)ds.max_value);
        if (s > max_steps || (s == max_steps && v < max_value_at))
            max_steps = s, max_value_at = v;
    }
    demo_hex(h, hex);
    if (strcmp(hex, ds.checksum) != 0)
        return stage_error_set(err, "corrupt_input", false,
                               "data set checksum %s does not match input.checksum %s", hex,
                               ds.checksum);
    o = demo_out_base(in, &ds, hex);
    if (o == NULL)
        return stage_error_set(err, "out_of_memory", true, "cannot build the output");
    demo_add(o, "total_steps", (double)total);
    demo_add(o, "max_steps", max_steps);
    demo_add(o, "max_steps_value", max_value_at);
    *out = o;
    return 0;
}

/* LSD radix sort of n 32-bit values, 8 bits a pass; tmp has room for n. */
static int demo_radix(uint32_t *a, uint32_t *tmp, long long n, struct stage_ctx *ctx)
{
    int pass;

    for (pass = 0; pass < 4; pass++) {
        long long count[257] = {0}, i;
        int shift = pass * 8;
        uint32_t *t;

        for (i = 0; i < n; i++)
            count[((a[i] >> shift) & 0xff) + 1]++;
        for (i = 1; i < 257; i++)
            count[i] += count[i - 1];
        for (i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & 0xff]++] = a[i];
        t = a, a = tmp, tmp = t;
        if (stage_progress(ctx, 0.5 + 0.5 * (pass + 1) / 4.0, "sorting") < 0)
            return -1;
    }
    return 0; /* four swaps: the sorted data is back in the caller's array */
}

static uint32_t demo_pct(const uint32_t *sorted, long long n, double p)
{
    return sorted[(long long)((double)(n - 1) * p)];
}

int builtin_demo_sort(const struct stage_input *input, struct stage_ctx *ctx, cJSON **out,
                      struct stage_error *err)
{
    const cJSON *in = input->json;
    struct demo_set ds;
    uint32_t *vals = NULL, *tmp = NULL;
    long long i, distinct = 0;
    cJSON *o;
    int rc = -1;

    if (demo_set_read(in, &ds, 1, err) < 0)
        return -1;
    vals = malloc((size_t)ds.size * sizeof(*vals));
    tmp = malloc((size_t)ds.size * sizeof(*tmp));
    if (vals == NULL || tmp == NULL) {
        stage_error_set(err, "out_of_memory", true, "cannot allocate %lld values", ds.size);
        goto done;
    }
    if (demo_rebuild(&ds, vals, ctx, 0.0, 0.5, err) < 0)
        goto done;
    if (demo_radix(vals, tmp, ds.size, ctx) < 0) {
        stage_error_stop(err);
        goto done;
    }
    for (i = 0; i < ds.size; i++)
        if (i == 0 || vals[i] != vals[i - 1])
            distinct++;
    o = demo_out_base(in, &ds, ds.checksum);
    if (o == NULL) {
        stage_error_set(err, "out_of_memory", true, "cannot build the output");
        goto done;
    }
    demo_add(o, "min", vals[0]);
    demo_add(o, "median", demo_pct(vals, ds.size, 0.5));
    demo_add(o, "p90", demo_pct(vals, ds.size, 0.9));
    demo_add(o, "p99", demo_pct(vals, ds.size, 0.99));
    demo_add(o, "max", vals[ds.size - 1]);
    demo_add(o, "distinct", (double)distinct);
    *out = o;
    rc = 0;
done:
    free(vals);
    free(tmp);
    return rc;
}

static double demo_num(const cJSON *in, const char *name)
{
    const cJSON *v = json_get(in, name);

    double d;

    return json_number(v, &d) == 0 ? d : -1.0;
}

int builtin_demo_summarize(const struct stage_input *input, struct stage_ctx *ctx, cJSON **out,
                           struct stage_error *err)
{
    const cJSON *in = input->json;
    static const char *const carried[] = {"sum", "total_steps", "max_steps", "max_steps_value",
                                          "min", "median",      "p90",       "p99",
                                          "max", "distinct"};
    struct demo_set ds;
    long long hist[10] = {0}, i, lo, hi;
    uint64_t state;
    size_t k;
    cJSON *o, *arr;

    if (demo_set_read(in, &ds, 1, err) < 0)
        return -1;
    for (k = 0; k < sizeof(carried) / sizeof(carried[0]); k++)
        if (demo_num(in, carried[k]) < 0)
            return stage_error_set(err, "invalid_input", false, "input.%s is missing", carried[k]);
    lo = (long long)demo_num(in, "min");
    hi = (long long)demo_num(in, "max");
    if (lo < 1 || hi < lo)
        return stage_error_set(err, "invalid_input", false, "input.min/max are inconsistent");
    if (demo_rebuild(&ds, NULL, ctx, 0.0, 0.5, err) < 0)
        return -1;
    state = (uint64_t)ds.seed;
    for (i = 0; i < ds.size; i++) {
        long long v = demo_value(&state, ds.max_value);
        if (demo_tick(ctx, i, ds.size, 0.5, 1.0, "binned") < 0)
            return stage_error_stop(err);
        if (v < lo || v > hi)
            return stage_error_set(err, "corrupt_input", false, "value %lld outside [min, max]", v);
        hist[(v - lo) * 10 / (hi - lo + 1)]++;
    }
    o = cJSON_CreateObject();
    if (o == NULL)
        return stage_error_set(err, "out_of_memory", true, "cannot build the output");
    demo_add(o, "size", (double)ds.size);
    demo_add(o, "seed", (double)ds.seed);
    demo_add(o, "max_value", (double)ds.max_value);
    demo_add(o, "mean", demo_num(in, "sum") / (double)ds.size);
    demo_add(o, "rounds", (double)ds.rounds);
    demo_add(o, "mean_steps", demo_num(in, "total_steps") / (double)ds.size / (double)ds.rounds);
    for (k = 2; k < sizeof(carried) / sizeof(carried[0]); k++)
        demo_add(o, carried[k], demo_num(in, carried[k]));
    arr = cJSON_AddArrayToObject(o, "histogram");
    for (k = 0; arr != NULL && k < 10; k++)
        cJSON_AddItemToArray(arr, json_create_number((double)hist[k]));
    cJSON_AddStringToObject(o, "checksum", ds.checksum);
    *out = o;
    return 0;
}
