/* sq-keys: prints the Redis key names the daemons use, built by shared/keys.c
 * itself, for the e2e suites (tests/e2e/lib.sh: job_key, queue_key, ...) and
 * for people with redis-cli. Test tool: never linked into a daemon.
 *
 *   sq-keys [-p PREFIX] [-P PARTITIONS] [-j PARTITION] KIND [ARG...]
 *
 * One name per line; KIND job takes several ids. Exit 0, or 2 with a message
 * on stderr for bad usage or a name that does not fit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "keys.h"
#include "num.h"

struct sq_keys_opts {
    const char *prefix;
    long long parts; /* the queue's partition count P */
    long long part;  /* a partition j of P */
};

typedef int (*sq_keys_arg_fn)(char *buf, size_t cap, const char *prefix, const char *arg);
typedef int (*sq_keys_noarg_fn)(char *buf, size_t cap, const char *prefix);

/* Names of one argument (or none), in the default partition layout. */
struct sq_keys_row {
    const char *kind;
    sq_keys_arg_fn arg_fn;
    sq_keys_noarg_fn noarg_fn;
};

static const struct sq_keys_row sq_keys_rows[] = {
    {"job", keys_job, NULL},         {"queue", keys_queue, NULL},
    {"delayed", keys_delayed, NULL}, {"processing", keys_processing, NULL},
    {"worker", keys_worker, NULL},   {"stagehist", keys_stagehist, NULL},
    {"eta", keys_eta, NULL},         {"workers", NULL, keys_workers},
    {"alive", NULL, keys_alive},     {"events", NULL, keys_events},
    {"recent", NULL, keys_recent},   {"counters", NULL, keys_counters},
};

static int sq_keys_usage(void)
{
    fprintf(stderr, "usage: sq-keys [-p PREFIX] [-P PARTITIONS] [-j PARTITION] KIND [ARG...]\n"
                    "kinds: job ID..., queue Q, delayed Q, processing WORKER, worker WORKER,\n"
                    "       stagehist PIPELINE, eta PIPELINE, workers, alive, events, recent,\n"
                    "       counters, tag SLOT, slot, part ID\n");
    return 2;
}

static int sq_keys_print(int rc, const char *buf)
{
    if (rc != 0) {
        fprintf(stderr, "sq-keys: the name does not fit\n");
        return 2;
    }
    puts(buf);
    return 0;
}

/* tag SLOT: the smallest decimal n whose CRC16 slot is SLOT, as "{n}". */
static int sq_keys_tag(const char *arg)
{
    long long slot, n;
    char num[24];

    if (num_parse_ll(arg, 0, CLUSTER_SLOTS - 1, &slot, NULL) != 0)
        return sq_keys_usage();
    for (n = 0;; n++) {
        int len = snprintf(num, sizeof(num), "%lld", n);
        if (cluster_key_slot(num, (size_t)len) == slot)
            break;
    }
    printf("{%lld}\n", n);
    return 0;
}

static int sq_keys_run(const struct sq_keys_opts *o, int argc, char **argv)
{
    char buf[KEYS_MAX_LEN];
    const char *kind = argv[0];
    size_t i;
    int a, rc = 0;

    if (strcmp(kind, "tag") == 0)
        return argc == 2 ? sq_keys_tag(argv[1]) : sq_keys_usage();
    for (i = 0; i < sizeof(sq_keys_rows) / sizeof(sq_keys_rows[0]); i++) {
        const struct sq_keys_row *r = &sq_keys_rows[i];
        if (strcmp(kind, r->kind) != 0)
            continue;
        if (r->noarg_fn != NULL)
            return argc == 1 ? sq_keys_print(r->noarg_fn(buf, sizeof(buf), o->prefix), buf)
                             : sq_keys_usage();
        if (argc < 2 || (argc > 2 && strcmp(kind, "job") != 0))
            return sq_keys_usage();
        for (a = 1; a < argc && rc == 0; a++)
            rc = sq_keys_print(r->arg_fn(buf, sizeof(buf), o->prefix, argv[a]), buf);
        return rc;
    }
    return sq_keys_usage();
}

int main(int argc, char **argv)
{
    struct sq_keys_opts o = {.prefix = "stageq", .parts = 1, .part = 0};
    int c;

    while ((c = getopt(argc, argv, "p:P:j:")) != -1) {
        switch (c) {
        case 'p':
            o.prefix = optarg;
            break;
        case 'P':
            if (num_parse_ll(optarg, 1, 1024, &o.parts, NULL) != 0)
                return sq_keys_usage();
            break;
        case 'j':
            if (num_parse_ll(optarg, 0, 1023, &o.part, NULL) != 0)
                return sq_keys_usage();
            break;
        default:
            return sq_keys_usage();
        }
    }
    if (optind >= argc || o.part >= o.parts)
        return sq_keys_usage();
    return sq_keys_run(&o, argc - optind, argv + optind);
}
