/* rconn_probe: drives one rconn (shared/rconn.h) from stdin for the e2e
 * suites, so that a test can run commands on a real Redis (or Cluster) with
 * the same connection across steps. Usage: rconn_probe URL [timeout_ms].
 * One step per line, words split on blanks; one answer line per step:
 *   cmd ARGS...            rconn_command
 *   script NAME NKEYS ARGS rconn_script (NAME: a row of probe_scripts)
 *   send NAME NKEYS ARGS   rconn_script_send ("sent", or "null: why")
 *   append NAME NKEYS ARGS rconn_script_append ("appended", or "null: why")
 *   unsent | flush         rconn_has_unsent (1 or 0), rconn_flush ("flushed")
 *   read                   rconn_pending_reply
 *   wait N TIMEOUT_MS      rconn_wait on the connection number read now
 *   connects | peer | npending
 * A reply prints as i:N, s:TEXT, e:ERROR, nil, [a b ...] for arrays, and a
 * NULL reply as "null: <err>". Never used by the daemons. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"
#include "rconn.h"

#define PROBE_WORDS_MAX 64

static const struct {
    const char *name;
    enum script_id id;
} probe_scripts[] = {
    {"promote", SCRIPT_TAKE}, /* args rewritten: probe_promote */
};

static void probe_print(const redisReply *r)
{
    size_t i;

    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        printf("i:%lld", r->integer);
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        printf("s:%.*s", (int)r->len, r->str);
        break;
    case REDIS_REPLY_ERROR:
        printf("e:%.*s", (int)r->len, r->str);
        break;
    case REDIS_REPLY_NIL:
        printf("nil");
        break;
    case REDIS_REPLY_ARRAY:
        if (r->elements == 2 && r->element[1]->type == REDIS_REPLY_ARRAY &&
            r->element[1]->elements == 5 && r->element[1]->element[4]->type == REDIS_REPLY_INTEGER) {
            /* take.lua's {ids, meta}: "promote" prints how many it moved */
            printf("i:%lld", r->element[1]->element[4]->integer);
            break;
        }
        printf("[");
        for (i = 0; i < r->elements; i++) {
            if (i > 0)
                printf(" ");
            probe_print(r->element[i]);
        }
        printf("]");
        break;
    default:
        printf("?");
    }
}

/* Prints reply r (freed) or the error. */
static void probe_answer(redisReply *r, const struct sq_err *err)
{
    if (r == NULL) {
        printf("null: %s\n", err->msg);
        return;
    }
    probe_print(r);
    printf("\n");
    freeReplyObject(r);
}

/* The script row named name, or -1. */
static int probe_script(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(probe_scripts) / sizeof(probe_scripts[0]); i++)
        if (strcmp(probe_scripts[i].name, name) == 0)
            return (int)probe_scripts[i].id;
    return -1;
}

/* Runs one step of words w[0..n). */
static void probe_step(struct rconn *rc, char **w, int n)
{
    struct sq_err err = {0};
    struct rargv a;
    long long nk = 0, x = 0, t = 0;
    int i, id = -1;
    char buf[300];

    rargv_init(&a);
    if ((strcmp(w[0], "script") == 0 || strcmp(w[0], "send") == 0 ||
         strcmp(w[0], "append") == 0) &&
        (n < 3 || (id = probe_script(w[1])) < 0 || num_parse_ll(w[2], 0, n - 3, &nk, NULL) < 0)) {
        printf("bad: %s NAME NKEYS ARGS...\n", w[0]);
        return;
    }
    if (id == SCRIPT_TAKE) {
        /* "promote 2 DELAYED LIST NOW BATCH WAKE": the take step over one
         * queue, taking nothing: it moves the due ids of DELAYED onto LIST.
         * Only those two keys are named (a slot being imported answers
         * TRYAGAIN to a call naming a key it lacks): LIST stands for the
         * processing list (not written: nothing is taken) and the paused
         * flag (not a string: not paused), DELAYED for the rate log (no
         * limit: not read) */
        if (nk != 2 || n != 8) {
            printf("bad: promote 2 DELAYED LIST NOW BATCH WAKE\n");
            return;
        }
        rargv_add(&a, w[4]);
        rargv_add(&a, w[4]);
        rargv_add(&a, w[3]);
        rargv_add(&a, w[4]);
        rargv_add(&a, w[3]);
        rargv_add(&a, "0");
        rargv_addf(&a, "%s %s\n0 0 1000 1 %s\n", w[5], w[6], w[7]);
        nk = 5;
    }
    for (i = strcmp(w[0], "cmd") == 0 ? 1 : 3; i < n && strcmp(w[0], "read") != 0 && id != SCRIPT_TAKE;
         i++)
        rargv_add(&a, w[i]);
    if (strcmp(w[0], "cmd") == 0 && n > 1) {
        probe_answer(rconn_command(rc, &a, &err), &err);
    } else if (strcmp(w[0], "script") == 0) {
        probe_answer(rconn_script(rc, (enum script_id)id, (int)nk, &a, &err), &err);
    } else if (strcmp(w[0], "send") == 0) {
        if (rconn_script_send(rc, (enum script_id)id, (int)nk, &a, &err) == 0)
            printf("sent\n");
        else
            printf("null: %s\n", err.msg);
    } else if (strcmp(w[0], "append") == 0) {
        if (rconn_script_append(rc, (enum script_id)id, (int)nk, &a, &err) == 0)
            printf("appended\n");
        else
            printf("null: %s\n", err.msg);
    } else if (strcmp(w[0], "unsent") == 0) {
        printf("%d\n", rconn_has_unsent(rc) ? 1 : 0);
    } else if (strcmp(w[0], "flush") == 0) {
        if (rconn_flush(rc, &err) == 0)
            printf("flushed\n");
        else
            printf("null: %s\n", err.msg);
    } else if (strcmp(w[0], "read") == 0) {
        probe_answer(rconn_pending_reply(rc, &err), &err);
    } else if (strcmp(w[0], "wait") == 0 && n == 3 && num_parse_ll(w[1], 0, 100, &x, NULL) == 0 &&
               num_parse_ll(w[2], 0, 60000, &t, NULL) == 0) {
        i = rconn_wait(rc, (int)x, (int)t, rconn_connects(rc), &err);
        printf("%d%s%s\n", i, i == 1 ? "" : ": ", i == 1 ? "" : err.msg);
    } else if (strcmp(w[0], "connects") == 0) {
        printf("%lu\n", rconn_connects(rc));
    } else if (strcmp(w[0], "peer") == 0) {
        printf("%s\n", rconn_peer(rc, buf, sizeof(buf)) == 0 ? buf : "none");
    } else if (strcmp(w[0], "npending") == 0) {
        printf("%d\n", rconn_npending(rc));
    } else {
        printf("bad: unknown step '%s'\n", w[0]);
    }
    rargv_free(&a);
}

int main(int argc, char **argv)
{
    struct redis_url url;
    struct sq_err err;
    struct rconn *rc;
    long long timeout_ms = 2000;
    char line[8192], *w[PROBE_WORDS_MAX], *save = NULL, *tok;
    int n;

    if (argc < 2 || argc > 3 ||
        (argc == 3 && num_parse_ll(argv[2], 1, 600000, &timeout_ms, NULL) < 0)) {
        fprintf(stderr, "usage: rconn_probe URL [timeout_ms]\n");
        return 2;
    }
    if (redis_url_parse(argv[1], &url, &err) < 0) {
        fprintf(stderr, "rconn_probe: %s\n", err.msg);
        return 2;
    }
    rc = rconn_new(&url, (int)timeout_ms);
    if (rc == NULL)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        n = 0;
        for (tok = strtok_r(line, " \t\r\n", &save); tok != NULL && n < PROBE_WORDS_MAX;
             tok = strtok_r(NULL, " \t\r\n", &save))
            w[n++] = tok;
        if (n > 0)
            probe_step(rc, w, n);
        else
            printf("\n");
    }
    rconn_free(rc);
    return 0;
}
