/* sse: live job events. A subscriber connection (rasync) SUBSCRIBEs to
 * <prefix>:events (the scripts PUBLISH a job's id on every change of its
 * state, stage or progress) while anyone listens: a Server-Sent Events
 * stream or a POST /v1/jobs?wait=S. Without listeners it UNSUBSCRIBEs (after
 * a linger) so that a draining backlog costs the API nothing. Clients are
 * kept per job id in a small hash table; a message re-reads its job with one
 * HGETALL on the command connection (coalesced: one read in flight per job,
 * one more if messages arrived meanwhile) and hands the status to that job's
 * clients and to the /v1/events streams, as the text GET /v1/jobs/{id} writes
 * (no tree: a burst of endings is one read and one write per stream, and the
 * API must keep pace with the drain). Nothing here polls. */
#include "api.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "log.h"

#define SSE_BUCKETS    256
#define SSE_PING_S     15
#define SSE_RESYNC_MS  1000              /* re-read every watched job after a failed read */
#define SSE_MAX_OUTPUT (4 * 1024 * 1024) /* a client this far behind is dropped */

enum sse_kind { SSE_JOB, SSE_ALL, SSE_WAIT };

struct sse_entry;

/* One client: a stream (job or all jobs) or a held POST ?wait. */
struct sse_client {
    struct sse_client *prev, *next; /* in its entry's list, or in sse.all */
    struct sse *hub;
    struct sse_entry *e; /* NULL for SSE_ALL */
    struct api_req *ar;
    enum sse_kind kind;
    bool is_started;     /* the stream's reply was started (SSE_ALL: held until subscribed) */
    bool is_reconnect;   /* SSE_JOB: EventSource reconnecting (Last-Event-ID sent) */
    struct event *timer; /* SSE_WAIT: the deadline */
    cJSON *body;         /* SSE_WAIT: the 202 body */
};

/* The clients of one job id, and its coalesced read. */
struct sse_entry {
    struct sse_entry *hnext;
    struct sse *hub;
    char id[IDS_MAX_LEN + 1];
    struct sse_client *clients;
    bool is_reading;
    bool is_read_again; /* a message arrived while reading */
    bool is_changed;    /* a message arrived since the last read started */
    char *last;         /* the last status read (JSON text, last_len bytes), or NULL */
    size_t last_len;
};

struct sse {
    struct api *api;
    struct rasync *rsub; /* the subscriber connection */
    char channel[KEYS_MAX_LEN];
    bool is_stopped;
    int nclients;            /* clients of every kind: the listeners of the subscription */
    struct event *linger_ev; /* no listener since: unsubscribe when it fires */
    struct event *ping_ev;
    struct event *resync_ev;
    struct sse_entry *buckets[SSE_BUCKETS];
    struct sse_client *all;
    unsigned long long seq; /* the SSE id: counts events sent */
    struct evbuffer *out;   /* an event being written (emptied by each send) */
};

/* ---- the table ---- */

static unsigned sse_hash(const char *id)
{
    unsigned h = 2166136261u;

    for (; *id != '\0'; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % SSE_BUCKETS;
}

static struct sse_entry *sse_find(struct sse *s, const char *id)
{
    struct sse_entry *e;

    for (e = s->buckets[sse_hash(id)]; e != NULL; e = e->hnext)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

static struct sse_entry *sse_get(struct sse *s, const char *id)
{
    struct sse_entry *e = sse_find(s, id);
    unsigned h;

    if (e != NULL)
        return e;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->hub = s;
    snprintf(e->id, sizeof(e->id), "%s", id);
    h = sse_hash(id);
    e->hnext = s->buckets[h];
    s->buckets[h] = e;
    return e;
}

/* Frees e when nothing needs it any more. */
static void sse_entry_release(struct sse_entry *e)
{
    struct sse_entry **pp;

    if (e->clients != NULL || e->is_reading || e->hub->is_stopped)
        return; /* once stopped, sse_free frees every entry */
    for (pp = &e->hub->buckets[sse_hash(e->id)]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    }
    free(e->last);
    free(e);
}

static void sse_link(struct sse_client **head, struct sse_client *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head != NULL)
        (*head)->prev = c;
    *head = c;
}

static void sse_unlink(struct sse_client **head, struct sse_client *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (*head == c)
        *head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* ---- ending requests ----
 *
 * A stream is counted and logged when it ends (reply_req_end: status 200,
 * or 499 when the client went away), with the bytes it sent. */

static void sse_listener_add(struct sse *s);
static void sse_listener_del(struct sse *s);

/* Unlinks c from its list and frees it (not its request). */
static void sse_client_free(struct sse_client *c)
{
    struct sse_entry *e = c->e;
    struct sse *s = c->hub;

    if (e != NULL)
        sse_unlink(&e->clients, c);
    else
        sse_unlink(&s->all, c);
    if (c->timer != NULL)
        event_free(c->timer);
    cJSON_Delete(c->body);
    free(c);
    if (e != NULL)
        sse_entry_release(e);
    sse_listener_del(s);
}

/* Sends what c->hub->out holds as one chunk (which empties it), written at
 * once (is_now) or with what follows in this loop turn (a stream's end). */
static void sse_flush(struct sse_client *c, bool is_now)
{
    struct evbuffer *b = c->hub->out;
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->ar->req);

    c->ar->bytes_out += evbuffer_get_length(b);
    evhttp_send_reply_chunk(c->ar->req, b);
    evbuffer_drain(b, evbuffer_get_length(b)); /* what a failed add left */
    if (is_now && evcon != NULL)
        reply_write_now(c->ar->api, evcon, false);
}

static void sse_send(struct sse_client *c, const char *text, size_t len, bool is_now)
{
    if (evbuffer_add(c->hub->out, text, len) == 0)
        sse_flush(c, is_now);
}

/* Sends an event whose data is the JSON text data[0..len), written at once
 * (is_now) or with the stream's end that follows it. */
static void sse_send_event(struct sse_client *c, const char *event, const char *data, size_t len,
                           bool is_now)
{
    struct evbuffer *b = c->hub->out;

    if (evbuffer_add_printf(b, "event: %s\nid: %llu\ndata: ", event, ++c->hub->seq) > 0 &&
        evbuffer_add(b, data, len) == 0 && evbuffer_add(b, "\n\n", 2) == 0)
        sse_flush(c, is_now);
    else
        evbuffer_drain(b, evbuffer_get_length(b)); /* out of memory: the next change tries again */
}

/* Ends a started stream normally, with last (an SSE block) sent first, and
 * writes what is queued at once. Only a chunked stream: evhttp ends it
 * through its write callback, so evcon is still there; an HTTP/1.0 one with
 * nothing queued is ended (and its connection freed) inside
 * evhttp_send_reply_end. */
static void sse_stream_end(struct sse_client *c, const char *last)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->ar->req);
    struct api_req *ar = c->ar;
    struct api *api = ar->api;
    bool is_chunked =
        evhttp_find_header(evhttp_request_get_output_headers(ar->req), "Transfer-Encoding") != NULL;

    if (evcon != NULL)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (last != NULL)
        sse_send(c, last, strlen(last), false);
    evhttp_send_reply_end(ar->req);
    sse_client_free(c);
    reply_req_end(ar, 200);
    if (is_chunked && evcon != NULL)
        reply_write_now(api, evcon, true);
}

/* The client went away mid-stream: libevent detached the request. */
static void sse_on_close(struct evhttp_connection *evcon, void *arg)
{
    struct sse_client *c = arg;
    struct api_req *ar = c->ar;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    evhttp_send_reply_end(ar->req); /* frees the detached request */
    sse_client_free(c);
    reply_req_end(ar, 499);
}

/* True when the client reads too slowly: it is dropped. */
static bool sse_is_slow(struct sse_client *c)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->ar->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

    return bev != NULL && evbuffer_get_length(bufferevent_get_output(bev)) > SSE_MAX_OUTPUT;
}

/* Starts c's stream: 0, or -1 when its connection is gone: then c is freed
 * and its request answered 500. */
static int sse_stream_start(struct sse_client *c)
{
    struct api_req *ar = c->ar;
    struct evhttp_request *req = ar->req;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    if (evcon == NULL) {
        sse_client_free(c);
        errors_reply(ar, API_ERR_INTERNAL, "connection lost");
        return -1;
    }
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    /* A stream's end closes its connection, right after the last event is
     * written: no client sends a request after a stream (EventSource opens a
     * new connection), and waiting for the client to close it costs a read,
     * an ioctl and a poll change per stream, in a burst of endings too. */
    evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(evcon, sse_on_close, c);
    c->is_started = true;
    return 0;
}

/* Answers a ?wait request: 200 with the status (JSON text text[0..len))
 * when final, else 202 with the submit body plus the last status known
 * (text NULL: none; else e->last, NUL-terminated). */
static void sse_wait_reply(struct sse_client *c, const char *text, size_t len, bool is_final)
{
    struct api_req *ar = c->ar;
    cJSON *body = c->body, *status, *st;

    /* text may be c->e->last: reply before c (maybe e with it) is freed */
    c->body = NULL;
    if (is_final) {
        reply_raw(ar, 200, text, len);
    } else {
        /* a timeout or a shutdown (text is e->last, NUL-terminated): the
         * status goes in as it was sent, its state read from a parse */
        status = text != NULL ? cJSON_ParseWithLength(text, len) : NULL;
        if (body != NULL && status != NULL) {
            st = cJSON_GetObjectItemCaseSensitive(status, "state");
            if (cJSON_IsString(st))
                cJSON_ReplaceItemInObjectCaseSensitive(body, "state",
                                                       cJSON_CreateString(st->valuestring));
            cJSON_AddRawToObject(body, "status", text);
        }
        cJSON_Delete(status);
        reply_json(ar, 202, body);
    }
    cJSON_Delete(body);
    sse_client_free(c);
}

/* ---- reading a job ---- */

static void sse_read(struct sse_entry *e);

static void sse_schedule_resync(struct sse *s)
{
    struct timeval tv = {SSE_RESYNC_MS / 1000, (SSE_RESYNC_MS % 1000) * 1000};

    if (!s->is_stopped && !evtimer_pending(s->resync_ev, NULL))
        evtimer_add(s->resync_ev, &tv);
}

/* True when the job of an HGETALL reply (a field, value array) is in a
 * final state. */
static bool sse_is_final(const redisReply *r)
{
    enum job_state js;
    size_t i;

    for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, JOB_F_STATE) == 0)
            return v->type == REDIS_REPLY_STRING && job_state_parse(v->str, &js) == 0 &&
                   job_state_is_final(js);
    }
    return false;
}

/* Hands a read of e's job to its clients: its status as JSON text
 * text[0..len) (NULL when is_missing); is_same: the status equals the last
 * one read, which every started stream of e has already been sent (the
 * re-reads after a subscription is confirmed find most jobs unchanged). */
static void sse_deliver(struct sse_entry *e, const char *text, size_t len, bool is_final,
                        bool is_missing, bool is_changed, bool is_same)
{
    struct sse *s = e->hub;
    struct sse_client *c, *next;
    char end[IDS_MAX_LEN + 64];

    for (c = e->clients; c != NULL; c = next) {
        next = c->next;
        if (c->kind == SSE_WAIT) {
            if (is_missing || is_final)
                sse_wait_reply(c, text, len, is_final);
            continue;
        }
        if (!c->is_started) {
            struct api_req *ar = c->ar;

            if (is_missing) {
                sse_client_free(c);
                errors_reply(ar, API_ERR_NOT_FOUND, "job %s not found or expired", e->id);
                continue;
            }
            if (is_final && c->is_reconnect) {
                /* it saw the end already, or missed it and must stop anyway:
                 * 204 is what tells EventSource not to reconnect again */
                sse_client_free(c);
                reply_raw(ar, 204, NULL, 0);
                continue;
            }
            if (sse_stream_start(c) < 0)
                continue;
        } else if (is_same && !is_missing) {
            continue;
        } else if (sse_is_slow(c)) {
            log_job(LOG_LEVEL_WARN, e->id, "events: dropping a client that reads too slowly");
            sse_stream_end(c, NULL);
            continue;
        }
        if (is_missing) {
            snprintf(end, sizeof(end), "event: end\ndata: {\"id\":\"%s\",\"state\":null}\n\n",
                     e->id);
            sse_stream_end(c, end);
            continue;
        }
        sse_send_event(c, "status", text, len, !is_final); /* the final one: with the end */
        if (is_final) {
            snprintf(end, sizeof(end), "event: end\ndata: {\"id\":\"%s\"}\n\n", e->id);
            sse_stream_end(c, end);
        }
    }
    if (text != NULL && is_changed) {
        for (c = s->all; c != NULL; c = next) {
            next = c->next;
            if (!c->is_started)
                continue; /* held until the subscription is confirmed */
            if (sse_is_slow(c))
                sse_stream_end(c, NULL);
            else
                sse_send_event(c, "status", text, len, true);
        }
    }
}

static void sse_read_done(const redisReply *reply, enum rasync_err err, void *arg)
{
    struct sse_entry *e = arg;
    struct sse *s = e->hub;
    bool is_missing = false, is_changed = e->is_changed, is_same;
    const char *text = NULL;
    size_t len = 0;
    char *copy;
    int rc = -1;

    (void)err;
    e->is_changed = false; /* e->is_reading stays set: delivering must not free e */
    /* text is the API's reused buffer (api->eta): e->last keeps a copy */
    if (!s->is_stopped)
        rc = eta_status_text(s->api, e->id, reply, &text, &len, &is_missing);
    if (s->is_stopped) {
        /* shutting down: every client was answered already */
    } else if (rc < 0 && !is_missing) {
        sse_schedule_resync(s); /* Redis trouble, or out of memory: try again soon */
    } else {
        if (rc < 0)
            text = NULL;
        is_same = text != NULL && e->last != NULL && e->last_len == len &&
                  memcmp(e->last, text, len) == 0;
        if (text != NULL && !is_same && (copy = malloc(len + 1)) != NULL) {
            memcpy(copy, text, len);
            copy[len] = '\0';
            free(e->last);
            e->last = copy;
            e->last_len = len;
        }
        sse_deliver(e, text, len, text != NULL && sse_is_final(reply), is_missing, is_changed,
                    is_same);
        eta_status_text_done(s->api);
    }
    e->is_reading = false;
    if (e->is_read_again && !s->is_stopped && (e->clients != NULL || s->all != NULL)) {
        e->is_read_again = false;
        sse_read(e);
        return;
    }
    e->is_read_again = false;
    sse_entry_release(e);
}

/* Reads e's job, or asks for one more read when one is in flight. */
static void sse_read(struct sse_entry *e)
{
    struct sse *s = e->hub;

    if (e->is_reading) {
        e->is_read_again = true;
        return;
    }
    if (locate_job(s->api, e->id, NULL, 0, NULL, sse_read_done, e) == 0)
        e->is_reading = true;
    else
        sse_schedule_resync(s);
}

/* Reads every job someone watches (after a reconnect or a failed read). */
static void sse_resync(struct sse *s)
{
    struct sse_entry *e;
    size_t i;

    for (i = 0; i < SSE_BUCKETS; i++)
        for (e = s->buckets[i]; e != NULL; e = e->hnext)
            if (e->clients != NULL)
                sse_read(e);
}

static void sse_on_resync(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sse_resync(arg);
}

static void sse_on_ping(evutil_socket_t fd, short what, void *arg)
{
    struct sse *s = arg;
    struct sse_client *c, *next;
    struct sse_entry *e, *enext;
    size_t i;

    (void)fd;
    (void)what;
    for (c = s->all; c != NULL; c = next) {
        next = c->next;
        if (c->is_started)
            sse_send(c, ": ping\n\n", 8, true);
    }
    for (i = 0; i < SSE_BUCKETS; i++) {
        for (e = s->buckets[i]; e != NULL; e = enext) {
            enext = e->hnext;
            for (c = e->clients; c != NULL; c = c->next)
                if (c->is_started)
                    sse_send(c, ": ping\n\n", 8, true);
        }
    }
}

/* ---- the subscription ----
 *
 * The subscriber connection (rasync) stays open, idle, while nobody listens;
 * the subscription comes and goes on it. Nothing is missed across the gaps
 * (the subscription's, or the connection's: a restart, a failover): a
 * listener reads its job when it comes, and every watched job is read again
 * once a subscription is confirmed (sse_resync); /v1/events streams start
 * only then. */

/* Starts the /v1/events streams held until the subscription is confirmed
 * (also when Redis is unreachable: they open, and events flow once it is
 * back, as documented). */
static void sse_start_held(struct sse *s)
{
    struct sse_client *c, *next;

    for (c = s->all; c != NULL; c = next) {
        next = c->next;
        if (c->is_started)
            continue;
        if (sse_stream_start(c) < 0)
            continue;
        sse_send(c, ": connected\n\n", 13, true);
    }
}

static void sse_on_linger(evutil_socket_t fd, short what, void *arg)
{
    struct sse *s = arg;

    (void)fd;
    (void)what;
    if (s->nclients > 0 || s->is_stopped)
        return;
    if (rasync_is_subscribed(s->rsub))
        log_debug("events: no listener for %d ms, unsubscribing from %s",
                  s->api->cfg->events_linger_ms, s->channel);
    rasync_subscribe(s->rsub, false);
}

static void sse_linger(struct sse *s)
{
    int ms = s->api->cfg->events_linger_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (!s->is_stopped && s->nclients == 0 && !evtimer_pending(s->linger_ev, NULL))
        evtimer_add(s->linger_ev, &tv);
}

/* A client was linked: the first one brings the subscription back. */
static void sse_listener_add(struct sse *s)
{
    if (s->nclients++ > 0)
        return;
    evtimer_del(s->linger_ev);
    if (!s->is_stopped)
        rasync_subscribe(s->rsub, true);
}

/* A client was freed: the last one starts the linger. */
static void sse_listener_del(struct sse *s)
{
    if (--s->nclients == 0)
        sse_linger(s);
}

static void sse_on_subscribed(void *arg)
{
    struct sse *s = arg;

    sse_start_held(s);
    sse_resync(s); /* changes may have been missed while unsubscribed */
    if (s->nclients == 0)
        sse_linger(s); /* everyone left while subscribing */
}

/* One PUBLISH: the id of a job that changed. */
static void sse_on_message(void *arg, const char *payload, size_t len)
{
    struct sse *s = arg;
    struct sse_entry *e;
    char id[IDS_MAX_LEN + 1];

    if (!ids_is_valid(payload, len, IDS_MAX_LEN))
        return;
    memcpy(id, payload, len);
    id[len] = '\0';
    e = s->all != NULL ? sse_get(s, id) : sse_find(s, id);
    if (e == NULL)
        return; /* nobody listens: cheap */
    e->is_changed = true;
    sse_read(e);
    sse_entry_release(e); /* when the read could not be sent and nobody waits */
}

static void sse_on_down(void *arg)
{
    sse_start_held(arg);
}

/* ---- public ---- */

struct sse *sse_new(struct api *api, const struct redis_url *url, struct sq_err *err)
{
    struct sse *s = calloc(1, sizeof(*s));
    struct timeval ping = {SSE_PING_S, 0};
    struct rasync_sub_hooks hooks = {sse_on_subscribed, sse_on_message, sse_on_down, s};

    if (s == NULL) {
        err_set(err, SQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->api = api;
    if (keys_events(s->channel, sizeof(s->channel), api->cfg->prefix) < 0) {
        err_set(err, SQ_ERR_INVALID, "events channel name too long");
        free(s);
        return NULL;
    }
    s->linger_ev = evtimer_new(api->base, sse_on_linger, s);
    s->resync_ev = evtimer_new(api->base, sse_on_resync, s);
    s->ping_ev = event_new(api->base, -1, EV_PERSIST, sse_on_ping, s);
    s->out = evbuffer_new();
    if (s->linger_ev == NULL || s->resync_ev == NULL || s->ping_ev == NULL || s->out == NULL ||
        event_add(s->ping_ev, &ping) < 0) {
        err_set(err, SQ_ERR_NOMEM, "out of memory");
        sse_free(s);
        return NULL;
    }
    /* idle (no SUBSCRIBE) until someone listens */
    s->rsub =
        rasync_new_subscriber(api->base, url, api->cfg->redis_timeout_ms, s->channel, &hooks, err);
    if (s->rsub == NULL) {
        sse_free(s);
        return NULL;
    }
    rasync_follow(api->rasync, s->rsub); /* a failover moves both */
    return s;
}

void sse_stop(struct sse *s)
{
    struct sse_client *c;
    struct sse_entry *e, *enext;
    size_t i;

    if (s == NULL || s->is_stopped)
        return;
    s->is_stopped = true;
    evtimer_del(s->linger_ev);
    evtimer_del(s->resync_ev);
    event_del(s->ping_ev);
    while ((c = s->all) != NULL) {
        struct api_req *ar = c->ar;

        if (c->is_started) {
            sse_stream_end(c, "event: end\ndata: {\"reason\":\"shutdown\"}\n\n");
        } else {
            sse_client_free(c);
            errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "the API is shutting down");
        }
    }
    for (i = 0; i < SSE_BUCKETS; i++) {
        for (e = s->buckets[i]; e != NULL; e = enext) {
            enext = e->hnext;
            while ((c = e->clients) != NULL) {
                struct api_req *ar = c->ar;

                if (c->kind == SSE_WAIT) {
                    sse_wait_reply(c, e->last, e->last_len, false);
                } else if (c->is_started) {
                    sse_stream_end(c, "event: end\ndata: {\"reason\":\"shutdown\"}\n\n");
                } else {
                    sse_client_free(c);
                    errors_reply(ar, API_ERR_REDIS_UNAVAILABLE, "the API is shutting down");
                }
            }
        }
    }
}

void sse_free(struct sse *s)
{
    struct sse_entry *e, *enext;
    size_t i;

    if (s == NULL)
        return;
    sse_stop(s);
    rasync_free(s->rsub);
    for (i = 0; i < SSE_BUCKETS; i++) {
        for (e = s->buckets[i]; e != NULL; e = enext) {
            enext = e->hnext;
            free(e->last);
            free(e);
        }
    }
    if (s->linger_ev != NULL)
        event_free(s->linger_ev);
    if (s->resync_ev != NULL)
        event_free(s->resync_ev);
    if (s->ping_ev != NULL)
        event_free(s->ping_ev);
    if (s->out != NULL)
        evbuffer_free(s->out);
    free(s);
}

static struct sse_client *sse_client_new(struct api_req *ar, enum sse_kind kind)
{
    struct sse_client *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->hub = ar->api->sse;
    c->ar = ar;
    c->kind = kind;
    return c;
}

/* Adds c to the clients of ar->id (subscribing if it is the first listener)
 * and reads the job: the first status (or the 404) comes from that read.
 * No change after it is lost: the job is read again once the subscription is
 * confirmed, and then every change is published to us. */
static int sse_watch(struct sse_client *c)
{
    struct sse_entry *e = sse_get(c->hub, c->ar->id);

    if (e == NULL)
        return -1;
    c->e = e;
    sse_link(&e->clients, c);
    sse_listener_add(c->hub);
    sse_read(e);
    return 0;
}

void sse_job_events(struct api_req *ar)
{
    struct sse_client *c;

    if (ar->api->sse == NULL || ar->api->sse->is_stopped || !rasync_is_ready(ar->api->rasync)) {
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
        return;
    }
    c = sse_client_new(ar, SSE_JOB);
    if (c != NULL)
        c->is_reconnect =
            evhttp_find_header(evhttp_request_get_input_headers(ar->req), "Last-Event-ID") != NULL;
    if (c == NULL || sse_watch(c) < 0) {
        free(c);
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
    }
}

void sse_all_events(struct api_req *ar)
{
    struct sse_client *c;
    struct sse *s;

    if (ar->api->sse == NULL || ar->api->sse->is_stopped) {
        errors_reply_redis(ar, RASYNC_UNAVAILABLE);
        return;
    }
    c = sse_client_new(ar, SSE_ALL);
    if (c == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        return;
    }
    s = c->hub;
    sse_link(&s->all, c);
    sse_listener_add(s);
    /* No snapshot here: the stream (and ": connected") starts once changes
     * flow, so that a client that reads the jobs when the stream opens (the
     * dashboard) misses none. Redis unreachable: it starts now. */
    if (rasync_is_subscribed(s->rsub) || !rasync_is_ready(s->rsub))
        sse_start_held(s);
}

void sse_all_events_head(struct api_req *ar)
{
    reply_raw(ar, 200, "{}", 2);
}

static void sse_on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sse_client *c = arg;

    (void)fd;
    (void)what;
    sse_wait_reply(c, c->e->last, c->e->last_len, false);
}

void sse_wait(struct api_req *ar, int wait_s, cJSON *body)
{
    struct sse_client *c = NULL;
    struct timeval tv = {wait_s, 0};

    if (ar->api->sse != NULL && !ar->api->sse->is_stopped)
        c = sse_client_new(ar, SSE_WAIT);
    if (c != NULL)
        c->timer = evtimer_new(ar->api->base, sse_on_wait_timeout, c);
    if (c == NULL || c->timer == NULL || sse_watch(c) < 0) {
        if (c != NULL && c->timer != NULL)
            event_free(c->timer);
        free(c);
        reply_json(ar, 202, body); /* cannot wait: answer as without ?wait */
        cJSON_Delete(body);
        return;
    }
    c->body = body;
    evtimer_add(c->timer, &tv);
}
