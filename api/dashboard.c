/* dashboard: GET / answers the one-page dashboard (api/dashboard.html, made a
 * C string at build time by deploy/embed-html.sh). It never reads Redis and
 * never puts request data in the page: the page fetches everything itself,
 * with the token the user types (the page is public, the API behind it is not). */
#include "api.h"

#include <string.h>

#include "dashboard_gen.h"

/* Only the page's own inline script and style run; it talks to this origin
 * only (fetch, EventSource); no plugin, frame, form post or base change. The
 * favicon is the empty data: URL the page names, so no request 404s. */
#define DASHBOARD_CSP                                                                              \
    "default-src 'none'; script-src 'sha256-" DASHBOARD_HTML_SCRIPT_SHA256 "'; "                   \
    "style-src 'sha256-" DASHBOARD_HTML_STYLE_SHA256 "'; connect-src 'self'; img-src data:; "      \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* True when an If-None-Match value names etag (or is "*"). Weak comparison,
 * as RFC 9110 asks for If-None-Match: W/"x" matches "x". */
static bool dashboard_is_cached(const char *inm, const char *etag)
{
    while (*inm == ' ' || *inm == '\t')
        inm++;
    return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

void dashboard_page(struct api_req *ar)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(ar->req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(ar->req);
    const char *inm = evhttp_find_header(in, "If-None-Match");

    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "ETag", DASHBOARD_HTML_ETAG);
    evhttp_add_header(out, "Content-Security-Policy", DASHBOARD_CSP);
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(out, "X-Frame-Options", "DENY");
    evhttp_add_header(out, "Referrer-Policy", "no-referrer");
    if (inm != NULL && dashboard_is_cached(inm, DASHBOARD_HTML_ETAG)) {
        reply_content(ar, 304, NULL, NULL, 0);
        return;
    }
    reply_content(ar, 200, "text/html; charset=utf-8", dashboard_html, dashboard_html_len);
}
