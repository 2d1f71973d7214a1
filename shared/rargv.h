/* rargv: a growable argument vector for binary-safe Redis commands
 * (redisCommandArgv / redisAsyncCommandArgv). Owns copies of its strings,
 * held in a few blocks of its own (one malloc per block, not per string: a
 * job's end has about 40 arguments). */
#ifndef STAGEQ_RARGV_H
#define STAGEQ_RARGV_H

#include <stddef.h>

struct rargv_block;

struct rargv {
    size_t argc, cap;
    char **argv; /* each NUL-terminated copy, may also contain NULs */
    size_t *lens;
    int is_oom;                 /* sticky: set when an append failed; the vector is then unusable */
    struct rargv_block *blocks; /* where the copies are; NULL for a vector of borrowed strings */
};

void rargv_init(struct rargv *v);
/* Appends a copy of s[0..len) / a C string / a formatted string / an integer.
 * Return 0, or -1 (and is_oom set) when memory ran out. */
int rargv_addlen(struct rargv *v, const char *s, size_t len);
int rargv_add(struct rargv *v, const char *s);
int rargv_addf(struct rargv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rargv_addll(struct rargv *v, long long n);
/* Replaces entry i (< argc) with a copy of s (over the old one when it fits,
 * else a new copy: the old one's bytes are freed with the vector); 0, or -1
 * (is_oom set). */
int rargv_set(struct rargv *v, size_t i, const char *s);
/* The command argv[0..argc) (lens[i] bytes each) in Redis's protocol, the
 * bytes hiredis' redisFormatCommandArgv writes, without its printf per
 * argument: a new buffer the caller frees with free(), its length in *len
 * (a NUL follows: redisAsyncFormattedCommand reads it);
 * NULL when memory ran out. */
char *rargv_resp(size_t argc, const char *const *argv, const size_t *lens, size_t *len);
/* The same in two steps, for a buffer of the caller's: its length (the NUL
 * not counted), then the bytes and a NUL written at buf. */
size_t rargv_resp_size(size_t argc, const size_t *lens);
void rargv_resp_write(char *buf, size_t argc, const char *const *argv, const size_t *lens);
/* Frees the strings; v can be reused after rargv_init. NULL-safe. */
void rargv_free(struct rargv *v);

#endif
