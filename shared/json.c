/* json: a lexical pre-pass (UTF-8, control characters, \u0000, depth) and then
 * cJSON with the end pointer checked. Never trusts a NUL terminator. */
#include "json.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static void json_fail(struct json_err *err, size_t off, const char *msg)
{
    if (err != NULL) {
        err->offset = off;
        snprintf(err->msg, sizeof(err->msg), "%s at byte %zu", msg, off);
    }
}

/* The length of the escape at s[0] == '\\' (n bytes left): 2, 6 for \uXXXX
 * (four hex digits), or 0 when it is not one of JSON's. */
static size_t json_escape_len(const unsigned char *s, size_t n)
{
    size_t k;

    if (n >= 2 && s[1] != '\0' && strchr("\"\\/bfnrt", s[1]) != NULL)
        return 2;
    if (n < 6 || s[1] != 'u')
        return 0;
    for (k = 2; k < 6; k++)
        if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f') ||
              (s[k] >= 'A' && s[k] <= 'F')))
            return 0;
    return 6;
}

static int json_prepass(const unsigned char *s, size_t len, int max_depth, struct json_err *err)
{
    size_t i = 0;
    int depth = 0;
    int in_string = 0;

    while (i < len) {
        unsigned char c = s[i];
        if (in_string) {
            if (c == '"') {
                in_string = 0;
                i++;
            } else if (c == '\\') {
                if (i + 1 >= len) {
                    json_fail(err, i, "unterminated escape");
                    return -1;
                }
                if (json_escape_len(s + i, len - i) == 0) {
                    /* cJSON reads \u12x! as U+0000: the string cut short */
                    json_fail(err, i, "invalid escape in a string");
                    return -1;
                }
                if (s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) {
                    json_fail(err, i, "\\u0000 is not allowed in strings");
                    return -1;
                }
                i += json_escape_len(s + i, len - i);
            } else if (c < 0x20) {
                json_fail(err, i, "raw control character in string");
                return -1;
            } else {
                size_t n = utf8_seq_len(s + i, len - i);
                if (n == 0) {
                    json_fail(err, i, "invalid UTF-8");
                    return -1;
                }
                i += n;
            }
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                json_fail(err, i, "nesting too deep");
                return -1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c >= 0x80 || c == '\0' || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')) {
            /* cJSON skips every byte <= 0x20 as whitespace; JSON allows only these four. */
            json_fail(err, i, c == '\0' ? "NUL byte" : "invalid character");
            return -1;
        }
        i++;
    }
    return 0;
}

static size_t json_bad_number(const char *buf, size_t len);

cJSON *json_parse_strict(const char *buf, size_t len, int max_depth, struct json_err *err)
{
    const char *end = NULL;
    cJSON *root;
    size_t off;

    if (buf == NULL || len == 0) {
        json_fail(err, 0, "empty body, expected JSON");
        return NULL;
    }
    if (json_prepass((const unsigned char *)buf, len, max_depth, err) < 0)
        return NULL;
    root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (root == NULL) {
        off = (end != NULL && end >= buf && end <= buf + len) ? (size_t)(end - buf) : 0;
        json_fail(err, off, "syntax error");
        return NULL;
    }
    while (end < buf + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != buf + len) {
        json_fail(err, (size_t)(end - buf), "unexpected data after the JSON value");
        cJSON_Delete(root);
        return NULL;
    }
    off = json_bad_number(buf, len); /* cJSON also takes 01, 1., -.5 */
    if (off != len) {
        json_fail(err, off, "invalid number");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static bool json_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* For a number of JSON's grammar at buf[i] (a '-' or a digit there): the
 * offset just past it, or SIZE_MAX when it breaks the grammar:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static size_t json_number_end(const char *buf, size_t len, size_t i)
{
    if (buf[i] == '-')
        i++;
    if (i >= len || !json_is_digit(buf[i]))
        return SIZE_MAX;
    if (buf[i] == '0' && i + 1 < len && json_is_digit(buf[i + 1]))
        return SIZE_MAX;
    while (i < len && json_is_digit(buf[i]))
        i++;
    if (i < len && buf[i] == '.') {
        if (++i >= len || !json_is_digit(buf[i]))
            return SIZE_MAX;
        while (i < len && json_is_digit(buf[i]))
            i++;
    }
    if (i < len && (buf[i] == 'e' || buf[i] == 'E')) {
        if (++i < len && (buf[i] == '+' || buf[i] == '-'))
            i++;
        if (i >= len || !json_is_digit(buf[i]))
            return SIZE_MAX;
        while (i < len && json_is_digit(buf[i]))
            i++;
    }
    return i;
}

/* The offset of the first number (outside strings) that breaks JSON's
 * grammar, or len when there is none. */
static size_t json_bad_number(const char *buf, size_t len)
{
    size_t i = 0, end;

    while (i < len) {
        if (buf[i] == '"') { /* a string: skip it, escapes two bytes at a time */
            for (i++; i < len && buf[i] != '"'; i++)
                if (buf[i] == '\\')
                    i++;
            i++;
            continue;
        }
        if (buf[i] != '-' && !json_is_digit(buf[i])) {
            i++;
            continue;
        }
        if ((end = json_number_end(buf, len, i)) == SIZE_MAX)
            return i;
        i = end;
    }
    return len;
}

static bool json_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- json_is_strict: a recursive descent over JSON's grammar that stops
 * at the first doubt. Each scan_ function takes the value at sc->i and
 * leaves sc->i just past it, or says false. */

struct json_scan {
    const unsigned char *s;
    size_t len, i;
    int max_depth;
};

static void json_scan_space(struct json_scan *sc)
{
    while (sc->i < sc->len && json_is_space((char)sc->s[sc->i]))
        sc->i++;
}

/* A string: JSON's escapes (\u0000 and surrogates left to the parser),
 * no byte below 0x20, valid UTF-8 (as json_prepass checks). */
static bool json_scan_string(struct json_scan *sc)
{
    const unsigned char *s = sc->s;
    size_t n;

    for (sc->i++; sc->i < sc->len;) {
        unsigned char c = s[sc->i];
        if (c == '"') {
            sc->i++;
            return true;
        }
        if (c == '\\') {
            /* \u0000 and the surrogates \uD800-\uDFFF left to the parser */
            if ((n = json_escape_len(s + sc->i, sc->len - sc->i)) == 0 ||
                (n == 6 && (memcmp(s + sc->i + 2, "0000", 4) == 0 ||
                            ((s[sc->i + 2] == 'd' || s[sc->i + 2] == 'D') &&
                             strchr("89abcdefABCDEF", s[sc->i + 3]) != NULL))))
                return false;
            sc->i += n;
        } else if (c < 0x20) {
            return false;
        } else if (c < 0x80) {
            sc->i++;
        } else {
            if ((n = utf8_seq_len(s + sc->i, sc->len - sc->i)) == 0)
                return false;
            sc->i += n;
        }
    }
    return false;
}

/* A number of JSON's grammar, of at most 63 characters (cJSON reads no
 * more than that of one). */
static bool json_scan_number(struct json_scan *sc)
{
    size_t end = json_number_end((const char *)sc->s, sc->len, sc->i);

    if (end == SIZE_MAX || end - sc->i > 63)
        return false;
    sc->i = end;
    return true;
}

static bool json_scan_word(struct json_scan *sc, const char *word, size_t n)
{
    if (sc->len - sc->i < n || memcmp(sc->s + sc->i, word, n) != 0)
        return false;
    sc->i += n;
    return true;
}

static bool json_scan_value(struct json_scan *sc, int depth);

/* An array or object at sc->i (its opening byte): the values, and for an
 * object each one's key and colon, with the commas between them. */
static bool json_scan_container(struct json_scan *sc, int depth)
{
    unsigned char close = sc->s[sc->i] == '[' ? ']' : '}';

    if (depth >= sc->max_depth || depth >= JSON_CHECK_DEPTH_MAX)
        return false;
    sc->i++;
    json_scan_space(sc);
    if (sc->i < sc->len && sc->s[sc->i] == close) {
        sc->i++;
        return true;
    }
    for (;;) {
        if (close == '}') {
            if (sc->i >= sc->len || sc->s[sc->i] != '"' || !json_scan_string(sc))
                return false;
            json_scan_space(sc);
            if (sc->i >= sc->len || sc->s[sc->i] != ':')
                return false;
            sc->i++;
            json_scan_space(sc);
        }
        if (!json_scan_value(sc, depth + 1))
            return false;
        json_scan_space(sc);
        if (sc->i >= sc->len)
            return false;
        if (sc->s[sc->i] == close) {
            sc->i++;
            return true;
        }
        if (sc->s[sc->i] != ',')
            return false;
        sc->i++;
        json_scan_space(sc);
    }
}

/* One value at sc->i; depth containers hold it. */
static bool json_scan_value(struct json_scan *sc, int depth)
{
    if (sc->i >= sc->len)
        return false;
    switch (sc->s[sc->i]) {
    case '{':
    case '[':
        return json_scan_container(sc, depth);
    case '"':
        return json_scan_string(sc);
    case 't':
        return json_scan_word(sc, "true", 4);
    case 'f':
        return json_scan_word(sc, "false", 5);
    case 'n':
        return json_scan_word(sc, "null", 4);
    default:
        return (sc->s[sc->i] == '-' || json_is_digit((char)sc->s[sc->i])) && json_scan_number(sc);
    }
}

bool json_is_strict(const char *buf, size_t len, int max_depth, bool *is_null)
{
    struct json_scan sc = {(const unsigned char *)buf, len, 0, max_depth};
    size_t start;

    if (buf == NULL)
        return false;
    json_scan_space(&sc);
    start = sc.i;
    if (!json_scan_value(&sc, 0))
        return false;
    if (is_null != NULL)
        *is_null = sc.s[start] == 'n';
    json_scan_space(&sc);
    return sc.i == len;
}

/* For valid JSON: the offset just past the value that starts at buf[i]. */
static size_t json_value_end(const char *buf, size_t len, size_t i)
{
    int depth = 0;

    do {
        if (buf[i] == '"') {
            for (i++; i < len && buf[i] != '"'; i++)
                if (buf[i] == '\\')
                    i++;
            i++;
        } else if (buf[i] == '{' || buf[i] == '[') {
            depth++, i++;
        } else if (buf[i] == '}' || buf[i] == ']') {
            depth--, i++;
        } else if (depth > 0) {
            i++;
        } else { /* a number, true, false or null */
            while (i < len && !json_is_space(buf[i]) && buf[i] != ',' && buf[i] != ']' &&
                   buf[i] != '}')
                i++;
        }
    } while (depth > 0 && i < len);
    return i < len ? i : len;
}

static size_t json_skip_space(const char *buf, size_t len, size_t i)
{
    while (i < len && json_is_space(buf[i]))
        i++;
    return i;
}

int json_member_span(const char *buf, size_t len, size_t index, size_t *off, size_t *vlen)
{
    size_t i = json_skip_space(buf, len, 0), m, start;

    if (i >= len || buf[i] != '{')
        return -1;
    for (m = 0, i++;; m++) {
        i = json_skip_space(buf, len, i);
        if (i >= len || buf[i] != '"')
            return -1;                                              /* "}": no more members */
        i = json_skip_space(buf, len, json_value_end(buf, len, i)); /* the name */
        if (i >= len || buf[i] != ':')
            return -1;
        start = i = json_skip_space(buf, len, i + 1);
        i = json_value_end(buf, len, i);
        if (m == index) {
            *off = start;
            *vlen = i - start;
            return 0;
        }
        i = json_skip_space(buf, len, i);
        if (i >= len || buf[i] != ',')
            return -1;
        i++;
    }
}

int json_element_spans(const char *buf, size_t len, size_t n, size_t *off, size_t *vlen)
{
    size_t i = json_skip_space(buf, len, 0), k;

    if (i >= len || buf[i] != '[')
        return -1;
    for (k = 0, i++; k < n; k++) {
        i = json_skip_space(buf, len, i);
        if (i >= len || buf[i] == ']')
            return -1;
        off[k] = i;
        i = json_value_end(buf, len, i);
        vlen[k] = i - off[k];
        i = json_skip_space(buf, len, i);
        if (k + 1 < n && (i >= len || buf[i] != ','))
            return -1;
        i++;
    }
    return 0;
}

char *json_minify(const char *buf, size_t len)
{
    char *out = cJSON_malloc(len + 1);
    size_t i, o = 0;
    bool in_string = false;

    if (out == NULL)
        return NULL;
    for (i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\' && i + 1 < len)
                out[o++] = c, c = buf[++i];
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (json_is_space(c)) {
            continue;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* Turns the number items of the tree under item, in document order, into raw
 * items holding the texts of the numbers of buf[*i..len), in the same order.
 * 0, or -1 when memory ran out or the texts ran out. */
static int json_keep_numbers(cJSON *item, const char *buf, size_t len, size_t *i)
{
    size_t start;
    char *text;

    for (; item != NULL; item = item->next) {
        if (item->child != NULL && json_keep_numbers(item->child, buf, len, i) < 0)
            return -1;
        if (!cJSON_IsNumber(item))
            continue;
        while (*i < len && buf[*i] != '-' && !json_is_digit(buf[*i])) {
            if (buf[*i] == '"') /* a string (a member's name too): not a number */
                *i = json_value_end(buf, len, *i);
            else
                (*i)++;
        }
        if (*i >= len)
            return -1;
        start = *i;
        *i = json_value_end(buf, len, *i);
        text = cJSON_malloc(*i - start + 1);
        if (text == NULL)
            return -1;
        memcpy(text, buf + start, *i - start);
        text[*i - start] = '\0';
        item->type = cJSON_Raw;
        item->valuestring = text;
    }
    return 0;
}

cJSON *json_parse_exact(const char *buf, size_t len, int max_depth, struct json_err *err)
{
    cJSON *root = json_parse_strict(buf, len, max_depth, err);
    size_t i = 0;

    if (root != NULL && json_keep_numbers(root, buf, len, &i) < 0) {
        json_fail(err, 0, "out of memory");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int json_number_text(double d, char out[JSON_NUMBER_TEXT_MAX])
{
    int prec;

    if (!isfinite(d))
        return -1;
    /* a whole number: its digits, as cJSON writes them (the range check
     * first makes the cast defined) */
    if (d > -1e17 && d < 1e17 && (double)(long long)d == d) {
        snprintf(out, JSON_NUMBER_TEXT_MAX, "%.0f", d);
        return 0;
    }
    for (prec = 1; prec < 17; prec++) {
        snprintf(out, JSON_NUMBER_TEXT_MAX, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return 0;
    }
    snprintf(out, JSON_NUMBER_TEXT_MAX, "%.17g", d);
    return 0;
}

cJSON *json_create_number(double d)
{
    char text[JSON_NUMBER_TEXT_MAX];

    if (json_number_text(d, text) < 0)
        return cJSON_CreateNull();
    return cJSON_CreateRaw(text);
}

void json_buf_free(struct json_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->is_oom = false;
}

int json_buf_reserve(struct json_buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 2048; /* a job's status fits at once */
    char *p;

    if (b->is_oom)
        return -1;
    if (b->len + n < b->cap)
        return 0;
    while (cap <= b->len + n) {
        if (cap > SIZE_MAX / 2)
            goto fail;
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL)
        goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->is_oom = true;
    return -1;
}

void json_buf_add(struct json_buf *b, const char *s, size_t n)
{
    if (json_buf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* The escape of byte c in a JSON string as cJSON writes it, or NULL when c
 * goes out as it is (then *n is untouched). */
static const char *json_escape_of(unsigned char c, char u[8], size_t *n)
{
    static const char hex[] = "0123456789abcdef";

    switch (c) {
    case '"':
        return *n = 2, "\\\"";
    case '\\':
        return *n = 2, "\\\\";
    case '\b':
        return *n = 2, "\\b";
    case '\f':
        return *n = 2, "\\f";
    case '\n':
        return *n = 2, "\\n";
    case '\r':
        return *n = 2, "\\r";
    case '\t':
        return *n = 2, "\\t";
    default:
        if (c >= 0x20)
            return NULL;
        memcpy(u, "\\u00", 4);
        u[4] = hex[c >> 4];
        u[5] = hex[c & 15];
        *n = 6;
        return u;
    }
}

#define JSON_BUF_CHUNK 4096 /* bytes of a string escaped per reservation */

void json_buf_add_string(struct json_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *end;
    size_t n = strlen(s), k = 0;
    const char *esc;
    char u[8], *o;

    json_buf_add(b, "\"", 1);
    while (n > 0) {
        /* room for the worst case (every byte a \u00xx): no check per byte,
         * and no more than 6 x a chunk at once */
        size_t chunk = n < JSON_BUF_CHUNK ? n : JSON_BUF_CHUNK;
        if (json_buf_reserve(b, 6 * chunk) < 0)
            return;
        o = b->data + b->len;
        for (end = p + chunk; p < end; p++) {
            if (*p >= 0x20 && *p != '"' && *p != '\\') {
                *o++ = (char)*p;
                continue;
            }
            esc = json_escape_of(*p, u, &k);
            memcpy(o, esc, k);
            o += k;
        }
        b->len = (size_t)(o - b->data);
        n -= chunk;
    }
    json_buf_add(b, "\"", 1);
}

char *json_print(const cJSON *item)
{
    /* Most texts fit 1 KiB (a stage's output, a job's status): printed on the
     * stack, then one malloc of their size (a small, cached block). Allocating
     * 2 KiB or more for each makes glibc's malloc sort its free lists
     * (malloc_consolidate) every time: a tenth of a worker's CPU in a drain.
     * A longer text starts again in a 4 KiB buffer, grown as needed. */
    char small[1024];
    size_t len;
    char *out;

    if (!cJSON_PrintPreallocated((cJSON *)item, small, (int)sizeof(small), 0))
        return cJSON_PrintBuffered(item, 4096, 0);
    len = strlen(small) + 1;
    if ((out = cJSON_malloc(len)) != NULL)
        memcpy(out, small, len);
    return out;
}

int json_number(const cJSON *item, double *out)
{
    const char *t;
    char *end;
    double d;

    if (cJSON_IsNumber(item)) {
        *out = item->valuedouble;
        return 0;
    }
    if (!cJSON_IsRaw(item) || (t = item->valuestring) == NULL ||
        (*t != '-' && (*t < '0' || *t > '9')))
        return -1;
    d = strtod(t, &end);
    if (*end != '\0')
        return -1;
    *out = d;
    return 0;
}

const cJSON *json_get(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}
