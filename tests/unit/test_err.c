/* Unit tests for shared/err: err_set fills the code and the bounded
 * message; err_reply_code classifies Redis error replies (the texts Redis
 * 7.0 sends) into "not now" and "an answer", and err_reply_is_failover
 * picks those after which the master is found again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void test_err_set(void **state)
{
    struct sq_err e;
    char big[2 * ERR_MSG_LEN];

    (void)state;
    memset(&e, 0, sizeof(e));
    err_set(&e, SQ_ERR_IO, "redis: %s during %s", "Connection reset by peer", "WAIT");
    assert_int_equal(e.code, SQ_ERR_IO);
    assert_string_equal(e.msg, "redis: Connection reset by peer during WAIT");
    /* a later error replaces both */
    err_set(&e, SQ_ERR_INVALID, "bad %d", 7);
    assert_int_equal(e.code, SQ_ERR_INVALID);
    assert_string_equal(e.msg, "bad 7");
    /* cut to the buffer, NUL-terminated */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&e, SQ_ERR_NOMEM, "%s", big);
    assert_int_equal(e.code, SQ_ERR_NOMEM);
    assert_int_equal(strlen(e.msg), ERR_MSG_LEN - 1);
    err_set(NULL, SQ_ERR_IO, "ignored"); /* allowed */
}

static void test_reply_code(void **state)
{
    static const char *const transient[] = {
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        "READONLY You can't write against a read only replica.",
        "UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
        "replica?)",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "NOREPLICAS Not enough good replicas to write.",
        "BUSY",
    };
    static const char *const answer[] = {
        "ERR unknown command 'FOO'",
        "NOSCRIPT No matching script. Please use EVAL.",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "BUSYKEY Target key name already exists.", /* not BUSY */
        "BUSYGROUP Consumer Group name already exists",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "ERR Error running script (call to f_1234): @user_script:1: user_script:1: LOADING",
        "loading lower case",
        " LOADING",
        "",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (err_reply_code(transient[i], strlen(transient[i])) != SQ_ERR_TRANSIENT)
            fail_msg("'%s' is transient", transient[i]);
    for (i = 0; i < sizeof(answer) / sizeof(answer[0]); i++)
        if (err_reply_code(answer[i], strlen(answer[i])) != SQ_ERR_REDIS)
            fail_msg("'%s' is an answer", answer[i]);
    /* the length bounds the text: a prefix is not the word */
    assert_int_equal(err_reply_code("BUSYKEY", 4), SQ_ERR_TRANSIENT);
    assert_int_equal(err_reply_code("LOADING", 4), SQ_ERR_REDIS);
    assert_int_equal(err_reply_code(NULL, 0), SQ_ERR_REDIS);
}

static void test_failover_errors(void **state)
{
    static const char *const yes[] = {
        "READONLY You can't write against a read only replica.",
        "READONLY You can't write against a read only replica. script: 1234, on "
        "@user_script:3.",
        "UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
        "replica?)",
        "LOADING Redis is loading the dataset in memory",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "NOREPLICAS Not enough good replicas to write.",
        "READONLY",
    };
    static const char *const no[] = {
        "NOSCRIPT No matching script. Please use EVAL.",
        "ERR unknown command",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "BUSY Redis is busy running a script.", /* transient, but the master did not move */
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        "READONLYX x",
        "READ ONLY",
        "readonly You can't write",
        "",
        "NOREPLICA",
        " READONLY",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!err_reply_is_failover(yes[i], strlen(yes[i])))
            fail_msg("'%s' is a failover error", yes[i]);
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (err_reply_is_failover(no[i], strlen(no[i])))
            fail_msg("'%s' is not a failover error", no[i]);
    assert_false(err_reply_is_failover("READONLY", 4));
    assert_true(err_reply_is_failover("LOADING...", 7));
    assert_false(err_reply_is_failover(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_reply_code),
        cmocka_unit_test(test_failover_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
