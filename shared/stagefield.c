/* stagefield: the per-stage fields of a job hash (stagefield.h). */
#include "stagefield.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "keys.h"
#include "num.h"
#include "rargv.h"

int64_t stagefield_base(const struct job_hash *h)
{
    int64_t ms;

    if (clock_parse_rfc3339(job_hash_get(h, JOB_F_CREATED_AT), &ms) < 0)
        return 0;
    return ms;
}

/* The tokens of a stage.<k> value, as stages.lua's pattern
 * "^([^ ]*) ([^ ]*) ?([^ ]*) ?([^ ]*)$" splits it: false when it does not
 * match (no space, or more than three). Pointers into v, lengths in n. */
static bool stagefield_split(const char *v, size_t len, const char *tok[4], size_t n[4])
{
    const char *end = v + len, *p = v;
    int i;

    for (i = 0; i < 4; i++) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));

        tok[i] = p;
        n[i] = (size_t)((sp != NULL ? sp : end) - p);
        if (sp == NULL) {
            for (i++; i < 4; i++)
                tok[i] = end, n[i] = 0;
            return tok[1] != end || n[0] < len; /* at least "name state" */
        }
        p = sp + 1;
    }
    return false; /* a fourth space */
}

/* The states' letters (stages.lua's STAGE_WORD): another word is itself. */
static const char *const stagefield_words[][2] = {
    {"p", "pending"}, {"r", "running"}, {"s", "succeeded"}, {"f", "failed"}, {"c", "canceled"},
};
#define STAGEFIELD_NWORDS (sizeof(stagefield_words) / sizeof(stagefield_words[0]))

/* The word of state token t (n bytes): a static string for a letter, else
 * NULL (the token is the word). */
static const char *stagefield_word(const char *t, size_t n)
{
    size_t i;

    for (i = 0; n == 1 && i < STAGEFIELD_NWORDS; i++)
        if (t[0] == stagefield_words[i][0][0])
            return stagefield_words[i][1];
    return NULL;
}

/* The letter of state word w, or w itself. */
static const char *stagefield_letter(const char *w)
{
    size_t i;

    for (i = 0; i < STAGEFIELD_NWORDS; i++)
        if (strcmp(w, stagefield_words[i][1]) == 0)
            return stagefield_words[i][0];
    return w;
}

/* The tokens of a stage.<k> value as stages.lua's stage_parse reads them:
 * tok[0] the name, tok[1] the state (*word its word when a letter), tok[2]
 * the start ("=" when not given: at the end of the stage before), tok[3] the
 * end; a time token empty or "-" is unknown. False when the value is not
 * "name state ..." (a name alone). */
static bool stagefield_tokens(const char *v, size_t len, const char *tok[4], size_t n[4],
                              const char **word)
{
    bool is_running;

    if (!stagefield_split(v, len, tok, n))
        return false;
    *word = stagefield_word(tok[1], n[1]);
    is_running = *word != NULL ? strcmp(*word, "running") == 0
                               : n[1] == 7 && memcmp(tok[1], "running", 7) == 0;
    if (n[3] > 0) /* start and end */
        return true;
    if (is_running) { /* one time: its start; none: "=" */
        if (n[2] == 0)
            tok[2] = "=", n[2] = 1;
        return true;
    }
    if (n[2] > 0) { /* one time: its end, the start "=" */
        tok[3] = tok[2], n[3] = n[2];
        tok[2] = "=", n[2] = 1;
    }
    return true;
}

#define STAGEFIELD_MS_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z: RFC 3339's last */

/* A time token at t (n bytes) as an offset from base into out, the pointer
 * to it; NULL when it is not one (empty, "-", "=", more digits than a time
 * has, a time before 1970 or after 9999 (edited by hand), anything else). */
static const char *stagefield_time(const char *t, size_t n, int64_t base_ms,
                                   char out[CLOCK_RFC3339_LEN])
{
    int64_t off = 0, ms;
    size_t i = n > 0 && t[0] == '-' ? 1 : 0;
    bool is_neg = i == 1;

    if (i == n || n - i > 15)
        return NULL;
    for (; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return NULL;
        off = off * 10 + (t[i] - '0');
    }
    ms = base_ms + (is_neg ? -off : off);
    if (ms < 0 || ms > STAGEFIELD_MS_MAX)
        return NULL;
    clock_format_rfc3339(ms, out);
    return out;
}

/* Copies n bytes of t, cut to fit cap with its NUL, into out. */
static void stagefield_copy(char *out, size_t cap, const char *t, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(out, t, n);
    out[n] = '\0';
}

void stagefield_parse(const char *v, size_t len, int64_t base_ms, struct stagefield *s)
{
    const char *tok[4], *word;
    size_t n[4], half = sizeof(s->text) / 2;

    memset(s, 0, sizeof(*s));
    s->is_compact = true;
    s->name = s->text;
    if (!stagefield_tokens(v, len, tok, n, &word)) { /* edited by hand: a name alone, pending */
        stagefield_copy(s->text, half, v, len);
        return;
    }
    stagefield_copy(s->text, half, tok[0], n[0]);
    stagefield_copy(s->text + half, half, word != NULL ? word : tok[1],
                    word != NULL ? strlen(word) : n[1]);
    s->state = s->text + half;
    s->is_started_implicit = n[2] == 1 && tok[2][0] == '=';
    s->started_at = stagefield_time(tok[2], n[2], base_ms, s->started);
    s->finished_at = stagefield_time(tok[3], n[3], base_ms, s->finished);
}

/* Reads stage k of h into s, its start not resolved. */
static bool stagefield_read(const struct job_hash *h, long long k, int64_t base_ms,
                            struct stagefield *s)
{
    char field[64];
    const char *v;

    keys_stage_field(field, sizeof(field), (int)k, NULL);
    if ((v = job_hash_get(h, field)) != NULL) {
        stagefield_parse(v, strlen(v), base_ms, s);
        return true;
    }
    memset(s, 0, sizeof(*s));
    keys_stage_field(field, sizeof(field), (int)k, "name");
    s->name = job_hash_get(h, field);
    keys_stage_field(field, sizeof(field), (int)k, "state");
    s->state = job_hash_get(h, field);
    keys_stage_field(field, sizeof(field), (int)k, "started_at");
    s->started_at = job_hash_get(h, field);
    keys_stage_field(field, sizeof(field), (int)k, "finished_at");
    s->finished_at = job_hash_get(h, field);
    return s->name != NULL || s->state != NULL || s->started_at != NULL || s->finished_at != NULL;
}

bool stagefield_get(const struct job_hash *h, long long k, int64_t base_ms, struct stagefield *s)
{
    struct stagefield before;
    const char *t = NULL;

    if (!stagefield_read(h, k, base_ms, s))
        return false;
    if (!s->is_started_implicit)
        return true;
    /* at the end of the stage before (its own start is not needed), or the job's start */
    if (k == 1)
        t = job_hash_get(h, JOB_F_STARTED_AT);
    else if (stagefield_read(h, k - 1, base_ms, &before))
        t = before.finished_at;
    if (t != NULL) {
        stagefield_copy(s->started, sizeof(s->started), t, strlen(t));
        s->started_at = s->started;
    }
    return true;
}

/* ---- a worker's writes ---- */

void stagefield_run_init(struct stagefield_run *sr, const struct job_hash *h,
                         const struct pipeline *pl)
{
    char field[24];
    const char *v, *tok[4], *word;
    size_t n[4];
    int k;

    memset(sr, 0, sizeof(*sr));
    sr->base_ms = stagefield_base(h);
    sr->pl = pl;
    if (num_field_int(job_hash_get(h, JOB_F_STAGE), 1, PIPELINE_MAX_STAGES, 0, &k) < 0 || k < 1)
        return;
    keys_stage_field(field, sizeof(field), k, NULL);
    if ((v = job_hash_get(h, field)) == NULL || !stagefield_tokens(v, strlen(v), tok, n, &word))
        return;
    stagefield_copy(sr->st[k].state, sizeof(sr->st[k].state), word != NULL ? word : tok[1],
                    word != NULL ? strlen(word) : n[1]);
    stagefield_copy(sr->st[k].t0, sizeof(sr->st[k].t0), tok[2], n[2]);
    stagefield_copy(sr->st[k].t1, sizeof(sr->st[k].t1), tok[3], n[3]);
    /* a reservation's start is not the one its begin wrote later: that one
     * is kept (unless it is "=": the same either way) */
    sr->st[k].is_t0_known = job_hash_get(h, "reserved") == NULL || strcmp(sr->st[k].t0, "=") == 0;
}

/* The fields a write of '' removes (progress: of its default). */
enum stagefield_empty {
    SF_PROGRESS,
    SF_MESSAGE,
    SF_NEXT_ATTEMPT_AT,
    SF_RESUMED_FROM,
    SF_NEXT_STAGE,
    SF_HOPPED,
    SF_NEMPTY
};
static const char *const stagefield_empty_names[SF_NEMPTY] = {
    JOB_F_PROGRESS,     JOB_F_MESSAGE,    JOB_F_NEXT_ATTEMPT_AT,
    JOB_F_RESUMED_FROM, JOB_F_NEXT_STAGE, "hopped",
};

/* Stage k and what of a per-stage field name of the older layout
 * ("stage.<k>.<what>"), k in [1, n]; NULL when f is not one. */
static const char *stagefield_of(const char *f, int n, int *k)
{
    long v = 0;
    const char *p;

    if (strncmp(f, "stage.", 6) != 0)
        return NULL;
    for (p = f + 6; *p >= '0' && *p <= '9' && v <= PIPELINE_MAX_STAGES; p++)
        v = v * 10 + (*p - '0');
    if (p == f + 6 || *p != '.' || v < 1 || v > n)
        return NULL;
    *k = (int)v;
    return p + 1;
}

/* The time token of RFC 3339 time ts into out: its offset from base. */
static void stagefield_token(const char *ts, int64_t base_ms, char *out, size_t cap)
{
    int64_t ms;

    if (clock_parse_rfc3339(ts, &ms) < 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%lld", (long long)(ms - base_ms));
}

/* Stage k's value as this run knows it, written as stages.lua's stage_value
 * writes it: "<name> <letter>", then its end alone when it started at the
 * end of the stage before ("="), else its start and end ("-" unknown); a
 * running stage's start alone, none when "=". */
static int stagefield_value(const struct stagefield_run *sr, int k, struct rargv *out)
{
    const struct stagefield_mine *m = &sr->st[k];
    const char *name = sr->pl != NULL && k <= (int)sr->pl->nstages ? sr->pl->stages[k - 1].name
                                                                   : "-"; /* kept: '.keep' */
    const char *state = stagefield_letter(m->state[0] != '\0' ? m->state : "pending");
    const char *t0 = m->t0[0] != '\0' ? m->t0 : "-";
    bool is_implicit = strcmp(m->t0, "=") == 0;

    if (m->t1[0] != '\0' && is_implicit)
        return rargv_addf(out, "%s %s %s", name, state, m->t1);
    if (m->t1[0] != '\0')
        return rargv_addf(out, "%s %s %s %s", name, state, t0, m->t1);
    if (strcmp(m->state, "running") == 0)
        return is_implicit ? rargv_addf(out, "%s %s", name, state)
                           : rargv_addf(out, "%s %s %s", name, state, t0);
    if (m->t0[0] != '\0' && !is_implicit)
        return rargv_addf(out, "%s %s %s -", name, state, m->t0);
    return rargv_addf(out, "%s %s", name, state);
}

int stagefield_run_write(struct stagefield_run *sr, const struct rargv *in, struct rargv *out)
{
    /* without its pipeline (it failed to load), the stages are the job's */
    const int n = sr->pl != NULL ? (int)sr->pl->nstages : PIPELINE_MAX_STAGES;
    const char *state = NULL, *result = NULL, *empty[SF_NEMPTY] = {NULL};
    size_t result_len = 0, i, j;
    int order[PIPELINE_MAX_STAGES], norder = 0, k = 0;
    bool is_touched[PIPELINE_MAX_STAGES + 1] = {false}, is_oom;
    char del[256] = "", keep[256] = "";
    struct rargv pass;

    for (i = 0; i + 1 < in->argc; i += 2) {
        if (strcmp(in->argv[i], JOB_F_STATE) == 0)
            state = in->argv[i + 1];
        else if (strcmp(in->argv[i], JOB_F_RESULT) == 0)
            result = in->argv[i + 1], result_len = in->lens[i + 1];
    }
    rargv_init(&pass);
    for (i = 0; i + 1 < in->argc; i += 2) {
        const char *f = in->argv[i], *v = in->argv[i + 1], *what = stagefield_of(f, n, &k);
        struct stagefield_mine *m = what != NULL ? &sr->st[k] : NULL;

        /* a stage's field is none of the job fields below: most fields are */
        for (j = 0; m == NULL && j < SF_NEMPTY && strcmp(f, stagefield_empty_names[j]) != 0; j++)
            ;
        if (m == NULL && j < SF_NEMPTY) {
            empty[j] = v; /* the last one wins */
            continue;
        }
        if (m == NULL && (strcmp(f, JOB_F_OVERALL) == 0 || strcmp(f, JOB_F_FINISHED_AT) == 0 ||
                          strcmp(f, JOB_F_STAGE_NAME) == 0))
            continue; /* derived (a job's end is its updated_at, its stage's name in stage.<k>) */
        if (m != NULL && strcmp(what, "output") == 0 && k == n && result != NULL &&
            in->lens[i + 1] == result_len && memcmp(v, result, result_len) == 0)
            continue; /* the last output is the result: kept once */
        if (m == NULL || (strcmp(what, "state") != 0 && strcmp(what, "started_at") != 0 &&
                          strcmp(what, "finished_at") != 0)) {
            /* a field given twice: HSET keeps the later, as it would have */
            rargv_add(&pass, f);
            rargv_addlen(&pass, v, in->lens[i + 1]);
            continue;
        }
        if (!is_touched[k])
            is_touched[k] = true, order[norder++] = k;
        if (strcmp(what, "state") == 0) {
            stagefield_copy(m->state, sizeof(m->state), v, strlen(v));
        } else if (strcmp(what, "finished_at") == 0) {
            stagefield_token(v, sr->base_ms, m->t1, sizeof(m->t1));
            stagefield_copy(m->finished_at, sizeof(m->finished_at), v, strlen(v));
        } else if (k > 1 && strcmp(v, sr->st[k - 1].finished_at) == 0) {
            snprintf(m->t0, sizeof(m->t0), "="); /* at the end of the stage before */
            m->is_t0_known = true;
        } else {
            stagefield_token(v, sr->base_ms, m->t0, sizeof(m->t0));
            m->is_t0_known = true;
        }
    }
    /* the fields that say nothing: not written, deleted when the job has them */
    sr->next_progress = sr->has_progress, sr->next_message = sr->has_message;
    for (j = 0; j < SF_NEMPTY; j++) {
        const char *v = empty[j];
        bool is_empty, is_held;

        if (v == NULL)
            continue;
        if (j == SF_PROGRESS) {
            double p = strtod(v, NULL);
            is_empty = p == 0.0 || (p == 1.0 && state != NULL && strcmp(state, "succeeded") == 0);
        } else {
            is_empty = v[0] == '\0';
        }
        /* after start.lua none of them is there but what this run wrote since */
        is_held = (j == SF_PROGRESS && sr->has_progress) || (j == SF_MESSAGE && sr->has_message);
        if (j == SF_PROGRESS)
            sr->next_progress = !is_empty;
        else if (j == SF_MESSAGE)
            sr->next_message = !is_empty;
        if (!is_empty)
            rargv_add(&pass, stagefield_empty_names[j]), rargv_add(&pass, v);
        else if (is_held && strlen(del) + strlen(stagefield_empty_names[j]) + 2 < sizeof(del))
            snprintf(del + strlen(del), sizeof(del) - strlen(del), "%s%s", del[0] ? " " : "",
                     stagefield_empty_names[j]);
    }
    /* the stages whose name and start this run does not know: as stored */
    for (i = 0; i < (size_t)norder; i++)
        if (!sr->st[order[i]].is_t0_known || sr->pl == NULL || order[i] > (int)sr->pl->nstages) {
            char ks[8];
            snprintf(ks, sizeof(ks), "%d", order[i]);
            if (strlen(keep) + strlen(ks) + 2 < sizeof(keep))
                snprintf(keep + strlen(keep), sizeof(keep) - strlen(keep), "%s%s",
                         keep[0] ? " " : "", ks);
        }
    if (keep[0] != '\0') {
        rargv_add(out, ".keep");
        rargv_add(out, keep);
    }
    if (del[0] != '\0') {
        rargv_add(out, ".del");
        rargv_add(out, del);
    }
    for (i = 0; i < pass.argc; i++)
        rargv_addlen(out, pass.argv[i], pass.lens[i]);
    for (i = 0; i < (size_t)norder; i++) {
        char field[24];

        keys_stage_field(field, sizeof(field), order[i], NULL);
        rargv_add(out, field);
        stagefield_value(sr, order[i], out);
    }
    is_oom = pass.is_oom != 0;
    rargv_free(&pass);
    return is_oom || out->is_oom ? -1 : 0;
}

void stagefield_run_written(struct stagefield_run *sr)
{
    sr->has_progress = sr->next_progress;
    sr->has_message = sr->next_message;
}
