/* rarena: redisReply objects in one block per top-level reply (see
 * rarena.h). It only allocates and frees memory for hiredis' reader: it
 * never reads a socket, never logs. The top-level reply is the first member
 * of its arena, so freeing it needs no lookup, and an element finds the arena
 * by walking its read task's parents to the top (at most 9 levels in 0.14). */
#include "rarena.h"

#include <hiredis/hiredis.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RARENA_GUESS_STR 32    /* bytes guessed per element's string, to size the first block */
#define RARENA_FIRST_MAX 16384 /* the first block of an array is at most this (bytes) */
#define RARENA_BLOCK_MAX 65536 /* a further block is at most this, unless one item needs more */
#define RARENA_ALIGN     alignof(redisReply)

/* More memory of an arena, freed with its top-level reply. */
struct rarena_block {
    struct rarena_block *next;
    alignas(max_align_t) char data[];
};

struct rarena {
    redisReply root;             /* first: what hiredis and the callbacks are given */
    struct rarena_block *blocks; /* the blocks taken after the first, newest first */
    char *pos, *end;             /* the free space of the block being filled */
    size_t last;                 /* the size of the block being filled */
    alignas(max_align_t) char first[];
};

/* A new arena whose top-level reply has type `type`, with `extra` bytes free
 * after it; NULL when memory ran out. */
static struct rarena *rarena_new(int type, size_t extra)
{
    struct rarena *a = malloc(sizeof(*a) + extra);

    if (a == NULL)
        return NULL;
    memset(&a->root, 0, sizeof(a->root));
    a->root.type = type;
    a->blocks = NULL;
    a->pos = a->first;
    a->end = a->first + extra;
    a->last = extra;
    return a;
}

/* n bytes of a's memory (aligned for a redisReply when is_aligned), or NULL. */
static void *rarena_take(struct rarena *a, size_t n, int is_aligned)
{
    uintptr_t p = (uintptr_t)a->pos;
    struct rarena_block *b;
    size_t cap;

    if (is_aligned)
        p = (p + RARENA_ALIGN - 1) & ~(uintptr_t)(RARENA_ALIGN - 1);
    if (p <= (uintptr_t)a->end && n <= (uintptr_t)a->end - p) {
        a->pos = (char *)p + n;
        return (void *)p;
    }
    cap = a->last * 2 < RARENA_BLOCK_MAX ? a->last * 2 : RARENA_BLOCK_MAX;
    if (cap < 256)
        cap = 256;
    if (n > cap / 2) { /* a big one alone: the block being filled stays */
        b = malloc(sizeof(*b) + n);
        if (b == NULL)
            return NULL;
        b->next = a->blocks;
        a->blocks = b;
        return b->data;
    }
    b = malloc(sizeof(*b) + cap);
    if (b == NULL)
        return NULL;
    b->next = a->blocks;
    a->blocks = b;
    a->last = cap;
    a->pos = b->data + n;
    a->end = b->data + cap;
    return b->data;
}

/* The arena of the reply task belongs to (its top-level reply exists). */
static struct rarena *rarena_of(const redisReadTask *task)
{
    while (task->parent != NULL)
        task = task->parent;
    return task->obj;
}

/* A zeroed reply of the task's type with `extra` more bytes (for a top-level
 * one, in its arena's first block), linked into its parent; *ap is set to
 * its arena. NULL when memory ran out. */
static redisReply *rarena_reply(const redisReadTask *task, int type, size_t extra,
                                struct rarena **ap)
{
    redisReply *r, *parent;

    if (task->parent == NULL) {
        *ap = rarena_new(type, extra);
        return *ap != NULL ? &(*ap)->root : NULL;
    }
    *ap = rarena_of(task);
    r = rarena_take(*ap, sizeof(*r), 1);
    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->type = type;
    parent = task->parent->obj;
    parent->element[task->idx] = r;
    return r;
}

static void *rarena_create_string(const redisReadTask *task, char *str, size_t len)
{
    struct rarena *a;
    redisReply *r = rarena_reply(task, task->type, len + 1, &a);
    char *buf;

    if (r == NULL)
        return NULL;
    buf = rarena_take(a, len + 1, 0);
    if (buf == NULL)
        return NULL; /* the reader frees the top-level reply */
    memcpy(buf, str, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

static void *rarena_create_array(const redisReadTask *task, int elements)
{
    size_t n = elements > 0 ? (size_t)elements : 0;
    size_t guess = n * (sizeof(redisReply *) + sizeof(redisReply) + RARENA_GUESS_STR);
    struct rarena *a;
    redisReply *r = rarena_reply(task, REDIS_REPLY_ARRAY,
                                 guess < RARENA_FIRST_MAX ? guess : RARENA_FIRST_MAX, &a);

    if (r == NULL)
        return NULL;
    if (n > 0) {
        r->element = rarena_take(a, n * sizeof(redisReply *), 1);
        if (r->element == NULL)
            return NULL;
        memset(r->element, 0, n * sizeof(redisReply *));
    }
    r->elements = n;
    return r;
}

static void *rarena_create_integer(const redisReadTask *task, long long value)
{
    struct rarena *a;
    redisReply *r = rarena_reply(task, REDIS_REPLY_INTEGER, 0, &a);

    if (r != NULL)
        r->integer = value;
    return r;
}

static void *rarena_create_nil(const redisReadTask *task)
{
    struct rarena *a;

    return rarena_reply(task, REDIS_REPLY_NIL, 0, &a);
}

void rarena_free(void *reply)
{
    struct rarena *a = reply;
    struct rarena_block *b, *next;

    if (a == NULL)
        return;
    for (b = a->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

static redisReplyObjectFunctions rarena_functions = {
    rarena_create_string, rarena_create_array, rarena_create_integer,
    rarena_create_nil,    rarena_free,
};

void rarena_use(redisReader *r)
{
    r->fn = &rarena_functions;
}
