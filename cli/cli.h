/* cli: private header of the `stageq` command-line client — the HTTP client,
 * the job view read from a job status, the progress bar, the SSE parser, the
 * watch of one job, and the overview tables. Only main.c exits; watch returns
 * the exit code it decided for main to use. */
#ifndef STAGEQ_CLI_H
#define STAGEQ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define CLI_EXIT_OK          0 /* job succeeded, or command done */
#define CLI_EXIT_JOB         1 /* job failed or canceled; unknown job; other 4xx */
#define CLI_EXIT_USAGE       2 /* usage error, bad input (400/413/415/422) */
#define CLI_EXIT_UNREACHABLE 3 /* connection refused, timeout, 5xx */

#define CLI_TIMEOUT_DEFAULT_S 10

/* ---- client: one keep-alive HTTP connection, blocking requests ---------- */

struct client;

enum client_method { CLIENT_GET, CLIENT_POST, CLIENT_DELETE };

/* A reply. status is 0 when no HTTP answer arrived (err says why). json is
 * the parsed body when it is strict JSON, else NULL. */
struct client_reply {
    int status;
    char *body; /* NUL-terminated, may be NULL */
    size_t len;
    cJSON *json;
    char err[256];
};

/* Connects lazily to base_url (http://host[:port][/prefix]); token, when
 * non-empty, is sent as "Authorization: Bearer". Returns a new client the
 * caller frees with client_free(), or NULL with a reason in err. */
struct client *client_new(const char *base_url, const char *token, int timeout_s, char *err,
                          size_t errlen);

/* Accepts NULL. */
void client_free(struct client *c);

/* Sends one request for path (appended to the URL's path) with an optional
 * JSON body, and waits for the answer (event_base_dispatch). Fills rep, which
 * the caller releases with client_reply_clear() whatever the result. Returns 0
 * when an HTTP answer arrived (any status), -1 otherwise (rep->err). */
int client_request(struct client *c, enum client_method m, const char *path, const char *body,
                   struct client_reply *rep);

/* Streams GET path: on_data gets each piece of a 200 reply's body as it
 * arrives and returns nonzero to stop reading; on_tick, when not NULL, runs
 * every tick_ms meanwhile. headers is NULL or a NULL-terminated list of name,
 * value pairs added to the request. The stream has its own connection whose
 * read timeout is idle_s (the API sends a comment every 15 s). A reply other
 * than 200 is read whole into rep like client_request's. Returns 1 when
 * on_data stopped it, 0 when the reply ended, -1 when no answer came or the
 * stream broke (rep->status tells whether the 200 had begun; rep->err why).
 * The caller clears rep with client_reply_clear(). */
int client_stream(struct client *c, const char *path, const char *const *headers, int idle_s,
                  int (*on_data)(const char *buf, size_t len, void *arg),
                  void (*on_tick)(void *arg), int tick_ms, void *arg, struct client_reply *rep);

/* "/v1/jobs/<id><suffix>" into out; ids outside the API's charset are
 * percent-encoded so the API, not the URL parser, refuses them. Returns 0, or
 * -1 when it does not fit. */
int client_job_path(const char *id, const char *suffix, char *out, size_t len);

/* Frees what rep holds and zeroes it. */
void client_reply_clear(struct client_reply *rep);

/* The exit code for a reply that is not a success (no answer, 4xx, 5xx), and
 * prints a one-line message naming the API's error to stderr. */
int client_fail(const struct client_reply *rep);

/* ---- job_view: the fields of a job status the CLI shows ----------------- */

#define JOB_VIEW_STAGES_MAX 32 /* stage names kept; later ones show as "?" */

struct job_view {
    char id[129];
    char state[16];
    char stage_name[64];
    char message[256];
    char run_at[32]; /* a scheduled job's due time (RFC 3339), else empty */
    int stage, stage_count, attempt, max_attempts;
    double progress, overall;
    char err_code[64];
    char err_msg[256];
    char err_stage[64];
    char names[JOB_VIEW_STAGES_MAX][64]; /* stage names, 0-based */
    bool has_eta;                        /* eta_s was a number */
    double eta_s;                        /* seconds until the job ends */
};

/* The name of 1-based stage k, "?" when unknown. */
const char *job_view_stage_name(const struct job_view *v, int k);

/* Reads the borrowed status object st into v (missing fields are zero or
 * empty). Returns 0, or -1 when st is not a job status object. */
int job_view_read(const cJSON *st, struct job_view *v);

/* Whether state is succeeded, failed or canceled. */
bool job_view_is_final(const struct job_view *v);

/* ---- bar: progress display of one watched job --------------------------- */

struct bar {
    FILE *out;
    struct job_view last; /* the sample on screen (tty), for bar_tick */
    int64_t last_ms;      /* when it was taken, 0 = none */
    bool is_tty;
    int width;           /* terminal columns */
    bool has_line;       /* a \r line is on screen */
    int64_t t0_ms;       /* when watching began */
    char last_state[16]; /* plain mode: what was last printed */
    int last_stage, last_decile;
};

/* Prepares a display on out; is_tty selects the redrawn bar or plain lines.
 * The width comes from TIOCGWINSZ (80 when unknown). */
void bar_init(struct bar *b, FILE *out, bool is_tty);

/* Shows sample v taken at monotonic time now_ms. */
void bar_update(struct bar *b, const struct job_view *v, int64_t now_ms);

/* Redraws the terminal line of the last sample at now_ms (elapsed time and
 * ETA move on between samples). Does nothing in plain mode. */
void bar_tick(struct bar *b, int64_t now_ms);

/* Ends the display with the final outcome line of v. */
void bar_finish(struct bar *b, const struct job_view *v, int64_t now_ms);

/* ---- sse: the Server-Sent Events parser ---------------------------------- */

#define SSE_DATA_MAX (16 * 1024 * 1024) /* bytes of a line or of an event's data */

/* One event, borrowed by the callback: event is "message" when the stream
 * named none; data is NUL-terminated; id is the last id the stream set. */
struct sse_event {
    const char *event;
    const char *data;
    size_t data_len;
    const char *id;
};

struct sse_parser {
    int (*on_event)(const struct sse_event *ev, void *arg);
    void *arg;
    char *line, *data;
    size_t line_len, line_cap, data_len, data_cap;
    bool has_data;
    bool is_cr;                     /* the last byte was CR: a following LF ends nothing */
    bool is_line_bad;               /* the current line went past SSE_DATA_MAX */
    bool is_event_bad;              /* the current event lost a line: not dispatched */
    char event[64];                 /* the current event's type */
    char last_id[256];              /* kept across events and reconnects (Last-Event-ID) */
    unsigned long events, comments; /* counts, for tests and logs */
};

/* Prepares p; on_event gets every complete event and returns nonzero to stop
 * the feed. Release with sse_parser_clear(). */
void sse_parser_init(struct sse_parser *p, int (*on_event)(const struct sse_event *, void *),
                     void *arg);

/* Forgets a partial line and event (a new connection), keeping last_id. */
void sse_parser_reset(struct sse_parser *p);

/* Frees p's buffers; p may be fed again afterwards. Accepts NULL. */
void sse_parser_clear(struct sse_parser *p);

/* Parses len bytes of the stream. Returns 0, or the first nonzero value of
 * on_event (the rest of buf is then not parsed). */
int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len);

/* ---- watch: following one job until it ends ------------------------------ */

/* Follows job id over GET /v1/jobs/{id}/events, reconnecting with
 * Last-Event-ID when the stream drops (WATCH_RETRIES times, then polling
 * GET /v1/jobs/{id}), and shows it on stdout (is_json: only the final status).
 * Returns the exit code: 0 succeeded, 1 failed/canceled/gone, 3 unreachable. */
int watch_job(struct client *c, const char *id, bool is_json);

/* ---- overview: the tables of list, stats and workers ---------------------- */

/* Prints the jobs of a GET /v1/jobs reply (borrowed) as a table; now_ms is
 * the wall clock for the AGE column. with_header prints the column names. */
void overview_print_jobs(const cJSON *reply, int64_t now_ms, bool with_header);

/* Prints a GET /v1/stats reply (borrowed). */
void overview_print_stats(const cJSON *reply);

/* Prints a GET /v1/workers reply (borrowed); now_ms for the ages. */
void overview_print_workers(const cJSON *reply, int64_t now_ms);

/* Prints a GET /v1/schedules reply (borrowed): each schedule, when it runs,
 * its last run (time, job id) and next run. */
void overview_print_schedules(const cJSON *reply);
/* The table of GET /v1/queues' reply: one queue a line. */
void overview_print_queues(const cJSON *reply);

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS.mmmZ" to epoch ms; -1 when item is not one. */
int64_t overview_parse_time(const cJSON *item);

#endif
