/* main: `stageq`, the command-line client of the HTTP API — global options,
 * the commands (submit, status, watch, cancel, retry, list, stats, workers,
 * pipelines, schedules, queues, pause, resume) and the exit codes:
 * 0 job succeeded or command done, 1 job failed or canceled (or unknown job),
 * 2 usage error or bad input, 3 API unreachable or 5xx. The only place that
 * exits. */
#include "cli.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "clock.h"
#include "config.h"
#include "job.h"
#include "json.h"
#include "num.h"

#define MAIN_INPUT_MAX (16 * 1024 * 1024) /* bytes of an input file or stdin */
#define MAIN_ARGS_MAX  64

struct cli_config {
    char url[512];
    char token[1024];
    int timeout_s;
};

static const struct cfg_option main_options[] = {
    CFG_STR_ROW(struct cli_config, url, "url", "STAGEQ_URL", "http://127.0.0.1:8080",
                "base URL of stageq-api: http://host[:port]"),
    CFG_STR_ROW(struct cli_config, token, "token", "STAGEQ_API_TOKEN", "",
                "sent as Authorization: Bearer TOKEN when not empty"),
    CFG_INT_ROW(struct cli_config, timeout_s, "timeout", NULL, 1, 3600, "10",
                "seconds to wait for a connection or an answer"),
};

#define MAIN_NOPTIONS (sizeof(main_options) / sizeof(main_options[0]))

static const char main_summary[] =
    "The command-line client of stageq-api.\n\n"
    "commands:\n"
    "  submit PIPELINE [INPUT_JSON | @file | -] [--id ID] [--delay S | --at TIME] [--watch]\n"
    "                       submit a job, print its id (--watch: then watch it);\n"
    "                       --delay S: it runs S seconds from now (a fraction allowed),\n"
    "                       --at TIME: at an RFC 3339 time (2026-11-25T16:48:16Z)\n"
    "  submit-many PIPELINE [FILE | -]\n"
    "                       submit a job per line of FILE or stdin (JSON Lines: each\n"
    "                       line one job's input), 100 per request; print each id\n"
    "  status ID            a readable summary of a job\n"
    "  watch ID             a live progress bar until the job ends (events stream)\n"
    "  cancel ID            cancel a queued or running job\n"
    "  retry ID             run a failed or canceled job again, from its first\n"
    "                       unfinished stage, with a fresh attempt budget\n"
    "  list [--state S] [--pipeline P] [--queue Q] [--limit N] [--cursor C] [--all]\n"
    "                       the recent jobs, newest first (--state failed: every\n"
    "                       failed job not expired, from the failed indexes)\n"
    "  stats                queues (queued, delayed, running, workers), workers\n"
    "                       alive, recent jobs by state\n"
    "  workers              the live workers and their current jobs\n"
    "  pipelines            the pipelines that can run\n"
    "  schedules            the recurring jobs: when they run, last and next run\n"
    "  queues               the queues: depth, scheduled, running, paused, rate\n"
    "                       limit, failed\n"
    "  pause QUEUE          workers take nothing new from QUEUE (submits are\n"
    "                       still accepted; running jobs finish)\n"
    "  resume QUEUE         workers take from QUEUE again\n\n"
    "  --json               print the API's JSON instead (any command)\n"
    "exit codes: 0 succeeded/done, 1 job failed or canceled or unknown, 2 usage or\n"
    "bad input, 3 API unreachable or 5xx";

struct main_ctx {
    struct client *client;
    bool is_json;
};

static void main_usage_error(const char *msg)
{
    fprintf(stderr, "stageq: %s (see stageq --help)\n", msg);
}

/* Prints item (borrowed) as compact JSON on stdout. */
static void main_print_json(const cJSON *item)
{
    char *s = json_print(item);

    if (s != NULL) {
        printf("%s\n", s);
        cJSON_free(s);
    }
}

/* Reads all of fp (at most MAIN_INPUT_MAX bytes). Returns a new NUL-terminated
 * buffer the caller frees, or NULL with errno set. */
static char *main_read_all(FILE *fp, size_t *len)
{
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap), *p;

    if (buf == NULL)
        return NULL;
    while ((r = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
        n += r;
        if (n + 1 == cap) {
            if (cap >= MAIN_INPUT_MAX) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (ferror(fp)) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* GET /v1/jobs/{id} into rep. Returns 0 when the answer is a 200 job status
 * (rep->json), else the exit code after printing why. */
static int main_get_job(struct main_ctx *m, const char *id, struct client_reply *rep)
{
    char path[1024];

    if (client_job_path(id, "", path, sizeof(path)) < 0) {
        main_usage_error("job id too long");
        return CLI_EXIT_USAGE;
    }
    if (client_request(m->client, CLIENT_GET, path, NULL, rep) < 0 || rep->status != 200)
        return client_fail(rep);
    if (rep->json == NULL) {
        fprintf(stderr, "stageq: the API answered 200 with a body that is not JSON\n");
        return CLI_EXIT_UNREACHABLE;
    }
    return 0;
}

static void main_print_stages(const cJSON *stages)
{
    const cJSON *s;
    int k = 0;

    if (!cJSON_IsArray(stages))
        return;
    printf("stages:\n");
    cJSON_ArrayForEach(s, stages)
    {
        const cJSON *name = json_get(s, "name"), *state = json_get(s, "state");
        int64_t t0 = overview_parse_time(json_get(s, "started_at"));
        int64_t t1 = overview_parse_time(json_get(s, "finished_at"));

        printf("  %d %-16s %-10s", ++k, cJSON_IsString(name) ? name->valuestring : "?",
               cJSON_IsString(state) ? state->valuestring : "?");
        if (t0 >= 0 && t1 >= t0)
            printf(" %.3f s", (double)(t1 - t0) / 1000.0);
        else if (t0 >= 0)
            printf(" running for %.1f s", (double)(clock_now_ms() - t0) / 1000.0);
        putchar('\n');
    }
}

/* A job its stage before handed over to another queue: the stage it waits
 * for, and where. */
static void main_print_next_stage(const cJSON *st)
{
    const cJSON *next = json_get(st, "next_stage"), *name = json_get(st, "next_stage_name");
    const cJSON *queue = json_get(st, "queue");
    double k;

    if (json_number(next, &k) < 0 || !(k >= 1 && k < 1e6))
        return;
    printf("waits for: stage %d %s on queue %s\n", (int)k,
           cJSON_IsString(name) ? name->valuestring : "?",
           cJSON_IsString(queue) ? queue->valuestring : "?");
}

static void main_print_status(const cJSON *st, const struct job_view *v)
{
    const cJSON *pipeline = json_get(st, "pipeline"), *queue = json_get(st, "queue");
    const cJSON *result = json_get(st, "result");

    printf("id:        %s\n", v->id);
    printf("pipeline:  %s (queue %s)\n", cJSON_IsString(pipeline) ? pipeline->valuestring : "?",
           cJSON_IsString(queue) ? queue->valuestring : "?");
    printf("state:     %s\n", v->state);
    if (v->run_at[0])
        printf("run at:    %s\n", v->run_at);
    if (v->stage > 0)
        printf("stage:     %d/%d %s  %d%%  (overall %d%%)\n", v->stage, v->stage_count,
               v->stage_name, (int)(v->progress * 100.0), (int)(v->overall * 100.0));
    if (v->message[0])
        printf("message:   %s\n", v->message);
    main_print_next_stage(st);
    printf("attempt:   %d/%d\n", v->attempt, v->max_attempts);
    main_print_stages(json_get(st, "stages"));
    if (result != NULL && !cJSON_IsNull(result)) {
        char *s = json_print(result);
        printf("result:    %s\n", s ? s : "?");
        cJSON_free(s);
    }
    if (v->err_code[0] && v->err_stage[0])
        printf("error:     %s: %s (stage %s)\n", v->err_code, v->err_msg, v->err_stage);
    else if (v->err_code[0])
        printf("error:     %s: %s\n", v->err_code, v->err_msg);
}

/* The flags a command may take (main_commands[].flags). */
#define MAIN_F_SUBMIT 0x1 /* --id ID, --watch, --delay S, --at TIME */
#define MAIN_F_LIST   0x2 /* --state, --pipeline, --limit, --cursor, --all */

#define MAIN_LIST_LIMIT_MAX 500 /* the API's most jobs in a page */
#define MAIN_LIST_PAGES_MAX 100 /* list --all: pages followed at most */

/* Per-command arguments: positionals, and the flags a command may take. */
struct main_args {
    const char *pos[MAIN_ARGS_MAX];
    int npos;
    const char *id;       /* submit --id */
    bool is_watch;        /* submit --watch */
    const char *delay;    /* submit --delay (seconds, checked by main_check_submit) */
    const char *at;       /* submit --at (RFC 3339: the API checks it) */
    const char *state;    /* list --state */
    const char *pipeline; /* list --pipeline */
    const char *queue;    /* list --queue */
    const char *cursor;   /* list --cursor */
    long long limit;      /* list --limit, 0 = the API's default */
    bool is_all;          /* list --all */
};

/* Whether argv[*i] is the option name (as "--name V" or "--name=V"); sets
 * *val and moves *i past a separate value. *val is NULL when the value is
 * missing. */
static bool main_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return false;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0')
        return false;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

/* Checks the values of list's flags. 0, or -1 after printing why. */
static int main_check_list(struct main_args *a, const char *limit)
{
    enum job_state st;
    char msg[200];

    if (a->state != NULL) {
        if (job_state_parse(a->state, &st) < 0) {
            snprintf(msg, sizeof(msg),
                     "--state: '%.64s' is not queued, scheduled, running, succeeded, failed or "
                     "canceled",
                     a->state);
            main_usage_error(msg);
            return -1;
        }
    }
    if (limit != NULL && num_parse_ll(limit, 1, MAIN_LIST_LIMIT_MAX, &a->limit, NULL) < 0) {
        snprintf(msg, sizeof(msg), "--limit: '%.64s' is not an integer in [1, %d]", limit,
                 MAIN_LIST_LIMIT_MAX);
        main_usage_error(msg);
        return -1;
    }
    if (a->pipeline != NULL && *a->pipeline == '\0') {
        main_usage_error("--pipeline: empty name");
        return -1;
    }
    if (a->queue != NULL && *a->queue == '\0') {
        main_usage_error("--queue: empty name");
        return -1;
    }
    if (a->cursor != NULL && *a->cursor == '\0') {
        main_usage_error("--cursor: empty cursor");
        return -1;
    }
    return 0;
}

/* Checks submit's --delay and --at. 0, or -1 after printing why. */
static int main_check_submit(const struct main_args *a)
{
    char msg[200];
    double d;

    if (a->delay != NULL && a->at != NULL) {
        main_usage_error("give either --delay or --at, not both");
        return -1;
    }
    if (a->delay != NULL && num_parse_double(a->delay, 0, JOB_DELAY_MAX_S, &d, NULL) < 0) {
        snprintf(msg, sizeof(msg), "--delay: '%.64s' is not a number of seconds in [0, %d]",
                 a->delay, JOB_DELAY_MAX_S);
        main_usage_error(msg);
        return -1;
    }
    if (a->at != NULL && *a->at == '\0') {
        main_usage_error("--at: empty time (RFC 3339, such as 2026-11-25T16:48:16Z)");
        return -1;
    }
    return 0;
}

/* Splits argv (after the command name) into positionals and the flags of
 * the command (flags: MAIN_F_*). "-" is a positional. Returns 0, or -1 after
 * printing a usage error. */
static int main_split(struct main_ctx *m, int argc, char **argv, unsigned flags,
                      struct main_args *a)
{
    const char *val = NULL, *limit = NULL;
    char msg[128];
    int i;

    memset(a, 0, sizeof(*a));
    for (i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char **dst = NULL;

        if (strcmp(s, "--json") == 0) {
            m->is_json = true;
            continue;
        } else if ((flags & MAIN_F_SUBMIT) && strcmp(s, "--watch") == 0) {
            a->is_watch = true;
            continue;
        } else if ((flags & MAIN_F_LIST) && strcmp(s, "--all") == 0) {
            a->is_all = true;
            continue;
        } else if ((flags & MAIN_F_SUBMIT) && main_opt(argc, argv, &i, "--id", &val)) {
            dst = &a->id;
        } else if ((flags & MAIN_F_SUBMIT) && main_opt(argc, argv, &i, "--delay", &val)) {
            dst = &a->delay;
        } else if ((flags & MAIN_F_SUBMIT) && main_opt(argc, argv, &i, "--at", &val)) {
            dst = &a->at;
        } else if ((flags & MAIN_F_LIST) && main_opt(argc, argv, &i, "--state", &val)) {
            dst = &a->state;
        } else if ((flags & MAIN_F_LIST) && main_opt(argc, argv, &i, "--pipeline", &val)) {
            dst = &a->pipeline;
        } else if ((flags & MAIN_F_LIST) && main_opt(argc, argv, &i, "--queue", &val)) {
            dst = &a->queue;
        } else if ((flags & MAIN_F_LIST) && main_opt(argc, argv, &i, "--cursor", &val)) {
            dst = &a->cursor;
        } else if ((flags & MAIN_F_LIST) && main_opt(argc, argv, &i, "--limit", &val)) {
            dst = &limit;
        } else if (s[0] == '-' && s[1] != '\0') {
            snprintf(msg, sizeof(msg), "unknown option '%.64s'", s);
            main_usage_error(msg);
            return -1;
        } else {
            if (a->npos < MAIN_ARGS_MAX)
                a->pos[a->npos++] = s;
            continue;
        }
        if (val == NULL) {
            snprintf(msg, sizeof(msg), "%.64s needs a value", s);
            main_usage_error(msg);
            return -1;
        }
        *dst = val;
    }
    if ((flags & MAIN_F_LIST) && main_check_list(a, limit) < 0)
        return -1;
    if ((flags & MAIN_F_SUBMIT) && main_check_submit(a) < 0)
        return -1;
    return 0;
}

/* The input of `submit`: inline JSON, @file or - (stdin). Returns a new tree
 * the caller frees, or NULL after printing why. */
static cJSON *main_read_input(const char *arg)
{
    struct json_err jerr;
    char *buf = NULL;
    const char *text = arg, *what = "INPUT_JSON";
    size_t len = strlen(arg);
    cJSON *in;

    if (strcmp(arg, "-") == 0 || arg[0] == '@') {
        FILE *fp = strcmp(arg, "-") == 0 ? stdin : fopen(arg + 1, "rb");
        what = strcmp(arg, "-") == 0 ? "stdin" : arg + 1;
        if (fp == NULL) {
            fprintf(stderr, "stageq: cannot open %s: %s\n", what, strerror(errno));
            return NULL;
        }
        buf = main_read_all(fp, &len);
        if (fp != stdin)
            fclose(fp);
        if (buf == NULL) {
            fprintf(stderr, "stageq: cannot read %s: %s\n", what, strerror(errno));
            return NULL;
        }
        text = buf;
    }
    in = json_parse_exact(text, len, JSON_MAX_DEPTH_DEFAULT, &jerr); /* sent as written */
    if (in == NULL)
        fprintf(stderr, "stageq: %s is not valid JSON: %s\n", what, jerr.msg);
    free(buf);
    return in;
}

#define MAIN_BATCH 100 /* jobs per request of submit-many (the API takes 1000) */

/* One request of submit-many: the jobs of body (a JSON array), whose inputs
 * are on lines[0..n). Prints each accepted id (or, with --json, each answer)
 * and each refusal on stderr. Returns how many were refused, or -1 when the
 * request failed as a whole (printed). */
static int main_submit_batch(struct main_ctx *m, const char *body, const size_t *lines, size_t n)
{
    struct client_reply rep = {0};
    const cJSON *jobs, *j, *id, *err;
    size_t k = 0;
    int refused = 0;

    if (client_request(m->client, CLIENT_POST, "/v1/jobs", body, &rep) < 0 ||
        (rep.status != 202 && rep.status != 207)) {
        client_fail(&rep);
        client_reply_clear(&rep);
        return -1;
    }
    jobs = rep.json != NULL ? json_get(rep.json, "jobs") : NULL;
    if (!cJSON_IsArray(jobs) || (size_t)cJSON_GetArraySize(jobs) != n) {
        fprintf(stderr, "stageq: the API's answer does not hold one answer per job\n");
        client_reply_clear(&rep);
        return -1;
    }
    cJSON_ArrayForEach(j, jobs)
    {
        double st = 0;
        id = json_get(j, "id");
        if (m->is_json)
            main_print_json(j);
        /* numbers may be raw items (the client keeps them as sent): json_number */
        if (json_number(json_get(j, "status"), &st) == 0 && st == 202 && cJSON_IsString(id)) {
            if (!m->is_json)
                printf("%s\n", id->valuestring);
        } else {
            err = json_get(j, "error");
            fprintf(stderr, "stageq: line %zu: %s\n", lines[k],
                    cJSON_IsString(json_get(err, "message")) ? json_get(err, "message")->valuestring
                                                             : "refused");
            refused++;
        }
        k++;
    }
    fflush(stdout);
    client_reply_clear(&rep);
    return refused;
}

/* submit-many PIPELINE [FILE | -]: JSON Lines in, one job per non-blank
 * line, each line's JSON sent as written as the job's input. */
static int main_submit_many(struct main_ctx *m, const struct main_args *a)
{
    const char *what = a->npos == 2 && strcmp(a->pos[1], "-") != 0 ? a->pos[1] : "stdin";
    FILE *fp = stdin;
    char *buf = NULL, *head = NULL, *body = NULL, *line, *next;
    size_t len = 0, cap = 0, used, n = 0, lineno = 0, lines[MAIN_BATCH];
    int rc = CLI_EXIT_OK, r, bad = 0, sent = 0;
    struct json_err jerr;
    cJSON *pl, *probe;

    if (a->npos < 1 || a->npos > 2) {
        main_usage_error("usage: stageq submit-many PIPELINE [FILE | -]");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(what, "stdin") != 0 && (fp = fopen(what, "rb")) == NULL) {
        fprintf(stderr, "stageq: cannot open %s: %s\n", what, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    buf = main_read_all(fp, &len);
    if (fp != stdin)
        fclose(fp);
    pl = cJSON_CreateString(a->pos[0]);
    head = pl != NULL ? json_print(pl) : NULL; /* the pipeline name, quoted */
    cJSON_Delete(pl);
    if (buf == NULL || head == NULL) {
        fprintf(stderr, "stageq: cannot read %s: %s\n", what, buf == NULL ? strerror(errno) : "");
        rc = CLI_EXIT_UNREACHABLE;
        goto done;
    }
    used = 0;
    for (line = buf; line != NULL && line < buf + len; line = next) {
        size_t ll;
        next = memchr(line, '\n', (size_t)(buf + len - line));
        ll = next != NULL ? (size_t)(next - line) : (size_t)(buf + len - line);
        if (next != NULL)
            next++;
        lineno++;
        while (ll > 0 && (line[ll - 1] == '\r' || line[ll - 1] == ' ' || line[ll - 1] == '\t'))
            ll--;
        if (ll == 0)
            continue;
        probe = json_parse_exact(line, ll, JSON_MAX_DEPTH_DEFAULT, &jerr);
        if (probe == NULL) {
            fprintf(stderr, "stageq: line %zu of %s is not valid JSON: %s\n", lineno, what,
                    jerr.msg);
            bad++;
            continue;
        }
        cJSON_Delete(probe);
        /* "[" or "," + {"pipeline":P,"input":LINE} */
        if (used + ll + strlen(head) + 32 > cap) {
            char *grown;
            cap = (used + ll + strlen(head) + 32) * 2;
            if ((grown = realloc(body, cap)) == NULL) {
                fprintf(stderr, "stageq: out of memory\n");
                rc = CLI_EXIT_UNREACHABLE;
                goto done;
            }
            body = grown;
        }
        used += (size_t)snprintf(body + used, cap - used,
                                 "%c{\"pipeline\":%s,\"input\":", n == 0 ? '[' : ',', head);
        memcpy(body + used, line, ll);
        used += ll;
        body[used++] = '}';
        lines[n++] = lineno;
        if (n == MAIN_BATCH || next == NULL || next >= buf + len) {
            memcpy(body + used, "]", 2);
            if ((r = main_submit_batch(m, body, lines, n)) < 0) {
                fprintf(stderr, "stageq: stopped at line %zu: %d jobs were submitted before\n",
                        lines[0], sent);
                rc = CLI_EXIT_UNREACHABLE;
                goto done;
            }
            sent += (int)n - r;
            bad += r;
            n = used = 0;
        }
    }
    if (n > 0) { /* the last lines were blank or bad: send what is held */
        memcpy(body + used, "]", 2);
        if ((r = main_submit_batch(m, body, lines, n)) < 0) {
            rc = CLI_EXIT_UNREACHABLE;
            goto done;
        }
        bad += r;
    }
    if (bad > 0)
        rc = CLI_EXIT_USAGE;
done:
    free(buf);
    free(body);
    cJSON_free(head);
    return rc;
}

static int main_submit(struct main_ctx *m, const struct main_args *a)
{
    struct client_reply rep = {0};
    cJSON *req = NULL, *in = NULL;
    const cJSON *id;
    char *body = NULL, idbuf[256];
    int rc = CLI_EXIT_USAGE;

    if (a->npos < 1 || a->npos > 2) {
        main_usage_error("usage: stageq submit PIPELINE [INPUT_JSON | @file | -] [--id ID] "
                         "[--delay S | --at TIME] [--watch]");
        return CLI_EXIT_USAGE;
    }
    if (a->npos == 2 && (in = main_read_input(a->pos[1])) == NULL)
        goto done;
    req = cJSON_CreateObject();
    if (req == NULL || cJSON_AddStringToObject(req, "pipeline", a->pos[0]) == NULL ||
        (a->id != NULL && cJSON_AddStringToObject(req, "id", a->id) == NULL) ||
        (a->at != NULL && cJSON_AddStringToObject(req, "run_at", a->at) == NULL) ||
        (a->delay != NULL &&
         cJSON_AddNumberToObject(req, "delay_s", strtod(a->delay, NULL)) == NULL))
        goto oom;
    if (in != NULL) {
        cJSON_AddItemToObject(req, "input", in); /* req owns it now */
        in = NULL;
    }
    body = json_print(req);
    if (body == NULL)
        goto oom;
    if (client_request(m->client, CLIENT_POST, "/v1/jobs", body, &rep) < 0 ||
        (rep.status != 202 && rep.status != 200 && rep.status != 201)) {
        rc = client_fail(&rep);
        goto done;
    }
    id = rep.json ? json_get(rep.json, "id") : NULL;
    if (!cJSON_IsString(id)) {
        fprintf(stderr, "stageq: the API's answer has no job id\n");
        rc = CLI_EXIT_UNREACHABLE;
        goto done;
    }
    snprintf(idbuf, sizeof(idbuf), "%s", id->valuestring);
    if (m->is_json && !a->is_watch)
        main_print_json(rep.json);
    else if (!m->is_json)
        printf("%s\n", idbuf); /* --watch --json: only the final status */
    fflush(stdout);
    rc = CLI_EXIT_OK;
    if (a->is_watch) {
        client_reply_clear(&rep);
        rc = watch_job(m->client, idbuf, m->is_json);
    }
    goto done;
oom:
    fprintf(stderr, "stageq: out of memory\n");
    rc = CLI_EXIT_UNREACHABLE;
done:
    client_reply_clear(&rep);
    cJSON_Delete(in);
    cJSON_Delete(req);
    cJSON_free(body);
    return rc;
}

static int main_status(struct main_ctx *m, const struct main_args *a)
{
    struct client_reply rep;
    struct job_view v;
    int rc;

    if (a->npos != 1) {
        main_usage_error("usage: stageq status ID");
        return CLI_EXIT_USAGE;
    }
    rc = main_get_job(m, a->pos[0], &rep);
    if (rc == 0) {
        if (m->is_json)
            main_print_json(rep.json);
        else if (job_view_read(rep.json, &v) == 0)
            main_print_status(rep.json, &v);
        else
            rc = CLI_EXIT_UNREACHABLE;
    }
    client_reply_clear(&rep);
    return rc;
}

static int main_watch(struct main_ctx *m, const struct main_args *a)
{
    if (a->npos != 1) {
        main_usage_error("usage: stageq watch ID");
        return CLI_EXIT_USAGE;
    }
    return watch_job(m->client, a->pos[0], m->is_json);
}

static int main_cancel(struct main_ctx *m, const struct main_args *a)
{
    struct client_reply rep;
    const cJSON *prev;
    char path[1024];
    int rc = CLI_EXIT_OK;

    if (a->npos != 1) {
        main_usage_error("usage: stageq cancel ID");
        return CLI_EXIT_USAGE;
    }
    if (client_job_path(a->pos[0], "", path, sizeof(path)) < 0) {
        main_usage_error("job id too long");
        return CLI_EXIT_USAGE;
    }
    if (client_request(m->client, CLIENT_DELETE, path, NULL, &rep) < 0 || rep.status != 200) {
        rc = client_fail(&rep);
    } else if (m->is_json && rep.json) {
        main_print_json(rep.json);
    } else {
        prev = rep.json ? json_get(rep.json, "previous_state") : NULL;
        printf("canceled %s (was %s)\n", a->pos[0], cJSON_IsString(prev) ? prev->valuestring : "?");
    }
    client_reply_clear(&rep);
    return rc;
}

/* retry ID: POST /v1/jobs/{id}/retry; prints "requeued ID on QUEUE". */
static int main_retry(struct main_ctx *m, const struct main_args *a)
{
    struct client_reply rep;
    const cJSON *q;
    char path[1024];
    int rc = CLI_EXIT_OK;

    if (a->npos != 1) {
        main_usage_error("usage: stageq retry ID");
        return CLI_EXIT_USAGE;
    }
    if (client_job_path(a->pos[0], "/retry", path, sizeof(path)) < 0) {
        main_usage_error("job id too long");
        return CLI_EXIT_USAGE;
    }
    if (client_request(m->client, CLIENT_POST, path, NULL, &rep) < 0 || rep.status != 202) {
        rc = client_fail(&rep);
    } else if (m->is_json && rep.json) {
        main_print_json(rep.json);
    } else {
        q = rep.json ? json_get(rep.json, "queue") : NULL;
        printf("requeued %s on %s\n", a->pos[0], cJSON_IsString(q) ? q->valuestring : "?");
    }
    client_reply_clear(&rep);
    return rc;
}

/* pause QUEUE / resume QUEUE: POST /v1/queues/{q}/pause|resume. */
static int main_pause_resume(struct main_ctx *m, const struct main_args *a, const char *what)
{
    struct client_reply rep;
    char path[512], msg[64], *enc;
    int rc = CLI_EXIT_OK, n;

    if (a->npos != 1) {
        snprintf(msg, sizeof(msg), "usage: stageq %s QUEUE", what);
        main_usage_error(msg);
        return CLI_EXIT_USAGE;
    }
    /* percent-encoded: the API, not the URL parser, refuses a bad name */
    enc = evhttp_uriencode(a->pos[0], -1, 0);
    n = enc != NULL ? snprintf(path, sizeof(path), "/v1/queues/%s/%s", enc, what) : -1;
    free(enc);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        main_usage_error("queue name too long");
        return CLI_EXIT_USAGE;
    }
    if (client_request(m->client, CLIENT_POST, path, NULL, &rep) < 0 || rep.status != 200) {
        rc = client_fail(&rep);
    } else if (m->is_json && rep.json) {
        main_print_json(rep.json);
    } else {
        printf("%s %s\n", strcmp(what, "pause") == 0 ? "paused" : "resumed", a->pos[0]);
    }
    client_reply_clear(&rep);
    return rc;
}

static int main_pause(struct main_ctx *m, const struct main_args *a)
{
    return main_pause_resume(m, a, "pause");
}

static int main_resume(struct main_ctx *m, const struct main_args *a)
{
    return main_pause_resume(m, a, "resume");
}

static int main_pipelines(struct main_ctx *m, const struct main_args *a)
{
    struct client_reply rep;
    const cJSON *list, *p, *s;
    int rc = CLI_EXIT_OK;

    if (a->npos != 0) {
        main_usage_error("usage: stageq pipelines");
        return CLI_EXIT_USAGE;
    }
    if (client_request(m->client, CLIENT_GET, "/v1/pipelines", NULL, &rep) < 0 ||
        rep.status != 200 || rep.json == NULL) {
        rc = client_fail(&rep);
        goto done;
    }
    if (m->is_json) {
        main_print_json(rep.json);
        goto done;
    }
    list = json_get(rep.json, "pipelines");
    cJSON_ArrayForEach(p, list)
    {
        const cJSON *name = json_get(p, "name"), *queue = json_get(p, "queue");
        const cJSON *att = json_get(p, "max_attempts");
        const char *sep = "";
        double natt;

        printf("%-16s queue %-10s attempts %-3d ", cJSON_IsString(name) ? name->valuestring : "?",
               cJSON_IsString(queue) ? queue->valuestring : "?",
               json_number(att, &natt) == 0 && natt >= 0 && natt < 1e9 ? (int)natt : 0);
        cJSON_ArrayForEach(s, json_get(p, "stages"))
        {
            const cJSON *sn = json_get(s, "name");
            printf("%s%s", sep, cJSON_IsString(sn) ? sn->valuestring : "?");
            sep = " → ";
        }
        putchar('\n');
    }
done:
    client_reply_clear(&rep);
    return rc;
}

/* Appends "?name=value" or "&name=value" (value percent-encoded) to the path
 * in q; nothing when value is NULL. 0, or -1 when it does not fit. */
static int main_query_add(char *q, size_t len, const char *name, const char *value)
{
    char *enc;
    size_t n = strlen(q);
    int r;

    if (value == NULL)
        return 0;
    enc = evhttp_uriencode(value, -1, 0);
    if (enc == NULL)
        return -1;
    r = snprintf(q + n, len - n, "%c%s=%s", strchr(q, '?') == NULL ? '?' : '&', name, enc);
    free(enc);
    return r < 0 || (size_t)r >= len - n ? -1 : 0;
}

/* GET /v1/jobs with the list flags and cursor (NULL: the first page) into
 * rep. Returns 0 on a 200 JSON answer, else the exit code after printing why. */
static int main_list_page(struct main_ctx *m, const struct main_args *a, const char *cursor,
                          struct client_reply *rep)
{
    char path[2048] = "/v1/jobs", limit[32];

    snprintf(limit, sizeof(limit), "%lld", a->limit);
    if (main_query_add(path, sizeof(path), "state", a->state) < 0 ||
        main_query_add(path, sizeof(path), "pipeline", a->pipeline) < 0 ||
        main_query_add(path, sizeof(path), "queue", a->queue) < 0 ||
        main_query_add(path, sizeof(path), "limit", a->limit > 0 ? limit : NULL) < 0 ||
        main_query_add(path, sizeof(path), "cursor", cursor) < 0) {
        main_usage_error("list: arguments too long");
        return CLI_EXIT_USAGE;
    }
    if (client_request(m->client, CLIENT_GET, path, NULL, rep) < 0 || rep->status != 200)
        return client_fail(rep);
    if (!cJSON_IsArray(rep->json ? json_get(rep->json, "jobs") : NULL)) {
        fprintf(stderr, "stageq: the API's answer to GET /v1/jobs has no job list\n");
        return CLI_EXIT_UNREACHABLE;
    }
    return 0;
}

/* list: one page (the next cursor goes to stderr when there is more), or
 * with --all every page, following next_cursor. --json prints the reply
 * (--all: one object holding every page's jobs). */
static int main_list(struct main_ctx *m, const struct main_args *a)
{
    struct client_reply rep = {0};
    cJSON *all = NULL, *alljobs = NULL, *page_jobs, *j;
    char cursor[256];
    const cJSON *next;
    int rc = CLI_EXIT_OK, page;
    int64_t now = clock_now_ms();

    if (a->npos != 0) {
        main_usage_error("usage: stageq list [--state S] [--pipeline P] [--limit N] "
                         "[--cursor C] [--all]");
        return CLI_EXIT_USAGE;
    }
    snprintf(cursor, sizeof(cursor), "%s", a->cursor ? a->cursor : "");
    if (m->is_json && a->is_all &&
        ((all = cJSON_CreateObject()) == NULL ||
         (alljobs = cJSON_AddArrayToObject(all, "jobs")) == NULL)) {
        fprintf(stderr, "stageq: out of memory\n");
        cJSON_Delete(all);
        return CLI_EXIT_UNREACHABLE;
    }
    for (page = 0; page < MAIN_LIST_PAGES_MAX; page++) {
        rc = main_list_page(m, a, cursor[0] ? cursor : NULL, &rep);
        if (rc != 0)
            break;
        if (m->is_json && !a->is_all)
            main_print_json(rep.json);
        else if (m->is_json &&
                 (page_jobs = cJSON_DetachItemFromObjectCaseSensitive(rep.json, "jobs")) != NULL) {
            while ((j = cJSON_DetachItemFromArray(page_jobs, 0)) != NULL)
                cJSON_AddItemToArray(alljobs, j);
            cJSON_Delete(page_jobs);
        } else
            overview_print_jobs(rep.json, now, page == 0);
        next = json_get(rep.json, "next_cursor");
        if (!cJSON_IsString(next) || strlen(next->valuestring) >= sizeof(cursor)) {
            cursor[0] = '\0';
        } else {
            snprintf(cursor, sizeof(cursor), "%s", next->valuestring);
            if (!a->is_all && !m->is_json)
                fprintf(stderr, "more: stageq list --cursor %s\n", cursor);
        }
        client_reply_clear(&rep);
        if (!a->is_all || cursor[0] == '\0')
            break;
    }
    client_reply_clear(&rep);
    if (rc == 0 && a->is_all && !m->is_json && cursor[0] != '\0')
        fprintf(stderr, "more (stopped after %d pages): stageq list --cursor %s\n",
                MAIN_LIST_PAGES_MAX, cursor);
    if (all != NULL && rc == 0) {
        if (cursor[0] != '\0')
            cJSON_AddStringToObject(all, "next_cursor", cursor);
        else
            cJSON_AddNullToObject(all, "next_cursor");
        main_print_json(all);
    }
    cJSON_Delete(all);
    return rc;
}

/* stats, workers, schedules and queues: one GET, a table or the raw reply. */
static int main_overview(struct main_ctx *m, const struct main_args *a, const char *what)
{
    struct client_reply rep;
    char path[64];
    int rc = CLI_EXIT_OK;

    if (a->npos != 0) {
        char msg[64];
        snprintf(msg, sizeof(msg), "usage: stageq %s", what);
        main_usage_error(msg);
        return CLI_EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "/v1/%s", what);
    if (client_request(m->client, CLIENT_GET, path, NULL, &rep) < 0 || rep.status != 200 ||
        rep.json == NULL) {
        rc = client_fail(&rep);
    } else if (m->is_json) {
        main_print_json(rep.json);
    } else if (strcmp(what, "stats") == 0) {
        overview_print_stats(rep.json);
    } else if (strcmp(what, "schedules") == 0) {
        overview_print_schedules(rep.json);
    } else if (strcmp(what, "queues") == 0) {
        overview_print_queues(rep.json);
    } else {
        overview_print_workers(rep.json, clock_now_ms());
    }
    client_reply_clear(&rep);
    return rc;
}

static int main_stats(struct main_ctx *m, const struct main_args *a)
{
    return main_overview(m, a, "stats");
}

static int main_workers(struct main_ctx *m, const struct main_args *a)
{
    return main_overview(m, a, "workers");
}

static int main_schedules(struct main_ctx *m, const struct main_args *a)
{
    return main_overview(m, a, "schedules");
}

static int main_queues(struct main_ctx *m, const struct main_args *a)
{
    return main_overview(m, a, "queues");
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(struct main_ctx *, const struct main_args *);
        unsigned flags; /* MAIN_F_* */
    } commands[] = {{"submit", main_submit, MAIN_F_SUBMIT},
                    {"submit-many", main_submit_many, 0},
                    {"status", main_status, 0},
                    {"watch", main_watch, 0},
                    {"cancel", main_cancel, 0},
                    {"retry", main_retry, 0},
                    {"list", main_list, MAIN_F_LIST},
                    {"stats", main_stats, 0},
                    {"workers", main_workers, 0},
                    {"pipelines", main_pipelines, 0},
                    {"schedules", main_schedules, 0},
                    {"queues", main_queues, 0},
                    {"pause", main_pause, 0},
                    {"resume", main_resume, 0}};
    struct cli_config cfg;
    struct main_ctx m = {0};
    struct main_args a;
    struct sq_err err;
    char *gargv[MAIN_ARGS_MAX + 1], cerr[256];
    int gargc = 1, i = 1, rc;
    size_t k;
    enum cfg_result r;

    /* Global options come before the command; --json is a plain switch. */
    gargv[0] = argv[0];
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
        if (strcmp(argv[i], "--json") == 0) {
            m.is_json = true;
            i++;
            continue;
        }
        if (gargc + 2 > MAIN_ARGS_MAX) {
            main_usage_error("too many options");
            return CLI_EXIT_USAGE;
        }
        gargv[gargc++] = argv[i];
        if (strchr(argv[i], '=') == NULL && strcmp(argv[i], "-h") != 0 &&
            strcmp(argv[i], "--help") != 0 && i + 1 < argc)
            gargv[gargc++] = argv[++i];
        i++;
    }
    gargv[gargc] = NULL;
    r = cfg_load(main_options, MAIN_NOPTIONS, &cfg, gargc, gargv, &err);
    if (r == CFG_HELP || (r == CFG_OK && i < argc && strcmp(argv[i], "help") == 0)) {
        cfg_usage(stdout, "stageq", main_summary, main_options, MAIN_NOPTIONS);
        return CLI_EXIT_OK;
    }
    if (r == CFG_ERROR) {
        fprintf(stderr, "stageq: %s\n", err.msg);
        return CLI_EXIT_USAGE;
    }
    if (i >= argc) {
        main_usage_error("missing COMMAND");
        return CLI_EXIT_USAGE;
    }
    for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            break;
    if (k == sizeof(commands) / sizeof(commands[0])) {
        char msg[128];
        snprintf(msg, sizeof(msg), "unknown command '%.64s'", argv[i]);
        main_usage_error(msg);
        return CLI_EXIT_USAGE;
    }
    if (main_split(&m, argc - i - 1, argv + i + 1, commands[k].flags, &a) < 0)
        return CLI_EXIT_USAGE;
    m.client = client_new(cfg.url, cfg.token, cfg.timeout_s, cerr, sizeof(cerr));
    if (m.client == NULL) {
        main_usage_error(cerr);
        return CLI_EXIT_USAGE;
    }
    rc = commands[k].run(&m, &a);
    client_free(m.client);
    return rc;
}
