/* num: bounded reading of numbers from text (OpenBSD strtonum's way).
 *
 * Two uses, one parser:
 * - input (flags, URLs, query strings): num_parse_ll refuses garbage with a
 *   reason the caller shows;
 * - fields read back from Redis: stageq wrote them, but anyone with redis-cli
 *   can edit them, so every read goes through num_field_* with bounds and a
 *   fallback. Garbage never crashes or wedges a reader: it gets the fallback
 *   the call names, and a -1 it may log. */
#ifndef STAGEQ_NUM_H
#define STAGEQ_NUM_H

#include <stddef.h>

#include "err.h"

struct redisReply;

/* Parses text, all of it, as a base-10 integer in [min, max] (no leading
 * space or '+'). Returns 0, or -1 with a reason in err (which may be NULL). */
int num_parse_ll(const char *text, long long min, long long max, long long *out,
                 struct sq_err *err);

/* Parses text, all of it, as a finite decimal number in [min, max] (no
 * leading space, no "inf" or "nan", no hex). Returns 0, or -1 with a reason. */
int num_parse_double(const char *text, double min, double max, double *out, struct sq_err *err);

/* Field readers: *out is the value when text (NULL for a missing field) is a
 * number in [min, max] and 0 is returned; otherwise *out is def and -1 is
 * returned (a missing field counts as garbage: callers that expect it absent
 * pass the default they want and ignore the -1). */
int num_field_ll(const char *text, long long min, long long max, long long def, long long *out);
int num_field_int(const char *text, int min, int max, int def, int *out);
int num_field_double(const char *text, double min, double max, double def, double *out);

/* The same for one reply element: an integer reply, or a string (or status)
 * reply holding an integer. A NULL or nil element gives def. */
int num_reply_ll(const struct redisReply *r, long long min, long long max, long long def,
                 long long *out);

/* Writes v in base 10 into out (NUL-terminated), as "%lld" would, without
 * printf's cost (a hot path writes several per request); its length. */
#define NUM_LL_TEXT_MAX 21 /* "-9223372036854775808" and the NUL */
size_t num_text_ll(long long v, char out[NUM_LL_TEXT_MAX]);

#endif
