/* stage_serve: runs `exec` stages declared "serve": true on warm programs,
 * started once (lazily, when a job first needs one) and kept across jobs,
 * under the serve protocol of docs/stage-protocol.md: one JSON request line
 * per job on the program's stdin, one JSON answer line on its stdout,
 * progress on fd 3 as in one-shot mode. Stages of one pipeline whose argv,
 * cwd and env are identical share one program. A program that crashes,
 * answers out of protocol, times out or is stopped is killed with its whole
 * process group and started again for the next job; max_jobs and max_rss_mb
 * recycle it. Same shape as stage_exec.h: borrowed specs, the same hooks and
 * result; never touches Redis. */
#ifndef STAGEQ_STAGE_SERVE_H
#define STAGEQ_STAGE_SERVE_H

#include <stddef.h>

#include "stage_exec.h"

/* The warm programs of one worker process. */
struct serve_pool;

/* Returns a new, empty pool the caller frees with stage_serve_pool_free, or
 * NULL when memory ran out. kill_grace_ms (0: EXEC_KILL_GRACE_MS_DEFAULT) is
 * how long a program has to exit after its stdin closes, then after SIGTERM. */
struct serve_pool *stage_serve_pool_new(int kill_grace_ms);

/* Stops every program of the pool, all at once: closes their stdin (a
 * serving program exits 0 on EOF), SIGTERM to the groups still there after
 * the grace, SIGKILL after another; reaps them; frees the pool. NULL is fine.
 * Blocks up to twice the grace. */
void stage_serve_pool_free(struct serve_pool *pool);

/* How many programs the pool holds (running or not yet reaped). */
size_t stage_serve_pool_size(const struct serve_pool *pool);

/* Runs one job's stage on the warm program for spec (started first when the
 * pool has none, or when the one it had exited), with input (JSON text,
 * NUL-terminated, borrowed; NULL = null) as the request's "input". spec->job_id,
 * pipeline, stage_name, stage_index, stage_count and attempt go in the
 * request. Returns 0 with *res filled, whatever the outcome: EXEC_OK (output
 * and output_text, as stage_exec_run), EXEC_ERROR (the program's message and
 * is_permanent), or a failure with stderr_tail (EXEC_EXIT and EXEC_SIGNAL when
 * the program ended mid-job). -1 only when the worker itself failed, with
 * res->message saying why. Blocks the calling process. */
int stage_serve_run(struct serve_pool *pool, const struct exec_spec *spec, const char *input,
                    const struct exec_hooks *hooks, struct exec_result *res);

/* Parses one answer line line[0..len) (without its newline): {"output": any}
 * or {"error": {"message": "...", "retryable": bool}} ("retryable" defaults to
 * true), nothing else. Returns 0 with res->outcome EXEC_OK (res->output a new
 * tree the caller frees with cJSON_Delete, res->output_text the value as
 * written, without whitespace outside strings, freed with cJSON_free) or
 * EXEC_ERROR (res->message, res->is_permanent); -1 with res->outcome
 * EXEC_INVALID_OUTPUT and res->message saying what is wrong. Safe on any
 * bytes. */
int stage_serve_parse_answer(const char *line, size_t len, struct exec_result *res);

#endif
