/* stage_exec_int: the parts of the exec runner that warm stage processes
 * (stage_serve.c) share with one-shot runs (stage_exec.c): spawning under the
 * stage protocol, stderr and progress line handling, reaping. Private to those
 * two files; like them it never touches Redis. */
#ifndef STAGEQ_STAGE_EXEC_INT_H
#define STAGEQ_STAGE_EXEC_INT_H

#include <stdbool.h>
#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

#include "stage_exec.h"

#define EXEC_LOG_LINE_MAX 1024 /* bytes of one stderr line that are logged */

/* A running program: its pid (also its process group id) and the parent's
 * ends of its pipes, all non-blocking and close-on-exec. fd_pid is a pidfd
 * (readable once the program exited), or -1 where the kernel has none. */
struct exec_child {
    pid_t pid;
    int fd_in, fd_out, fd_err, fd_prog, fd_pid;
};

/* A program's stderr: each line logged with job and stage (both borrowed),
 * the last EXEC_STDERR_TAIL bytes kept for a failure. Zero it to start. */
struct exec_stderr {
    const char *job, *stage;
    char line[EXEC_LOG_LINE_MAX];
    size_t line_len;
    bool is_line_cut;
    unsigned long lines_logged;
    char ring[EXEC_STDERR_TAIL];
    size_t ring_pos;
    unsigned long long ring_total;
};

/* A program's progress fd: each valid line goes to hooks->on_progress, each
 * invalid one is counted and logged. hooks NULL: lines are dropped unread
 * (a warm program between jobs). Zero it to start. */
struct exec_progress {
    const char *job, *stage;
    const struct exec_hooks *hooks;
    char line[EXEC_PROGRESS_LINE_MAX];
    size_t line_len;
    bool is_line_long;
    unsigned bad_lines;
};

/* Starts spec->argv in its own process group with fds 0..3 on pipes, signals
 * reset and PDEATHSIG, in spec->cwd, with the worker's environment + spec->env
 * and, when is_serve, STAGEQ_SERVE=1 (else the per-job STAGEQ_* variables of
 * spec); STAGEQ_PROGRESS_FD always. Returns 0 with c filled (c->pid > 0), or
 * 0 with c->pid == 0 and res->outcome EXEC_SPAWN_FAILED and res->message when
 * the program could not start, or -1 when the worker itself failed (res->message
 * says why). The caller owns c's fds and must exec_reap_all(c->pid). */
int exec_spawn(const struct exec_spec *spec, bool is_serve, struct exec_child *c,
               struct exec_result *res);

/* Kills what is left of pid's process group, reaps pid (its wait status is
 * returned, 0 when it was reaped elsewhere) and the group's other members,
 * then any other exited child except those marked with exec_keep_pid. */
int exec_reap_all(pid_t pid);

/* Marks pid as a warm program whose status its owner reads: stray reaping
 * leaves it alone. At most 256 such pids; unmark with is_kept false. */
void exec_keep_pid(pid_t pid, bool is_kept);

/* Has pid exited? It is left a zombie (WNOWAIT) so that its pid, which is also
 * the group id, cannot be reused before the group is killed. */
bool exec_child_has_exited(pid_t pid);

/* Fills pfd[] with the fds[0..n) that are open (>= 0): fds[0], the
 * program's stdin, for writing, the others for reading; slot[k] is the index
 * in fds of pfd[k]. Returns how many. */
int exec_pollfds(const int *fds, int n, struct pollfd *pfd, int *slot);

/* Fills res's outcome, fields and message from a wait status that is not a
 * clean exit 0: EXEC_SIGNAL or EXEC_EXIT. */
void exec_status_outcome(struct exec_result *res, int status);

/* Writes what it can of buf[*off..len). Returns 1 when done (or the program
 * does not read: EPIPE is expected and fine), else 0. */
int exec_write_some(int fd, const char *buf, size_t len, size_t *off);

/* Feeders of a stage program's stderr and fd 3: arg is a struct exec_stderr / exec_progress. */
void exec_stderr_feed(void *arg, const char *p, size_t n);
void exec_progress_feed(void *arg, const char *p, size_t n);

/* Ends the stderr text so far: logs a last line without its newline and
 * writes the kept tail, sanitized UTF-8, into tail; the kept bytes restart. */
void exec_stderr_finish(struct exec_stderr *e, char tail[EXEC_STDERR_TAIL + 1]);

/* Handles a last progress line without its newline. */
void exec_progress_finish(struct exec_progress *pr);

/* Copies the NUL-terminated UTF-8 string src into dst[cap], cut at a
 * character boundary when it does not fit. */
void exec_copy_utf8(char *dst, size_t cap, const char *src);

void exec_close_fd(int *fd); /* closes *fd when >= 0 and sets it to -1 */
void exec_sleep_ms(long ms);

#endif
