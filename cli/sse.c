/* sse: the CLI's Server-Sent Events parser — bytes in, events out, with the
 * WHATWG framing (LF, CR or CRLF line ends, also split across chunks; "data:"
 * lines joined with "\n"; "event:", "id:"; comment lines starting with ':').
 * Bounded: a line or an event's data past SSE_DATA_MAX is dropped whole.
 * Never does I/O and never prints. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* Appends len bytes to a growing buffer. 0, or -1 when out of memory or
 * past SSE_DATA_MAX (the buffer is then left as it was). */
static int sse_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    size_t want = *len + n + 1;
    char *p;

    if (want > SSE_DATA_MAX)
        return -1;
    if (want > *cap) {
        size_t ncap = *cap ? *cap : 256;
        while (ncap < want)
            ncap *= 2;
        p = realloc(*buf, ncap);
        if (p == NULL)
            return -1;
        *buf = p;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

void sse_parser_init(struct sse_parser *p, int (*on_event)(const struct sse_event *, void *),
                     void *arg)
{
    memset(p, 0, sizeof(*p));
    p->on_event = on_event;
    p->arg = arg;
}

void sse_parser_reset(struct sse_parser *p)
{
    p->line_len = 0;
    p->data_len = 0;
    p->has_data = false;
    p->is_cr = false;
    p->is_line_bad = false;
    p->is_event_bad = false;
    p->event[0] = '\0';
}

void sse_parser_clear(struct sse_parser *p)
{
    if (p == NULL)
        return;
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_cap = p->data_cap = 0;
    sse_parser_reset(p);
}

/* A blank line: hands the event over (when it has data) and starts the next.
 * Returns the callback's value, 0 when nothing was dispatched. */
static int sse_dispatch(struct sse_parser *p)
{
    struct sse_event ev;
    int rc = 0;

    if (p->has_data && !p->is_event_bad) {
        /* the data buffer ends with the "\n" of its last line: drop it */
        if (p->data_len > 0 && p->data[p->data_len - 1] == '\n')
            p->data[--p->data_len] = '\0';
        ev.event = p->event[0] ? p->event : "message";
        ev.data = p->data ? p->data : "";
        ev.data_len = p->data_len;
        ev.id = p->last_id;
        p->events++;
        rc = p->on_event(&ev, p->arg);
    }
    p->data_len = 0;
    if (p->data != NULL)
        p->data[0] = '\0';
    p->has_data = false;
    p->is_event_bad = false;
    p->event[0] = '\0';
    return rc;
}

/* One complete line (without its end). Returns the callback's value or 0. */
static int sse_line(struct sse_parser *p, const char *line, size_t len)
{
    const char *colon, *value;
    size_t nlen, vlen;

    if (len == 0)
        return sse_dispatch(p);
    if (line[0] == ':') {
        p->comments++;
        return 0;
    }
    colon = memchr(line, ':', len);
    nlen = colon ? (size_t)(colon - line) : len;
    value = colon ? colon + 1 : line + len;
    vlen = len - (size_t)(value - line);
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    if (nlen == 4 && memcmp(line, "data", 4) == 0) {
        if (sse_append(&p->data, &p->data_len, &p->data_cap, value, vlen) < 0 ||
            sse_append(&p->data, &p->data_len, &p->data_cap, "\n", 1) < 0)
            p->is_event_bad = true;
        p->has_data = true;
    } else if (nlen == 5 && memcmp(line, "event", 5) == 0) {
        if (vlen >= sizeof(p->event))
            vlen = sizeof(p->event) - 1; /* no event we know is that long */
        memcpy(p->event, value, vlen);
        p->event[vlen] = '\0';
    } else if (nlen == 2 && memcmp(line, "id", 2) == 0) {
        /* an id holding NUL is ignored; one too long to keep is dropped */
        if (memchr(value, '\0', vlen) == NULL && vlen < sizeof(p->last_id)) {
            memcpy(p->last_id, value, vlen);
            p->last_id[vlen] = '\0';
        }
    }
    /* "retry" and unknown fields are ignored */
    return 0;
}

int sse_parser_feed(struct sse_parser *p, const char *buf, size_t len)
{
    size_t i = 0, start;
    int rc;

    while (i < len) {
        if (p->is_cr) {
            p->is_cr = false;
            if (buf[i] == '\n') {
                i++; /* the LF of a CRLF split across two chunks */
                continue;
            }
        }
        start = i;
        while (i < len && buf[i] != '\n' && buf[i] != '\r')
            i++;
        if (!p->is_line_bad &&
            sse_append(&p->line, &p->line_len, &p->line_cap, buf + start, i - start) < 0) {
            p->is_line_bad = true; /* too long: dropped when it ends */
            p->is_event_bad = true;
        }
        if (i == len)
            break; /* the line continues in the next chunk */
        if (buf[i] == '\r')
            p->is_cr = true;
        i++;
        rc = 0;
        if (!p->is_line_bad)
            rc = sse_line(p, p->line ? p->line : "", p->line_len);
        p->line_len = 0;
        p->is_line_bad = false;
        if (rc != 0)
            return rc;
    }
    return 0;
}
