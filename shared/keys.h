/* keys: every Redis key and channel name stageq uses, built here and nowhere
 * else. See docs/redis-keys.md.
 *
 * Partitions. A queue has P partitions (the pipelines file's "queues"
 * section, default 1). Partition j of P lives in the slot keys_part_slot(P, j)
 * (evenly spread over the 16384 slots, so that P partitions spread evenly over
 * the shards of a cluster, whatever their number), and every key of that
 * partition carries the slot's hash tag keys_slot_tag(slot), "{<n>}": the
 * queue list, its delayed set, the hashes of the jobs in it, the processing
 * lists of the workers taking from it, the leases and alive record those
 * workers renew there, the counters, the recent index, the stage statistics
 * and the current-job hash. So no Lua step ever touches two slots, and one
 * Redis (or Sentinel group) holds the same layout as a cluster.
 *
 * A job's partition is a function of its id alone and the partition count of
 * its queue: keys_part_of(id, P) (FNV-1a of the id modulo P), for a generated
 * id as for one the client chose. The job stays in that slot for life: the
 * queues its stages hop to must have the same partition count (the pipelines
 * file is refused otherwise), and it waits there in the same partition.
 *
 * Channels are not keys (classic PUBLISH reaches every node of a cluster, and
 * a subscriber on any node hears it): scripts get them in ARGV, never KEYS.
 *
 * Each builder writes into buf[cap] and returns 0, or -1 when the name does
 * not fit (buf then holds a truncated name). tag is keys_slot_tag's. */
#ifndef STAGEQ_KEYS_H
#define STAGEQ_KEYS_H

#include <stddef.h>

#define KEYS_MAX_LEN        336 /* prefix (64) + tag (8) + ':processing:' + worker id (<= 200) */
#define KEYS_PREFIX_MAX_LEN 64
#define KEYS_TAG_MAX_LEN    8 /* "{109757}": the longest tag of a slot */
#define KEYS_PARTITIONS_MAX 1024
#define KEYS_RECENT_MAX     10000 /* jobs the recent index of a partition keeps */
#define KEYS_FAILED_MAX     10000 /* failed jobs the failed index of a queue partition keeps */

/* ---- partitions and tags ---- */

/* The slot of partition j (0 <= j < partitions) of a queue with that many
 * partitions: ((2j + 1) * 16384) / (2 * partitions). partitions is clamped
 * to [1, KEYS_PARTITIONS_MAX], j to [0, partitions). */
int keys_part_slot(int partitions, int j);
/* The partition of job id[0..len) in a queue of that many partitions:
 * FNV-1a (32 bits) of the id modulo partitions (0 when partitions <= 1). */
int keys_part_of(const char *id, size_t len, int partitions);
/* The slot a job id lives in, in a queue of that many partitions. */
int keys_job_slot(const char *id, size_t len, int partitions);
/* The hash tag of slot (0..16383): "{<n>}", n the smallest natural number
 * whose decimal text has that CRC16 slot (the default partition, slot 8192,
 * is "{8209}"). Borrowed from a table filled in one pass on first use (a
 * pure function: the same text in every process and on every machine; about
 * 110,000 CRC16s, a few ms). NULL for a slot out of range. */
const char *keys_slot_tag(int slot);

/* The tag of the one partition of a queue with 1 partition (slot 8192):
 * "{8209}". */
const char *keys_default_tag(void);

/* ---- keys of a partition (all in the slot of tag) ---- */

int keys_job(char *buf, size_t cap, const char *prefix, const char *tag,
             const char *id); /* <p>:{t}:job:<id> */
int keys_queue(char *buf, size_t cap, const char *prefix, const char *tag,
               const char *queue); /* <p>:{t}:queue:<q> */
int keys_delayed(char *buf, size_t cap, const char *prefix, const char *tag,
                 const char *queue); /* <p>:{t}:delayed:<q> */
/* <p>:{t}:paused:<q>: a string (the RFC 3339 time of the pause) that exists
 * while queue q is paused: written in every partition of q by the API, read
 * by the take step (nothing new is taken; submits are still accepted). */
int keys_paused(char *buf, size_t cap, const char *prefix, const char *tag, const char *queue);
/* <p>:{t}:rate:<q>: sorted set, the takes of queue q in its rate limit's
 * window (a sliding log: member "<ms>.<n>", score the take's time in ms on
 * Redis's clock), trimmed by every take. A rate-limited queue has one
 * partition, so its limit is one set, exact cluster-wide. */
int keys_rate(char *buf, size_t cap, const char *prefix, const char *tag, const char *queue);
/* <p>:{t}:failed:<q>: sorted set, the ids of the jobs of queue q that
 * failed in this partition, scored by when (ms since the epoch); trimmed to
 * the newest KEYS_FAILED_MAX; an id whose hash expired is dropped on read. */
int keys_failed(char *buf, size_t cap, const char *prefix, const char *tag, const char *queue);
int keys_processing(char *buf, size_t cap, const char *prefix, const char *tag,
                    const char *wid); /* <p>:{t}:processing:<worker> */
/* <p>:{t}:leases: zset worker id -> lease expiry (ms, Redis clock) of the
 * workers that take from this partition (recovery judges them here). */
int keys_leases(char *buf, size_t cap, const char *prefix, const char *tag);
/* <p>:{t}:alive: when this partition's Redis was last reachable (alive.lua) */
int keys_alive(char *buf, size_t cap, const char *prefix, const char *tag);
/* <p>:{t}:current: hash worker id -> the job it runs from this partition */
int keys_current(char *buf, size_t cap, const char *prefix, const char *tag);
/* <p>:{t}:counters: hash "<event>:<pipeline>" -> count (submitted,
 * succeeded, ...) of this partition's jobs: the API sums the partitions. */
int keys_counters(char *buf, size_t cap, const char *prefix, const char *tag);
/* <p>:{t}:recent: zset of the newest KEYS_RECENT_MAX job ids of this
 * partition, scored by creation (ms): the API merges the partitions. */
int keys_recent(char *buf, size_t cap, const char *prefix, const char *tag);
/* <p>:{t}:stagehist:<pipeline>: hash "<stage name>|<le>" / "|sum" / "|count"
 * (stage runs recorded in this slot; the API sums the partitions) */
int keys_stagehist(char *buf, size_t cap, const char *prefix, const char *tag,
                   const char *pipeline);
/* <p>:{t}:eta:<pipeline>: hash "<k>" -> mean duration (ms) of stage k's last
 * runs, "<k>.n" how many, "<k>.runs" the durations (ms, newest first,
 * comma-separated) */
int keys_eta(char *buf, size_t cap, const char *prefix, const char *tag, const char *pipeline);

/* ---- the worker registry (one slot of its own, tag {w}) ---- */

int keys_workers(char *buf, size_t cap, const char *prefix); /* <p>:{w}:workers zset */
int keys_worker(char *buf, size_t cap, const char *prefix,
                const char *wid); /* <p>:{w}:worker:<id> info hash */

/* <p>:{w}:schedules: hash schedule name -> its last fired tick,
 * {"tick":<unix s>,"job_id":"sched.<name>.<tick>"} (the API's scheduler) */
int keys_schedules(char *buf, size_t cap, const char *prefix);

/* ---- channels (PUBLISH; not keys) ---- */

int keys_events(char *buf, size_t cap, const char *prefix); /* <p>:events: job ids that changed */
/* <p>:wake:<q>: published when a push makes a partition of queue q non-empty
 * (idle workers serving several partitions wait on it) */
int keys_wake(char *buf, size_t cap, const char *prefix, const char *queue);

/* The name of a per-stage field of the job hash: "stage.<k>.<what>", k from 1,
 * or with what NULL "stage.<k>" (the stage's own field: docs/redis-keys.md). */
int keys_stage_field(char *buf, size_t cap, int k, const char *what);

#endif
