/* pipe: a worker draining a backlog of fast jobs takes them in batches
 * (finish.lua's take), holds the jobs it has not begun, and sends each job's
 * end the moment it is known without waiting for the reply; once half of a
 * batch is done, the end it sends takes the next batch, so the replies are
 * there by the time the held jobs run out. They are read then, or before any
 * call that waits (rconn's drain hook). A reply lost with the connection is a
 * write of unknown fate: the end is sent again, waiting, fenced like every end,
 * so it is recorded once; the jobs its take may have moved onto our processing
 * list are put back unstarted (recover_own) once the worker holds none. With
 * STAGEQ_MIN_REPLICAS every pending reply is read at once and one WAIT covers
 * all the ends they wrote; those it does not confirm are written again
 * (wredis_end) until they are. */
#include <string.h>

#include "log.h"
#include "worker.h"

int pipe_send_finish(struct worker *w, const char *id, struct rargv *args, int take)
{
    struct sq_err err;
    struct sent_finish *s;

    if (strlen(id) > IDS_MAX_LEN)
        return -1;
    if (w->nsent >= WORKER_SENT_MAX)
        pipe_drain(w); /* answered by now, most of them */
    if (rconn_script_send(w->rc, SCRIPT_FINISH, FINISH_NKEYS, args, &err) < 0) {
        log_write(LOG_LEVEL_WARN, 0, id, "%s; writing its end again", err.msg);
        pipe_drain(w); /* the ends sent before went with the connection */
        return -1;
    }
    s = &w->sent[w->nsent++];
    s->args = *args; /* moved */
    rargv_init(args);
    strcpy(s->id, id);
    s->take = take;
    if (take > 0)
        w->is_take_sent = true;
    return 0;
}

/* Logs the outcome of an end sent by pipe_send_finish (res: the first
 * element of finish.lua's reply, or an error). Returns 0, or -1 for an error
 * reply, which is sent again waiting: NOSCRIPT (nothing ran), a transient one
 * (BUSY, LOADING, ...: wredis retries it) or any other (logged there). */
static int pipe_log_result(const char *id, const redisReply *res, bool is_again)
{
    if (res->type == REDIS_REPLY_STRING || res->type == REDIS_REPLY_STATUS) {
        /* sent again after a lost reply: the first one may have written it */
        if (strcmp(res->str, "ok") == 0 || (is_again && strcmp(res->str, "succeeded") == 0))
            log_write(LOG_LEVEL_INFO, 0, id, "succeeded");
        else
            log_write(LOG_LEVEL_INFO, 0, id, "end not recorded: job is %s", res->str);
        return 0;
    }
    if (res->type == REDIS_REPLY_ERROR && !is_again)
        return -1;
    log_write(LOG_LEVEL_ERROR, 0, id, "state change failed: %.*s",
              res->type == REDIS_REPLY_ERROR ? (int)res->len : 0,
              res->type == REDIS_REPLY_ERROR ? res->str : "");
    return 0;
}

/* One end's reply (owned): logged, its takes held. Returns 1 when it wrote
 * the end ('ok'), 0 when it was refused, -1 when it must be sent again. */
static int pipe_answer(struct worker *w, const struct sent_finish *s, redisReply *rep)
{
    const redisReply *res =
        rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 ? rep->element[0] : rep;
    int rc = pipe_log_result(s->id, res, false);

    if (rc == 0 && (res->type == REDIS_REPLY_STRING || res->type == REDIS_REPLY_STATUS) &&
        strcmp(res->str, "ok") == 0)
        rc = 1;
    if (res != rep && s->take > 0 && rep->element[2]->type == REDIS_REPLY_ARRAY)
        pipe_hold(w, rep->element[2], s->take);
    freeReplyObject(rep);
    return rc;
}

/* Reads the replies of the first n ends sent, in order, and drops them from
 * w->sent; the others stay pending — unless the connection was lost, which
 * lost every reply: then all of them are read (sent again). */
static void pipe_read(struct worker *w, size_t n)
{
    redisReply *reps[WORKER_SENT_MAX];
    struct sent_finish done[WORKER_SENT_MAX];
    int answers[WORKER_SENT_MAX];
    struct sq_err err;
    size_t i, total = w->nsent;
    bool is_confirmed = true, has_written = false;

    if (w->cfg->min_replicas > 0)
        n = total; /* one WAIT after the last of them covers them all */
    for (i = 0; i < n; i++)
        if ((reps[i] = rconn_pending_reply(w->rc, &err)) == NULL)
            break;
    if (i < n || (size_t)rconn_npending(w->rc) < total - n) {
        for (; i < total; i++)
            reps[i] = NULL;
        n = total;
    }
    /* off the list before anything is sent again below */
    memcpy(done, w->sent, n * sizeof(done[0]));
    memmove(w->sent, w->sent + n, (total - n) * sizeof(w->sent[0]));
    w->nsent = total - n;
    w->is_take_sent = false;
    for (i = 0; i < w->nsent; i++)
        if (w->sent[i].take > 0)
            w->is_take_sent = true;
    for (i = 0; i < n; i++) {
        answers[i] = reps[i] != NULL ? pipe_answer(w, &done[i], reps[i]) : -1;
        has_written = has_written || answers[i] == 1;
    }
    /* with min_replicas, one WAIT covers every end written: their replies
     * came on this connection, and nothing is pending on it now */
    if (has_written && w->cfg->min_replicas > 0)
        is_confirmed = rconn_wait(w->rc, w->cfg->min_replicas, w->cfg->min_replicas_timeout_ms,
                                  rconn_connects(w->rc), &err) == 1;
    if (!is_confirmed)
        wredis_ask_master(w); /* a stale master is left before the ends are written again */
    for (i = 0; i < n; i++) {
        struct sent_finish *s = &done[i];
        redisReply *rep;

        if (answers[i] == 0 || (answers[i] == 1 && is_confirmed)) {
            rargv_free(&s->args);
            continue;
        }
        if (answers[i] == 1) {
            /* written, not confirmed by the replicas: kept, written again
             * (its takes are held; its stage runs are recorded) */
            log_write(LOG_LEVEL_WARN, 0, s->id, "end not confirmed by %d replica(s): kept",
                      w->cfg->min_replicas);
            rargv_set(&s->args, FINISH_ARG_TAKE, "0");
            rargv_set(&s->args, FINISH_ARG_SPEC, "");
            freeReplyObject(
                wredis_end(w, SCRIPT_FINISH, FINISH_NKEYS, &s->args, s->id, true, NULL));
            rargv_free(&s->args);
            continue;
        }
        /* lost, or an error: again, waiting, taking nothing; whatever a lost
         * take moved onto our list is put back once we hold nothing */
        if (s->take > 0) {
            rargv_set(&s->args, FINISH_ARG_TAKE, "0");
            w->is_take_lost = true;
        }
        rep = wredis_end(w, SCRIPT_FINISH, FINISH_NKEYS, &s->args, s->id, reps[i] == NULL, NULL);
        if (rep == NULL)
            log_write(LOG_LEVEL_ERROR, 0, s->id, "state change not written: redis unreachable");
        else
            pipe_log_result(
                s->id, rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 ? rep->element[0] : rep,
                true);
        freeReplyObject(rep);
        rargv_free(&s->args);
    }
}

void pipe_drain(void *arg)
{
    struct worker *w = arg;

    pipe_read(w, w->nsent);
}

void pipe_collect(struct worker *w)
{
    size_t i;

    for (i = 0; i < w->nsent; i++)
        if (w->sent[i].take > 0) {
            pipe_read(w, i + 1);
            return;
        }
}

void pipe_hold(struct worker *w, redisReply *taken, int take)
{
    size_t i;

    if (taken->elements < (size_t)take)
        w->is_queue_empty = true; /* wait in BLMOVE once these are done */
    for (i = 0; i < taken->elements && w->nheld < WORKER_HELD_MAX; i++) {
        w->held[w->nheld++] = taken->element[i];
        taken->element[i] = NULL; /* detached: freeReplyObject skips NULL */
    }
    if (i < taken->elements) /* never (a take fits): put back once we hold none */
        w->is_take_lost = true;
}
