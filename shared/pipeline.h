/* pipeline: named, ordered lists of stages, and the settings that go with
 * them, from the built-in set ("demo", "echo") and the pipelines file
 * (STAGEQ_PIPELINES). A stage is either a builtin (a C function of the worker,
 * by name) or an exec stage (a program run by argv). Loading validates
 * everything and names file, pipeline, stage and field in its errors. */
#ifndef STAGEQ_PIPELINE_H
#define STAGEQ_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "cron.h"
#include "err.h"

#define PIPELINE_MAX_STAGES     64
#define PIPELINE_MAX_ATTEMPTS   100
#define PIPELINE_TIMEOUT_MAX_S  604800 /* a week */
#define PIPELINE_BACKOFF_MAX_S  86400
#define PIPELINE_MAX_JOBS_MAX   1000000000 /* "max_jobs" of a serve stage */
#define PIPELINE_MAX_RSS_MB_MAX 1048576    /* "max_rss_mb": 1 TiB */
#define PIPELINE_FILE_MAX_BYTES 1048576
#define PIPELINE_DEFAULT_FILE   "deploy/pipelines.json"

struct stage_def {
    char *name;     /* unique within its pipeline */
    char *builtin;  /* builtin stages: the function's name; NULL for exec stages */
    char **argv;    /* exec stages: NULL-terminated, argv[0] the program */
    char **env;     /* exec stages: extra "NAME=value" entries, NULL-terminated (may be NULL) */
    char *cwd;      /* exec stages: working directory (may be NULL) */
    int timeout_s;  /* 0 = none */
    bool is_serve;  /* exec stages: "serve": a warm program answers one request per job */
    int max_jobs;   /* serve: recycle the program after this many jobs; 0 = never */
    int max_rss_mb; /* serve: recycle it above this resident set (MiB); 0 = never */
    char *queue;    /* the queue whose pools run it; NULL: the job's queue (the pipeline's,
                       or the one the submit named) */
};

struct pipeline {
    char *name;
    char *description; /* may be NULL */
    char *queue;
    int max_attempts; /* >= 1 */
    int backoff_s;    /* retry k waits backoff_s * 2^(k-1) */
    int result_ttl_s;
    bool is_builtin; /* defined in the code, not in the file */
    bool is_resume;  /* a job run again restarts at its first unfinished stage */
    size_t nstages;
    struct stage_def *stages;
};

/* A queue declared in the file's "queues" section ({"name": {"partitions":
 * P, "rate_limit": {"jobs": N, "per_s": S}}}). A queue not declared there has
 * 1 partition and no rate limit. */
#define PIPELINE_RATE_JOBS_MAX  1000000
#define PIPELINE_RATE_PER_S_MAX 86400
struct queue_def {
    char *name;
    int partitions; /* 1..KEYS_PARTITIONS_MAX: its jobs spread over this many slots (keys.h) */
    int rate_jobs;  /* at most this many jobs taken per rate_per_s seconds, cluster-wide
                       (0: no limit); a rate-limited queue has 1 partition */
    int rate_per_s;
};

/* What a schedule does with the ticks that passed while no API ran. */
enum schedule_missed {
    SCHEDULE_MISSED_SKIP = 0, /* only a tick that is due now fires (default) */
    SCHEDULE_MISSED_RUN_ONCE, /* the newest missed tick fires once */
};

/* A recurring job of the file's "schedules" section: each tick submits one
 * job of pipeline with input, id "sched.<name>.<tick as Unix seconds>". */
struct schedule_def {
    char *name;     /* 1-IDS_NAME_MAX_LEN characters of [A-Za-z0-9._:-], unique */
    char *pipeline; /* a pipeline of the set */
    char *input;    /* JSON text as written in the file (numbers untouched), no whitespace;
                       "null" when absent */
    char *cron;     /* the expression as written; NULL for every_s */
    struct cron_expr expr;
    int every_s;    /* 1..CRON_EVERY_MAX_S; 0 for a cron schedule */
    char *timezone; /* cron only: an IANA name; NULL = UTC */
    enum schedule_missed missed;
    char *queue; /* NULL: the pipeline's */
};

#define PIPELINE_MAX_SCHEDULES 1000

struct pipeline_set {
    size_t n;
    struct pipeline *items;
    size_t nqueues;
    struct queue_def *queues;
    size_t nschedules;
    struct schedule_def *schedules;
    char *path; /* the file loaded, or NULL */
};

/* Builtin stage functions the worker provides, by name. NULL-terminated. */
extern const char *const pipeline_builtin_names[];

/* Returns a new set holding the built-in pipelines, with result_ttl_s set to
 * default_result_ttl_s; the caller frees it with pipeline_set_free. NULL with
 * err set on allocation failure. */
struct pipeline_set *pipeline_set_new_builtin(int default_result_ttl_s, struct sq_err *err);

/* Returns a new set: the built-in pipelines plus those of the JSON file at
 * path. A missing file is an error only when is_required (the default path
 * may be absent). With check_programs, every exec stage's program must exist
 * and be executable (looked up in PATH when it has no '/', relative paths
 * from the stage's cwd): the worker checks, the API (which runs no stage) does
 * not. NULL with err naming file, pipeline, stage and field on any problem. */
struct pipeline_set *pipeline_set_load(const char *path, bool is_required, bool check_programs,
                                       int default_result_ttl_s, struct sq_err *err);

/* The part of pipeline_set_load after reading the file: returns a new set, the
 * built-in pipelines plus those of the JSON text[0..len) (need not be
 * NUL-terminated), with path NULL; the caller frees it with pipeline_set_free.
 * name_for_errors (borrowed) starts every error message, as the path does for
 * pipeline_set_load. NULL with err set on any problem. Safe on any bytes. */
struct pipeline_set *pipeline_set_parse(const char *text, size_t len, const char *name_for_errors,
                                        bool check_programs, int default_result_ttl_s,
                                        struct sq_err *err);

/* Checks that the exec stages a pool serving queue runs can be started (as
 * check_programs does while loading): every exec stage of a pipeline whose
 * stages name no queue (a submit may send its jobs to any queue), and in one
 * whose stages name queues, those whose queue (pipeline_stage_queue with the
 * pipeline's queue) is this one. 0, or -1 with err naming file, pipeline,
 * stage and program. Borrows set. */
int pipeline_set_check_programs(const struct pipeline_set *set, const char *queue,
                                struct sq_err *err);

/* True when a stage of p names its own queue: its jobs move between queues
 * (the job hash then holds every stage's queue, stage.<k>.queue). */
bool pipeline_is_routed(const struct pipeline *p);

/* The queue stage k (1-based) of p runs on: its own, else home (the job's
 * queue: the pipeline's, or the one the submit named). Borrowed. */
const char *pipeline_stage_queue(const struct pipeline *p, size_t k, const char *home);

/* The "queues" entry of queue, or NULL when the file declares none. */
const struct queue_def *pipeline_set_queue(const struct pipeline_set *set, const char *queue);
/* The partition count of queue (its "queues" entry, else 1). */
int pipeline_set_partitions(const struct pipeline_set *set, const char *queue);
/* The distinct names of every queue the set knows: "default", each declared
 * queue, each pipeline's and stage's queue, in that order, into names[cap]
 * (borrowed from set): returns how many were written when cap is enough;
 * with less room (cap 0, names NULL: to size the array) an upper bound of
 * that count. set may be NULL ("default" alone). */
size_t pipeline_set_queue_names(const struct pipeline_set *set, const char **names, size_t cap);
/* The distinct slots of every partition of every queue the set knows (each
 * declared queue, each pipeline's and stage's queue, and "default"), sorted
 * ascending, into slots[cap]: returns how many there are (may exceed cap;
 * only cap are written). What the API reads to sum counters, merge the
 * recent indexes and list the workers' current jobs. */
int pipeline_set_slots(const struct pipeline_set *set, int *slots, int cap);
/* The slots job id[0..len) may live in: one per distinct partition count
 * among the queues the set knows (1 included), in ascending order of that
 * count, without repeats, into slots[cap]: returns how many (<= cap). What
 * the API tries, in order, to find a job from its id alone. */
int pipeline_set_job_slots(const struct pipeline_set *set, const char *id, size_t len, int *slots,
                           int cap);

/* The first tick of schedule sd strictly after after_s (Unix seconds): its
 * cron expression in its timezone, or the next multiple of every_s. -1 when
 * there is none (see cron_next). */
long long pipeline_schedule_next(const struct schedule_def *sd, long long after_s);
/* The name of "skip" / "run_once". Static. */
const char *pipeline_schedule_missed_name(enum schedule_missed m);

/* Borrowed pointer to the pipeline called name, or NULL. */
const struct pipeline *pipeline_set_find(const struct pipeline_set *set, const char *name);

void pipeline_set_free(struct pipeline_set *set);

#endif
