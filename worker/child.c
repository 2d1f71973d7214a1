/* child: one worker process's main loop. It takes jobs (fetch.c, or those
 * pipe.c holds), runs them (run.c), renews its lease (lease.c) and recovers
 * lost workers' jobs (recover.c) until SIGTERM/SIGINT, then hands back or
 * finishes what it holds and leaves the live set. It is the one place that
 * wires the worker's modules together: wredis.c calls back into it before
 * each wait, so that neither the lease nor the batching is wredis's concern. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "stage_serve.h"
#include "worker.h"

static volatile sig_atomic_t child_stop;

static void child_on_signal(int sig)
{
    (void)sig;
    child_stop = 1;
}

void child_signals(const sigset_t *mask)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = child_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigprocmask(SIG_SETMASK, mask, NULL);
}

/* wredis.c's hook before each wait for Redis: the lease first, when due
 * (the renewal is the first thing to get through when Redis is back, see
 * alive.lua; it lives on while the replicas are away). */
static void child_on_wait(struct worker *w)
{
    lease_heartbeat(w, false);
}

/* wredis.c's hook when a new connection replaced one, maybe to a new master:
 * what the old one acknowledged (an end, a take) may be missing there. */
static void child_on_new_conn(struct worker *w)
{
    pipe_set_take_lost(w);
}

int child_main(const struct worker_config *cfg, const struct redis_url *url,
               const struct pipeline_set *pipelines, int index)
{
    struct worker w;
    char host[128], role[32], why[300];
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
    w.url = url;
    w.next_due_ms = -1;
    if (part_queues(&w, why, sizeof(why)) < 0) {
        log_errx("%s", why); /* checked by main already */
        return 1;
    }
    w.parts = calloc((size_t)w.nparts, sizeof(w.parts[0]));
    if (w.parts == NULL) {
        log_errx("out of memory");
        return 1;
    }
    /* each process starts its rotation elsewhere, so a pool covers every
     * partition from the start */
    w.part_next = (int)((unsigned)getpid() % (unsigned)w.nparts);
    if (keys_workers(w.workers_key, sizeof(w.workers_key), cfg->prefix) < 0 ||
        keys_worker(w.info_key, sizeof(w.info_key), cfg->prefix, w.id) < 0 ||
        keys_events(w.events_chan, sizeof(w.events_chan), cfg->prefix) < 0 || part_init(&w) < 0) {
        log_errx("key names too long, or out of memory");
        part_free(&w);
        return 1;
    }
    w.rc = rconn_new(url, cfg->redis_timeout_ms);
    w.pipe = pipe_new();
    if (w.rc == NULL || w.pipe == NULL) {
        log_errx("out of memory");
        rconn_free(w.rc);
        pipe_free(w.pipe);
        part_free(&w);
        return 1;
    }
    rconn_set_drain(w.rc, pipe_drain, &w);
    w.on_wait = child_on_wait;
    w.on_new_conn = child_on_new_conn;
    log_debug("ready as %s", w.id);
    lease_heartbeat(&w, true);
    /* a job finish.lua took while the stop arrived is handed back by run_job */
    while (!child_stop || pipe_is_busy(&w)) {
        char id[IDS_MAX_LEN + 1];
        redisReply *hash;
        int got;

        lease_heartbeat(&w, false);
        wredis_check_master(&w);
        recover_tick(&w);
        /* After a failed pop its reply may be lost while the job sits on our
         * processing list: put any such job back before popping again. */
        pipe_collect(&w); /* the next batch; or its take was lost */
        wredis_check_conn(&w);
        if ((failures > 0 || pipe_is_take_lost(&w)) && pipe_peek_held(&w) == NULL) {
            if (recover_own(&w) == 0) /* else again next time */
                pipe_set_take_recovered(&w);
        }
        got = fetch_next(&w, id, &hash);
        if (got < 0) {
            wredis_sleep_ms(&w, rconn_backoff_ms(++failures, wredis_backoff_max_ms(&w)));
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
    if (pipe_is_take_lost(&w))
        recover_own(&w);
    fetch_record_stats(&w);
    stage_serve_pool_free(w.serve); /* before the lease goes: they are ours until they end */
    w.serve = NULL;
    wstats_free(&w.stats);
    lease_release(&w);
    rconn_free(w.rc);
    pipe_free(w.pipe);
    wake_free(w.wake);
    part_free(&w);
    return 0;
}
