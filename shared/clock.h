/* clock: wall-clock and monotonic milliseconds, and RFC 3339 formatting. */
#ifndef STAGEQ_CLOCK_H
#define STAGEQ_CLOCK_H

#include <stdint.h>

#define CLOCK_RFC3339_LEN 25 /* "2026-11-25T16:48:14.123Z" + NUL */

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);
/* Milliseconds of CLOCK_MONOTONIC: for intervals and deadlines only. */
int64_t clock_mono_ms(void);
/* Microseconds of CLOCK_MONOTONIC: for short intervals (request latencies). */
int64_t clock_mono_us(void);
/* Writes ms since the epoch as UTC RFC 3339 with milliseconds into out. */
void clock_format_rfc3339(int64_t ms, char out[CLOCK_RFC3339_LEN]);
/* Parses what clock_format_rfc3339 writes ("2026-11-25T19:48:25.123Z"; the
 * fraction is optional) into *ms. 0, or -1 when s is not in that form. */
int clock_parse_rfc3339(const char *s, int64_t *ms);

/* Parses a client's RFC 3339 date-time (section 5.6): "2026-11-25T19:48:25Z",
 * with 't' or 'T', a fraction of any length (kept to the millisecond,
 * truncated), and 'Z', 'z' or a "+HH:MM"/"-HH:MM" offset, into *ms (UTC ms
 * since the epoch). The date must exist (February 29 only in leap years);
 * a leap second (:60) counts as the second after :59. 0, or -1 when s is not
 * such a time or falls before 1970. */
int clock_parse_rfc3339_any(const char *s, int64_t *ms);

#endif
