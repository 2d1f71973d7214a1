/* pipe: a worker draining a backlog of fast jobs takes them in batches
 * (finish.lua's take), holds the jobs it has not begun, and sends each job's
 * end the moment it is known without waiting for the reply: the replies are
 * read before the next call that waits (rconn's drain hook). A reply lost
 * with the connection is a write of unknown fate: it is sent again, waiting,
 * fenced like every end, so it is recorded exactly once. */
#include <string.h>

#include "log.h"
#include "worker.h"

int pipe_send_finish(struct worker *w, const char *id, struct rargv *args)
{
    struct sq_err err;
    struct sent_finish *s;

    if (w->nsent >= WORKER_BATCH_MAX || strlen(id) > IDS_MAX_LEN)
        return -1;
    if (rconn_script_send(w->rc, SCRIPT_FINISH, 5, args, &err) < 0) {
        log_write(LOG_LEVEL_WARN, 0, id, "%s; writing its end again", err.msg);
        pipe_drain(w); /* the ends sent before went with the connection */
        return -1;
    }
    s = &w->sent[w->nsent++];
    s->args = *args; /* moved */
    rargv_init(args);
    strcpy(s->id, id);
    return 0;
}

/* finish.lua's reply to an end sent by pipe_send_finish: its first element
 * says whether it was written. Returns 0, or -1 when it must be sent again
 * (a NOSCRIPT error). */
static int pipe_log_result(const char *id, const redisReply *rep, bool is_again)
{
    const redisReply *res = rep;

    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3)
        res = rep->element[0];
    if (res->type == REDIS_REPLY_STRING || res->type == REDIS_REPLY_STATUS) {
        /* sent again after a lost reply: the first one may have written it */
        if (strcmp(res->str, "ok") == 0 || (is_again && strcmp(res->str, "succeeded") == 0))
            log_write(LOG_LEVEL_INFO, 0, id, "succeeded");
        else
            log_write(LOG_LEVEL_INFO, 0, id, "end not recorded: job is %s", res->str);
        return 0;
    }
    if (res->type == REDIS_REPLY_ERROR && scripts_is_noscript(res->str, res->len))
        return -1;
    log_write(LOG_LEVEL_ERROR, 0, id, "state change failed: %.*s",
              res->type == REDIS_REPLY_ERROR ? (int)res->len : 0,
              res->type == REDIS_REPLY_ERROR ? res->str : "");
    return 0;
}

void pipe_drain(void *arg)
{
    struct worker *w = arg;
    redisReply *reps[WORKER_BATCH_MAX];
    struct sq_err err;
    size_t i, n = w->nsent;

    /* every pending reply first: a call sent again below must not read one */
    for (i = 0; i < n; i++)
        reps[i] = rconn_npending(w->rc) > 0 ? rconn_pending_reply(w->rc, &err) : NULL;
    w->nsent = 0;
    for (i = 0; i < n; i++) {
        struct sent_finish *s = &w->sent[i];

        if (reps[i] != NULL && pipe_log_result(s->id, reps[i], false) < 0) {
            freeReplyObject(reps[i]);
            reps[i] = NULL; /* NOSCRIPT: rconn_script sends the source */
        }
        if (reps[i] == NULL) {
            reps[i] = wredis_script(w, SCRIPT_FINISH, 5, &s->args);
            if (reps[i] == NULL)
                log_write(LOG_LEVEL_ERROR, 0, s->id, "state change not written: redis unreachable");
            else
                pipe_log_result(s->id, reps[i], true);
        }
        freeReplyObject(reps[i]);
        rargv_free(&s->args);
    }
}

void pipe_hold(struct worker *w, redisReply *taken)
{
    size_t i;

    for (i = 0; i < taken->elements && w->nheld < WORKER_BATCH_MAX; i++) {
        w->held[w->nheld++] = taken->element[i];
        taken->element[i] = NULL; /* detached: freeReplyObject skips NULL */
    }
}
