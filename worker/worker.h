/* worker.h: what the worker's modules share (beanstalkd's dat.h in spirit). */
#ifndef STAGEQ_WORKER_H
#define STAGEQ_WORKER_H

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "ids.h"
#include "keys.h"
#include "pipeline.h"
#include "rconn.h"
#include "redis_url.h"
#include "sentinel.h"

struct serve_pool;

#define WORKER_FETCH_TIMEOUT_MS 1000 /* BLMOVE wait; also how often stop is checked */
#define WORKER_PROGRESS_MIN_MS  50   /* at most ~20 progress writes/s per job */
#define WORKER_BACKOFF_MAX_MS   5000 /* Redis reconnect backoff cap */
#define WORKER_PROMOTE_MS       1000 /* how often due retries are moved to the queue */
#define WORKER_PROMOTE_BATCH    100  /* most retries moved at once */
#define WORKER_MASTER_CHECK_MS  1000 /* how often the sentinels are asked who is master */

/* A backlog of fast jobs is taken in batches (pipe.c): a worker holds the
 * jobs it took and has not begun, sends each job's end without waiting for
 * the reply, and takes the next batch in the end it sends once half of the
 * last one is done: it does not wait on Redis while the backlog lasts. */
#define WORKER_BATCH_MAX   32   /* jobs taken at once */
#define WORKER_BATCH_US    4000 /* a batch is about this much work, by the last job's time */
#define WORKER_HOLD_MAX_MS 50   /* a held job waits this long at most behind a slow one */
#define WORKER_HELD_MAX    (2 * WORKER_BATCH_MAX) /* jobs held: a batch and half of one */
#define WORKER_SENT_MAX    (2 * WORKER_BATCH_MAX) /* ends sent and not answered */
#define FINISH_NKEYS       6                      /* finish.lua's keys */
#define FINISH_ARG_TAKE    13 /* finish.lua's take count in its args (keys first) */
#define FINISH_ARG_SPEC    11 /* finish.lua's stage runs to record (ARGV[6]) */

#define WSTATS_RUNS     20   /* newest durations kept per stage (the ETA's window) */
#define WSTATS_FLUSH_MS 1000 /* stage runs are sent at most this often while busy */
#define WSTATS_MAX_VALS 64   /* distinct durations of a stage that make a flush due */

/* stats.c: the stage runs this worker saw since it last sent them (see
 * stats.lua): per pipeline and stage, the newest durations and how often
 * each duration (ms) occurred. */
struct wstat_val {
    long long ms, times;
};
struct wstat {
    const char *pipeline, *name; /* borrowed from the pipeline set */
    int k;
    long long runs[WSTATS_RUNS]; /* newest first */
    int nruns;
    struct wstat_val *vals;
    size_t nvals, cap;
};
struct wstats {
    struct wstat *v;
    size_t n, cap;
    long long pending;     /* runs since the last flush */
    bool is_full;          /* a stage has WSTATS_MAX_VALS distinct durations */
    int64_t last_flush_ms; /* monotonic */
};

void wstats_add(struct wstats *s, const char *pipeline, int k, const char *name, long long ms);
bool wstats_is_pending(const struct wstats *s);
/* Pending, and WSTATS_FLUSH_MS since the last flush (or is_full). */
bool wstats_is_due(const struct wstats *s, int64_t now_mono_ms);
/* stats.lua's spec of the pending runs; the caller frees it; NULL when out of memory. */
char *wstats_spec(const struct wstats *s);
/* The pending runs were recorded. */
void wstats_clear(struct wstats *s, int64_t now_mono_ms);
void wstats_free(struct wstats *s);

struct worker_config {
    char redis_url[1024];
    char prefix[KEYS_PREFIX_MAX_LEN + 1];
    char queue[IDS_NAME_MAX_LEN + 1];
    int concurrency;
    int grace_s;
    int redis_timeout_ms;
    char log_format[8];
    char log_level[8];
    char pipelines[1024]; /* "" = PIPELINE_DEFAULT_FILE when it exists */
    int result_ttl_s;
    int kill_grace_ms;
    int lease_s;
    int min_replicas;            /* a job's end is confirmed by WAIT on this many (0: not) */
    int min_replicas_timeout_ms; /* one WAIT's timeout */
};

/* A job's end sent without waiting for its reply (pipe.c). */
struct sent_finish {
    struct rargv args; /* finish.lua's, to send again when the reply is lost */
    char id[IDS_MAX_LEN + 1];
    int take; /* jobs it takes too (0: none) */
};

/* One worker child: its connection and names. */
struct worker {
    const struct worker_config *cfg;
    const struct pipeline_set *pipelines;
    struct rconn *rc;
    int index;    /* 1..concurrency */
    char id[256]; /* host:pid */
    char queue_key[KEYS_MAX_LEN];
    char processing_key[KEYS_MAX_LEN];
    char delayed_key[KEYS_MAX_LEN]; /* retries waiting for their backoff */
    int64_t last_promote_ms;        /* monotonic */
    bool is_queue_empty;            /* the last pop found nothing: wait in BLMOVE */
    /* lease and recovery (lease.c, recover.c) */
    char workers_key[KEYS_MAX_LEN];
    char info_key[KEYS_MAX_LEN];
    char alive_key[KEYS_MAX_LEN]; /* what Redis knows of its reachability (alive.lua) */
    char started_at[32];
    char current_job[IDS_MAX_LEN + 1]; /* "" when idle */
    int64_t last_heartbeat_ms;         /* monotonic; 0 = never */
    bool is_lease_failing;             /* the last renewal failed (logged once) */
    int64_t redis_offset_ms;           /* Redis's clock minus ours, at the last renewal */
    int64_t judge_at_ms;               /* Redis time from which others may be judged lost */
    int64_t last_recover_ms;           /* monotonic */
    volatile sig_atomic_t *stop;       /* set by SIGTERM/SIGINT in the child */
    struct serve_pool *serve;          /* warm stage programs (stage_serve.h); NULL until one runs */
    long long jobs_done;
    /* the jobs finish.lua took in the same call, oldest first (take.lua
     * replies: reserved — still queued — or started), consumed by fetch_next */
    redisReply *held[WORKER_HELD_MAX];
    size_t nheld;
    /* ends sent while jobs were held, their replies not read yet */
    struct sent_finish sent[WORKER_SENT_MAX];
    size_t nsent;
    bool is_take_sent; /* one of them takes jobs too */
    int64_t job_us;    /* how long a job runs here (moving average), for the batch size */
    bool is_take_lost; /* a finish-and-take reply was lost, or the connection was
                          replaced (maybe a new master): recover_own first */
    /* the held job the last end began (finish.lua's begin), "" when none:
     * the others are reservations, begun by start.lua when their turn comes */
    char begun[IDS_MAX_LEN + 1];
    /* Redis outages (wredis_log_down / wredis_log_up) */
    bool is_redis_down;               /* logged as down, not back yet */
    enum sentinel_status down_status; /* the discovery status logged */
    unsigned long connects_seen;      /* rconn_connects when last looked */
    int64_t last_master_check_ms;     /* monotonic (wredis_check_master) */
    struct wstats stats;
};

/* supervisor.c: forks cfg->concurrency children running worker_child_main,
 * respawns the dead with backoff, and on SIGTERM/SIGINT stops them (SIGKILL
 * after grace_s). Returns the process exit code (0 after a clean stop). */
int supervisor_run(const struct worker_config *cfg, const struct redis_url *url,
                   const struct pipeline_set *pipelines);

/* The body of one child; returns its exit code. */
int worker_child_main(const struct worker_config *cfg, const struct redis_url *url,
                      const struct pipeline_set *pipelines, int index);

/* fetch.c: the job finish.lua took (next_take), else waits up to
 * worker_fetch_timeout_ms for a queued job (take.lua with a backlog, else
 * BLMOVE + start.lua), moved onto this worker's processing list and marked
 * running; nothing new once the worker is stopping.
 * Returns 1 with id filled and *hash the job's HGETALL reply (caller frees
 * with freeReplyObject), 0 when nothing runnable arrived, -1 on a Redis error. */
int fetch_next(struct worker *w, char id[IDS_MAX_LEN + 1], redisReply **hash);

/* fetch.c: hands job id back to the front of its queue (requeue.lua: fenced
 * by attempt; stage k runs again, the ones before kept). is_unstarted: no
 * stage of it ran here, its attempt is given back. is_current: the job this
 * worker runs (its info hash says idle after it), not a held one. */
void worker_requeue(struct worker *w, const char *id, const char *queue, const char *attempt, int k,
                    bool is_unstarted, bool is_current);

/* fetch.c: the id of the held job this worker runs next ("" when it holds
 * none, or is stopping): the end of the job before names it current. */
void fetch_next_held_id(const struct worker *w, char id[IDS_MAX_LEN + 1]);

/* fetch.c: hands every held job back to the front of its queue, its attempt
 * given back (requeue.lua): the job running now is slow, or the worker stops. */
void fetch_hand_back(struct worker *w);

/* pipe.c: sends a job's end (finish.lua's args, owned from now on; take: the
 * jobs it takes too) without waiting: 0, or -1 when it could not be sent
 * (args still the caller's). */
int pipe_send_finish(struct worker *w, const char *id, struct rargv *args, int take);
/* pipe.c: reads the replies of the ends sent; sends again, waiting, those
 * whose reply was lost. The connection's drain hook (rconn_set_drain). */
void pipe_drain(void *worker);
/* pipe.c: reads the replies up to the end that takes the next batch, which
 * the worker holds then; the later ones stay pending. */
void pipe_collect(struct worker *w);
/* pipe.c: keeps the take replies of finish.lua's reply (taken, an array;
 * take: how many were asked: fewer means the queue ran empty). */
void pipe_hold(struct worker *w, redisReply *taken, int take);

/* fetch.c: sends the pending stage runs on their own (record.lua), one try. */
void fetch_record_stats(struct worker *w);

/* run.c: runs a started job through its stages, writing every change to
 * Redis; never fails the process. Borrows hash. */
void run_job(struct worker *w, const char *id, const redisReply *hash);

/* wredis.c: runs a script or a command and retries through Redis outages with backoff, so that a
 * state change is never dropped: it gives up only when the worker is stopping and grace_s has
 * passed since the first failure. Returns a reply the caller frees, or NULL when it gave up. A
 * REDIS_REPLY_ERROR reply is returned as such (not retried). */
redisReply *wredis_script(struct worker *w, enum script_id id, int nkeys, const struct rargv *args);
redisReply *wredis_command(struct worker *w, const struct rargv *args);

/* wredis.c: a job's end (finish.lua, retry.lua): written like wredis_script
 * and, with cfg->min_replicas, kept until WAIT confirms that many replicas
 * have it: an end not confirmed is written again (fenced: it changes nothing
 * the second time) with backoff, until confirmed or the worker is stopping
 * and grace_s has passed. is_again: an earlier try of this end may have been
 * written (a lost reply); *was_again (may be NULL): this reply answers a try
 * sent again, so a refusal may be our own first write. Returns as
 * wredis_script. */
redisReply *wredis_end(struct worker *w, enum script_id id, int nkeys, const struct rargv *args,
                       const char *job_id, bool is_again, bool *was_again);
/* wredis.c: with cfg->min_replicas, whether the end answered by r (read on
 * connection number conn, rconn_connects) is confirmed by WAIT; true
 * without min_replicas, for an error, or for a first try refused (nothing
 * of ours written). Logs an end not confirmed, and then asks the sentinels
 * (wredis_ask_master) before the caller writes it again. */
bool wredis_end_confirmed(struct worker *w, const redisReply *r, unsigned long conn,
                          const char *job_id, bool is_again);

/* wredis.c: true for an error reply that means "not now" (the master moved:
 * READONLY, UNBLOCKED, LOADING, MASTERDOWN, NOREPLICAS; or BUSY, TRYAGAIN,
 * CLUSTERDOWN): retried like an outage, never taken as the answer. */
bool wredis_is_transient(const char *s, size_t len);
/* wredis.c: logs a failed Redis call (what: the caller, msg: why) as a
 * warning once per outage, and again when the discovery's reason changes
 * (all sentinels unreachable, no sentinel knows the master, ...); the
 * repeats at debug level. */
void wredis_log_down(struct worker *w, const char *what, const char *msg);
/* wredis.c: notices a new connection since the last look (logged when it
 * replaces one; is_take_lost set, so that recover_own runs before the next
 * take: a new master may lack an end or a take the old one acknowledged). */
void wredis_check_conn(struct worker *w);
/* wredis.c: with a redis-sentinel URL, asks the sentinels which master they
 * name (and how many replicas they count healthy: what WAIT waits for) and
 * drops the connection when it is another one (a master demoted by a failover
 * serves its clients for seconds before Sentinel reconfigures it: writes
 * there would be lost). wredis_check_master does it at most every
 * WORKER_MASTER_CHECK_MS; wredis_ask_master now (after a WAIT that did not
 * confirm an end, before it is written again). */
void wredis_check_master(struct worker *w);
void wredis_ask_master(struct worker *w);
/* wredis.c: after a call that reached Redis: wredis_check_conn, and logs the
 * end of an outage. */
void wredis_log_up(struct worker *w);

/* lease.c: renews this worker's lease (and its info hash) when a quarter of
 * the lease has passed, or now with is_forced; one try (a failure is retried
 * at the next call). Also learns from Redis when others may be judged lost
 * (judge_at_ms, alive.lua). */
void lease_heartbeat(struct worker *w, bool is_forced);
/* lease.c: removes this worker from the live set (clean exit). */
void lease_release(struct worker *w);

/* recover.c: about every third of a lease, finds workers whose lease expired
 * and recovers the jobs on their processing lists (requeued while attempts
 * remain, else failed with worker_lost). recover.lua judges, on Redis's
 * clock: only once Redis has been reachable for a whole lease (alive.lua),
 * so that after an outage everybody has had a lease to renew. */
void recover_tick(struct worker *w);
/* Puts back what is on this worker's own processing list while it runs no job
 * (a pop whose reply was lost): as for a lost worker's jobs. 0, or -1 when
 * Redis failed meanwhile (call it again: some may still be there). */
int recover_own(struct worker *w);

/* The longest wait between Redis reconnect attempts: WORKER_BACKOFF_MAX_MS,
 * but at most an eighth of a lease, so that a worker renews soon after an
 * outage (see alive.lua for why). */
int worker_backoff_max_ms(const struct worker *w);
/* How long BLMOVE waits: WORKER_FETCH_TIMEOUT_MS, at most an eighth of a
 * lease, so that an idle worker renews on time. */
int worker_fetch_timeout_ms(const struct worker *w);

/* Sleeps ms milliseconds unless *stop is set (checked every 50 ms). */
void worker_sleep_ms(const struct worker *w, int ms);

#endif
