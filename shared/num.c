/* num: bounded number parsing, for input and for fields read from Redis. */
#include "num.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>

/* Digits, optionally after a '-': strtoll/strtod alone would take " 5", "+5". */
static int num_starts_ok(const char *text)
{
    if (text[0] >= '0' && text[0] <= '9')
        return 1;
    return text[0] == '-' && text[1] >= '0' && text[1] <= '9';
}

int num_parse_ll(const char *text, long long min, long long max, long long *out, struct sq_err *err)
{
    char *end;
    long long v;

    if (text == NULL || *text == '\0') {
        err_set(err, SQ_ERR_INVALID, "is empty");
        return -1;
    }
    if (!num_starts_ok(text)) {
        err_set(err, SQ_ERR_INVALID, "'%.64s' is not an integer", text);
        return -1;
    }
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno == ERANGE || *end != '\0' || end == text) {
        err_set(err, SQ_ERR_INVALID, "'%.64s' is not an integer", text);
        return -1;
    }
    if (v < min || v > max) {
        err_set(err, SQ_ERR_INVALID, "%lld is out of range [%lld, %lld]", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int num_parse_double(const char *text, double min, double max, double *out, struct sq_err *err)
{
    const char *p;
    char *end;
    double v;

    if (text == NULL || *text == '\0') {
        err_set(err, SQ_ERR_INVALID, "is empty");
        return -1;
    }
    if (!num_starts_ok(text)) {
        err_set(err, SQ_ERR_INVALID, "'%.64s' is not a number", text);
        return -1;
    }
    /* strtod reads hex floats ("0x1p3"): decimal only */
    for (p = text; *p != '\0'; p++) {
        if (*p == 'x' || *p == 'X') {
            err_set(err, SQ_ERR_INVALID, "'%.64s' is not a number", text);
            return -1;
        }
    }
    errno = 0;
    v = strtod(text, &end);
    if (*end != '\0' || end == text || !isfinite(v) || (errno == ERANGE && v != 0.0)) {
        err_set(err, SQ_ERR_INVALID, "'%.64s' is not a number", text);
        return -1;
    }
    if (v < min || v > max) {
        err_set(err, SQ_ERR_INVALID, "%g is out of range [%g, %g]", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int num_field_ll(const char *text, long long min, long long max, long long def, long long *out)
{
    if (num_parse_ll(text, min, max, out, NULL) == 0)
        return 0;
    *out = def;
    return -1;
}

int num_field_int(const char *text, int min, int max, int def, int *out)
{
    long long v;
    int rc = num_field_ll(text, min, max, def, &v);

    *out = (int)v;
    return rc;
}

int num_field_double(const char *text, double min, double max, double def, double *out)
{
    if (num_parse_double(text, min, max, out, NULL) == 0)
        return 0;
    *out = def;
    return -1;
}

int num_reply_ll(const struct redisReply *r, long long min, long long max, long long def,
                 long long *out)
{
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= min && r->integer <= max) {
        *out = r->integer;
        return 0;
    }
    if (r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
        return num_field_ll(r->str, min, max, def, out);
    *out = def;
    return -1;
}

size_t num_text_ll(long long v, char out[NUM_LL_TEXT_MAX])
{
    char digits[NUM_LL_TEXT_MAX];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    size_t nd = 0, n = 0;

    do
        digits[nd++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    if (v < 0)
        out[n++] = '-';
    while (nd > 0)
        out[n++] = digits[--nd];
    out[n] = '\0';
    return n;
}
