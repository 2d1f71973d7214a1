/* fuzz_json: json_parse_strict on any bytes. A refusal must name an offset
 * inside the input; an accepted value printed with json_print must parse
 * again. Frees everything (libFuzzer's leak check runs on every input). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_err err, err2;
    cJSON *root, *again;
    char *text;

    root = json_parse_strict((const char *)data, size, JSON_MAX_DEPTH_DEFAULT, &err);
    if (root == NULL) {
        if (err.offset > size || memchr(err.msg, '\0', sizeof(err.msg)) == NULL) {
            fprintf(stderr, "refusal with offset %zu for %zu bytes\n", err.offset, size);
            abort();
        }
        return 0;
    }
    text = json_print(root);
    if (text == NULL) { /* out of memory: not a finding */
        cJSON_Delete(root);
        return 0;
    }
    again = json_parse_strict(text, strlen(text), JSON_MAX_DEPTH_DEFAULT, &err2);
    if (again == NULL) {
        fprintf(stderr, "printed JSON does not parse again: %s\n%.500s\n", err2.msg, text);
        abort();
    }
    cJSON_Delete(again);
    cJSON_free(text);
    cJSON_Delete(root);
    return 0;
}
