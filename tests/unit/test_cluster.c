/* Unit tests for shared/cluster: CRC16 and key slots (with the hash tag
 * rules of the Redis Cluster spec), command routes, MOVED/ASK parsing (good
 * and malformed), and the slot map read from CLUSTER SLOTS replies built with
 * hiredis' own reader from RESP text, malformed ones included. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"

static int slot_of(const char *key)
{
    return cluster_key_slot(key, strlen(key));
}

static void test_crc16(void **state)
{
    (void)state;
    assert_int_equal(cluster_crc16("123456789", 9), 0x31C3); /* the spec's test vector */
    assert_int_equal(cluster_crc16("", 0), 0);
    assert_int_equal(slot_of("123456789"), 0x31C3 & 16383);
    /* slots redis-cli CLUSTER KEYSLOT gives */
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("bar"), 5061);
    assert_int_equal(slot_of("somekey"), 11058);
    assert_int_equal(slot_of(""), 0);
    /* binary-safe: a NUL inside the key counts */
    assert_int_not_equal(cluster_key_slot("a\0b", 3), cluster_key_slot("a", 1));
}

static void test_hash_tags(void **state)
{
    (void)state;
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    assert_int_equal(slot_of("{user1000}.followers"), slot_of("{user1000}.following"));
    /* an empty tag: the whole key */
    assert_int_equal(slot_of("foo{}{bar}"), cluster_crc16("foo{}{bar}", 10) & 16383);
    /* the tag ends at the first '}' after the first '{' */
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    /* no '}' after the '{': the whole key */
    assert_int_equal(slot_of("foo{bar"), cluster_crc16("foo{bar", 7) & 16383);
    assert_int_equal(slot_of("}foo{"), cluster_crc16("}foo{", 5) & 16383);
    /* stageq's partition tags: the tag alone decides */
    assert_int_equal(slot_of("stageq:{8209}:job:abc"), slot_of("8209"));
    assert_int_equal(slot_of("stageq:{8209}:queue:default"), slot_of("{8209}"));
}

/* The route of a command given as words. */
static enum cluster_route route(int *ki, int argc, ...)
{
    const char *argv[16];
    size_t lens[16];
    va_list ap;
    int i;

    va_start(ap, argc);
    for (i = 0; i < argc; i++) {
        argv[i] = va_arg(ap, const char *);
        lens[i] = strlen(argv[i]);
    }
    va_end(ap);
    return cluster_command_route(argc, argv, lens, ki);
}

static void test_routes(void **state)
{
    int ki;

    (void)state;
    assert_int_equal(route(&ki, 2, "GET", "k"), CLUSTER_ROUTE_KEY);
    assert_int_equal(ki, 1);
    assert_int_equal(route(&ki, 4, "hset", "h", "f", "v"), CLUSTER_ROUTE_KEY);
    assert_int_equal(ki, 1);
    assert_int_equal(route(&ki, 5, "BLMOVE", "a", "b", "LEFT", "RIGHT"), CLUSTER_ROUTE_KEY);
    assert_int_equal(ki, 1);
    /* scripts route by their first key */
    assert_int_equal(route(&ki, 6, "EVALSHA", "abc", "2", "{t}a", "{t}b", "x"), CLUSTER_ROUTE_KEY);
    assert_int_equal(ki, 3);
    assert_int_equal(route(&ki, 4, "eval", "return 1", "1", "k"), CLUSTER_ROUTE_KEY);
    assert_int_equal(ki, 3);
    assert_int_equal(route(&ki, 4, "FCALL", "f", "1", "k"), CLUSTER_ROUTE_KEY);
    assert_int_equal(ki, 3);
    /* a script with no key, or a numkeys that is no number: any node */
    assert_int_equal(route(&ki, 3, "EVALSHA", "abc", "0"), CLUSTER_ROUTE_NONE);
    assert_int_equal(ki, -1);
    assert_int_equal(route(&ki, 4, "EVALSHA", "abc", "x", "k"), CLUSTER_ROUTE_NONE);
    assert_int_equal(route(&ki, 3, "EVALSHA", "abc", "1"), CLUSTER_ROUTE_NONE); /* key missing */
    assert_int_equal(route(&ki, 2, "EVALSHA", "abc"), CLUSTER_ROUTE_NONE);
    /* keyless commands */
    assert_int_equal(route(&ki, 1, "PING"), CLUSTER_ROUTE_ANY);
    assert_int_equal(route(&ki, 3, "publish", "ch", "m"), CLUSTER_ROUTE_ANY);
    assert_int_equal(route(&ki, 3, "WAIT", "1", "100"), CLUSTER_ROUTE_ANY);
    assert_int_equal(route(&ki, 2, "CLUSTER", "SLOTS"), CLUSTER_ROUTE_ANY);
    assert_int_equal(route(&ki, 1, "ASKING"), CLUSTER_ROUTE_ANY);
    assert_int_equal(route(&ki, 2, "SCRIPT", "FLUSH"), CLUSTER_ROUTE_ANY);
    assert_int_equal(route(&ki, 0), CLUSTER_ROUTE_ANY);
    /* a key command without its key */
    assert_int_equal(route(&ki, 1, "GET"), CLUSTER_ROUTE_NONE);
    /* a name that only starts like a keyless one routes by key */
    assert_int_equal(route(&ki, 2, "PINGX", "k"), CLUSTER_ROUTE_KEY);
}

static void test_redirects(void **state)
{
    struct cluster_redirect rd;

    (void)state;
#define PARSE(s) cluster_parse_redirect((s), strlen(s), &rd)
    assert_true(PARSE("MOVED 3999 127.0.0.1:6381"));
    assert_false(rd.is_ask);
    assert_int_equal(rd.slot, 3999);
    assert_string_equal(rd.host, "127.0.0.1");
    assert_int_equal(rd.port, 6381);

    assert_true(PARSE("ASK 16383 node-b.example:7002"));
    assert_true(rd.is_ask);
    assert_int_equal(rd.slot, 16383);
    assert_string_equal(rd.host, "node-b.example");
    assert_int_equal(rd.port, 7002);

    assert_true(PARSE("MOVED 0 ::1:7000")); /* IPv6: the port after the last ':' */
    assert_string_equal(rd.host, "::1");
    assert_int_equal(rd.port, 7000);

    assert_true(PARSE("MOVED 5 :6380")); /* the node does not know its address */
    assert_string_equal(rd.host, "");
    assert_int_equal(rd.port, 6380);

    /* malformed, or another error */
    assert_false(PARSE("MOVED"));
    assert_false(PARSE("MOVED "));
    assert_false(PARSE("MOVED 3999"));
    assert_false(PARSE("MOVED 3999 "));
    assert_false(PARSE("MOVED x 127.0.0.1:6381"));
    assert_false(PARSE("MOVED -1 127.0.0.1:6381"));
    assert_false(PARSE("MOVED 16384 127.0.0.1:6381"));
    assert_false(PARSE("MOVED 3999 127.0.0.1"));
    assert_false(PARSE("MOVED 3999 127.0.0.1:"));
    assert_false(PARSE("MOVED 3999 127.0.0.1:0"));
    assert_false(PARSE("MOVED 3999 127.0.0.1:65536"));
    assert_false(PARSE("MOVED 3999 127.0.0.1:63x"));
    assert_false(PARSE("MOVED 3999 a b:6381"));
    assert_false(PARSE("MOVED  3999 127.0.0.1:6381"));
    assert_false(PARSE("MOVED +3999 127.0.0.1:6381"));
    assert_false(PARSE("MOVED 3999 127.0.0.1: 6381"));
    assert_false(PARSE("MOVED 3999 127.0.0.1:+6381"));
    assert_false(PARSE("moved 3999 127.0.0.1:6381"));
    assert_false(PARSE("ASKING 1 h:1"));
    assert_false(PARSE("ERR unknown command"));
    assert_false(PARSE("CLUSTERDOWN The cluster is down"));
    assert_false(PARSE("TRYAGAIN Multiple keys request during rehashing of slot"));
    assert_false(PARSE(""));
#undef PARSE
    {
        char longhost[400];
        memset(longhost, 0, sizeof(longhost));
        memcpy(longhost, "MOVED 1 ", 8);
        memset(longhost + 8, 'h', 300);
        memcpy(longhost + 308, ":1", 2);
        assert_false(cluster_parse_redirect(longhost, strlen(longhost), &rd));
    }
}

/* A reply tree read by hiredis from RESP text (the caller frees it), or NULL
 * when the text is not one whole reply. */
static redisReply *reply_from(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    void *r = NULL;

    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    if (redisReaderGetReply(rd, &r) != REDIS_OK)
        r = NULL;
    redisReaderFree(rd);
    return r;
}

static const char slots_ok[] = "*3\r\n"
                               /* 0-5460 on 127.0.0.1:7000, one replica */
                               "*4\r\n:0\r\n:5460\r\n"
                               "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nm1\r\n"
                               "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nr1\r\n"
                               /* 5461-10922 on 127.0.0.1:7001, no replica */
                               "*3\r\n:5461\r\n:10922\r\n"
                               "*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nm2\r\n"
                               /* 10923-16383 on a node that does not know its address ("") */
                               "*5\r\n:10923\r\n:16383\r\n"
                               "*3\r\n$0\r\n\r\n:7002\r\n$2\r\nm3\r\n"
                               "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nr3\r\n"
                               "*3\r\n$9\r\n127.0.0.1\r\n:7005\r\n$2\r\nr4\r\n";

static void test_map_from_slots(void **state)
{
    static struct cluster_map m;
    redisReply *r = reply_from(slots_ok);
    struct sq_err err;

    (void)state;
    assert_non_null(r);
    assert_int_equal(cluster_map_from_slots(&m, r, "10.1.1.1", &err), 0);
    freeReplyObject(r);
    assert_int_equal(m.nnodes, 3);
    assert_int_equal(cluster_map_covered(&m), CLUSTER_SLOTS);
    assert_string_equal(m.nodes[m.slot_node[0]].host, "127.0.0.1");
    assert_int_equal(m.nodes[m.slot_node[0]].port, 7000);
    assert_int_equal(m.nodes[m.slot_node[5460]].port, 7000);
    assert_int_equal(m.nodes[m.slot_node[0]].nreplicas, 1);
    assert_int_equal(m.nodes[m.slot_node[5461]].port, 7001);
    assert_int_equal(m.nodes[m.slot_node[5461]].nreplicas, 0);
    assert_int_equal(m.nodes[m.slot_node[16383]].port, 7002);
    assert_string_equal(m.nodes[m.slot_node[16383]].host, "10.1.1.1"); /* the default host */
    assert_int_equal(m.nodes[m.slot_node[16383]].nreplicas, 2);
    assert_int_equal(cluster_map_find(&m, "127.0.0.1", 7001), m.slot_node[6000]);
    assert_int_equal(cluster_map_find(&m, "127.0.0.1", 7003), -1); /* a replica */

    /* a MOVED patches one slot, adding the node when new */
    assert_int_equal(cluster_map_set(&m, 100, "127.0.0.1", 7001), m.slot_node[6000]);
    assert_int_equal(m.nodes[m.slot_node[100]].port, 7001);
    assert_int_equal(m.nodes[m.slot_node[99]].port, 7000);
    assert_int_equal(cluster_map_set(&m, 101, "10.9.9.9", 7100), 3);
    assert_int_equal(m.nnodes, 4);
    assert_int_equal(cluster_map_set(&m, 16384, "10.9.9.9", 7100), -1);
    assert_int_equal(cluster_map_set(&m, -1, "10.9.9.9", 7100), -1);

    /* a partial map: slots not named stay without a node */
    r = reply_from("*1\r\n*3\r\n:10\r\n:19\r\n*2\r\n$1\r\nh\r\n:1\r\n");
    assert_int_equal(cluster_map_from_slots(&m, r, "d", &err), 0);
    freeReplyObject(r);
    assert_int_equal(cluster_map_covered(&m), 10);
    assert_int_equal(m.slot_node[9], -1);
    assert_int_equal(m.slot_node[20], -1);
    assert_int_equal(m.nodes[m.slot_node[15]].port, 1);

    /* an empty map (a node not in a cluster yet) */
    r = reply_from("*0\r\n");
    assert_int_equal(cluster_map_from_slots(&m, r, "d", &err), 0);
    freeReplyObject(r);
    assert_int_equal(m.nnodes, 0);
    assert_int_equal(cluster_map_covered(&m), 0);
}

static void test_map_malformed(void **state)
{
    static struct cluster_map m;
    static const char *const bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        ":1\r\n",
        "$5\r\nslots\r\n",
        "*1\r\n:1\r\n",                                            /* a range no array */
        "*1\r\n*2\r\n:0\r\n:1\r\n",                                /* no master */
        "*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n",    /* start as text */
        "*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\nh\r\n:1\r\n",         /* end < start */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",     /* end out of range */
        "*1\r\n*3\r\n:-1\r\n:3\r\n*2\r\n$1\r\nh\r\n:1\r\n",        /* negative start */
        "*1\r\n*3\r\n:0\r\n:1\r\n:7\r\n",                          /* master no array */
        "*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n",               /* master without port */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n:1\r\n:1\r\n",              /* host no string */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n",         /* port 0 */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:65536\r\n",     /* port too big */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n$4\r\n7000\r\n", /* port as text */
        "*2\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n*-1\r\n",  /* a nil range */
    };
    struct sq_err err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redisReply *r = reply_from(bad[i]);

        assert_non_null(r);
        m.nnodes = 99;
        err.msg[0] = '\0';
        if (cluster_map_from_slots(&m, r, "d", &err) != -1)
            fail_msg("accepted bad reply %zu", i);
        assert_string_equal(err.msg, "malformed CLUSTER SLOTS reply");
        assert_int_equal(m.nnodes, 0); /* cleared */
        assert_int_equal(cluster_map_covered(&m), 0);
        freeReplyObject(r);
    }
    assert_int_equal(cluster_map_from_slots(&m, NULL, "d", &err), -1);
}

static void test_map_too_many_nodes(void **state)
{
    static struct cluster_map m;
    static char resp[CLUSTER_MAX_NODES * 80 + 64];
    struct sq_err err;
    redisReply *r;
    size_t len = 0;
    int i, n = CLUSTER_MAX_NODES + 1;

    (void)state;
    len += (size_t)snprintf(resp + len, sizeof(resp) - len, "*%d\r\n", n);
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(resp + len, sizeof(resp) - len,
                                "*3\r\n:%d\r\n:%d\r\n*2\r\n$1\r\nh\r\n:%d\r\n", i, i, 1000 + i);
    r = reply_from(resp);
    assert_non_null(r);
    assert_int_equal(cluster_map_from_slots(&m, r, "d", &err), -1);
    assert_non_null(strstr(err.msg, "more than 256 masters"));
    assert_int_equal(m.nnodes, 0);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_map_from_slots),
        cmocka_unit_test(test_map_malformed),
        cmocka_unit_test(test_map_too_many_nodes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
