/* Unit tests for cli/sse: the SSE framing the CLI's watch relies on — LF, CR
 * and CRLF line ends (also cut across feeds, byte by byte), data: lines
 * joined, comments, event and id fields, Last-Event-ID kept across events and
 * resets, events without data, bounded lines, and stopping from the callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../cli/cli.h"

struct seen {
    int n;
    char event[8][64];
    char data[8][256];
    char id[8][64];
    int stop_at; /* 1-based event that returns nonzero, 0 = none */
};

static int on_event(const struct sse_event *ev, void *arg)
{
    struct seen *s = arg;

    assert_int_equal(strlen(ev->data), ev->data_len);
    if (s->n < 8) {
        snprintf(s->event[s->n], sizeof(s->event[0]), "%s", ev->event);
        snprintf(s->data[s->n], sizeof(s->data[0]), "%s", ev->data);
        snprintf(s->id[s->n], sizeof(s->id[0]), "%s", ev->id);
    }
    s->n++;
    return s->stop_at == s->n ? 7 : 0;
}

/* Feeds text in pieces of `step` bytes (0: all at once) from exactly sized
 * heap copies, so ASan sees any read past a piece. */
static int feed(struct sse_parser *p, const char *text, size_t step)
{
    size_t len = strlen(text), off = 0;
    int rc = 0;

    if (step == 0)
        step = len ? len : 1;
    while (off < len && rc == 0) {
        size_t n = len - off < step ? len - off : step;
        char *piece = malloc(n);
        assert_non_null(piece);
        memcpy(piece, text + off, n);
        rc = sse_parser_feed(p, piece, n);
        free(piece);
        off += n;
    }
    return rc;
}

static void check_stream(const char *text, size_t step)
{
    struct sse_parser p;
    struct seen s = {0};

    sse_parser_init(&p, on_event, &s);
    assert_int_equal(feed(&p, text, step), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.event[0], "status");
    assert_string_equal(s.data[0], "{\"a\":\n1}");
    assert_string_equal(s.id[0], "7");
    assert_string_equal(s.event[1], "message"); /* no event: field */
    assert_string_equal(s.data[1], "x");
    assert_string_equal(s.id[1], "7"); /* the id stays */
    assert_string_equal(s.event[2], "end");
    assert_string_equal(s.data[2], "");
    assert_string_equal(s.id[2], "9");
    assert_int_equal(p.comments, 2);
    sse_parser_clear(&p);
}

static const char *const streams[] = {
    ": hi\n\nevent: status\nid: 7\ndata: {\"a\":\ndata:1}\n\ndata: x\n\n: "
    "ping\nevent:end\nid:9\ndata\n\n",
    ": hi\r\n\r\nevent: status\r\nid: 7\r\ndata: {\"a\":\r\ndata:1}\r\n\r\ndata: x\r\n\r\n: "
    "ping\r\n"
    "event:end\r\nid:9\r\ndata\r\n\r\n",
    ": hi\r\revent: status\rid: 7\rdata: {\"a\":\rdata:1}\r\rdata: x\r\r: ping\revent:end\rid:9\r"
    "data\r\r",
};

static void test_framing_whole(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
        check_stream(streams[i], 0);
}

static void test_framing_cut_everywhere(void **state)
{
    size_t i, step;

    (void)state;
    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
        for (step = 1; step <= 7; step++)
            check_stream(streams[i], step);
}

static void test_no_data_no_event(void **state)
{
    struct sse_parser p;
    struct seen s = {0};

    (void)state;
    sse_parser_init(&p, on_event, &s);
    assert_int_equal(feed(&p, "event: status\nid: 3\n\n: c\n\n\n\ndata: y", 0), 0);
    assert_int_equal(s.n, 0); /* no data, and the last event is unfinished */
    assert_string_equal(p.last_id, "3");
    assert_int_equal(feed(&p, "\n\n", 0), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.event[0], "message"); /* the type was reset by the blank line */
    assert_string_equal(s.data[0], "y");
    sse_parser_clear(&p);
}

static void test_reset_keeps_last_id(void **state)
{
    struct sse_parser p;
    struct seen s = {0};

    (void)state;
    sse_parser_init(&p, on_event, &s);
    assert_int_equal(feed(&p, "id: 41\ndata: a\n\nevent: status\ndata: half", 0), 0);
    sse_parser_reset(&p); /* the connection dropped mid-event */
    assert_string_equal(p.last_id, "41");
    assert_int_equal(feed(&p, "data: b\n\n", 0), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.event[1], "message");
    assert_string_equal(s.data[1], "b");
    sse_parser_clear(&p);
}

static void test_stop_from_callback(void **state)
{
    struct sse_parser p;
    struct seen s = {.stop_at = 2};

    (void)state;
    sse_parser_init(&p, on_event, &s);
    assert_int_equal(feed(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 0), 7);
    assert_int_equal(s.n, 2);
    sse_parser_clear(&p);
}

static void test_long_line_dropped(void **state)
{
    struct sse_parser p;
    struct seen s = {0};
    size_t n = SSE_DATA_MAX + 16;
    char *big = malloc(n + 16);

    (void)state;
    assert_non_null(big);
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', n - 6);
    memcpy(big + n, "\n\n", 3);
    sse_parser_init(&p, on_event, &s);
    assert_int_equal(sse_parser_feed(&p, big, strlen(big)), 0);
    assert_int_equal(s.n, 0); /* the event lost a line: not dispatched */
    assert_int_equal(feed(&p, "data: ok\n\n", 0), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.data[0], "ok");
    free(big);
    sse_parser_clear(&p);
    sse_parser_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_whole),      cmocka_unit_test(test_framing_cut_everywhere),
        cmocka_unit_test(test_no_data_no_event),   cmocka_unit_test(test_reset_keeps_last_id),
        cmocka_unit_test(test_stop_from_callback), cmocka_unit_test(test_long_line_dropped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
