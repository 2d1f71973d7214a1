/* api.h: private header of stageq-api, shared by its modules only (like
 * beanstalkd's dat.h). Nothing in shared/ may include it. */
#ifndef STAGEQ_API_H
#define STAGEQ_API_H

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "ids.h"
#include "keys.h"
#include "pipeline.h"
#include "rargv.h"
#include "redis_url.h"
#include "scripts.h"
#include "submit.h"

#define API_PORT_FILE_MAX 4096 /* bytes of --port-file, with the NUL */

/* The whole configuration of the API process, filled by main.c's option table. */
struct api_config {
    char redis_url[1024];
    char listen[320];
    char prefix[KEYS_PREFIX_MAX_LEN + 1];
    int result_ttl_s;
    int max_body;  /* bytes */
    int max_queue; /* most jobs waiting in one queue; 0 = no limit */
    int redis_timeout_ms;
    int min_replicas;     /* a submit waits for this many replicas (WAIT); 0 = it does not */
    int events_linger_ms; /* stay subscribed to events this long after the last listener */
    char log_format[8];
    char log_level[8];
    char port_file[API_PORT_FILE_MAX];
    char pipelines[1024];                        /* "" = PIPELINE_DEFAULT_FILE when it exists */
    char default_pipeline[IDS_NAME_MAX_LEN + 1]; /* what POST /start_task runs */
    char cors_origin[256];                       /* Access-Control-Allow-Origin; "" = no CORS */
    char api_token[256]; /* bearer token every route but / and /healthz needs; "" = none */
    char access_log[8];  /* "on" | "off" */
    bool is_access_log;  /* access_log is "on" (set by main's cross-check) */
};

struct counters;
struct rasync;
struct server;
struct sse;

/* Process-wide state, owned by main(); every module borrows it. */
struct api {
    struct event_base *base;
    const struct api_config *cfg;
    struct rasync *rasync;
    struct rasync *rdurable; /* submits and their WAIT, when cfg->min_replicas > 0; else NULL */
    struct pipeline_set *pipelines;
    struct server *server;
    struct sse *sse;           /* live events (sse.c) */
    struct eta *eta;           /* the pipelines' stage history (eta.c) */
    struct counters *counters; /* this process's HTTP figures (counters.c) */
    size_t inflight;           /* requests received and not yet answered */
    bool is_draining;          /* shutting down: leave the loop once inflight is 0 */
    bool is_in_evhttp;         /* in routes_dispatch, called by evhttp (reply.c) */

    struct schedules *schedules; /* the recurring jobs' scheduler (schedules.c) */
};

/* Grows the array *arr (of *cap items of size sz, n of them used) so that it
 * holds one more: 0, or -1 when memory ran out (*arr is then unchanged). For
 * the small tables the API builds as it goes (counters, metrics, stats). */
static inline int api_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    size_t c = *cap ? 2 * *cap : 16;
    void *p;

    if (n < *cap)
        return 0;
    p = realloc(*arr, c * sz);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* ---- rasync.c: the asynchronous Redis connections ---- */

enum rasync_err {
    RASYNC_OK = 0,
    RASYNC_UNAVAILABLE, /* not connected, connection lost, or out of memory */
    RASYNC_TIMEOUT,     /* no reply within the command timeout */
};

/* Called exactly once per accepted command: with the reply (borrowed, valid
 * only during the call; a Redis error is a REDIS_REPLY_ERROR reply) and
 * RASYNC_OK, or with NULL and the reason. Must not call rasync_free. */
typedef void rasync_cb(const redisReply *reply, enum rasync_err err, void *arg);

/* Returns a new handle the caller frees with rasync_free, already connecting
 * on base (a TCP host name is resolved here, once, blocking). timeout_ms
 * bounds every command (on a cluster: every hop of a redirected one). On a
 * redis-cluster:// URL the handle holds one connection per master and the
 * slot map, routes each command to its key's master and follows MOVED and
 * ASK itself: callbacks see final answers only. NULL with err set when the name does not resolve or
 * memory ran out. Borrows base; copies url. */
struct rasync *rasync_new(struct event_base *base, const struct redis_url *url, int timeout_ms,
                          struct sq_err *err);

/* True once connected, authenticated and on the right database (and, behind
 * a Sentinel, on a node that says ROLE master; on a cluster, when the slot
 * map covers every slot and a master connection is up). */
bool rasync_is_ready(const struct rasync *ra);

/* Why ra is not ready: its last failure ("all sentinels unreachable: ...",
 * "no sentinel knows the master: ...", "cannot connect to H:P: ...", ...);
 * "" when ready. Borrowed, valid until the next loop turn. */
const char *rasync_why(const struct rasync *ra);

/* Makes follower (a subscriber) follow leader (the command connection): when
 * leader connects to a node other than follower's (a failover found by a
 * failed command or a lost connection), follower reconnects too. Both are
 * borrowed; free leader first. Nothing on a cluster (no one master: the
 * subscriber, on any node, moves to the next seed when its node is lost). */
void rasync_follow(struct rasync *leader, struct rasync *follower);

/* Sends the command args (binary safe; borrowed, may be freed on return).
 * Returns 0 when sent: cb will be called exactly once, later (never from
 * inside this call). Returns -1 without calling cb when Redis is not
 * connected or memory ran out: the caller answers "unavailable" itself.
 * Sent from inside a reply's callback, the command goes on the connection
 * that carried that reply, or is refused (-1): a WAIT sent so covers the
 * write that replied (on a cluster this holds for keyless commands; one
 * with a key goes to its slot's master). */
int rasync_command(struct rasync *ra, const struct rargv *args, rasync_cb *cb, void *arg);

/* Runs script id with EVALSHA, and again with EVAL when Redis answers
 * NOSCRIPT. args holds the nkeys keys, then the arguments; its contents are
 * taken in every case (args is left empty, ready for rargv_free). Same
 * return and callback contract as rasync_command. */
int rasync_script(struct rasync *ra, enum script_id id, int nkeys, struct rargv *args,
                  rasync_cb *cb, void *arg);

/* Writes the commands sent on ra so far to Redis now, rather than when the
 * loop gets to it: Redis starts on them while the caller prepares more (a
 * bulk submit's later calls). On a cluster, every link's. Never from inside
 * a reply's callback (it does nothing there). A connection that fails the
 * write is lost at once: the callbacks of its pending commands are called
 * from inside this call, with NULL (as when the loop finds it lost). */
void rasync_flush(struct rasync *ra);

/* Closes the connection; every pending callback not yet called gets NULL and
 * RASYNC_UNAVAILABLE before this returns. No hook is called. NULL-safe. */
void rasync_free(struct rasync *ra);

/* What a subscriber tells its owner, always from the event loop (never from
 * inside a rasync_* call). on_down may be NULL. */
struct rasync_sub_hooks {
    /* SUBSCRIBE confirmed, also after every reconnect: messages flow from
     * now on, and any sent before may have been missed. */
    void (*on_subscribed)(void *arg);
    /* One PUBLISH on the channel: payload[0..len) (borrowed for the call). */
    void (*on_message)(void *arg, const char *payload, size_t len);
    /* The connection was lost, or an attempt failed: the next is scheduled. */
    void (*on_down)(void *arg);
    void *arg;
};

/* Returns a new subscriber the caller frees with rasync_free: a connection
 * of its own, set up like rasync_new's, that SUBSCRIBEs to channel while
 * rasync_subscribe wants it (idle, but connected, otherwise). Same errors as
 * rasync_new, or "channel name too long". On a cluster it connects to the
 * seeds in turn (any node hears every PUBLISH) and to the next one after a
 * loss. Borrows base; copies url, channel and hooks. */
struct rasync *rasync_new_subscriber(struct event_base *base, const struct redis_url *url,
                                     int timeout_ms, const char *channel,
                                     const struct rasync_sub_hooks *hooks, struct sq_err *err);

/* Wants the subscription (on), or not: the subscriber SUBSCRIBEs or
 * UNSUBSCRIBEs when connected and nothing is in flight, and after every
 * reconnect while wanted. */
void rasync_subscribe(struct rasync *ra, bool is_wanted);

/* True while the subscription is confirmed (messages flow). */
bool rasync_is_subscribed(const struct rasync *ra);

/* Commands accepted by rasync_command/rasync_script that failed since start:
 * timed out, lost with the connection, or answered with a Redis error reply
 * (a NOSCRIPT retried with EVAL is not one). Commands refused at once because
 * Redis is not connected are not counted (their requests show as 503s). For
 * stageq_redis_errors_total. */
unsigned long long rasync_errors(const struct rasync *ra);
/* How many replicas a WAIT on ra asks for: min_replicas, or behind a Sentinel
 * with min_replicas >= 1 every replica the sentinels counted healthy at the
 * last master check when they are more (sentinel_wait_count). */
int rasync_wait_count(const struct rasync *ra, int min_replicas);

/* A batch of commands sent back to back (one round trip): each reply goes to
 * on_reply with the index given to rasync_batch_send, then on_done once, after
 * the last reply. An error reply or a failed command marks the batch failed:
 * on_reply is not called for later replies. The caller owns the struct and
 * keeps it alive until on_done (which may free it). */
struct rasync_batch {
    void *ctx;
    void (*on_reply)(void *ctx, size_t i, const redisReply *r);
    void (*on_done)(void *ctx, bool is_failed, enum rasync_err err);
    size_t pending;
    bool is_failed;
    enum rasync_err err;
};

/* Starts a batch (on_done is held back until rasync_batch_end). */
void rasync_batch_begin(struct rasync_batch *b);
/* Sends one command of the batch; args are freed. A failure to send marks the
 * batch failed (on_done reports it). */
void rasync_batch_send(struct rasync *ra, struct rasync_batch *b, struct rargv *args, size_t i);
/* Ends the sending: on_done runs now when every reply is in, else later. */
void rasync_batch_end(struct rasync_batch *b);

/* ---- server.c: evhttp setup, limits, listener ---- */

/* Parses "host:port" or "[v6addr]:port" (port 0..65535; 0 = any free port)
 * into host[cap] and *port. 0, or -1 with err set. */
int server_parse_listen(const char *text, char *host, size_t cap, int *port, struct sq_err *err);

/* Returns a new server bound to api->cfg->listen and answering through
 * routes_dispatch, or NULL with err set (cannot bind, cannot write the port
 * file, out of memory). Logs "listening on HOST:PORT" and writes the port to
 * api->cfg->port_file when set. The caller frees it with server_free. */
struct server *server_new(struct api *api, struct sq_err *err);

/* Stops accepting connections; open ones are served until server_free. */
void server_stop_accepting(struct server *srv);

/* Closes every connection and frees the server. NULL-safe. */
void server_free(struct server *srv);

/* ---- routes.c: the route table and the life of a request ---- */

/* The method of a request whose method token libevent 2.1 does not know
 * (FOO, get): its internal EVHTTP_REQ_UNKNOWN_ (http-internal.h), which
 * evhttp_request_get_command returns for it. The token itself is not kept.
 * server.c allows it so that routes_dispatch answers 501, not libevent. */
#define API_REQ_UNKNOWN ((enum evhttp_cmd_type)(1 << 15))

/* One request between routing and its reply. Created by routes_dispatch,
 * freed by the reply_* call that answers it (reply.c). */
struct api_req {
    struct api *api;
    struct evhttp_request *req;
    enum evhttp_cmd_type method;
    struct evkeyvalq query;   /* parsed query string */
    char id[IDS_MAX_LEN + 1]; /* the {id} of the path, or the id of a new job */
    int64_t start_us;         /* monotonic: the request's arrival (latency, access log) */
    char log_path[128];       /* printable copy of the path for the access log */
    const char *route;        /* the matched route's pattern, or "other"; static */
    const char *method_name;  /* "GET", ..., "unknown"; static */
    char remote[64];          /* client address:port, for the access log */
    size_t bytes_out;         /* body bytes sent (streams add as they go) */
    int wait_s;               /* POST /v1/jobs?wait=S; 0 = answer at once */
    /* An internal request (the scheduler's submits, schedules.c) has no HTTP
     * request (req NULL, not counted, not logged): its answer (status, JSON
     * body, borrowed) goes to on_answer, which must not free ar. */
    void (*on_answer)(struct api_req *ar, int status, const char *body, size_t len);
    void *answer_arg;  /* on_answer's */
    int slot;          /* the slot job id lives in (set by locate_job, or by submit) */
    int64_t run_at_ms; /* a submit that makes a scheduled job: when it is due; else 0 */
};

/* The evhttp general callback (arg: struct api *): routes the request and
 * answers it, now or later, exactly once. */
void routes_dispatch(struct evhttp_request *req, void *arg);

/* ---- reply.c: every answer, and the end of every request ---- */

/* The body of a 500 when even the error could not be built. */
#define REPLY_OOM_BODY "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}"

/* Answers ar with status and body printed as JSON (Content-Type
 * application/json; a NULL body, out of memory, makes a 500). body is
 * borrowed; ar is freed: do not use it after. */
void reply_json(struct api_req *ar, int status, const cJSON *body);

/* Same with body[0..len) already JSON text. */
void reply_raw(struct api_req *ar, int status, const char *body, size_t len);

/* Answers ar with status and body[0..len) as is, with Content-Type ctype
 * (none for 204 and 304, which have no body; HEAD gets the Content-Length
 * and no body). body is borrowed; ar is freed. */
void reply_content(struct api_req *ar, int status, const char *ctype, const char *body, size_t len);

/* Writes at once what evhttp queued on evcon (an answer, a stream's chunk)
 * instead of on the next loop turn (reply.c says why). is_end: the request's
 * answer is complete: once all of it went, evhttp is told its buffer
 * drained and ends the request (evcon may be freed: do not use it after);
 * not while evhttp's request callback runs (api->is_in_evhttp), then evhttp
 * writes it. Else (a chunk): evhttp's write watch is dropped once all went. */
void reply_write_now(const struct api *api, struct evhttp_connection *evcon, bool is_end);

/* The end of every request, once its reply went out (reply_* call it;
 * streams call it when they end): counts it (counters_note), writes the
 * access log line, frees ar and ends the process's drain when it was the
 * last. */
void reply_req_end(struct api_req *ar, int status);

/* ---- errors.c: the one error -> HTTP map ---- */

enum api_err {
    API_ERR_MALFORMED_JSON = 0,
    API_ERR_INVALID_REQUEST,
    API_ERR_INVALID_ID,
    API_ERR_NOT_FOUND,
    API_ERR_METHOD_NOT_ALLOWED,
    API_ERR_NOT_IMPLEMENTED,
    API_ERR_UNAUTHORIZED,
    API_ERR_DUPLICATE_ID,
    API_ERR_JOB_FINISHED,
    API_ERR_NOT_RETRYABLE, /* a retry of a job neither failed nor canceled */
    API_ERR_QUEUE_FULL,
    API_ERR_PAYLOAD_TOO_LARGE,
    API_ERR_UNSUPPORTED_MEDIA_TYPE,
    API_ERR_MISSING_FIELD,
    API_ERR_INVALID_FIELD,
    API_ERR_UNKNOWN_FIELD,
    API_ERR_UNKNOWN_PIPELINE,
    API_ERR_REDIS_UNAVAILABLE,
    API_ERR_INTERNAL,
    API_ERR_COUNT
};

/* Answers ar with {"error":{"code","message"}} and e's status (plus
 * Retry-After for redis_unavailable). ar is freed. */
void errors_reply(struct api_req *ar, enum api_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* errors_reply with one more string member key: value in the error object
 * (the job's state of a 409, ...). key and value are borrowed. */
void errors_reply_with(struct api_req *ar, enum api_err e, const char *key, const char *value,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Answers ar with 503 redis_unavailable, the message saying why (err from a
 * rasync callback, or RASYNC_UNAVAILABLE when sending failed). ar is freed. */
void errors_reply_redis(struct api_req *ar, enum rasync_err err);
/* The same for a failure on ra (its rasync_why says why it is unavailable). */
void errors_reply_redis_on(struct api_req *ar, const struct rasync *ra, enum rasync_err err);

/* ---- health.c ---- */

/* GET /healthz: 200 {"status":"ok"}, never touches Redis. */
void health_live(struct api_req *ar);
/* GET /readyz: PING; 200 {"status":"ready","redis":"ok"} or 503. */
void health_ready(struct api_req *ar);

/* ---- jobs.c ---- */

/* POST /v1/jobs: validates and submits a job; 202 once it is in Redis. */
void jobs_submit(struct api_req *ar);
/* GET|HEAD /v1/jobs/{id}, and HEAD /v1/jobs/{id}/events (no stream): the job
 * status, 404 when missing or expired. */
void jobs_get(struct api_req *ar);
/* Sends HGETALL of job ar->id's hash; done gets the reply (read it with
 * jobs_status_from_reply). On a failure to send, ar is answered and freed. */
void jobs_read(struct api_req *ar, rasync_cb *done);
/* Reads an HGETALL reply of a job hash into its status (a new tree the caller
 * frees with cJSON_Delete; it borrows the reply's strings: print it, or
 * cJSON_Duplicate what must stay, before the reply callback returns). NULL
 * when it has already answered ar with an error
 * (Redis away or refusing, bad reply, out of memory), or with *is_missing set
 * and ar NOT answered when the job does not exist: the caller picks its 404. */
cJSON *jobs_status_from_reply(struct api_req *ar, const redisReply *reply, enum rasync_err err,
                              bool *is_missing);
/* DELETE /v1/jobs/{id}: cancel; 200, 404, or 409 when already finished. */
void jobs_cancel(struct api_req *ar);

/* Submits a job with id ar->id (already valid), pipeline p, queue, input
 * (the JSON text input[0..input_len) as the client sent it, valid JSON; NULL
 * = null: stored without its whitespace, its numbers untouched) and
 * result_ttl_s through the submit script, due at due_ms (ms since the epoch:
 * later than now makes it scheduled; 0 = at once); done gets the script's
 * reply (read it with jobs_submit_outcome). With --min-replicas N, done gets it only once
 * WAIT N confirmed it; else ar is answered 503 here. Returns 0 when sent; -1
 * when ar was already answered with an error (ar is then freed). Borrows
 * input. */
int jobs_submit_prepared(struct api_req *ar, const struct pipeline *p, const char *queue,
                         const char *input, size_t input_len, int result_ttl_s, int64_t due_ms,
                         rasync_cb *done);

/* Reads the submit script's reply: 1 the job was queued, 2 the same request
 * was submitted before (a retry: reply->str is the job's state), 0 another
 * job has this id, -1 ar was answered with an error (Redis, queue full) and
 * freed. */
int jobs_submit_outcome(struct api_req *ar, const redisReply *reply, enum rasync_err err);

/* Content-Type is application/json, optionally with parameters. */
bool jobs_is_json_type(const char *ct);
/* The body of POST ar: Content-Type must be JSON and the size within
 * --max-body. 0 with *body (NULL when empty) and *len set, or -1 when ar was
 * answered with the error (and freed). */
int jobs_body(struct api_req *ar, const char **body, size_t *len);
/* Reads the submit script's reply as jobs_submit_outcome does, and answers
 * 409 duplicate_id itself: 1 created, 2 the same request again (reply->str
 * is the job's state), or -1 when ar was answered (and freed). */
int jobs_submit_accepted(struct api_req *ar, const redisReply *reply, enum rasync_err err);
/* The most jobs one partition list of a queue of `partitions` may hold
 * (--max-queue max_queue); 0 = no limit. */
long long jobs_partition_limit(int max_queue, int partitions);
/* --min-replicas: sends WAIT on api->rdurable (the connection that wrote),
 * *want set to the replicas it asks for; cb gets its reply (read it with
 * jobs_durable_is_confirmed). 0 when sent, -1 when it could not be. */
int jobs_durable_wait(struct api *api, int *want, rasync_cb *cb, void *arg);
/* True when WAIT's reply says want replicas have the write. */
bool jobs_durable_is_confirmed(const redisReply *reply, int want);
/* Answers ar (job ar->id, written) 503 redis_unavailable: WAIT's reply (or
 * err) did not confirm want replicas. ar is freed. */
void jobs_durable_refuse(struct api_req *ar, const redisReply *reply, enum rasync_err err,
                         int want);
/* The submit script's reply to ar: answers 202 with the job's URLs (or
 * waits for its end under ?wait), or the error. A rasync_cb (arg: ar). */
void jobs_submit_done(const redisReply *reply, enum rasync_err err, void *arg);
/* The API error for a submit_parse error. */
enum api_err jobs_submit_api_err(enum submit_err_code code);

/* ---- bulk.c ---- */

/* The most jobs one POST /v1/jobs array may hold. */
#define BULK_MAX_JOBS 1000
/* POST /v1/jobs: a JSON object submits one job (jobs_submit); a JSON array
 * of them submits each, in one request: every job gets its own answer, in
 * order (202 when all were accepted, else 207). */
void bulk_post(struct api_req *ar);

/* ---- dashboard.c ---- */

/* GET|HEAD /: the dashboard page (api/dashboard.html, embedded at build
 * time), public, with its Content-Security-Policy; 304 on a matching
 * If-None-Match. */
void dashboard_page(struct api_req *ar);

/* ---- compat.c: the blog's routes (seed/status-monitoring-blog.txt) ---- */

/* POST /start_task and POST /start_task/{id}: body {"data": ...} optional;
 * runs cfg->default_pipeline. 200 {"message","task_id"}, 400 when the id exists. */
void compat_start_task(struct api_req *ar);
/* GET /task_status/{id}: {"task_id","status","result"}, 404 {"message"}. */
void compat_task_status(struct api_req *ar);

/* ---- pipelines.c ---- */

/* GET /v1/pipelines: what can run (no argv or env: they may hold secrets). */
void pipelines_list(struct api_req *ar);

/* ---- listing.c: the read-only overview routes ---- */

/* GET /v1/jobs?state=&pipeline=&limit=&cursor=: the recent jobs, newest
 * first, from the recent index; {"jobs":[...],"next_cursor":...}. */
void listing_jobs(struct api_req *ar);
/* GET /v1/stats: per queue queued/delayed/running/workers, workers_alive, and
 * job counts by state over the recent index. */
void listing_stats(struct api_req *ar);
/* GET /v1/workers: the live workers and their info. */
void listing_workers(struct api_req *ar);
/* Checks a request's query against the names it may hold (names:
 * NULL-terminated). 0, or -1 when ar was answered 400 (and freed). */
int listing_check_params(struct api_req *ar, const char *const *names);

/* ---- queues.c: the queues, pausing them ---- */

/* GET /v1/queues: every queue the pipelines file knows and every queue a
 * live worker serves, each with its partitions, depth, scheduled, running,
 * paused, rate limit and failed count: one round trip per step over every
 * partition. */
void queues_list(struct api_req *ar);
/* GET /v1/queues/{q} (ar->id): the same figures for one queue (any valid
 * name: one nobody knows has zeros). */
void queues_get(struct api_req *ar);
/* POST /v1/queues/{q}/pause: SETs <p>:{t}:paused:<q> (now, RFC 3339) in
 * every partition of q; 200 with the queue's figures. Submits are still
 * accepted; workers take nothing new from q. */
void queues_pause(struct api_req *ar);
/* POST /v1/queues/{q}/resume: DELs those keys and publishes <p>:wake:<q>;
 * 200 with the queue's figures. */
void queues_resume(struct api_req *ar);

/* ---- rerun.c: POST /v1/jobs/{id}/retry ---- */

/* A failed or canceled job goes back to queued (rerun.lua): 202 with its
 * status; 404 unknown; 409 not_retryable (with its state) otherwise. */
void rerun_post(struct api_req *ar);

/* ---- counters.c: this process's HTTP figures ---- */

#define COUNTERS_NHTTP_LE 14

/* One bucket of the HTTP latency histogram (seconds). */
struct counters_le {
    long long us;     /* upper bound in microseconds; -1 = +Inf */
    const char *text; /* the bound as printed */
};
/* The buckets: a request takes a millisecond or so. */
extern const struct counters_le counters_http_le[COUNTERS_NHTTP_LE];

/* Requests answered with one route, method and status. */
struct counters_reqs {
    const char *route, *method; /* static strings */
    int status;
    unsigned long long n;
};

/* The latency of one route's requests. */
struct counters_lat {
    const char *route;                             /* static */
    unsigned long long buckets[COUNTERS_NHTTP_LE]; /* not cumulative */
    long long sum_us;
};

/* Written by counters_note only; read by metrics.c. */
struct counters {
    struct counters_reqs *reqs;
    size_t nreqs, capreqs;
    struct counters_lat *lats;
    size_t nlats, caplats;
};

/* Returns a new, empty set of figures, or NULL (out of memory). Freed with
 * counters_free (NULL-safe). */
struct counters *counters_new(void);
void counters_free(struct counters *c);

/* Counts one answered request: route (a static pattern or "other"), method
 * name (static), status, and how long it took in microseconds. Without
 * memory for a new series the request is not counted. c may be NULL. */
void counters_note(struct counters *c, const char *route, const char *method, int status,
                   long long duration_us);

/* ---- live.c: the live workers ---- */

/* The live workers (lease not expired): ids and lease expiries (ms since
 * the epoch; -1 when the score is not a whole ms of a date), and the job each
 * runs (NULL when idle) from the partitions' current hashes. */
struct live {
    size_t n;
    char **ids;
    long long *expiry;
    char **jobs;
    /* current-hash pairs (worker id, job) read before the live list: on a
     * cluster one batch's replies come from several nodes in any order */
    char **pend;
    size_t npend;
    bool is_read;
};
/* ZRANGEBYSCORE <p>:{w}:workers <now> +inf WITHSCORES into args (initialized
 * here; the caller frees it). 0, or -1 when the key name is too long (args
 * is then untouched). */
int live_args(struct api *api, struct rargv *args);
/* Copies that command's reply into lv (zeroed by the caller). 0, or -1 (bad
 * reply, out of memory): lv may hold part of it; free it either way. */
int live_read(struct live *lv, const redisReply *r);
/* HGETALL of slot's current hash (<p>:{t}:current: worker id -> the job it
 * runs from that partition) into args (initialized here; the caller frees
 * it). 0, or -1 when the key name is too long (args untouched). */
int live_current_args(struct api *api, int slot, struct rargv *args);
/* Reads that command's reply into lv, before or after live_read (whichever
 * comes second joins them): the live workers it names get their job (a
 * worker runs one job at a time: the first seen stays). 0, or -1 (bad reply,
 * out of memory). */
int live_read_current(struct live *lv, const redisReply *r);
/* Frees what lv holds and zeroes it. */
void live_free(struct live *lv);

/* ---- locate.c: where a job's keys are, and every slot to merge over ---- */
/* Every slot of every partition of every queue the pipelines know
 * (pipeline_set_slots), ascending, into a new array the caller frees: returns
 * how many (>= 1), or -1 when memory ran out (*out NULL). */
int locate_slots(const struct api *api, int **out);
/* Finds job id (valid) from its id alone: sends HGETALL of its hash (nfields
 * 0) or HMGET of fields[0..nfields) to each slot it may live in
 * (pipeline_set_job_slots: one per distinct partition count, usually one),
 * in one batch. done gets the reply of the slot that has it, with *slot_out
 * (may be NULL) set to that slot, before the call; when none has it, a
 * missing reply (empty array, or all nil). A Redis error or a lost command:
 * done gets NULL and the reason. Returns 0 when sent (done is called exactly
 * once, later), -1 when nothing could be sent (done is never called).
 * Borrows fields and id for the call only. */
int locate_job(struct api *api, const char *id, const char *const *fields, size_t nfields,
               int *slot_out, rasync_cb *done, void *arg);

/* ---- metrics.c: GET /metrics (Prometheus text format 0.0.4) ---- */

/* GET /metrics: cluster-wide figures read from Redis (three round trips at
 * most), this process's HTTP figures (counters.c), stageq_redis_errors_total.
 * 503 when Redis does not answer. */
void metrics_get(struct api_req *ar);

/* ---- eta.c: the stage history behind the estimates ---- */

/* Starts reading every known pipeline's <p>:eta:<pipeline> once a second.
 * Needs api->base, api->cfg, api->pipelines and api->rasync. NULL when memory
 * ran out. */
struct eta *eta_new(struct api *api);
/* Call after rasync_free (its callbacks name the entries). NULL-safe. */
void eta_free(struct eta *e);
/* The status of a job (job_status_json_eta: with its estimates, from the
 * last figures read) from an HGETALL reply of the hash of job id (its key's:
 * a hash of the compact layout has no id field): the one place a
 * status is built from a reply. Returns a new tree the caller frees with
 * cJSON_Delete; it borrows the reply's strings (print it, or cJSON_Duplicate
 * what must stay, before the reply callback returns). NULL with *is_missing
 * set when the hash is empty (no such job); NULL alone when reply is NULL, a
 * Redis error or not a hash, or memory ran out. */
cJSON *eta_status_from_reply(struct api *api, const char *id, const redisReply *reply,
                             bool *is_missing);
/* The same status as JSON text written straight (job_status_text: the bytes
 * printing the tree gives, without the tree), for GET /v1/jobs/{id} and the
 * live events (sse.c). *text
 * (borrowed) and *len stay valid until the next call, which reuses the
 * memory (api->eta's). 0; -1 with *is_missing set when the hash is empty;
 * -1 alone when reply is NULL, a Redis error or not a hash, or memory ran
 * out. */
int eta_status_text(struct api *api, const char *id, const redisReply *reply, const char **text,
                    size_t *len, bool *is_missing);
/* Once the text of eta_status_text is sent: lets go of its memory when it
 * was a huge one. */
void eta_status_text_done(struct api *api);

/* ---- schedules.c: recurring jobs (the pipelines file's "schedules") ---- */

/* Starts the scheduler: every SCHEDULES_ROUND_MS it submits the due ticks
 * of every schedule of api->pipelines (each tick once cluster-wide: job id
 * "sched.<name>.<tick>", recorded in <p>:{w}:schedules). Needs api->base,
 * api->cfg, api->pipelines and api->rasync. NULL when memory ran out. */
struct schedules *schedules_new(struct api *api);
/* Call after rasync_free (its callbacks name the schedules). NULL-safe. */
void schedules_free(struct schedules *s);
/* GET /v1/schedules: each schedule with its last run (time and job id, from
 * the record) and next run. */
void schedules_list(struct api_req *ar);

/* ---- sse.c: live events (Server-Sent Events) over Redis pub/sub ---- */

/* Returns the events hub: a dedicated Redis connection (reconnecting with
 * backoff) SUBSCRIBEd to <prefix>:events while any stream or ?wait listens,
 * and until cfg->events_linger_ms after the last one left; shared by every
 * stream. NULL with err set when the host does not resolve or memory ran
 * out. Needs api->base, api->cfg and (to read jobs) api->rasync. */
struct sse *sse_new(struct api *api, const struct redis_url *url, struct sq_err *err);

/* Ends every stream cleanly and answers every held ?wait (202); later
 * requests are refused. Idempotent, NULL-safe. */
void sse_stop(struct sse *s);

/* sse_stop, closes the subscription and frees. Call after rasync_free (its
 * callbacks may still name the hub's entries). NULL-safe. */
void sse_free(struct sse *s);

/* GET /v1/jobs/{id}/events: the job's status now, then on every change;
 * ends after the final state. 404 when the job does not exist. */
void sse_job_events(struct api_req *ar);

/* GET /v1/events: the status of every job that changes; never ends. */
void sse_all_events(struct api_req *ar);
/* HEAD /v1/events: no stream; 200 with the headers of the JSON {}. */
void sse_all_events_head(struct api_req *ar);

/* Holds ar (a job just submitted, ar->id) until the job ends (200 with its
 * status) or wait_s seconds pass (202 with body plus "status"). Takes body
 * (the 202 body). ar is answered exactly once. */
void sse_wait(struct api_req *ar, int wait_s, cJSON *body);

#endif
