/* config: defaults, environment and flags from one option table. */
#include "config.h"

#include "num.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int cfg_set(const struct cfg_option *o, void *base, const char *value, const char *source,
                   struct sq_err *err)
{
    struct sq_err e;
    char *field = (char *)base + o->offset;

    if (o->type == CFG_INT) {
        long long v;
        assert(o->size == sizeof(int));
        if (num_parse_ll(value, o->min, o->max, &v, &e) < 0) {
            err_set(err, SQ_ERR_INVALID, "%s (--%s): %s", source, o->flag, e.msg);
            return -1;
        }
        *(int *)(void *)field = (int)v;
        return 0;
    }
    if (strlen(value) >= o->size) {
        err_set(err, SQ_ERR_INVALID, "%s (--%s): longer than %zu bytes", source, o->flag,
                o->size - 1);
        return -1;
    }
    memcpy(field, value, strlen(value) + 1);
    return 0;
}

/* True when name (may be NULL) is the len bytes at flag. */
static bool cfg_is_name(const char *name, const char *flag, size_t len)
{
    return name != NULL && strlen(name) == len && strncmp(name, flag, len) == 0;
}

static const struct cfg_option *cfg_find(const struct cfg_option *opts, size_t nopts,
                                         const char *flag, size_t len)
{
    size_t i;

    for (i = 0; i < nopts; i++)
        if (cfg_is_name(opts[i].flag, flag, len) || cfg_is_name(opts[i].old_flag, flag, len))
            return &opts[i];
    return NULL;
}

enum cfg_result cfg_load(const struct cfg_option *opts, size_t nopts, void *base, int argc,
                         char **argv, struct sq_err *err)
{
    size_t i;
    int a;

    for (i = 0; i < nopts; i++)
        if (cfg_set(&opts[i], base, opts[i].def, "default", err) < 0)
            return CFG_ERROR;
    for (i = 0; i < nopts; i++) {
        const char *env = opts[i].env, *v = env ? getenv(env) : NULL;
        if (v == NULL && opts[i].old_env != NULL) {
            env = opts[i].old_env;
            v = getenv(env);
        }
        if (v != NULL && cfg_set(&opts[i], base, v, env, err) < 0)
            return CFG_ERROR;
    }
    for (a = 1; a < argc; a++) {
        const char *arg = argv[a], *name, *eq, *value;
        const struct cfg_option *o;
        size_t len;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return CFG_HELP;
        if (strncmp(arg, "--", 2) != 0) {
            err_set(err, SQ_ERR_INVALID, "unexpected argument '%.64s' (see --help)", arg);
            return CFG_ERROR;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        o = cfg_find(opts, nopts, name, len);
        if (o == NULL) {
            err_set(err, SQ_ERR_INVALID, "unknown option '%.64s' (see --help)", arg);
            return CFG_ERROR;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (a + 1 < argc) {
            value = argv[++a];
        } else {
            err_set(err, SQ_ERR_INVALID, "option --%s needs a value", o->flag);
            return CFG_ERROR;
        }
        if (cfg_set(o, base, value, "flag", err) < 0)
            return CFG_ERROR;
    }
    return CFG_OK;
}

void cfg_usage(FILE *out, const char *prog, const char *summary, const struct cfg_option *opts,
               size_t nopts)
{
    size_t i;

    fprintf(out, "usage: %s [--option=value ...]\n%s\n\noptions (flag, environment, default):\n",
            prog, summary);
    for (i = 0; i < nopts; i++) {
        const struct cfg_option *o = &opts[i];
        fprintf(out, "  --%-16s %-22s %s\n      %s", o->flag, o->env ? o->env : "",
                o->def[0] ? o->def : "\"\"", o->help);
        if (o->type == CFG_INT)
            fprintf(out, " [%lld..%lld]", o->min, o->max);
        fputc('\n', out);
        if (o->old_flag != NULL || o->old_env != NULL)
            fprintf(out, "      (formerly --%s %s: still read for one release)\n",
                    o->old_flag ? o->old_flag : o->flag, o->old_env ? o->old_env : "");
    }
    fprintf(out, "  -h, --help             this text\n");
}
