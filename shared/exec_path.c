/* exec_path: the PATH search, one copy for the worker and the loader. */
#include "exec_path.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int exec_path_each(const char *prog, int (*fn)(const char *candidate, void *arg), void *arg)
{
    char buf[PATH_MAX];
    const char *path, *p;
    int rc = 0;

    if (strchr(prog, '/') != NULL)
        return fn(prog, arg);
    path = getenv("PATH");
    if (path == NULL)
        path = EXEC_PATH_DEFAULT;
    for (p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        int n = len == 0 ? snprintf(buf, sizeof(buf), "./%s", prog)
                         : snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, p, prog);

        if (n < 0 || (size_t)n >= sizeof(buf)) {
            rc = -1;
        } else {
            int r = fn(buf, arg);
            if (r != 0)
                return r;
        }
        if (end == NULL)
            return rc;
        p = end;
    }
}
