/* err: a small error record filled by library functions that need to say
 * why: a code callers decide on, beside a message people read (hiredis'
 * err and errstr). Never prints, never exits. */
#ifndef STAGEQ_ERR_H
#define STAGEQ_ERR_H

#include <stdbool.h>
#include <stddef.h>

#define ERR_MSG_LEN 256

/* What kind of failure: the decision a caller makes from it. */
enum sq_err_code {
    SQ_ERR_OK = 0,    /* no error recorded */
    SQ_ERR_INVALID,   /* bad input, option, URL or file: fix it, trying again is no use */
    SQ_ERR_NOMEM,     /* out of memory */
    SQ_ERR_IO,        /* connect failed, connection lost, timeout, name not resolved */
    SQ_ERR_TRANSIENT, /* Redis answered but cannot serve now (LOADING, BUSY, a failover):
                         retried like an outage, never taken as the answer */
    SQ_ERR_REDIS,     /* any other error reply: Redis's answer */
};

struct sq_err {
    enum sq_err_code code;
    char msg[ERR_MSG_LEN];
};

/* Sets err's code and formats its message (NULL err is allowed and ignored). */
void err_set(struct sq_err *err, enum sq_err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The code of a Redis error reply, from its text ("WORD message", len
 * bytes): SQ_ERR_TRANSIENT for the errors that mean "not now" (the master
 * moved: err_reply_is_failover; or BUSY, TRYAGAIN, CLUSTERDOWN), else
 * SQ_ERR_REDIS. The first word is compared whole ("BUSYKEY" is an answer). */
enum sq_err_code err_reply_code(const char *str, size_t len);

/* True for the transient errors after which a connection is dropped and the
 * master found again: a demoted master (READONLY, UNBLOCKED), a replica still
 * loading its data (LOADING), a replica cut from its master (MASTERDOWN), a
 * master that lost its replicas (NOREPLICAS, min-replicas-to-write). */
bool err_reply_is_failover(const char *str, size_t len);

#endif
