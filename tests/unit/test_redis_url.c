/* Unit tests for shared/redis_url: the accepted URL forms (plain, unix,
 * redis-sentinel and redis-cluster), every rejected form we know of, and that
 * redis_url_describe never shows a password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "redis_url.h"

static void parse_ok(const char *text, struct redis_url *u)
{
    struct sq_err err;

    memset(&err, 0, sizeof(err));
    if (redis_url_parse(text, u, &err) != 0)
        fail_msg("'%s' was refused: %s", text, err.msg);
}

/* Parses text, expects a refusal whose message contains want. */
static void parse_bad(const char *text, const char *want)
{
    struct redis_url u;
    struct sq_err err;

    memset(&err, 0, sizeof(err));
    if (redis_url_parse(text, &u, &err) != -1)
        fail_msg("'%s' was accepted", text);
    if (strstr(err.msg, want) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, want);
}

/* Parses text into u (it must be accepted), describes it into buf[cap] and
 * expects want. */
static void describe_is(const char *text, const char *want, struct redis_url *u, char *buf,
                        size_t cap)
{
    parse_ok(text, u);
    redis_url_describe(u, buf, cap);
    assert_string_equal(buf, want);
}

static void test_host_only(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis://localhost", &u);
    assert_int_equal(u.kind, REDIS_URL_TCP);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "");
    assert_string_equal(u.path, "");

    parse_ok("redis://10.0.0.7/", &u); /* empty db after the slash = 0 */
    assert_string_equal(u.host, "10.0.0.7");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
}

static void test_host_port(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis://cache.internal:7000", &u);
    assert_int_equal(u.kind, REDIS_URL_TCP);
    assert_string_equal(u.host, "cache.internal");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 0);

    parse_ok("redis://h:1", &u);
    assert_int_equal(u.port, 1);
    parse_ok("redis://h:65535/15", &u);
    assert_int_equal(u.port, 65535);
    assert_int_equal(u.db, 15);
}

static void test_password_port_db(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis://:s3cret@redis.example:6380/2", &u);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.host, "redis.example");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
}

static void test_user_password_db(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis://alice:pw@host/3", &u);
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.host, "host");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 3);
}

static void test_password_only(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis://hunter2@host", &u);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "hunter2");
    assert_string_equal(u.host, "host");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
}

static void test_percent_escapes(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis://bob:p%40ss%3Aw%2fd%25@host:6390/1", &u);
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "p@ss:w/d%");
    assert_string_equal(u.host, "host");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 1);

    parse_ok("redis://us%65r:%40@h", &u); /* escapes in the user too */
    assert_string_equal(u.user, "user");
    assert_string_equal(u.password, "@");
}

static void test_ipv6(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis://[::1]:6379/1", &u);
    assert_int_equal(u.kind, REDIS_URL_TCP);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 1);

    parse_ok("redis://:pw@[fe80::1:2]", &u);
    assert_string_equal(u.host, "fe80::1:2");
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);

    parse_bad("redis://[::1", "unterminated IPv6");
    parse_bad("redis://[]:6379", "unterminated IPv6");
    parse_bad("redis://[::1]x", "bad or missing host");
}

static void test_unix(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("unix:///tmp/r.sock", &u);
    assert_int_equal(u.kind, REDIS_URL_UNIX);
    assert_string_equal(u.path, "/tmp/r.sock");
    assert_int_equal(u.db, 0);
    assert_string_equal(u.host, "");

    parse_ok("unix:///tmp/r.sock?db=4", &u);
    assert_int_equal(u.kind, REDIS_URL_UNIX);
    assert_string_equal(u.path, "/tmp/r.sock");
    assert_int_equal(u.db, 4);
}

static void test_errors(void **state)
{
    (void)state;
    parse_bad("http://x",
              "must start with redis://, redis-sentinel://, redis-cluster:// or unix://");
    parse_bad("", "must start with redis://, redis-sentinel://, redis-cluster:// or unix://");
    parse_bad("REDIS://host",
              "must start with redis://, redis-sentinel://, redis-cluster:// or unix://");
    parse_bad("redis://", "bad or missing host");
    parse_bad("redis://:6379", "bad or missing host");
    parse_bad("redis://:pw@", "bad or missing host");
    parse_bad("redis:///3", "bad or missing host");
    parse_bad("redis://host:0", "port 0 is out of range [1, 65535]");
    parse_bad("redis://host:65536", "port 65536 is out of range [1, 65535]");
    parse_bad("redis://host:abc", "port 'abc' is not an integer");
    parse_bad("redis://host:", "bad port");
    parse_bad("redis://host:/1", "bad port");
    parse_bad("redis://host:123456789", "bad port");
    parse_bad("redis://host/abc", "database 'abc' is not an integer");
    parse_bad("redis://host/-1", "database -1 is out of range");
    parse_bad("redis://host/1/2", "database '1/2' is not an integer");
    parse_bad("unix://relative", "absolute socket path");
    parse_bad("unix://", "absolute socket path");
    parse_bad("unix://?db=1", "absolute socket path");
    parse_bad("unix:///x?foo=1", "only ?db=N");
    parse_bad("unix:///x?db=", "database is empty");
    parse_bad("unix:///x?db=a", "database 'a' is not an integer");
}

static void test_bad_escapes(void **state)
{
    (void)state;
    parse_bad("redis://:p%4@host", "bad user or password");  /* one hex digit, then '@' */
    parse_bad("redis://:p%@host", "bad user or password");   /* '%' at the end */
    parse_bad("redis://:p%zz@host", "bad user or password"); /* not hex */
    parse_bad("redis://:p%4g@host", "bad user or password");
    parse_bad("redis://:a%00b@host", "bad user or password"); /* NUL */
    parse_bad("redis://u%00:pw@host", "bad user or password");
    parse_bad("redis://pw%00@host", "bad user or password");
}

/* prefix, a run of bytes c, suffix: accepted (u filled) with fit bytes,
 * refused with want with fit + 1. */
static void check_limit(const char *prefix, char c, size_t fit, const char *suffix,
                        const char *want, struct redis_url *u)
{
    char text[900], run[300];

    assert_true(fit + 1 < sizeof(run));
    memset(run, c, fit + 1);
    run[fit] = '\0';
    snprintf(text, sizeof(text), "%s%s%s", prefix, run, suffix);
    parse_ok(text, u);
    run[fit] = c;
    run[fit + 1] = '\0';
    snprintf(text, sizeof(text), "%s%s%s", prefix, run, suffix);
    parse_bad(text, want);
}

static void test_too_long(void **state)
{
    struct redis_url u;

    (void)state;
    /* host: 255 bytes fit, 256 do not */
    check_limit("redis://", 'h', 255, ":6379", "bad or missing host", &u);
    assert_int_equal(strlen(u.host), 255);
    check_limit("redis://[", 'h', 255, "]:6379", "bad or missing host", &u);
    /* password: 255 bytes fit, 256 do not */
    check_limit("redis://:", 'p', 255, "@h", "bad user or password", &u);
    assert_int_equal(strlen(u.password), 255);
    /* unix path: 107 bytes fit, 108 do not */
    check_limit("unix:///", 'x', 106, "", "absolute socket path", &u);
    assert_int_equal(strlen(u.path), 107);
}

static void test_describe(void **state)
{
    struct redis_url u;
    char buf[512];

    (void)state;
    describe_is("redis://alice:topsecret@host:6380/2", "redis://***@host:6380/2", &u, buf,
                sizeof(buf));
    assert_null(strstr(buf, "topsecret"));

    describe_is("redis://host", "redis://host:6379/0", &u, buf, sizeof(buf));

    describe_is("redis://:pw@[::1]:7000/1", "redis://***@[::1]:7000/1", &u, buf, sizeof(buf));

    describe_is("unix:///tmp/r.sock?db=4", "unix:///tmp/r.sock?db=4", &u, buf, sizeof(buf));

    /* a short buffer is truncated, never overrun */
    parse_ok("redis://:pw@host", &u);
    memset(buf, 'Z', sizeof(buf));
    redis_url_describe(&u, buf, 8);
    assert_string_equal(buf, "redis:/");
    assert_int_equal(buf[8], 'Z');
}

static void test_sentinel_basic(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis-sentinel://10.0.0.1:26380,sentinel-b,[::1]:5000/2#mymaster", &u);
    assert_int_equal(u.kind, REDIS_URL_SENTINEL);
    assert_int_equal(u.nsentinels, 3);
    assert_string_equal(u.sentinels[0].host, "10.0.0.1");
    assert_int_equal(u.sentinels[0].port, 26380);
    assert_string_equal(u.sentinels[1].host, "sentinel-b");
    assert_int_equal(u.sentinels[1].port, 26379); /* the default sentinel port */
    assert_string_equal(u.sentinels[2].host, "::1");
    assert_int_equal(u.sentinels[2].port, 5000);
    assert_int_equal(u.db, 2);
    assert_string_equal(u.master_name, "mymaster");
    assert_string_equal(u.password, "");
    assert_string_equal(u.user, "");
    assert_string_equal(u.sentinel_password, "");
    assert_string_equal(u.sentinel_user, "");
    assert_string_equal(u.host, ""); /* the master is discovered, never given */

    parse_ok("redis-sentinel://s1#m", &u); /* one sentinel, db 0 */
    assert_int_equal(u.nsentinels, 1);
    assert_string_equal(u.sentinels[0].host, "s1");
    assert_int_equal(u.sentinels[0].port, 26379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.master_name, "m");

    parse_ok("redis-sentinel://[fe80::1]/#m", &u); /* empty db after the slash = 0 */
    assert_string_equal(u.sentinels[0].host, "fe80::1");
    assert_int_equal(u.sentinels[0].port, 26379);
    assert_int_equal(u.db, 0);
}

static void test_sentinel_credentials(void **state)
{
    struct redis_url u;

    (void)state;
    /* the userinfo is the data nodes'; the sentinels' own come in the query */
    parse_ok("redis-sentinel://:data%23pw@h1,h2:26381/1?sentinel_password=s%26p#mymaster", &u);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "data#pw");
    assert_string_equal(u.sentinel_password, "s&p");
    assert_string_equal(u.sentinel_user, "");
    assert_int_equal(u.nsentinels, 2);
    assert_int_equal(u.db, 1);
    assert_string_equal(u.master_name, "mymaster");

    parse_ok("redis-sentinel://app:p@ss@h1?sentinel_user=sent&sentinel_password=x#m%20one", &u);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "p@ss"); /* a raw '@' stays in the password */
    assert_string_equal(u.sentinel_user, "sent");
    assert_string_equal(u.sentinel_password, "x");
    assert_string_equal(u.master_name, "m one");
    assert_int_equal(u.db, 0);

    parse_ok("redis-sentinel://pw@h1?#m", &u); /* password only; empty query */
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.user, "");
    assert_string_equal(u.sentinels[0].host, "h1");
}

/* scheme, then max nodes h0:port0 .. h<max-1>:port0+max-1, then tail: accepted
 * (u filled); with one node more refused with want. */
static void check_max_nodes(const char *scheme, int max, int port0, const char *tail,
                            const char *want, struct redis_url *u)
{
    char text[600];
    size_t len = 0;
    int i;

    len += (size_t)snprintf(text, sizeof(text), "%s", scheme);
    for (i = 0; i < max; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%sh%d:%d", i ? "," : "", i,
                                port0 + i);
    snprintf(text + len, sizeof(text) - len, "%s", tail);
    parse_ok(text, u);
    snprintf(text + len, sizeof(text) - len, ",one-more%s", tail);
    parse_bad(text, want);
}

static void test_sentinel_max(void **state)
{
    struct redis_url u;

    (void)state;
    check_max_nodes("redis-sentinel://", REDIS_URL_SENTINELS_MAX, 20000, "#m",
                    "more than 16 sentinels", &u);
    assert_int_equal(u.nsentinels, REDIS_URL_SENTINELS_MAX);
    assert_string_equal(u.sentinels[REDIS_URL_SENTINELS_MAX - 1].host, "h15");
    assert_int_equal(u.sentinels[REDIS_URL_SENTINELS_MAX - 1].port, 20015);
}

static void test_sentinel_errors(void **state)
{
    struct redis_url u;
    struct sq_err err;

    (void)state;
    /* a misspelt parameter is named, its value (maybe a password) never shown */
    assert_int_equal(redis_url_parse("redis-sentinel://h?sentinel_pasword=hidden#m", &u, &err), -1);
    assert_null(strstr(err.msg, "hidden"));
    parse_bad("redis-sentinel://h1,h2/0", "master name is missing");
    parse_bad("redis-sentinel://h1#", "master name is missing");
    parse_bad("redis-sentinel://h1/0?sentinel_password=x", "master name is missing");
    parse_bad("redis-sentinel://#m", "sentinel 1: bad or missing host");
    parse_bad("redis-sentinel://", "sentinel 1: bad or missing host");
    parse_bad("redis-sentinel://h1,#m", "sentinel 2: bad or missing host");
    parse_bad("redis-sentinel://h1,,h3#m", "sentinel 2: bad or missing host");
    parse_bad("redis-sentinel://h1,:26379#m", "sentinel 2: bad or missing host");
    parse_bad("redis-sentinel://h1,h2:0#m", "sentinel 2: port 0 is out of range [1, 65535]");
    parse_bad("redis-sentinel://h1:x#m", "sentinel 1: port 'x' is not an integer");
    parse_bad("redis-sentinel://h1:#m", "sentinel 1: bad port");
    parse_bad("redis-sentinel://h1,[::1#m", "sentinel 2: unterminated IPv6 address");
    parse_bad("redis-sentinel://[::1]x#m", "sentinel 1: bad or missing host");
    parse_bad("redis-sentinel://h1/x#m", "database 'x' is not an integer");
    parse_bad("redis-sentinel://h1/100001#m", "database 100001 is out of range");
    parse_bad("redis-sentinel://h1/123456789012345678901234567890123#m", "is not an integer");
    parse_bad("redis-sentinel://h1?password=x#m", "unknown parameter 'password' (known");
    parse_bad("redis-sentinel://h1?sentinel_pasword=hidden#m", "'sentinel_pasword' (known");
    parse_bad("redis-sentinel://h1?sentinel_password#m", "unknown parameter 'sentinel_password'");
    parse_bad("redis-sentinel://h1?&#m", "unknown parameter ''");
    parse_bad("redis-sentinel://h1?sentinel_password=%zz#m", "bad sentinel_password");
    parse_bad("redis-sentinel://h1?sentinel_user=a%00b#m", "bad sentinel_user");
    parse_bad("redis-sentinel://:p%4@h1#m", "bad user or password");
    parse_bad("redis-sentinel://h1#m%00", "bad master name");
    parse_bad("redis-sentinel://h1#m%", "bad master name");
    parse_bad("REDIS-SENTINEL://h1#m",
              "must start with redis://, redis-sentinel://, redis-cluster:// or unix://");
    parse_bad("redis-sentinel:/h1#m", "must start with");
}

static void test_sentinel_too_long(void **state)
{
    struct redis_url u;

    (void)state;
    /* master name: 127 bytes fit, 128 do not */
    check_limit("redis-sentinel://h#", 'n', 127, "", "bad master name", &u);
    assert_int_equal(strlen(u.master_name), 127);
    /* a sentinel host: 255 bytes fit, 256 do not */
    check_limit("redis-sentinel://a,", 'h', 255, ":1#m", "sentinel 2: bad or missing host", &u);
    assert_int_equal(strlen(u.sentinels[1].host), 255);
    /* the sentinel password: 255 bytes fit, 256 do not */
    check_limit("redis-sentinel://h?sentinel_password=", 'p', 255, "#m", "bad sentinel_password",
                &u);
    assert_int_equal(strlen(u.sentinel_password), 255);
}

static void test_sentinel_describe(void **state)
{
    struct redis_url u;
    char buf[512];

    (void)state;
    parse_ok("redis-sentinel://app:datapw@h1,[::1]:26380/3?sentinel_user=s&sentinel_password="
             "sentpw#mymaster",
             &u);
    redis_url_describe(&u, buf, sizeof(buf));
    assert_string_equal(
        buf, "redis-sentinel://***@h1:26379,[::1]:26380/3?sentinel_password=***#mymaster");
    assert_null(strstr(buf, "datapw"));
    assert_null(strstr(buf, "sentpw"));

    describe_is("redis-sentinel://h1#m", "redis-sentinel://h1:26379/0#m", &u, buf, sizeof(buf));

    /* a short buffer is truncated, never overrun */
    memset(buf, 'Z', sizeof(buf));
    redis_url_describe(&u, buf, 20);
    assert_string_equal(buf, "redis-sentinel://h1");
    assert_int_equal(buf[20], 'Z');
}

static void test_cluster_basic(void **state)
{
    struct redis_url u;

    (void)state;
    parse_ok("redis-cluster://10.0.0.1:7000,node-b:7001,[::1]:7002/", &u);
    assert_int_equal(u.kind, REDIS_URL_CLUSTER);
    assert_int_equal(u.nseeds, 3);
    assert_string_equal(u.seeds[0].host, "10.0.0.1");
    assert_int_equal(u.seeds[0].port, 7000);
    assert_string_equal(u.seeds[1].host, "node-b");
    assert_int_equal(u.seeds[1].port, 7001);
    assert_string_equal(u.seeds[2].host, "::1");
    assert_int_equal(u.seeds[2].port, 7002);
    assert_int_equal(u.db, 0);
    assert_int_equal(u.nsentinels, 0);
    assert_string_equal(u.host, ""); /* the nodes come from the slot map */
    assert_string_equal(u.password, "");

    parse_ok("redis-cluster://h1", &u); /* one seed, default port, no slash */
    assert_int_equal(u.nseeds, 1);
    assert_string_equal(u.seeds[0].host, "h1");
    assert_int_equal(u.seeds[0].port, 6379);

    parse_ok("redis-cluster://h1:7000/0?", &u); /* db 0 spelt out; an empty query */
    assert_int_equal(u.db, 0);
    assert_int_equal(u.seeds[0].port, 7000);

    parse_ok("redis-cluster://app:p%2Fw@d@h1:7000,h2:7001/", &u); /* to every node */
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "p/w@d");
    assert_int_equal(u.nseeds, 2);

    parse_ok("redis-cluster://secret@h1/", &u); /* a password alone */
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "secret");
}

static void test_cluster_max(void **state)
{
    struct redis_url u;

    (void)state;
    check_max_nodes("redis-cluster://", REDIS_URL_SEEDS_MAX, 7000, "/",
                    "redis-cluster URL: more than 16 seeds", &u);
    assert_int_equal(u.nseeds, REDIS_URL_SEEDS_MAX);
    assert_string_equal(u.seeds[REDIS_URL_SEEDS_MAX - 1].host, "h15");
    assert_int_equal(u.seeds[REDIS_URL_SEEDS_MAX - 1].port, 7015);
}

static void test_cluster_errors(void **state)
{
    struct redis_url u;
    struct sq_err err;

    (void)state;
    parse_bad("redis-cluster://", "redis-cluster URL: seed 1: bad or missing host");
    parse_bad("redis-cluster:///", "seed 1: bad or missing host");
    parse_bad("redis-cluster://h1,", "seed 2: bad or missing host");
    parse_bad("redis-cluster://h1,,h3", "seed 2: bad or missing host");
    parse_bad("redis-cluster://h1, h2", "seed 2: bad or missing host");
    parse_bad("redis-cluster://h1,h2\n", "seed 2: bad or missing host");
    parse_bad("redis-cluster://h1,:7000", "seed 2: bad or missing host");
    parse_bad("redis-cluster://h1:7000,h2:0", "seed 2: port 0 is out of range [1, 65535]");
    parse_bad("redis-cluster://h1:70000", "seed 1: port 70000 is out of range");
    parse_bad("redis-cluster://h1:x", "seed 1: port 'x' is not an integer");
    parse_bad("redis-cluster://h1:", "seed 1: bad port");
    parse_bad("redis-cluster://h1,[::1", "seed 2: unterminated IPv6 address");
    parse_bad("redis-cluster://[::1]x", "seed 1: bad or missing host");
    parse_bad("redis-cluster://h1/1", "database 1: a cluster has only database 0");
    parse_bad("redis-cluster://h1/x", "database 'x' is not an integer");
    parse_bad("redis-cluster://h1/0#m", "unexpected '#m' at the end");
    parse_bad("redis-cluster://h1#m", "unexpected '#m' at the end");
    parse_bad("redis-cluster://h1?db=0", "unknown parameter 'db' (a redis-cluster URL takes none)");
    parse_bad("redis-cluster://:p%4@h1", "bad user or password");
    parse_bad("REDIS-CLUSTER://h1", "must start with");
    parse_bad("redis-cluster:/h1", "must start with");
    /* a parameter's value (maybe a password) is never shown */
    assert_int_equal(redis_url_parse("redis-cluster://h?password=hidden", &u, &err), -1);
    assert_null(strstr(err.msg, "hidden"));
}

static void test_cluster_too_long(void **state)
{
    struct redis_url u;

    (void)state;
    /* a seed host: 255 bytes fit, 256 do not */
    check_limit("redis-cluster://a,", 'h', 255, ":7000/", "seed 2: bad or missing host", &u);
    assert_int_equal(strlen(u.seeds[1].host), 255);
    /* the password: 255 bytes fit, 256 do not */
    check_limit("redis-cluster://:", 'p', 255, "@h/", "bad user or password", &u);
    assert_int_equal(strlen(u.password), 255);
}

static void test_cluster_describe(void **state)
{
    struct redis_url u;
    char buf[512];

    (void)state;
    describe_is("redis-cluster://app:clusterpw@h1:7000,[::1]:7001/",
                "redis-cluster://***@h1:7000,[::1]:7001/0", &u, buf, sizeof(buf));
    assert_null(strstr(buf, "clusterpw"));

    describe_is("redis-cluster://h1", "redis-cluster://h1:6379/0", &u, buf, sizeof(buf));

    memset(buf, 'Z', sizeof(buf));
    redis_url_describe(&u, buf, 20);
    assert_string_equal(buf, "redis-cluster://h1:");
    assert_int_equal(buf[20], 'Z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_only),
        cmocka_unit_test(test_host_port),
        cmocka_unit_test(test_password_port_db),
        cmocka_unit_test(test_user_password_db),
        cmocka_unit_test(test_password_only),
        cmocka_unit_test(test_percent_escapes),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_sentinel_basic),
        cmocka_unit_test(test_sentinel_credentials),
        cmocka_unit_test(test_sentinel_max),
        cmocka_unit_test(test_sentinel_errors),
        cmocka_unit_test(test_sentinel_too_long),
        cmocka_unit_test(test_sentinel_describe),
        cmocka_unit_test(test_cluster_basic),
        cmocka_unit_test(test_cluster_max),
        cmocka_unit_test(test_cluster_errors),
        cmocka_unit_test(test_cluster_too_long),
        cmocka_unit_test(test_cluster_describe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
