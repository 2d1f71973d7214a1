/* watch: follows one job until it ends — over the job's Server-Sent Events
 * stream (GET /v1/jobs/{id}/events), so each change shows as it happens;
 * reconnects with Last-Event-ID when the stream drops, and after
 * WATCH_RETRIES failed attempts in a row falls back to polling
 * GET /v1/jobs/{id}. Prints the display on stdout and errors on stderr;
 * never exits (returns the exit code to main). */
#include "cli.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "json.h"

#define WATCH_RETRIES        8    /* stream attempts in a row before polling */
#define WATCH_BACKOFF_MIN_MS 100  /* first wait before reconnecting, doubled */
#define WATCH_BACKOFF_MAX_MS 1000 /* longest wait before reconnecting */
#define WATCH_IDLE_S         45   /* no byte for this long: the stream is dead */
#define WATCH_TICK_MS        1000 /* terminal redraw between events */
#define WATCH_POLL_MS        500  /* fallback: time between two polls */
#define WATCH_POLL_FAILS_MAX 20   /* fallback: failed polls in a row before giving up */

struct watch {
    struct client *client;
    const char *id;
    bool is_json;
    struct bar bar;
    struct sse_parser parser;
    struct job_view view;
    cJSON *final;        /* the final status, once seen */
    bool is_gone;        /* the job expired or vanished mid-watch */
    bool is_bad;         /* the API sent something that is not a status */
    unsigned long shown; /* statuses shown over this connection */
};

static void watch_sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Shows one status (borrowed). Returns 1 when it is final (kept in
 * w->final), 0 when the job goes on, -1 when it is not a job status. */
static int watch_show(struct watch *w, const cJSON *st)
{
    if (job_view_read(st, &w->view) < 0) {
        w->is_bad = true;
        return -1;
    }
    w->shown++;
    if (job_view_is_final(&w->view)) {
        w->final = cJSON_Duplicate(st, true);
        return 1;
    }
    if (!w->is_json)
        bar_update(&w->bar, &w->view, clock_mono_ms());
    return 0;
}

/* An SSE event: "status" carries a status; "end" closes the stream, with
 * "state":null when the job expired and "reason" when the API shuts down
 * (then the watch reconnects). Returns nonzero to stop reading. */
static int watch_on_event(const struct sse_event *ev, void *arg)
{
    struct watch *w = arg;
    struct json_err jerr;
    cJSON *data;
    int rc = 0;

    if (strcmp(ev->event, "status") != 0 && strcmp(ev->event, "end") != 0)
        return 0;
    data = json_parse_exact(ev->data, ev->data_len, JSON_MAX_DEPTH_DEFAULT, &jerr);
    if (data == NULL) {
        w->is_bad = true;
        return 1;
    }
    if (strcmp(ev->event, "status") == 0) {
        rc = watch_show(w, data) != 0;
    } else {
        const cJSON *state = json_get(data, "state");
        if (state != NULL && cJSON_IsNull(state))
            w->is_gone = true;
        rc = 1; /* final, gone or shutting down: this stream is over */
    }
    cJSON_Delete(data);
    return rc;
}

static int watch_on_data(const char *buf, size_t len, void *arg)
{
    struct watch *w = arg;

    return sse_parser_feed(&w->parser, buf, len);
}

static void watch_on_tick(void *arg)
{
    struct watch *w = arg;

    if (!w->is_json)
        bar_tick(&w->bar, clock_mono_ms());
}

/* Ends the terminal line before a message on stderr. */
static void watch_break_line(struct watch *w)
{
    if (w->bar.is_tty && w->bar.has_line) {
        fputc('\n', stdout);
        fflush(stdout);
        w->bar.has_line = false;
    }
}

/* The outcome: the display's last line (or the status with --json) and the
 * exit code of the final state. */
static int watch_finish(struct watch *w)
{
    struct job_view v;

    if (job_view_read(w->final, &v) < 0)
        return CLI_EXIT_UNREACHABLE;
    if (w->is_json) {
        char *s = json_print(w->final);
        if (s != NULL)
            printf("%s\n", s);
        cJSON_free(s);
        fflush(stdout);
    } else {
        bar_finish(&w->bar, &v, clock_mono_ms());
    }
    return strcmp(v.state, "succeeded") == 0 ? CLI_EXIT_OK : CLI_EXIT_JOB;
}

/* The fallback: GET /v1/jobs/{id} every WATCH_POLL_MS until the job ends;
 * an unreachable API is tried WATCH_POLL_FAILS_MAX times in a row. Returns
 * the exit code. */
static int watch_poll(struct watch *w)
{
    struct client_reply rep;
    char path[1024];
    int fails = 0, rc;

    if (client_job_path(w->id, "", path, sizeof(path)) < 0)
        return CLI_EXIT_USAGE;
    for (;;) {
        int64_t t = clock_mono_ms();

        if (client_request(w->client, CLIENT_GET, path, NULL, &rep) < 0 || rep.status >= 500) {
            if (++fails >= WATCH_POLL_FAILS_MAX) {
                watch_break_line(w);
                rc = client_fail(&rep);
                client_reply_clear(&rep);
                return rc;
            }
        } else if (rep.status != 200) {
            watch_break_line(w);
            rc = client_fail(&rep);
            client_reply_clear(&rep);
            return rc;
        } else {
            fails = 0;
            rc = rep.json ? watch_show(w, rep.json) : -1;
            if (rc < 0) {
                watch_break_line(w);
                fprintf(stderr, "stageq: the API's answer is not a job status\n");
                client_reply_clear(&rep);
                return CLI_EXIT_UNREACHABLE;
            }
            if (rc == 1) {
                client_reply_clear(&rep);
                return watch_finish(w);
            }
        }
        client_reply_clear(&rep);
        watch_sleep_ms(WATCH_POLL_MS - (clock_mono_ms() - t));
    }
}

/* Streams until the job ends; returns the exit code, or -1 to fall back to
 * polling after WATCH_RETRIES failed attempts in a row. */
static int watch_stream(struct watch *w)
{
    struct client_reply rep;
    const char *hdr[3] = {NULL, NULL, NULL};
    char path[1024];
    int fails = 0, rc;
    bool has_streamed = false;
    int64_t backoff = WATCH_BACKOFF_MIN_MS;

    if (client_job_path(w->id, "/events", path, sizeof(path)) < 0) {
        fprintf(stderr, "stageq: job id too long (see stageq --help)\n");
        return CLI_EXIT_USAGE;
    }
    for (;;) {
        hdr[0] = w->parser.last_id[0] ? "Last-Event-ID" : NULL;
        hdr[1] = w->parser.last_id;
        w->shown = 0;
        sse_parser_reset(&w->parser);
        rc = client_stream(w->client, path, hdr[0] ? hdr : NULL, WATCH_IDLE_S, watch_on_data,
                           w->bar.is_tty && !w->is_json ? watch_on_tick : NULL, WATCH_TICK_MS, w,
                           &rep);
        if (w->final != NULL) {
            client_reply_clear(&rep);
            return watch_finish(w);
        }
        if (w->is_gone || w->is_bad) {
            watch_break_line(w);
            fprintf(stderr,
                    w->is_gone ? "stageq: job %s expired while watched\n"
                               : "stageq: the API sent an event that is not a job "
                                 "status (job %s)\n",
                    w->id);
            client_reply_clear(&rep);
            return w->is_gone ? CLI_EXIT_JOB : CLI_EXIT_UNREACHABLE;
        }
        if (rep.status == 200) {
            has_streamed = true;
        } else if (rep.status == 204) {
            /* the reconnect of a job that ended meanwhile: the API tells
             * EventSource clients to stop; its final status is one GET away */
            client_reply_clear(&rep);
            return watch_poll(w);
        } else if (rep.status != 0 && (rep.status < 500 || !has_streamed)) {
            /* 404 unknown job, 401, 400 bad id; 5xx before any stream */
            watch_break_line(w);
            rc = client_fail(&rep);
            client_reply_clear(&rep);
            return rc;
        } else if (rep.status == 0 && !has_streamed) {
            rc = client_fail(&rep); /* unreachable from the start */
            client_reply_clear(&rep);
            return rc;
        }
        client_reply_clear(&rep);
        /* the stream ended without the final status, broke, or the API
         * restarts: try again, from the start when it had shown something */
        if (w->shown > 0) {
            fails = 0;
            backoff = WATCH_BACKOFF_MIN_MS;
        }
        if (++fails > WATCH_RETRIES)
            return -1;
        watch_sleep_ms(backoff);
        backoff = backoff * 2 > WATCH_BACKOFF_MAX_MS ? WATCH_BACKOFF_MAX_MS : backoff * 2;
    }
}

int watch_job(struct client *c, const char *id, bool is_json)
{
    struct watch w;
    int rc;

    memset(&w, 0, sizeof(w));
    w.client = c;
    w.id = id;
    w.is_json = is_json;
    bar_init(&w.bar, stdout, !is_json && isatty(STDOUT_FILENO));
    sse_parser_init(&w.parser, watch_on_event, &w);
    rc = watch_stream(&w);
    if (rc < 0) {
        watch_break_line(&w);
        fprintf(stderr, "stageq: the event stream of job %s keeps failing; polling instead\n", id);
        rc = watch_poll(&w);
    }
    sse_parser_clear(&w.parser);
    cJSON_Delete(w.final);
    return rc;
}
