/* floor: the least an evhttp + hiredis server does for a status GET, the
 * bench's baseline for the API's CPU per GET (docs/performance.md). Every
 * GET sends HGETALL KEY on one hiredis async connection (the libevent
 * adapter) and answers the reply's fields as a flat JSON object of strings,
 * unescaped (the bench's hash needs none), the way evhttp answers: queued and
 * written when the socket is next writable. No routes, no checks, no log. A
 * bench tool only: it never serves anything else.
 *
 * With "now" after KEY, an answer is written at once instead, and evhttp
 * told its buffer drained, as the API does (api/reply.c, reply_write_now):
 * the floor of the API's own way.
 *
 * usage: floor REDIS_PORT PORT_FILE KEY [now] — listens on a free loopback
 * port, writes it to PORT_FILE, runs until killed. */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct floor {
    redisAsyncContext *ac;
    const char *key;
    bool is_now; /* write each answer at once */
};

/* The API's reply_write_now, for a whole answer. */
static void floor_write_now(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    struct evbuffer *out = bufferevent_get_output(bev);

    if (evbuffer_write(out, bufferevent_getfd(bev)) > 0 && evbuffer_get_length(out) == 0)
        bufferevent_trigger(bev, EV_WRITE, 0);
}

static void floor_on_reply(redisAsyncContext *ac, void *r, void *arg)
{
    struct evhttp_request *req = arg;
    redisReply *reply = r;
    struct evbuffer *body;
    struct evhttp_connection *evcon;
    size_t i;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || (body = evbuffer_new()) == NULL) {
        evhttp_send_reply(req, 500, "Internal Server Error", NULL);
        return;
    }
    evbuffer_add(body, "{", 1);
    for (i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];

        if (i > 0)
            evbuffer_add(body, ",", 1);
        evbuffer_add(body, "\"", 1);
        evbuffer_add(body, k->str, k->len);
        evbuffer_add(body, "\":\"", 3);
        evbuffer_add(body, v->str, v->len);
        evbuffer_add(body, "\"", 1);
    }
    evbuffer_add(body, "}\n", 2);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evcon = evhttp_request_get_connection(req);
    evhttp_send_reply(req, 200, "OK", body);
    evbuffer_free(body);
    if (((const struct floor *)ac->data)->is_now && evcon != NULL)
        floor_write_now(evcon);
}

static void floor_on_request(struct evhttp_request *req, void *arg)
{
    struct floor *f = arg;

    if (redisAsyncCommand(f->ac, floor_on_reply, req, "HGETALL %s", f->key) != REDIS_OK)
        evhttp_send_reply(req, 503, "Service Unavailable", NULL);
}

int main(int argc, char **argv)
{
    struct floor the_floor = {0}, *f = &the_floor;
    struct event_config *ecfg = NULL;
    struct event_base *base = NULL;
    struct evhttp *http = NULL;
    struct evhttp_bound_socket *sock;
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    FILE *pf;
    char *end;
    long port;

    if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "now") != 0)) {
        fprintf(stderr, "usage: floor REDIS_PORT PORT_FILE KEY [now]\n");
        return 2;
    }
    port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "floor: bad Redis port '%s'\n", argv[1]);
        return 2;
    }
    f->key = argv[3];
    f->is_now = argc == 5;
    /* as the API: libevent's epoll changelist (one epoll_ctl per fd per turn) */
    ecfg = event_config_new();
    if (ecfg == NULL || event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) < 0 ||
        (base = event_base_new_with_config(ecfg)) == NULL)
        goto fail;
    f->ac = redisAsyncConnect("127.0.0.1", (int)port);
    if (f->ac == NULL || f->ac->err || redisLibeventAttach(f->ac, base) != REDIS_OK)
        goto fail;
    f->ac->data = f;
    http = evhttp_new(base);
    if (http == NULL)
        goto fail;
    evhttp_set_gencb(http, floor_on_request, f);
    sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (sock == NULL ||
        getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sa, &salen) < 0)
        goto fail;
    pf = fopen(argv[2], "w");
    if (pf == NULL || fprintf(pf, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(pf) != 0)
        goto fail;
    event_base_dispatch(base);
    return 0;
fail:
    fprintf(stderr, "floor: cannot start (Redis on port %ld, or no loopback port)\n", port);
    return 1;
}
