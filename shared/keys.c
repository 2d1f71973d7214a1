/* keys: Redis key and channel names, partition slots and their hash tags. */
#include "keys.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "num.h"

static int keys_fmt_result(int n, size_t cap)
{
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

static int keys_clamp_parts(int partitions)
{
    if (partitions < 1)
        return 1;
    return partitions > KEYS_PARTITIONS_MAX ? KEYS_PARTITIONS_MAX : partitions;
}

int keys_part_slot(int partitions, int j)
{
    long long p = keys_clamp_parts(partitions);

    if (j < 0)
        j = 0;
    if (j >= p)
        j = (int)p - 1;
    return (int)(((2LL * j + 1) * CLUSTER_SLOTS) / (2 * p));
}

int keys_part_of(const char *id, size_t len, int partitions)
{
    uint32_t h = 2166136261u;
    size_t i;

    partitions = keys_clamp_parts(partitions);
    if (partitions == 1)
        return 0;
    for (i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 16777619u;
    }
    return (int)(h % (uint32_t)partitions);
}

int keys_job_slot(const char *id, size_t len, int partitions)
{
    return keys_part_slot(partitions, keys_part_of(id, len, partitions));
}

/* The tag of every slot, filled on first use in one pass (about 110,000
 * CRC16s, a few ms). A cache of a pure function: every process computes the
 * same text. */
static char keys_tags[CLUSTER_SLOTS][KEYS_TAG_MAX_LEN + 1];
static int keys_tags_missing = -1; /* slots without a tag yet; -1: not filled */

static void keys_tags_fill(void)
{
    char num[16];
    unsigned n;
    int len, slot;

    keys_tags_missing = CLUSTER_SLOTS;
    /* every slot is hit by some n below 110,000 (test_keys_ids checks all
     * 16384); the bound only guards the loop */
    for (n = 0; n < 1000000u && keys_tags_missing > 0; n++) {
        len = snprintf(num, sizeof(num), "%u", n);
        slot = cluster_crc16(num, (size_t)len) & (CLUSTER_SLOTS - 1);
        if (keys_tags[slot][0] != '\0')
            continue;
        keys_tags[slot][0] = '{';
        memcpy(keys_tags[slot] + 1, num, (size_t)len);
        keys_tags[slot][len + 1] = '}';
        keys_tags[slot][len + 2] = '\0';
        keys_tags_missing--;
    }
}

const char *keys_slot_tag(int slot)
{
    if (slot < 0 || slot >= CLUSTER_SLOTS)
        return NULL;
    if (keys_tags_missing < 0)
        keys_tags_fill();
    return keys_tags[slot][0] != '\0' ? keys_tags[slot] : NULL;
}

const char *keys_default_tag(void)
{
    return keys_slot_tag(keys_part_slot(1, 0));
}

int keys_job(char *buf, size_t cap, const char *prefix, const char *tag, const char *id)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:job:%s", prefix, tag, id), cap);
}

int keys_queue(char *buf, size_t cap, const char *prefix, const char *tag, const char *queue)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:queue:%s", prefix, tag, queue), cap);
}

int keys_delayed(char *buf, size_t cap, const char *prefix, const char *tag, const char *queue)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:delayed:%s", prefix, tag, queue), cap);
}

int keys_paused(char *buf, size_t cap, const char *prefix, const char *tag, const char *queue)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:paused:%s", prefix, tag, queue), cap);
}

int keys_rate(char *buf, size_t cap, const char *prefix, const char *tag, const char *queue)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:rate:%s", prefix, tag, queue), cap);
}

int keys_failed(char *buf, size_t cap, const char *prefix, const char *tag, const char *queue)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:failed:%s", prefix, tag, queue), cap);
}

int keys_processing(char *buf, size_t cap, const char *prefix, const char *tag, const char *wid)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:processing:%s", prefix, tag, wid), cap);
}

int keys_leases(char *buf, size_t cap, const char *prefix, const char *tag)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:leases", prefix, tag), cap);
}

int keys_alive(char *buf, size_t cap, const char *prefix, const char *tag)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:alive", prefix, tag), cap);
}

int keys_current(char *buf, size_t cap, const char *prefix, const char *tag)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:current", prefix, tag), cap);
}

int keys_counters(char *buf, size_t cap, const char *prefix, const char *tag)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:counters", prefix, tag), cap);
}

int keys_recent(char *buf, size_t cap, const char *prefix, const char *tag)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:recent", prefix, tag), cap);
}

int keys_stagehist(char *buf, size_t cap, const char *prefix, const char *tag, const char *pipeline)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:stagehist:%s", prefix, tag, pipeline), cap);
}

int keys_eta(char *buf, size_t cap, const char *prefix, const char *tag, const char *pipeline)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:%s:eta:%s", prefix, tag, pipeline), cap);
}

int keys_workers(char *buf, size_t cap, const char *prefix)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:{w}:workers", prefix), cap);
}

int keys_worker(char *buf, size_t cap, const char *prefix, const char *wid)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:{w}:worker:%s", prefix, wid), cap);
}

int keys_schedules(char *buf, size_t cap, const char *prefix)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:{w}:schedules", prefix), cap);
}

int keys_events(char *buf, size_t cap, const char *prefix)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:events", prefix), cap);
}

int keys_wake(char *buf, size_t cap, const char *prefix, const char *queue)
{
    return keys_fmt_result(snprintf(buf, cap, "%s:wake:%s", prefix, queue), cap);
}

int keys_stage_field(char *buf, size_t cap, int k, const char *what)
{
    size_t nd, nw = what != NULL ? strlen(what) : 0;

    /* by hand when it fits: every status read names a few fields per stage,
     * and snprintf was a tenth of building the status */
    if (sizeof("stage.") + NUM_LL_TEXT_MAX + nw + 1 > cap)
        return keys_fmt_result(what != NULL ? snprintf(buf, cap, "stage.%d.%s", k, what)
                                            : snprintf(buf, cap, "stage.%d", k),
                               cap);
    memcpy(buf, "stage.", 6);
    nd = num_text_ll(k, buf + 6);
    if (what == NULL) {
        buf[6 + nd] = '\0';
        return 0;
    }
    buf[6 + nd] = '.';
    memcpy(buf + 7 + nd, what, nw + 1);
    return 0;
}
