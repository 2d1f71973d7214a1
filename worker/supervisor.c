/* supervisor: the prefork parent (OpenBSD proc.c in spirit). Forks N children,
 * reaps them, respawns the dead with backoff instead of giving up, and on
 * SIGTERM/SIGINT asks them to stop, waiting grace_s before SIGKILL. Signals
 * are blocked here and taken synchronously with sigtimedwait: no handlers. */
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
#include "stage_serve.h"
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

static volatile sig_atomic_t child_stop;
/* The parent's slot table; a forked child frees its copy at once. */
static struct slot *sup_slots;

static void child_on_signal(int sig)
{
    (void)sig;
    child_stop = 1;
}

static pid_t sup_spawn(const struct worker_config *cfg, const struct redis_url *url,
                       const struct pipeline_set *pipelines, int index, const sigset_t *oldmask)
{
    pid_t parent = getpid(), pid = fork();

    if (pid != 0)
        return pid; /* parent, or -1 */
    {
        struct sigaction sa;
        int code;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = child_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);
        sigprocmask(SIG_SETMASK, oldmask, NULL);
        free(sup_slots);
        sup_slots = NULL;
        /* The child must not outlive a supervisor killed with -9. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(0);
        code = worker_child_main(cfg, url, pipelines, index);
        /* exit, not _exit: under ASan this runs the leak check for the child.
         * Nothing is buffered in stdio (logs go to unbuffered stderr). */
        exit(code);
    }
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

/* The worker id child pid used (host:pid, as worker_child_main builds it). */
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
    log_info("starting %d worker process(es) on queue '%s'", n, cfg->queue);

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

int worker_child_main(const struct worker_config *cfg, const struct redis_url *url,
                      const struct pipeline_set *pipelines, int index)
{
    struct worker w;
    char host[128], role[32];
    int failures = 0;

    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.pipelines = pipelines;
    w.index = index;
    w.stop = &child_stop;
    snprintf(role, sizeof(role), "worker/%d", index);
    log_set_role(role);
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(w.id, sizeof(w.id), "%s:%d", host, (int)getpid());
    log_ctx_worker(w.id); /* every line of this child names it */
    /* A stage program that stops reading its stdin must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    clock_format_rfc3339(clock_now_ms(), w.started_at);
    if (keys_workers(w.workers_key, sizeof(w.workers_key), cfg->prefix) < 0 ||
        keys_worker(w.info_key, sizeof(w.info_key), cfg->prefix, w.id) < 0 ||
        keys_alive(w.alive_key, sizeof(w.alive_key), cfg->prefix) < 0 ||
        keys_delayed(w.delayed_key, sizeof(w.delayed_key), cfg->prefix, cfg->queue) < 0 ||
        keys_queue(w.queue_key, sizeof(w.queue_key), cfg->prefix, cfg->queue) < 0 ||
        keys_processing(w.processing_key, sizeof(w.processing_key), cfg->prefix, w.id) < 0) {
        log_errx("key names too long");
        return 1;
    }
    w.rc = rconn_new(url, cfg->redis_timeout_ms);
    if (w.rc == NULL) {
        log_errx("out of memory");
        return 1;
    }
    rconn_set_drain(w.rc, pipe_drain, &w);
    log_debug("ready as %s", w.id);
    lease_heartbeat(&w, true);
    /* a job finish.lua took while the stop arrived is handed back by run_job */
    while (!child_stop || w.nheld > 0 || w.is_take_sent) {
        char id[IDS_MAX_LEN + 1];
        redisReply *hash;
        int got;

        lease_heartbeat(&w, false);
        wredis_check_master(&w);
        recover_tick(&w);
        /* After a failed pop its reply may be lost while the job sits on our
         * processing list: put any such job back before popping again. */
        if (w.nheld == 0 && w.is_take_sent)
            pipe_collect(&w); /* the next batch; or its take was lost */
        wredis_check_conn(&w);
        if ((failures > 0 || w.is_take_lost) && w.nheld == 0) {
            if (recover_own(&w) == 0) /* else again next time */
                w.is_take_lost = false;
        }
        got = fetch_next(&w, id, &hash);
        if (got < 0) {
            worker_sleep_ms(&w, rconn_backoff_ms(++failures, worker_backoff_max_ms(&w)));
            continue;
        }
        wredis_log_up(&w);
        failures = 0;
        if (got == 1) {
            run_job(&w, id, hash);
            freeReplyObject(hash);
        }
    }
    log_debug("stopping after %lld job(s)", w.jobs_done);
    pipe_drain(&w);
    /* jobs a lost take moved onto our list: put back before our lease goes,
     * or nobody would ever look at this list again */
    if (w.is_take_lost)
        recover_own(&w);
    fetch_record_stats(&w);
    stage_serve_pool_free(w.serve); /* before the lease goes: they are ours until they end */
    w.serve = NULL;
    wstats_free(&w.stats);
    lease_release(&w);
    rconn_free(w.rc);
    return 0;
}
