/* reply: the one way a request is answered and ends (an internal request,
 * without HTTP, is answered to its on_answer hook). reply_json, reply_raw
 * and reply_content send the reply (HEAD gets the length and no body) and
 * end the request; reply_req_end is its end (streams call it when they end):
 * its count (counters.c), its access log line, its memory, and the end of
 * the process's drain when it was the last. Routes nothing, picks no error
 * status (errors.c does). */
#include "api.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "num.h"

/* Appends s to msg[*used..cap), cut to what fits (NUL added by the caller). */
static void reply_put(char *msg, size_t cap, size_t *used, const char *s)
{
    size_t n = strnlen(s, cap - 1 - *used);

    memcpy(msg + *used, s, n);
    *used += n;
}

/* The access log line's message, "METHOD PATH STATUS Nms", into msg[cap]:
 * built by hand, as it is written for every request (vsnprintf was most of
 * the line's cost, docs/performance.md). */
static void reply_access_msg(char *msg, size_t cap, const char *method, const char *path,
                             int status, long long ms)
{
    char num[NUM_LL_TEXT_MAX];
    size_t used = 0;

    reply_put(msg, cap, &used, method);
    reply_put(msg, cap, &used, " ");
    reply_put(msg, cap, &used, path);
    reply_put(msg, cap, &used, " ");
    num_text_ll(status, num);
    reply_put(msg, cap, &used, num);
    reply_put(msg, cap, &used, " ");
    num_text_ll(ms, num);
    reply_put(msg, cap, &used, num);
    reply_put(msg, cap, &used, "ms");
    msg[used] = '\0';
}

void reply_req_end(struct api_req *ar, int status)
{
    struct api *api = ar->api;
    long long us = (long long)(clock_mono_us() - ar->start_us);
    const char *method = ar->method_name;

    if (ar->req != NULL)
        counters_note(api->counters, ar->route, method, status, us);
    if (ar->req != NULL && api->cfg->is_access_log) {
        const struct log_kv kv[] = {
            {"method", method, 0},
            {"route", ar->route, 0},
            {"path", ar->log_path, 0},
            {"status", NULL, status},
            {"duration_ms", NULL, (us + 500) / 1000},
            {"bytes", NULL, (long long)ar->bytes_out},
            {"remote", ar->remote, 0},
        };
        char msg[sizeof(ar->log_path) + 64];

        reply_access_msg(msg, sizeof(msg), method, ar->log_path, status, (us + 500) / 1000);
        log_msg_kv(LOG_LEVEL_INFO, kv, sizeof(kv) / sizeof(kv[0]), msg);
    }
    evhttp_clear_headers(&ar->query);
    free(ar);
    api->inflight--;
    if (api->is_draining && api->inflight == 0) {
        struct timeval flush = {0, 50000}; /* let the last replies be written */
        event_base_loopexit(api->base, &flush);
    }
}

/* evhttp writes what it queued on a connection when epoll next says the
 * socket is writable: an epoll_ctl to watch EPOLLOUT, another loop turn, an
 * epoll_ctl to stop watching, for every answer and every chunk of a stream;
 * each system call is dear on this kind of host (docs/performance.md). So
 * what it queued is written here at once; in this loop turn evhttp's own
 * EPOLLOUT watch is then dropped before it reached epoll (libevent's
 * changelist). What the socket did not take stays queued for evhttp, as
 * before, and so does an error: the bufferevent meets it again. */
void reply_write_now(const struct api *api, struct evhttp_connection *evcon, bool is_end)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    struct evbuffer *out = bev != NULL ? bufferevent_get_output(bev) : NULL;
    evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;

    /* ending the request under evhttp's own frames would free them */
    if (is_end && api->is_in_evhttp)
        return;
    if (out == NULL || fd < 0 || evbuffer_get_length(out) == 0)
        return;
    if (evbuffer_write(out, fd) <= 0 || evbuffer_get_length(out) != 0)
        return;
    if (is_end)
        bufferevent_trigger(bev, EV_WRITE, 0); /* evcon may be freed */
    else
        bufferevent_disable(bev, EV_WRITE); /* the next chunk enables it again */
}

/* Sends body[0..len) then tail (NULL: nothing) as ctype, then ends the
 * request (reply_req_end: ar is freed). */
static void reply_send(struct api_req *ar, int status, const char *ctype, const char *body,
                       size_t len, const char *tail)
{
    struct evkeyvalq *headers = ar->req != NULL ? evhttp_request_get_output_headers(ar->req) : NULL;
    struct evbuffer *buf = NULL;
    size_t tlen = tail ? strlen(tail) : 0;
    char clen[32];
    struct api *api = ar->api;
    struct evhttp_connection *evcon = NULL;

    if (ar->req == NULL) { /* an internal request: its answer goes to its hook */
        if (ar->on_answer != NULL)
            ar->on_answer(ar, status, body, len);
        reply_req_end(ar, status);
        return;
    }
    if (status == 204 || status == 304) {
        /* no body, no Content-Type */
    } else if (ar->method == EVHTTP_REQ_HEAD) {
        evhttp_add_header(headers, "Content-Type", ctype);
        /* libevent 2.1 would send a HEAD body and no Content-Length: send the
         * length a GET would get, and no body. */
        snprintf(clen, sizeof(clen), "%zu", len + tlen);
        evhttp_add_header(headers, "Content-Length", clen);
    } else {
        evhttp_add_header(headers, "Content-Type", ctype);
        buf = evbuffer_new();
        if (buf == NULL || evbuffer_add(buf, body, len) < 0 ||
            (tlen > 0 && evbuffer_add(buf, tail, tlen) < 0)) {
            if (buf != NULL)
                evbuffer_free(buf);
            buf = NULL;
            status = 500; /* out of memory: at least say so */
        } else if (ar->method == EVHTTP_REQ_CONNECT) {
            /* libevent 2.1 sends no Content-Length for CONNECT (it expects a
             * tunnel) but does send the body: frame it, or the connection
             * stays open with a reply the client cannot delimit. */
            snprintf(clen, sizeof(clen), "%zu", len + tlen);
            evhttp_add_header(headers, "Content-Length", clen);
        }
    }
    if (buf != NULL)
        ar->bytes_out += len + tlen;
    evcon = evhttp_request_get_connection(ar->req);
    evhttp_send_reply(ar->req, status, NULL, buf);
    if (buf != NULL)
        evbuffer_free(buf);
    reply_req_end(ar, status);
    if (evcon != NULL)
        reply_write_now(api, evcon, true);
}

void reply_raw(struct api_req *ar, int status, const char *body, size_t len)
{
    reply_send(ar, status, "application/json", body, len, "\n");
}

void reply_content(struct api_req *ar, int status, const char *ctype, const char *body, size_t len)
{
    reply_send(ar, status, ctype, body, len, NULL);
}

void reply_json(struct api_req *ar, int status, const cJSON *body)
{
    char *text = json_print(body);

    if (text == NULL) {
        reply_raw(ar, 500, REPLY_OOM_BODY, sizeof(REPLY_OOM_BODY) - 1);
        return;
    }
    reply_raw(ar, status, text, strlen(text));
    cJSON_free(text);
}
