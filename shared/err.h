/* err: a small error record filled by library functions that need to say why. */
#ifndef STAGEQ_ERR_H
#define STAGEQ_ERR_H

#define ERR_MSG_LEN 256

struct sq_err {
    char msg[ERR_MSG_LEN];
};

/* Formats a message into err (NULL err is allowed and ignored). */
void err_set(struct sq_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
