/* overview: the readable tables of `stageq list`, `stats`, `workers` and
 * `schedules`, printed on stdout from the borrowed replies of GET /v1/jobs,
 * /v1/stats, /v1/workers and /v1/schedules. Fields that are missing or null show as "-". Never
 * requests, never exits. */
#include "cli.h"

#include <string.h>
#include <time.h>

#include "json.h"

#define OVERVIEW_COL_MAX 64 /* widest ID/PIPELINE/QUEUE column before it overflows */

static const char *overview_str(const cJSON *o, const char *name)
{
    const cJSON *v = json_get(o, name);

    return cJSON_IsString(v) ? v->valuestring : "-";
}

static long long overview_int(const cJSON *o, const char *name)
{
    double d;

    return json_number(json_get(o, name), &d) == 0 && d >= 0 && d < 1e15 ? (long long)d : 0;
}

int64_t overview_parse_time(const cJSON *item)
{
    struct tm tm;
    int ms = 0, n = 0;

    if (!cJSON_IsString(item))
        return -1;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(item->valuestring, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
        item->valuestring[n] != '\0')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Formats an age in ms as "12s", "5m", "3h" or "2d" into out. */
static void overview_format_age(int64_t ms, char *out, size_t len)
{
    long long s = ms < 0 ? 0 : (long long)(ms / 1000);

    if (s < 60)
        snprintf(out, len, "%llds", s);
    else if (s < 3600)
        snprintf(out, len, "%lldm", s / 60);
    else if (s < 86400)
        snprintf(out, len, "%lldh", s / 3600);
    else
        snprintf(out, len, "%lldd", s / 86400);
}

/* The age of a timestamp field at now_ms, or "-". */
static void overview_age_of(const cJSON *o, const char *name, int64_t now_ms, char *out, size_t len)
{
    int64_t t = overview_parse_time(json_get(o, name));

    if (t < 0)
        snprintf(out, len, "-");
    else
        overview_format_age(now_ms - t, out, len);
}

/* The width of a column: the longest value of name in items, at least min. */
static int overview_width(const cJSON *items, const char *name, int min)
{
    const cJSON *it;
    int w = min;

    cJSON_ArrayForEach(it, items)
    {
        int n = (int)strlen(overview_str(it, name));
        if (n > w)
            w = n;
    }
    return w > OVERVIEW_COL_MAX ? OVERVIEW_COL_MAX : w;
}

void overview_print_jobs(const cJSON *reply, int64_t now_ms, bool with_header)
{
    const cJSON *jobs = json_get(reply, "jobs"), *j;
    int wid = overview_width(jobs, "id", 2), wp = overview_width(jobs, "pipeline", 8);

    if (with_header)
        printf("%-*s  %-*s  %-9s  %-20s  %8s  %s\n", wid, "ID", wp, "PIPELINE", "STATE", "STAGE",
               "PROGRESS", "AGE");
    cJSON_ArrayForEach(j, jobs)
    {
        const cJSON *overall = json_get(j, "overall_progress");
        double frac;
        long long stage = overview_int(j, "stage");
        char st[96], pct[16], age[32];

        if (stage > 0)
            snprintf(st, sizeof(st), "%lld/%lld %.60s", stage, overview_int(j, "stage_count"),
                     overview_str(j, "stage_name"));
        else
            snprintf(st, sizeof(st), "-/%lld", overview_int(j, "stage_count"));
        if (json_number(overall, &frac) == 0)
            snprintf(pct, sizeof(pct), "%d%%", (int)((frac < 0 ? 0 : frac > 1 ? 1 : frac) * 100.0));
        else
            snprintf(pct, sizeof(pct), "-");
        overview_age_of(j, "created_at", now_ms, age, sizeof(age));
        printf("%-*s  %-*s  %-9s  %-20s  %8s  %s\n", wid, overview_str(j, "id"), wp,
               overview_str(j, "pipeline"), overview_str(j, "state"), st, pct, age);
    }
}

void overview_print_stats(const cJSON *reply)
{
    const cJSON *queues = json_get(reply, "queues"), *q;
    const cJSON *recent = json_get(reply, "recent_jobs");
    const cJSON *by = recent ? json_get(recent, "by_state") : NULL, *s;
    int wq = 5;
    const char *sep = "";

    cJSON_ArrayForEach(q, queues)
    {
        int n = q->string ? (int)strlen(q->string) : 0;
        if (n > wq)
            wq = n > OVERVIEW_COL_MAX ? OVERVIEW_COL_MAX : n;
    }
    printf("%-*s  %7s  %7s  %7s  %7s\n", wq, "QUEUE", "QUEUED", "DELAYED", "RUNNING", "WORKERS");
    cJSON_ArrayForEach(q, queues)
    {
        printf("%-*s  %7lld  %7lld  %7lld  %7lld\n", wq, q->string ? q->string : "?",
               overview_int(q, "queued"), overview_int(q, "delayed"), overview_int(q, "running"),
               overview_int(q, "workers"));
    }
    printf("workers alive: %lld\n", overview_int(reply, "workers_alive"));
    if (!cJSON_IsObject(recent))
        return;
    printf("recent jobs (last %lld submitted): ", overview_int(recent, "window"));
    cJSON_ArrayForEach(s, by)
    {
        double n;
        printf("%s%lld %s", sep, json_number(s, &n) == 0 && n >= 0 && n < 1e15 ? (long long)n : 0,
               s->string ? s->string : "?");
        sep = ", ";
    }
    printf("%s(%lld indexed, %lld expired)\n", *sep ? " " : "", overview_int(recent, "indexed"),
           overview_int(recent, "expired"));
}

void overview_print_workers(const cJSON *reply, int64_t now_ms)
{
    const cJSON *workers = json_get(reply, "workers"), *w;
    int wid = overview_width(workers, "id", 2), wq = overview_width(workers, "queue", 5);
    int wj = overview_width(workers, "job", 3);

    printf("%-*s  %-*s  %-*s  %6s  %9s  %s\n", wid, "ID", wq, "QUEUE", wj, "JOB", "DONE",
           "HEARTBEAT", "UP");
    cJSON_ArrayForEach(w, workers)
    {
        char hb[32], up[32];

        overview_age_of(w, "heartbeat_at", now_ms, hb, sizeof(hb));
        overview_age_of(w, "started_at", now_ms, up, sizeof(up));
        printf("%-*s  %-*s  %-*s  %6lld  %9s  %s\n", wid, overview_str(w, "id"), wq,
               overview_str(w, "queue"), wj, overview_str(w, "job"), overview_int(w, "jobs_done"),
               hb, up);
    }
    printf("workers alive: %lld\n", overview_int(reply, "count"));
}

/* "every 30s", or the cron expression and its timezone, into out. */
static void overview_when(const cJSON *s, char *out, size_t len)
{
    if (cJSON_IsString(json_get(s, "cron")))
        snprintf(out, len, "%s (%s)", overview_str(s, "cron"), overview_str(s, "timezone"));
    else
        snprintf(out, len, "every %llds", overview_int(s, "every_s"));
}

void overview_print_schedules(const cJSON *reply)
{
    const cJSON *list = json_get(reply, "schedules"), *s;
    int wn = overview_width(list, "name", 4), wp = overview_width(list, "pipeline", 8), ww = 4;
    char when[128];

    cJSON_ArrayForEach(s, list)
    {
        overview_when(s, when, sizeof(when));
        if ((int)strlen(when) > ww)
            ww = (int)strlen(when);
    }
    printf("%-*s  %-*s  %-*s  %-8s  %-24s  %-24s  %s\n", wn, "NAME", wp, "PIPELINE", ww, "WHEN",
           "MISSED", "NEXT RUN", "LAST RUN", "LAST JOB");
    cJSON_ArrayForEach(s, list)
    {
        const cJSON *last = json_get(s, "last_run");

        overview_when(s, when, sizeof(when));
        printf("%-*s  %-*s  %-*s  %-8s  %-24s  %-24s  %s\n", wn, overview_str(s, "name"), wp,
               overview_str(s, "pipeline"), ww, when, overview_str(s, "missed"),
               overview_str(s, "next_run"), overview_str(last, "time"),
               overview_str(last, "job_id"));
    }
}

void overview_print_queues(const cJSON *reply)
{
    const cJSON *list = json_get(reply, "queues"), *q, *rl;
    int wn = overview_width(list, "name", 5);
    char rate[64], paused[48];

    printf("%-*s  %5s  %7s  %9s  %7s  %7s  %-26s  %-14s  %s\n", wn, "QUEUE", "PARTS", "DEPTH",
           "SCHEDULED", "RUNNING", "FAILED", "PAUSED", "RATE", "WORKERS");
    cJSON_ArrayForEach(q, list)
    {
        rl = json_get(q, "rate_limit");
        if (cJSON_IsObject(rl))
            snprintf(rate, sizeof(rate), "%lld/%lld per %llds", overview_int(q, "rate_used"),
                     overview_int(rl, "jobs"), overview_int(rl, "per_s"));
        else
            snprintf(rate, sizeof(rate), "-");
        if (cJSON_IsTrue(json_get(q, "paused")))
            snprintf(paused, sizeof(paused), "since %.32s", overview_str(q, "paused_at"));
        else
            snprintf(paused, sizeof(paused), "no");
        printf("%-*s  %5lld  %7lld  %9lld  %7lld  %7lld  %-26s  %-14s  %lld\n", wn,
               overview_str(q, "name"), overview_int(q, "partitions"), overview_int(q, "depth"),
               overview_int(q, "scheduled"), overview_int(q, "running"), overview_int(q, "failed"),
               paused, rate, overview_int(q, "workers"));
    }
}
