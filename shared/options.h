/* options: the option rows both daemons read (Redis, key prefix, replicas,
 * pipelines, result TTL, logs), written once with one set of limits, and the
 * checks of their values. Never exits or prints: the daemon's main() does. */
#ifndef STAGEQ_OPTIONS_H
#define STAGEQ_OPTIONS_H

#include "config.h"
#include "err.h"
#include "job.h"
#include "log.h"
#include "pipeline.h"
#include "redis_url.h"

/* The shared rows of config struct `stype`, which has the members redis_url,
 * prefix, pipelines, log_format, log_level (char arrays) and min_replicas,
 * result_ttl_s (int). Goes first in the binary's table: OPTIONS_SHARED_ROWS(struct x), ... */
#define OPTIONS_SHARED_ROWS(stype)                                                                 \
    CFG_STR_ROW(stype, redis_url, "redis-url", "STAGEQ_REDIS_URL", "redis://127.0.0.1:6379/0",     \
                "Redis to use: redis://[[user]:password@]host[:port][/db], unix:///path[?db=N], "  \
                "redis-sentinel://[[user]:password@]host1[:port][,host2[:port]...][/db]"           \
                "[?sentinel_password=P]#master (the master the sentinels name, found again after " \
                "a failover) or redis-cluster://[[user]:password@]host1[:port][,host2[:port]...]/" \
                " (seed nodes of a Redis Cluster: each key goes to its slot's master)"),           \
        CFG_STR_ROW(stype, prefix, "prefix", "STAGEQ_PREFIX", "stageq",                            \
                    "prefix of every Redis key ([A-Za-z0-9._:-], at most 64)"),                    \
        CFG_INT_ROW(stype, min_replicas, "min-replicas", "STAGEQ_MIN_REPLICAS", 0, 100, "0",       \
                    "N >= 1: an acknowledgement (the API's 202 to a submit, a worker's end of a "  \
                    "job) waits until WAIT confirms N replicas have the job (behind Sentinel: "    \
                    "every replica the sentinels count healthy, when more); else the API answers " \
                    "503 (retrying with the same id is safe) and a worker keeps the job and "      \
                    "writes its end again"),                                                       \
        CFG_STR_ROW(stype, pipelines, "pipelines", "STAGEQ_PIPELINES", "",                         \
                    "pipelines file (JSON); empty: " PIPELINE_DEFAULT_FILE " when it exists"),     \
        CFG_INT_ROW(stype, result_ttl_s, "result-ttl-s", "STAGEQ_RESULT_TTL_S", 1,                 \
                    JOB_RESULT_TTL_MAX_S, JOB_STR(JOB_RESULT_TTL_DEFAULT_S),                       \
                    "seconds a finished job stays readable when neither its submit nor its "       \
                    "pipeline says otherwise"),                                                    \
        CFG_STR_ROW(stype, log_format, "log", "STAGEQ_LOG", "text", "log format: text or json"),   \
        CFG_STR_ROW(stype, log_level, "log-level", "STAGEQ_LOG_LEVEL", "info",                     \
                    "lowest level logged: error, warn, info or debug")

/* The values of the shared options that need more than their row's bounds,
 * borrowed from the binary's config struct. */
struct options_shared {
    const char *redis_url, *prefix, *log_format, *log_level;
};

/* Checks the shared options after cfg_load: parses the Redis URL into *url and
 * the log format and level into *format and *level, and checks the prefix.
 * 0, or -1 with err naming the option ("--prefix: ..."). */
int options_check(const struct options_shared *o, struct redis_url *url, enum log_format *format,
                  enum log_level *level, struct sq_err *err);

#endif
