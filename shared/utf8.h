/* utf8: validation and safe truncation of UTF-8 text from clients and stage
 * programs. Pure functions on bytes; no allocation. */
#ifndef STAGEQ_UTF8_H
#define STAGEQ_UTF8_H

#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence at p[0..avail), or 0 when it is
 * invalid (bad lead or continuation byte, overlong form, surrogate, beyond
 * U+10FFFF, or cut short by avail). avail must be >= 1. */
size_t utf8_seq_len(const unsigned char *p, size_t avail);

/* Length of the longest prefix of s (NUL-terminated UTF-8) that is at most
 * max bytes and does not cut a character: for "%.*s" of untrusted text. */
int utf8_clip(const char *s, size_t max);

#endif
