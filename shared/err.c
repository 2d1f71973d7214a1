/* err: formatting of struct sq_err. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

void err_set(struct sq_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}
