/* submit: validation of a submit request body (POST /v1/jobs) into a struct,
 * without HTTP: the API checks Content-Type and size, then calls this. Pure:
 * never touches Redis, never logs; safe on any bytes (it is fuzzed). */
#ifndef STAGEQ_SUBMIT_H
#define STAGEQ_SUBMIT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline.h"

#define SUBMIT_SHOW_MAX  64  /* bytes of client text quoted in an error message */
#define SUBMIT_MSG_LEN   512 /* same bound as the API's error messages */
#define SUBMIT_MALFORMED "malformed JSON body: " /* + the parser's reason and byte offset */

enum submit_err_code {
    SUBMIT_OK = 0,
    SUBMIT_ERR_MALFORMED_JSON,   /* not one strict JSON value (message has the byte offset) */
    SUBMIT_ERR_INVALID_REQUEST,  /* valid JSON, but not an object */
    SUBMIT_ERR_INVALID_ID,       /* "id" not a valid job id */
    SUBMIT_ERR_MISSING_FIELD,    /* "pipeline" absent */
    SUBMIT_ERR_INVALID_FIELD,    /* wrong type or range, or a member repeated */
    SUBMIT_ERR_UNKNOWN_FIELD,    /* a member that is not part of the request */
    SUBMIT_ERR_UNKNOWN_PIPELINE, /* "pipeline" names no pipeline of the set */
};

struct submit_err {
    enum submit_err_code code;
    char msg[SUBMIT_MSG_LEN]; /* for the client; quoted client text is clipped at a
                                 UTF-8 boundary to SUBMIT_SHOW_MAX bytes */
};

/* A validated request. Owns root (the parsed body); every other pointer is
 * borrowed from root or from the pipeline set given to submit_parse, so the
 * set must outlive the request. */
struct submit_req {
    cJSON *root;                     /* owned: freed by submit_req_free */
    const struct pipeline *pipeline; /* borrowed from the set */
    const cJSON *input;              /* borrowed from root; NULL when absent (= null) */
    const char *input_text;          /* the input's bytes as sent, borrowed from the body
                                        given to submit_parse (not NUL-terminated);
                                        NULL when absent */
    size_t input_len;                /* bytes at input_text */
    const char *id;                  /* borrowed from root; NULL when absent: the caller
                                        makes a UUID */
    const char *queue;               /* from root, else the pipeline's queue */
    int result_ttl_s;                /* from root, else the pipeline's result_ttl_s */
    /* when it may run: with has_delay, delay_ms after it is accepted; with
     * has_run_at, at run_at_ms (ms since the epoch); neither: at once */
    bool has_delay, has_run_at;
    int64_t delay_ms;  /* [0, JOB_DELAY_MAX_S * 1000] */
    int64_t run_at_ms; /* any time from 1970 on: submit_due_ms bounds it */
};

/* Parses body[0..len) (NULL with len 0 allowed: an empty body) strictly as
 * JSON and validates it as a submit request against set: members pipeline
 * (required), input, id, queue, result_ttl_s, none unknown or repeated.
 * The input keeps the bytes it was sent as (out->input_text, borrowed from
 * body): its numbers must reach the stages as they are, not as cJSON prints.
 * Returns 0 with *out filled (the caller frees it with submit_req_free), or -1
 * with err filled and *out left empty (submit_req_free on it does nothing).
 * Checks are made in a fixed order, so the same body always gives the same
 * error: JSON, object, members, pipeline, id, queue, result_ttl_s, delay_s,
 * run_at, then the pipeline's existence. */
int submit_parse(const char *body, size_t len, const struct pipeline_set *set,
                 struct submit_req *out, struct submit_err *err);

/* submit_parse for a value parsed already: item (borrowed), parsed strictly
 * from text[0..len) (an element of a bulk array, parsed with the array).
 * The same checks and errors as submit_parse after its JSON check (the
 * first: an object). *out borrows from item and text (out->root stays NULL),
 * so both must outlive it; submit_req_free on it frees nothing of them. */
int submit_parse_item(const char *text, size_t len, const cJSON *item,
                      const struct pipeline_set *set, struct submit_req *out,
                      struct submit_err *err);

/* When a request parsed by submit_parse may run, given the time now (ms
 * since the epoch): 0 with *due_ms set (now_ms or earlier: at once), or -1
 * with err filled (SUBMIT_ERR_INVALID_FIELD) when run_at is more than
 * JOB_DELAY_MAX_S ahead of now_ms. */
int submit_due_ms(const struct submit_req *req, int64_t now_ms, int64_t *due_ms,
                  struct submit_err *err);

/* The bytes of member `member` (borrowed from root, a member of the object
 * root parsed from body[0..len)) as sent: 0 with *text and *tlen set (a span
 * of body), or -1 when member is not one of root's. */
int submit_member_text(const char *body, size_t len, const cJSON *root, const cJSON *member,
                       const char **text, size_t *tlen);

/* Frees the tree req owns and empties req. Accepts NULL and an empty req. */
void submit_req_free(struct submit_req *req);

#endif
