/* main: stageq-api's process policy — configuration, signals, limits, the
 * event loop, and exit codes: 0 clean shutdown, 1 runtime failure (cannot
 * bind, cannot start), 2 usage or configuration error. The only place that
 * exits. */
#include "api.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "job.h"
#include "log.h"

#define MAIN_EXIT_OK        0
#define MAIN_EXIT_RUNTIME   1
#define MAIN_EXIT_USAGE     2
#define MAIN_DRAIN_EXTRA_MS 1000 /* drain deadline beyond the Redis timeout */

#define MAIN_STR(field) offsetof(struct api_config, field), sizeof(((struct api_config *)0)->field)
#define MAIN_INT(field) offsetof(struct api_config, field), sizeof(int)

static const struct cfg_option main_options[] = {
    {"redis-url", "STAGEQ_REDIS_URL", CFG_STRING, 0, 0, "redis://127.0.0.1:6379/0",
     MAIN_STR(redis_url),
     "Redis to use: redis://[[user]:password@]host[:port][/db], unix:///path[?db=N] or "
     "redis-sentinel://[[user]:password@]host1[:port][,host2[:port]...][/db]"
     "[?sentinel_password=P]#master (the master the sentinels name, found again after a "
     "failover)"},
    {"listen", "STAGEQ_LISTEN", CFG_STRING, 0, 0, "127.0.0.1:8080", MAIN_STR(listen),
     "HTTP address host:port ([v6]:port); port 0 picks a free one"},
    {"prefix", "STAGEQ_PREFIX", CFG_STRING, 0, 0, "stageq", MAIN_STR(prefix),
     "prefix of every Redis key ([A-Za-z0-9._:-], at most 64)"},
    {"result-ttl-s", "STAGEQ_RESULT_TTL_S", CFG_INT, 1, JOB_RESULT_TTL_MAX_S, "86400",
     MAIN_INT(result_ttl_s),
     "seconds a finished job stays readable, unless the job says otherwise"},
    {"max-queue", "STAGEQ_MAX_QUEUE", CFG_INT, 0, 1000000000, "1000000", MAIN_INT(max_queue),
     "most jobs waiting in one queue: beyond it POST answers 429 (0 = no limit)"},
    {"max-body", "STAGEQ_MAX_BODY", CFG_INT, 1024, 67108864, "1048576", MAIN_INT(max_body),
     "largest request body in bytes"},
    {"redis-timeout-ms", "STAGEQ_REDIS_TIMEOUT_MS", CFG_INT, 10, 600000, "2000",
     MAIN_INT(redis_timeout_ms), "how long a request waits for Redis before a 503"},
    {"min-replicas", "STAGEQ_MIN_REPLICAS", CFG_INT, 0, 100, "0", MAIN_INT(min_replicas),
     "with N >= 1 a submit answers 202 only once WAIT (up to half of --redis-timeout-ms) "
     "confirms the job reached N replicas (behind Sentinel: every replica the sentinels "
     "count healthy, when more), else 503 (retrying with the same id is safe)"},
    {"events-linger-ms", "STAGEQ_EVENTS_LINGER_MS", CFG_INT, 0, 600000, "2000",
     MAIN_INT(events_linger_ms),
     "the API subscribes to job events only while a stream or ?wait listens; it "
     "unsubscribes this long after the last one left"},
    {"log", "STAGEQ_LOG", CFG_STRING, 0, 0, "text", MAIN_STR(log_format),
     "log format: text or json"},
    {"log-level", "STAGEQ_LOG_LEVEL", CFG_STRING, 0, 0, "info", MAIN_STR(log_level),
     "lowest level logged: error, warn, info or debug"},
    {"access-log", "STAGEQ_ACCESS_LOG", CFG_STRING, 0, 0, "on", MAIN_STR(access_log),
     "one info line per request (method, route, path, status, duration_ms, bytes, remote): "
     "on or off"},
    {"pipelines", "STAGEQ_PIPELINES", CFG_STRING, 0, 0, "", MAIN_STR(pipelines),
     "pipelines file (JSON); empty: " PIPELINE_DEFAULT_FILE " when it exists"},
    {"default-pipeline", "STAGEQ_DEFAULT_PIPELINE", CFG_STRING, 0, 0, "blog",
     MAIN_STR(default_pipeline),
     "pipeline that the blog's POST /start_task runs (blog: the blog's own 4 stages)"},
    {"cors-origin", "STAGEQ_CORS_ORIGIN", CFG_STRING, 0, 0, "", MAIN_STR(cors_origin),
     "CORS: Access-Control-Allow-Origin of every reply (an origin or *); empty: off"},
    {"api-token", "STAGEQ_API_TOKEN", CFG_STRING, 0, 0, "", MAIN_STR(api_token),
     "every route but / and /healthz requires Authorization: Bearer <token> (event streams: or "
     "?access_token=); empty: off"},
    {"port-file", "STAGEQ_PORT_FILE", CFG_STRING, 0, 0, "", MAIN_STR(port_file),
     "write the bound HTTP port to this file (for --listen host:0)"},
};

#define MAIN_NOPTIONS (sizeof(main_options) / sizeof(main_options[0]))

/* True when s is empty or only visible ASCII (no space, no control byte). */
static bool main_is_visible(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7F)
            return false;
    return true;
}

/* Cross-checks the options after parsing and sets the values derived from
 * them (is_access_log). 0, or -1 with err naming the option. */
static int main_check(struct api_config *cfg, struct redis_url *url, enum log_format *format,
                      enum log_level *level, struct sq_err *err)
{
    struct sq_err e;
    char host[256];
    int port;

    if (redis_url_parse(cfg->redis_url, url, &e) < 0) {
        err_set(err, "--redis-url: %s", e.msg);
        return -1;
    }
    if (server_parse_listen(cfg->listen, host, sizeof(host), &port, &e) < 0) {
        err_set(err, "--listen: %s", e.msg);
        return -1;
    }
    if (!ids_is_valid(cfg->prefix, strlen(cfg->prefix), KEYS_PREFIX_MAX_LEN)) {
        err_set(err, "--prefix: '%s' must be 1-%d characters of [A-Za-z0-9._:-]", cfg->prefix,
                KEYS_PREFIX_MAX_LEN);
        return -1;
    }
    if (log_format_parse(cfg->log_format, format) < 0) {
        err_set(err, "--log: '%s' is not text or json", cfg->log_format);
        return -1;
    }
    if (log_level_parse(cfg->log_level, level) < 0) {
        err_set(err, "--log-level: '%s' is not error, warn, info or debug", cfg->log_level);
        return -1;
    }
    if (strcmp(cfg->access_log, "on") != 0 && strcmp(cfg->access_log, "off") != 0) {
        err_set(err, "--access-log: '%s' is not on or off", cfg->access_log);
        return -1;
    }
    cfg->is_access_log = strcmp(cfg->access_log, "on") == 0;
    if (!main_is_visible(cfg->cors_origin)) {
        err_set(err, "--cors-origin: must be an origin or *, without spaces or control bytes");
        return -1;
    }
    if (!main_is_visible(cfg->api_token)) {
        err_set(err, "--api-token: must be visible ASCII, without spaces");
        return -1;
    }
    return 0;
}

/* Lets the process open as many connections as its hard limit allows. */
static void main_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_warn("cannot raise the open file limit");
}

/* SIGTERM/SIGINT: stop accepting, answer what is in flight, then leave the
 * loop. A second signal leaves at once. */
static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct api *api = arg;
    int cap_ms = api->cfg->redis_timeout_ms + MAIN_DRAIN_EXTRA_MS;
    struct timeval cap = {cap_ms / 1000, (cap_ms % 1000) * 1000};
    struct timeval flush = {0, 50000}; /* let the last replies be written */

    (void)what;
    if (api->is_draining) {
        log_info("signal %d again: exiting now", (int)sig);
        event_base_loopbreak(api->base);
        return;
    }
    log_info("signal %d: shutting down (%zu request(s) in flight)", (int)sig, api->inflight);
    api->is_draining = true;
    server_stop_accepting(api->server);
    sse_stop(api->sse); /* ends the streams and answers held ?wait requests now */
    event_base_loopexit(api->base, api->inflight == 0 ? &flush : &cap);
}

int main(int argc, char **argv)
{
    struct api_config cfg;
    struct api api;
    struct redis_url url;
    struct sq_err err;
    enum log_format format;
    enum log_level level;
    struct event *sigterm = NULL, *sigint = NULL;
    struct event_config *evcfg;
    char desc[512];
    int rc = MAIN_EXIT_RUNTIME;

    memset(&cfg, 0, sizeof(cfg));
    memset(&api, 0, sizeof(api));
    switch (cfg_load(main_options, MAIN_NOPTIONS, &cfg, argc, argv, &err)) {
    case CFG_HELP:
        cfg_usage(stdout, "stageq-api",
                  "The stageq HTTP API: submits jobs to Redis and reports their status.",
                  main_options, MAIN_NOPTIONS);
        return MAIN_EXIT_OK;
    case CFG_ERROR:
        fprintf(stderr, "stageq-api: %s\n", err.msg);
        return MAIN_EXIT_USAGE;
    case CFG_OK:
        break;
    }
    if (main_check(&cfg, &url, &format, &level, &err) < 0) {
        fprintf(stderr, "stageq-api: %s\n", err.msg);
        return MAIN_EXIT_USAGE;
    }
    /* The API runs no stage: it does not check that exec programs exist. */
    api.pipelines = pipeline_set_load(cfg.pipelines[0] ? cfg.pipelines : PIPELINE_DEFAULT_FILE,
                                      cfg.pipelines[0] != '\0', false, cfg.result_ttl_s, &err);
    if (api.pipelines == NULL) {
        fprintf(stderr, "stageq-api: %s\n", err.msg);
        return MAIN_EXIT_USAGE;
    }
    if (pipeline_set_find(api.pipelines, cfg.default_pipeline) == NULL) {
        fprintf(stderr, "stageq-api: --default-pipeline: no pipeline called '%s'\n",
                cfg.default_pipeline);
        pipeline_set_free(api.pipelines);
        return MAIN_EXIT_USAGE;
    }
    log_init("api", format, level);
    signal(SIGPIPE, SIG_IGN);
    main_raise_nofile();

    api.cfg = &cfg;
    /* The changelist folds evhttp's many add/del of a connection's events per
     * loop turn into one epoll_ctl (about 10 % of the API's CPU per request,
     * docs/performance.md); safe because the API never dup()s a descriptor it
     * gives libevent. */
    evcfg = event_config_new();
    if (evcfg != NULL)
        event_config_set_flag(evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    api.base = evcfg != NULL ? event_base_new_with_config(evcfg) : event_base_new();
    event_config_free(evcfg);
    api.counters = counters_new();
    if (api.base == NULL || api.counters == NULL) {
        log_errx("cannot create the event loop");
        goto done;
    }
    api.rasync = rasync_new(api.base, &url, cfg.redis_timeout_ms, &err);
    if (api.rasync == NULL) {
        log_errx("%s", err.msg);
        goto done;
    }
    if (cfg.min_replicas > 0) {
        /* WAIT holds the connection it runs on: submits get their own */
        api.rdurable = rasync_new(api.base, &url, cfg.redis_timeout_ms, &err);
        if (api.rdurable == NULL) {
            log_errx("%s", err.msg);
            goto done;
        }
    }
    api.eta = eta_new(&api);
    if (api.eta == NULL) {
        log_errx("out of memory");
        goto done;
    }
    api.sse = sse_new(&api, &url, &err);
    if (api.sse == NULL) {
        log_errx("%s", err.msg);
        goto done;
    }
    api.server = server_new(&api, &err);
    if (api.server == NULL) {
        log_errx("%s", err.msg);
        goto done;
    }
    sigterm = evsignal_new(api.base, SIGTERM, main_on_signal, &api);
    sigint = evsignal_new(api.base, SIGINT, main_on_signal, &api);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) < 0 ||
        evsignal_add(sigint, NULL) < 0) {
        log_errx("cannot install signal handlers");
        goto done;
    }
    redis_url_describe(&url, desc, sizeof(desc));
    log_info("stageq-api started: redis %s, prefix '%s', max body %d bytes, token %s, cors %s",
             desc, cfg.prefix, cfg.max_body, cfg.api_token[0] ? "on" : "off",
             cfg.cors_origin[0] ? cfg.cors_origin : "off");
    if (event_base_dispatch(api.base) < 0) {
        log_errx("event loop failed");
        goto done;
    }
    rc = MAIN_EXIT_OK;
    log_info("stopped");
done:
    /* The streams and held ?wait requests are answered first, then rasync
     * answers requests still waiting for Redis (both need the server's
     * connections alive); sse_free last (rasync's callbacks may name its
     * entries). */
    sse_stop(api.sse);
    rasync_free(api.rasync);
    rasync_free(api.rdurable);
    server_free(api.server);
    sse_free(api.sse);
    eta_free(api.eta);
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    pipeline_set_free(api.pipelines);
    counters_free(api.counters);
    if (api.base != NULL)
        event_base_free(api.base);
    libevent_global_shutdown();
    return rc;
}
