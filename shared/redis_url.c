/* redis_url: the connection URL parser. */
#include "redis_url.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "num.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copies s[0..len) percent-decoded into out[cap]; -1 on bad escape, NUL or overflow. */
static int url_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_db(const char *s, int *db, struct sq_err *err)
{
    long long v;
    struct sq_err e;

    if (num_parse_ll(s, 0, 100000, &v, &e) < 0) {
        err_set(err, SQ_ERR_INVALID, "redis URL: database %s", e.msg);
        return -1;
    }
    *db = (int)v;
    return 0;
}

/* Parses the user info before the last '@' of the authority *p[0..*alen)
 * ("password", ":password" or "user:password"; a password may hold ':' and
 * '@') into out->user and out->password, and moves *p and *alen past it.
 * Without '@' there is none. 0, or -1 with err. */
static int parse_userinfo(const char **p, size_t *alen, struct redis_url *out, struct sq_err *err)
{
    const char *s = *p, *at = memrchr(s, '@', *alen), *c;
    size_t len;

    if (at == NULL)
        return 0;
    len = (size_t)(at - s);
    c = memchr(s, ':', len);
    /* redis://password@host is what many tools accept: treat as password. */
    if (c == NULL ? url_decode(s, len, out->password, sizeof(out->password)) < 0
                  : url_decode(s, (size_t)(c - s), out->user, sizeof(out->user)) < 0 ||
                        url_decode(c + 1, len - (size_t)(c - s) - 1, out->password,
                                   sizeof(out->password)) < 0) {
        err_set(err, SQ_ERR_INVALID,
                "redis URL: bad user or password (too long, NUL or bad %% escape)");
        return -1;
    }
    *alen -= len + 1;
    *p = at + 1;
    return 0;
}

/* Parses one "host[:port]" or "[v6]:port" span s[0..len) into host[cap] and
 * *port (left as is when the span names none). Errors start with prefix. */
static int parse_hostport(const char *s, size_t len, char *host, size_t cap, int *port,
                          const char *prefix, struct sq_err *err)
{
    const char *e = s + len, *h = s, *he, *colon, *c;
    char portbuf[8];
    long long v;
    struct sq_err pe;

    if (len > 0 && *s == '[') {
        he = memchr(s, ']', len);
        if (he == NULL || he == s + 1) {
            err_set(err, SQ_ERR_INVALID, "%s: unterminated IPv6 address", prefix);
            return -1;
        }
        h = s + 1;
        colon = (he + 1 < e) ? he + 1 : NULL;
        if (colon != NULL && *colon != ':')
            goto bad_host;
    } else {
        he = memchr(s, ':', len);
        if (he == NULL)
            he = e;
        colon = (he < e) ? he : NULL;
    }
    if (he == h || (size_t)(he - h) >= cap)
        goto bad_host;
    for (c = h; c < he; c++) /* a space or control byte is in no host name */
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            goto bad_host;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    if (colon != NULL) {
        size_t pl = (size_t)(e - colon - 1);
        if (pl == 0 || pl >= sizeof(portbuf)) {
            err_set(err, SQ_ERR_INVALID, "%s: bad port", prefix);
            return -1;
        }
        memcpy(portbuf, colon + 1, pl);
        portbuf[pl] = '\0';
        if (num_parse_ll(portbuf, 1, 65535, &v, &pe) < 0) {
            err_set(err, SQ_ERR_INVALID, "%s: port %s", prefix, pe.msg);
            return -1;
        }
        *port = (int)v;
    }
    return 0;

bad_host:
    err_set(err, SQ_ERR_INVALID, "%s: bad or missing host", prefix);
    return -1;
}

static int parse_unix(const char *text, struct redis_url *out, struct sq_err *err)
{
    const char *q = strchr(text + 7, '?');
    size_t plen = q ? (size_t)(q - (text + 7)) : strlen(text + 7);

    out->kind = REDIS_URL_UNIX;
    if (plen == 0 || text[7] != '/' || plen >= sizeof(out->path)) {
        err_set(err, SQ_ERR_INVALID,
                "redis URL: unix:// needs an absolute socket path shorter than %zu bytes",
                sizeof(out->path));
        return -1;
    }
    memcpy(out->path, text + 7, plen);
    out->path[plen] = '\0';
    if (q != NULL) {
        if (strncmp(q, "?db=", 4) != 0) {
            err_set(err, SQ_ERR_INVALID,
                    "redis URL: only ?db=N is understood after a unix socket path");
            return -1;
        }
        return parse_db(q + 4, &out->db, err);
    }
    return 0;
}

static int parse_tcp(const char *p, struct redis_url *out, struct sq_err *err)
{
    const char *slash = strchr(p, '/');
    size_t alen = slash ? (size_t)(slash - p) : strlen(p);

    out->kind = REDIS_URL_TCP;
    if (parse_userinfo(&p, &alen, out, err) < 0)
        return -1;
    if (parse_hostport(p, alen, out->host, sizeof(out->host), &out->port, "redis URL", err) < 0)
        return -1;
    p += alen;
    if (*p == '/' && p[1] != '\0')
        return parse_db(p + 1, &out->db, err);
    return 0;
}

/* One ?name=value of a URL: where its decoded value goes. */
struct url_param {
    const char *name;
    size_t offset, size; /* in struct redis_url */
};

static const struct url_param sentinel_params[] = {
    {"sentinel_password", offsetof(struct redis_url, sentinel_password),
     sizeof(((struct redis_url *)0)->sentinel_password)},
    {"sentinel_user", offsetof(struct redis_url, sentinel_user),
     sizeof(((struct redis_url *)0)->sentinel_user)},
};

/* The URL kinds that take a node list: their scheme's name and node's word
 * for messages, the default port of a node, the list's bound, and the query
 * parameters they know (known: how messages list them). */
struct url_nodes_kind {
    enum redis_url_kind kind;
    const char *scheme, *node_word, *known;
    int default_port, max;
    const struct url_param *params;
    size_t nparams;
};

static const struct url_nodes_kind url_sentinel_kind = {
    REDIS_URL_SENTINEL,
    "redis-sentinel",
    "sentinel",
    "known: sentinel_password, sentinel_user",
    26379,
    REDIS_URL_SENTINELS_MAX,
    sentinel_params,
    sizeof(sentinel_params) / sizeof(sentinel_params[0]),
};

static const struct url_nodes_kind url_cluster_kind = {
    REDIS_URL_CLUSTER,
    "redis-cluster",
    "seed",
    "a redis-cluster URL takes none",
    6379,
    REDIS_URL_SEEDS_MAX,
    NULL,
    0,
};

/* Parses the query q[0..len) (without the '?'): name=value pairs joined by '&'. */
static int parse_query(const struct url_nodes_kind *k, const char *q, size_t len,
                       struct redis_url *out, struct sq_err *err)
{
    const char *e = q + len;

    while (q < e) {
        const char *amp = memchr(q, '&', (size_t)(e - q)), *eq;
        const struct url_param *sp = NULL;
        size_t i, plen;

        if (amp == NULL)
            amp = e;
        plen = (size_t)(amp - q);
        eq = memchr(q, '=', plen);
        for (i = 0; eq != NULL && i < k->nparams; i++)
            if (strlen(k->params[i].name) == (size_t)(eq - q) &&
                memcmp(k->params[i].name, q, (size_t)(eq - q)) == 0)
                sp = &k->params[i];
        if (sp == NULL) {
            /* the name only: a misspelt name's value may be a password */
            size_t nlen = eq != NULL ? (size_t)(eq - q) : plen;
            err_set(err, SQ_ERR_INVALID, "%s URL: unknown parameter '%.*s' (%s)", k->scheme,
                    (int)(nlen > 64 ? 64 : nlen), q, k->known);
            return -1;
        }
        if (url_decode(eq + 1, (size_t)(amp - eq - 1), (char *)out + sp->offset, sp->size) < 0) {
            err_set(err, SQ_ERR_INVALID, "%s URL: bad %s (too long, NUL or bad %% escape)",
                    k->scheme, sp->name);
            return -1;
        }
        q = amp < e ? amp + 1 : e;
    }
    return 0;
}

/* Parses the node list p[0..alen): "h1[:port][,h2[:port]...]" into
 * list[k->max], counted in *count. 0, or -1 with err naming the node by its
 * rank. */
static int parse_nodes(const struct url_nodes_kind *k, const char *p, size_t alen,
                       struct redis_url_node *list, int *count, struct sq_err *err)
{
    const char *ae = p + alen, *node;
    char prefix[48];

    for (node = p;; node++) {
        const char *comma = memchr(node, ',', (size_t)(ae - node));
        struct redis_url_node *n;

        if (comma == NULL)
            comma = ae;
        if (*count == k->max) {
            err_set(err, SQ_ERR_INVALID, "%s URL: more than %d %ss", k->scheme, k->max,
                    k->node_word);
            return -1;
        }
        n = &list[(*count)++];
        n->port = k->default_port;
        snprintf(prefix, sizeof(prefix), "%s URL: %s %d", k->scheme, k->node_word, *count);
        if (parse_hostport(node, (size_t)(comma - node), n->host, sizeof(n->host), &n->port, prefix,
                           err) < 0)
            return -1;
        node = comma;
        if (node == ae)
            return 0;
    }
}

/* The start of a redis-sentinel or redis-cluster URL (after the scheme):
 * [[user]:password@]h1[:port][,h2[:port]...][/db][?params], the nodes into
 * list, counted in *count. The authority ends at the first '/', '?' or '#': a
 * password holding one of them must escape it (%2F, %3F, %23). Returns where
 * the rest (a #fragment or the end) starts, or NULL with err. */
static const char *parse_nodes_url(const struct url_nodes_kind *k, const char *p,
                                   struct redis_url_node *list, int *count, struct redis_url *out,
                                   struct sq_err *err)
{
    size_t alen = strcspn(p, "/?#");

    out->kind = k->kind;
    if (parse_userinfo(&p, &alen, out, err) < 0 || parse_nodes(k, p, alen, list, count, err) < 0)
        return NULL;
    p += alen;
    if (*p == '/') {
        size_t dlen = strcspn(p + 1, "?#");
        char dbbuf[32];
        if (dlen >= sizeof(dbbuf)) {
            err_set(err, SQ_ERR_INVALID, "redis URL: database '%.20s...' is not an integer", p + 1);
            return NULL;
        }
        memcpy(dbbuf, p + 1, dlen);
        dbbuf[dlen] = '\0';
        if (dlen > 0 && parse_db(dbbuf, &out->db, err) < 0)
            return NULL;
        p += 1 + dlen;
    }
    if (*p == '?') {
        size_t qlen = strcspn(p + 1, "#");
        if (parse_query(k, p + 1, qlen, out, err) < 0)
            return NULL;
        p += 1 + qlen;
    }
    return p;
}

/* redis-sentinel://[[user]:password@]h1[:port][,h2[:port]...][/db][?params]#master. */
static int parse_sentinel(const char *p, struct redis_url *out, struct sq_err *err)
{
    p = parse_nodes_url(&url_sentinel_kind, p, out->sentinels, &out->nsentinels, out, err);
    if (p == NULL)
        return -1;
    if (*p != '#' || p[1] == '\0') {
        err_set(err, SQ_ERR_INVALID,
                "redis-sentinel URL: the master name is missing (end the URL with #mymaster)");
        return -1;
    }
    if (url_decode(p + 1, strlen(p + 1), out->master_name, sizeof(out->master_name)) < 0) {
        err_set(err, SQ_ERR_INVALID,
                "redis-sentinel URL: bad master name (longer than %zu bytes, NUL or bad %% "
                "escape)",
                sizeof(out->master_name) - 1);
        return -1;
    }
    return 0;
}

/* redis-cluster://[[user]:password@]h1[:port][,h2[:port]...][/0][?]: the
 * seed nodes. Cluster has one database, 0; there is no fragment. */
static int parse_cluster(const char *p, struct redis_url *out, struct sq_err *err)
{
    p = parse_nodes_url(&url_cluster_kind, p, out->seeds, &out->nseeds, out, err);
    if (p == NULL)
        return -1;
    if (out->db != 0) {
        err_set(err, SQ_ERR_INVALID,
                "redis-cluster URL: database %d: a cluster has only database 0", out->db);
        return -1;
    }
    if (*p != '\0') {
        err_set(err, SQ_ERR_INVALID, "redis-cluster URL: unexpected '%.32s' at the end", p);
        return -1;
    }
    return 0;
}

int redis_url_parse(const char *text, struct redis_url *out, struct sq_err *err)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (text == NULL) {
        err_set(err, SQ_ERR_INVALID, "redis URL: missing");
        return -1;
    }
    if (strncmp(text, "unix://", 7) == 0)
        return parse_unix(text, out, err);
    if (strncmp(text, "redis://", 8) == 0)
        return parse_tcp(text + 8, out, err);
    if (strncmp(text, "redis-sentinel://", 17) == 0)
        return parse_sentinel(text + 17, out, err);
    if (strncmp(text, "redis-cluster://", 16) == 0)
        return parse_cluster(text + 16, out, err);
    err_set(err, SQ_ERR_INVALID,
            "redis URL: '%.64s' must start with redis://, redis-sentinel://, redis-cluster:// or "
            "unix://",
            text);
    return -1;
}

/* Appends fmt to buf[cap] at *len, never past cap (a long form is cut). */
static void describe_add(char *buf, unsigned long cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void describe_add(char *buf, unsigned long cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

static void describe_host(char *buf, unsigned long cap, size_t *len, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;

    describe_add(buf, cap, len, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

void redis_url_describe(const struct redis_url *url, char *buf, unsigned long cap)
{
    const struct redis_url_node *nodes = url->sentinels;
    int i, n = url->nsentinels;
    size_t len = 0;

    if (cap == 0)
        return;
    buf[0] = '\0';
    if (url->kind == REDIS_URL_UNIX) {
        describe_add(buf, cap, &len, "unix://%s?db=%d", url->path, url->db);
        return;
    }
    describe_add(buf, cap, &len, "%s://%s",
                 url->kind == REDIS_URL_SENTINEL  ? "redis-sentinel"
                 : url->kind == REDIS_URL_CLUSTER ? "redis-cluster"
                                                  : "redis",
                 url->password[0] ? "***@" : "");
    if (url->kind == REDIS_URL_TCP) {
        describe_host(buf, cap, &len, url->host, url->port);
        describe_add(buf, cap, &len, "/%d", url->db);
        return;
    }
    if (url->kind == REDIS_URL_CLUSTER) {
        nodes = url->seeds;
        n = url->nseeds;
    }
    for (i = 0; i < n; i++) {
        if (i > 0)
            describe_add(buf, cap, &len, ",");
        describe_host(buf, cap, &len, nodes[i].host, nodes[i].port);
    }
    describe_add(buf, cap, &len, "/%d", url->db);
    if (url->kind == REDIS_URL_CLUSTER)
        return;
    if (url->sentinel_password[0])
        describe_add(buf, cap, &len, "?sentinel_password=***");
    describe_add(buf, cap, &len, "#%s", url->master_name);
}

int redis_url_resolve(const struct redis_url *url, char *addr, unsigned long cap,
                      struct sq_err *err)
{
    struct addrinfo hints, *res = NULL, *ai, *pick;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(url->host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        err_set(err, SQ_ERR_IO, "cannot resolve redis host '%s': %s", url->host,
                rc != 0 ? gai_strerror(rc) : "no address");
        return -1;
    }
    pick = res;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    }
    rc =
        getnameinfo(pick->ai_addr, pick->ai_addrlen, addr, (socklen_t)cap, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    if (rc != 0) {
        err_set(err, SQ_ERR_IO, "cannot resolve redis host '%s': %s", url->host, gai_strerror(rc));
        return -1;
    }
    return 0;
}
