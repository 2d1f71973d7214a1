/* stage_serve: warm stage programs, one request line in and one answer line
 * out per job. It must never trust the stream once it went wrong (the program
 * is then killed and started again), never leave a process behind, and never
 * touch Redis. */
#include "stage_serve.h"
#include "stage_exec_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "json.h"
#include "log.h"

#define SERVE_TICK_MS      90            /* should_stop period, under the promised 100 ms */
#define SERVE_DRAIN_MS     1000          /* after stdout's EOF: wait this long for the exit */
#define SERVE_READ_CHUNK   65536         /* bytes per read() of stdout */
#define SERVE_OUT_INITIAL  4096          /* first stdout buffer size */
#define SERVE_OUT_KEEP     (1024 * 1024) /* a larger buffer is freed after the job */
#define SERVE_WAIT_STEP_MS 10            /* poll step while waiting for programs to exit */
#define SERVE_BETWEEN_JOBS "(between jobs)"

/* One warm program. */
struct serve_proc {
    struct serve_proc *next;
    char *key; /* pipeline, cwd, argv and env, each length-prefixed */
    size_t key_len;
    char *label; /* the stage that started it, for log lines */
    struct exec_child c;
    bool is_exited; /* seen exited (a zombie until reaped) */
    struct exec_stderr err;
    struct exec_progress prog;
    char *out; /* stdout bytes not consumed yet */
    size_t out_len, out_cap;
    unsigned long jobs;
};

struct serve_pool {
    struct serve_proc *procs;
    int grace_ms;
};

/* ---- answers ---- */

static int answer_invalid(struct exec_result *res, const char *why)
{
    res->outcome = EXEC_INVALID_OUTPUT;
    snprintf(res->message, sizeof(res->message), "invalid answer on stdout: %s", why);
    return -1;
}

static int answer_error(const cJSON *e, struct exec_result *res)
{
    const cJSON *m = json_get(e, "message"), *r = json_get(e, "retryable");

    if (!cJSON_IsObject(e))
        return answer_invalid(res, "\"error\" must be an object");
    if (!cJSON_IsString(m))
        return answer_invalid(res, "\"error\" must have a \"message\" string");
    if (r != NULL && !cJSON_IsBool(r))
        return answer_invalid(res, "\"retryable\" must be true or false");
    res->outcome = EXEC_ERROR;
    res->is_permanent = cJSON_IsFalse(r);
    exec_copy_utf8(res->message, sizeof(res->message), m->valuestring);
    return 0;
}

int stage_serve_parse_answer(const char *line, size_t len, struct exec_result *res)
{
    struct json_err jerr;
    const cJSON *member;
    size_t off, vlen;
    cJSON *o;
    int rc;

    res->output = NULL;
    res->output_text = NULL;
    res->is_permanent = false;
    if (line == NULL || len == 0)
        return answer_invalid(res, "an empty line");
    if (memchr(line, '\n', len) != NULL)
        return answer_invalid(res, "more than one line");
    if (line[len - 1] == '\r')
        len--;
    o = json_parse_strict(line, len, JSON_MAX_DEPTH_DEFAULT, &jerr);
    if (o == NULL) {
        char why[200];

        snprintf(why, sizeof(why), "not JSON: %s", jerr.msg);
        return answer_invalid(res, why);
    }
    member = o->child;
    if (!cJSON_IsObject(o) || member == NULL || member->next != NULL ||
        (strcmp(member->string, "output") != 0 && strcmp(member->string, "error") != 0)) {
        cJSON_Delete(o);
        return answer_invalid(res, "must be {\"output\": ...} or {\"error\": {...}}");
    }
    if (strcmp(member->string, "error") == 0) {
        rc = answer_error(member, res);
        cJSON_Delete(o);
        return rc;
    }
    /* The value as the program wrote it: cJSON would print numbers lossily. */
    if (json_member_span(line, len, 0, &off, &vlen) < 0 ||
        (res->output_text = json_minify(line + off, vlen)) == NULL) {
        cJSON_Delete(o);
        return answer_invalid(res, "out of memory keeping the output");
    }
    res->output = cJSON_DetachItemViaPointer(o, o->child);
    cJSON_Delete(o);
    res->outcome = EXEC_OK;
    snprintf(res->message, sizeof(res->message), "ok");
    return 0;
}

/* ---- the pool ---- */

static int key_add(char **buf, size_t *len, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0, need = *len + n + 24;
    char *p = realloc(*buf, need);

    if (p == NULL)
        return -1;
    *buf = p;
    /* "-" for absent, "<len>:" before every string: no two specs collide */
    *len += (size_t)(s == NULL ? snprintf(p + *len, need - *len, "-")
                               : snprintf(p + *len, need - *len, "%zu:%s", n, s));
    return 0;
}

/* What makes two stages share a program: the pipeline, cwd, argv and env. */
static char *key_build(const struct exec_spec *spec, size_t *len)
{
    char *buf = NULL;
    size_t i;

    *len = 0;
    if (key_add(&buf, len, spec->pipeline) < 0 || key_add(&buf, len, spec->cwd) < 0)
        goto fail;
    for (i = 0; spec->argv[i] != NULL; i++)
        if (key_add(&buf, len, spec->argv[i]) < 0)
            goto fail;
    if (key_add(&buf, len, "|") < 0)
        goto fail;
    for (i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
        if (key_add(&buf, len, spec->env[i]) < 0)
            goto fail;
    return buf;
fail:
    free(buf);
    return NULL;
}

struct serve_pool *stage_serve_pool_new(int kill_grace_ms)
{
    struct serve_pool *pool = calloc(1, sizeof(*pool));

    if (pool != NULL)
        pool->grace_ms = kill_grace_ms > 0 ? kill_grace_ms : EXEC_KILL_GRACE_MS_DEFAULT;
    return pool;
}

size_t stage_serve_pool_size(const struct serve_pool *pool)
{
    const struct serve_proc *p;
    size_t n = 0;

    for (p = pool != NULL ? pool->procs : NULL; p != NULL; p = p->next)
        n++;
    return n;
}

static void proc_free(struct serve_proc *p)
{
    if (p == NULL)
        return;
    exec_close_fd(&p->c.fd_in);
    exec_close_fd(&p->c.fd_out);
    exec_close_fd(&p->c.fd_err);
    exec_close_fd(&p->c.fd_prog);
    exec_close_fd(&p->c.fd_pid);
    free(p->key);
    free(p->label);
    free(p->out);
    free(p);
}

static void proc_unlink(struct serve_pool *pool, struct serve_proc *p)
{
    struct serve_proc **pp;

    for (pp = &pool->procs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

/* The program's label and job for its log lines between jobs. */
static void proc_idle(struct serve_proc *p)
{
    p->err.job = p->prog.job = NULL;
    p->err.stage = p->prog.stage = p->label;
    p->prog.hooks = NULL;
}

/* Reads what stdout holds now, without blocking, into p->out (growing it up
 * to max + 1 bytes); a short read ends it (the pipe is empty: poll tells when
 * more comes). Returns 1 at EOF or error, -1 when memory ran out, else 0. */
static int proc_read_out(struct serve_proc *p, size_t max)
{
    for (;;) {
        size_t room;
        ssize_t n;

        if (p->out_len == p->out_cap) {
            size_t cap = p->out_cap == 0 ? SERVE_OUT_INITIAL : p->out_cap * 2;
            char *b;

            if (p->out_cap > max)
                return 0; /* already too large: the caller decides */
            if (cap > max + 1)
                cap = max + 1;
            b = realloc(p->out, cap);
            if (b == NULL)
                return -1;
            p->out = b;
            p->out_cap = cap;
        }
        room = p->out_cap - p->out_len;
        n = read(p->c.fd_out, p->out + p->out_len,
                 room < SERVE_READ_CHUNK ? room : SERVE_READ_CHUNK);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : 1;
        if (n == 0)
            return 1;
        p->out_len += (size_t)n;
        if ((size_t)n < (room < SERVE_READ_CHUNK ? room : SERVE_READ_CHUNK))
            return 0;
    }
}

/* Reads fd until it is empty (a short read or EAGAIN), feeding the bytes;
 * closes it at EOF. */
static void drain_fd(int *fd, void (*feed)(void *, const char *, size_t), void *arg)
{
    char buf[16384];

    while (*fd >= 0) {
        ssize_t n = read(*fd, buf, sizeof(buf));

        if (n > 0) {
            feed(arg, buf, (size_t)n);
            if ((size_t)n < sizeof(buf))
                return;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            if (n == 0 || errno != EAGAIN)
                exec_close_fd(fd);
            return;
        }
    }
}

/* Reads what stderr and the progress fd hold now. */
static void proc_drain_side(struct serve_proc *p)
{
    drain_fd(&p->c.fd_err, exec_stderr_feed, &p->err);
    drain_fd(&p->c.fd_prog, exec_progress_feed, &p->prog);
}

static bool proc_has_exited(struct serve_proc *p)
{
    if (!p->is_exited && exec_child_has_exited(p->c.pid))
        p->is_exited = true;
    return p->is_exited;
}

/* Which of stdout, stderr, the progress fd and the pidfd have something now
 * (one poll that does not wait: cheaper than a read of each on the hot path). */
enum { READY_OUT = 1, READY_ERR = 2, READY_PROG = 4, READY_PID = 8 };
static int proc_ready(const struct serve_proc *p)
{
    static const int bits[] = {READY_OUT, READY_ERR, READY_PROG, READY_PID};
    struct pollfd pfd[4] = {{p->c.fd_out, POLLIN, 0},
                            {p->c.fd_err, POLLIN, 0},
                            {p->c.fd_prog, POLLIN, 0},
                            {p->c.fd_pid, POLLIN, 0}};
    int i, ready = 0;

    if (poll(pfd, 4, 0) < 0)
        return READY_OUT | READY_ERR | READY_PROG | READY_PID; /* look at each */
    for (i = 0; i < 4; i++)
        if (pfd[i].revents != 0)
            ready |= bits[i];
    if (p->c.fd_pid < 0)
        ready |= READY_PID; /* no pidfd: ask waitid */
    return ready;
}

/* Reads what proc_ready found on stderr and the progress fd. */
static void proc_drain_ready(struct serve_proc *p, int ready)
{
    if (ready & READY_ERR)
        drain_fd(&p->c.fd_err, exec_stderr_feed, &p->err);
    if (ready & READY_PROG)
        drain_fd(&p->c.fd_prog, exec_progress_feed, &p->prog);
}

/* Waits until every program of v[0..n) has exited or the deadline passed,
 * reading their output meanwhile (stdout is dropped: the stream is over). */
static void procs_wait(struct serve_proc *const *v, size_t n, int64_t deadline)
{
    for (;;) {
        size_t i, left = 0;

        for (i = 0; i < n; i++) {
            struct serve_proc *p = v[i];

            proc_drain_side(p);
            if (p->c.fd_out >= 0) {
                p->out_len = 0;
                if (proc_read_out(p, SERVE_READ_CHUNK) != 0)
                    exec_close_fd(&p->c.fd_out);
            }
            if (!proc_has_exited(p))
                left++;
        }
        if (left == 0 || clock_mono_ms() >= deadline)
            return;
        exec_sleep_ms(SERVE_WAIT_STEP_MS);
    }
}

/* Stops the programs v[0..n): when is_gentle, closes their stdin and gives
 * them the grace to exit; SIGTERM to the groups still there, SIGKILL after
 * the grace; reaps them, frees them. Returns the wait status of v[0]. */
static int procs_stop(struct serve_pool *pool, struct serve_proc *const *v, size_t n,
                      bool is_gentle)
{
    char tail[EXEC_STDERR_TAIL + 1];
    size_t i;
    int status = 0;

    if (is_gentle) {
        for (i = 0; i < n; i++)
            exec_close_fd(&v[i]->c.fd_in);
        procs_wait(v, n, clock_mono_ms() + pool->grace_ms);
    }
    for (i = 0; i < n; i++) {
        exec_close_fd(&v[i]->c.fd_in);
        if (!proc_has_exited(v[i])) {
            kill(-v[i]->c.pid, SIGTERM);
            kill(-v[i]->c.pid, SIGCONT); /* a stopped process could not act on SIGTERM */
        }
    }
    procs_wait(v, n, clock_mono_ms() + pool->grace_ms);
    for (i = 0; i < n; i++) {
        struct serve_proc *p = v[i];
        int st;

        exec_keep_pid(p->c.pid, false);
        st = exec_reap_all(p->c.pid); /* SIGKILL to what is left */
        if (i == 0)
            status = st;
        proc_drain_side(p);
        exec_stderr_finish(&p->err, tail);
        log_write(LOG_LEVEL_INFO, 0, NULL,
                  "stage %s: warm program %d ended (%s %d) after %lu job(s)", p->label,
                  (int)p->c.pid, WIFSIGNALED(st) ? "signal" : "status",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), p->jobs);
        proc_unlink(pool, p);
        proc_free(p);
    }
    return status;
}

static int proc_stop(struct serve_pool *pool, struct serve_proc *p, bool is_gentle)
{
    return procs_stop(pool, &p, 1, is_gentle);
}

void stage_serve_pool_free(struct serve_pool *pool)
{
    struct serve_proc **v, *p;
    size_t n = stage_serve_pool_size(pool), i = 0;

    if (pool == NULL)
        return;
    v = n > 0 ? calloc(n, sizeof(*v)) : NULL;
    if (v != NULL) {
        for (p = pool->procs; p != NULL; p = p->next)
            v[i++] = p;
        procs_stop(pool, v, n, true); /* all at once: one grace for all */
        free(v);
    }
    while (pool->procs != NULL) /* out of memory above: one by one */
        proc_stop(pool, pool->procs, true);
    free(pool);
}

/* The program for spec: the pool's when it is still fit for a job, else a
 * new one. NULL with res filled (EXEC_SPAWN_FAILED) when it cannot start;
 * *rc -1 when the worker itself failed. */
static struct serve_proc *proc_get(struct serve_pool *pool, const struct exec_spec *spec,
                                   struct exec_result *res, int *rc)
{
    struct serve_proc *p;
    size_t klen;
    char *key = key_build(spec, &klen);

    *rc = -1;
    if (key == NULL) {
        snprintf(res->message, sizeof(res->message), "out of memory preparing the stage");
        return NULL;
    }
    for (p = pool->procs; p != NULL; p = p->next)
        if (p->key_len == klen && memcmp(p->key, key, klen) == 0)
            break;
    if (p != NULL) {
        int ready = proc_ready(p), got = 0;

        if (ready & READY_OUT)
            got = proc_read_out(p, SERVE_READ_CHUNK);
        proc_drain_ready(p, ready);
        if (got != 0 || ((ready & READY_PID) && proc_has_exited(p))) {
            int st;

            procs_wait(&p, 1, clock_mono_ms() + SERVE_DRAIN_MS); /* stdout closes first */
            st = proc_stop(pool, p, false);
            log_write(LOG_LEVEL_WARN, 0, spec->job_id,
                      "stage %s: the warm program exited between jobs (%s %d): starting it again",
                      spec->stage_name, WIFSIGNALED(st) ? "signal" : "status",
                      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            p = NULL;
        } else if (p->out_len > 0) {
            log_write(LOG_LEVEL_WARN, 0, spec->job_id,
                      "stage %s: the warm program wrote on stdout between jobs: starting it "
                      "again",
                      spec->stage_name);
            proc_stop(pool, p, false);
            p = NULL;
        }
    }
    if (p != NULL) {
        free(key);
        *rc = 0;
        return p;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL ||
        (p->label = strdup(spec->stage_name != NULL ? spec->stage_name : "")) == NULL) {
        free(p);
        free(key);
        snprintf(res->message, sizeof(res->message), "out of memory preparing the stage");
        return NULL;
    }
    p->key = key;
    p->key_len = klen;
    *rc = exec_spawn(spec, true, &p->c, res);
    if (*rc < 0 || p->c.pid == 0) {
        proc_free(p);
        return NULL;
    }
    exec_keep_pid(p->c.pid, true);
    proc_idle(p);
    p->next = pool->procs;
    pool->procs = p;
    log_write(LOG_LEVEL_INFO, 0, spec->job_id, "stage %s: warm program started, pid %d",
              spec->stage_name, (int)p->c.pid);
    return p;
}

/* The request line for this job, with its newline. NULL when memory ran out. */
static char *request_build(const struct exec_spec *spec, const char *input, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL, *flat = NULL, *line = NULL;
    size_t n;

    /* The text as stored, on one line: stored JSON has no raw newline inside
     * strings, so removing the whitespace outside them is enough. */
    if (strpbrk(input, "\r\n") != NULL &&
        (input = flat = json_minify(input, strlen(input))) == NULL)
        goto done;
    if (o == NULL ||
        cJSON_AddStringToObject(o, "job", spec->job_id != NULL ? spec->job_id : "") == NULL ||
        cJSON_AddStringToObject(o, "pipeline", spec->pipeline != NULL ? spec->pipeline : "") ==
            NULL ||
        cJSON_AddStringToObject(o, "stage", spec->stage_name != NULL ? spec->stage_name : "") ==
            NULL ||
        cJSON_AddNumberToObject(o, "stage_index", spec->stage_index) == NULL ||
        cJSON_AddNumberToObject(o, "stage_count", spec->stage_count) == NULL ||
        cJSON_AddNumberToObject(o, "attempt", spec->attempt) == NULL ||
        cJSON_AddRawToObject(o, "input", input) == NULL)
        goto done;
    text = cJSON_PrintUnformatted(o);
    if (text == NULL)
        goto done;
    n = strlen(text);
    line = malloc(n + 2);
    if (line != NULL) {
        memcpy(line, text, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        *len = n + 1;
    }
done:
    cJSON_free(text);
    cJSON_free(flat);
    cJSON_Delete(o);
    return line;
}

/* The resident set of pid in MiB, or -1 when /proc does not say. */
static long proc_rss_mb(pid_t pid)
{
    char path[64];
    unsigned long size, resident;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f;
    int got;

    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    got = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (got != 2 || page <= 0)
        return -1;
    return (long)(resident * (unsigned long)page / (1024 * 1024));
}

/* How the job's exchange ended, before the answer is read. */
enum serve_end {
    SERVE_END_ANSWER, /* a line arrived: p->out[0..nl) */
    SERVE_END_GONE,   /* the program exited or closed stdout */
    SERVE_END_LARGE,  /* stdout over max_output without a newline */
    SERVE_END_TIMEOUT,
    SERVE_END_STOPPED,
    SERVE_END_OOM,
};

enum { SFD_IN, SFD_OUT, SFD_ERR, SFD_PROG, SFD_PID, SFD_COUNT };

/* Writes the request and waits for the answer line, feeding stderr and
 * progress, checking the stop hook, the timeout and the output limit. */
static enum serve_end serve_exchange(struct serve_proc *p, const struct exec_spec *spec,
                                     const struct exec_hooks *hooks, const char *req,
                                     size_t req_len, size_t max, size_t *nl)
{
    int64_t now = clock_mono_ms(), next_check = now;
    int64_t deadline = spec->timeout_s > 0 ? now + (int64_t)spec->timeout_s * 1000 : 0;
    size_t off = 0, scanned = 0;
    bool has_stop_hook = hooks != NULL && hooks->should_stop != NULL;

    /* a request line fits the pipe most of the time: no poll for it */
    if (exec_write_some(p->c.fd_in, req, req_len, &off) && off < req_len)
        off = req_len; /* EPIPE: it stopped reading; its exit tells the rest */
    for (;;) {
        struct pollfd pfd[SFD_COUNT];
        int fdv[SFD_COUNT] = {off < req_len ? p->c.fd_in : -1, p->c.fd_out, p->c.fd_err,
                              p->c.fd_prog, p->c.fd_pid};
        int slot[SFD_COUNT], npfd, i, got;
        bool is_out = false, is_pid = p->c.fd_pid < 0; /* no pidfd: ask waitid each time */
        int64_t wake;
        char *hit;

        now = clock_mono_ms();
        if (has_stop_hook && now >= next_check) {
            next_check = now + SERVE_TICK_MS;
            if (hooks->should_stop(hooks->arg) != 0)
                return SERVE_END_STOPPED;
        }
        if (deadline != 0 && now >= deadline)
            return SERVE_END_TIMEOUT;
        npfd = exec_pollfds(fdv, SFD_COUNT, pfd, slot);
        wake = now + 100;
        if (has_stop_hook && next_check < wake)
            wake = next_check;
        if (deadline != 0 && deadline < wake)
            wake = deadline;
        if (p->c.fd_pid < 0 && now + SERVE_WAIT_STEP_MS < wake)
            wake = now + SERVE_WAIT_STEP_MS; /* no pidfd: poll the program's state */
        if (poll(pfd, (nfds_t)npfd, wake > now ? (int)(wake - now) : 0) < 0) {
            if (errno != EINTR)
                exec_sleep_ms(SERVE_WAIT_STEP_MS);
            continue;
        }
        for (i = 0; i < npfd; i++) {
            if (pfd[i].revents == 0)
                continue;
            switch (slot[i]) {
            case SFD_IN:
                if (exec_write_some(p->c.fd_in, req, req_len, &off) && off < req_len)
                    off = req_len; /* EPIPE: it stopped reading; its exit tells the rest */
                break;
            case SFD_ERR:
                drain_fd(&p->c.fd_err, exec_stderr_feed, &p->err);
                break;
            case SFD_PROG:
                drain_fd(&p->c.fd_prog, exec_progress_feed, &p->prog);
                break;
            case SFD_OUT:
                is_out = true;
                break;
            default:
                is_pid = true;
                break;
            }
        }
        if (!is_out) {
            if (is_pid && proc_has_exited(p))
                return SERVE_END_GONE;
            continue;
        }
        got = proc_read_out(p, max);
        if (got < 0)
            return SERVE_END_OOM;
        hit = p->out_len > scanned ? memchr(p->out + scanned, '\n', p->out_len - scanned) : NULL;
        if (hit != NULL) {
            *nl = (size_t)(hit - p->out);
            /* progress written before the answer comes first */
            proc_drain_ready(p, proc_ready(p));
            return SERVE_END_ANSWER;
        }
        scanned = p->out_len;
        if (p->out_len > max)
            return SERVE_END_LARGE;
        if (got == 1 || (is_pid && proc_has_exited(p)))
            return SERVE_END_GONE;
    }
}

/* The program ended mid-job: its exit (waited for a moment after a closed
 * stdout), its last stderr, then the failure. */
static void serve_gone(struct serve_pool *pool, struct serve_proc *p, struct exec_result *res)
{
    int status;

    procs_wait(&p, 1, clock_mono_ms() + SERVE_DRAIN_MS);
    exec_progress_finish(&p->prog);
    exec_stderr_finish(&p->err, res->stderr_tail);
    res->bad_progress_lines = p->prog.bad_lines;
    status = proc_stop(pool, p, false);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        res->outcome = EXEC_EXIT;
        res->exit_status = 0;
        snprintf(res->message, sizeof(res->message), "exited with status 0 before answering");
    } else {
        exec_status_outcome(res, status);
    }
}

int stage_serve_run(struct serve_pool *pool, const struct exec_spec *spec, const char *input,
                    const struct exec_hooks *hooks, struct exec_result *res)
{
    struct serve_proc *p;
    char *req = NULL;
    size_t req_len = 0, nl = 0;
    size_t max = spec->max_output > 0 ? spec->max_output : EXEC_MAX_OUTPUT_DEFAULT;
    int64_t t0 = clock_mono_ms();
    enum serve_end end;
    bool is_recycled = false, is_retry;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    if (spec->argv == NULL || spec->argv[0] == NULL || spec->argv[0][0] == '\0') {
        res->outcome = EXEC_SPAWN_FAILED;
        res->spawn_errno = EINVAL;
        snprintf(res->message, sizeof(res->message), "no program to run (empty argv)");
        return 0;
    }
    req = request_build(spec, input != NULL ? input : "null", &req_len);
    if (req == NULL) {
        snprintf(res->message, sizeof(res->message), "out of memory preparing the request");
        goto done;
    }
    for (is_retry = false;; is_retry = true) {
        bool was_warm;

        p = proc_get(pool, spec, res, &rc);
        if (p == NULL)
            goto done;
        rc = 0;
        /* from here on its stderr is this job's, and so are its progress
         * lines (proc_get read what came before) */
        exec_stderr_finish(&p->err, res->stderr_tail);
        p->err.job = p->prog.job = spec->job_id;
        p->err.stage = p->prog.stage = spec->stage_name != NULL ? spec->stage_name : "";
        p->prog.hooks = hooks;
        p->prog.line_len = 0;
        p->prog.is_line_long = false;
        p->prog.bad_lines = 0;
        p->out_len = 0;
        was_warm = p->jobs > 0;

        end = serve_exchange(p, spec, hooks, req, req_len, max, &nl);
        if (end != SERVE_END_GONE)
            break;
        was_warm = was_warm && p->out_len == 0;
        serve_gone(pool, p, res);
        /* A program that served jobs before and now exits 0 without a word
         * ended between jobs (max requests of its own, a race with this
         * request): the job goes, once, to a new one. */
        if (is_retry || !was_warm || res->outcome != EXEC_EXIT || res->exit_status != 0)
            goto done;
        log_write(LOG_LEVEL_INFO, 0, spec->job_id,
                  "stage %s: the warm program exited between jobs: starting it again",
                  spec->stage_name);
        memset(res, 0, sizeof(*res));
    }
    p->prog.hooks = NULL; /* a last line without its newline is not this job's */
    res->bad_progress_lines = p->prog.bad_lines;
    exec_stderr_finish(&p->err, res->stderr_tail);
    switch (end) {
    case SERVE_END_ANSWER:
        if (nl + 1 < p->out_len) {
            res->outcome = EXEC_INVALID_OUTPUT;
            snprintf(res->message, sizeof(res->message),
                     "invalid answer on stdout: more than one line");
        } else {
            stage_serve_parse_answer(p->out, nl, res);
        }
        break;
    case SERVE_END_LARGE:
        res->outcome = EXEC_OUTPUT_TOO_LARGE;
        snprintf(res->message, sizeof(res->message),
                 "output too large: more than %zu bytes on stdout", max);
        break;
    case SERVE_END_TIMEOUT:
        res->outcome = EXEC_TIMEOUT;
        snprintf(res->message, sizeof(res->message), "timed out after %d s", spec->timeout_s);
        break;
    case SERVE_END_STOPPED:
        res->outcome = EXEC_STOPPED;
        snprintf(res->message, sizeof(res->message), "stopped on request");
        break;
    default:
        res->outcome = EXEC_SPAWN_FAILED; /* never mistaken for EXEC_OK */
        snprintf(res->message, sizeof(res->message), "out of memory reading the stage output");
        rc = -1;
        break;
    }
    p->out_len = 0;
    if (p->out_cap > SERVE_OUT_KEEP) { /* a big answer: give the memory back */
        free(p->out);
        p->out = NULL;
        p->out_cap = 0;
    }
    proc_idle(p);
    if (res->outcome != EXEC_OK && res->outcome != EXEC_ERROR) {
        /* the stream can no longer be trusted, or the job must stop now */
        log_write(LOG_LEVEL_INFO, 0, spec->job_id, "stage %s: stopping the warm program: %s",
                  spec->stage_name, res->message);
        proc_stop(pool, p, false);
        goto done;
    }
    p->jobs++;
    if (spec->max_jobs > 0 && p->jobs >= (unsigned long)spec->max_jobs) {
        log_write(LOG_LEVEL_INFO, 0, spec->job_id,
                  "stage %s: warm program recycled after %lu job(s) (max_jobs)", spec->stage_name,
                  p->jobs);
        is_recycled = true;
    } else if (spec->max_rss_mb > 0) {
        long rss = proc_rss_mb(p->c.pid);

        if (rss > spec->max_rss_mb) {
            log_write(LOG_LEVEL_INFO, 0, spec->job_id,
                      "stage %s: warm program recycled: %ld MiB resident (max_rss_mb %d)",
                      spec->stage_name, rss, spec->max_rss_mb);
            is_recycled = true;
        }
    }
    if (is_recycled)
        proc_stop(pool, p, true);
done:
    free(req);
    res->duration_ms = clock_mono_ms() - t0;
    return rc;
}
