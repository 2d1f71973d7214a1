/* stageq-worker: reads its configuration, loads the pipelines and hands over
 * to the supervisor. Exit codes: 0 clean stop, 1 runtime failure, 2 usage. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ids.h"
#include "log.h"
#include "pipeline.h"
#include "redis_url.h"
#include "worker.h"

#define W_OPT_INT(f, e, lo, hi, d, field, h)                                                       \
    {                                                                                              \
        f, e, CFG_INT, lo, hi, d, offsetof(struct worker_config, field), sizeof(int), h            \
    }
#define W_OPT_STR(f, e, d, field, h)                                                               \
    {                                                                                              \
        f, e, CFG_STRING, 0, 0, d, offsetof(struct worker_config, field),                          \
            sizeof(((struct worker_config *)0)->field), h                                          \
    }

static const struct cfg_option worker_options[] = {
    W_OPT_STR("redis-url", "STAGEQ_REDIS_URL", "redis://127.0.0.1:6379/0", redis_url,
              "Redis to use: redis://[[user]:pass@]host:port/db, unix:///path[?db=N] or "
              "redis-sentinel://[[user]:pass@]h1:26379,h2:26379/db[?sentinel_password=P]#master"),
    W_OPT_STR("prefix", "STAGEQ_PREFIX", "stageq", prefix, "prefix of every Redis key"),
    W_OPT_STR("queue", "STAGEQ_QUEUE", "default", queue,
              "queue this pool takes jobs from (it runs their stages of this queue)"),
    W_OPT_INT("concurrency", "STAGEQ_CONCURRENCY", 0, 1024, "0", concurrency,
              "worker processes (0 = number of CPUs)"),
    W_OPT_INT("grace", "STAGEQ_GRACE_S", 0, 86400, "30", grace_s,
              "seconds a stopping worker may finish its job before SIGKILL"),
    W_OPT_INT("redis-timeout-ms", "STAGEQ_REDIS_TIMEOUT_MS", 100, 60000, "5000", redis_timeout_ms,
              "connect and read timeout for Redis (above the 1 s BLMOVE wait)"),
    W_OPT_INT("min-replicas", "STAGEQ_MIN_REPLICAS", 0, 100, "0", min_replicas,
              "N >= 1: a job's end counts once WAIT confirms N replicas have it (behind "
              "Sentinel: every replica the sentinels count healthy, when more); until then "
              "the worker keeps the job and writes its end again"),
    W_OPT_INT("min-replicas-timeout-ms", "STAGEQ_MIN_REPLICAS_TIMEOUT_MS", 1, 60000, "1000",
              min_replicas_timeout_ms,
              "how long one WAIT for the replicas lasts (below --redis-timeout-ms)"),
    W_OPT_STR("pipelines", "STAGEQ_PIPELINES", "", pipelines,
              "pipelines file (JSON); empty: " PIPELINE_DEFAULT_FILE " when it exists"),
    W_OPT_INT("result-ttl-s", "STAGEQ_RESULT_TTL_S", 1, 31536000, "86400", result_ttl_s,
              "default result_ttl_s of the pipelines in the file"),
    W_OPT_INT("kill-grace-ms", "STAGEQ_KILL_GRACE_MS", 0, 600000, "5000", kill_grace_ms,
              "an exec stage being stopped gets SIGTERM, then SIGKILL after this"),
    W_OPT_INT("lease", "STAGEQ_LEASE_S", 2, 3600, "30", lease_s,
              "seconds without a heartbeat after which a worker's jobs are recovered "
              "(and a lease after Redis was last unreachable)"),
    W_OPT_STR("log", "STAGEQ_LOG", "text", log_format, "log format: text or json"),
    W_OPT_STR("log-level", "STAGEQ_LOG_LEVEL", "info", log_level, "error, warn, info or debug"),
};

int main(int argc, char **argv)
{
    struct worker_config cfg;
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
    if (redis_url_parse(cfg.redis_url, &url, &err) < 0) {
        fprintf(stderr, "stageq-worker: STAGEQ_REDIS_URL: %s\n", err.msg);
        return 2;
    }
    if (cfg.min_replicas > 0 && cfg.min_replicas_timeout_ms >= cfg.redis_timeout_ms) {
        fprintf(stderr,
                "stageq-worker: STAGEQ_MIN_REPLICAS_TIMEOUT_MS (%d) must be below "
                "STAGEQ_REDIS_TIMEOUT_MS (%d): WAIT blocks the connection\n",
                cfg.min_replicas_timeout_ms, cfg.redis_timeout_ms);
        return 2;
    }
    if (log_format_parse(cfg.log_format, &lf) < 0 || log_level_parse(cfg.log_level, &ll) < 0) {
        fprintf(stderr, "stageq-worker: STAGEQ_LOG must be text or json, STAGEQ_LOG_LEVEL one "
                        "of error, warn, info, debug\n");
        return 2;
    }
    if (!ids_is_valid(cfg.prefix, strlen(cfg.prefix), KEYS_PREFIX_MAX_LEN) ||
        !ids_is_valid(cfg.queue, strlen(cfg.queue), IDS_NAME_MAX_LEN)) {
        fprintf(stderr, "stageq-worker: STAGEQ_PREFIX and STAGEQ_QUEUE must be 1-64 characters "
                        "of [A-Za-z0-9._:-]\n");
        return 2;
    }
    if (cfg.concurrency == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.concurrency = n > 0 ? (int)(n > 1024 ? 1024 : n) : 1;
    }
    pipelines = pipeline_set_load(cfg.pipelines[0] ? cfg.pipelines : PIPELINE_DEFAULT_FILE,
                                  cfg.pipelines[0] != '\0', false, cfg.result_ttl_s, &err);
    /* only the programs of the stages this pool runs: a CPU machine need
     * not have the program of a stage that runs on the "gpu" queue */
    if (pipelines == NULL || pipeline_set_check_programs(pipelines, cfg.queue, &err) < 0) {
        fprintf(stderr, "stageq-worker: %s\n", err.msg);
        pipeline_set_free(pipelines);
        return 2;
    }
    log_init("supervisor", lf, ll);
    redis_url_describe(&url, desc, sizeof(desc));
    log_info("stageq-worker: redis %s, prefix '%s', %zu pipeline(s)%s%s", desc, cfg.prefix,
             pipelines->n, pipelines->path ? " from " : "", pipelines->path ? pipelines->path : "");
    rc = supervisor_run(&cfg, &url, pipelines);
    pipeline_set_free(pipelines);
    return rc;
}
