/* stage_exec: runs one `exec` stage program under the stage protocol: fork +
 * execve (never a shell) in a new process group, input on stdin, output on
 * stdout, progress on fd 3, stderr logged. It must never leave a process, a
 * zombie or a file descriptor behind, and never trust what the program does. */
#include "stage_exec.h"
#include "stage_exec_int.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "exec_path.h"
#include "json.h"
#include "log.h"

extern char **environ;

#define EXEC_TICK_MS     90    /* should_stop period, under the promised 100 ms */
#define EXEC_DRAIN_MS    1000  /* after the main child exits: wait this long for EOF */
#define EXEC_REAP_MS     1000  /* bound on reaping the killed group */
#define EXEC_READ_CHUNK  65536 /* bytes per read() */
#define EXEC_OUT_INITIAL 65536 /* first stdout buffer size */

#define EXEC_LOG_LINES_MAX     10000 /* stderr lines logged per run, then only the tail */
#define EXEC_BAD_PROGRESS_LOGS 3     /* invalid progress lines logged per run */
#define EXEC_FD_SCAN_MAX       65536 /* close loop bound when close_range is missing */
#define EXEC_KEPT_MAX          256   /* warm programs a stray reap leaves alone */

/* What a child that could not exec tells its parent through the CLOEXEC pipe. */
enum spawn_step { SPAWN_STEP_SETUP = 1, SPAWN_STEP_CHDIR, SPAWN_STEP_EXEC };
struct spawn_report {
    int step;
    int err;
};

/* A growable array of owned strings, NULL-terminated (for execve). */
struct strvec {
    char **v;
    size_t n, cap;
};

/* The state of one run, on the parent's stack. */
struct exec_run {
    const struct exec_spec *spec;
    const struct exec_hooks *hooks;
    struct exec_result *res;
    const char *job;   /* for log lines; may be NULL */
    const char *stage; /* never NULL */
    pid_t pid;         /* also the process group id */

    char *out;
    size_t out_len, out_cap, out_max;

    struct exec_stderr err;
    struct exec_progress prog;

    bool is_stopping; /* SIGTERM sent to the group */
    bool is_stop_requested, is_timed_out, is_too_large, is_oom;
    long long kill_at; /* monotonic ms of the SIGKILL escalation */
};

static pid_t kept_pids[EXEC_KEPT_MAX];
static const struct exec_hooks exec_no_hooks = {NULL, NULL, NULL};

void exec_keep_pid(pid_t pid, bool is_kept)
{
    size_t i;

    for (i = 0; i < EXEC_KEPT_MAX; i++) {
        if (is_kept && kept_pids[i] == 0) {
            kept_pids[i] = pid;
            return;
        }
        if (!is_kept && kept_pids[i] == pid)
            kept_pids[i] = 0;
    }
}

static bool is_kept_pid(pid_t pid)
{
    size_t i;

    for (i = 0; i < EXEC_KEPT_MAX; i++)
        if (kept_pids[i] == pid)
            return true;
    return false;
}

void exec_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void exec_close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int exec_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Copies src[0..len) into dst (cap >= len + 1), NUL-terminated, as valid UTF-8
 * text: invalid bytes and control characters (except tab, and newline when
 * keep_nl) become '?'. The output is never longer than the input. */
static void exec_sanitize_text(char *dst, const char *src, size_t len, bool keep_nl)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0;

    while (i < len) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0 || (n == 1 && ((s[i] < 0x20 && s[i] != '\t' && !(keep_nl && s[i] == '\n')) ||
                                  s[i] == 0x7F))) {
            dst[o++] = '?';
            i++;
            continue;
        }
        memcpy(dst + o, s + i, n);
        o += n;
        i += n;
    }
    dst[o] = '\0';
}

/* Copies the NUL-terminated UTF-8 string src into dst[cap], cut at a character
 * boundary when it does not fit. */
void exec_copy_utf8(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (cap == 0)
        return;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int stage_exec_parse_progress(const char *line, size_t len, double *fraction, char *msg,
                              size_t msgcap)
{
    struct json_err err;
    const cJSON *p, *m;
    cJSON *o;
    int rc = -1;

    if (msg != NULL && msgcap > 0)
        msg[0] = '\0';
    if (line == NULL)
        return -1;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    o = json_parse_strict(line, len, JSON_MAX_DEPTH_DEFAULT, &err);
    if (!cJSON_IsObject(o))
        goto done;
    p = json_get(o, "progress");
    /* Written so that NaN fails too. */
    if (!cJSON_IsNumber(p) || !(p->valuedouble >= 0.0 && p->valuedouble <= 1.0))
        goto done;
    m = json_get(o, "message");
    if (m != NULL && !cJSON_IsString(m))
        goto done;
    if (fraction != NULL)
        *fraction = p->valuedouble;
    if (m != NULL && msg != NULL)
        exec_copy_utf8(msg, msgcap, m->valuestring);
    rc = 0;
done:
    cJSON_Delete(o);
    return rc;
}

/* ---- environment and program path, built before fork (no malloc after it) ---- */

static void strvec_free(struct strvec *sv)
{
    size_t i;

    for (i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

/* Appends s (taking ownership); on failure frees s and returns -1. */
static int strvec_push(struct strvec *sv, char *s)
{
    if (s == NULL)
        return -1;
    if (sv->n + 2 > sv->cap) {
        size_t cap = sv->cap == 0 ? 32 : sv->cap * 2;
        char **v = realloc(sv->v, cap * sizeof(*v));
        if (v == NULL) {
            free(s);
            return -1;
        }
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
    return 0;
}

/* Sets the "NAME=value" entry, replacing an earlier one with the same NAME. */
static int env_set(struct strvec *env, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t namelen = eq != NULL ? (size_t)(eq - entry) : strlen(entry), i;
    char *copy = strdup(entry);

    if (copy == NULL)
        return -1;
    for (i = 0; i < env->n; i++) {
        if (strncmp(env->v[i], entry, namelen) == 0 &&
            (env->v[i][namelen] == '=' || env->v[i][namelen] == '\0')) {
            free(env->v[i]);
            env->v[i] = copy;
            return 0;
        }
    }
    return strvec_push(env, copy);
}

static int env_setv(struct strvec *env, const char *name, const char *val)
{
    size_t len = strlen(name) + strlen(val) + 2;
    char *buf = malloc(len);
    int rc;

    if (buf == NULL)
        return -1;
    snprintf(buf, len, "%s=%s", name, val);
    rc = env_set(env, buf);
    free(buf);
    return rc;
}

static int env_seti(struct strvec *env, const char *name, int val)
{
    char buf[16];

    snprintf(buf, sizeof(buf), "%d", val);
    return env_setv(env, name, buf);
}

/* The worker's environment + the STAGEQ_* variables of the mode + spec->env,
 * later entries overriding earlier ones with the same name. A warm program
 * gets STAGEQ_SERVE=1 and no per-job variables: its requests carry them. */
static int build_env(const struct exec_spec *spec, bool is_serve, struct strvec *env)
{
    const char *stage = spec->stage_name != NULL ? spec->stage_name : "";
    char *const *e;
    char **w;

    for (w = environ; w != NULL && *w != NULL; w++)
        if (env_set(env, *w) < 0)
            return -1;
    if (is_serve) {
        if (env_setv(env, "STAGEQ_SERVE", "1") < 0)
            return -1;
    } else if (env_setv(env, "STAGEQ_JOB_ID", spec->job_id != NULL ? spec->job_id : "") < 0 ||
               env_setv(env, "STAGEQ_STAGE", stage) < 0 ||
               env_seti(env, "STAGEQ_STAGE_INDEX", spec->stage_index) < 0 ||
               env_seti(env, "STAGEQ_STAGE_COUNT", spec->stage_count) < 0 ||
               env_seti(env, "STAGEQ_ATTEMPT", spec->attempt) < 0) {
        return -1;
    }
    if (env_seti(env, "STAGEQ_PROGRESS_FD", EXEC_PROGRESS_FD) < 0)
        return -1;
    for (e = spec->env; e != NULL && *e != NULL; e++) {
        if (strchr(*e, '=') == NULL || **e == '=') {
            log_write(LOG_LEVEL_WARN, 0, spec->job_id, "stage %s: env entry without NAME= ignored",
                      stage);
            continue;
        }
        if (env_set(env, *e) < 0)
            return -1;
    }
    return 0;
}

static int candidate_push(const char *candidate, void *cands)
{
    return strvec_push(cands, strdup(candidate)) < 0 ? 1 : 0;
}

/* The paths execve will try, in order (see exec_path_each). Fails only when
 * memory runs out: a candidate longer than PATH_MAX is not one execve takes. */
static int build_candidates(const char *prog, struct strvec *cands)
{
    return exec_path_each(prog, candidate_push, cands) == 1 ? -1 : 0;
}

/* ---- the child, between fork and execve: async-signal-safe calls only ---- */

/* Closes every fd >= low except keep (keep >= low). */
static void child_close_from(int low, int keep)
{
    long max;
    int fd;

#ifdef SYS_close_range
    if ((keep == low || syscall(SYS_close_range, low, keep - 1, 0) == 0) &&
        syscall(SYS_close_range, keep + 1, ~0U, 0) == 0)
        return;
#endif
    max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > EXEC_FD_SCAN_MAX)
        max = EXEC_FD_SCAN_MAX;
    for (fd = low; fd < max; fd++)
        if (fd != keep)
            close(fd);
}

__attribute__((noreturn)) static void child_report(int fd, int step, int err)
{
    struct spawn_report rep = {step, err};
    ssize_t n;

    do
        n = write(fd, &rep, sizeof(rep));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

/* Never returns. fds are the child's ends of stdin, stdout, stderr and the
 * progress pipe; report is the CLOEXEC pipe for exec/chdir errors. Signals
 * are all blocked on entry (see stage_exec_run). */
__attribute__((noreturn)) static void child_exec(const int fds[4], int report, const char *cwd,
                                                 char *const *argv, char *const *cands,
                                                 char *const *envp, pid_t parent)
{
    struct sigaction sa;
    sigset_t none;
    int moved[4], rfd, i, err = ENOENT;
    bool is_eacces = false;

    setpgid(0, 0);
    /* A worker killed with -9 must not leave its stage program running. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (i = 1; i < NSIG; i++)
        if (i != SIGKILL && i != SIGSTOP)
            sigaction(i, &sa, NULL); /* fails harmlessly for reserved signals */

    /* Move every source above 3 first: one of them may be 0..3 itself when
     * the worker runs with standard descriptors closed. */
    rfd = fcntl(report, F_DUPFD_CLOEXEC, 4);
    if (rfd < 0)
        _exit(127);
    for (i = 0; i < 4; i++) {
        moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 4);
        if (moved[i] < 0)
            child_report(rfd, SPAWN_STEP_SETUP, errno);
    }
    for (i = 0; i < 4; i++)
        if (dup2(moved[i], i) < 0) /* dup2 clears FD_CLOEXEC on the target */
            child_report(rfd, SPAWN_STEP_SETUP, errno);
    child_close_from(4, rfd);

    if (cwd != NULL && chdir(cwd) < 0)
        child_report(rfd, SPAWN_STEP_CHDIR, errno);

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (i = 0; cands[i] != NULL; i++) {
        execve(cands[i], argv, envp);
        switch (errno) {
        case EACCES:
            is_eacces = true;
            /* fall through */
        case ENOENT:
        case ENOTDIR:
        case ESTALE:
        case ENODEV:
        case ETIMEDOUT:
            err = errno;
            continue; /* try the next PATH entry, as execvp does */
        default:
            child_report(rfd, SPAWN_STEP_EXEC, errno);
        }
    }
    child_report(rfd, SPAWN_STEP_EXEC, is_eacces ? EACCES : err);
}

/* ---- the parent ---- */

static void exec_begin_stop(struct exec_run *r, long long now, int grace_ms)
{
    if (r->is_stopping)
        return;
    r->is_stopping = true;
    r->kill_at = now + grace_ms;
    kill(-r->pid, SIGTERM);
    kill(-r->pid, SIGCONT); /* a stopped process could not act on SIGTERM */
}

static void stderr_log_line(struct exec_stderr *e, bool is_cut)
{
    char clean[EXEC_LOG_LINE_MAX + 1];
    size_t len = e->line_len;

    if (len > 0 && e->line[len - 1] == '\r')
        len--;
    if (e->lines_logged > EXEC_LOG_LINES_MAX)
        return;
    if (e->lines_logged++ == EXEC_LOG_LINES_MAX) {
        log_write(LOG_LEVEL_WARN, 0, e->job,
                  "stage %s: more than %d stderr lines, the rest is not logged", e->stage,
                  EXEC_LOG_LINES_MAX);
        return;
    }
    exec_sanitize_text(clean, e->line, len, false);
    log_write(LOG_LEVEL_INFO, 0, e->job, "stage %s stderr: %s%s", e->stage, clean,
              is_cut ? " [line cut]" : "");
}

void exec_stderr_feed(void *arg, const char *p, size_t n)
{
    struct exec_stderr *e = arg;
    size_t i;

    for (i = 0; i < n; i++) {
        char c = p[i];

        e->ring[e->ring_pos] = c;
        e->ring_pos = (e->ring_pos + 1) % EXEC_STDERR_TAIL;
        e->ring_total++;
        if (c == '\n') {
            if (!e->is_line_cut)
                stderr_log_line(e, false);
            e->line_len = 0;
            e->is_line_cut = false;
        } else if (e->is_line_cut) {
            continue;
        } else if (e->line_len == sizeof(e->line)) {
            stderr_log_line(e, true);
            e->is_line_cut = true;
        } else {
            e->line[e->line_len++] = c;
        }
    }
}

void exec_stderr_finish(struct exec_stderr *e, char tail[EXEC_STDERR_TAIL + 1])
{
    char raw[EXEC_STDERR_TAIL];
    size_t n, start = 0;

    if (e->line_len > 0 && !e->is_line_cut)
        stderr_log_line(e, false);
    e->line_len = 0;
    e->is_line_cut = false;
    if (e->ring_total <= EXEC_STDERR_TAIL) {
        n = (size_t)e->ring_total;
        memcpy(raw, e->ring, n);
    } else {
        n = EXEC_STDERR_TAIL;
        memcpy(raw, e->ring + e->ring_pos, EXEC_STDERR_TAIL - e->ring_pos);
        memcpy(raw + EXEC_STDERR_TAIL - e->ring_pos, e->ring, e->ring_pos);
        /* The ring may start inside a UTF-8 sequence. */
        while (start < n && start < 3 && ((unsigned char)raw[start] & 0xC0) == 0x80)
            start++;
    }
    exec_sanitize_text(tail, raw + start, n - start, true);
    e->ring_pos = 0;
    e->ring_total = 0;
}

static void progress_bad(struct exec_progress *pr, const char *why)
{
    if (pr->bad_lines < EXEC_BAD_PROGRESS_LOGS)
        log_write(LOG_LEVEL_WARN, 0, pr->job, "stage %s: invalid progress line ignored: %s",
                  pr->stage, why);
    else if (pr->bad_lines == EXEC_BAD_PROGRESS_LOGS)
        log_write(LOG_LEVEL_WARN, 0, pr->job,
                  "stage %s: more invalid progress lines, no longer logged", pr->stage);
    pr->bad_lines++;
}

static void progress_line_end(struct exec_progress *pr)
{
    char msg[256];
    double f;

    if (pr->hooks == NULL) {
        /* between jobs of a warm program: nobody to tell */
    } else if (pr->is_line_long) {
        char why[64];

        snprintf(why, sizeof(why), "longer than %d bytes", EXEC_PROGRESS_LINE_MAX);
        progress_bad(pr, why);
    } else if (stage_exec_parse_progress(pr->line, pr->line_len, &f, msg, sizeof(msg)) < 0) {
        char clean[81];
        size_t n = pr->line_len < 80 ? pr->line_len : 80;

        exec_sanitize_text(clean, pr->line, n, false);
        progress_bad(pr, clean);
    } else if (pr->hooks->on_progress != NULL) {
        pr->hooks->on_progress(pr->hooks->arg, f, msg[0] != '\0' ? msg : NULL);
    }
    pr->line_len = 0;
    pr->is_line_long = false;
}

void exec_progress_feed(void *arg, const char *p, size_t n)
{
    struct exec_progress *pr = arg;
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] == '\n')
            progress_line_end(pr);
        else if (pr->is_line_long)
            continue;
        else if (pr->line_len == sizeof(pr->line))
            pr->is_line_long = true;
        else
            pr->line[pr->line_len++] = p[i];
    }
}

void exec_progress_finish(struct exec_progress *pr)
{
    if (pr->line_len > 0 || pr->is_line_long)
        progress_line_end(pr); /* a last line without its newline */
}

/* Reads once from fd into the stdout buffer. Returns 1 at EOF/error (close
 * it), 0 otherwise. */
static int read_stdout(struct exec_run *r, int fd, long long now, int grace_ms)
{
    size_t room;
    ssize_t n;

    if (r->out_len == r->out_cap) {
        size_t cap = r->out_cap == 0 ? EXEC_OUT_INITIAL : r->out_cap * 2;
        char *p;

        if (cap > r->out_max + 1 || cap < r->out_cap)
            cap = r->out_max + 1;
        p = realloc(r->out, cap);
        if (p == NULL) {
            r->is_oom = true;
            exec_begin_stop(r, now, 0);
            return 1;
        }
        r->out = p;
        r->out_cap = cap;
    }
    room = r->out_cap - r->out_len;
    n = read(fd, r->out + r->out_len, room < EXEC_READ_CHUNK ? room : EXEC_READ_CHUNK);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : 1;
    if (n == 0)
        return 1;
    r->out_len += (size_t)n;
    if (r->out_len > r->out_max) {
        /* Closing the pipe also makes the writer die of SIGPIPE. */
        if (!r->is_stopping)
            r->is_too_large = true;
        exec_begin_stop(r, now, grace_ms);
        return 1;
    }
    return 0;
}

/* Reads once from fd and feeds the bytes to feed(arg, ...). Returns 1 at EOF
 * or error (close the fd), else 0. */
static int exec_read_feed(int fd, void (*feed)(void *, const char *, size_t), void *arg)
{
    char buf[EXEC_READ_CHUNK / 4];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : 1;
    if (n == 0)
        return 1;
    feed(arg, buf, (size_t)n);
    return 0;
}

int exec_write_some(int fd, const char *buf, size_t len, size_t *off)
{
    while (*off < len) {
        size_t left = len - *off;
        ssize_t n = write(fd, buf + *off, left < EXEC_READ_CHUNK ? left : EXEC_READ_CHUNK);

        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : 1;
        *off += (size_t)n;
    }
    return 1;
}

bool exec_child_has_exited(pid_t pid)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno != EINTR; /* ECHILD: nothing left to wait for */
    return si.si_pid != 0;
}

int exec_reap_all(pid_t pid)
{
    long long until;
    int status = 0;
    pid_t w;

    kill(-pid, SIGKILL);
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (w < 0)
        status = 0;
    until = clock_mono_ms() + EXEC_REAP_MS;
    for (;;) {
        int st;
        pid_t g = waitpid(-pid, &st, WNOHANG);

        if (g > 0)
            continue;
        if (g < 0 && errno != EINTR)
            break; /* ECHILD: no member of the group is our child any more */
        if (clock_mono_ms() >= until)
            break;
        kill(-pid, SIGKILL); /* again: a member may have forked during the last kill */
        exec_sleep_ms(2);    /* SIGKILL is delivered asynchronously */
    }
    /* Processes that left the group (setsid) and died since were reparented
     * to us too. Reaping any child is safe only because a worker child has no
     * children of its own besides the stage programs it runs: never call this
     * module from a process that waits for other children. A warm program
     * (exec_keep_pid) is left to its owner, who reads its status: the strays
     * behind it wait for the next reap. */
    for (;;) {
        siginfo_t si;

        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0 ||
            is_kept_pid(si.si_pid) || waitpid(si.si_pid, NULL, WNOHANG) <= 0)
            break;
    }
    return status;
}

static void signal_setup(void)
{
    struct sigaction sa;

    /* Writing to a program that does not read stdin must give EPIPE, not kill us. */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGPIPE, &sa, NULL);
    }
    /* Ignored SIGCHLD would make the kernel discard exit statuses. */
    if (sigaction(SIGCHLD, NULL, &sa) == 0 &&
        (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT) != 0)) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGCHLD, &sa, NULL);
    }
    /* Orphaned grandchildren come to us so that we can reap them (idempotent). */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0); /* always close-on-exec */
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static void spawn_failed(struct exec_result *res, const char *prog, const char *cwd,
                         const struct spawn_report *rep)
{
    res->outcome = EXEC_SPAWN_FAILED;
    res->spawn_errno = rep->err;
    if (rep->step == SPAWN_STEP_CHDIR)
        snprintf(res->message, sizeof(res->message), "cannot chdir to '%s': %s", cwd,
                 strerror(rep->err));
    else if (rep->step == SPAWN_STEP_SETUP)
        snprintf(res->message, sizeof(res->message), "cannot set up the stage process: %s",
                 strerror(rep->err));
    else if (rep->err == ENOENT)
        snprintf(res->message, sizeof(res->message), "program '%s' not found", prog);
    else if (rep->err == EACCES)
        snprintf(res->message, sizeof(res->message), "permission denied executing '%s'", prog);
    else
        snprintf(res->message, sizeof(res->message), "cannot execute '%s': %s", prog,
                 strerror(rep->err));
}

int exec_pollfds(const int *fds, int n, struct pollfd *pfd, int *slot)
{
    int i, npfd = 0;

    for (i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        pfd[npfd].fd = fds[i];
        pfd[npfd].events = i == 0 ? POLLOUT : POLLIN;
        pfd[npfd].revents = 0;
        slot[npfd++] = i;
    }
    return npfd;
}

void exec_status_outcome(struct exec_result *res, int status)
{
    if (WIFSIGNALED(status)) {
        res->outcome = EXEC_SIGNAL;
        res->signal = WTERMSIG(status);
        snprintf(res->message, sizeof(res->message), "killed by signal %d (%s)", res->signal,
                 strsignal(res->signal));
    } else {
        res->outcome = EXEC_EXIT;
        res->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        snprintf(res->message, sizeof(res->message), "exited with status %d", res->exit_status);
    }
}

/* Fills the outcome from the flags, the wait status and stdout. */
static void exec_outcome_fill(struct exec_run *r, int status)
{
    struct exec_result *res = r->res;
    const char *s = r->out;
    size_t i;

    if (r->is_stop_requested) {
        res->outcome = EXEC_STOPPED;
        snprintf(res->message, sizeof(res->message), "stopped on request");
    } else if (r->is_timed_out) {
        res->outcome = EXEC_TIMEOUT;
        snprintf(res->message, sizeof(res->message), "timed out after %d s", r->spec->timeout_s);
    } else if (r->is_too_large) {
        res->outcome = EXEC_OUTPUT_TOO_LARGE;
        snprintf(res->message, sizeof(res->message),
                 "output too large: more than %zu bytes on stdout", r->out_max);
    } else if (WIFSIGNALED(status) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        exec_status_outcome(res, status);
    } else {
        struct json_err err;

        for (i = 0; i < r->out_len; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
                break;
        res->outcome = EXEC_INVALID_OUTPUT;
        if (i == r->out_len) {
            snprintf(res->message, sizeof(res->message),
                     "empty output: the program must print one JSON value on stdout");
            return;
        }
        res->output = json_parse_strict(r->out, r->out_len, JSON_MAX_DEPTH_DEFAULT, &err);
        if (res->output == NULL) {
            snprintf(res->message, sizeof(res->message), "invalid JSON on stdout: %s", err.msg);
            return;
        }
        res->output_text = json_minify(r->out, r->out_len); /* the text, not a print of it */
        if (res->output_text == NULL) {
            cJSON_Delete(res->output);
            res->output = NULL;
            snprintf(res->message, sizeof(res->message), "out of memory keeping the output");
            return;
        }
        res->outcome = EXEC_OK;
        snprintf(res->message, sizeof(res->message), "ok");
    }
}

enum { FD_IN, FD_OUT, FD_ERR, FD_PROG, FD_PID, FD_COUNT };

/* The poll loop: runs until the main child has exited and the pipes are at
 * EOF (or EXEC_DRAIN_MS later), enforcing stop, timeout and output limit. */
static void exec_loop(struct exec_run *r, int fds[FD_COUNT], const char *in, size_t in_len)
{
    const struct exec_spec *spec = r->spec;
    int grace_ms = spec->kill_grace_ms > 0 ? spec->kill_grace_ms : EXEC_KILL_GRACE_MS_DEFAULT;
    long long start = clock_mono_ms(), next_check = start;
    long long deadline = spec->timeout_s > 0 ? start + (long long)spec->timeout_s * 1000 : 0;
    long long drain_until = 0;
    bool is_exited = false, is_killed = false;
    size_t in_off = 0;

    for (;;) {
        struct pollfd pfd[FD_COUNT];
        int slot[FD_COUNT], npfd, i;
        long long now = clock_mono_ms(), wake;

        if (!is_exited) {
            if (r->hooks != NULL && r->hooks->should_stop != NULL && now >= next_check) {
                next_check = now + EXEC_TICK_MS;
                if (!r->is_stop_requested && r->hooks->should_stop(r->hooks->arg) != 0) {
                    r->is_stop_requested = true;
                    exec_begin_stop(r, now, grace_ms);
                }
            }
            if (deadline != 0 && now >= deadline && !r->is_stopping) {
                r->is_timed_out = true;
                exec_begin_stop(r, now, grace_ms);
            }
            if (r->is_stopping) {
                exec_close_fd(&fds[FD_IN]);
                if (!is_killed && now >= r->kill_at) {
                    kill(-r->pid, SIGKILL);
                    is_killed = true;
                }
            }
            if (exec_child_has_exited(r->pid)) {
                /* Whatever it left running would hold the pipes open forever. */
                is_exited = true;
                kill(-r->pid, SIGKILL);
                exec_close_fd(&fds[FD_IN]);
                exec_close_fd(&fds[FD_PID]);
                drain_until = now + EXEC_DRAIN_MS;
            }
        }
        if (is_exited &&
            ((fds[FD_OUT] < 0 && fds[FD_ERR] < 0 && fds[FD_PROG] < 0) || now >= drain_until))
            break;

        npfd = exec_pollfds(fds, FD_COUNT, pfd, slot);
        wake = now + 100;
        if (!is_exited && r->hooks != NULL && r->hooks->should_stop != NULL && next_check < wake)
            wake = next_check;
        if (!is_exited && deadline != 0 && !r->is_stopping && deadline < wake)
            wake = deadline;
        if (!is_exited && r->is_stopping && !is_killed && r->kill_at < wake)
            wake = r->kill_at;
        if (is_exited && drain_until < wake)
            wake = drain_until;
        if (!is_exited && fds[FD_PID] < 0 && fds[FD_OUT] < 0 && fds[FD_ERR] < 0 &&
            fds[FD_PROG] < 0 && now + 10 < wake)
            wake = now + 10; /* no pidfd and nothing to read: poll the child's state */
        if (poll(pfd, (nfds_t)npfd, wake > now ? (int)(wake - now) : 0) < 0) {
            if (errno != EINTR)
                exec_sleep_ms(10);
            continue;
        }
        now = clock_mono_ms();
        for (i = 0; i < npfd; i++) {
            int k = slot[i];

            if (pfd[i].revents == 0 || fds[k] < 0)
                continue;
            switch (k) {
            case FD_IN:
                if (exec_write_some(fds[k], in, in_len, &in_off))
                    exec_close_fd(&fds[k]);
                break;
            case FD_OUT:
                if (read_stdout(r, fds[k], now, grace_ms))
                    exec_close_fd(&fds[k]);
                break;
            case FD_ERR:
                if (exec_read_feed(fds[k], exec_stderr_feed, &r->err))
                    exec_close_fd(&fds[k]);
                break;
            case FD_PROG:
                if (exec_read_feed(fds[k], exec_progress_feed, &r->prog))
                    exec_close_fd(&fds[k]);
                break;
            default:
                break; /* FD_PID: readable once the child exited; checked above */
            }
        }
    }
    exec_progress_finish(&r->prog);
    r->res->bad_progress_lines = r->prog.bad_lines;
    exec_stderr_finish(&r->err, r->res->stderr_tail);
}

int exec_spawn(const struct exec_spec *spec, bool is_serve, struct exec_child *c,
               struct exec_result *res)
{
    struct strvec env = {NULL, 0, 0}, cands = {NULL, 0, 0};
    struct spawn_report rep;
    int p_in[2] = {-1, -1}, p_out[2] = {-1, -1}, p_err[2] = {-1, -1}, p_prog[2] = {-1, -1};
    int p_rep[2] = {-1, -1}, rc = -1, err;
    sigset_t all, old;
    ssize_t n;
    size_t got = 0;
    pid_t pid, self;

    c->pid = 0;
    c->fd_in = c->fd_out = c->fd_err = c->fd_prog = c->fd_pid = -1;
    if (spec->argv == NULL || spec->argv[0] == NULL || spec->argv[0][0] == '\0') {
        res->outcome = EXEC_SPAWN_FAILED;
        res->spawn_errno = EINVAL;
        snprintf(res->message, sizeof(res->message), "no program to run (empty argv)");
        return 0;
    }
    signal_setup();
    if (build_env(spec, is_serve, &env) < 0 || build_candidates(spec->argv[0], &cands) < 0) {
        snprintf(res->message, sizeof(res->message), "out of memory preparing the stage");
        goto done;
    }
    if (pipe2(p_in, O_CLOEXEC) < 0 || pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0 ||
        pipe2(p_prog, O_CLOEXEC) < 0 || pipe2(p_rep, O_CLOEXEC) < 0) {
        snprintf(res->message, sizeof(res->message), "cannot create pipes: %s", strerror(errno));
        goto done;
    }

    /* Block every signal across fork so that no worker handler runs in the
     * child before it has reset the dispositions. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    self = getpid();
    pid = fork();
    err = errno;
    if (pid == 0) {
        const int child_fds[4] = {p_in[0], p_out[1], p_err[1], p_prog[1]};
        child_exec(child_fds, p_rep[1], spec->cwd, spec->argv, cands.v, env.v, self);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        res->outcome = EXEC_SPAWN_FAILED;
        res->spawn_errno = err;
        snprintf(res->message, sizeof(res->message), "cannot fork: %s", strerror(err));
        rc = 0;
        goto done;
    }
    setpgid(pid, pid); /* also done by the child: whoever runs first wins the race */
    exec_close_fd(&p_in[0]);
    exec_close_fd(&p_out[1]);
    exec_close_fd(&p_err[1]);
    exec_close_fd(&p_prog[1]);
    exec_close_fd(&p_rep[1]);

    /* EOF: execve succeeded (the pipe was close-on-exec); else the child's report. */
    while (got < sizeof(rep)) {
        n = read(p_rep[0], (char *)&rep + got, sizeof(rep) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    exec_close_fd(&p_rep[0]);
    rc = 0;
    if (got == sizeof(rep)) {
        exec_reap_all(pid);
        spawn_failed(res, spec->argv[0], spec->cwd, &rep);
        goto done;
    }
    c->pid = pid;
    c->fd_in = p_in[1];
    c->fd_out = p_out[0];
    c->fd_err = p_err[0];
    c->fd_prog = p_prog[0];
    p_in[1] = p_out[0] = p_err[0] = p_prog[0] = -1;
    c->fd_pid = pidfd_open_compat(pid);
    exec_set_nonblock(c->fd_in);
    exec_set_nonblock(c->fd_out);
    exec_set_nonblock(c->fd_err);
    exec_set_nonblock(c->fd_prog);
done:
    if (rc < 0)
        res->outcome = EXEC_SPAWN_FAILED; /* never mistaken for EXEC_OK */
    exec_close_fd(&p_in[0]);
    exec_close_fd(&p_in[1]);
    exec_close_fd(&p_out[0]);
    exec_close_fd(&p_out[1]);
    exec_close_fd(&p_err[0]);
    exec_close_fd(&p_err[1]);
    exec_close_fd(&p_prog[0]);
    exec_close_fd(&p_prog[1]);
    exec_close_fd(&p_rep[0]);
    exec_close_fd(&p_rep[1]);
    strvec_free(&env);
    strvec_free(&cands);
    return rc;
}

int stage_exec_run(const struct exec_spec *spec, const char *input, const struct exec_hooks *hooks,
                   struct exec_result *res)
{
    struct exec_run r;
    struct exec_child c;
    int fds[FD_COUNT], i, rc, status;
    const char *in = input != NULL ? input : "null";
    int64_t t0 = clock_mono_ms();

    memset(res, 0, sizeof(*res));
    memset(&r, 0, sizeof(r));
    r.spec = spec;
    r.hooks = hooks;
    r.res = res;
    r.job = spec->job_id;
    r.stage = spec->stage_name != NULL ? spec->stage_name : "";
    r.err.job = r.prog.job = r.job;
    r.err.stage = r.prog.stage = r.stage;
    r.prog.hooks = hooks != NULL ? hooks : &exec_no_hooks;
    r.out_max = spec->max_output > 0 ? spec->max_output : EXEC_MAX_OUTPUT_DEFAULT;
    if (r.out_max > SIZE_MAX / 4)
        r.out_max = SIZE_MAX / 4;

    rc = exec_spawn(spec, false, &c, res);
    if (rc < 0 || c.pid == 0)
        goto done;
    r.pid = c.pid;
    fds[FD_IN] = c.fd_in;
    fds[FD_OUT] = c.fd_out;
    fds[FD_ERR] = c.fd_err;
    fds[FD_PROG] = c.fd_prog;
    fds[FD_PID] = c.fd_pid;
    exec_loop(&r, fds, in, strlen(in));
    for (i = 0; i < FD_COUNT; i++)
        exec_close_fd(&fds[i]);
    status = exec_reap_all(c.pid);
    if (r.is_oom) {
        snprintf(res->message, sizeof(res->message), "out of memory reading the stage output");
        res->outcome = EXEC_SPAWN_FAILED; /* never mistaken for EXEC_OK */
        rc = -1;
        goto done;
    }
    exec_outcome_fill(&r, status);
done:
    res->duration_ms = clock_mono_ms() - t0;
    free(r.out);
    return rc;
}
