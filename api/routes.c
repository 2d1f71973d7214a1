/* routes: the one route table {method, pattern, handler, auth} and the
 * routing of every request (501 unknown method, CORS preflight, bearer token,
 * 404, 405 + Allow, bad query, bad id) to its handler. A request is answered
 * exactly once, through reply.c (or a stream's end), which frees it. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "clock.h"

/* How a route checks STAGEQ_API_TOKEN (when one is set). */
enum routes_auth {
    ROUTES_AUTH_HEADER = 0, /* Authorization: Bearer <token> */
    ROUTES_AUTH_NONE,       /* public: answered without the token */
    ROUTES_AUTH_OR_QUERY,   /* the header, or ?access_token=<token>: for EventSource,
                               which cannot send headers */
};

struct route {
    enum evhttp_cmd_type method; /* a GET route also answers HEAD, unless a HEAD row does */
    const char *pattern;         /* literal segments and at most one "{id}" (a job id) or
                                    "{q}" (a queue name), decoded into api_req's id */
    void (*handler)(struct api_req *ar);
    enum routes_auth auth;
};

static const struct route routes_table[] = {
    {EVHTTP_REQ_GET, "/", dashboard_page, ROUTES_AUTH_NONE},
    {EVHTTP_REQ_GET, "/healthz", health_live, ROUTES_AUTH_NONE},
    {EVHTTP_REQ_GET, "/readyz", health_ready, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/metrics", metrics_get, ROUTES_AUTH_HEADER}, /* Prometheus sends it */
    {EVHTTP_REQ_POST, "/v1/jobs", bulk_post, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/jobs", listing_jobs, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/stats", listing_stats, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/workers", listing_workers, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/jobs/{id}", jobs_get, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_DELETE, "/v1/jobs/{id}", jobs_cancel, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/jobs/{id}/events", sse_job_events, ROUTES_AUTH_OR_QUERY},
    /* no stream for HEAD: the headers of the job's status (404 when missing) */
    {EVHTTP_REQ_HEAD, "/v1/jobs/{id}/events", jobs_get, ROUTES_AUTH_OR_QUERY},
    {EVHTTP_REQ_GET, "/v1/events", sse_all_events, ROUTES_AUTH_OR_QUERY},
    {EVHTTP_REQ_HEAD, "/v1/events", sse_all_events_head, ROUTES_AUTH_OR_QUERY},
    {EVHTTP_REQ_POST, "/v1/jobs/{id}/retry", rerun_post, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/queues", queues_list, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/queues/{q}", queues_get, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_POST, "/v1/queues/{q}/pause", queues_pause, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_POST, "/v1/queues/{q}/resume", queues_resume, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/pipelines", pipelines_list, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/v1/schedules", schedules_list, ROUTES_AUTH_HEADER},
    /* the blog's routes (its client flow: examples/blog/) */
    {EVHTTP_REQ_POST, "/start_task", compat_start_task, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_POST, "/start_task/{id}", compat_start_task, ROUTES_AUTH_HEADER},
    {EVHTTP_REQ_GET, "/task_status/{id}", compat_task_status, ROUTES_AUTH_HEADER},
};

#define ROUTES_OTHER        "other" /* the route of a path no route matches */
#define ROUTES_CORS_HEADERS "content-type, authorization, last-event-id"
#define ROUTES_CORS_MAX_AGE "600"

#define ROUTES_COUNT          (sizeof(routes_table) / sizeof(routes_table[0]))
#define ROUTES_ID_ENCODED_MAX (3 * IDS_MAX_LEN) /* every byte as %XX */

/* Every method libevent 2.1 tells apart. is_body_read: libevent reads the
 * body of a request with that method (evhttp_method_may_have_body); the body
 * of any other is left on the connection, where it would be read as the next
 * request. */
static const struct {
    enum evhttp_cmd_type method;
    const char *name;
    bool is_body_read;
} routes_methods[] = {
    {EVHTTP_REQ_GET, "GET", true},       {EVHTTP_REQ_HEAD, "HEAD", false},
    {EVHTTP_REQ_POST, "POST", true},     {EVHTTP_REQ_PUT, "PUT", true},
    {EVHTTP_REQ_DELETE, "DELETE", true}, {EVHTTP_REQ_OPTIONS, "OPTIONS", true},
    {EVHTTP_REQ_TRACE, "TRACE", false},  {EVHTTP_REQ_CONNECT, "CONNECT", true},
    {EVHTTP_REQ_PATCH, "PATCH", true},   {API_REQ_UNKNOWN, "unknown", false},
};

#define ROUTES_NMETHODS (sizeof(routes_methods) / sizeof(routes_methods[0]))

/* The row of method m (the last row, "unknown", for a value not listed). */
static size_t routes_method_row(enum evhttp_cmd_type m)
{
    size_t i;

    for (i = 0; i < ROUTES_NMETHODS - 1; i++)
        if (routes_methods[i].method == m)
            return i;
    return ROUTES_NMETHODS - 1;
}

static const char *routes_method_name(enum evhttp_cmd_type m)
{
    return routes_methods[routes_method_row(m)].name;
}

/* True when req says it has a body that libevent did not read (see
 * routes_methods): its reply must close the connection. */
static bool routes_is_body_unread(struct evhttp_request *req, enum evhttp_cmd_type m)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *clen = evhttp_find_header(in, "Content-Length");

    if (routes_methods[routes_method_row(m)].is_body_read)
        return false;
    return evhttp_find_header(in, "Transfer-Encoding") != NULL ||
           (clen != NULL && strspn(clen, "0") != strlen(clen));
}

/* The path of a CONNECT request as the client wrote it, or NULL. libevent
 * 2.1.12 reads CONNECT's target as an authority (host:port) and leaves its
 * path empty: routed on that, CONNECT /v1/jobs would get 404 where every
 * other method gets 405. Returns a new uri the caller frees with
 * evhttp_uri_free (path points into it). */
static struct evhttp_uri *routes_connect_uri(struct evhttp_request *req, const char **path)
{
    const char *target = evhttp_request_get_uri(req);
    struct evhttp_uri *u;

    *path = NULL;
    if (target == NULL || target[0] != '/')
        return NULL; /* an authority: no path of ours */
    u = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
    if (u != NULL)
        *path = evhttp_uri_get_path(u);
    return u;
}

/* Matches an encoded path against pattern. On a match, seg and seglen give
 * the text of "{id}" or "{q}" in path (when the pattern has one). */
static bool routes_match(const char *pattern, const char *path, const char **seg, size_t *seglen)
{
    const char *p = pattern, *s = path;

    while (*p != '\0') {
        size_t plen = strncmp(p, "{id}", 4) == 0 ? 4 : strncmp(p, "{q}", 3) == 0 ? 3 : 0;
        if (plen > 0) {
            const char *end = strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == 0)
                return false;
            *seg = s;
            *seglen = n;
            s += n;
            p += plen;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *s == '\0';
}

/* Copies path for the log: at most cap-1 bytes, non-printable bytes as '?'. */
static void routes_log_path(char *out, size_t cap, const char *path)
{
    size_t n = strnlen(path, cap - 1), i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        out[i] = (c < 0x20 || c >= 0x7F) ? '?' : (char)c;
    }
    out[n] = '\0';
}

/* Writes the client's address as "addr:port" ("[v6]:port") into out[cap]. */
static void routes_remote(struct evhttp_request *req, char *out, size_t cap)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t port = 0;

    out[0] = '\0';
    if (evcon == NULL)
        return;
    evhttp_connection_get_peer(evcon, &addr, &port);
    if (addr != NULL)
        snprintf(out, cap, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, (unsigned)port);
}

/* Decodes the {id} segment into ar->id: a valid name of at most max
 * characters (IDS_MAX_LEN for a job id, IDS_NAME_MAX_LEN for a queue). 0, or
 * -1 when it is not one. */
static int routes_decode_id(struct api_req *ar, const char *seg, size_t seglen, size_t max)
{
    char enc[ROUTES_ID_ENCODED_MAX + 1];
    char *dec;
    size_t declen = 0;
    int rc = -1;

    if (seglen > ROUTES_ID_ENCODED_MAX)
        return -1;
    memcpy(enc, seg, seglen);
    enc[seglen] = '\0';
    dec = evhttp_uridecode(enc, 0, &declen);
    if (dec == NULL)
        return -1;
    /* a decoded %00 would hide behind a NUL; ids_is_valid refuses '/' and ".." */
    if (strlen(dec) == declen && ids_is_valid(dec, declen, max)) {
        memcpy(ar->id, dec, declen + 1);
        rc = 0;
    }
    free(dec);
    return rc;
}

/* Writes the names of the methods of mask, comma separated, into out[128]. */
static void routes_method_list(char out[128], unsigned mask)
{
    size_t i, used = 0;

    out[0] = '\0';
    for (i = 0; i < ROUTES_NMETHODS; i++) {
        if (!(mask & (unsigned)routes_methods[i].method))
            continue;
        used += (size_t)snprintf(out + used, 128 - used, "%s%s", used ? ", " : "",
                                 routes_methods[i].name);
        if (used >= 128)
            break; /* cannot happen: all the names fit */
    }
}

/* Answers ar with 405 and an Allow header listing the methods of mask. */
static void routes_reply_405(struct api_req *ar, unsigned mask)
{
    char allow[128];

    routes_method_list(allow, mask);
    evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Allow", allow);
    errors_reply(ar, API_ERR_METHOD_NOT_ALLOWED, "method %s is not allowed here (allowed: %s)",
                 ar->method_name, allow);
}

/* True when presented equals token (non-empty). Every presented byte is
 * compared (against the token repeated), so the time depends on the
 * presented length only: neither the position of the first difference nor
 * the token's length shows. */
static bool routes_token_equals(const char *presented, const char *token)
{
    size_t glen = strlen(presented), elen = strlen(token), i;
    volatile unsigned char diff;

    if (elen == 0)
        return false;
    diff = (unsigned char)(glen != elen);
    for (i = 0; i < glen; i++)
        diff |= (unsigned char)((unsigned char)presented[i] ^ (unsigned char)token[i % elen]);
    return glen > 0 && diff == 0;
}

/* True when the Authorization header of req is "Bearer <token>" (scheme in
 * any case). Compares in time that depends on the presented length only. */
static bool routes_is_authorized(struct evhttp_request *req, const char *token)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return routes_token_equals(h, token);
}

/* True when the query string has access_token=<token> (its first one,
 * percent-decoded). A query that does not parse holds no token. */
static bool routes_is_query_authorized(const char *query, const char *token)
{
    struct evkeyvalq params;
    const char *v;
    bool is_ok = false;

    if (query == NULL)
        return false;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(query, &params) == 0) {
        v = evhttp_find_header(&params, "access_token");
        is_ok = v != NULL && routes_token_equals(v, token);
    }
    evhttp_clear_headers(&params);
    return is_ok;
}

/* Adds the CORS answer headers every reply carries when CORS is on. */
static void routes_add_cors(struct api_req *ar)
{
    const char *origin = ar->api->cfg->cors_origin;
    struct evkeyvalq *h = evhttp_request_get_output_headers(ar->req);

    evhttp_add_header(h, "Access-Control-Allow-Origin", origin);
    if (strcmp(origin, "*") != 0)
        evhttp_add_header(h, "Vary", "Origin");
}

/* Answers ar with 204 and no body (CORS preflight); ar is freed. */
static void routes_reply_preflight(struct api_req *ar, unsigned mask)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(ar->req);
    char methods[128];

    routes_method_list(methods, mask);
    evhttp_add_header(h, "Access-Control-Allow-Methods", methods);
    evhttp_add_header(h, "Access-Control-Allow-Headers", ROUTES_CORS_HEADERS);
    evhttp_add_header(h, "Access-Control-Max-Age", ROUTES_CORS_MAX_AGE);
    reply_raw(ar, 204, NULL, 0);
}

/* Answers a request we could not even allocate a record for. */
static void routes_reply_bare_500(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 500, "Internal Server Error", NULL);
}

static void routes_dispatch_req(struct api *api, struct evhttp_request *req);

/* evhttp's request callback: reply.c writes no answer at once while it runs
 * (api->is_in_evhttp), since evhttp's own frames are under it. */
void routes_dispatch(struct evhttp_request *req, void *arg)
{
    struct api *api = arg;

    api->is_in_evhttp = true;
    routes_dispatch_req(api, req);
    api->is_in_evhttp = false;
}

static void routes_dispatch_req(struct api *api, struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const struct route *chosen = NULL;
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    const char *seg = NULL;
    size_t seglen = 0, i;
    unsigned allowed = 0;
    bool is_public = false, is_authorized;
    struct evhttp_uri *connect_uri = NULL;
    char known[128];
    struct api_req *ar = calloc(1, sizeof(*ar));

    if (ar == NULL) {
        routes_reply_bare_500(req);
        return;
    }
    ar->api = api;
    ar->req = req;
    ar->method = evhttp_request_get_command(req);
    ar->start_us = clock_mono_us();
    ar->route = ROUTES_OTHER;
    ar->method_name = routes_method_name(ar->method);
    routes_remote(req, ar->remote, sizeof(ar->remote));
    TAILQ_INIT(&ar->query);
    api->inflight++;
    if (ar->method == EVHTTP_REQ_CONNECT)
        connect_uri = routes_connect_uri(req, &path);
    if (path == NULL)
        path = "";
    routes_log_path(ar->log_path, sizeof(ar->log_path), path);
    if (api->cfg->cors_origin[0] != '\0')
        routes_add_cors(ar);
    if (routes_is_body_unread(req, ar->method))
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    if (ar->method == API_REQ_UNKNOWN) {
        /* before 401: it tells nothing about the paths */
        for (i = 0; i < ROUTES_COUNT; i++)
            allowed |= (unsigned)routes_table[i].method;
        routes_method_list(known, allowed | EVHTTP_REQ_HEAD);
        errors_reply(ar, API_ERR_NOT_IMPLEMENTED,
                     "unknown method (methods are case-sensitive; this API implements %s)", known);
        return;
    }

    for (i = 0; i < ROUTES_COUNT; i++) {
        const struct route *r = &routes_table[i];
        const char *s = NULL;
        size_t n = 0;

        if (!routes_match(r->pattern, path, &s, &n))
            continue;
        if (allowed == 0)
            ar->route = r->pattern; /* for 401/405/OPTIONS: the first route of the path */
        allowed |= (unsigned)r->method;
        is_public = is_public || r->auth == ROUTES_AUTH_NONE;
        if (r->method == EVHTTP_REQ_GET)
            allowed |= EVHTTP_REQ_HEAD;
        /* a row of the very method wins over a GET row answering HEAD */
        if ((r->method == ar->method && (chosen == NULL || chosen->method != ar->method)) ||
            (chosen == NULL && r->method == EVHTTP_REQ_GET && ar->method == EVHTTP_REQ_HEAD)) {
            chosen = r;
            ar->route = r->pattern;
            seg = s;
            seglen = n;
        }
    }
    if (connect_uri != NULL) {
        evhttp_uri_free(connect_uri); /* no route takes CONNECT: seg is unset */
        path = NULL;
    }
    if (allowed != 0 && ar->method == EVHTTP_REQ_OPTIONS && api->cfg->cors_origin[0] != '\0') {
        routes_reply_preflight(ar, allowed);
        return;
    }
    /* before 404/405 too: without the token nothing tells which paths exist */
    is_authorized = is_public || api->cfg->api_token[0] == '\0' ||
                    routes_is_authorized(req, api->cfg->api_token) ||
                    (chosen != NULL && chosen->auth == ROUTES_AUTH_OR_QUERY &&
                     routes_is_query_authorized(query, api->cfg->api_token));
    if (!is_authorized) {
        errors_reply(ar, API_ERR_UNAUTHORIZED, "a valid Authorization: Bearer token is required");
        return;
    }
    if (allowed == 0) {
        errors_reply(ar, API_ERR_NOT_FOUND, "no such resource");
        return;
    }
    if (chosen == NULL) {
        routes_reply_405(ar, allowed);
        return;
    }
    if (query != NULL && evhttp_parse_query_str(query, &ar->query) < 0) {
        errors_reply(ar, API_ERR_INVALID_REQUEST, "malformed query string");
        return;
    }
    if (seg != NULL && strstr(chosen->pattern, "{q}") != NULL) {
        if (routes_decode_id(ar, seg, seglen, IDS_NAME_MAX_LEN) < 0) {
            errors_reply(ar, API_ERR_INVALID_REQUEST,
                         "queue name must be 1-%d characters of [A-Za-z0-9._:-], not . or ..",
                         IDS_NAME_MAX_LEN);
            return;
        }
    } else if (seg != NULL && routes_decode_id(ar, seg, seglen, IDS_MAX_LEN) < 0) {
        errors_reply(ar, API_ERR_INVALID_ID,
                     "job id must be 1-%d characters of [A-Za-z0-9._:-], not . or ..", IDS_MAX_LEN);
        return;
    }
    chosen->handler(ar);
}
