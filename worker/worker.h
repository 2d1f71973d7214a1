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
#define WORKER_PROMOTE_BATCH    100  /* most due delayed jobs a take moves onto a list */
#define WORKER_QUEUES_MAX       16   /* queues one pool serves (--queues) */
#define WORKER_WEIGHT_MAX       1000 /* a queue's weight in --queues high:6,low:1 */
#define WORKER_MASTER_CHECK_MS  1000 /* how often the sentinels are asked who is master */

/* A backlog of fast jobs is taken in batches (pipe.c): a worker holds the
 * jobs it took and has not begun, sends each job's end without waiting for
 * the reply, and takes the next batch in the end it sends once half of the
 * last one is done: it does not wait on Redis while the backlog lasts. */
#define WORKER_BATCH_MAX   32   /* jobs taken at once */
#define WORKER_BATCH_US    4000 /* a batch is about this much work, by the last job's time */
#define WORKER_FLUSH_US    500  /* an end waits this long at most to share a write */
#define WORKER_HOLD_MAX_MS 50   /* a held job waits this long at most behind a slow one */
#define WORKER_HELD_MAX    (2 * WORKER_BATCH_MAX) /* jobs held: a batch and half of one */
/* ends sent and not answered at most: the oldest reply is read before one
 * more is sent, so that an end waits in Redis behind at most WINDOW of its
 * worker's (4 calls of WORKER_GROUP_MAX fast ends), not behind a batch's.
 * With STAGEQ_MIN_REPLICAS every read reads them all and WAITs once: MAX. */
#define WORKER_SENT_WINDOW 32
/* ends that wait to share a write (and the fast ones one finish_many call)
 * at most: written then, or after WORKER_FLUSH_US */
#define WORKER_GROUP_MAX  8
#define WORKER_SENT_MAX   (2 * WORKER_BATCH_MAX)
#define WORKER_READ_MAX   WORKER_HELD_MAX /* held ids one call reserve-reads */
#define WORKER_PART_CHAIN 4 /* takes chained in one partition before the next (P > 1) */
#define FINISH_REPLY_LEN  5 /* {result, recorded, taken, read, meta} */
#define FINISH_ARGV_TAKE  8 /* finish.lua's take count (ARGV[8]) */
#define FINISH_ARGV_SPEC  6 /* finish.lua's stage runs to record (ARGV[6]) */
/* The index in a script's args (keys first) of its ARGV[n]. */
#define WORKER_ARGV(nkeys, n) ((size_t)(nkeys) + (size_t)(n)-1)

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
/* Adds to a the stage statistics keys (histogram, ETA) of each pipeline
 * spec (wstats_spec's; NULL or "" for none) names, in the slot of tag, in
 * the order stats.lua reads them. Returns how many keys, or -1 when a name
 * does not fit (some may have been added). */
int wstats_add_keys(struct rargv *a, const char *spec, const char *prefix, const char *tag);
/* The pending runs were recorded. */
void wstats_clear(struct wstats *s, int64_t now_mono_ms);
void wstats_free(struct wstats *s);

struct worker_config {
    char redis_url[1024];
    char prefix[KEYS_PREFIX_MAX_LEN + 1];
    char queue[IDS_NAME_MAX_LEN + 1];
    char queues[1024]; /* --queues: "a,b" (strict) or "a:6,b:1" (weighted); "" = queue */
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

struct pipe; /* pipe.c's batching state: the held jobs and the ends sent */
struct wake; /* wake.c: the subscription to the queue's wake channel */

/* A queue the pool serves (order.c). */
struct wqueue {
    char name[IDS_NAME_MAX_LEN + 1];
    int weight;         /* weighted order: 1..WORKER_WEIGHT_MAX; 0: strict order */
    int rate_jobs;      /* its rate limit (the pipelines file): jobs per window, 0: none */
    int rate_window_ms; /* the window */
    char wake_chan[KEYS_MAX_LEN]; /* <p>:wake:<q> */
    long long credit;             /* weighted order: its standing (order.c) */
};

/* The keys of one queue in one partition (takejob.lua's take_units). */
struct wunit {
    char queue_key[KEYS_MAX_LEN];
    char delayed_key[KEYS_MAX_LEN]; /* retries waiting for their backoff, scheduled jobs */
    char paused_key[KEYS_MAX_LEN];
    char rate_key[KEYS_MAX_LEN];
};

/* One partition of the worker's queues (keys.h; the queues a pool serves
 * have one partition count): its slot, tag and every key of it the worker
 * uses. Every call about a job names keys of the job's partition only
 * (worker_part), so no script touches two slots. */
struct wpart {
    int index; /* 0..nparts-1 */
    int slot;
    const char *tag;     /* keys_slot_tag's, borrowed */
    struct wunit *units; /* one per queue served, in w->queues' order */
    char processing_key[KEYS_MAX_LEN];
    char leases_key[KEYS_MAX_LEN];
    char alive_key[KEYS_MAX_LEN]; /* what its Redis knows of its reachability (alive.lua) */
    char current_key[KEYS_MAX_LEN];
    char counters_key[KEYS_MAX_LEN];
    bool has_lease;          /* renewed at least once (lease.lua) */
    int64_t redis_offset_ms; /* its Redis's clock minus ours, at the last renewal */
    int64_t judge_at_ms;     /* its Redis time from which others may be judged lost */
};

/* One worker child: its connection and names. */
struct worker {
    const struct worker_config *cfg;
    const struct pipeline_set *pipelines;
    struct rconn *rc;
    int index;           /* 1..concurrency */
    char id[256];        /* host:pid */
    struct wpart *parts; /* one per partition of its queues */
    int nparts;
    int part_next; /* where the next sweep starts (fair rotation) */
    struct wqueue queues[WORKER_QUEUES_MAX];
    int nqueues;
    bool is_weighted;               /* --queues with weights */
    char events_chan[KEYS_MAX_LEN]; /* <p>:events */
    struct wake *wake; /* the wake subscription (several partitions or queues, a pause, a limit) */
    const struct redis_url *url;
    /* what the last takes said (order.c): when to look again while idle */
    int64_t next_due_ms;   /* the earliest delayed job's due time (ms since the epoch), -1 none */
    int64_t rate_until_ms; /* monotonic: when a rate-limited queue with jobs may give one; 0 */
    bool is_paused_seen;   /* a queue was found paused */
    /* lease and recovery (lease.c, recover.c) */
    char workers_key[KEYS_MAX_LEN];
    char info_key[KEYS_MAX_LEN];
    char started_at[32];
    char current_job[IDS_MAX_LEN + 1]; /* "" when idle */
    bool is_unbegun;           /* fetch_next gave a job not begun in Redis yet (run.c begins it) */
    int64_t last_heartbeat_ms; /* monotonic; 0 = never */
    bool is_lease_failing;     /* the last renewal failed (logged once) */
    int64_t redis_offset_ms;   /* the registry Redis's clock minus ours */
    int64_t last_recover_ms;   /* monotonic */
    volatile sig_atomic_t *stop; /* set by SIGTERM/SIGINT in the child */
    struct serve_pool *serve;    /* warm stage programs (stage_serve.h); NULL until one runs */
    long long jobs_done;
    struct pipe *pipe; /* batching (pipe.c): read and written through pipe_* only */
    /* set by the child (child.c), called by wredis.c, which thus needs
     * neither the lease nor the batching: */
    void (*on_wait)(struct worker *w);     /* before each wait for Redis (renews the lease) */
    void (*on_new_conn)(struct worker *w); /* a new connection replaced one: a take may be lost */
    /* Redis outages (wredis_log_down / wredis_log_up) */
    bool is_redis_down;               /* logged as down, not back yet */
    enum sentinel_status down_status; /* the discovery status logged */
    unsigned long connects_seen;      /* rconn_connects when last looked */
    int64_t last_master_check_ms;     /* monotonic (wredis_check_master) */
    struct wstats stats;
};

/* supervisor.c: forks cfg->concurrency children running child_main,
 * respawns the dead with backoff, and on SIGTERM/SIGINT stops them (SIGKILL
 * after grace_s). Returns the process exit code (0 after a clean stop). */
int supervisor_run(const struct worker_config *cfg, const struct redis_url *url,
                   const struct pipeline_set *pipelines);

/* order.c: parses --queues ("a,b,c" strict, "a:6,b:3,c:1" weighted) into
 * qs (names and weights; the rest zeroed): 0, or -1 with err. */
int order_parse(const char *spec, struct wqueue *qs, int *n, bool *is_weighted, char *err,
                size_t cap);
/* order.c: the order the next take looks at the queues in (their numbers):
 * the given order when strict, by standing when weighted. */
void order_pick(const struct worker *w, int order[WORKER_QUEUES_MAX]);
/* order.c: adds take_units' keys of part, 4 per queue in order; returns
 * how many. */
int order_add_keys(struct rargv *a, const struct wpart *part, const int order[WORKER_QUEUES_MAX],
                   int nqueues);
/* order.c: adds take_units' spec (now, the promotion batch, each queue's
 * number, rate limit and wake channel, in order). */
void order_add_spec(struct rargv *a, const struct worker *w, const int order[WORKER_QUEUES_MAX]);
/* order.c: notes a take's answer meta ({u, next_due, rate_wait, looks,
 * promoted}) of
 * which `taken` jobs were taken: the standings, the earliest due time, the
 * rate wait, a pause seen. 0, or -1 for a reply of another shape. */
int order_note(struct worker *w, const redisReply *meta, int taken);
/* order.c: forgets the due time and rate wait (a new sweep learns them). */
void order_wait_reset(struct worker *w);
/* order.c: how long an idle worker may wait (1..cap_ms): until the earliest
 * due delayed job or the end of a rate wait, at most cap_ms. */
int order_wait_ms(const struct worker *w, int cap_ms);

/* part.c: the partition job id lives in (keys_part_of over the queue's
 * partition count; hops keep it: the queues of a pipeline have the same
 * count). Borrowed from w. */
const struct wpart *worker_part(const struct worker *w, const char *id);
/* part.c: the queues the pool serves (w->cfg's --queues, else --queue;
 * w->pipelines set): names, weights, rate limits, wake channels, and
 * w->nparts, their one partition count. 0, or -1 with err. */
int part_queues(struct worker *w, char *err, size_t cap);
/* part.c: fills w->parts (w->nparts of them, w->id and w->cfg set, the
 * queues known): the slot, tag and keys of each partition of the queues. 0,
 * or -1 when a name does not fit or memory ran out. */
int part_init(struct worker *w);
/* part.c: frees w->parts and their keys. */
void part_free(struct worker *w);
/* part.c: the number of the served queue named name, or -1. */
int part_queue_index(const struct worker *w, const char *name);

/* child.c: in a child just forked, SIGTERM and SIGINT set the stop flag
 * child_main watches, SIGCHLD is back to its default, and mask (the signal
 * mask before the supervisor blocked its own) is restored. */
void child_signals(const sigset_t *mask);
/* child.c: the body of one child (index 1..concurrency); returns its exit
 * code. */
int child_main(const struct worker_config *cfg, const struct redis_url *url,
               const struct pipeline_set *pipelines, int index);

/* wake.c: subscribes to the queue's wake channel (once; again after the
 * connection was lost) and drops the messages already there: the sweep that
 * follows finds their jobs. 0, or -1 when not subscribed (wake_wait then
 * sleeps a moment). */
int wake_subscribe(struct worker *w);
/* wake.c: waits up to timeout_ms for a wake message (or the stop flag): 1
 * when one came, 0 otherwise. */
int wake_wait(struct worker *w, int timeout_ms);
/* wake.c: closes and frees (NULL is allowed). */
void wake_free(struct wake *wk);

/* fetch.c: the job finish.lua took (next_take), else waits up to
 * WORKER_FETCH_TIMEOUT_MS (at most an eighth of a lease) for a queued job (take.lua with a backlog,
 * else BLMOVE + start.lua), moved onto this worker's processing list and marked running; nothing
 * new once the worker is stopping. Returns 1 with id filled and *hash the job's HGETALL reply
 * (caller frees with freeReplyObject), 0 when nothing runnable arrived, -1 on a Redis error. */
int fetch_next(struct worker *w, char id[IDS_MAX_LEN + 1], redisReply **hash);

/* fetch.c: hands job id back to the front of its queue (requeue.lua: fenced
 * by attempt; stage k runs again, the ones before kept). is_unstarted: no
 * stage of it ran here, its attempt is given back. is_current: the job this
 * worker runs (its info hash says idle after it), not a held one. */
void fetch_requeue(struct worker *w, const char *id, const char *queue, const char *attempt, int k,
                   bool is_unstarted, bool is_current);

/* fetch.c: the id of the held job this worker runs next ("" when it holds
 * none, or is stopping): the end of the job before names it current. */
void fetch_next_held_id(const struct worker *w, char id[IDS_MAX_LEN + 1]);

/* fetch.c: true when the held job this worker runs next may run unbegun: a
 * reservation of a first attempt at stage 1. The end before it then does not
 * begin it; fetch_next gives it with w->is_unbegun set. */
bool fetch_next_is_unbegun(const struct worker *w);

/* fetch.c: begins job id, run unbegun since ts (start.lua, the job's
 * started_at ts), as attempt: 0 when it is begun (or was: a begin whose reply
 * was lost), 1 when it is not ours to run any more (why: its state, or
 * "fenced"), -1 when Redis did not answer (one try; with is_retrying it
 * waits through outages first). */
int fetch_begin(struct worker *w, const char *id, const char *ts, bool is_retrying,
                const char *attempt, char why[32]);

/* fetch.c: hands every held job back to the front of its queue, its attempt
 * given back (requeue.lua): the job running now is slow, or the worker stops. */
void fetch_hand_back(struct worker *w);

/* pipe.c owns the batching state (struct pipe): the jobs held, the ends sent
 * without waiting and what they take, whether the queue ran empty, whether a
 * take may have been lost. Nothing else reads or writes it but through
 * these functions. */

/* pipe.c: a new, empty batching state (free with pipe_free, which frees what
 * it still holds; NULL is allowed), or NULL when out of memory. */
struct pipe *pipe_new(void);

/* pipe.c: the ends of a backlog's fast jobs are appended to the connection's
 * output and written together (one write, one read in Redis for several):
 * pipe_flush writes what waits; pipe_flush_due only once the oldest has
 * waited WORKER_FLUSH_US (called at each end and while a stage runs). Any
 * other call on the connection writes them first, and the worker flushes
 * before a stage program starts and before it waits for jobs. A write that
 * fails is a connection lost: the ends are sent again, as lost replies. */
void pipe_flush(struct worker *w);
void pipe_flush_due(struct worker *w);
void pipe_free(struct pipe *p);
/* pipe.c: sends a job's end (finish.lua's args with nkeys keys, owned from
 * now on; take: the jobs it takes too; is_read: it reads held ids) without waiting: 0, or -1 when
 * it could not be sent (args still the caller's). */
int pipe_send_finish(struct worker *w, const char *id, struct rargv *args, int nkeys, int take,
                     bool is_read);
/* pipe.c: reads the replies of the ends sent; sends again, waiting, those
 * whose reply was lost. The connection's drain hook (rconn_set_drain). */
void pipe_drain(void *worker);
/* pipe.c: when the worker holds no job and an end sent takes the next
 * batch, reads the replies up to that end, whose jobs the worker holds
 * then; the later ones stay pending. Otherwise nothing. */
void pipe_collect(struct worker *w);
/* pipe.c: keeps the ids finish.lua's reply rep took (bare: held until read)
 * and puts the reads it made in the place of the held ids they read (they
 * are detached from it; rep stays the caller's to free); take: how many were
 * asked (fewer, or none, means the queue ran empty: the worker waits once
 * they are done). */
void pipe_hold(struct worker *w, redisReply *rep, int take);
/* pipe.c: the same for take.lua's reply (an array of bare ids; a sweep:
 * the chain of takes in ends starts again) and for start.lua's reads. */
void pipe_hold_taken(struct worker *w, redisReply *taken);
void pipe_hold_reads(struct worker *w, redisReply *reads);
/* pipe.c: up to max held bare ids of partition part that no end sent reads
 * yet (is_all: also those), copied into ids and marked as read: the call
 * being built names their keys. Returns how many. */
size_t pipe_bare_ids(struct worker *w, const struct wpart *part, bool is_all,
                     char ids[][IDS_MAX_LEN + 1], size_t max);
/* pipe.c: the job id of a held entry or a read (a bare id, a start or
 * reservation reply, a skip); "" when there is none. */
void pipe_reply_id(const redisReply *r, char id[IDS_MAX_LEN + 1]);
/* pipe.c: plans the end of a job that ran us microseconds (and learns the
 * batch size from it). Returns 1 when the end may be sent without waiting
 * (may_defer: a success, and the worker holds jobs), with *take the jobs it
 * takes too (the next batch, once half of the held ones are left; else 0);
 * 0 when it must wait for its reply, with *take the jobs it takes (a batch
 * while the queue has a backlog and no take is pending or lost; else 0). */
int pipe_plan_end(struct worker *w, int64_t us, bool may_defer, int *take);
/* pipe.c: the worker holds jobs, or an end sent takes some. */
bool pipe_is_busy(const struct worker *w);
/* pipe.c: the worker drains a backlog: pipe_is_busy, or the last take an
 * end made took all it asked (jobs waited in the queue behind the one it
 * runs). Fast stage transitions are coalesced then (run.c), not when the
 * worker runs one job while others are idle: a watcher sees each stage. */
bool pipe_has_backlog(const struct worker *w);
/* pipe.c: the oldest held job's take reply (borrowed), or NULL. */
const redisReply *pipe_peek_held(const struct worker *w);
/* pipe.c: takes the oldest held job's take reply (the caller frees it), or
 * NULL when none is held; begun: the id of the held job the last end began
 * ("" when none; forgotten now). */
redisReply *pipe_next_held(struct worker *w, char begun[IDS_MAX_LEN + 1]);
/* pipe.c: takes the newest held job's take reply (the caller frees it), or
 * NULL; what the last end began is forgotten (handing the held jobs back). */
redisReply *pipe_newest_held(struct worker *w);
/* pipe.c: the end being written begins held job id ("": none). */
void pipe_set_begun(struct worker *w, const char *id);
/* pipe.c: the last pop found the queue empty (wait in BLMOVE). */
bool pipe_is_queue_empty(const struct worker *w);
void pipe_set_queue_empty(struct worker *w, bool is_empty);
/* pipe.c: a take's reply may have been lost (or the connection was replaced,
 * maybe by a new master): jobs may sit on our processing list that nobody
 * runs; recover_own puts them back once the worker holds none, and then
 * pipe_set_take_recovered. No take is sent meanwhile. */
void pipe_set_take_lost(struct worker *w);
bool pipe_is_take_lost(const struct worker *w);
void pipe_set_take_recovered(struct worker *w);

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

/* wredis.c: logs a failed Redis call (what: the caller, msg: why) as a
 * warning once per outage, and again when the discovery's reason changes
 * (all sentinels unreachable, no sentinel knows the master, ...); the
 * repeats at debug level. */
void wredis_log_down(struct worker *w, const char *what, const char *msg);
/* wredis.c: notices a new connection since the last look (logged when it
 * replaces one, and on_new_conn called: recover_own runs before the next
 * take, as a new master may lack an end or a take the old one acknowledged). */
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

/* wredis.c: the longest wait between Redis reconnect attempts:
 * WORKER_BACKOFF_MAX_MS, but at most an eighth of a lease, so that a worker
 * renews soon after an outage (see alive.lua for why). */
int wredis_backoff_max_ms(const struct worker *w);

/* wredis.c: sleeps ms milliseconds unless *stop is set (checked every 50 ms). */
void wredis_sleep_ms(const struct worker *w, int ms);

#endif
