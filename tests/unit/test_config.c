/* Unit tests for shared/config: defaults < environment < flags, the bounded
 * integer parser, error texts that name the option, and the usage text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "num.h"
#include "options.h"

#include <hiredis/hiredis.h>

struct tcfg {
    int port;
    int level;
    char name[8]; /* at most 7 bytes */
    char tag[16];
};

#define ENV_PORT  "STAGEQ_TEST_CFG_PORT"
#define ENV_LEVEL "STAGEQ_TEST_CFG_LEVEL"
#define ENV_NAME  "STAGEQ_TEST_CFG_NAME"

#define ENV_OLD_LEVEL "STAGEQ_TEST_CFG_KNOB"

static const struct cfg_option opts[] = {
    CFG_INT_ROW(struct tcfg, port, "port", ENV_PORT, 1, 65535, "8080", "listen port"),
    CFG_INT_ROW_RENAMED(struct tcfg, level, "level", ENV_LEVEL, "knob", ENV_OLD_LEVEL, -5, 5, "-2",
                        "a signed knob"),
    CFG_STR_ROW(struct tcfg, name, "name", ENV_NAME, "stageq", "a short name"),
    CFG_STR_ROW(struct tcfg, tag, "tag", NULL, "", "an optional tag"),
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* cfg_load takes char **: it never writes through it, so casting literals is safe. */
#define LOAD(cfg, err, ...)                                                                        \
    load_args((cfg), (err), (const char *[]){"prog", __VA_ARGS__},                                 \
              sizeof((const char *[]){"prog", __VA_ARGS__}) / sizeof(const char *))

static enum cfg_result load_args(struct tcfg *cfg, struct sq_err *err, const char **args, size_t n)
{
    char *argv[16];
    size_t i;

    assert_true(n <= 16);
    for (i = 0; i < n; i++)
        argv[i] = (char *)args[i];
    memset(cfg, 0x5a, sizeof(*cfg));
    memset(err, 0, sizeof(*err));
    return cfg_load(opts, NOPTS, cfg, (int)n, argv, err);
}

static int clear_env(void **state)
{
    (void)state;
    unsetenv(ENV_PORT);
    unsetenv(ENV_LEVEL);
    unsetenv(ENV_NAME);
    unsetenv(ENV_OLD_LEVEL);
    unsetenv("STAGEQ_REDIS_URL");
    unsetenv("STAGEQ_PREFIX");
    unsetenv("STAGEQ_RESULT_TTL_S");
    unsetenv("STAGEQ_LOG_LEVEL");
    return 0;
}

static void test_defaults(void **state)
{
    struct tcfg c;
    struct sq_err err;
    char *argv[] = {(char *)"prog", NULL};

    (void)state;
    memset(&c, 0x5a, sizeof(c));
    assert_int_equal(cfg_load(opts, NOPTS, &c, 1, argv, &err), CFG_OK);
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.level, -2);
    assert_string_equal(c.name, "stageq");
    assert_string_equal(c.tag, "");
}

static void test_env_overrides_default(void **state)
{
    struct tcfg c;
    struct sq_err err;
    char *argv[] = {(char *)"prog", NULL};

    (void)state;
    setenv(ENV_PORT, "9090", 1);
    setenv(ENV_NAME, "fromenv", 1);
    memset(&c, 0x5a, sizeof(c));
    assert_int_equal(cfg_load(opts, NOPTS, &c, 1, argv, &err), CFG_OK);
    assert_int_equal(c.port, 9090);
    assert_int_equal(c.level, -2);
    assert_string_equal(c.name, "fromenv");
}

static void test_flag_overrides_env(void **state)
{
    struct tcfg c;
    struct sq_err err;
    char *argv[] = {(char *)"prog", (char *)"--port=7070", (char *)"--name", (char *)"flag"};

    (void)state;
    setenv(ENV_PORT, "9090", 1);
    setenv(ENV_NAME, "fromenv", 1);
    setenv(ENV_LEVEL, "3", 1);
    assert_int_equal(cfg_load(opts, NOPTS, &c, 4, argv, &err), CFG_OK);
    assert_int_equal(c.port, 7070);
    assert_string_equal(c.name, "flag");
    assert_int_equal(c.level, 3); /* env still applies where no flag was given */
}

static void test_flag_forms(void **state)
{
    struct tcfg c;
    struct sq_err err;

    (void)state;
    assert_int_equal(LOAD(&c, &err, "--port=1", "--level", "-5", "--name", "a=b", "--tag=x y"),
                     CFG_OK);
    assert_int_equal(c.port, 1);
    assert_int_equal(c.level, -5);
    assert_string_equal(c.name, "a=b");
    assert_string_equal(c.tag, "x y");

    /* --flag=value with '=' in the value and an empty string value */
    assert_int_equal(LOAD(&c, &err, "--name=k=v", "--tag="), CFG_OK);
    assert_string_equal(c.name, "k=v");
    assert_string_equal(c.tag, "");

    /* the last occurrence wins; a value may start with dashes */
    assert_int_equal(LOAD(&c, &err, "--port", "65535", "--port=2", "--tag", "--x"), CFG_OK);
    assert_int_equal(c.port, 2);
    assert_string_equal(c.tag, "--x");

    /* exactly size-1 bytes fit */
    assert_int_equal(LOAD(&c, &err, "--name=1234567"), CFG_OK);
    assert_string_equal(c.name, "1234567");
}

static void test_help(void **state)
{
    struct tcfg c;
    struct sq_err err;

    (void)state;
    assert_int_equal(LOAD(&c, &err, "--help"), CFG_HELP);
    assert_int_equal(LOAD(&c, &err, "-h"), CFG_HELP);
    assert_int_equal(LOAD(&c, &err, "--port=5", "-h", "--bogus"), CFG_HELP);
    /* "--help" as the value of an option is a value, not a request for help */
    assert_int_equal(LOAD(&c, &err, "--tag", "--help"), CFG_OK);
    assert_string_equal(c.tag, "--help");
}

static void test_unknown_and_unexpected(void **state)
{
    struct tcfg c;
    struct sq_err err;

    (void)state;
    assert_int_equal(LOAD(&c, &err, "--bogus=1"), CFG_ERROR);
    assert_string_equal(err.msg, "unknown option '--bogus=1' (see --help)");
    assert_int_equal(LOAD(&c, &err, "--por", "1"), CFG_ERROR); /* no prefix matching */
    assert_string_equal(err.msg, "unknown option '--por' (see --help)");
    assert_int_equal(LOAD(&c, &err, "--portx=1"), CFG_ERROR);
    assert_string_equal(err.msg, "unknown option '--portx=1' (see --help)");
    assert_int_equal(LOAD(&c, &err, "-p", "1"), CFG_ERROR);
    assert_string_equal(err.msg, "unexpected argument '-p' (see --help)");
    assert_int_equal(LOAD(&c, &err, "positional"), CFG_ERROR);
    assert_string_equal(err.msg, "unexpected argument 'positional' (see --help)");
}

static void test_missing_value(void **state)
{
    struct tcfg c;
    struct sq_err err;

    (void)state;
    assert_int_equal(LOAD(&c, &err, "--port=80", "--name"), CFG_ERROR);
    assert_string_equal(err.msg, "option --name needs a value");
    assert_int_equal(LOAD(&c, &err, "--port"), CFG_ERROR);
    assert_string_equal(err.msg, "option --port needs a value");
    /* --port= gives an empty value, which is not an integer */
    assert_int_equal(LOAD(&c, &err, "--port="), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--port): is empty");
}

static void test_bad_int_flags(void **state)
{
    struct tcfg c;
    struct sq_err err;

    (void)state;
    assert_int_equal(LOAD(&c, &err, "--port=0"), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--port): 0 is out of range [1, 65535]");
    assert_int_equal(LOAD(&c, &err, "--port", "65536"), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--port): 65536 is out of range [1, 65535]");
    assert_int_equal(LOAD(&c, &err, "--level=-6"), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--level): -6 is out of range [-5, 5]");
    assert_int_equal(LOAD(&c, &err, "--port=12x"), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--port): '12x' is not an integer");
    assert_int_equal(LOAD(&c, &err, "--port", ""), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--port): is empty");
    assert_int_equal(LOAD(&c, &err, "--port=99999999999999999999"), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--port): '99999999999999999999' is not an integer");
    assert_int_equal(LOAD(&c, &err, "--port=0x10"), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--port): '0x10' is not an integer");
    assert_int_equal(LOAD(&c, &err, "--port=1.5"), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--port): '1.5' is not an integer");
}

static void test_too_long_string(void **state)
{
    struct tcfg c;
    struct sq_err err;

    (void)state;
    assert_int_equal(LOAD(&c, &err, "--name=12345678"), CFG_ERROR);
    assert_string_equal(err.msg, "flag (--name): longer than 7 bytes");
    setenv(ENV_NAME, "waytoolong", 1);
    assert_int_equal(LOAD(&c, &err, "--port=5"), CFG_ERROR);
    assert_string_equal(err.msg, ENV_NAME " (--name): longer than 7 bytes");
}

static void test_bad_env(void **state)
{
    struct tcfg c;
    struct sq_err err;

    (void)state;
    setenv(ENV_PORT, "abc", 1);
    /* the environment is checked even when a flag follows */
    assert_int_equal(LOAD(&c, &err, "--port=5"), CFG_ERROR);
    assert_string_equal(err.msg, ENV_PORT " (--port): 'abc' is not an integer");
    setenv(ENV_PORT, "", 1);
    assert_int_equal(LOAD(&c, &err, "--tag=t"), CFG_ERROR);
    assert_string_equal(err.msg, ENV_PORT " (--port): is empty");
    setenv(ENV_PORT, "70000", 1);
    assert_int_equal(LOAD(&c, &err, "--tag=t"), CFG_ERROR);
    assert_string_equal(err.msg, ENV_PORT " (--port): 70000 is out of range [1, 65535]");
}

static void test_bad_default(void **state)
{
    static const struct cfg_option bad[] = {
        CFG_INT_ROW(struct tcfg, port, "port", NULL, 1, 10, "11", "p"),
    };
    struct tcfg c;
    struct sq_err err;
    char *argv[] = {(char *)"prog", NULL};

    (void)state;
    assert_int_equal(cfg_load(bad, 1, &c, 1, argv, &err), CFG_ERROR);
    assert_string_equal(err.msg, "default (--port): 11 is out of range [1, 10]");
}

static void test_parse_int(void **state)
{
    struct sq_err err;
    long long v;

    (void)state;
    v = 42;
    assert_int_equal(num_parse_ll("1", 1, 10, &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(num_parse_ll("10", 1, 10, &v, &err), 0);
    assert_int_equal(v, 10);
    assert_int_equal(num_parse_ll("-10", -10, -1, &v, &err), 0);
    assert_int_equal(v, -10);
    assert_int_equal(num_parse_ll("-0", 0, 0, &v, &err), 0);
    assert_int_equal(v, 0);

    v = 42;
    assert_int_equal(num_parse_ll("0", 1, 10, &v, &err), -1);
    assert_string_equal(err.msg, "0 is out of range [1, 10]");
    assert_int_equal(v, 42); /* untouched on error */
    assert_int_equal(num_parse_ll("11", 1, 10, &v, &err), -1);
    assert_string_equal(err.msg, "11 is out of range [1, 10]");
    assert_int_equal(num_parse_ll("-11", -10, -1, &v, &err), -1);
    assert_string_equal(err.msg, "-11 is out of range [-10, -1]");
    assert_int_equal(num_parse_ll("-1", 0, 5, &v, &err), -1);
    assert_string_equal(err.msg, "-1 is out of range [0, 5]");

    assert_int_equal(num_parse_ll("", 0, 5, &v, &err), -1);
    assert_string_equal(err.msg, "is empty");
    assert_int_equal(num_parse_ll(NULL, 0, 5, &v, &err), -1);
    assert_string_equal(err.msg, "is empty");
    assert_int_equal(num_parse_ll("12x", 0, 100, &v, &err), -1);
    assert_string_equal(err.msg, "'12x' is not an integer");
    assert_int_equal(num_parse_ll("x", 0, 100, &v, &err), -1);
    assert_string_equal(err.msg, "'x' is not an integer");
    assert_int_equal(num_parse_ll("-", 0, 100, &v, &err), -1);
    assert_string_equal(err.msg, "'-' is not an integer");
    assert_int_equal(num_parse_ll("5 ", 0, 100, &v, &err), -1);
    assert_string_equal(err.msg, "'5 ' is not an integer");
    assert_int_equal(num_parse_ll(" 5", 0, 100, &v, &err), -1);
    assert_string_equal(err.msg, "' 5' is not an integer");
    assert_int_equal(num_parse_ll("+5", 0, 100, &v, &err), -1);
    assert_int_equal(num_parse_ll("-x", -100, 100, &v, &err), -1);
    assert_int_equal(v, 42);

    /* the whole long long range, and one past either end */
    assert_int_equal(num_parse_ll("9223372036854775807", 0, INT64_MAX, &v, &err), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(num_parse_ll("-9223372036854775808", INT64_MIN, 0, &v, &err), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(num_parse_ll("9223372036854775808", 0, INT64_MAX, &v, &err), -1);
    assert_string_equal(err.msg, "'9223372036854775808' is not an integer");
    assert_int_equal(num_parse_ll("-9223372036854775809", INT64_MIN, 0, &v, &err), -1);
    assert_string_equal(err.msg, "'-9223372036854775809' is not an integer");
    assert_int_equal(num_parse_ll("99999999999999999999", 0, 100, &v, &err), -1);
    assert_string_equal(err.msg, "'99999999999999999999' is not an integer");

    /* a NULL err is allowed */
    assert_int_equal(num_parse_ll("zz", 0, 100, &v, NULL), -1);
}

/* Fields read back from Redis: garbage gives the stated fallback, never a crash. */
/* num_text_ll writes what "%lld" writes, at both ends of the range too. */
static void test_num_text_ll(void **state)
{
    static const long long vs[] = {
        0, 1, -1, 9, 10, -10, 200, 1234567890123LL, LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
    char text[NUM_LL_TEXT_MAX], want[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
        memset(text, 'x', sizeof(text));
        snprintf(want, sizeof(want), "%lld", vs[i]);
        assert_int_equal(num_text_ll(vs[i], text), strlen(want));
        assert_string_equal(text, want);
    }
}

static void test_num_fields(void **state)
{
    static const char *const garbage[] = {
        "", "x", "12x", " 5", "+5", "0x10", "1e400", "nan", "inf", "-", "99999999999999999999"};
    struct redisReply r;
    long long ll;
    double d;
    size_t i;
    int n;

    (void)state;
    assert_int_equal(num_field_int("7", 0, 10, 3, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(num_field_int(NULL, 0, 10, 3, &n), -1);
    assert_int_equal(n, 3);
    assert_int_equal(num_field_int("11", 0, 10, 3, &n), -1);
    assert_int_equal(n, 3);
    assert_int_equal(num_field_int("2147483648", 0, 2147483647, 1, &n), -1);
    assert_int_equal(n, 1);
    for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        assert_int_equal(num_field_ll(garbage[i], -1000, 1000, 9, &ll), -1);
        assert_int_equal(ll, 9);
        assert_int_equal(num_field_double(garbage[i], -1000, 1000, 0.5, &d), -1);
        assert_true(d == 0.5);
    }
    assert_int_equal(num_field_double("0.25", 0, 1, 0, &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(num_field_double("-1e-3", -1, 1, 0, &d), 0);
    assert_true(d == -1e-3);
    assert_int_equal(num_field_double("1.5", 0, 1, 0, &d), -1);

    memset(&r, 0, sizeof(r));
    r.type = REDIS_REPLY_INTEGER;
    r.integer = 5;
    assert_int_equal(num_reply_ll(&r, 0, 10, 1, &ll), 0);
    assert_int_equal(ll, 5);
    r.integer = 50;
    assert_int_equal(num_reply_ll(&r, 0, 10, 1, &ll), -1);
    assert_int_equal(ll, 1);
    r.type = REDIS_REPLY_STRING;
    r.str = (char *)"8";
    r.len = 1;
    assert_int_equal(num_reply_ll(&r, 0, 10, 1, &ll), 0);
    assert_int_equal(ll, 8);
    r.type = REDIS_REPLY_NIL;
    assert_int_equal(num_reply_ll(&r, 0, 10, 1, &ll), -1);
    assert_int_equal(num_reply_ll(NULL, 0, 10, 2, &ll), -1);
    assert_int_equal(ll, 2);
}

static void test_usage(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    assert_non_null(f);
    cfg_usage(f, "stageq-test", "Does test things.", opts, NOPTS);
    assert_int_equal(fclose(f), 0);
    assert_non_null(buf);
    assert_int_equal(strlen(buf), len);

    assert_non_null(strstr(buf, "usage: stageq-test [--option=value ...]\nDoes test things.\n"));
    assert_non_null(strstr(buf, "  --port             " ENV_PORT "   8080\n"
                                "      listen port [1..65535]\n"));
    assert_non_null(strstr(buf, "  --level            " ENV_LEVEL "  -2\n"
                                "      a signed knob [-5..5]\n"
                                "      (formerly --knob " ENV_OLD_LEVEL
                                ": still read for one release)\n"));
    assert_non_null(strstr(buf, "  --name             " ENV_NAME "   stageq\n"
                                "      a short name\n"));
    /* no environment variable and an empty default */
    assert_non_null(strstr(buf, "  --tag"
                                "                                     \"\"\n"
                                "      an optional tag\n"));
    assert_non_null(strstr(buf, "-h, --help"));
    free(buf);
}

/* A renamed option: its old env and flag still set it, the new names win. */
static void test_renamed(void **state)
{
    struct tcfg c;
    struct sq_err err;

    (void)state;
    setenv(ENV_OLD_LEVEL, "4", 1);
    assert_int_equal(LOAD(&c, &err), CFG_OK);
    assert_int_equal(c.level, 4);
    setenv(ENV_LEVEL, "1", 1);
    assert_int_equal(LOAD(&c, &err), CFG_OK);
    assert_int_equal(c.level, 1);
    assert_int_equal(LOAD(&c, &err, "--knob=-3"), CFG_OK);
    assert_int_equal(c.level, -3);
    assert_int_equal(LOAD(&c, &err, "--knob", "2", "--level=-1"), CFG_OK);
    assert_int_equal(c.level, -1);
    unsetenv(ENV_LEVEL);
    setenv(ENV_OLD_LEVEL, "9", 1);
    assert_int_equal(LOAD(&c, &err), CFG_ERROR);
    assert_string_equal(err.msg, ENV_OLD_LEVEL " (--level): 9 is out of range [-5, 5]");
}

/* Two daemons' config structs, laid out differently, as api_config and
 * worker_config are. */
struct daemon_a {
    int other;
    char log_level[16];
    int result_ttl_s;
    char redis_url[512];
    char prefix[65];
    int min_replicas;
    char pipelines[256];
    char log_format[8];
};
struct daemon_b {
    char prefix[65];
    char log_format[8];
    char log_level[16];
    char pipelines[256];
    int min_replicas;
    char redis_url[512];
    int result_ttl_s;
};

static const struct cfg_option rows_a[] = {OPTIONS_SHARED_ROWS(struct daemon_a)};
static const struct cfg_option rows_b[] = {OPTIONS_SHARED_ROWS(struct daemon_b)};

/* The shared rows: one name, one set of limits, one default and one help
 * text in both daemons, each stored in its own struct. */
static void test_shared_rows(void **state)
{
    struct daemon_a a;
    struct daemon_b b;
    struct sq_err err;
    char *argv[] = {(char *)"prog", (char *)"--log-level=debug", NULL};
    size_t i, n = sizeof(rows_a) / sizeof(rows_a[0]);
    const char *want[] = {"redis-url",    "prefix", "min-replicas", "pipelines",
                          "result-ttl-s", "log",    "log-level"};

    (void)state;
    assert_int_equal(n, sizeof(rows_b) / sizeof(rows_b[0]));
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    for (i = 0; i < n; i++) {
        assert_string_equal(rows_a[i].flag, want[i]);
        assert_string_equal(rows_a[i].flag, rows_b[i].flag);
        assert_string_equal(rows_a[i].env, rows_b[i].env);
        assert_int_equal(rows_a[i].type, rows_b[i].type);
        assert_true(rows_a[i].min == rows_b[i].min && rows_a[i].max == rows_b[i].max);
        assert_string_equal(rows_a[i].def, rows_b[i].def);
        assert_string_equal(rows_a[i].help, rows_b[i].help);
    }
    assert_true(rows_a[4].min == 1 && rows_a[4].max == JOB_RESULT_TTL_MAX_S);

    setenv("STAGEQ_PREFIX", "pfx", 1);
    setenv("STAGEQ_RESULT_TTL_S", "60", 1);
    memset(&a, 0x5a, sizeof(a));
    memset(&b, 0x5a, sizeof(b));
    assert_int_equal(cfg_load(rows_a, n, &a, 2, argv, &err), CFG_OK);
    assert_int_equal(cfg_load(rows_b, n, &b, 2, argv, &err), CFG_OK);
    assert_string_equal(a.prefix, "pfx");
    assert_string_equal(b.prefix, "pfx");
    assert_int_equal(a.result_ttl_s, 60);
    assert_int_equal(b.result_ttl_s, 60);
    assert_string_equal(a.log_level, "debug");
    assert_string_equal(b.log_level, "debug");
    assert_string_equal(a.redis_url, "redis://127.0.0.1:6379/0");
    assert_string_equal(b.redis_url, a.redis_url);
    assert_int_equal(a.min_replicas, 0);
    assert_int_equal(b.min_replicas, 0);
    assert_string_equal(a.log_format, "text");
    assert_string_equal(b.pipelines, "");
    assert_int_equal(a.other, 0x5a5a5a5a); /* rows write their own members only */

    setenv("STAGEQ_RESULT_TTL_S", "31536001", 1);
    assert_int_equal(cfg_load(rows_b, n, &b, 1, argv, &err), CFG_ERROR);
    assert_string_equal(
        err.msg, "STAGEQ_RESULT_TTL_S (--result-ttl-s): 31536001 is out of range [1, 31536000]");
}

/* options_check: the values the rows' bounds cannot check, errors naming the option. */
static void test_options_check(void **state)
{
    struct options_shared o = {"redis://127.0.0.1:7000/2", "pfx", "json", "warn"};
    struct redis_url url;
    enum log_format lf;
    enum log_level ll;
    struct sq_err err;

    (void)state;
    assert_int_equal(options_check(&o, &url, &lf, &ll, &err), 0);
    assert_int_equal(url.port, 7000);
    assert_int_equal(lf, LOG_FORMAT_JSON);
    assert_int_equal(ll, LOG_LEVEL_WARN);

    o.redis_url = "http://x";
    assert_int_equal(options_check(&o, &url, &lf, &ll, &err), -1);
    assert_true(strncmp(err.msg, "--redis-url: ", 13) == 0);
    o.redis_url = "redis://127.0.0.1:6379/0";
    o.prefix = "bad prefix";
    assert_int_equal(options_check(&o, &url, &lf, &ll, &err), -1);
    assert_string_equal(err.msg,
                        "--prefix: 'bad prefix' must be 1-64 characters of [A-Za-z0-9._:-]");
    o.prefix = "";
    assert_int_equal(options_check(&o, &url, &lf, &ll, &err), -1);
    o.prefix = "ok";
    o.log_format = "xml";
    assert_int_equal(options_check(&o, &url, &lf, &ll, &err), -1);
    assert_string_equal(err.msg, "--log: 'xml' is not text or json");
    o.log_format = "text";
    o.log_level = "loud";
    assert_int_equal(options_check(&o, &url, &lf, &ll, &err), -1);
    assert_string_equal(err.msg, "--log-level: 'loud' is not error, warn, info or debug");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_env_overrides_default, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_flag_overrides_env, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_flag_forms, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_help, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_unknown_and_unexpected, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_missing_value, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_bad_int_flags, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_too_long_string, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_bad_env, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_bad_default, clear_env, clear_env),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_num_fields),
        cmocka_unit_test(test_num_text_ll),
        cmocka_unit_test(test_usage),
        cmocka_unit_test_setup_teardown(test_renamed, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_shared_rows, clear_env, clear_env),
        cmocka_unit_test(test_options_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
