/* rargv: growable argv for Redis commands. */
#include "rargv.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A block of copies. Its malloc stays below 1,000 bytes (a chunk below
 * glibc's 1,024-byte "large" ones, kept in its per-thread cache) unless one
 * string needs more: a larger request makes malloc sort its free lists each
 * time (malloc_consolidate). */
struct rargv_block {
    struct rargv_block *next;
    size_t used, cap;
    char data[];
};
#define RARGV_BLOCK_BYTES (1000 - sizeof(struct rargv_block))

void rargv_init(struct rargv *v)
{
    memset(v, 0, sizeof(*v));
}

/* Room for n bytes in v's blocks: a new block when the newest has less. */
static char *rargv_room(struct rargv *v, size_t n)
{
    struct rargv_block *b = v->blocks;
    size_t cap;

    if (b == NULL || b->cap - b->used < n) {
        cap = n > RARGV_BLOCK_BYTES ? n : RARGV_BLOCK_BYTES;
        if ((b = malloc(sizeof(*b) + cap)) == NULL)
            return NULL;
        b->next = v->blocks;
        b->used = 0;
        b->cap = cap;
        v->blocks = b;
    }
    b->used += n;
    return b->data + b->used - n;
}

/* A copy of s[0..len) and a NUL in v's blocks, or NULL. */
static char *rargv_copy(struct rargv *v, const char *s, size_t len)
{
    char *copy = len < SIZE_MAX ? rargv_room(v, len + 1) : NULL;

    if (copy == NULL)
        return NULL;
    if (len > 0)
        memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

int rargv_addlen(struct rargv *v, const char *s, size_t len)
{
    char *copy;

    if (v->is_oom)
        return -1;
    if (v->argc == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 16;
        char **na = realloc(v->argv, ncap * sizeof(*na));
        size_t *nl;
        if (na == NULL)
            goto oom;
        v->argv = na;
        nl = realloc(v->lens, ncap * sizeof(*nl));
        if (nl == NULL)
            goto oom;
        v->lens = nl;
        v->cap = ncap;
    }
    if ((copy = rargv_copy(v, s, len)) == NULL)
        goto oom;
    v->argv[v->argc] = copy;
    v->lens[v->argc] = len;
    v->argc++;
    return 0;
oom:
    v->is_oom = 1;
    return -1;
}

int rargv_set(struct rargv *v, size_t i, const char *s)
{
    size_t len = strlen(s);
    char *copy;

    if (v->is_oom || i >= v->argc)
        return -1;
    if (len <= v->lens[i]) { /* over the old copy: a value set again and again stays put */
        copy = v->argv[i];
        memmove(copy, s, len + 1); /* s may be a copy of v's own */
    } else if ((copy = rargv_copy(v, s, len)) == NULL) {
        v->is_oom = 1;
        return -1;
    }
    v->argv[i] = copy;
    v->lens[i] = len;
    return 0;
}

int rargv_add(struct rargv *v, const char *s)
{
    return rargv_addlen(v, s, strlen(s));
}

int rargv_addf(struct rargv *v, const char *fmt, ...)
{
    char small[256], *big;
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        v->is_oom = 1;
        return -1;
    }
    if ((size_t)n < sizeof(small))
        return rargv_addlen(v, small, (size_t)n);
    big = malloc((size_t)n + 1);
    if (big == NULL) {
        v->is_oom = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rc = rargv_addlen(v, big, (size_t)n);
    free(big);
    return rc;
}

int rargv_addll(struct rargv *v, long long n)
{
    char buf[24], *p = buf + sizeof(buf);
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;

    /* no printf: a bulk submit adds a few numbers per job */
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (n < 0)
        *--p = '-';
    return rargv_addlen(v, p, (size_t)(buf + sizeof(buf) - p));
}

void rargv_free(struct rargv *v)
{
    struct rargv_block *b, *next;

    if (v == NULL)
        return;
    for (b = v->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(v->argv);
    free(v->lens);
    rargv_init(v);
}

/* Digits of v in base 10. */
static size_t rargv_digits(size_t v)
{
    size_t d = 1;

    while (v >= 10)
        v /= 10, d++;
    return d;
}

/* Writes type, v in base 10 and CRLF at p: the position after them. */
static char *rargv_put_len(char *p, char type, size_t v)
{
    size_t d = rargv_digits(v), i;

    *p++ = type;
    for (i = d; i > 0; i--, v /= 10)
        p[i - 1] = (char)('0' + v % 10);
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

size_t rargv_resp_size(size_t argc, const size_t *lens)
{
    size_t total = 1 + rargv_digits(argc) + 2, i;

    for (i = 0; i < argc; i++)
        total += 1 + rargv_digits(lens[i]) + 2 + lens[i] + 2;
    return total;
}

void rargv_resp_write(char *buf, size_t argc, const char *const *argv, const size_t *lens)
{
    char *p = rargv_put_len(buf, '*', argc);
    size_t i;

    for (i = 0; i < argc; i++) {
        p = rargv_put_len(p, '$', lens[i]);
        if (lens[i] > 0)
            memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
}

char *rargv_resp(size_t argc, const char *const *argv, const size_t *lens, size_t *len)
{
    size_t total = rargv_resp_size(argc, lens);
    char *buf = malloc(total + 1); /* NUL-terminated, as hiredis' own: its async */

    if (buf == NULL) /* parse of a command (nextArgument) reads one past */
        return NULL; /* the end with strchr (valgrind, test_jobs) */
    rargv_resp_write(buf, argc, argv, lens);
    *len = total;
    return buf;
}
