/* stageq-worker: reads its configuration, loads the pipelines and hands over
 * to the supervisor. Exit codes: 0 clean stop, 1 runtime failure, 2 usage. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ids.h"
#include "job.h"
#include "log.h"
#include "options.h"
#include "pipeline.h"
#include "redis_url.h"
#include "worker.h"

#define W_INT_ROW(...) CFG_INT_ROW(struct worker_config, __VA_ARGS__)
#define W_STR_ROW(...) CFG_STR_ROW(struct worker_config, __VA_ARGS__)

static const struct cfg_option worker_options[] = {
    OPTIONS_SHARED_ROWS(struct worker_config),
    W_STR_ROW(queue, "queue", "STAGEQ_QUEUE", "default",
              "queue this pool takes jobs from (it runs their stages of this queue)"),
    W_STR_ROW(queues, "queues", "STAGEQ_QUEUES", "",
              "several queues, instead of --queue: \"high,default,low\" takes from them in "
              "strict order, \"high:6,default:3,low:1\" by weight (a low queue is never "
              "starved); they need one partition count"),
    W_INT_ROW(concurrency, "concurrency", "STAGEQ_CONCURRENCY", 0, 1024, "0",
              "worker processes (0 = number of CPUs)"),
    W_INT_ROW(grace_s, "grace", "STAGEQ_GRACE_S", 0, 86400, "30",
              "seconds a stopping worker may finish its job before SIGKILL"),
    W_INT_ROW(redis_timeout_ms, "redis-timeout-ms", "STAGEQ_REDIS_TIMEOUT_MS", 100, 60000, "5000",
              "connect and read timeout of the worker's Redis connection (above the 1 s BLMOVE "
              "wait; the API's own is --request-timeout-ms)"),
    W_INT_ROW(min_replicas_timeout_ms, "min-replicas-timeout-ms", "STAGEQ_MIN_REPLICAS_TIMEOUT_MS",
              1, 60000, "1000",
              "how long one WAIT for the replicas lasts (below --redis-timeout-ms)"),
    W_INT_ROW(kill_grace_ms, "kill-grace-ms", "STAGEQ_KILL_GRACE_MS", 0, 600000, "5000",
              "a stage program being stopped gets SIGTERM, then SIGKILL after this (a warm one "
              "first has this long to exit after its stdin closes)"),
    W_INT_ROW(lease_s, "lease", "STAGEQ_LEASE_S", 2, 3600, "30",
              "seconds without a heartbeat after which a worker's jobs are recovered "
              "(and a lease after Redis was last unreachable)"),
};

/* The queues the pool serves: one partition count, and the programs of the
 * stages it runs. 0, or -1 with err. */
static int main_check_queues(const struct worker_config *cfg, const struct pipeline_set *pipelines,
                             struct sq_err *err)
{
    struct worker w;
    int i;

    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.pipelines = pipelines;
    if (part_queues(&w, err->msg, sizeof(err->msg)) < 0) {
        err->code = SQ_ERR_INVALID;
        return -1;
    }
    /* only the programs of the stages this pool runs: a CPU machine need
     * not have the program of a stage that runs on the "gpu" queue */
    for (i = 0; i < w.nqueues; i++)
        if (pipeline_set_check_programs(pipelines, w.queues[i].name, err) < 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct worker_config cfg;
    struct options_shared shared;
    struct redis_url url;
    struct pipeline_set *pipelines;
    struct sq_err err;
    enum log_format lf;
    enum log_level ll;
    char desc[400];
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    switch (cfg_load(worker_options, sizeof(worker_options) / sizeof(worker_options[0]), &cfg, argc,
                     argv, &err)) {
    case CFG_HELP:
        cfg_usage(stdout, "stageq-worker",
                  "Runs jobs from a stageq queue in a pool of worker processes.", worker_options,
                  sizeof(worker_options) / sizeof(worker_options[0]));
        return 0;
    case CFG_ERROR:
        fprintf(stderr, "stageq-worker: %s\n", err.msg);
        return 2;
    case CFG_OK:
        break;
    }
    shared = (struct options_shared){cfg.redis_url, cfg.prefix, cfg.log_format, cfg.log_level};
    if (options_check(&shared, &url, &lf, &ll, &err) < 0) {
        fprintf(stderr, "stageq-worker: %s\n", err.msg);
        return 2;
    }
    if (cfg.min_replicas > 0 && cfg.min_replicas_timeout_ms >= cfg.redis_timeout_ms) {
        fprintf(stderr,
                "stageq-worker: STAGEQ_MIN_REPLICAS_TIMEOUT_MS (%d) must be below "
                "STAGEQ_REDIS_TIMEOUT_MS (%d): WAIT blocks the connection\n",
                cfg.min_replicas_timeout_ms, cfg.redis_timeout_ms);
        return 2;
    }
    if (!ids_is_valid(cfg.queue, strlen(cfg.queue), IDS_NAME_MAX_LEN)) {
        fprintf(stderr,
                "stageq-worker: --queue: '%s' must be 1-%d characters of "
                "[A-Za-z0-9._:-]\n",
                cfg.queue, IDS_NAME_MAX_LEN);
        return 2;
    }
    if (cfg.queues[0] != '\0') {
        struct wqueue qs[WORKER_QUEUES_MAX];
        bool is_weighted;
        int n;

        if (order_parse(cfg.queues, qs, &n, &is_weighted, err.msg, sizeof(err.msg)) < 0) {
            fprintf(stderr, "stageq-worker: %s\n", err.msg);
            return 2;
        }
        /* the first one is the pool's home (its logs, the registry's "queue") */
        snprintf(cfg.queue, sizeof(cfg.queue), "%s", qs[0].name);
    }
    if (cfg.concurrency == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.concurrency = n > 0 ? (int)(n > 1024 ? 1024 : n) : 1;
    }
    pipelines = pipeline_set_load(cfg.pipelines[0] ? cfg.pipelines : PIPELINE_DEFAULT_FILE,
                                  cfg.pipelines[0] != '\0', false, cfg.result_ttl_s, &err);
    if (pipelines == NULL || main_check_queues(&cfg, pipelines, &err) < 0) {
        fprintf(stderr, "stageq-worker: %s\n", err.msg);
        pipeline_set_free(pipelines);
        return err.code == SQ_ERR_INVALID ? 2 : 1; /* a bad file, or out of memory / read error */
    }
    log_init("supervisor", lf, ll);
    if (log_catch_crashes() < 0)
        log_warn("cannot catch crash signals to write the held log lines");
    redis_url_describe(&url, desc, sizeof(desc));
    log_info("stageq-worker: redis %s, prefix '%s', %zu pipeline(s)%s%s", desc, cfg.prefix,
             pipelines->n, pipelines->path ? " from " : "", pipelines->path ? pipelines->path : "");
    rc = supervisor_run(&cfg, &url, pipelines);
    pipeline_set_free(pipelines);
    return rc;
}
