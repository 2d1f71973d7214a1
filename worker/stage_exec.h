/* stage_exec: runs an `exec` stage — any program, in any language — under the
 * stage protocol of DESIGN.md: execve of argv (never a shell), in its own
 * process group, input JSON on stdin, output JSON on stdout, progress lines
 * on fd 3, stderr logged with the job id and its tail kept. Enforces the
 * timeout, the output limit and stop requests (cancel, shutdown) by signalling
 * the whole group (SIGTERM, then SIGKILL after kill_grace_ms), and leaves no
 * process behind. Never touches Redis. */
#ifndef STAGEQ_STAGE_EXEC_H
#define STAGEQ_STAGE_EXEC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define EXEC_PROGRESS_FD           3
#define EXEC_MAX_OUTPUT_DEFAULT    (16u * 1024 * 1024) /* bytes of stdout */
#define EXEC_STDERR_TAIL           4096                /* bytes of stderr kept */
#define EXEC_PROGRESS_LINE_MAX     4096                /* longer progress lines are invalid */
#define EXEC_KILL_GRACE_MS_DEFAULT 5000                /* SIGTERM → SIGKILL */
#define EXEC_EXIT_PERMANENT        65                  /* EX_DATAERR: do not retry */

/* What to run; all borrowed. */
struct exec_spec {
    char *const *argv;      /* argv[0] is looked up in PATH when it has no '/' */
    char *const *env;       /* extra "NAME=value" entries (NULL-terminated, may be NULL) */
    const char *cwd;        /* NULL: the worker's */
    int timeout_s;          /* 0: none */
    size_t max_output;      /* 0: EXEC_MAX_OUTPUT_DEFAULT */
    int kill_grace_ms;      /* 0: EXEC_KILL_GRACE_MS_DEFAULT */
    const char *job_id;     /* for STAGEQ_JOB_ID and log lines */
    const char *stage_name; /* STAGEQ_STAGE */
    int stage_index;        /* STAGEQ_STAGE_INDEX (1-based) */
    int stage_count;        /* STAGEQ_STAGE_COUNT */
    int attempt;            /* STAGEQ_ATTEMPT */
    /* warm programs only (stage_serve.h) */
    const char *pipeline; /* the request's "pipeline"; stages share a program within one */
    int max_jobs;         /* recycle after this many jobs; 0: never */
    int max_rss_mb;       /* recycle when its resident set exceeds this after a job; 0: never */
};

/* Callbacks into the runner; any may be NULL. */
struct exec_hooks {
    /* A valid progress line arrived (fraction in 0..1; message NULL when absent or empty). */
    void (*on_progress)(void *arg, double fraction, const char *message);
    /* Called at least every 100 ms while the program runs; non-zero stops it
     * (the result is then EXEC_STOPPED). Also the place to flush coalesced writes. */
    int (*should_stop)(void *arg);
    void *arg;
};

enum exec_outcome {
    EXEC_OK = 0,           /* exit 0 and valid JSON on stdout: output is set */
    EXEC_EXIT,             /* non-zero exit status */
    EXEC_SIGNAL,           /* killed by a signal it did not get from us */
    EXEC_TIMEOUT,          /* ran longer than timeout_s */
    EXEC_SPAWN_FAILED,     /* program not found / not executable / bad cwd / fork failed */
    EXEC_OUTPUT_TOO_LARGE, /* stdout exceeded max_output: the program was killed */
    EXEC_INVALID_OUTPUT,   /* exit 0 but stdout is empty or not one valid JSON value */
    EXEC_STOPPED,          /* should_stop asked for it */
    EXEC_ERROR,            /* a warm program answered {"error": ...}: message, is_permanent */
};

struct exec_result {
    enum exec_outcome outcome;
    int exit_status;   /* EXEC_EXIT */
    int signal;        /* EXEC_SIGNAL */
    int spawn_errno;   /* EXEC_SPAWN_FAILED */
    cJSON *output;     /* EXEC_OK: a new tree the caller frees with cJSON_Delete */
    char *output_text; /* EXEC_OK: stdout as written, without the whitespace outside
                          strings (its numbers untouched); the caller frees it with cJSON_free */
    char message[256]; /* a sentence saying what happened, for the job's error */
    char stderr_tail[EXEC_STDERR_TAIL + 1]; /* last bytes of stderr, NUL-terminated */
    unsigned bad_progress_lines;            /* invalid lines on fd 3, ignored */
    bool is_permanent;                      /* EXEC_ERROR: "retryable": false */
    long long duration_ms;
};

/* Runs the program to its end, with input (JSON text, NUL-terminated,
 * borrowed; NULL = null) written on its stdin as it is. Returns 0 with *res
 * filled (whatever the outcome), or -1 only when the worker itself failed
 * (out of memory, pipe creation) with res->message saying why. Blocks the
 * calling process. */
int stage_exec_run(const struct exec_spec *spec, const char *input, const struct exec_hooks *hooks,
                   struct exec_result *res);

/* Parses one progress line (without its newline): a JSON object with
 * "progress" a number in [0, 1] and an optional "message" string (copied,
 * truncated at a UTF-8 boundary, into msg[msgcap]; "" when absent; other
 * members are ignored). Returns 0, or -1 for anything else (the line is then
 * ignored and counted). Safe on any bytes. */
int stage_exec_parse_progress(const char *line, size_t len, double *fraction, char *msg,
                              size_t msgcap);

#endif
