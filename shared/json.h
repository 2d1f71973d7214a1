/* json: strict JSON parsing of untrusted bytes on top of cJSON, and printing
 * that keeps numbers as they were sent (json_parse_exact, json_create_number).
 * cJSON alone accepts trailing garbage, invalid UTF-8, raw control characters
 * and silently cuts strings at \u0000: this module refuses all of them. */
#ifndef STAGEQ_JSON_H
#define STAGEQ_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH_DEFAULT 64

struct json_err {
    size_t offset; /* byte offset of the problem in the input */
    char msg[160];
};

/* Parses exactly buf[0..len) as one JSON value (whitespace around it allowed).
 * Rejects invalid UTF-8 (overlongs, surrogates, > U+10FFFF), raw control
 * characters in strings, the escape \u0000, nesting deeper than max_depth and
 * anything after the value. Returns a new tree the caller frees with
 * cJSON_Delete, or NULL with err filled (offset + message). */
cJSON *json_parse_strict(const char *buf, size_t len, int max_depth, struct json_err *err);

/* True when json_parse_strict(buf, len, max_depth) would take buf[0..len),
 * found without a tree and without allocating (a status GET checks each
 * stored JSON value before it writes it as its text); *is_null (may be NULL)
 * says whether the value is null. False for the rest, and also for a few
 * rare texts json_parse_strict takes: a \u escape of a surrogate, a number
 * longer than 63 characters, nesting deeper than JSON_CHECK_DEPTH_MAX. A
 * caller that must know parses those with json_parse_strict. */
#define JSON_CHECK_DEPTH_MAX 128
bool json_is_strict(const char *buf, size_t len, int max_depth, bool *is_null);

/* json_parse_strict, and then every number keeps the text it was sent as:
 * each number item becomes a raw item holding that text ("1E+2", "-0",
 * "9007199254740993", "1e400"), which printing writes back as it is. Read
 * such numbers with json_number. For JSON that must come out as it went in
 * (job input, stage outputs): cJSON alone prints numbers with 15 digits.
 * Returns a new tree the caller frees with cJSON_Delete, or NULL with err
 * filled. */
cJSON *json_parse_exact(const char *buf, size_t len, int max_depth, struct json_err *err);

/* For buf[0..len), valid JSON (as json_parse_strict took it): a new
 * NUL-terminated copy without the whitespace outside strings, which the
 * caller frees with cJSON_free (as printed text); NULL when memory ran out. Numbers and strings
 * are left byte for byte. */
char *json_minify(const char *buf, size_t len);

/* For buf[0..len), a valid JSON object: the value of its member number index
 * (0-based, in the order of the text, which is the order of the parsed
 * tree's children) as the span buf[*off .. *off + *vlen). 0, or -1 when the
 * object has fewer members. */
int json_member_span(const char *buf, size_t len, size_t index, size_t *off, size_t *vlen);

/* For buf[0..len), a valid JSON array of at least n elements: the spans of
 * its first n elements, buf[off[k] .. off[k] + vlen[k]), in one pass. 0, or
 * -1 when it is no array or has fewer elements. */
int json_element_spans(const char *buf, size_t len, size_t n, size_t *off, size_t *vlen);

/* A new item for the number d, printed in the shortest form that reads back
 * as exactly d ("0.1", "1e+300", "-0", "9007199254740992"): a raw item, as
 * json_parse_exact makes (cJSON alone keeps 15 digits). NaN and infinities,
 * which JSON cannot write, give null. NULL when memory ran out. */
cJSON *json_create_number(double d);

/* The text json_create_number writes for d, into out (NUL-terminated).
 * 0, or -1 for NaN and infinities (JSON's null). */
#define JSON_NUMBER_TEXT_MAX 32
int json_number_text(double d, char out[JSON_NUMBER_TEXT_MAX]);

/* JSON text written straight, without a tree (the job status of GET
 * /v1/jobs/{id}: no nodes to allocate, print and free). Zero-initialise it;
 * data is NUL-terminated once anything was added. After a failed
 * allocation is_oom is set and nothing more is added: the text is
 * incomplete. Free with json_buf_free; set len to 0 to reuse the memory. */
struct json_buf {
    char *data;
    size_t len, cap;
    bool is_oom;
};

void json_buf_free(struct json_buf *b);
/* Room for n more bytes (and the NUL): 0, or -1 with is_oom set. */
int json_buf_reserve(struct json_buf *b, size_t n);
void json_buf_add(struct json_buf *b, const char *s, size_t n);
/* Adds s (up to its NUL) as a JSON string, quoted and escaped byte for byte
 * as cJSON 1.7.15 prints one: \" \\ \b \f \n \r \t, other bytes below
 * 0x20 as \u00xx, every other byte as it is (UTF-8 is not checked). */
void json_buf_add_string(struct json_buf *b, const char *s);

/* Prints item without whitespace. Returns a new string the caller frees with
 * cJSON_free, or NULL on allocation failure. */
char *json_print(const cJSON *item);

/* The value of a number item, or of a raw item holding a number's JSON text
 * (the job status writes the numbers it has as text that way). 0 and *out
 * set, or -1 when item is neither. */
int json_number(const cJSON *item, double *out);

/* Returns the member `name` of object obj compared case-sensitively, or NULL. */
const cJSON *json_get(const cJSON *obj, const char *name);

#endif
