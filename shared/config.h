/* config: table-driven options read from the environment, then from flags.
 * One table per binary; the same table produces --help. Never exits or prints:
 * the caller decides what to do with an error or a request for help. */
#ifndef STAGEQ_CONFIG_H
#define STAGEQ_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

enum cfg_type { CFG_INT, CFG_STRING };

/* One option. `flag` is the long flag without dashes ("concurrency"), `env`
 * the environment variable (may be NULL). Values are stored at `offset` in the
 * binary's config struct: an int for CFG_INT, a char[`size`] for CFG_STRING.
 * A renamed option keeps its old names working for one release: `old_flag`
 * and `old_env` (may be NULL) set the same value; the new names win when both
 * are given. Write rows with CFG_INT_ROW / CFG_STR_ROW. */
struct cfg_option {
    const char *flag;
    const char *env;
    enum cfg_type type;
    long long min, max; /* bounds for CFG_INT; max length for CFG_STRING is size-1 */
    const char *def;    /* default as text, parsed like user input */
    size_t offset;
    size_t size; /* CFG_INT: sizeof(int); CFG_STRING: buffer size */
    const char *help;
    const char *old_flag, *old_env; /* the names before a rename, or NULL */
};

/* A row of config struct `stype` whose int member `member` is set by --flg and
 * env `ev` within [lo, hi], default text dflt. */
#define CFG_INT_ROW(stype, member, flg, ev, lo, hi, dflt, hlp)                                     \
    {                                                                                              \
        .flag = (flg), .env = (ev), .type = CFG_INT, .min = (lo), .max = (hi), .def = (dflt),      \
        .offset = offsetof(stype, member), .size = sizeof(((stype *)0)->member), .help = (hlp)     \
    }

/* A row of config struct `stype` whose char array `member` is set by --flg and env `ev`. */
#define CFG_STR_ROW(stype, member, flg, ev, dflt, hlp)                                             \
    {                                                                                              \
        .flag = (flg), .env = (ev), .type = CFG_STRING, .def = (dflt),                             \
        .offset = offsetof(stype, member), .size = sizeof(((stype *)0)->member), .help = (hlp)     \
    }

/* CFG_INT_ROW for an option renamed from --oflg / oev (still read, see above). */
#define CFG_INT_ROW_RENAMED(stype, member, flg, ev, oflg, oev, lo, hi, dflt, hlp)                  \
    {                                                                                              \
        .flag = (flg), .env = (ev), .type = CFG_INT, .min = (lo), .max = (hi), .def = (dflt),      \
        .offset = offsetof(stype, member), .size = sizeof(((stype *)0)->member), .help = (hlp),    \
        .old_flag = (oflg), .old_env = (oev)                                                       \
    }

enum cfg_result { CFG_OK = 0, CFG_ERROR = -1, CFG_HELP = 1 };

/* Fills base from defaults, then the environment (an option's old_env, then
 * its env), then argv (--flag=value or --flag value, old_flag alike; -h/--help
 * returns CFG_HELP). On CFG_ERROR err names the option and base holds a mix
 * of values: do not use it. */
enum cfg_result cfg_load(const struct cfg_option *opts, size_t nopts, void *base, int argc,
                         char **argv, struct sq_err *err);

/* Writes the usage text produced from the table to out (an old name on a line
 * of its own under its option). */
void cfg_usage(FILE *out, const char *prog, const char *summary, const struct cfg_option *opts,
               size_t nopts);

#endif
