/* client: the CLI's HTTP client on libevent's evhttp — one keep-alive
 * connection, one blocking event_base_dispatch per request, 10 s timeouts;
 * streams (SSE) on a connection of their own, read chunk by chunk as they
 * arrive. Never prints except in client_fail() and never exits. */
#include "cli.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define CLIENT_BODY_MAX (64 * 1024 * 1024) /* bytes of a reply kept */

struct client {
    struct event_base *base;
    struct evhttp_connection *conn;
    char host[256];
    int port;
    char prefix[512]; /* the URL's path without a trailing '/' */
    char auth[1100];  /* "Bearer <token>" or "" */
    int timeout_s;
};

/* One request in flight: what the callbacks fill. */
struct client_call {
    struct client *c;
    struct client_reply *rep;
    enum evhttp_request_error error;
    bool has_error, is_done;
    /* streams only */
    int (*on_data)(const char *buf, size_t len, void *arg);
    void (*on_tick)(void *arg);
    void *arg;
    bool is_stopped;       /* on_data asked to stop */
    struct evbuffer *held; /* a reply other than 200 read so far */
};

static void client_set_err(char *err, size_t len, const char *msg)
{
    if (err != NULL && len > 0)
        snprintf(err, len, "%s", msg);
}

struct client *client_new(const char *base_url, const char *token, int timeout_s, char *err,
                          size_t errlen)
{
    struct evhttp_uri *uri = NULL;
    struct client *c = NULL;
    const char *scheme, *host, *path;
    size_t plen;

    uri = evhttp_uri_parse(base_url);
    if (uri == NULL) {
        client_set_err(err, errlen, "--url: not a URL");
        goto fail;
    }
    scheme = evhttp_uri_get_scheme(uri);
    host = evhttp_uri_get_host(uri);
    path = evhttp_uri_get_path(uri);
    if (scheme == NULL || strcmp(scheme, "http") != 0) {
        client_set_err(err, errlen, "--url: only http://host[:port] URLs are supported");
        goto fail;
    }
    if (host == NULL || *host == '\0' || strlen(host) >= sizeof(c->host)) {
        client_set_err(err, errlen, "--url: missing or too long host");
        goto fail;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        client_set_err(err, errlen, "out of memory");
        goto fail;
    }
    memcpy(c->host, host, strlen(host) + 1);
    c->port = evhttp_uri_get_port(uri);
    if (c->port <= 0)
        c->port = 80;
    path = path ? path : "";
    plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (plen >= sizeof(c->prefix)) {
        client_set_err(err, errlen, "--url: path too long");
        goto fail;
    }
    memcpy(c->prefix, path, plen);
    c->prefix[plen] = '\0';
    if (token != NULL && *token != '\0') {
        int n = snprintf(c->auth, sizeof(c->auth), "Bearer %s", token);
        if (n < 0 || (size_t)n >= sizeof(c->auth)) {
            client_set_err(err, errlen, "--token: too long");
            goto fail;
        }
    }
    c->timeout_s = timeout_s;
    c->base = event_base_new();
    if (c->base == NULL) {
        client_set_err(err, errlen, "cannot create an event base");
        goto fail;
    }
    evhttp_uri_free(uri);
    return c;
fail:
    if (uri != NULL)
        evhttp_uri_free(uri);
    client_free(c);
    return NULL;
}

void client_free(struct client *c)
{
    if (c == NULL)
        return;
    if (c->conn != NULL)
        evhttp_connection_free(c->conn);
    if (c->base != NULL)
        event_base_free(c->base);
    free(c);
}

void client_reply_clear(struct client_reply *rep)
{
    if (rep == NULL)
        return;
    free(rep->body);
    cJSON_Delete(rep->json);
    memset(rep, 0, sizeof(*rep));
}

static const char *client_error_text(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timed out";
    case EVREQ_HTTP_EOF:
        return "connection closed or refused";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid reply";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection error";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "request canceled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "reply too long";
    }
    return "connection failed";
}

static void client_on_error(enum evhttp_request_error e, void *arg)
{
    struct client_call *call = arg;

    call->error = e;
    call->has_error = true;
}

static void client_on_done(struct evhttp_request *req, void *arg)
{
    struct client_call *call = arg;
    struct client_reply *rep = call->rep;
    struct evbuffer *in;
    struct json_err jerr;
    size_t len;

    call->is_done = true;
    event_base_loopbreak(call->c->base);
    if (req == NULL || evhttp_request_get_response_code(req) == 0) {
        snprintf(
            rep->err, sizeof(rep->err), "cannot reach %.128s:%d: %s", call->c->host, call->c->port,
            call->has_error ? client_error_text(call->error) : "connection refused or timed out");
        return;
    }
    rep->status = evhttp_request_get_response_code(req);
    in = evhttp_request_get_input_buffer(req);
    len = evbuffer_get_length(in);
    if (len > CLIENT_BODY_MAX)
        len = CLIENT_BODY_MAX;
    rep->body = malloc(len + 1);
    if (rep->body == NULL) {
        snprintf(rep->err, sizeof(rep->err), "out of memory");
        return;
    }
    evbuffer_remove(in, rep->body, len);
    rep->body[len] = '\0';
    rep->len = len;
    /* numbers stay as the API sent them, for printing (read them with json_number) */
    rep->json = json_parse_exact(rep->body, len, JSON_MAX_DEPTH_DEFAULT, &jerr);
}

/* The request path under the API's prefix, into full. 0, or -1 with rep->err. */
static int client_full_path(const struct client *c, const char *path, char *full, size_t len,
                            struct client_reply *rep)
{
    int n = snprintf(full, len, "%s%s", c->prefix, path);

    if (n < 0 || (size_t)n >= len) {
        snprintf(rep->err, sizeof(rep->err), "request path too long");
        return -1;
    }
    return 0;
}

/* A new request answering to done, with the headers every request carries
 * (Host, Accept, User-Agent, the token). NULL with rep->err when memory ran
 * out. */
static struct evhttp_request *client_new_request(const struct client *c,
                                                 void (*done)(struct evhttp_request *, void *),
                                                 struct client_call *call, const char *accept,
                                                 struct client_reply *rep)
{
    struct evhttp_request *req = evhttp_request_new(done, call);
    struct evkeyvalq *h;

    if (req == NULL) {
        snprintf(rep->err, sizeof(rep->err), "out of memory");
        return NULL;
    }
    evhttp_request_set_error_cb(req, client_on_error);
    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", c->host);
    evhttp_add_header(h, "Accept", accept);
    evhttp_add_header(h, "User-Agent", "stageq-cli");
    if (c->auth[0] != '\0')
        evhttp_add_header(h, "Authorization", c->auth);
    return req;
}

int client_request(struct client *c, enum client_method m, const char *path, const char *body,
                   struct client_reply *rep)
{
    struct client_call call = {.c = c, .rep = rep};
    struct evhttp_request *req;
    struct evkeyvalq *h;
    enum evhttp_cmd_type cmd = m == CLIENT_POST     ? EVHTTP_REQ_POST
                               : m == CLIENT_DELETE ? EVHTTP_REQ_DELETE
                                                    : EVHTTP_REQ_GET;
    char full[2048];

    memset(rep, 0, sizeof(*rep));
    if (client_full_path(c, path, full, sizeof(full), rep) < 0)
        return -1;
    if (c->conn == NULL) {
        c->conn = evhttp_connection_base_new(c->base, NULL, c->host, (unsigned short)c->port);
        if (c->conn == NULL) {
            snprintf(rep->err, sizeof(rep->err), "cannot create a connection to %.128s", c->host);
            return -1;
        }
        evhttp_connection_set_timeout(c->conn, c->timeout_s);
        evhttp_connection_set_retries(c->conn, 0);
    }
    req = client_new_request(c, client_on_done, &call, "application/json", rep);
    if (req == NULL)
        return -1;
    h = evhttp_request_get_output_headers(req);
    if (body != NULL) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    /* On failure evhttp_make_request frees req itself. */
    if (evhttp_make_request(c->conn, req, cmd, full) < 0) {
        snprintf(rep->err, sizeof(rep->err), "cannot send the request to %.128s", c->host);
        return -1;
    }
    while (!call.is_done)
        if (event_base_dispatch(c->base) < 0)
            break;
    if (!call.is_done) {
        snprintf(rep->err, sizeof(rep->err), "event loop failed");
        return -1;
    }
    return rep->status > 0 ? 0 : -1;
}

int client_job_path(const char *id, const char *suffix, char *out, size_t len)
{
    char *enc = NULL;
    size_t i;
    int n;

    for (i = 0; id[i] != '\0'; i++)
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-", id[i]) ==
            NULL)
            break;
    if (id[i] != '\0' || *id == '\0')
        enc = evhttp_uriencode(id, -1, 0);
    n = snprintf(out, len, "/v1/jobs/%s%s", enc ? enc : id, suffix);
    free(enc);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A piece of a stream's body: handed on while the reply is a 200; any other
 * reply is kept whole for client_on_done. */
static void client_on_chunk(struct evhttp_request *req, void *arg)
{
    struct client_call *call = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evbuffer_iovec v[8];
    int i, n;

    if (call->is_stopped)
        return;
    if (evhttp_request_get_response_code(req) != 200) {
        /* libevent drains the input after this callback: keep an error's
         * body for client_on_done */
        if (call->held == NULL)
            call->held = evbuffer_new();
        if (call->held != NULL && evbuffer_get_length(call->held) < CLIENT_BODY_MAX)
            evbuffer_add_buffer(call->held, in);
        return;
    }
    call->rep->status = 200;
    while (evbuffer_get_length(in) > 0 && !call->is_stopped) {
        n = evbuffer_peek(in, -1, NULL, v, 8);
        if (n > 8)
            n = 8;
        for (i = 0; i < n && !call->is_stopped; i++) {
            if (call->on_data((const char *)v[i].iov_base, v[i].iov_len, call->arg) != 0) {
                call->is_stopped = true;
                event_base_loopbreak(call->c->base);
            }
            evbuffer_drain(in, v[i].iov_len);
        }
    }
}

/* The end of a stream (or its failure): a 200 body was handed on already. */
static void client_on_stream_done(struct evhttp_request *req, void *arg)
{
    struct client_call *call = arg;

    if (req != NULL && evhttp_request_get_response_code(req) == 200) {
        client_on_chunk(req, arg); /* what remains */
        call->is_done = true;
        event_base_loopbreak(call->c->base);
        return;
    }
    if (req == NULL && call->rep->status == 200) {
        call->is_done = true;
        event_base_loopbreak(call->c->base);
        snprintf(call->rep->err, sizeof(call->rep->err), "the stream from %.128s:%d broke: %s",
                 call->c->host, call->c->port,
                 call->has_error ? client_error_text(call->error) : "connection lost");
        return;
    }
    if (req != NULL && call->held != NULL)
        evbuffer_prepend_buffer(evhttp_request_get_input_buffer(req), call->held);
    client_on_done(req, arg);
}

static void client_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct client_call *call = arg;

    (void)fd;
    (void)what;
    if (!call->is_stopped)
        call->on_tick(call->arg);
}

int client_stream(struct client *c, const char *path, const char *const *headers, int idle_s,
                  int (*on_data)(const char *buf, size_t len, void *arg),
                  void (*on_tick)(void *arg), int tick_ms, void *arg, struct client_reply *rep)
{
    struct client_call call = {.c = c, .rep = rep, .on_data = on_data, .arg = arg};
    struct evhttp_connection *conn = NULL;
    struct evhttp_request *req;
    struct event *tick = NULL;
    struct evkeyvalq *h;
    char full[2048];
    int rc = -1;

    memset(rep, 0, sizeof(*rep));
    if (client_full_path(c, path, full, sizeof(full), rep) < 0)
        return -1;
    conn = evhttp_connection_base_new(c->base, NULL, c->host, (unsigned short)c->port);
    if (conn == NULL) {
        snprintf(rep->err, sizeof(rep->err), "cannot create a connection to %.128s", c->host);
        return -1;
    }
    evhttp_connection_set_timeout(conn, idle_s);
    evhttp_connection_set_retries(conn, 0);
    req = client_new_request(c, client_on_stream_done, &call, "text/event-stream", rep);
    if (req == NULL)
        goto done;
    evhttp_request_set_chunked_cb(req, client_on_chunk);
    h = evhttp_request_get_output_headers(req);
    for (; headers != NULL && headers[0] != NULL && headers[1] != NULL; headers += 2)
        evhttp_add_header(h, headers[0], headers[1]);
    if (on_tick != NULL && tick_ms > 0) {
        struct timeval tv = {tick_ms / 1000, (tick_ms % 1000) * 1000};
        call.on_tick = on_tick;
        tick = event_new(c->base, -1, EV_PERSIST, client_on_tick, &call);
        if (tick != NULL)
            event_add(tick, &tv);
    }
    /* On failure evhttp_make_request frees req itself. */
    if (evhttp_make_request(conn, req, EVHTTP_REQ_GET, full) < 0) {
        snprintf(rep->err, sizeof(rep->err), "cannot send the request to %.128s", c->host);
        goto done;
    }
    while (!call.is_done && !call.is_stopped)
        if (event_base_dispatch(c->base) < 0)
            break;
    if (call.is_stopped)
        rc = 1;
    else if (call.is_done && rep->err[0] == '\0' && rep->status > 0)
        rc = 0;
    else if (!call.is_done && rep->err[0] == '\0')
        snprintf(rep->err, sizeof(rep->err), "event loop failed");
done:
    if (tick != NULL)
        event_free(tick);
    if (call.held != NULL)
        evbuffer_free(call.held);
    /* frees a request still in flight (stopped early) without its callbacks */
    evhttp_connection_free(conn);
    return rc;
}

int client_fail(const struct client_reply *rep)
{
    const cJSON *e = rep->json ? json_get(rep->json, "error") : NULL;
    const cJSON *msg = e ? json_get(e, "message") : NULL;
    const cJSON *code = e ? json_get(e, "code") : NULL;

    if (rep->status == 0) {
        fprintf(stderr, "stageq: %s\n", rep->err[0] ? rep->err : "no answer");
        return CLI_EXIT_UNREACHABLE;
    }
    if (cJSON_IsString(msg))
        fprintf(stderr, "stageq: %s (%s, HTTP %d)\n", msg->valuestring,
                cJSON_IsString(code) ? code->valuestring : "error", rep->status);
    else
        fprintf(stderr, "stageq: the API answered HTTP %d\n", rep->status);
    if (rep->status >= 500)
        return CLI_EXIT_UNREACHABLE;
    if (rep->status == 400 || rep->status == 413 || rep->status == 415 || rep->status == 422)
        return CLI_EXIT_USAGE;
    return CLI_EXIT_JOB;
}
