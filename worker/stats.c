/* stats: the stage runs this worker saw since it last sent them, per pipeline
 * and stage, for the stage histograms and the ETA history (stats.lua). A
 * backlog of fast jobs would otherwise cost a dozen Redis commands per job;
 * gathered here they cost a few per flush, at most about one a second while
 * the worker has work, and at once when it goes idle (finish.lua's 'idle'
 * mode and record.lua). Memory: one entry per pipeline stage that ran, each
 * with its distinct durations (ms) since the last flush. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

static struct wstat *wstats_entry(struct wstats *s, const char *pipeline, int k, const char *name)
{
    struct wstat *e;
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->v[i].k == k && strcmp(s->v[i].pipeline, pipeline) == 0)
            return &s->v[i];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct wstat *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        s->v = v, s->cap = cap;
    }
    e = &s->v[s->n++];
    memset(e, 0, sizeof(*e));
    e->pipeline = pipeline;
    e->name = name;
    e->k = k;
    return e;
}

void wstats_add(struct wstats *s, const char *pipeline, int k, const char *name, long long ms)
{
    struct wstat *e = wstats_entry(s, pipeline, k, name);
    size_t i;

    if (e == NULL)
        return; /* out of memory: a figure is lost, never a job */
    if (ms < 0)
        ms = 0;
    memmove(e->runs + 1, e->runs, sizeof(e->runs[0]) * (WSTATS_RUNS - 1));
    e->runs[0] = ms;
    if (e->nruns < WSTATS_RUNS)
        e->nruns++;
    for (i = 0; i < e->nvals && e->vals[i].ms != ms; i++)
        ;
    if (i == e->nvals) {
        if (e->nvals == e->cap) {
            size_t cap = e->cap ? e->cap * 2 : 8;
            struct wstat_val *v = realloc(e->vals, cap * sizeof(*v));
            if (v == NULL)
                return;
            e->vals = v, e->cap = cap;
        }
        e->vals[e->nvals].ms = ms;
        e->vals[e->nvals].times = 0;
        e->nvals++;
        if (e->nvals >= WSTATS_MAX_VALS)
            s->is_full = true;
    }
    e->vals[i].times++;
    s->pending++;
}

bool wstats_is_pending(const struct wstats *s)
{
    return s->pending > 0;
}

bool wstats_is_due(const struct wstats *s, int64_t now_mono_ms)
{
    return s->pending > 0 && (s->is_full || now_mono_ms - s->last_flush_ms >= WSTATS_FLUSH_MS);
}

/* Appends printf output to *buf (len, cap); -1 when memory ran out. */
static int wstats_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int wstats_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < *cap - *len)
            break;
        {
            size_t cap2 = (*cap + (size_t)n) * 2;
            char *b = realloc(*buf, cap2);
            if (b == NULL)
                return -1;
            *buf = b, *cap = cap2;
        }
    }
    *len += (size_t)n;
    return 0;
}

char *wstats_spec(const struct wstats *s)
{
    size_t len = 0, cap = 256, i, j, m;
    char *buf = malloc(cap);
    int rc = 0;

    if (buf == NULL)
        return NULL;
    buf[0] = '\0';
    /* a pipeline's lines together: each pipeline's first entry emits them all */
    for (i = 0; i < s->n && rc == 0; i++) {
        for (j = 0; j < i && strcmp(s->v[j].pipeline, s->v[i].pipeline) != 0; j++)
            ;
        if (j < i)
            continue;
        for (j = i; j < s->n && rc == 0; j++) {
            const struct wstat *e = &s->v[j];
            if (e->nvals == 0 || strcmp(e->pipeline, s->v[i].pipeline) != 0)
                continue;
            rc |= wstats_appendf(&buf, &len, &cap, "%s%s %d %s ", len ? "\n" : "", e->pipeline,
                                 e->k, e->name);
            for (m = 0; m < (size_t)e->nruns && rc == 0; m++)
                rc |= wstats_appendf(&buf, &len, &cap, "%s%lld", m ? "," : "", e->runs[m]);
            for (m = 0; m < e->nvals && rc == 0; m++)
                rc |= wstats_appendf(&buf, &len, &cap, "%c%lld:%lld", m ? ',' : ' ', e->vals[m].ms,
                                     e->vals[m].times);
        }
    }
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

void wstats_clear(struct wstats *s, int64_t now_mono_ms)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        s->v[i].nruns = 0, s->v[i].nvals = 0;
    s->pending = 0;
    s->is_full = false;
    s->last_flush_ms = now_mono_ms;
}

void wstats_free(struct wstats *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->v[i].vals);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

int wstats_add_keys(struct rargv *a, const char *spec, const char *prefix, const char *tag)
{
    char hkey[KEYS_MAX_LEN], ekey[KEYS_MAX_LEN], pl[IDS_NAME_MAX_LEN + 1] = "";
    const char *line = spec;
    int n = 0;

    /* one pair per run of lines of one pipeline, as stats.lua reads them */
    while (line != NULL && *line != '\0') {
        const char *sp = strchr(line, ' '), *nl = strchr(line, '\n');
        size_t len = sp != NULL ? (size_t)(sp - line) : strlen(line);

        if (len > IDS_NAME_MAX_LEN)
            len = IDS_NAME_MAX_LEN; /* never: a pipeline name is valid */
        if (n == 0 || strncmp(pl, line, len) != 0 || pl[len] != '\0') {
            memcpy(pl, line, len);
            pl[len] = '\0';
            if (keys_stagehist(hkey, sizeof(hkey), prefix, tag, pl) < 0 ||
                keys_eta(ekey, sizeof(ekey), prefix, tag, pl) < 0)
                return -1;
            rargv_add(a, hkey);
            rargv_add(a, ekey);
            n += 2;
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    return n;
}
