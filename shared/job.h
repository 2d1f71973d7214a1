/* job: the job model — its states, the fields of its Redis hash, and the
 * status JSON built from them. Knows nothing of connections.
 *
 * Lifecycle (the only place it is written down):
 *
 *   submit ──► queued ──(worker pops: start.lua)──► running ──► succeeded
 *     │          ▲                                    │  │
 *     │          └──── attempt failed, attempts left ─┘  ├──► failed
 *     └──► scheduled ──(due: moved onto the list)──┘     └──► canceled
 *
 * - scheduled: submitted with delay_s or run_at in the future. The hash has
 *   run_at (RFC 3339) and its id sits in <p>:delayed:<queue> (score = due
 *   ms) instead of the list. Once due, the workers move the id onto the list
 *   (a script may only touch the hashes it is given, so the hash keeps
 *   state=scheduled until a worker starts it: every script that begins,
 *   recovers, requeues or cancels a queued job treats a scheduled one the
 *   same way); the API shows a scheduled job whose run_at has passed as
 *   queued (job_state_shown).
 * - queued: the hash exists and its id is on <p>:queue:<queue>. attempt counts
 *   the attempts already started (0 before the first; "retrying" = queued with
 *   attempt >= 1).
 * - running: a worker moved the id to its <p>:processing:<worker> list and
 *   start.lua incremented attempt. Every write by that worker is fenced by the
 *   attempt number and refused once the job is no longer running under it.
 * - succeeded / failed / canceled: final. The hash then expires after
 *   result_ttl_s (failed: JOB_FAILED_TTL_FACTOR times longer). Expiry is the
 *   cleanup: nothing sweeps.
 *
 * While queued or running the hash carries JOB_ACTIVE_TTL_S, refreshed on
 * every write. Per-stage facts (k from 1): the field "stage.<k>" holds the
 * stage's name, state (pending|running|succeeded|failed|canceled) and times
 * (shared/stagefield.h), "stage.<k>.output" its output (JSON text; the last
 * stage's is the result once the job succeeded). Jobs written before that
 * layout hold stage.<k>.name, .state, .started_at and .finished_at instead:
 * both are read (docs/redis-keys.md, "The job hash"). */
#ifndef STAGEQ_JOB_H
#define STAGEQ_JOB_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "pipeline.h"
#include "rargv.h"

#define JOB_ACTIVE_TTL_S      604800   /* queued/running jobs: 7 days, refreshed on writes */
#define JOB_FAILED_TTL_FACTOR 7        /* failed jobs live this many times result_ttl_s */
#define JOB_RESULT_TTL_MAX_S  31536000 /* longest result_ttl_s accepted: a year */
/* result_ttl_s of a pipeline that names none, unless --result-ttl-s says
 * otherwise (the option's default in both daemons: JOB_STR of it) */
#define JOB_RESULT_TTL_DEFAULT_S 86400
#define JOB_STR_(x)              #x
#define JOB_STR(x)               JOB_STR_(x) /* a constant's digits as a string literal */

/* New states go last: the values are counted and indexed (JOB_NSTATES). */
enum job_state {
    JOB_QUEUED = 0,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_FAILED,
    JOB_CANCELED,
    JOB_SCHEDULED,
};
#define JOB_NSTATES 6

#define JOB_DELAY_MAX_S 31536000 /* longest delay_s, and run_at at most this far ahead: a year */

/* Hash field names. */
#define JOB_F_ID              "id"
#define JOB_F_PIPELINE        "pipeline"
#define JOB_F_QUEUE           "queue"
#define JOB_F_STATE           "state"
#define JOB_F_ATTEMPT         "attempt"
#define JOB_F_MAX_ATTEMPTS    "max_attempts"
#define JOB_F_INPUT           "input"
#define JOB_F_STAGE           "stage"
#define JOB_F_STAGE_NAME      "stage_name"
#define JOB_F_STAGE_COUNT     "stage_count"
#define JOB_F_PROGRESS        "progress"
#define JOB_F_MESSAGE         "message"
#define JOB_F_OVERALL         "overall_progress"
#define JOB_F_CREATED_AT      "created_at"
#define JOB_F_STARTED_AT      "started_at"
#define JOB_F_UPDATED_AT      "updated_at"
#define JOB_F_FINISHED_AT     "finished_at"
#define JOB_F_WORKER          "worker"
#define JOB_F_RESULT          "result"
#define JOB_F_ERROR           "error"
#define JOB_F_ERRORS          "errors"          /* every attempt's error, a JSON array */
#define JOB_F_NEXT_ATTEMPT_AT "next_attempt_at" /* when a retry waiting for its backoff runs */
#define JOB_F_RESULT_TTL      "result_ttl_s"
#define JOB_F_RESUME          "resume" /* "1": a rerun restarts at the unfinished stage */
#define JOB_F_RESUMED_FROM    "resumed_from_stage" /* the stage the current attempt started at */
#define JOB_F_SUCCESS_COUNT   "success_count"      /* times it was recorded succeeded: 1 */
#define JOB_F_NEXT_STAGE      "next_stage" /* a job handed over to another queue waits for it */
#define JOB_F_RUN_AT          "run_at"     /* when a scheduled job is due (RFC 3339) */

const char *job_state_name(enum job_state s);
/* 0 and *out set, or -1 for an unknown name. */
int job_state_parse(const char *name, enum job_state *out);
bool job_state_is_final(enum job_state s);

/* The state the API shows for a hash holding state (NULL: missing) and
 * run_at (NULL when absent) at now_ms: a scheduled job whose run_at has
 * passed (or is unreadable) is shown as queued — it waits on the list for a
 * worker, its hash unchanged until one starts it. Any other state as it is.
 * Returns a static string, or state itself (borrowed). */
const char *job_state_shown(const char *state, const char *run_at, int64_t now_ms);

/* TTL in seconds for a job hash entering state s. */
long long job_ttl_for(enum job_state s, int result_ttl_s);

/* (stage-1 + progress) / stage_count, clamped to [0, 1]. */
double job_overall_progress(int stage, int stage_count, double progress);

/* What a new job is made of; all borrowed. */
struct job_new {
    const char *id;
    const struct pipeline *pipeline;
    const char *queue;      /* the stages that name no queue run here; the job waits on
                               its first stage's (pipeline_stage_queue) */
    const char *input_json; /* the input printed as JSON text */
    int result_ttl_s;
    int64_t now_ms;
    const char *now_text; /* now_ms as clock_format_rfc3339 writes it (the jobs of a bulk
                             array share it), or NULL: formatted when needed */
    int64_t due_ms;       /* when it may run (ms since the epoch); <= now_ms: at once */
};

/* True when a job of jn starts scheduled (due later than now). */
bool job_new_is_scheduled(const struct job_new *jn);

/* TTL in seconds of a new job's hash: the active TTL, counted from the time
 * it is due when it is scheduled (it must outlive its wait). */
long long job_new_ttl(const struct job_new *jn);

/* Appends the field/value pairs of a new job's hash to out: state queued, or
 * scheduled with run_at when jn->due_ms is later than jn->now_ms. They are
 * job_new_fields_own's, then job_new_fields_shared's.
 * Returns 0, or -1 when memory ran out. */
int job_new_fields(struct rargv *out, const struct job_new *jn);
/* The fields of a new job that are its own: state, run_at (scheduled),
 * input (job_new_fields_state), then created_at, updated_at
 * (job_new_fields_time: the jobs of a bulk array share them, and
 * submit_many.lua gets them once a call). Each returns 0, or -1 when memory
 * ran out. */
int job_new_fields_own(struct rargv *out, const struct job_new *jn);
int job_new_fields_state(struct rargv *out, const struct job_new *jn);
int job_new_fields_time(struct rargv *out, const struct job_new *jn);
/* The fields every new job of the same pipeline, queue and result_ttl_s
 * shares (read from jn->pipeline, jn->queue, jn->result_ttl_s only): a bulk
 * submit sends them once for all such jobs (submit_many.lua).
 * Returns 0, or -1 when memory ran out. */
int job_new_fields_shared(struct rargv *out, const struct job_new *jn);

/* A read-only view of a hash as returned by HGETALL: fv[2i] is a field name,
 * fv[2i+1] its value (lens give the value lengths); n is the number of
 * strings (2 × fields). Borrowed. */
struct job_hash {
    const char *const *fv;
    const size_t *lens;
    size_t n;
    /* job_hash_view's index of the fields (open addressing: slot -> 1 + the
     * field's position in fv, 0 = empty); NULL: job_hash_get scans */
    const uint32_t *slots;
    size_t nslots; /* a power of two, > n */
    /* the job's id when the caller knows it (its key holds it): the id of a
     * hash without the field (job_hash_view sets NULL) */
    const char *id;
};

struct redisReply;

/* Fills h with a view over an HGETALL reply (strings borrowed from reply,
 * valid while it lives). Returns 0; -1 when the reply is not an array of an
 * even number of strings, or memory ran out (h is then empty). An empty hash
 * (no such job) gives 0 with h->n == 0. Free with job_hash_view_free. */
int job_hash_view(const struct redisReply *reply, struct job_hash *h);
void job_hash_view_free(struct job_hash *h);

/* Value of field `name`, or NULL. */
const char *job_hash_get(const struct job_hash *h, const char *name);

/* The job's id: its field (a job written before the compact layout), else
 * h->id (the key's); NULL when neither. */
const char *job_hash_id(const struct job_hash *h);

/* When the job ended: its finished_at, else (the compact layout, n stages:
 * job_is_compact) its updated_at when its state is final; NULL when it has
 * not ended or neither is there. */
const char *job_finished_at(const struct job_hash *h, long long n);

/* True when h is of the compact layout (stages.lua): no overall_progress
 * (derived: job_overall_progress), and a stage.<k> field among stages 1..n.
 * Such a job stores no progress while it is 0 (1 once succeeded). */
bool job_is_compact(const struct job_hash *h, long long n);

/* The progress a job of the compact layout has when it stores none: 1 when
 * succeeded, else 0. */
double job_progress_default(const struct job_hash *h);

/* overall_progress of a job of the compact layout (n stages), which does not
 * store it: job_overall_progress of its stage and progress (stored, else
 * job_progress_default), to 4 decimal places as the worker wrote it. */
double job_overall_of(const struct job_hash *h, long long n);

/* The numbers a worker runs a started job by. stageq wrote them (submit,
 * start.lua), but anyone with redis-cli may edit them: a field that is not a
 * whole number in its range (or is missing) falls back as noted, so that the
 * guarantees hold and the worker never crashes or wedges on it. */
struct job_numbers {
    int max_attempts; /* [1, PIPELINE_MAX_ATTEMPTS]; else the pipeline's (1 without one) */
    int attempt;      /* [1, INT_MAX]; else max_attempts: the last one, never retried (the
                         stored text stays the fence of the job's writes) */
    int result_ttl_s; /* [1, JOB_RESULT_TTL_MAX_S]; else the pipeline's, or
                         JOB_RESULT_TTL_DEFAULT_S without one */
    int stage_count;  /* [1, PIPELINE_MAX_STAGES]; else 0, which no pipeline has: the job
                         fails (pipeline_changed) */
    int stage;        /* [1, the pipeline's stage count]; else 1: it runs from its first
                         stage again (at least once) */
};

/* Reads n from h for pipeline pl (borrowed; NULL: the worker has none of
 * that name). Returns how many fields fell back; *bad_field (may be NULL)
 * names the first of them (NULL when none did). */
int job_numbers_read(const struct job_hash *h, const struct pipeline *pl, struct job_numbers *n,
                     const char **bad_field);

/* Builds the status object of DESIGN.md from a job hash. Returns a new tree the
 * caller frees with cJSON_Delete, or NULL when h is empty (no such job) or
 * memory ran out. Fields holding JSON text that does not parse appear as strings.
 * The tree is made to be printed: its strings are references into h's strings
 * (print it, or cJSON_Duplicate it, which copies them, before the reply behind h
 * is freed), and its numbers are mostly raw items holding their JSON text (read
 * them with json_number, not cJSON_IsNumber). job_status_json_eta, below,
 * builds it. */

/* What earlier runs of a pipeline took: mean_ms[k] is the mean duration of
 * stage k's recorded runs (see <p>:eta:<pipeline> in docs/redis-keys.md), or
 * -1 when stage k has no history yet. */
struct job_eta {
    int64_t mean_ms[PIPELINE_MAX_STAGES + 1]; /* [1..PIPELINE_MAX_STAGES] */
};

/* Fills eta from an HGETALL reply of <p>:eta:<pipeline> ("<k>" -> ms). */
void job_eta_from_hash(struct job_eta *eta, const struct job_hash *h);

/* The status object described above, plus the estimates, given the pipeline's history (eta may be
 * NULL: none) and the time now (ms since the epoch). Adds:
 * - "stage_eta_s": seconds left in the running stage, from its mean duration,
 *   its elapsed time and its progress; 0 once the job ended; null when not
 *   running or the stage has no history;
 * - "eta_s": seconds until the job ends (for a queued job: its stages' run
 *   time, not the wait in the queue); 0 once ended; null when a stage still to
 *   run has no history;
 * - per stage: "expected_s" (its mean, or null), "duration_s" once it
 *   finished, "elapsed_s" while it runs. */
cJSON *job_status_json_eta(const struct job_hash *h, const struct job_eta *eta, int64_t now_ms);

/* job_status_json_eta's answer as JSON text, byte for byte what printing its
 * tree (json_print) gives, written straight: no tree to build, print and
 * free. Appends to out (see json_buf). Returns 0; -1 when h is empty (no such
 * job; out is untouched) or memory ran out (out->is_oom). */
int job_status_text(const struct job_hash *h, const struct job_eta *eta, int64_t now_ms,
                    struct json_buf *out);

#endif
