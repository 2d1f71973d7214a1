/* Unit tests for the pure helpers of shared/sentinel: replies of SENTINEL
 * get-master-addr-by-name, SENTINEL REPLICAS and ROLE built by hand (as hiredis would hand them
 * over), the failover errors in nested replies, and the promotion of the sentinel that
 * answered. No network: sentinel_connect is covered by the e2e suites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sentinel.h"

/* A reply as hiredis builds it, pointing at caller storage. */
static redisReply str_reply(int type, const char *s)
{
    redisReply r;

    memset(&r, 0, sizeof(r));
    r.type = type;
    r.str = (char *)(uintptr_t)s;
    r.len = strlen(s);
    return r;
}

static redisReply array_reply(redisReply **elems, size_t n)
{
    redisReply r;

    memset(&r, 0, sizeof(r));
    r.type = REDIS_REPLY_ARRAY;
    r.element = elems;
    r.elements = n;
    return r;
}

/* Parses a two-string array (host, port) reply. */
static int parse_pair(const char *h, const char *p, char *host, size_t cap, int *port)
{
    redisReply eh = str_reply(REDIS_REPLY_STRING, h), ep = str_reply(REDIS_REPLY_STRING, p);
    redisReply *el[] = {&eh, &ep};
    redisReply r = array_reply(el, 2);

    return sentinel_parse_master_addr(&r, host, cap, port);
}

static void test_master_addr_ok(void **state)
{
    char host[256];
    int port = 0;

    (void)state;
    assert_int_equal(parse_pair("127.0.0.1", "6380", host, sizeof(host), &port), 1);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6380);

    assert_int_equal(parse_pair("::1", "65535", host, sizeof(host), &port), 1);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 65535);

    /* a host that just fits: cap - 1 bytes */
    assert_int_equal(parse_pair("abcdefg", "1", host, 8, &port), 1);
    assert_string_equal(host, "abcdefg");
    assert_int_equal(port, 1);
}

static void test_master_addr_unknown(void **state)
{
    redisReply nil;
    char host[16] = "untouched";
    int port = 7;

    (void)state;
    memset(&nil, 0, sizeof(nil));
    nil.type = REDIS_REPLY_NIL;
    assert_int_equal(sentinel_parse_master_addr(&nil, host, sizeof(host), &port), 0);
    assert_string_equal(host, "untouched");
    assert_int_equal(port, 7);
}

static void test_master_addr_bad(void **state)
{
    char host[8] = "same";
    int port = 7;
    redisReply err = str_reply(REDIS_REPLY_ERROR, "ERR unknown command 'SENTINEL'");
    redisReply st = str_reply(REDIS_REPLY_STATUS, "OK");
    redisReply one = str_reply(REDIS_REPLY_STRING, "127.0.0.1");
    redisReply in;
    redisReply *el1[] = {&one};
    redisReply *el3[] = {&one, &one, &one};
    redisReply *elint[] = {&one, &in};
    redisReply *elnull[] = {&one, NULL};
    redisReply a1 = array_reply(el1, 1), a3 = array_reply(el3, 3), aint = array_reply(elint, 2);
    redisReply anull = array_reply(elnull, 2);
    char nulhost[] = "a\0b";
    redisReply hn = str_reply(REDIS_REPLY_STRING, "x"), pn = str_reply(REDIS_REPLY_STRING, "1");
    redisReply *elnul[] = {&hn, &pn};
    redisReply anul = array_reply(elnul, 2);

    (void)state;
    memset(&in, 0, sizeof(in));
    in.type = REDIS_REPLY_INTEGER;
    in.integer = 6379;
    assert_int_equal(sentinel_parse_master_addr(NULL, host, sizeof(host), &port), -1);
    assert_int_equal(sentinel_parse_master_addr(&err, host, sizeof(host), &port), -1);
    assert_int_equal(sentinel_parse_master_addr(&st, host, sizeof(host), &port), -1);
    assert_int_equal(sentinel_parse_master_addr(&a1, host, sizeof(host), &port), -1);
    assert_int_equal(sentinel_parse_master_addr(&a3, host, sizeof(host), &port), -1);
    assert_int_equal(sentinel_parse_master_addr(&aint, host, sizeof(host), &port), -1);
    assert_int_equal(sentinel_parse_master_addr(&anull, host, sizeof(host), &port), -1);
    hn.str = nulhost; /* a NUL inside the host */
    hn.len = 3;
    assert_int_equal(sentinel_parse_master_addr(&anul, host, sizeof(host), &port), -1);
    /* ports out of range or not numbers */
    assert_int_equal(parse_pair("h", "0", host, sizeof(host), &port), -1);
    assert_int_equal(parse_pair("h", "65536", host, sizeof(host), &port), -1);
    assert_int_equal(parse_pair("h", "-1", host, sizeof(host), &port), -1);
    assert_int_equal(parse_pair("h", "63 79", host, sizeof(host), &port), -1);
    assert_int_equal(parse_pair("h", "", host, sizeof(host), &port), -1);
    assert_int_equal(parse_pair("h", "123456789", host, sizeof(host), &port), -1);
    /* empty host; a host that does not fit (cap 8 holds 7 bytes) */
    assert_int_equal(parse_pair("", "6379", host, sizeof(host), &port), -1);
    assert_int_equal(parse_pair("abcdefgh", "6379", host, sizeof(host), &port), -1);
    /* nothing written on a refusal */
    assert_string_equal(host, "same");
    assert_int_equal(port, 7);
}

static void test_role(void **state)
{
    redisReply m = str_reply(REDIS_REPLY_STRING, "master");
    redisReply s = str_reply(REDIS_REPLY_STRING, "slave");
    redisReply sn = str_reply(REDIS_REPLY_STRING, "sentinel");
    redisReply mx = str_reply(REDIS_REPLY_STRING, "masterx");
    redisReply off, err = str_reply(REDIS_REPLY_ERROR, "NOAUTH Authentication required.");
    redisReply *em[] = {&m, &off}, *es[] = {&s}, *esn[] = {&sn}, *emx[] = {&mx}, *eoff[] = {&off};
    redisReply rm = array_reply(em, 2), rs = array_reply(es, 1), rsn = array_reply(esn, 1);
    redisReply rmx = array_reply(emx, 1), roff = array_reply(eoff, 1),
               rempty = array_reply(NULL, 0);

    (void)state;
    memset(&off, 0, sizeof(off));
    off.type = REDIS_REPLY_INTEGER;
    off.integer = 1234;
    assert_int_equal(sentinel_parse_role(&rm), 1);
    assert_int_equal(sentinel_parse_role(&rs), 0);
    assert_int_equal(sentinel_parse_role(&rsn), 0);
    assert_int_equal(sentinel_parse_role(&rmx), 0);
    assert_int_equal(sentinel_parse_role(&roff), -1);
    assert_int_equal(sentinel_parse_role(&rempty), -1);
    assert_int_equal(sentinel_parse_role(&err), -1);
    assert_int_equal(sentinel_parse_role(&m), -1); /* a bare string, not an array */
    assert_int_equal(sentinel_parse_role(NULL), -1);
}

static void test_reply_is_failover(void **state)
{
    redisReply ro = str_reply(REDIS_REPLY_ERROR, "READONLY You can't write against a read only "
                                                 "replica.");
    redisReply unb = str_reply(REDIS_REPLY_ERROR, "UNBLOCKED force unblock");
    redisReply other = str_reply(REDIS_REPLY_ERROR, "ERR wrong number of arguments");
    redisReply ok = str_reply(REDIS_REPLY_STATUS, "OK");
    redisReply s = str_reply(REDIS_REPLY_STRING, "READONLY"); /* data, not an error */
    redisReply *exec_ok[] = {&ok, &s}, *exec_ro[] = {&ok, &ro}, *exec_other[] = {&ok, &other};
    redisReply aok = array_reply(exec_ok, 2), aro = array_reply(exec_ro, 2);
    redisReply aother = array_reply(exec_other, 2);
    redisReply *nested[] = {&aok, &aro}, *nested_ok[] = {&aok, NULL};
    redisReply deep = array_reply(nested, 2), deep_ok = array_reply(nested_ok, 2);

    (void)state;
    assert_true(sentinel_reply_is_failover(&ro));  /* a direct or script reply */
    assert_true(sentinel_reply_is_failover(&unb)); /* a blocked BLMOVE on a demoted master */
    assert_true(sentinel_reply_is_failover(&aro)); /* an EXEC element */
    assert_true(sentinel_reply_is_failover(&deep));
    assert_false(sentinel_reply_is_failover(&other));
    assert_false(sentinel_reply_is_failover(&ok));
    assert_false(sentinel_reply_is_failover(&s));
    assert_false(sentinel_reply_is_failover(&aok));
    assert_false(sentinel_reply_is_failover(&aother));
    assert_false(sentinel_reply_is_failover(&deep_ok)); /* a NULL element is skipped */
    assert_false(sentinel_reply_is_failover(NULL));
}

static void make_url(struct redis_url *u, int n)
{
    int i;

    memset(u, 0, sizeof(*u));
    u->kind = REDIS_URL_SENTINEL;
    u->nsentinels = n;
    for (i = 0; i < n; i++) {
        snprintf(u->sentinels[i].host, sizeof(u->sentinels[i].host), "s%d", i);
        u->sentinels[i].port = 26379 + i;
    }
}

static void expect_order(const struct redis_url *u, const char *want)
{
    char got[64] = "";
    size_t len = 0;
    int i;

    for (i = 0; i < u->nsentinels; i++) {
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", i ? "," : "",
                                u->sentinels[i].host);
        /* the port moves with its host */
        assert_int_equal(u->sentinels[i].port, 26379 + (u->sentinels[i].host[1] - '0'));
    }
    assert_string_equal(got, want);
}

static void test_promote(void **state)
{
    struct redis_url u;

    (void)state;
    make_url(&u, 4);
    sentinel_promote(&u, 2);
    expect_order(&u, "s2,s0,s1,s3");
    sentinel_promote(&u, 3);
    expect_order(&u, "s3,s2,s0,s1");
    sentinel_promote(&u, 0); /* already first */
    expect_order(&u, "s3,s2,s0,s1");
    sentinel_promote(&u, 1);
    expect_order(&u, "s2,s3,s0,s1");
    sentinel_promote(&u, 4); /* out of range: unchanged */
    sentinel_promote(&u, -1);
    expect_order(&u, "s2,s3,s0,s1");
    make_url(&u, 1);
    sentinel_promote(&u, 0);
    expect_order(&u, "s0");
}

static void test_status_text(void **state)
{
    (void)state;
    assert_string_equal(sentinel_status_text(SENTINEL_UNREACHABLE), "all sentinels unreachable");
    assert_string_equal(sentinel_status_text(SENTINEL_UNKNOWN_MASTER),
                        "no sentinel knows the master");
    assert_string_not_equal(sentinel_status_text(SENTINEL_NOT_MASTER),
                            sentinel_status_text(SENTINEL_MASTER_DOWN));
    assert_string_equal(sentinel_status_text((enum sentinel_status)99), "unknown sentinel status");
}

/* One replica's entry of SENTINEL REPLICAS (RESP2: a flat field/value
 * array), with the given flags, built in the caller's storage. */
struct replica_entry {
    redisReply f[6];
    redisReply *el[6];
    redisReply r;
};

static redisReply *replica_entry(struct replica_entry *e, const char *flags)
{
    const char *kv[6] = {"name", "127.0.0.1:6380", "flags", flags, "ip", "127.0.0.1"};
    size_t i;

    for (i = 0; i < 6; i++) {
        e->f[i] = str_reply(REDIS_REPLY_STRING, kv[i]);
        e->el[i] = &e->f[i];
    }
    e->r = array_reply(e->el, 6);
    return &e->r;
}

/* SENTINEL REPLICAS with one replica per flags string. */
static int parse_replicas(const char *const *flags, size_t n)
{
    struct replica_entry e[4];
    redisReply *el[4];
    redisReply r;
    size_t i;

    for (i = 0; i < n; i++)
        el[i] = replica_entry(&e[i], flags[i]);
    r = array_reply(el, n);
    return sentinel_parse_healthy_replicas(&r);
}

static void test_healthy_replicas(void **state)
{
    const char *both[] = {"slave", "slave"};
    const char *one_down[] = {"slave", "s_down,slave,disconnected"};
    const char *odown[] = {"o_down,slave", "slave,disconnected", "slave,promoted"};
    const char *lookalike[] = {"slave,s_down_x", "xdisconnected"};

    (void)state;
    assert_int_equal(parse_replicas(both, 2), 2);
    assert_int_equal(parse_replicas(one_down, 2), 1);
    assert_int_equal(parse_replicas(odown, 3), 1);
    assert_int_equal(parse_replicas(lookalike, 2), 2); /* whole words only */
    assert_int_equal(parse_replicas(NULL, 0), 0);      /* no replica */
}

static void test_healthy_replicas_bad(void **state)
{
    struct replica_entry e;
    redisReply err = str_reply(REDIS_REPLY_ERROR, "ERR No such master with that name");
    redisReply num, *el[1];
    redisReply r;

    (void)state;
    assert_int_equal(sentinel_parse_healthy_replicas(NULL), -1);
    assert_int_equal(sentinel_parse_healthy_replicas(&err), -1);
    memset(&num, 0, sizeof(num));
    num.type = REDIS_REPLY_INTEGER;
    el[0] = &num; /* an entry that is not an array */
    r = array_reply(el, 1);
    assert_int_equal(sentinel_parse_healthy_replicas(&r), -1);
    el[0] = replica_entry(&e, "slave");
    e.r.elements = 5; /* odd: a field without its value */
    assert_int_equal(sentinel_parse_healthy_replicas(&r), -1);
    e.r.elements = 2; /* no flags field */
    assert_int_equal(sentinel_parse_healthy_replicas(&r), -1);
    e.r.elements = 6;
    e.el[3] = &num; /* flags not a string */
    assert_int_equal(sentinel_parse_healthy_replicas(&r), -1);
}

static void test_wait_count(void **state)
{
    (void)state;
    assert_int_equal(sentinel_wait_count(0, 2), 0);  /* no WAIT stays none */
    assert_int_equal(sentinel_wait_count(1, -1), 1); /* not counted yet */
    assert_int_equal(sentinel_wait_count(1, 0), 1);
    assert_int_equal(sentinel_wait_count(1, 2), 2); /* every healthy replica */
    assert_int_equal(sentinel_wait_count(3, 2), 3); /* never below N */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_master_addr_ok),       cmocka_unit_test(test_master_addr_unknown),
        cmocka_unit_test(test_master_addr_bad),      cmocka_unit_test(test_role),
        cmocka_unit_test(test_reply_is_failover),    cmocka_unit_test(test_promote),
        cmocka_unit_test(test_status_text),          cmocka_unit_test(test_healthy_replicas),
        cmocka_unit_test(test_healthy_replicas_bad), cmocka_unit_test(test_wait_count),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
