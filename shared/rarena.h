/* rarena: hiredis reply objects (redisReply, read by every callback as
 * usual) whose strings, element arrays and elements live in one block of
 * memory per top-level reply (a few when it is big), freed in one go: a
 * reply of n strings costs one malloc instead of 2n + 1. For hiredis 0.14's
 * redisReader (redisReplyObjectFunctions). Such a reply must never reach
 * freeReplyObject: only rarena_free, and only on the top-level reply (its
 * elements belong to it). */
#ifndef STAGEQ_RARENA_H
#define STAGEQ_RARENA_H

#include <hiredis/read.h>

/* Makes reader r build its replies here; before it reads anything. The
 * reader (hiredis, after each async callback) then frees each top-level
 * reply with rarena_free. */
void rarena_use(redisReader *r);
/* Frees a top-level reply built here, with all its elements and strings;
 * NULL-safe. Never an element of one, never a reply hiredis built. */
void rarena_free(void *reply);

#endif
