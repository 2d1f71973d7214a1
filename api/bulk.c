/* bulk: POST /v1/jobs with a JSON array of submit requests. Each element is
 * validated and submitted exactly as a single POST would be (submit_parse,
 * then jobs_submit_prepared through an internal request of its own, answered
 * by jobs_submit_done), all pipelined on the API's Redis connections: one
 * round trip per node for the whole array. The jobs are not created
 * atomically: each lands in its own partition (on a cluster, on its own
 * node), where no script or transaction can reach the others. Instead every
 * element gets its own answer, in the order sent, and a retry of the whole
 * array with the same ids is safe (an element already created answers 202
 * with its state, as a single retry does). */
#include "api.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "json.h"

/* One array being submitted, until every element is answered. */
struct bulk {
    struct api_req *ar; /* the client's request */
    size_t n;           /* elements */
    size_t pending;     /* answers still to come, + 1 while sending */
    size_t accepted;
    int *status; /* [n]: each element's HTTP status */
    char **body; /* [n]: each element's answer (JSON object text) */
};

/* One element's internal request: its answer goes to bulk_answered. */
struct bulk_item {
    struct bulk *b;
    size_t k;
};

static void bulk_free(struct bulk *b)
{
    size_t k;

    for (k = 0; b->body != NULL && k < b->n; k++)
        free(b->body[k]);
    free(b->body);
    free(b->status);
    free(b);
}

/* Every element answered: one JSON object with the counts and the answers,
 * each with its status first. */
static void bulk_reply(struct bulk *b)
{
    struct api_req *ar = b->ar;
    struct evbuffer *out = evbuffer_new();
    size_t k, len;
    int ok;

    ok = out != NULL && evbuffer_add_printf(out, "{\"accepted\":%zu,\"refused\":%zu,\"jobs\":[",
                                            b->accepted, b->n - b->accepted) > 0;
    for (k = 0; ok && k < b->n; k++) {
        const char *body = b->body[k];
        /* "{...}" becomes {"status":S,...}: an answer is always an object */
        ok = evbuffer_add_printf(out, "%s{\"status\":%d", k > 0 ? "," : "", b->status[k]) > 0;
        if (ok && body != NULL && body[0] == '{' && body[1] != '}')
            ok = evbuffer_add_printf(out, ",%s", body + 1) > 0;
        else if (ok)
            ok = evbuffer_add(out, "}", 1) == 0;
    }
    ok = ok && evbuffer_add(out, "]}", 2) == 0;
    if (!ok) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory building the answer");
    } else {
        len = evbuffer_get_length(out);
        evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Cache-Control", "no-store");
        reply_raw(ar, b->accepted == b->n ? 202 : 207, (const char *)evbuffer_pullup(out, -1), len);
    }
    if (out != NULL)
        evbuffer_free(out);
    bulk_free(b);
}

static void bulk_settle(struct bulk *b)
{
    if (--b->pending == 0)
        bulk_reply(b);
}

/* An element's internal request answered (status, body[0..len)). */
static void bulk_answered(struct api_req *item, int status, const char *body, size_t len)
{
    struct bulk_item *bi = item->answer_arg;
    struct bulk *b = bi->b;
    char *copy = malloc(len + 1);

    b->status[bi->k] = status;
    if (status == 202)
        b->accepted++;
    if (copy != NULL) {
        if (len > 0)
            memcpy(copy, body, len);
        copy[len] = '\0';
        /* the trailing newline reply_raw adds is not part of the object */
        while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == '\r'))
            copy[--len] = '\0';
    }
    b->body[bi->k] = copy; /* NULL (out of memory): the status alone */
    free(bi);
    bulk_settle(b);
}

/* A new internal request for element k of b; NULL when memory ran out. */
static struct api_req *bulk_item_new(struct bulk *b, size_t k)
{
    struct api_req *item = calloc(1, sizeof(*item));
    struct bulk_item *bi = calloc(1, sizeof(*bi));

    if (item == NULL || bi == NULL) {
        free(item);
        free(bi);
        return NULL;
    }
    bi->b = b;
    bi->k = k;
    item->api = b->ar->api;
    TAILQ_INIT(&item->query);
    item->start_us = clock_mono_us();
    item->route = "bulk";
    item->method = EVHTTP_REQ_POST;
    item->method_name = "POST";
    snprintf(item->log_path, sizeof(item->log_path), "%.100s [%zu]", b->ar->log_path, k);
    item->on_answer = bulk_answered;
    item->answer_arg = bi;
    item->api->inflight++; /* reply_req_end counts it out */
    return item;
}

/* Validates and submits element body[0..len) as item (answered either way). */
static void bulk_submit_one(struct api_req *item, const char *body, size_t len)
{
    struct submit_req sr = {0};
    struct submit_err serr;
    int64_t due_ms;

    if (len == 0 || body[0] != '{') {
        errors_reply(item, API_ERR_INVALID_REQUEST,
                     "each element of the array must be a JSON object (one job's request)");
        return;
    }
    if (submit_parse(body, len, item->api->pipelines, &sr, &serr) < 0) {
        errors_reply(item, jobs_submit_api_err(serr.code), "%s", serr.msg);
        return;
    }
    if (sr.id != NULL)
        snprintf(item->id, sizeof(item->id), "%s", sr.id);
    else
        ids_new_uuid(item->id);
    if (submit_due_ms(&sr, clock_now_ms(), &due_ms, &serr) < 0)
        errors_reply(item, jobs_submit_api_err(serr.code), "%s", serr.msg);
    else
        jobs_submit_prepared(item, sr.pipeline, sr.queue, sr.input_text, sr.input_len,
                             sr.result_ttl_s, due_ms, jobs_submit_done);
    submit_req_free(&sr);
}

/* The array body[0..len): checked whole, then each element submitted. */
static void bulk_submit(struct api_req *ar, const char *body, size_t len)
{
    struct json_err jerr;
    cJSON *root;
    struct bulk *b = NULL;
    size_t *off = NULL, *vlen = NULL, k, n;

    if (evhttp_find_header(&ar->query, "wait") != NULL) {
        errors_reply(ar, API_ERR_INVALID_REQUEST,
                     "wait applies to one job: submit an array without it");
        return;
    }
    root = json_parse_strict(body, len, JSON_MAX_DEPTH_DEFAULT, &jerr);
    if (root == NULL) {
        errors_reply(ar, API_ERR_MALFORMED_JSON, SUBMIT_MALFORMED "%s", jerr.msg);
        return;
    }
    n = (size_t)cJSON_GetArraySize(root);
    cJSON_Delete(root); /* each element is parsed again on its own */
    if (n == 0) {
        errors_reply(ar, API_ERR_INVALID_REQUEST, "the array holds no job");
        return;
    }
    if (n > BULK_MAX_JOBS) {
        errors_reply(ar, API_ERR_PAYLOAD_TOO_LARGE,
                     "the array holds %zu jobs, at most %d per request: split it", n,
                     BULK_MAX_JOBS);
        return;
    }
    off = calloc(n, sizeof(*off));
    vlen = calloc(n, sizeof(*vlen));
    b = calloc(1, sizeof(*b));
    if (off == NULL || vlen == NULL || b == NULL ||
        (b->status = calloc(n, sizeof(*b->status))) == NULL ||
        (b->body = calloc(n, sizeof(*b->body))) == NULL) {
        errors_reply(ar, API_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    if (json_element_spans(body, len, n, off, vlen) < 0) {
        errors_reply(ar, API_ERR_INTERNAL, "the array's elements could not be located");
        goto fail;
    }
    b->ar = ar;
    b->n = n;
    b->pending = n + 1; /* answers may come while sending: settled last */
    for (k = 0; k < n; k++) {
        struct api_req *item = bulk_item_new(b, k);
        if (item == NULL) {
            b->status[k] = 500;
            b->body[k] = strdup(REPLY_OOM_BODY);
            b->pending--;
            continue;
        }
        bulk_submit_one(item, body + off[k], vlen[k]);
    }
    free(off);
    free(vlen);
    bulk_settle(b);
    return;
fail:
    free(off);
    free(vlen);
    if (b != NULL)
        bulk_free(b);
}

void bulk_post(struct api_req *ar)
{
    const char *body;
    size_t len, i = 0;

    if (jobs_body(ar, &body, &len) < 0)
        return;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
        i++;
    if (i < len && body[i] == '[')
        bulk_submit(ar, body, len);
    else
        jobs_submit(ar);
}
