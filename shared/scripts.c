/* scripts: table of embedded Lua scripts (sources generated into
 * build/gen/scripts_gen.c from shared/scripts/). */
#include "scripts.h"

#include <stdio.h>
#include <string.h>

#include "scripts_gen.h"

struct script {
    const char *name;
    const char *src;
    const char *sha; /* 40 hex digits */
};

static const struct script script_table[SCRIPT_COUNT] = {
    [SCRIPT_SUBMIT] = {"submit", script_submit_src, script_submit_sha},
    [SCRIPT_START] = {"start", script_start_src, script_start_sha},
    [SCRIPT_UPDATE] = {"update", script_update_src, script_update_sha},
    [SCRIPT_FINISH] = {"finish", script_finish_src, script_finish_sha},
    [SCRIPT_RETRY] = {"retry", script_retry_src, script_retry_sha},
    [SCRIPT_CANCEL] = {"cancel", script_cancel_src, script_cancel_sha},
    [SCRIPT_HEARTBEAT] = {"heartbeat", script_heartbeat_src, script_heartbeat_sha},
    [SCRIPT_RECOVER] = {"recover", script_recover_src, script_recover_sha},
    [SCRIPT_REAP] = {"reap", script_reap_src, script_reap_sha},
    [SCRIPT_REQUEUE] = {"requeue", script_requeue_src, script_requeue_sha},
    [SCRIPT_TAKE] = {"take", script_take_src, script_take_sha},
    [SCRIPT_RECORD] = {"record", script_record_src, script_record_sha},
    [SCRIPT_HOP] = {"hop", script_hop_src, script_hop_sha},
    [SCRIPT_LEASE] = {"lease", script_lease_src, script_lease_sha},
    [SCRIPT_RERUN] = {"rerun", script_rerun_src, script_rerun_sha},
    [SCRIPT_SUBMIT_MANY] = {"submit_many", script_submit_many_src, script_submit_many_sha},
    [SCRIPT_FINISH_MANY] = {"finish_many", script_finish_many_src, script_finish_many_sha},
};
_Static_assert(SCRIPT_COUNT <= 32, "a set of scripts (SCRIPT_BIT) is a uint32_t");

size_t scripts_argv(enum script_id id, int use_src, int nkeys, const struct rargv *args,
                    const char **argv, size_t *lens, char nkbuf[16])
{
    const struct script *s = &script_table[id];
    size_t i;

    snprintf(nkbuf, 16, "%d", nkeys);
    argv[0] = use_src ? "EVAL" : "EVALSHA";
    argv[1] = use_src ? s->src : s->sha;
    argv[2] = nkbuf;
    for (i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    for (i = 0; i < args->argc; i++) {
        argv[3 + i] = args->argv[i];
        lens[3 + i] = args->lens[i];
    }
    return args->argc + 3;
}

const char *scripts_src(enum script_id id)
{
    return script_table[id].src;
}

int scripts_is_noscript(const char *errstr, size_t len)
{
    return len >= 8 && strncmp(errstr, "NOSCRIPT", 8) == 0;
}
