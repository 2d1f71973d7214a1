/* redis_url: the connection URL parser. */
#include "redis_url.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"

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

    if (cfg_parse_int(s, 0, 100000, &v, &e) < 0) {
        err_set(err, "redis URL: database %s", e.msg);
        return -1;
    }
    *db = (int)v;
    return 0;
}

int redis_url_parse(const char *text, struct redis_url *out, struct sq_err *err)
{
    const char *p, *at, *hostend, *slash, *colon;
    char portbuf[8];
    long long port;
    struct sq_err e;

    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (text == NULL) {
        err_set(err, "redis URL: missing");
        return -1;
    }
    if (strncmp(text, "unix://", 7) == 0) {
        const char *q = strchr(text + 7, '?');
        size_t plen = q ? (size_t)(q - (text + 7)) : strlen(text + 7);
        out->kind = REDIS_URL_UNIX;
        if (plen == 0 || text[7] != '/' || plen >= sizeof(out->path)) {
            err_set(err, "redis URL: unix:// needs an absolute socket path shorter than %zu bytes",
                    sizeof(out->path));
            return -1;
        }
        memcpy(out->path, text + 7, plen);
        out->path[plen] = '\0';
        if (q != NULL) {
            if (strncmp(q, "?db=", 4) != 0) {
                err_set(err, "redis URL: only ?db=N is understood after a unix socket path");
                return -1;
            }
            return parse_db(q + 4, &out->db, err);
        }
        return 0;
    }
    if (strncmp(text, "redis://", 8) != 0) {
        err_set(err, "redis URL: '%.64s' must start with redis:// or unix://", text);
        return -1;
    }
    out->kind = REDIS_URL_TCP;
    p = text + 8;
    slash = strchr(p, '/');
    at = memrchr(p, '@', slash ? (size_t)(slash - p) : strlen(p)); /* a password may hold '@' */
    if (at != NULL) {
        const char *c = memchr(p, ':', (size_t)(at - p));
        if (c == NULL) {
            /* redis://password@host is what many tools accept: treat as password. */
            if (url_decode(p, (size_t)(at - p), out->password, sizeof(out->password)) < 0)
                goto bad_auth;
        } else {
            if (url_decode(p, (size_t)(c - p), out->user, sizeof(out->user)) < 0 ||
                url_decode(c + 1, (size_t)(at - c - 1), out->password, sizeof(out->password)) < 0)
                goto bad_auth;
        }
        p = at + 1;
    }
    if (*p == '[') {
        hostend = strchr(p, ']');
        if (hostend == NULL || hostend == p + 1) {
            err_set(err, "redis URL: unterminated IPv6 address");
            return -1;
        }
        if ((size_t)(hostend - p - 1) >= sizeof(out->host))
            goto bad_host;
        memcpy(out->host, p + 1, (size_t)(hostend - p - 1));
        out->host[hostend - p - 1] = '\0';
        p = hostend + 1;
        colon = (*p == ':') ? p : NULL;
    } else {
        size_t hl;
        colon = NULL;
        for (hostend = p; *hostend && *hostend != ':' && *hostend != '/'; hostend++)
            ;
        hl = (size_t)(hostend - p);
        if (hl == 0 || hl >= sizeof(out->host))
            goto bad_host;
        memcpy(out->host, p, hl);
        out->host[hl] = '\0';
        p = hostend;
        if (*p == ':')
            colon = p;
    }
    if (colon != NULL) {
        const char *ps = colon + 1, *pe = strchr(ps, '/');
        size_t pl = pe ? (size_t)(pe - ps) : strlen(ps);
        if (pl == 0 || pl >= sizeof(portbuf)) {
            err_set(err, "redis URL: bad port");
            return -1;
        }
        memcpy(portbuf, ps, pl);
        portbuf[pl] = '\0';
        if (cfg_parse_int(portbuf, 1, 65535, &port, &e) < 0) {
            err_set(err, "redis URL: port %s", e.msg);
            return -1;
        }
        out->port = (int)port;
        p = ps + pl;
    } else if (*p != '\0' && *p != '/') {
        goto bad_host;
    }
    if (*p == '/') {
        p++;
        if (*p != '\0')
            return parse_db(p, &out->db, err);
    }
    return 0;

bad_auth:
    err_set(err, "redis URL: bad user or password (too long, NUL or bad %% escape)");
    return -1;
bad_host:
    err_set(err, "redis URL: bad or missing host");
    return -1;
}

void redis_url_describe(const struct redis_url *url, char *buf, unsigned long cap)
{
    if (url->kind == REDIS_URL_UNIX)
        snprintf(buf, cap, "unix://%s?db=%d", url->path, url->db);
    else
        snprintf(buf, cap, "redis://%s%s%s%s:%d/%d", url->password[0] ? "***@" : "",
                 strchr(url->host, ':') ? "[" : "", url->host, strchr(url->host, ':') ? "]" : "",
                 url->port, url->db);
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
        err_set(err, "cannot resolve redis host '%s': %s", url->host,
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
        err_set(err, "cannot resolve redis host '%s': %s", url->host, gai_strerror(rc));
        return -1;
    }
    return 0;
}
