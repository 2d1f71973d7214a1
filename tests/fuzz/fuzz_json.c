/* fuzz_json: json_parse_strict on any bytes. A refusal must name an offset
 * inside the input; an accepted value printed with json_print must parse
 * again. json_parse_exact must take exactly the same inputs, and its print
 * must read back to the same text (numbers kept); json_minify's copy must
 * parse, and so must every member's span (json_member_span) of an object.
 * json_is_strict may take only what json_parse_strict takes, and must say
 * null exactly when the value is null.
 * Frees everything (libFuzzer's leak check runs on every input). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The checks of the text-keeping functions on an input root took. */
static void fuzz_exact(const char *buf, size_t size, const cJSON *root)
{
    struct json_err err;
    cJSON *exact, *again, *span;
    char *t1, *t2, *m;
    size_t i, off, len;
    const cJSON *c;

    exact = json_parse_exact(buf, size, JSON_MAX_DEPTH_DEFAULT, &err);
    if (exact == NULL) {
        if (strcmp(err.msg, "out of memory at byte 0") == 0)
            return;
        fprintf(stderr, "json_parse_exact refused what json_parse_strict took: %s\n", err.msg);
        abort();
    }
    t1 = json_print(exact);
    again = t1 != NULL ? json_parse_exact(t1, strlen(t1), JSON_MAX_DEPTH_DEFAULT, &err) : NULL;
    t2 = again != NULL ? json_print(again) : NULL;
    if (t1 != NULL && (again == NULL || (t2 != NULL && strcmp(t1, t2) != 0))) {
        fprintf(stderr, "exact print does not read back as itself:\n%.500s\n", t1);
        abort();
    }
    m = json_minify(buf, size);
    span = m != NULL ? json_parse_strict(m, strlen(m), JSON_MAX_DEPTH_DEFAULT, &err) : NULL;
    if (m != NULL && span == NULL) {
        fprintf(stderr, "minified text does not parse: %s\n%.500s\n", err.msg, m);
        abort();
    }
    cJSON_Delete(span);
    for (i = 0, c = cJSON_IsObject(root) ? root->child : NULL; c != NULL; c = c->next, i++) {
        if (json_member_span(buf, size, i, &off, &len) < 0 || off + len > size) {
            fprintf(stderr, "no span for member %zu\n", i);
            abort();
        }
        span = json_parse_strict(buf + off, len, JSON_MAX_DEPTH_DEFAULT, &err);
        if (span == NULL) {
            fprintf(stderr, "member %zu's span does not parse: %s\n", i, err.msg);
            abort();
        }
        cJSON_Delete(span);
    }
    cJSON_free(m);
    cJSON_free(t2);
    cJSON_Delete(again);
    cJSON_free(t1);
    cJSON_Delete(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_err err, err2;
    cJSON *root, *again;
    char *text;

    bool is_null = false;
    bool is_checked = json_is_strict((const char *)data, size, JSON_MAX_DEPTH_DEFAULT, &is_null);

    root = json_parse_strict((const char *)data, size, JSON_MAX_DEPTH_DEFAULT, &err);
    if (is_checked && (root == NULL || is_null != cJSON_IsNull(root))) {
        fprintf(stderr, "json_is_strict took it (null: %d), json_parse_strict: %s\n", is_null,
                root == NULL ? err.msg : "took it");
        abort();
    }
    if (root == NULL) {
        if (err.offset > size || memchr(err.msg, '\0', sizeof(err.msg)) == NULL) {
            fprintf(stderr, "refusal with offset %zu for %zu bytes\n", err.offset, size);
            abort();
        }
        return 0;
    }
    fuzz_exact((const char *)data, size, root);
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
