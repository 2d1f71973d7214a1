/* supervisor: the prefork parent (OpenBSD proc.c in spirit). Forks N children
 * (each runs child_main, child.c), reaps them, respawns the dead with backoff
 * instead of giving up, and on SIGTERM/SIGINT asks them to stop, waiting
 * grace_s before SIGKILL. Signals are blocked here and taken synchronously
 * with sigtimedwait: no handlers. Never touches Redis. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "worker.h"

#define SUP_RESPAWN_MIN_MS 100
#define SUP_RESPAWN_MAX_MS 10000
#define SUP_STABLE_MS      10000 /* a child that lived this long resets its backoff */
#define SUP_KILL_MARGIN_MS 5000  /* after grace_s and a stage's kill grace: time to requeue */

struct slot {
    pid_t pid; /* 0 = not running */
    int64_t started_ms;
    int64_t respawn_at; /* monotonic ms; 0 = now */
    int backoff_ms;
};

/* The parent's slot table; a forked child frees its copy at once. */
static struct slot *sup_slots;

static pid_t sup_spawn(const struct worker_config *cfg, const struct redis_url *url,
                       const struct pipeline_set *pipelines, int index, const sigset_t *oldmask)
{
    pid_t parent = getpid(), pid = fork();

    if (pid != 0)
        return pid; /* parent, or -1 */

    child_signals(oldmask); /* SIGTERM and SIGINT stop the child from now on */
    free(sup_slots);
    sup_slots = NULL;
    /* The child must not outlive a supervisor killed with -9. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(0);
    /* exit, not _exit: under ASan this runs the leak check for the child.
     * Nothing is buffered in stdio (logs go to unbuffered stderr). */
    exit(child_main(cfg, url, pipelines, index));
}

static void sup_describe_status(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "stopped (status %d)", status);
}

/* The worker id child pid used (host:pid, as child_main builds it). */
static void sup_worker_id(pid_t pid, char *out, size_t cap)
{
    char host[128];

    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(out, cap, "%s:%d", host, (int)pid);
}

/* Reaps every exited child; returns how many are still running. */
static int sup_reap(struct slot *slots, int n, int is_stopping)
{
    int status, i, running = 0;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (i = 0; i < n; i++) {
            char why[96], wid[160];
            struct log_kv kv[1] = {{"worker", NULL, 0}};
            int64_t lived;

            if (slots[i].pid != pid)
                continue;
            slots[i].pid = 0;
            sup_describe_status(status, why, sizeof(why));
            sup_worker_id(pid, wid, sizeof(wid));
            kv[0].str = wid;
            if (is_stopping) {
                log_write_kv(LOG_LEVEL_INFO, kv, 1, "child %d (pid %d) %s", i + 1, (int)pid, why);
                break;
            }
            lived = clock_mono_ms() - slots[i].started_ms;
            if (lived >= SUP_STABLE_MS)
                slots[i].backoff_ms = SUP_RESPAWN_MIN_MS;
            else
                slots[i].backoff_ms =
                    slots[i].backoff_ms ? slots[i].backoff_ms * 2 : SUP_RESPAWN_MIN_MS;
            if (slots[i].backoff_ms > SUP_RESPAWN_MAX_MS)
                slots[i].backoff_ms = SUP_RESPAWN_MAX_MS;
            slots[i].respawn_at = clock_mono_ms() + slots[i].backoff_ms;
            log_write_kv(LOG_LEVEL_WARN, kv, 1,
                         "child %d (pid %d) %s after %lld ms; restarting in %d ms", i + 1, (int)pid,
                         why, (long long)lived, slots[i].backoff_ms);
            break;
        }
    }
    for (i = 0; i < n; i++)
        running += slots[i].pid != 0;
    return running;
}

int supervisor_run(const struct worker_config *cfg, const struct redis_url *url,
                   const struct pipeline_set *pipelines)
{
    sigset_t set, oldmask;
    struct slot *slots;
    int n = cfg->concurrency, i, stopping = 0;
    int64_t stop_deadline = 0;

    slots = sup_slots = calloc((size_t)n, sizeof(*slots));
    if (slots == NULL) {
        log_errx("out of memory");
        return 1;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &oldmask);
    log_info("starting %d worker process(es) on queue%s '%s'", n, cfg->queues[0] ? "s" : "",
             cfg->queues[0] ? cfg->queues : cfg->queue);

    for (;;) {
        struct timespec tick = {0, 200 * 1000000L};
        siginfo_t si;
        int sig, running;

        running = sup_reap(slots, n, stopping);
        if (stopping) {
            if (running == 0)
                break;
            if (clock_mono_ms() >= stop_deadline) {
                log_warnx("grace period of %d s is over: killing %d child(ren)", cfg->grace_s,
                          running);
                for (i = 0; i < n; i++)
                    if (slots[i].pid > 0)
                        kill(slots[i].pid, SIGKILL);
                stop_deadline = INT64_MAX;
            }
        } else {
            for (i = 0; i < n; i++) {
                pid_t pid;
                if (slots[i].pid != 0 || clock_mono_ms() < slots[i].respawn_at)
                    continue;
                pid = sup_spawn(cfg, url, pipelines, i + 1, &oldmask);
                if (pid < 0) {
                    log_warn("fork");
                    slots[i].respawn_at = clock_mono_ms() + SUP_RESPAWN_MAX_MS;
                    continue;
                }
                slots[i].pid = pid;
                slots[i].started_ms = clock_mono_ms();
            }
        }
        log_flush();
        sig = sigtimedwait(&set, &si, &tick);
        if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
            log_info("%s: stopping %d child(ren), grace %d s",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT", sup_reap(slots, n, 1), cfg->grace_s);
            stopping = 1;
            stop_deadline = clock_mono_ms() + (int64_t)cfg->grace_s * 1000 + cfg->kill_grace_ms +
                            SUP_KILL_MARGIN_MS;
            for (i = 0; i < n; i++)
                if (slots[i].pid > 0)
                    kill(slots[i].pid, SIGTERM);
        }
    }
    free(slots);
    sup_slots = NULL;
    log_info("stopped");
    return 0;
}
