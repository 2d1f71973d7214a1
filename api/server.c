/* server: the evhttp instance — listening socket, limits, allowed methods, and
 * the pause on accept() errors (EMFILE) that would otherwise spin the loop.
 * It knows no routes: every request goes to routes_dispatch. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "num.h"

#define SERVER_MAX_HEADERS     16384 /* bytes of request line + headers */
#define SERVER_TIMEOUT_S       30    /* idle read/write timeout per connection */
#define SERVER_ACCEPT_PAUSE_MS 100   /* how long accepting stops after EMFILE */
#define SERVER_METHODS                                                                             \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |     \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH |               \
     API_REQ_UNKNOWN)

struct server {
    struct api *api;
    struct evhttp *http;
    struct evhttp_bound_socket *sock; /* NULL once we stopped accepting */
    struct event *resume_ev;          /* re-enables accepting after a pause */
    char host[256];
    int port; /* the bound port */
};

/* libevent hands the listener's error callback only the evhttp as context, so
 * the callback finds its server here; there is one server per process. */
static struct server *server_self;

int server_parse_listen(const char *text, char *host, size_t cap, int *port, struct sq_err *err)
{
    const char *colon, *hs = text, *he;
    struct sq_err e;
    long long p;

    if (text[0] == '[') {
        he = strchr(text, ']');
        if (he == NULL || he[1] != ':') {
            err_set(err, SQ_ERR_INVALID, "listen address '%.64s': expected [address]:port", text);
            return -1;
        }
        hs = text + 1;
        colon = he + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL) {
            err_set(err, SQ_ERR_INVALID, "listen address '%.64s': expected host:port", text);
            return -1;
        }
        he = colon;
    }
    if (he == hs || (size_t)(he - hs) >= cap) {
        err_set(err, SQ_ERR_INVALID, "listen address '%.64s': bad or missing host", text);
        return -1;
    }
    if (num_parse_ll(colon + 1, 0, 65535, &p, &e) < 0) {
        err_set(err, SQ_ERR_INVALID, "listen address '%.64s': port %s", text, e.msg);
        return -1;
    }
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    *port = (int)p;
    return 0;
}

static void server_on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;

    (void)fd;
    (void)what;
    if (srv->sock != NULL)
        evconnlistener_enable(evhttp_bound_socket_get_listener(srv->sock));
}

/* accept() failed with something other than EAGAIN/EINTR/ECONNABORTED:
 * typically EMFILE/ENFILE. The pending connection stays in the backlog and
 * the socket stays readable, so pause instead of spinning. */
static void server_on_accept_error(struct evconnlistener *lev, void *ctx)
{
    struct server *srv = server_self;
    struct timeval tv = {0, SERVER_ACCEPT_PAUSE_MS * 1000};
    int err = EVUTIL_SOCKET_ERROR();

    (void)ctx;
    log_write(LOG_LEVEL_WARN, err, NULL, "accept failed, pausing for %d ms",
              SERVER_ACCEPT_PAUSE_MS);
    evconnlistener_disable(lev);
    if (srv != NULL && srv->resume_ev != NULL)
        evtimer_add(srv->resume_ev, &tv);
}

/* Writes the port to path atomically (temp file + rename): a reader never
 * sees a partial number. */
static int server_write_port_file(const char *path, int port, struct sq_err *err)
{
    char tmp[API_PORT_FILE_MAX + 16];
    FILE *f;
    int n;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        err_set(err, SQ_ERR_INVALID, "port file name too long");
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL)
        goto fail;
    if (fprintf(f, "%d\n", port) < 0) {
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        goto fail;
    return 0;
fail:
    err_set(err, SQ_ERR_IO, "cannot write port file %.200s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

/* The port the socket is really bound to (differs from the asked one for 0). */
static int server_bound_port(struct evhttp_bound_socket *sock)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

struct server *server_new(struct api *api, struct sq_err *err)
{
    const struct api_config *cfg = api->cfg;
    struct server *srv = calloc(1, sizeof(*srv));
    int port;

    if (srv == NULL) {
        err_set(err, SQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    srv->api = api;
    if (server_parse_listen(cfg->listen, srv->host, sizeof(srv->host), &port, err) < 0)
        goto fail;
    srv->http = evhttp_new(api->base);
    srv->resume_ev = evtimer_new(api->base, server_on_resume, srv);
    if (srv->http == NULL || srv->resume_ev == NULL) {
        err_set(err, SQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* libevent answers bodies over 4x our limit itself (HTML 413, connection
     * closed); between 1x and 4x we read them and answer our JSON 413. */
    evhttp_set_max_body_size(srv->http, (ev_ssize_t)cfg->max_body * 4);
    evhttp_set_max_headers_size(srv->http, SERVER_MAX_HEADERS);
    evhttp_set_timeout(srv->http, SERVER_TIMEOUT_S);
    /* every method libevent knows, so that we answer 405 + Allow, and the
     * bit it gives every other token, so that we answer 501 in JSON: not its
     * HTML 501 */
    evhttp_set_allowed_methods(srv->http, SERVER_METHODS);
    evhttp_set_default_content_type(srv->http, "application/json");
    evhttp_set_gencb(srv->http, routes_dispatch, api);

    errno = 0;
    srv->sock = evhttp_bind_socket_with_handle(srv->http, srv->host, (ev_uint16_t)port);
    if (srv->sock == NULL) {
        err_set(err, SQ_ERR_IO, "cannot listen on %s: %s", cfg->listen,
                errno ? strerror(errno) : "bind failed");
        goto fail;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(srv->sock),
                                server_on_accept_error);
    {
        /* Linux hands TCP_NODELAY down to every accepted connection. Without
         * it an answer larger than one segment (an array submit's, a long
         * listing) ends with a small segment that Nagle holds until the
         * client's delayed ACK: about 40 ms per request. */
        int one = 1;
        if (setsockopt(evhttp_bound_socket_get_fd(srv->sock), IPPROTO_TCP, TCP_NODELAY, &one,
                       sizeof(one)) < 0)
            log_warnx("cannot set TCP_NODELAY on %s: %s", cfg->listen, strerror(errno));
    }
    srv->port = server_bound_port(srv->sock);
    if (srv->port < 0) {
        err_set(err, SQ_ERR_IO, "cannot read the bound port: %s", strerror(errno));
        goto fail;
    }
    server_self = srv;
    log_info("listening on %s%s%s:%d", strchr(srv->host, ':') ? "[" : "", srv->host,
             strchr(srv->host, ':') ? "]" : "", srv->port);
    if (cfg->port_file[0] != '\0' && server_write_port_file(cfg->port_file, srv->port, err) < 0)
        goto fail;
    return srv;
fail:
    server_free(srv);
    return NULL;
}

void server_stop_accepting(struct server *srv)
{
    if (srv == NULL || srv->sock == NULL)
        return;
    evtimer_del(srv->resume_ev);
    evhttp_del_accept_socket(srv->http, srv->sock);
    srv->sock = NULL;
}

void server_free(struct server *srv)
{
    if (srv == NULL)
        return;
    if (server_self == srv)
        server_self = NULL;
    if (srv->http != NULL)
        evhttp_free(srv->http); /* closes the listener and every connection */
    if (srv->resume_ev != NULL)
        event_free(srv->resume_ev);
    free(srv);
}
