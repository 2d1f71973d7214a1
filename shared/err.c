/* err: struct sq_err, and what Redis's error replies mean. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_set(struct sq_err *err, enum sq_err_code code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

/* The error replies that mean "not now" rather than "no" (every other one
 * is SQ_ERR_REDIS). */
static const struct err_reply_row {
    const char *word;
    bool is_failover; /* the master moved: find it again */
} err_reply_rows[] = {
    {"READONLY", true},   {"UNBLOCKED", true}, {"LOADING", true},   {"MASTERDOWN", true},
    {"NOREPLICAS", true}, {"BUSY", false},     {"TRYAGAIN", false}, {"CLUSTERDOWN", false},
};

/* The row of the reply's first word, or NULL. */
static const struct err_reply_row *err_reply_row(const char *str, size_t len)
{
    size_t i, word;

    if (str == NULL)
        return NULL;
    for (word = 0; word < len && str[word] != ' '; word++)
        ;
    for (i = 0; i < sizeof(err_reply_rows) / sizeof(err_reply_rows[0]); i++)
        if (strlen(err_reply_rows[i].word) == word &&
            memcmp(err_reply_rows[i].word, str, word) == 0)
            return &err_reply_rows[i];
    return NULL;
}

enum sq_err_code err_reply_code(const char *str, size_t len)
{
    return err_reply_row(str, len) != NULL ? SQ_ERR_TRANSIENT : SQ_ERR_REDIS;
}

bool err_reply_is_failover(const char *str, size_t len)
{
    const struct err_reply_row *row = err_reply_row(str, len);

    return row != NULL && row->is_failover;
}
