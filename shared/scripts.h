/* scripts: the Lua scripts of shared/scripts/ (one .lua file each), embedded at build time with
 * their SHA1 (computed by the Makefile), and the argv that runs them. */
#ifndef STAGEQ_SCRIPTS_H
#define STAGEQ_SCRIPTS_H

#include <stddef.h>
#include <stdint.h>

#include "rargv.h"

enum script_id {
    SCRIPT_SUBMIT = 0,
    SCRIPT_START,
    SCRIPT_UPDATE,
    SCRIPT_FINISH,
    SCRIPT_RETRY,
    SCRIPT_CANCEL,
    SCRIPT_HEARTBEAT,
    SCRIPT_RECOVER,
    SCRIPT_REAP,
    SCRIPT_REQUEUE,
    SCRIPT_TAKE,
    SCRIPT_RECORD,
    SCRIPT_HOP,
    SCRIPT_LEASE,
    SCRIPT_RERUN,
    SCRIPT_SUBMIT_MANY,
    SCRIPT_FINISH_MANY,
    SCRIPT_COUNT
};

/* Points argv/lens (room for args->argc + 3 entries) at
 * "EVALSHA <sha> <nkeys> args..." or, with use_src, "EVAL <src> <nkeys> args...",
 * where args holds the keys first, then the arguments. nkbuf holds the number
 * text and must outlive argv. Returns the number of entries. Borrows everything. */
size_t scripts_argv(enum script_id id, int use_src, int nkeys, const struct rargv *args,
                    const char **argv, size_t *lens, char nkbuf[16]);

/* The bit of script id in a set of scripts (a connection's known ones). */
#define SCRIPT_BIT(id) ((uint32_t)1 << (unsigned)(id))

/* The source of script id (what EVAL sends). */
const char *scripts_src(enum script_id id);

/* True when a Redis error reply text means the script is not cached. */
int scripts_is_noscript(const char *errstr, size_t len);

#endif
