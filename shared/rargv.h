/* rargv: a growable argument vector for binary-safe Redis commands
 * (redisCommandArgv / redisAsyncCommandArgv). Owns copies of its strings. */
#ifndef STAGEQ_RARGV_H
#define STAGEQ_RARGV_H

#include <stddef.h>

struct rargv {
    size_t argc, cap;
    char **argv; /* each NUL-terminated copy, may also contain NULs */
    size_t *lens;
    int is_oom; /* sticky: set when an append failed; the vector is then unusable */
};

void rargv_init(struct rargv *v);
/* Appends a copy of s[0..len) / a C string / a formatted string / an integer.
 * Return 0, or -1 (and is_oom set) when memory ran out. */
int rargv_addlen(struct rargv *v, const char *s, size_t len);
int rargv_add(struct rargv *v, const char *s);
int rargv_addf(struct rargv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rargv_addll(struct rargv *v, long long n);
/* Replaces entry i (< argc) with a copy of s; 0, or -1 (is_oom set). */
int rargv_set(struct rargv *v, size_t i, const char *s);
/* The command argv[0..argc) (lens[i] bytes each) in Redis's protocol, the
 * bytes hiredis' redisFormatCommandArgv writes, without its printf per
 * argument: a new buffer the caller frees with free(), its length in *len
 * (a NUL follows: redisAsyncFormattedCommand reads it);
 * NULL when memory ran out. */
char *rargv_resp(size_t argc, const char *const *argv, const size_t *lens, size_t *len);
/* Frees the strings; v can be reused after rargv_init. NULL-safe. */
void rargv_free(struct rargv *v);

#endif
