/* rargv: growable argv for Redis commands. */
#include "rargv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rargv_init(struct rargv *v)
{
    memset(v, 0, sizeof(*v));
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
    copy = malloc(len + 1);
    if (copy == NULL)
        goto oom;
    if (len > 0)
        memcpy(copy, s, len);
    copy[len] = '\0';
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
    copy = malloc(len + 1);
    if (copy == NULL) {
        v->is_oom = 1;
        return -1;
    }
    memcpy(copy, s, len + 1);
    free(v->argv[i]);
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
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < v->argc; i++)
        free(v->argv[i]);
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

char *rargv_resp(size_t argc, const char *const *argv, const size_t *lens, size_t *len)
{
    size_t total = 1 + rargv_digits(argc) + 2, i;
    char *buf, *p;

    for (i = 0; i < argc; i++)
        total += 1 + rargv_digits(lens[i]) + 2 + lens[i] + 2;
    buf = malloc(total + 1); /* NUL-terminated, as hiredis' own: its async */
    if (buf == NULL)         /* parse of a command (nextArgument) reads one past */
        return NULL;         /* the end with strchr (valgrind, test_jobs) */
    buf[total] = '\0';
    p = rargv_put_len(buf, '*', argc);
    for (i = 0; i < argc; i++) {
        p = rargv_put_len(p, '$', lens[i]);
        if (lens[i] > 0)
            memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    *len = total;
    return buf;
}
