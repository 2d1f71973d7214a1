/* stagefield: the per-stage fields of a job hash, the C side of
 * shared/scripts/inc/stages.lua (docs/redis-keys.md, "The job hash"). Stage
 * k is one field, stage.<k> = "<name> <state> [<time>] [<time>]" (single
 * spaces): the state a letter (p pending, r running, s succeeded, f failed,
 * c canceled; another word as it is), a time in ms after the job's
 * created_at (after the epoch when created_at is not a time stageq writes),
 * "-" unknown. One time is a running stage's start, the end of another; a
 * start not given is at the end of the stage before (stage 1: at the job's
 * started_at); two times are the start and the end. Its output is
 * stage.<k>.output. Jobs written before this layout hold stage.<k>.name,
 * .state, .started_at and .finished_at instead.
 * Reads a stage in either layout, and turns the field, value pairs a worker
 * writes (worker/run.c names them as the older layout did) into this one.
 * Knows nothing of connections. */
#ifndef STAGEQ_STAGEFIELD_H
#define STAGEQ_STAGEFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "pipeline.h"

struct job_hash;
struct rargv;

#define STAGEFIELD_TEXT_MAX 136 /* bytes of name and state kept (more: edited by hand, cut) */

/* One stage as read. */
struct stagefield {
    const char *name;         /* NULL when unknown */
    const char *state;        /* NULL when unknown (pending) */
    const char *started_at;   /* RFC 3339 UTC with ms; NULL when unknown */
    const char *finished_at;  /* likewise */
    bool is_compact;          /* read from stage.<k>: the strings are held here, not borrowed */
    bool is_started_implicit; /* its start not given (stagefield_get resolves it) */
    char text[STAGEFIELD_TEXT_MAX];
    char started[CLOCK_RFC3339_LEN], finished[CLOCK_RFC3339_LEN];
};

/* The base of the stage times of h: its created_at in ms since the epoch,
 * or 0 when created_at is not a time stageq writes. */
int64_t stagefield_base(const struct job_hash *h);

/* Reads the value v (len bytes) of a stage.<k> field into s (times from
 * base_ms; a start not given is left unknown, is_started_implicit set). Never
 * fails: a value edited by hand gives what can be read of it, as stages.lua
 * reads it (without a space, or with more than three: a name alone; a time
 * that is not a whole number: unknown). */
void stagefield_parse(const char *v, size_t len, int64_t base_ms, struct stagefield *s);

/* Reads stage k of h into s, from stage.<k> (a start not given resolved) or the
 * older fields (base_ms: stagefield_base(h)). The strings are borrowed from
 * h, or held by s (s->is_compact). True when h holds anything of stage k. */
bool stagefield_get(const struct job_hash *h, long long k, int64_t base_ms, struct stagefield *s);

/* A worker's writes to the job it runs: what it knows of the job's fields,
 * to write them in this layout. */
struct stagefield_run {
    int64_t base_ms;
    const struct pipeline *pl;        /* borrowed: the stages' names */
    bool has_progress, has_message;   /* the job holds them (written by this run) */
    bool next_progress, next_message; /* what they are once the last write is written */
    struct stagefield_mine {
        char state[16];
        char t0[24], t1[24]; /* time tokens; "" unknown, t0 "=" at the end of the one before */
        char finished_at[CLOCK_RFC3339_LEN]; /* as the worker wrote it: the next one's "=" */
        bool is_t0_known; /* its start is t0: else the stored one is kept ('.keep') */
    } st[PIPELINE_MAX_STAGES + 1];
};

/* Starts sr for the job started as hash h (start.lua's reply, or a
 * reservation's: reserved; its stage and stage.<stage>) of pipeline pl
 * (borrowed; NULL when the worker has none of that name: the job's stored
 * names are kept). */
void stagefield_run_init(struct stagefield_run *sr, const struct job_hash *h,
                         const struct pipeline *pl);

/* Appends to out the field, value pairs of in (field, value, ...: stage.<k>.state,
 * .started_at, .finished_at, .output, job fields), written in this layout
 * for the scripts' fields_apply: stage.<k> values, no overall_progress, no
 * field that says nothing (not written, or deleted when the job holds it:
 * '.del'), no last stage output beside an equal result; '.keep' "k ..." for
 * the stages whose name and start are the ones stored (this run did not
 * write them). Returns 0, or -1 when memory ran out.
 * stagefield_run_written(sr) once it is written. */
int stagefield_run_write(struct stagefield_run *sr, const struct rargv *in, struct rargv *out);
void stagefield_run_written(struct stagefield_run *sr);

#endif
