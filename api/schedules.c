/* schedules: the recurring jobs of the pipelines file's "schedules" section,
 * and GET /v1/schedules. Every API process runs this scheduler; a tick T of
 * schedule S fires exactly once however many run, because it is submitted
 * through the normal submit path (jobs_submit_prepared) with the job id
 * "sched.<S>.<T>": a second submit of that id is answered "exists" and
 * creates nothing (the fence). The replica that created the job then records
 * the tick in <p>:{w}:schedules (name -> {"tick","job_id"}), which every
 * replica reads before firing: a replica that was behind never fires a tick
 * at or before the recorded one, and the "missed" policy is judged against
 * it after a downtime. Rounds are aligned on the wall clock (every
 * SCHEDULES_ROUND_MS from the epoch), so every replica looks at the same
 * moment, just after a tick: the tick fires at once, and the replicas race
 * for it through the fence (a test can see it). Holds no job state. */
#include "api.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "json.h"
#include "log.h"

#define SCHEDULES_ROUND_MS      250    /* how often due ticks are looked for */
#define SCHEDULES_ROUND_SKEW_MS 5      /* rounds start this long after a multiple of the round */
#define SCHEDULES_GRACE_S       2      /* a tick this many seconds late is still due now */
#define SCHEDULES_MAX_PER_ROUND 8      /* ticks one schedule submits in one round */
#define SCHEDULES_SCAN_MAX      100000 /* ticks walked to find the newest missed one */
#define SCHEDULES_JOB_PREFIX    "sched."

/* One schedule's state in this process. */
struct sched_one {
    struct schedules *s;
    const struct schedule_def *sd; /* borrowed from api->pipelines */
    long long last;                /* newest tick known fired (the record or ours); 0: none */
    size_t busy;                   /* submits in flight */
};

struct schedules {
    struct api *api;
    struct event *timer;
    size_t n;
    struct sched_one *items; /* [n], in the file's order */
    bool is_reading;         /* the record is being read */
};

/* One submitted tick, until its answer (on_answer). */
struct sched_fire {
    struct sched_one *one;
    long long tick;
};

/* The job id of tick of sd into buf[cap]: 0, or -1 when it does not fit. */
static int schedules_job_id(char *buf, size_t cap, const struct schedule_def *sd, long long tick)
{
    int n = snprintf(buf, cap, SCHEDULES_JOB_PREFIX "%s.%lld", sd->name, tick);

    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The newest tick of sd in (after, upto], or -1. Looks back in growing
 * windows so that a long downtime costs a few cron_next calls per window. */
static long long schedules_newest(const struct schedule_def *sd, long long after, long long upto)
{
    static const long long windows[] = {3600, 86400, 32 * 86400, 367 * 86400,
                                        (long long)CRON_SEARCH_YEARS * 366 * 86400};
    long long t, u, from;
    size_t w, steps;

    if (upto <= after)
        return -1;
    if (sd->cron == NULL) {
        t = upto / sd->every_s * sd->every_s;
        return t > after ? t : -1;
    }
    for (w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
        from = upto - windows[w] > after ? upto - windows[w] : after;
        t = pipeline_schedule_next(sd, from);
        if (t > 0 && t <= upto) {
            for (steps = 0; steps < SCHEDULES_SCAN_MAX; steps++) {
                u = pipeline_schedule_next(sd, t);
                if (u < 0 || u > upto)
                    break;
                t = u;
            }
            return t;
        }
        if (from == after)
            return -1;
    }
    return -1;
}

static void schedules_recorded(const redisReply *reply, enum rasync_err err, void *arg)
{
    (void)err;
    (void)arg;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        log_warnx("schedules: the last fired tick could not be recorded: %s",
                  reply != NULL ? reply->str : "redis unavailable");
}

/* HSET <p>:{w}:schedules name {"tick":T,"job_id":id} */
static void schedules_record(struct sched_one *one, long long tick, const char *id)
{
    struct api *api = one->s->api;
    char key[KEYS_MAX_LEN], value[64 + IDS_MAX_LEN];
    struct rargv args;

    if (keys_schedules(key, sizeof(key), api->cfg->prefix) < 0)
        return;
    snprintf(value, sizeof(value), "{\"tick\":%lld,\"job_id\":\"%s\"}", tick, id);
    rargv_init(&args);
    rargv_add(&args, "HSET");
    rargv_add(&args, key);
    rargv_add(&args, one->sd->name);
    rargv_add(&args, value);
    if (rasync_command(api->rasync, &args, schedules_recorded, NULL) < 0)
        schedules_recorded(NULL, RASYNC_UNAVAILABLE, NULL);
    rargv_free(&args);
}

/* The answer of a scheduled submit (an internal request, see api_req):
 * 201 created here, 200 the same job existed (another replica fired the
 * tick), 409 a job of that id exists with another request: all three mean
 * the tick has fired. Anything else: it is tried again next round. */
static void schedules_answered(struct api_req *ar, int status, const char *body, size_t len)
{
    struct sched_fire *fire = ar->answer_arg;
    struct sched_one *one = fire->one;

    one->busy--;
    if (status == 200 || status == 201 || status == 409) {
        if (fire->tick > one->last)
            one->last = fire->tick;
        if (status == 201) {
            log_job(LOG_LEVEL_INFO, ar->id, "schedule %s: tick %lld submitted", one->sd->name,
                    fire->tick);
            schedules_record(one, fire->tick, ar->id);
        } else if (status == 200) {
            log_job(LOG_LEVEL_DEBUG, ar->id, "schedule %s: tick %lld exists (fired by another)",
                    one->sd->name, fire->tick);
        } else if (status == 409) {
            log_job(LOG_LEVEL_WARN, ar->id,
                    "schedule %s: job %s exists with another pipeline, queue or input: tick %lld "
                    "counted as fired",
                    one->sd->name, ar->id, fire->tick);
        }
    } else {
        log_job(LOG_LEVEL_WARN, ar->id, "schedule %s: tick %lld not submitted (%d %.*s): retried",
                one->sd->name, fire->tick, status, (int)(len > 200 ? 200 : len), body);
    }
    free(fire);
}

static void schedules_submitted(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct api_req *ar = arg;
    static const int statuses[] = {409, 201, 200}; /* by jobs_submit_outcome */
    int outcome = jobs_submit_outcome(ar, reply, err);

    if (outcome < 0)
        return; /* answered with the error */
    reply_raw(ar, statuses[outcome], "{}", 2);
}

/* Submits tick of one as an internal request. */
static void schedules_fire(struct sched_one *one, long long tick)
{
    struct api *api = one->s->api;
    const struct schedule_def *sd = one->sd;
    const struct pipeline *p = pipeline_set_find(api->pipelines, sd->pipeline);
    struct api_req *ar = calloc(1, sizeof(*ar));
    struct sched_fire *fire = calloc(1, sizeof(*fire));

    if (ar == NULL || fire == NULL || p == NULL ||
        schedules_job_id(ar->id, sizeof(ar->id), sd, tick) < 0) {
        log_warnx("schedule %s: tick %lld not submitted (out of memory): retried", sd->name, tick);
        free(ar);
        free(fire);
        return;
    }
    fire->one = one;
    fire->tick = tick;
    ar->api = api;
    TAILQ_INIT(&ar->query);
    ar->start_us = clock_mono_us();
    ar->route = "scheduler";
    ar->method_name = "POST";
    snprintf(ar->log_path, sizeof(ar->log_path), "schedule %s", sd->name);
    ar->on_answer = schedules_answered;
    ar->answer_arg = fire;
    api->inflight++;
    one->busy++;
    /* answered (and freed) through schedules_answered either way */
    jobs_submit_prepared(ar, p, sd->queue != NULL ? sd->queue : p->queue, sd->input,
                         strlen(sd->input), p->result_ttl_s, 0, schedules_submitted);
}

/* Fires what is due for one at now: with "run_once", the newest tick missed
 * (older than the grace) since the last fired one; then every tick of the
 * last SCHEDULES_GRACE_S seconds not fired yet. */
static void schedules_fire_due(struct sched_one *one, long long now)
{
    const struct schedule_def *sd = one->sd;
    long long ticks[SCHEDULES_MAX_PER_ROUND], t, from;
    size_t n = 0, i;

    if (sd->missed == SCHEDULE_MISSED_RUN_ONCE && one->last > 0) {
        t = schedules_newest(sd, one->last, now - SCHEDULES_GRACE_S - 1);
        if (t > 0)
            ticks[n++] = t;
    }
    from = now - SCHEDULES_GRACE_S - 1;
    if (one->last > from)
        from = one->last;
    for (t = pipeline_schedule_next(sd, from); t > 0 && t <= now && n < SCHEDULES_MAX_PER_ROUND;
         t = pipeline_schedule_next(sd, t))
        ticks[n++] = t;
    for (i = 0; i < n; i++)
        schedules_fire(one, ticks[i]);
}

/* The last fired tick of a record value {"tick":T,...}, or 0. */
static long long schedules_record_tick(const char *text, size_t len)
{
    struct json_err jerr;
    cJSON *v = json_parse_strict(text, len, 4, &jerr);
    const cJSON *tick = v != NULL ? json_get(v, "tick") : NULL;
    long long t = 0;

    if (cJSON_IsNumber(tick) && tick->valuedouble >= 1 && tick->valuedouble < 1e12)
        t = (long long)tick->valuedouble;
    cJSON_Delete(v);
    return t;
}

/* The record, read before firing: every replica starts from the newest
 * tick any of them fired. */
static void schedules_on_record(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct schedules *s = arg;
    long long now = clock_now_ms() / 1000;
    size_t i, k;

    (void)err;
    s->is_reading = false;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || s->api->is_draining)
        return; /* Redis away: the next round tries again */
    for (k = 0; k + 1 < reply->elements; k += 2) {
        const redisReply *f = reply->element[k], *v = reply->element[k + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        for (i = 0; i < s->n; i++)
            if (strlen(s->items[i].sd->name) == f->len &&
                memcmp(s->items[i].sd->name, f->str, f->len) == 0) {
                long long t = schedules_record_tick(v->str, v->len);
                if (t > s->items[i].last)
                    s->items[i].last = t;
            }
    }
    for (i = 0; i < s->n; i++)
        if (s->items[i].busy == 0)
            schedules_fire_due(&s->items[i], now);
}

/* True when a tick of one not yet fired is due at now. */
static bool schedules_is_due(const struct sched_one *one, long long now)
{
    long long from = now - SCHEDULES_GRACE_S - 1, t;

    if (one->busy > 0)
        return false;
    if (one->sd->missed == SCHEDULE_MISSED_RUN_ONCE && one->last > 0 && one->last < from) {
        t = pipeline_schedule_next(one->sd, one->last);
        if (t > 0 && t <= from)
            return true; /* a tick older than the grace was missed: the catch-up is owed */
    }
    if (one->last > from)
        from = one->last;
    t = pipeline_schedule_next(one->sd, from);
    return t > 0 && t <= now;
}

/* Arms the timer for the next round: SCHEDULES_ROUND_SKEW_MS after the
 * next multiple of SCHEDULES_ROUND_MS of the wall clock. */
static void schedules_arm(struct schedules *s)
{
    int64_t now = clock_now_ms();
    int64_t wait = SCHEDULES_ROUND_MS - now % SCHEDULES_ROUND_MS + SCHEDULES_ROUND_SKEW_MS;
    struct timeval tv;

    if (wait > SCHEDULES_ROUND_MS)
        wait -= SCHEDULES_ROUND_MS;
    tv.tv_sec = (time_t)(wait / 1000);
    tv.tv_usec = (suseconds_t)(wait % 1000 * 1000);
    if (event_add(s->timer, &tv) < 0)
        log_warnx("scheduler: cannot arm its timer: schedules stop firing in this process");
}

static void schedules_round(evutil_socket_t fd, short what, void *arg)
{
    struct schedules *s = arg;
    struct api *api = s->api;
    long long now = clock_now_ms() / 1000;
    char key[KEYS_MAX_LEN];
    struct rargv args;
    size_t i;

    (void)fd;
    (void)what;
    if (!api->is_draining)
        schedules_arm(s);
    if (s->is_reading || api->is_draining || !rasync_is_ready(api->rasync))
        return;
    for (i = 0; i < s->n && !schedules_is_due(&s->items[i], now); i++)
        ;
    if (i == s->n || keys_schedules(key, sizeof(key), api->cfg->prefix) < 0)
        return;
    rargv_init(&args);
    rargv_add(&args, "HGETALL");
    rargv_add(&args, key);
    if (rasync_command(api->rasync, &args, schedules_on_record, s) == 0)
        s->is_reading = true;
    rargv_free(&args);
}

struct schedules *schedules_new(struct api *api)
{
    const struct pipeline_set *set = api->pipelines;
    struct schedules *s = calloc(1, sizeof(*s));
    size_t i;

    if (s == NULL)
        return NULL;
    s->api = api;
    s->n = set->nschedules;
    s->items = calloc(s->n + 1, sizeof(*s->items));
    if (s->items == NULL)
        goto fail;
    for (i = 0; i < s->n; i++) {
        s->items[i].s = s;
        s->items[i].sd = &set->schedules[i];
    }
    if (s->n == 0)
        return s; /* nothing to fire: no timer */
    s->timer = evtimer_new(api->base, schedules_round, s);
    if (s->timer == NULL)
        goto fail;
    schedules_arm(s);
    log_info("scheduler: %zu schedule(s)", s->n);
    return s;
fail:
    schedules_free(s);
    return NULL;
}

void schedules_free(struct schedules *s)
{
    if (s == NULL)
        return;
    if (s->timer != NULL)
        event_free(s->timer);
    free(s->items);
    free(s);
}

/* ---- GET /v1/schedules ---- */

/* Adds time t (Unix seconds; <= 0: null) as RFC 3339 to obj. */
static void schedules_add_time(cJSON *obj, const char *name, long long t)
{
    char text[CLOCK_RFC3339_LEN];

    if (t <= 0) {
        cJSON_AddNullToObject(obj, name);
        return;
    }
    clock_format_rfc3339((int64_t)t * 1000, text);
    cJSON_AddStringToObject(obj, name, text);
}

/* The row of sd, its record value rec[0..rlen) (NULL: none). */
static cJSON *schedules_row(const struct api *api, const struct schedule_def *sd, const char *rec,
                            size_t rlen, long long now)
{
    const struct pipeline *p = pipeline_set_find(api->pipelines, sd->pipeline);
    long long last = rec != NULL ? schedules_record_tick(rec, rlen) : 0;
    cJSON *row = cJSON_CreateObject(), *lr;
    char id[IDS_MAX_LEN + 1];

    if (row == NULL)
        return NULL;
    cJSON_AddStringToObject(row, "name", sd->name);
    cJSON_AddStringToObject(row, "pipeline", sd->pipeline);
    cJSON_AddStringToObject(row, "queue", sd->queue != NULL ? sd->queue : p->queue);
    if (sd->cron != NULL) {
        cJSON_AddStringToObject(row, "cron", sd->cron);
        cJSON_AddStringToObject(row, "timezone", sd->timezone != NULL ? sd->timezone : "UTC");
    } else {
        cJSON_AddNumberToObject(row, "every_s", sd->every_s);
    }
    cJSON_AddStringToObject(row, "missed", pipeline_schedule_missed_name(sd->missed));
    if (last > 0 && schedules_job_id(id, sizeof(id), sd, last) == 0) {
        lr = cJSON_AddObjectToObject(row, "last_run");
        schedules_add_time(lr, "time", last);
        cJSON_AddStringToObject(lr, "job_id", id);
    } else {
        cJSON_AddNullToObject(row, "last_run");
    }
    schedules_add_time(row, "next_run", pipeline_schedule_next(sd, last > now ? last : now));
    return row;
}

static void schedules_list_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct api_req *ar = arg;
    const struct pipeline_set *set = ar->api->pipelines;
    long long now = clock_now_ms() / 1000;
    cJSON *body, *list;
    size_t i, k;

    if (reply == NULL) {
        errors_reply_redis(ar, err);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "redis could not read the schedules: %.*s",
                     reply->type == REDIS_REPLY_ERROR ? (int)reply->len : 0,
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        return;
    }
    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "schedules");
    for (i = 0; list != NULL && i < set->nschedules; i++) {
        const struct schedule_def *sd = &set->schedules[i];
        const redisReply *rec = NULL;
        for (k = 0; k + 1 < reply->elements; k += 2)
            if (reply->element[k]->type == REDIS_REPLY_STRING &&
                reply->element[k + 1]->type == REDIS_REPLY_STRING &&
                reply->element[k]->len == strlen(sd->name) &&
                memcmp(reply->element[k]->str, sd->name, reply->element[k]->len) == 0)
                rec = reply->element[k + 1];
        cJSON_AddItemToArray(
            list, schedules_row(ar->api, sd, rec ? rec->str : NULL, rec ? rec->len : 0, now));
    }
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
    reply_json(ar, 200, list != NULL ? body : NULL); /* NULL (out of memory): a 500 */
    cJSON_Delete(body);
}

void schedules_list(struct api_req *ar)
{
    static const char *const no_params[] = {NULL};
    char key[KEYS_MAX_LEN];
    struct rargv args;

    if (listing_check_params(ar, no_params) < 0)
        return;
    if (keys_schedules(key, sizeof(key), ar->api->cfg->prefix) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "key name too long");
        return;
    }
    rargv_init(&args);
    rargv_add(&args, "HGETALL");
    rargv_add(&args, key);
    if (rasync_command(ar->api->rasync, &args, schedules_list_done, ar) < 0)
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
    rargv_free(&args);
}
