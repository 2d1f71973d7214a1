/* fuzz_answer: stage_serve_parse_answer (one line a warm stage program wrote
 * on stdout) on any bytes. The outcome must be one of the three it promises,
 * with the output text exactly when it is EXEC_OK, and an accepted output
 * text must itself be valid JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "stage_serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct exec_result res;
    struct json_err err;
    int rc;

    memset(&res, 0, sizeof(res));
    rc = stage_serve_parse_answer((const char *)data, size, &res);
    if ((rc == 0) != (res.outcome == EXEC_OK || res.outcome == EXEC_ERROR))
        abort();
    if (rc < 0 && res.outcome != EXEC_INVALID_OUTPUT)
        abort();
    if ((res.output_text != NULL) != (res.outcome == EXEC_OK) ||
        (res.output != NULL) != (res.outcome == EXEC_OK))
        abort();
    if (memchr(res.message, '\0', sizeof(res.message)) == NULL)
        abort();
    if (res.output_text != NULL) {
        cJSON *again = json_parse_strict(res.output_text, strlen(res.output_text),
                                         JSON_MAX_DEPTH_DEFAULT, &err);
        if (again == NULL)
            abort();
        cJSON_Delete(again);
    }
    cJSON_Delete(res.output);
    cJSON_free(res.output_text);
    return 0;
}
