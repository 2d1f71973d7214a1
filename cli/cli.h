/* cli: private header of the `stageq` command-line client — the HTTP client,
 * the job view read from GET /v1/jobs/{id}, and the progress bar. Only main.c
 * decides exit codes and exits. */
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
    int stage, stage_count, attempt, max_attempts;
    double progress, overall;
    char err_code[64];
    char err_msg[256];
    char err_stage[64];
    char names[JOB_VIEW_STAGES_MAX][64]; /* stage names, 0-based */
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
    bool is_tty;
    int width;           /* terminal columns */
    bool has_line;       /* a \r line is on screen */
    int64_t t0_ms;       /* when watching began */
    int64_t run_ms;      /* first sample seen running (monotonic), 0 = none */
    double run_overall;  /* overall progress at run_ms */
    char last_state[16]; /* plain mode: what was last printed */
    int last_stage, last_decile;
};

/* Prepares a display on out; is_tty selects the redrawn bar or plain lines.
 * The width comes from TIOCGWINSZ (80 when unknown). */
void bar_init(struct bar *b, FILE *out, bool is_tty);

/* Shows sample v taken at monotonic time now_ms. */
void bar_update(struct bar *b, const struct job_view *v, int64_t now_ms);

/* Ends the display with the final outcome line of v. */
void bar_finish(struct bar *b, const struct job_view *v, int64_t now_ms);

/* Formats a duration in ms as m:ss (or h:mm:ss) into out. */
void bar_format_duration(int64_t ms, char *out, size_t len);

#endif
