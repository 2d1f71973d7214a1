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
#include "options.h"

#define MAIN_EXIT_OK        0
#define MAIN_EXIT_RUNTIME   1
#define MAIN_EXIT_USAGE     2
#define MAIN_DRAIN_EXTRA_MS 1000 /* drain deadline beyond the Redis timeout */

#define MAIN_INT_ROW(...) CFG_INT_ROW(struct api_config, __VA_ARGS__)
#define MAIN_STR_ROW(...) CFG_STR_ROW(struct api_config, __VA_ARGS__)

static const struct cfg_option main_options[] = {
    OPTIONS_SHARED_ROWS(struct api_config),
    MAIN_STR_ROW(listen, "listen", "STAGEQ_LISTEN", "127.0.0.1:8080",
                 "HTTP address host:port ([v6]:port); port 0 picks a free one"),
    MAIN_INT_ROW(max_queue, "max-queue", "STAGEQ_MAX_QUEUE", 0, 1000000000, "1000000",
                 "most jobs waiting in one queue, shared by its partitions: beyond it POST answers "
                 "429 (0 = no limit)"),
    MAIN_INT_ROW(max_body, "max-body", "STAGEQ_MAX_BODY", 1024, 67108864, "1048576",
                 "largest request body in bytes"),
    CFG_INT_ROW_RENAMED(struct api_config, redis_timeout_ms, "request-timeout-ms",
                        "STAGEQ_REQUEST_TIMEOUT_MS", "redis-timeout-ms", "STAGEQ_REDIS_TIMEOUT_MS",
                        10, 600000, "2000",
                        "how long a request waits for Redis before a 503 (with --min-replicas, "
                        "a submit's WAIT takes up to half of it)"),
    MAIN_INT_ROW(events_linger_ms, "events-linger-ms", "STAGEQ_EVENTS_LINGER_MS", 0, 600000, "2000",
                 "the API subscribes to job events only while a stream or ?wait listens; it "
                 "unsubscribes this long after the last one left"),
    MAIN_STR_ROW(access_log, "access-log", "STAGEQ_ACCESS_LOG", "on",
                 "one info line per request (method, route, path, status, duration_ms, bytes, "
                 "remote): on or off"),
    MAIN_STR_ROW(default_pipeline, "default-pipeline", "STAGEQ_DEFAULT_PIPELINE", "blog",
                 "pipeline that the blog's POST /start_task runs (blog: the blog's own 4 stages)"),
    MAIN_STR_ROW(cors_origin, "cors-origin", "STAGEQ_CORS_ORIGIN", "",
                 "CORS: Access-Control-Allow-Origin of every reply (an origin or *); empty: off"),
    MAIN_STR_ROW(api_token, "api-token", "STAGEQ_API_TOKEN", "",
                 "every route but / and /healthz requires Authorization: Bearer <token> (event "
                 "streams: or ?access_token=); empty: off"),
    MAIN_STR_ROW(port_file, "port-file", "STAGEQ_PORT_FILE", "",
                 "write the bound HTTP port to this file (for --listen host:0)"),
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
    struct options_shared shared = {cfg->redis_url, cfg->prefix, cfg->log_format, cfg->log_level};
    struct sq_err e;
    char host[256];
    int port;

    if (options_check(&shared, url, format, level, err) < 0)
        return -1;
    if (server_parse_listen(cfg->listen, host, sizeof(host), &port, &e) < 0) {
        err_set(err, SQ_ERR_INVALID, "--listen: %s", e.msg);
        return -1;
    }
    if (strcmp(cfg->access_log, "on") != 0 && strcmp(cfg->access_log, "off") != 0) {
        err_set(err, SQ_ERR_INVALID, "--access-log: '%s' is not on or off", cfg->access_log);
        return -1;
    }
    cfg->is_access_log = strcmp(cfg->access_log, "on") == 0;
    if (!main_is_visible(cfg->cors_origin)) {
        err_set(err, SQ_ERR_INVALID,
                "--cors-origin: must be an origin or *, without spaces or control bytes");
        return -1;
    }
    if (!main_is_visible(cfg->api_token)) {
        err_set(err, SQ_ERR_INVALID, "--api-token: must be visible ASCII, without spaces");
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

/* A log line is held: write it once this loop turn's callbacks have run, so
 * that the access-log lines of one turn go out in one write. */
static void main_on_log_hold(void *arg)
{
    event_active(arg, EV_TIMEOUT, 1);
}

static void main_flush_log(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    log_flush();
}

int main(int argc, char **argv)
{
    struct api_config cfg;
    struct api api;
    struct redis_url url;
    struct sq_err err;
    enum log_format format;
    enum log_level level;
    struct event *sigterm = NULL, *sigint = NULL, *logflush = NULL;
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
        return err.code == SQ_ERR_INVALID ? MAIN_EXIT_USAGE : MAIN_EXIT_RUNTIME;
    }
    if (pipeline_set_find(api.pipelines, cfg.default_pipeline) == NULL) {
        fprintf(stderr, "stageq-api: --default-pipeline: no pipeline called '%s'\n",
                cfg.default_pipeline);
        pipeline_set_free(api.pipelines);
        return MAIN_EXIT_USAGE;
    }
    log_init("api", format, level);
    if (log_catch_crashes() < 0)
        log_warn("cannot catch crash signals to write the held log lines");
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
    if (api.base != NULL)
        logflush = event_new(api.base, -1, 0, main_flush_log, NULL);
    if (api.base == NULL || api.counters == NULL || logflush == NULL) {
        log_errx("cannot create the event loop");
        goto done;
    }
    log_on_hold(main_on_log_hold, logflush);
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
    api.schedules = schedules_new(&api);
    if (api.schedules == NULL) {
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
    schedules_free(api.schedules);
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    log_on_hold(NULL, NULL);
    if (logflush != NULL)
        event_free(logflush);
    pipeline_set_free(api.pipelines);
    counters_free(api.counters);
    if (api.base != NULL)
        event_base_free(api.base);
    libevent_global_shutdown();
    return rc;
}
