/* job: states, hash fields and status JSON. */
#include "job.h"

#include <assert.h>
#include <float.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "keys.h"
#include "num.h"
#include "stagefield.h"

static const char *const job_state_names[] = {"queued", "running",  "succeeded",
                                              "failed", "canceled", "scheduled"};
_Static_assert(sizeof(job_state_names) / sizeof(job_state_names[0]) == JOB_NSTATES,
               "a name for every state");

const char *job_state_name(enum job_state s)
{
    if ((unsigned)s >= sizeof(job_state_names) / sizeof(job_state_names[0]))
        return "unknown";
    return job_state_names[s];
}

int job_state_parse(const char *name, enum job_state *out)
{
    size_t i;

    for (i = 0; name != NULL && i < sizeof(job_state_names) / sizeof(job_state_names[0]); i++) {
        if (strcmp(name, job_state_names[i]) == 0) {
            *out = (enum job_state)i;
            return 0;
        }
    }
    return -1;
}

bool job_state_is_final(enum job_state s)
{
    return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELED;
}

const char *job_state_shown(const char *state, const char *run_at, int64_t now_ms)
{
    int64_t due;

    if (state == NULL || strcmp(state, "scheduled") != 0)
        return state;
    if (run_at != NULL && clock_parse_rfc3339(run_at, &due) == 0 && due > now_ms)
        return state;
    return job_state_name(JOB_QUEUED);
}

bool job_new_is_scheduled(const struct job_new *jn)
{
    return jn->due_ms > jn->now_ms;
}

long long job_new_ttl(const struct job_new *jn)
{
    long long wait_s = 0;

    if (job_new_is_scheduled(jn))
        wait_s = (jn->due_ms - jn->now_ms + 999) / 1000;
    return JOB_ACTIVE_TTL_S + wait_s;
}

long long job_ttl_for(enum job_state s, int result_ttl_s)
{
    if (!job_state_is_final(s))
        return JOB_ACTIVE_TTL_S;
    if (result_ttl_s < 1)
        result_ttl_s = 1;
    if (s == JOB_FAILED)
        return (long long)result_ttl_s * JOB_FAILED_TTL_FACTOR;
    return result_ttl_s;
}

double job_overall_progress(int stage, int stage_count, double progress)
{
    double v;

    if (stage_count <= 0 || stage <= 0)
        return 0.0;
    if (progress < 0.0 || progress != progress)
        progress = 0.0;
    if (progress > 1.0)
        progress = 1.0;
    v = ((double)(stage - 1) + progress) / (double)stage_count;
    return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}

int job_new_fields_state(struct rargv *out, const struct job_new *jn)
{
    char due[CLOCK_RFC3339_LEN];
    bool is_scheduled = job_new_is_scheduled(jn);

    /* no id: the key holds it (docs/redis-keys.md) */
    rargv_add(out, JOB_F_STATE);
    rargv_add(out, job_state_name(is_scheduled ? JOB_SCHEDULED : JOB_QUEUED));
    if (is_scheduled) {
        clock_format_rfc3339(jn->due_ms, due);
        rargv_add(out, JOB_F_RUN_AT), rargv_add(out, due);
    }
    rargv_add(out, JOB_F_INPUT), rargv_add(out, jn->input_json);
    return out->is_oom ? -1 : 0;
}

int job_new_fields_time(struct rargv *out, const struct job_new *jn)
{
    char ts[CLOCK_RFC3339_LEN];
    const char *now = jn->now_text;

    if (now == NULL) {
        clock_format_rfc3339(jn->now_ms, ts);
        now = ts;
    }
    rargv_add(out, JOB_F_CREATED_AT), rargv_add(out, now);
    rargv_add(out, JOB_F_UPDATED_AT), rargv_add(out, now);
    return out->is_oom ? -1 : 0;
}

int job_new_fields_own(struct rargv *out, const struct job_new *jn)
{
    job_new_fields_state(out, jn);
    return job_new_fields_time(out, jn);
}

int job_new_fields_shared(struct rargv *out, const struct job_new *jn)
{
    char field[64];
    bool is_routed = pipeline_is_routed(jn->pipeline);
    size_t k;

    rargv_add(out, JOB_F_PIPELINE), rargv_add(out, jn->pipeline->name);
    /* the queue it waits on: its first stage's */
    rargv_add(out, JOB_F_QUEUE), rargv_add(out, pipeline_stage_queue(jn->pipeline, 1, jn->queue));
    rargv_add(out, JOB_F_ATTEMPT), rargv_add(out, "0");
    rargv_add(out, JOB_F_MAX_ATTEMPTS), rargv_addll(out, jn->pipeline->max_attempts);
    rargv_add(out, JOB_F_STAGE), rargv_add(out, "0");
    rargv_add(out, JOB_F_STAGE_COUNT), rargv_addll(out, (long long)jn->pipeline->nstages);
    /* progress 0 and overall_progress are not stored (stages.lua) */
    rargv_add(out, JOB_F_RESULT_TTL), rargv_addll(out, jn->result_ttl_s);
    if (!jn->pipeline->is_resume) /* absent: resume */
        rargv_add(out, JOB_F_RESUME), rargv_add(out, "0");
    for (k = 0; k < jn->pipeline->nstages; k++) {
        keys_stage_field(field, sizeof(field), (int)k + 1, NULL);
        rargv_add(out, field), rargv_addf(out, "%s pending", jn->pipeline->stages[k].name);
        if (is_routed) { /* its stages move it between queues */
            keys_stage_field(field, sizeof(field), (int)k + 1, "queue");
            rargv_add(out, field);
            rargv_add(out, pipeline_stage_queue(jn->pipeline, k + 1, jn->queue));
        }
    }
    return out->is_oom ? -1 : 0;
}

int job_new_fields(struct rargv *out, const struct job_new *jn)
{
    job_new_fields_own(out, jn);
    return job_new_fields_shared(out, jn);
}

/* FNV-1a of a field name, for the view's index. */
static size_t hash_name(const char *s)
{
    uint32_t x = 2166136261u;

    while (*s != '\0')
        x = (x ^ (unsigned char)*s++) * 16777619u;
    return x;
}

int job_hash_view(const redisReply *reply, struct job_hash *h)
{
    const char **fv;
    size_t *lens, i, nslots = 8;
    uint32_t *slots = NULL;

    h->fv = NULL, h->lens = NULL, h->n = 0;
    h->slots = NULL, h->nslots = 0;
    h->id = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0)
        return -1;
    if (reply->elements == 0)
        return 0;
    while (nslots <= reply->elements) /* fields = elements / 2: load <= 1/2 */
        nslots *= 2;
    fv = malloc(reply->elements * sizeof(*fv));
    lens = malloc(reply->elements * sizeof(*lens));
    slots = reply->elements <= UINT32_MAX ? calloc(nslots, sizeof(*slots)) : NULL;
    if (fv == NULL || lens == NULL || slots == NULL)
        goto fail;
    for (i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e == NULL || e->type != REDIS_REPLY_STRING)
            goto fail;
        fv[i] = e->str;
        lens[i] = e->len;
    }
    /* the first of equal names wins, as in a scan */
    for (i = 0; i + 1 < reply->elements; i += 2) {
        size_t s = hash_name(fv[i]) & (nslots - 1);
        while (slots[s] != 0 && strcmp(fv[slots[s] - 1], fv[i]) != 0)
            s = (s + 1) & (nslots - 1);
        if (slots[s] == 0)
            slots[s] = (uint32_t)(i + 1);
    }
    h->fv = fv, h->lens = lens, h->n = reply->elements;
    h->slots = slots, h->nslots = nslots;
    return 0;
fail:
    free(fv);
    free(lens);
    free(slots);
    return -1;
}

void job_hash_view_free(struct job_hash *h)
{
    if (h == NULL)
        return;
    free((void *)h->fv);
    free((void *)h->lens);
    free((void *)h->slots);
    h->fv = NULL, h->lens = NULL, h->n = 0;
    h->slots = NULL, h->nslots = 0;
}

const char *job_hash_get(const struct job_hash *h, const char *name)
{
    size_t i;

    if (h->slots != NULL) {
        for (i = hash_name(name) & (h->nslots - 1); h->slots[i] != 0; i = (i + 1) & (h->nslots - 1))
            if (strcmp(h->fv[h->slots[i] - 1], name) == 0)
                return h->fv[h->slots[i]];
        return NULL;
    }
    for (i = 0; i + 1 < h->n; i += 2)
        if (strcmp(h->fv[i], name) == 0)
            return h->fv[i + 1];
    return NULL;
}

const char *job_hash_id(const struct job_hash *h)
{
    const char *v = job_hash_get(h, JOB_F_ID);

    return v != NULL ? v : h->id;
}

const char *job_finished_at(const struct job_hash *h, long long n)
{
    const char *v = job_hash_get(h, JOB_F_FINISHED_AT);
    enum job_state st;

    if (v != NULL || job_state_parse(job_hash_get(h, JOB_F_STATE), &st) < 0 ||
        !job_state_is_final(st) || !job_is_compact(h, n))
        return v;
    return job_hash_get(h, JOB_F_UPDATED_AT); /* the end is a job's last write */
}

bool job_is_compact(const struct job_hash *h, long long n)
{
    char field[24];
    long long k;

    if (job_hash_get(h, JOB_F_OVERALL) != NULL)
        return false;
    for (k = 1; k <= n && k <= PIPELINE_MAX_STAGES; k++) {
        keys_stage_field(field, sizeof(field), (int)k, NULL);
        if (job_hash_get(h, field) != NULL)
            return true;
    }
    return false;
}

double job_overall_of(const struct job_hash *h, long long n)
{
    char text[32];
    double p;
    int k;

    (void)num_field_int(job_hash_get(h, JOB_F_STAGE), 0, PIPELINE_MAX_STAGES, 0, &k);
    (void)num_field_double(job_hash_get(h, JOB_F_PROGRESS), 0.0, 1.0, job_progress_default(h), &p);
    /* to 4 places, as the worker wrote it */
    snprintf(text, sizeof(text), "%.4f",
             job_overall_progress(k, n > 0 && n <= PIPELINE_MAX_STAGES ? (int)n : 0, p));
    return strtod(text, NULL);
}

double job_progress_default(const struct job_hash *h)
{
    const char *st = job_hash_get(h, JOB_F_STATE);

    return st != NULL && strcmp(st, "succeeded") == 0 ? 1.0 : 0.0;
}

/* One row of job_numbers_read: field name into *out, in [min, max], else
 * def; counts a fallback in *nbad and names the first in *bad_field. */
static void job_number(const struct job_hash *h, const char *name, int min, int max, int def,
                       int *out, int *nbad, const char **bad_field)
{
    if (num_field_int(job_hash_get(h, name), min, max, def, out) == 0)
        return;
    if ((*nbad)++ == 0 && bad_field != NULL)
        *bad_field = name;
}

int job_numbers_read(const struct job_hash *h, const struct pipeline *pl, struct job_numbers *n,
                     const char **bad_field)
{
    int nbad = 0;

    if (bad_field != NULL)
        *bad_field = NULL;
    job_number(h, JOB_F_MAX_ATTEMPTS, 1, PIPELINE_MAX_ATTEMPTS, pl ? pl->max_attempts : 1,
               &n->max_attempts, &nbad, bad_field);
    job_number(h, JOB_F_ATTEMPT, 1, INT_MAX, n->max_attempts, &n->attempt, &nbad, bad_field);
    job_number(h, JOB_F_RESULT_TTL, 1, JOB_RESULT_TTL_MAX_S,
               pl ? pl->result_ttl_s : JOB_RESULT_TTL_DEFAULT_S, &n->result_ttl_s, &nbad,
               bad_field);
    job_number(h, JOB_F_STAGE_COUNT, 1, PIPELINE_MAX_STAGES, 0, &n->stage_count, &nbad, bad_field);
    job_number(h, JOB_F_STAGE, 1, pl ? (int)pl->nstages : PIPELINE_MAX_STAGES, 1, &n->stage, &nbad,
               bad_field);
    return nbad;
}

/* The status is written through one set of out_* calls into either of two
 * sinks: a cJSON tree (job_status_json_eta; SSE, compat and rerun use the
 * tree) or JSON text appended straight to a buffer (job_status_text; GET
 * /v1/jobs/{id}), so that both give the same answer byte for byte. The tree
 * is built for one print: its keys are constants (cJSON_AddItemToObjectCS),
 * its strings point into h, and the numbers we have as text (or can write
 * cheaply) are raw items, so that neither cJSON's copies nor its printf +
 * sscanf per number are paid. Every member name is a constant that needs no
 * escaping. */
#define STATUS_MAX_DEPTH 3 /* the status, its stages array, a stage */

struct status_out {
    struct json_buf *text; /* the text sink; NULL: the tree */
    int depth;             /* of the open container: 0 is the status */
    cJSON *node[STATUS_MAX_DEPTH];
    bool has_member[STATUS_MAX_DEPTH]; /* text: the open container has one already */
};

/* Adds item under name (NULL: an array element) in the tree; item may be
 * NULL (out of memory: the member is left out). */
static void out_tree_item(struct status_out *o, const char *name, cJSON *item)
{
    cJSON *parent = o->node[o->depth];

    if (item == NULL)
        return;
    if (parent == NULL || (name != NULL ? !cJSON_AddItemToObjectCS(parent, name, item)
                                        : !cJSON_AddItemToArray(parent, item)))
        cJSON_Delete(item);
}

/* Text: the separator and the member's name. */
static void out_key(struct status_out *o, const char *name)
{
    struct json_buf *b = o->text;
    size_t n;

    if (o->has_member[o->depth])
        json_buf_add(b, ",", 1);
    o->has_member[o->depth] = true;
    if (name == NULL)
        return;
    n = strlen(name);
    if (json_buf_reserve(b, n + 3) < 0)
        return;
    b->data[b->len++] = '"';
    memcpy(b->data + b->len, name, n);
    b->len += n;
    b->data[b->len++] = '"';
    b->data[b->len++] = ':';
    b->data[b->len] = '\0';
}

static void out_null(struct status_out *o, const char *name)
{
    if (o->text == NULL) {
        out_tree_item(o, name, cJSON_CreateNull());
        return;
    }
    out_key(o, name);
    json_buf_add(o->text, "null", 4);
}

/* name: the string v, borrowed by the tree (it points to it), or with
 * is_copy copied there (v lives shorter than the tree: a stage read from its
 * stage.<k> field). */
static void out_string(struct status_out *o, const char *name, const char *v, bool is_copy)
{
    if (o->text == NULL) {
        out_tree_item(o, name, is_copy ? cJSON_CreateString(v) : cJSON_CreateStringReference(v));
        return;
    }
    out_key(o, name);
    json_buf_add_string(o->text, v);
}

/* name: the string v (borrowed: the tree points to it). */
static void out_str(struct status_out *o, const char *name, const char *v)
{
    out_string(o, name, v, false);
}

/* name: the JSON text raw, as it is. */
static void out_raw(struct status_out *o, const char *name, const char *raw)
{
    if (o->text == NULL) {
        out_tree_item(o, name, cJSON_CreateRaw(raw));
        return;
    }
    out_key(o, name);
    json_buf_add(o->text, raw, strlen(raw));
}

/* name: the number d as json_create_number writes it. */
static void out_number(struct status_out *o, const char *name, double d)
{
    char text[JSON_NUMBER_TEXT_MAX];

    if (o->text == NULL)
        out_tree_item(o, name, json_create_number(d));
    else if (json_number_text(d, text) < 0)
        out_null(o, name);
    else
        out_raw(o, name, text);
}

/* name: the whole number k (a number item in the tree). */
static void out_int(struct status_out *o, const char *name, long long k)
{
    char text[NUM_LL_TEXT_MAX];

    if (o->text == NULL) {
        out_tree_item(o, name, cJSON_CreateNumber((double)k));
        return;
    }
    num_text_ll(k, text);
    out_raw(o, name, text);
}

/* name: the tree item (taken; NULL: out of memory, left out), printed in
 * the text. */
static void out_item(struct status_out *o, const char *name, cJSON *item)
{
    char *text;

    if (o->text == NULL || item == NULL) {
        out_tree_item(o, name, item);
        return;
    }
    text = json_print(item);
    cJSON_Delete(item);
    if (text == NULL) {
        o->text->is_oom = true;
        return;
    }
    out_raw(o, name, text);
    cJSON_free(text);
}

/* Opens an object (or an array) under name (NULL: an array element); 0, or
 * -1 when the tree's node could not be made (nothing opened). */
static int out_open(struct status_out *o, const char *name, bool is_array)
{
    cJSON *c;

    assert(o->depth + 1 < STATUS_MAX_DEPTH);
    if (o->text != NULL) {
        out_key(o, name);
        json_buf_add(o->text, is_array ? "[" : "{", 1);
        o->has_member[++o->depth] = false;
        return 0;
    }
    c = is_array ? cJSON_CreateArray() : cJSON_CreateObject();
    if (c == NULL)
        return -1;
    out_tree_item(o, name, c);
    o->node[++o->depth] = c;
    return 0;
}

static void out_close(struct status_out *o, bool is_array)
{
    if (o->text != NULL)
        json_buf_add(o->text, is_array ? "]" : "}", 1);
    o->depth--;
}

/* Adds name: string v, or null when v is missing (NULL) or empty. */
static void add_str_value(struct status_out *o, const char *name, const char *v)
{
    if (v != NULL && v[0] != '\0')
        out_str(o, name, v);
    else
        out_null(o, name);
}

/* Adds name: a string of stage s (add_str_value: null when missing or
 * empty), copied in the tree when s holds it. */
static void add_stage_str(struct status_out *o, const char *name, const char *v,
                          const struct stagefield *s)
{
    if (v == NULL || v[0] == '\0')
        out_null(o, name);
    else
        out_string(o, name, v, s->is_compact);
}

/* Adds name: the string value of field, or null when it is missing or empty. */
static void add_str(struct status_out *o, const struct job_hash *h, const char *field,
                    const char *name)
{
    add_str_value(o, name, job_hash_get(h, field));
}

#define JOB_JSON_MAX_DEPTH  1000 /* cJSON's own limit: deeper fails either way */
#define NUM_TEXT_MAX_DIGITS 15   /* what "%1.15g" keeps: such text is the value's */

/* Copies v into out[cap] when it is a JSON number in plain decimal form,
 * -?(0|[1-9][0-9]*)(\.[0-9]+)? (with is_int: no fraction, and not "-0"), of
 * at most NUM_TEXT_MAX_DIGITS digits once the fraction's trailing zeros are
 * dropped (with its point when none is left): "0.2500" -> "0.25", "1.0000" ->
 * "1", as cJSON prints that value (but for magnitudes below 1e-4, which it
 * writes with an exponent: the same number). 0, or -1 when v is not such a
 * number (out is then undefined). */
static int num_text(const char *v, bool is_int, char *out, size_t cap)
{
    size_t i = 0, o = 0, ndig = 0, point;

    if (strnlen(v, cap) >= cap) /* out holds no more than v */
        return -1;
    if (v[i] == '-')
        out[o++] = v[i++];
    if (v[i] < '0' || v[i] > '9' || (v[i] == '0' && v[i + 1] >= '0' && v[i + 1] <= '9') ||
        (is_int && i == 1 && v[i] == '0'))
        return -1;
    for (; v[i] >= '0' && v[i] <= '9'; i++, ndig++)
        out[o++] = v[i];
    if (v[i] == '.' && !is_int) {
        point = o;
        out[o++] = v[i++];
        if (v[i] < '0' || v[i] > '9')
            return -1;
        for (; v[i] >= '0' && v[i] <= '9'; i++, ndig++)
            out[o++] = v[i];
        while (out[o - 1] == '0')
            o--, ndig--;
        if (o - 1 == point)
            o--;
    }
    if (v[i] != '\0' || ndig > NUM_TEXT_MAX_DIGITS)
        return -1;
    out[o] = '\0';
    return 0;
}

static void add_int(struct status_out *o, const struct job_hash *h, const char *field)
{
    const char *v = job_hash_get(h, field);
    char text[NUM_TEXT_MAX_DIGITS + 8];
    long long n;

    if (v == NULL || v[0] == '\0') {
        out_null(o, field);
        return;
    }
    if (num_text(v, true, text, sizeof(text)) == 0) {
        out_raw(o, field, text);
        return;
    }
    /* garbage (a field edited by hand) is shown as the string it is */
    if (num_parse_ll(v, LLONG_MIN, LLONG_MAX, &n, NULL) < 0)
        out_str(o, field, v);
    else
        out_number(o, field, (double)n);
}

static void add_num(struct status_out *o, const struct job_hash *h, const char *field)
{
    const char *v = job_hash_get(h, field);
    char text[NUM_TEXT_MAX_DIGITS + 8];
    double d;

    if (v == NULL || v[0] == '\0') {
        out_null(o, field);
        return;
    }
    if (num_text(v, false, text, sizeof(text)) == 0) {
        out_raw(o, field, text);
        return;
    }
    if (num_parse_double(v, -DBL_MAX, DBL_MAX, &d, NULL) < 0) /* as add_int */
        out_str(o, field, v);
    else
        out_number(o, field, d);
}

/* Adds name: the JSON text v, null when missing (NULL) or null. Values were
 * written by stageq itself, so a parse failure is kept visible as a string.
 * Text that parses strictly is valid JSON as it stands and goes out raw, as
 * stored: never printed again, which would cut its numbers to 15 digits (null
 * stays an item: readers test for it). Text only cJSON's lenient parser
 * takes is printed from its tree, as before. True when v went out raw. */
static bool add_json_value(struct status_out *o, const char *name, const char *v)
{
    cJSON *item;
    bool is_null = true;

    if (v == NULL || v[0] == '\0') {
        out_null(o, name);
        return false;
    }
    /* the usual case checked without a tree; the rare rest parsed */
    if (json_is_strict(v, strlen(v), JOB_JSON_MAX_DEPTH, &is_null) && !is_null) {
        out_raw(o, name, v);
        return true;
    }
    item = json_parse_strict(v, strlen(v), JOB_JSON_MAX_DEPTH, NULL);
    if (item != NULL && !cJSON_IsNull(item)) {
        cJSON_Delete(item);
        out_raw(o, name, v);
        return true;
    }
    if (item == NULL && (item = cJSON_Parse(v)) == NULL)
        out_str(o, name, v);
    else
        out_item(o, name, item);
    return false;
}

static void add_json(struct status_out *o, const struct job_hash *h, const char *field,
                     const char *name)
{
    add_json_value(o, name, job_hash_get(h, field));
}

/* Milliseconds between two RFC 3339 times (to: now when NULL); -1 when one is
 * missing or malformed. */
static int64_t span_ms(const char *from, const char *to, int64_t now_ms)
{
    int64_t a, b = now_ms;

    if (clock_parse_rfc3339(from, &a) < 0)
        return -1;
    if (to != NULL && clock_parse_rfc3339(to, &b) < 0)
        return -1;
    return b >= a ? b - a : 0;
}

/* Adds name: ms as seconds (null when negative), written as "%1.15g" writes
 * ms / 1000.0: "2", "1.5", "0.002". */
static void add_seconds(struct status_out *o, const char *name, int64_t ms)
{
    char text[24], *p = text + sizeof(text) - 1;
    int64_t q = ms / 1000;
    int frac = (int)(ms % 1000), i;

    if (ms < 0) {
        out_null(o, name);
        return;
    }
    if (ms >= 1000000000000000LL) { /* more than 15 digits: let cJSON pick */
        out_number(o, name, (double)ms / 1000.0);
        return;
    }
    *p = '\0';
    if (frac != 0) {
        for (i = 0; i < 3; i++, frac /= 10)
            if (frac % 10 != 0 || p != text + sizeof(text) - 1)
                *--p = (char)('0' + frac % 10);
        *--p = '.';
    }
    do
        *--p = (char)('0' + q % 10);
    while ((q /= 10) > 0);
    out_raw(o, name, p);
}

/* The timing of stage k in s (started and finished: its times, or NULL):
 * duration once finished, elapsed while running, and the expected duration
 * from history. */
static void stage_timing(struct status_out *s, long long k, const char *state, const char *started,
                         const char *finished, const struct job_eta *eta, int64_t now_ms)
{
    if (finished != NULL && strcmp(state, "pending") != 0)
        add_seconds(s, "duration_s", span_ms(started, finished, now_ms));
    else if (strcmp(state, "running") == 0)
        add_seconds(s, "elapsed_s", span_ms(started, NULL, now_ms));
    add_seconds(s, "expected_s", eta != NULL ? eta->mean_ms[k] : -1);
}

/* The value of stage k's field what, or NULL. */
static const char *stage_get(const struct job_hash *h, long long k, const char *what)
{
    char field[64];

    keys_stage_field(field, sizeof(field), (int)k, what);
    return job_hash_get(h, field);
}

/* The stages array (base_ms: stagefield_base). *raw_output: the output of
 * the last stage when it went out raw (valid JSON as it stands), else NULL. */
static void add_stages(struct status_out *o, const struct job_hash *h, long long count,
                       int64_t base_ms, const struct job_eta *eta, int64_t now_ms,
                       const char **raw_output)
{
    struct stagefield st;
    long long k;

    *raw_output = NULL;
    if (out_open(o, "stages", true) < 0)
        return;
    for (k = 1; k <= count && k <= PIPELINE_MAX_STAGES; k++) {
        const char *state, *output, *queue;

        if (out_open(o, NULL, false) < 0)
            break;
        stagefield_get(h, k, base_ms, &st);
        add_stage_str(o, "name", st.name, &st);
        state = st.state != NULL ? st.state : "pending";
        out_string(o, "state", state, st.is_compact);
        if (st.started_at != NULL)
            add_stage_str(o, "started_at", st.started_at, &st);
        if (st.finished_at != NULL)
            add_stage_str(o, "finished_at", st.finished_at, &st);
        if ((queue = stage_get(h, k, "queue")) != NULL) /* the stages name queues */
            add_str_value(o, "queue", queue);
        *raw_output = NULL;
        output = stage_get(h, k, "output");
        if (output == NULL && k == count && st.is_compact) /* the result, not stored twice */
            output = job_hash_get(h, JOB_F_RESULT);
        if (output != NULL && add_json_value(o, "output", output))
            *raw_output = output;
        if (now_ms > 0)
            stage_timing(o, k, state, st.started_at, st.finished_at, eta, now_ms);
        out_close(o, false);
    }
    out_close(o, true);
}

void job_eta_from_hash(struct job_eta *eta, const struct job_hash *h)
{
    size_t i;
    int k;

    for (k = 0; k <= PIPELINE_MAX_STAGES; k++)
        eta->mean_ms[k] = -1;
    for (i = 0; h != NULL && i + 1 < h->n; i += 2) {
        long long kk, ms;

        if (num_parse_ll(h->fv[i], 1, PIPELINE_MAX_STAGES, &kk, NULL) < 0)
            continue; /* "<k>.n" and anything else */
        /* a mean edited by hand: no history for that stage */
        if (num_parse_ll(h->fv[i + 1], 0, INT64_MAX / 2, &ms, NULL) == 0)
            eta->mean_ms[kk] = ms;
    }
}

/* Seconds left in running stage k (elapsed e ms, progress p): the history's
 * mean minus e, blended with the rate of the progress so far as it grows
 * (p = 0: history only; p near 1: progress). -1 without history. */
static int64_t stage_left_ms(int64_t mean_ms, int64_t e, double p)
{
    double by_history, by_progress;

    if (mean_ms < 0)
        return -1;
    if (e < 0)
        e = 0;
    by_history = mean_ms > e ? (double)(mean_ms - e) : 0.0;
    if (!(p > 0.0))
        return (int64_t)by_history;
    if (p > 1.0)
        p = 1.0;
    by_progress = (double)e * (1.0 - p) / p;
    return (int64_t)(p * by_progress + (1.0 - p) * by_history);
}

/* The estimates of job_status_json_eta (base_ms: stagefield_base). */
static void add_eta(struct status_out *o, const struct job_hash *h, long long n, int64_t base_ms,
                    const struct job_eta *eta, int64_t now_ms)
{
    const char *st = job_hash_get(h, JOB_F_STATE);
    struct stagefield s;
    enum job_state state;
    int64_t stage_ms = -1, job_ms = 0;
    long long k = 0, j;
    double p;

    if (st == NULL || job_state_parse(st, &state) < 0 || n < 1 || n > PIPELINE_MAX_STAGES) {
        out_null(o, "stage_eta_s");
        out_null(o, "eta_s");
        return;
    }
    if (job_state_is_final(state)) {
        out_raw(o, "stage_eta_s", "0");
        out_raw(o, "eta_s", "0");
        return;
    }
    /* a running job's stage (-1: not one of its stages, edited by hand: no
     * estimate) and progress (0 when edited by hand: history only) */
    if (state == JOB_RUNNING)
        (void)num_field_ll(job_hash_get(h, JOB_F_STAGE), 1, n, -1, &k);
    if (k >= 1 && eta != NULL) {
        (void)num_field_double(job_hash_get(h, JOB_F_PROGRESS), 0.0, 1.0, 0.0, &p);
        stagefield_get(h, k, base_ms, &s);
        stage_ms = stage_left_ms(eta->mean_ms[k], span_ms(s.started_at, NULL, now_ms), p);
    }
    add_seconds(o, "stage_eta_s", stage_ms);
    if (eta == NULL || k < 0 || (k >= 1 && stage_ms < 0)) {
        out_null(o, "eta_s");
        return;
    }
    if (k >= 1)
        job_ms = stage_ms;
    /* the stages still to run: after k, or (queued) every one not succeeded
     * (a resumed job skips those) */
    for (j = k >= 1 ? k + 1 : 1; j <= n; j++) {
        if (k < 1 && stagefield_get(h, j, base_ms, &s) && s.state != NULL &&
            strcmp(s.state, "succeeded") == 0)
            continue;
        if (eta->mean_ms[j] < 0) {
            out_null(o, "eta_s");
            return;
        }
        job_ms += eta->mean_ms[j];
    }
    add_seconds(o, "eta_s", job_ms);
}

/* next_stage and next_stage_name: the stage a queued job waits for after
 * the stage before handed it over to the queue it sits on (hop.lua); null
 * otherwise. */
static void add_next_stage(struct status_out *o, const struct job_hash *h, long long n,
                           int64_t base_ms)
{
    const char *st = job_hash_get(h, JOB_F_STATE), *v = job_hash_get(h, JOB_F_NEXT_STAGE);
    struct stagefield s;
    long long k;

    if (st == NULL || strcmp(st, "queued") != 0 || v == NULL ||
        num_parse_ll(v, 1, n < PIPELINE_MAX_STAGES ? n : PIPELINE_MAX_STAGES, &k, NULL) < 0) {
        out_null(o, "next_stage");
        out_null(o, "next_stage_name");
        return;
    }
    out_int(o, "next_stage", k);
    stagefield_get(h, k, base_ms, &s);
    add_stage_str(o, "next_stage_name", s.name, &s);
}

/* stage_name: the field, or (the compact layout, which does not store it)
 * the name in the field of its stage. */
static void add_stage_name(struct status_out *o, const struct job_hash *h, bool is_compact,
                           int64_t base_ms)
{
    struct stagefield s;
    long long k;

    if (!is_compact || job_hash_get(h, JOB_F_STAGE_NAME) != NULL ||
        num_parse_ll(job_hash_get(h, JOB_F_STAGE), 1, PIPELINE_MAX_STAGES, &k, NULL) < 0 ||
        !stagefield_get(h, k, base_ms, &s)) {
        add_str(o, h, JOB_F_STAGE_NAME, "stage_name");
        return;
    }
    add_stage_str(o, "stage_name", s.name, &s);
}

/* overall_progress of a job of the compact layout, which does not store it:
 * (stage - 1 + progress) / stage_count of its fields, as the worker writes
 * it ("%.4f"), shown as add_num shows that text. */
static void add_overall(struct status_out *o, const struct job_hash *h, long long n)
{
    char text[32], num[NUM_TEXT_MAX_DIGITS + 8];

    snprintf(text, sizeof(text), "%.4f", job_overall_of(h, n));
    if (num_text(text, false, num, sizeof(num)) == 0)
        out_raw(o, JOB_F_OVERALL, num);
    else
        out_null(o, JOB_F_OVERALL);
}

/* The status of h into o (its root open: depth 0). */
static void status_write(struct status_out *o, const struct job_hash *h, const struct job_eta *eta,
                         int64_t now_ms)
{
    const char *count, *v, *raw_output = NULL;
    int64_t base_ms = stagefield_base(h);
    long long n = 0;
    bool is_compact;

    /* a count edited by hand: no stages listed (the field shows it as is);
     * add_stages lists PIPELINE_MAX_STAGES at most */
    count = job_hash_get(h, JOB_F_STAGE_COUNT);
    (void)num_field_ll(count, 0, LLONG_MAX, 0, &n);
    is_compact = job_is_compact(h, n);
    add_str_value(o, "id", job_hash_id(h));
    add_str(o, h, JOB_F_PIPELINE, "pipeline");
    add_str(o, h, JOB_F_QUEUE, "queue");
    add_str_value(
        o, "state",
        job_state_shown(job_hash_get(h, JOB_F_STATE), job_hash_get(h, JOB_F_RUN_AT), now_ms));
    add_int(o, h, JOB_F_ATTEMPT);
    add_int(o, h, JOB_F_MAX_ATTEMPTS);
    add_int(o, h, JOB_F_STAGE);
    add_stage_name(o, h, is_compact, base_ms);
    add_int(o, h, JOB_F_STAGE_COUNT);
    if (is_compact && job_hash_get(h, JOB_F_PROGRESS) == NULL) /* not stored: its default */
        out_raw(o, JOB_F_PROGRESS, job_progress_default(h) == 1.0 ? "1" : "0");
    else
        add_num(o, h, JOB_F_PROGRESS);
    add_str(o, h, JOB_F_MESSAGE, "message");
    if (is_compact)
        add_overall(o, h, n);
    else
        add_num(o, h, JOB_F_OVERALL);
    add_stages(o, h, n, base_ms, eta, now_ms, &raw_output);
    if (now_ms > 0)
        add_eta(o, h, n, base_ms, eta, now_ms);
    add_json(o, h, JOB_F_INPUT, "input");
    add_str(o, h, JOB_F_CREATED_AT, "created_at");
    add_str(o, h, JOB_F_STARTED_AT, "started_at");
    add_str(o, h, JOB_F_UPDATED_AT, "updated_at");
    add_str_value(o, "finished_at", job_finished_at(h, n));
    add_str(o, h, JOB_F_WORKER, "worker");
    add_int(o, h, JOB_F_RESULT_TTL);
    /* the result is the last stage's output (run.c): checked already */
    v = job_hash_get(h, JOB_F_RESULT);
    if (v != NULL && raw_output != NULL && strcmp(v, raw_output) == 0)
        out_raw(o, "result", v);
    else
        add_json_value(o, "result", v);
    add_json(o, h, JOB_F_ERROR, "error");
    add_json(o, h, JOB_F_ERRORS, "errors");
    add_str(o, h, JOB_F_NEXT_ATTEMPT_AT, "next_attempt_at");
    add_str(o, h, JOB_F_RUN_AT, "run_at");
    add_int(o, h, JOB_F_RESUMED_FROM);
    add_next_stage(o, h, n, base_ms);
}

cJSON *job_status_json_eta(const struct job_hash *h, const struct job_eta *eta, int64_t now_ms)
{
    struct status_out o = {0};

    if (h == NULL || h->n < 2)
        return NULL;
    o.node[0] = cJSON_CreateObject();
    if (o.node[0] == NULL)
        return NULL;
    status_write(&o, h, eta, now_ms);
    return o.node[0];
}

int job_status_text(const struct job_hash *h, const struct job_eta *eta, int64_t now_ms,
                    struct json_buf *out)
{
    struct status_out o = {0};

    if (h == NULL || h->n < 2)
        return -1;
    o.text = out;
    json_buf_add(out, "{", 1);
    status_write(&o, h, eta, now_ms);
    json_buf_add(out, "}", 1);
    return out->is_oom ? -1 : 0;
}
