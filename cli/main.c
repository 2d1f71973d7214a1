/* main: `stageq`, the command-line client of the HTTP API — global options,
 * the commands (submit, status, watch, cancel, pipelines) and the exit codes:
 * 0 job succeeded or command done, 1 job failed or canceled (or unknown job),
 * 2 usage error or bad input, 3 API unreachable or 5xx. The only place that
 * exits. */
#include "cli.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>

#include "clock.h"
#include "config.h"
#include "json.h"

#define MAIN_POLL_MS   200                /* watch: time between two polls */
#define MAIN_INPUT_MAX (16 * 1024 * 1024) /* bytes of an input file or stdin */
#define MAIN_ARGS_MAX  64

struct cli_config {
    char url[512];
    char token[1024];
    int timeout_s;
};

#define MAIN_STR(field) offsetof(struct cli_config, field), sizeof(((struct cli_config *)0)->field)

static const struct cfg_option main_options[] = {
    {"url", "STAGEQ_URL", CFG_STRING, 0, 0, "http://127.0.0.1:8080", MAIN_STR(url),
     "base URL of stageq-api: http://host[:port]"},
    {"token", "STAGEQ_API_TOKEN", CFG_STRING, 0, 0, "", MAIN_STR(token),
     "sent as Authorization: Bearer TOKEN when not empty"},
    {"timeout", NULL, CFG_INT, 1, 3600, "10", offsetof(struct cli_config, timeout_s), sizeof(int),
     "seconds to wait for a connection or an answer"},
};

#define MAIN_NOPTIONS (sizeof(main_options) / sizeof(main_options[0]))

static const char main_summary[] =
    "The command-line client of stageq-api.\n\n"
    "commands:\n"
    "  submit PIPELINE [INPUT_JSON | @file | -] [--id ID] [--watch]\n"
    "                       submit a job, print its id (--watch: then watch it)\n"
    "  status ID            a readable summary of a job\n"
    "  watch ID             a live progress bar until the job ends\n"
    "  cancel ID            cancel a queued or running job\n"
    "  pipelines            the pipelines that can run\n\n"
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

/* "/v1/jobs/<id>" into out; ids outside the API's charset are percent-encoded
 * so the API, not the URL parser, refuses them. Returns 0 or -1 (too long). */
static int main_job_path(const char *id, char *out, size_t len)
{
    char *enc = NULL;
    size_t i;
    int n;

    for (i = 0; id[i] != '\0'; i++)
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-", id[i]) ==
            NULL)
            break;
    if (id[i] != '\0' || *id == '\0')
        enc = evhttp_uriencode(id, -1, 0);
    n = snprintf(out, len, "/v1/jobs/%s", enc ? enc : id);
    free(enc);
    return n < 0 || (size_t)n >= len ? -1 : 0;
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

    if (main_job_path(id, path, sizeof(path)) < 0) {
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

static int main_exit_for_state(const struct job_view *v)
{
    return strcmp(v->state, "succeeded") == 0 ? CLI_EXIT_OK : CLI_EXIT_JOB;
}

/* Follows job id until it ends, feeding every sample to the display, by
 * polling GET /v1/jobs/{id} every MAIN_POLL_MS. The one place that learns
 * about changes: an SSE subscription can replace the polling here. Returns
 * the exit code; with --json prints the final status instead of a display. */
static int main_follow(struct main_ctx *m, const char *id)
{
    struct client_reply rep;
    struct job_view v;
    struct bar b;
    int rc;

    bar_init(&b, stdout, !m->is_json && isatty(STDOUT_FILENO));
    for (;;) {
        int64_t t = clock_mono_ms(), wait_ms;
        struct timespec ts;

        rc = main_get_job(m, id, &rep);
        if (rc != 0) {
            if (b.is_tty && b.has_line)
                fputc('\n', stdout);
            client_reply_clear(&rep);
            return rc;
        }
        if (job_view_read(rep.json, &v) < 0) {
            fprintf(stderr, "stageq: the API's answer is not a job status\n");
            client_reply_clear(&rep);
            return CLI_EXIT_UNREACHABLE;
        }
        if (job_view_is_final(&v)) {
            if (m->is_json)
                main_print_json(rep.json);
            else
                bar_finish(&b, &v, clock_mono_ms());
            client_reply_clear(&rep);
            return main_exit_for_state(&v);
        }
        client_reply_clear(&rep);
        if (!m->is_json)
            bar_update(&b, &v, clock_mono_ms());
        wait_ms = MAIN_POLL_MS - (clock_mono_ms() - t);
        if (wait_ms > 0) {
            ts.tv_sec = (time_t)(wait_ms / 1000);
            ts.tv_nsec = (long)(wait_ms % 1000) * 1000000L;
            nanosleep(&ts, NULL);
        }
    }
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS.mmmZ" to epoch ms; -1 when it is not one. */
static int64_t main_parse_time(const cJSON *item)
{
    struct tm tm;
    int ms = 0, n = 0;

    if (!cJSON_IsString(item))
        return -1;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(item->valuestring, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
        item->valuestring[n] != '\0')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
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
        int64_t t0 = main_parse_time(json_get(s, "started_at"));
        int64_t t1 = main_parse_time(json_get(s, "finished_at"));

        printf("  %d %-16s %-10s", ++k, cJSON_IsString(name) ? name->valuestring : "?",
               cJSON_IsString(state) ? state->valuestring : "?");
        if (t0 >= 0 && t1 >= t0)
            printf(" %.3f s", (double)(t1 - t0) / 1000.0);
        else if (t0 >= 0)
            printf(" running for %.1f s", (double)(clock_now_ms() - t0) / 1000.0);
        putchar('\n');
    }
}

static void main_print_status(const cJSON *st, const struct job_view *v)
{
    const cJSON *pipeline = json_get(st, "pipeline"), *queue = json_get(st, "queue");
    const cJSON *result = json_get(st, "result");

    printf("id:        %s\n", v->id);
    printf("pipeline:  %s (queue %s)\n", cJSON_IsString(pipeline) ? pipeline->valuestring : "?",
           cJSON_IsString(queue) ? queue->valuestring : "?");
    printf("state:     %s\n", v->state);
    if (v->stage > 0)
        printf("stage:     %d/%d %s  %d%%  (overall %d%%)\n", v->stage, v->stage_count,
               v->stage_name, (int)(v->progress * 100.0), (int)(v->overall * 100.0));
    if (v->message[0])
        printf("message:   %s\n", v->message);
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

/* Per-command arguments: positionals, and the flags a command may take. */
struct main_args {
    const char *pos[MAIN_ARGS_MAX];
    int npos;
    const char *id; /* submit --id */
    bool is_watch;  /* submit --watch */
};

/* Splits argv (after the command name) into positionals and flags. "-" is a
 * positional. Returns 0, or -1 after printing a usage error. */
static int main_split(struct main_ctx *m, int argc, char **argv, bool is_submit,
                      struct main_args *a)
{
    int i;

    memset(a, 0, sizeof(*a));
    for (i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--json") == 0) {
            m->is_json = true;
        } else if (is_submit && strcmp(s, "--watch") == 0) {
            a->is_watch = true;
        } else if (is_submit && strcmp(s, "--id") == 0) {
            if (i + 1 >= argc) {
                main_usage_error("--id needs a value");
                return -1;
            }
            a->id = argv[++i];
        } else if (is_submit && strncmp(s, "--id=", 5) == 0) {
            a->id = s + 5;
        } else if (s[0] == '-' && s[1] != '\0') {
            char msg[128];
            snprintf(msg, sizeof(msg), "unknown option '%.64s'", s);
            main_usage_error(msg);
            return -1;
        } else if (a->npos < MAIN_ARGS_MAX) {
            a->pos[a->npos++] = s;
        }
    }
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
    in = json_parse_strict(text, len, JSON_MAX_DEPTH_DEFAULT, &jerr);
    if (in == NULL)
        fprintf(stderr, "stageq: %s is not valid JSON: %s\n", what, jerr.msg);
    free(buf);
    return in;
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
                         "[--watch]");
        return CLI_EXIT_USAGE;
    }
    if (a->npos == 2 && (in = main_read_input(a->pos[1])) == NULL)
        goto done;
    req = cJSON_CreateObject();
    if (req == NULL || cJSON_AddStringToObject(req, "pipeline", a->pos[0]) == NULL ||
        (a->id != NULL && cJSON_AddStringToObject(req, "id", a->id) == NULL))
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
        rc = main_follow(m, idbuf);
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
    return main_follow(m, a->pos[0]);
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
    if (main_job_path(a->pos[0], path, sizeof(path)) < 0) {
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

        printf("%-16s queue %-10s attempts %-3d ", cJSON_IsString(name) ? name->valuestring : "?",
               cJSON_IsString(queue) ? queue->valuestring : "?",
               cJSON_IsNumber(att) ? att->valueint : 0);
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

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(struct main_ctx *, const struct main_args *);
    } commands[] = {{"submit", main_submit},
                    {"status", main_status},
                    {"watch", main_watch},
                    {"cancel", main_cancel},
                    {"pipelines", main_pipelines}};
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
    if (main_split(&m, argc - i - 1, argv + i + 1, k == 0, &a) < 0)
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
