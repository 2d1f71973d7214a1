/* sq-keys: prints the Redis key and channel names the daemons use, built by
 * shared/keys.c itself, for the e2e suites (tests/e2e/lib.sh: job_key,
 * queue_key, ...) and for people with redis-cli. A test tool: never linked
 * into a daemon.
 *
 *   sq-keys [-p PREFIX] [-P PARTITIONS] [-j PARTITION] KIND [ARG...]
 *
 * A job's key is in its own partition (from its id and -P); the other keys
 * of a partition are in partition -j of -P (default 0 of 1, tag {8209}).
 * One name per line; KIND job takes several ids. Exit 0, or 2 with a message
 * on stderr for bad usage or a name that does not fit. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "num.h"

struct sq_keys_opts {
    const char *prefix;
    int parts; /* the queue's partition count P */
    int part;  /* a partition j of P */
};

/* A name of a partition with one argument, of one without, or outside any
 * partition (registry, channels) with or without one. */
typedef int (*sq_keys_part_arg_fn)(char *buf, size_t cap, const char *prefix, const char *tag,
                                   const char *arg);
typedef int (*sq_keys_part_fn)(char *buf, size_t cap, const char *prefix, const char *tag);
typedef int (*sq_keys_arg_fn)(char *buf, size_t cap, const char *prefix, const char *arg);
typedef int (*sq_keys_fn)(char *buf, size_t cap, const char *prefix);

struct sq_keys_row {
    const char *kind;
    sq_keys_part_arg_fn part_arg;
    sq_keys_part_fn part;
    sq_keys_arg_fn arg;
    sq_keys_fn none;
};

static const struct sq_keys_row sq_keys_rows[] = {
    {"queue", keys_queue, NULL, NULL, NULL},
    {"delayed", keys_delayed, NULL, NULL, NULL},
    {"paused", keys_paused, NULL, NULL, NULL},
    {"rate", keys_rate, NULL, NULL, NULL},
    {"failed", keys_failed, NULL, NULL, NULL},
    {"processing", keys_processing, NULL, NULL, NULL},
    {"stagehist", keys_stagehist, NULL, NULL, NULL},
    {"eta", keys_eta, NULL, NULL, NULL},
    {"leases", NULL, keys_leases, NULL, NULL},
    {"alive", NULL, keys_alive, NULL, NULL},
    {"current", NULL, keys_current, NULL, NULL},
    {"counters", NULL, keys_counters, NULL, NULL},
    {"recent", NULL, keys_recent, NULL, NULL},
    {"worker", NULL, NULL, keys_worker, NULL},
    {"wake", NULL, NULL, keys_wake, NULL},
    {"workers", NULL, NULL, NULL, keys_workers},
    {"events", NULL, NULL, NULL, keys_events},
};

static int sq_keys_usage(void)
{
    fprintf(stderr,
            "usage: sq-keys [-p PREFIX] [-P PARTITIONS] [-j PARTITION] KIND [ARG...]\n"
            "kinds: job ID..., queue Q, delayed Q, paused Q, failed Q, rate Q,\n"
            "       processing WORKER, stagehist PIPELINE, eta PIPELINE, leases, alive,\n"
            "       current, counters, recent (partition -j of -P);\n"
            "       worker WORKER, workers, events, wake Q; tag SLOT, slot (of partition -j\n"
            "       of -P), part ID (of -P)\n");
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

/* The kinds that are no key: a slot's tag, a partition's slot, an id's partition. */
static int sq_keys_slot_kinds(const struct sq_keys_opts *o, int argc, char **argv)
{
    long long slot;

    if (strcmp(argv[0], "tag") == 0 && argc == 2) {
        if (num_parse_ll(argv[1], 0, 16383, &slot, NULL) != 0)
            return sq_keys_usage();
        puts(keys_slot_tag((int)slot));
        return 0;
    }
    if (strcmp(argv[0], "slot") == 0 && argc == 1) {
        printf("%d\n", keys_part_slot(o->parts, o->part));
        return 0;
    }
    if (strcmp(argv[0], "part") == 0 && argc == 2) {
        printf("%d\n", keys_part_of(argv[1], strlen(argv[1]), o->parts));
        return 0;
    }
    return sq_keys_usage();
}

static int sq_keys_run(const struct sq_keys_opts *o, int argc, char **argv)
{
    char buf[KEYS_MAX_LEN];
    const char *tag = keys_slot_tag(keys_part_slot(o->parts, o->part));
    size_t i;
    int a, rc = 0;

    if (strcmp(argv[0], "job") == 0) {
        for (a = 1; a < argc && rc == 0; a++) {
            const char *id = argv[a];
            const char *jtag = keys_slot_tag(keys_job_slot(id, strlen(id), o->parts));
            rc = sq_keys_print(keys_job(buf, sizeof(buf), o->prefix, jtag, id), buf);
        }
        return argc < 2 ? sq_keys_usage() : rc;
    }
    for (i = 0; i < sizeof(sq_keys_rows) / sizeof(sq_keys_rows[0]); i++) {
        const struct sq_keys_row *r = &sq_keys_rows[i];
        bool has_arg = r->part_arg != NULL || r->arg != NULL;

        if (strcmp(argv[0], r->kind) != 0)
            continue;
        if (argc != (has_arg ? 2 : 1))
            return sq_keys_usage();
        if (r->part_arg != NULL)
            rc = r->part_arg(buf, sizeof(buf), o->prefix, tag, argv[1]);
        else if (r->part != NULL)
            rc = r->part(buf, sizeof(buf), o->prefix, tag);
        else if (r->arg != NULL)
            rc = r->arg(buf, sizeof(buf), o->prefix, argv[1]);
        else
            rc = r->none(buf, sizeof(buf), o->prefix);
        return sq_keys_print(rc, buf);
    }
    return sq_keys_slot_kinds(o, argc, argv);
}

int main(int argc, char **argv)
{
    struct sq_keys_opts o = {.prefix = "stageq", .parts = 1, .part = 0};
    long long v;
    int c;

    while ((c = getopt(argc, argv, "p:P:j:")) != -1) {
        switch (c) {
        case 'p':
            o.prefix = optarg;
            break;
        case 'P':
            if (num_parse_ll(optarg, 1, KEYS_PARTITIONS_MAX, &v, NULL) != 0)
                return sq_keys_usage();
            o.parts = (int)v;
            break;
        case 'j':
            if (num_parse_ll(optarg, 0, KEYS_PARTITIONS_MAX - 1, &v, NULL) != 0)
                return sq_keys_usage();
            o.part = (int)v;
            break;
        default:
            return sq_keys_usage();
        }
    }
    if (optind >= argc || o.part >= o.parts)
        return sq_keys_usage();
    return sq_keys_run(&o, argc - optind, argv + optind);
}
