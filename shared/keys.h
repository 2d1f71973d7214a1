/* keys: every Redis key name stageq uses, built here and nowhere else.
 * See docs/redis-keys.md. Each function writes into buf[cap] and returns 0,
 * or -1 when the name does not fit (buf then holds a truncated name). */
#ifndef STAGEQ_KEYS_H
#define STAGEQ_KEYS_H

#include <stddef.h>

#define KEYS_MAX_LEN        320 /* prefix (64) + ':processing:' + worker id (<= 200) */
#define KEYS_PREFIX_MAX_LEN 64

int keys_job(char *buf, size_t cap, const char *prefix, const char *id);      /* <p>:job:<id> */
int keys_queue(char *buf, size_t cap, const char *prefix, const char *queue); /* <p>:queue:<q> */
int keys_processing(char *buf, size_t cap, const char *prefix,
                    const char *wid); /* <p>:processing:<worker> */
int keys_delayed(char *buf, size_t cap, const char *prefix,
                 const char *queue);                                         /* <p>:delayed:<q> */
int keys_worker(char *buf, size_t cap, const char *prefix, const char *wid); /* <p>:worker:<id> */
int keys_workers(char *buf, size_t cap, const char *prefix);                 /* <p>:workers */
int keys_alive(char *buf, size_t cap, const char *prefix);                   /* <p>:alive */
int keys_events(char *buf, size_t cap, const char *prefix);                  /* <p>:events */
/* <p>:recent: zset of the newest KEYS_RECENT_MAX job ids, scored by creation (ms) */
int keys_recent(char *buf, size_t cap, const char *prefix);

/* Cluster-wide figures (written by the Lua scripts, see shared/scripts/inc/stats.lua):
 * <p>:counters: hash "<event>:<pipeline>" -> count (submitted, succeeded, ...) */
int keys_counters(char *buf, size_t cap, const char *prefix);
/* <p>:stagehist:<pipeline>: hash "<stage name>|<le>" / "|sum" / "|count" */
int keys_stagehist(char *buf, size_t cap, const char *prefix, const char *pipeline);
/* <p>:eta:<pipeline>: hash "<k>" -> mean duration (ms) of stage k's last runs,
 * "<k>.n" how many, "<k>.runs" the durations (ms, newest first, comma-separated) */
int keys_eta(char *buf, size_t cap, const char *prefix, const char *pipeline);

#define KEYS_RECENT_MAX 10000 /* jobs the recent index keeps (submit.lua trims it) */

/* The name of a per-stage field of the job hash: "stage.<k>.<what>", k from 1. */
int keys_stage_field(char *buf, size_t cap, int k, const char *what);

#endif
