/* fuzz_submit: submit_parse (the POST /v1/jobs validator) on any bytes, against
 * the built-in pipeline set. An accepted request must hold what the API relies
 * on (a pipeline, a valid queue and id, a TTL in range, printable input); a
 * refused one a known code, a message and nothing left to free. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "job.h"
#include "json.h"
#include "submit.h"

#define FUZZ_TTL_S 86400

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Built once and kept for the process (reachable, so no leak report). */
static struct pipeline_set *fuzz_set;

static void fuzz_fail(const char *what, const struct submit_req *req)
{
    fprintf(stderr, "submit_parse: %s (id %s, queue %s)\n", what, req->id ? req->id : "-",
            req->queue ? req->queue : "-");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct submit_req req;
    struct submit_err err;
    struct sq_err serr;
    char *text;

    if (fuzz_set == NULL) {
        fuzz_set = pipeline_set_new_builtin(FUZZ_TTL_S, &serr);
        if (fuzz_set == NULL)
            abort();
    }
    if (submit_parse((const char *)data, size, fuzz_set, &req, &err) < 0) {
        if (err.code <= SUBMIT_OK || err.code > SUBMIT_ERR_UNKNOWN_PIPELINE ||
            memchr(err.msg, '\0', sizeof(err.msg)) == NULL || err.msg[0] == '\0')
            fuzz_fail("bad error record", &req);
        if (req.root != NULL || req.pipeline != NULL || req.id != NULL || req.queue != NULL)
            fuzz_fail("refused request not left empty", &req);
        submit_req_free(&req);
        return 0;
    }
    if (req.root == NULL || req.pipeline == NULL || req.queue == NULL)
        fuzz_fail("accepted request incomplete", &req);
    if (pipeline_set_find(fuzz_set, req.pipeline->name) != req.pipeline)
        fuzz_fail("pipeline not from the set", &req);
    if (!ids_is_valid(req.queue, strlen(req.queue), IDS_NAME_MAX_LEN))
        fuzz_fail("invalid queue accepted", &req);
    if (req.id != NULL && !ids_is_valid(req.id, strlen(req.id), IDS_MAX_LEN))
        fuzz_fail("invalid id accepted", &req);
    if (req.result_ttl_s < 1 || req.result_ttl_s > JOB_RESULT_TTL_MAX_S)
        fuzz_fail("result_ttl_s out of range", &req);
    if (req.input != NULL) { /* what the API does next */
        text = json_print(req.input);
        cJSON_free(text);
    }
    submit_req_free(&req);
    return 0;
}
