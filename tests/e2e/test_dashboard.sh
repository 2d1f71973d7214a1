#!/usr/bin/env bash
# test_dashboard: GET / — the page and its headers (CSP hashes matching its
# inline script and style, ETag/304, HEAD, 405 + Allow, nothing external),
# ?access_token= on the SSE routes only, and the page driven in a real headless
# Chromium (tests/browser/dashboard.js, playwright-core): live stage text,
# cancel, API errors, the token field, narrow widths, and its three pictures
# (throughput chart, stage timeline, schedules' next hour) and the Pause/Resume
# and Retry buttons (against GET /v1/queues when the API has it, else absent). Needs node, npm and
# chromium (deploy/install-deps.sh test installs them): without them it fails.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tdash
flush_prefix tdash
T=$STAGEQ_TEST_TMP
# the test pipelines with three schedules for the Schedules panel and its
# picture of the coming hour: a yearly cron (no run in the hour), every hour (one
# run), and a cron in a time zone half an hour off UTC (three runs, at local
# minutes 5, 25 and 45: UTC minutes 35, 55 and 15). Their jobs (if one fires
# during the run) go to the queue "idle", which no worker here serves. And a
# pipeline whose one stage runs 8 s without a word (no progress, so no event):
# its timeline bar can only grow by the page's own clock.
PIPES="$T/pipelines-dashboard.json"
jq '.pipelines.quiet = {stages: [{name: "nap", exec: ["sh", "-c", "sleep 8; cat"]}]}
    | . + {schedules: [{name: "dash-yearly", pipeline: "ok", cron: "0 0 1 1 *", timezone: "Asia/Tokyo"},
                     {name: "dash-hourly", pipeline: "idle", every_s: 3600},
                     {name: "dash-kolkata", pipeline: "idle", cron: "5-59/20 * * * *", timezone: "Asia/Kolkata"}]}' \
  tests/e2e/pipelines-test.json >"$PIPES"
TOKEN=dash-token-0123456789
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
OUT_DIR="$BUILD/test-output"
mkdir -p "$OUT_DIR"

start_api api-tok --pipelines "$PIPES" --api-token "$TOKEN"
TOKEN_URL=$API_URL
TOKEN_PID=$API_PID
start_api api --pipelines "$PIPES"
start_worker worker --pipelines "$PIPES" --concurrency 2 --queues default:3,spare:1

# --- the page over plain HTTP ----------------------------------------------------
http GET /
check_eq "GET / answers 200" 200 "$HTTP_STATUS"
hdr() { printf '%s\n' "$HTTP_HEADERS" | tr -d '\r' | sed -n "s/^$1: //Ip" | head -1; }
check_eq "... as text/html; charset=utf-8" "text/html; charset=utf-8" "$(hdr content-type)"
check_eq "... with Cache-Control: no-cache" no-cache "$(hdr cache-control)"
csp=$(hdr content-security-policy)
check "... with a Content-Security-Policy starting default-src 'none'" \
  bash -c "[[ \"\$1\" == \"default-src 'none'; \"* ]]" _ "$csp"
check "... that allows no 'unsafe-inline' and no other origin" \
  bash -c "! grep -qE \"unsafe-inline|unsafe-eval|https?:|\\*\" <<<\"\$1\"" _ "$csp"
check_eq "... X-Content-Type-Options: nosniff" nosniff "$(hdr x-content-type-options)"
curl -s --max-time 10 -o "$T/page.html" "$API_URL/"  # the bytes ($HTTP_BODY lost the last newline)
check "the page is the one of api/dashboard.html" cmp -s "$T/page.html" api/dashboard.html
hashes=$(python3 - "$T/page.html" <<'PY'
import base64, hashlib, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
for tag in ("script", "style"):
    blocks = re.findall(r"<%s>(.*?)</%s>" % (tag, tag), re.sub(r"<!--.*?-->", "", page, flags=re.S), re.S)
    for b in blocks:
        print("%s-src 'sha256-%s'" % (tag, base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()))
PY
)
check_eq "the page has one inline script and one inline style" 2 "$(printf '%s\n' "$hashes" | grep -c src)"
while IFS= read -r h; do
  check "the CSP allows exactly that block: $h" bash -c "grep -qF \"\$1\" <<<\"\$2\"" _ "$h" "$csp"
done <<<"$hashes"
check "the page references nothing external (no http:// or https://)" \
  bash -c "! grep -qiE 'https?://|//[a-z0-9.-]+\.[a-z]{2,}/' \"\$1\"" _ "$T/page.html"
check "no src= or href= but the empty data: favicon" \
  bash -c "[ \"\$(grep -oiE '(src|href)=\"[^\"]*\"' \"\$1\")\" = 'href=\"data:,\"' ]" _ "$T/page.html"
check "no inline event handler or style attribute" \
  bash -c "! grep -qiE ' (on[a-z]+|style)=' \"\$1\"" _ "$T/page.html"
check "no innerHTML in the page's script" bash -c "! grep -qE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write' \"\$1\"" _ "$T/page.html"
etag=$(hdr etag)
check "an ETag is sent" bash -c "[[ \"\$1\" == '\"'*'\"' ]]" _ "$etag"
http GET / -H "If-None-Match: $etag"
check_eq "If-None-Match with it answers 304" 304 "$HTTP_STATUS"
check_eq "... without a body" "" "$HTTP_BODY"
len=$(wc -c <api/dashboard.html | tr -d ' ')
http HEAD / -I
check_eq "HEAD / answers 200" 200 "$HTTP_STATUS"
check_eq "... with the length of the page" "$len" "$(hdr content-length)"
http POST / -H 'content-type: application/json' --data-binary '{}'
check_eq "POST / answers 405" 405 "$HTTP_STATUS"
check_eq "... with Allow: GET, HEAD" "GET, HEAD" "$(hdr allow)"
check_eq "... and the JSON error" method_not_allowed "$(jqr .error.code)"
http DELETE /
check_eq "DELETE / answers 405" 405 "$HTTP_STATUS"

# --- the token: the page is public, the API is not; ?access_token= only for SSE ----
API_URL=$TOKEN_URL
http GET /
check_eq "with a token set, GET / still answers 200 without it" 200 "$HTTP_STATUS"
http POST /
check_eq "... and POST / 405 (not 401: / is public)" 405 "$HTTP_STATUS"
http GET /v1/stats
check_eq "GET /v1/stats without the token: 401" 401 "$HTTP_STATUS"
http GET "/v1/stats?access_token=$TOKEN"
check_eq "GET /v1/stats?access_token=: 401 (query tokens are for SSE only)" 401 "$HTTP_STATUS"
http GET /v1/stats -H "Authorization: Bearer $TOKEN"
check_eq "GET /v1/stats with the header: 200" 200 "$HTTP_STATUS"
curl -s -N -D "$T/sse.h" --max-time 2 "$API_URL/v1/events?access_token=$TOKEN" >"$T/sse.out"
check "GET /v1/events?access_token=<token> streams" grep -q '^: connected' "$T/sse.out"
check "... as text/event-stream" grep -qi '^content-type: text/event-stream' "$T/sse.h"
http GET "/v1/events?access_token=wrong-$TOKEN"
check_eq "GET /v1/events?access_token=<wrong>: 401" 401 "$HTTP_STATUS"
http GET "/v1/events?access_token="
check_eq "GET /v1/events?access_token= (empty): 401" 401 "$HTTP_STATUS"
http GET "/v1/jobs/nope/events?access_token=$TOKEN"
check_eq "GET /v1/jobs/{id}/events?access_token=<token> reaches the route (404 unknown job)" 404 "$HTTP_STATUS"
check "the access log does not show the token" bash -c "! grep -q \"\$1\" \"\$2\"" _ "$TOKEN" "$T/api-tok.log"
API_URL="http://127.0.0.1:$(cat "$T/api.port")"

# --- the page in headless Chromium ---------------------------------------------
have=1
if ! command -v node >/dev/null 2>&1; then
  not_ok "node is installed (deploy/install-deps.sh test)"; have=0
fi
if [ ! -x "$CHROMIUM" ]; then
  not_ok "chromium is installed at $CHROMIUM (deploy/install-deps.sh test)"; have=0
fi
if [ "$have" = 1 ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
  if ! (cd tests/browser && timeout 300 npm install --no-audit --no-fund >"$T/npm.log" 2>&1); then
    cat "$T/npm.log"
    not_ok "npm installs playwright-core into tests/browser/node_modules"; have=0
  fi
fi
if [ "$have" = 1 ]; then
  shot="$OUT_DIR/dashboard.png"
  rm -f "$shot"
  # the browser run stops the token API (pid) and starts it again on its port
  DASH_URL=$API_URL DASH_TOKEN_URL=$TOKEN_URL DASH_TOKEN=$TOKEN DASH_SCREENSHOT=$shot \
    DASH_TOKEN_API_PID=$TOKEN_PID DASH_RESPAWN_LOG="$T/api-tok2.log" \
    DASH_RESPAWN="$BUILD/stageq-api --listen ${TOKEN_URL#http://} --redis-url $SQ_REDIS_URL --pipelines $PIPES --api-token $TOKEN" \
    CHROMIUM=$CHROMIUM timeout 300 node tests/browser/dashboard.js >"$T/browser.out" 2>"$T/browser.err"
  rc=$?
  cat "$T/browser.out"
  for p in $(sed -n 's/^# respawned api pid //p' "$T/browser.out"); do
    kill -0 "$p" 2>/dev/null && stop_pid "$p"   # node stops it; this only if node died
  done
  [ -s "$T/browser.err" ] && sed 's/^/# stderr: /' "$T/browser.err" | head -40
  check_eq "the browser run exits 0" 0 "$rc"
  check "the screenshot exists" test -s "$shot"
  done_id=$(sed -n 's/^# job done //p' "$T/browser.out")
  canceled_id=$(sed -n 's/^# job canceled //p' "$T/browser.out")
  check_eq "Redis: the job submitted through the form succeeded" succeeded \
    "$(rcli HGET "$(job_key "$done_id")" state)"
  check_eq "Redis: the job canceled through the page is canceled" canceled \
    "$(rcli HGET "$(job_key "$canceled_id")" state)"
  gone() { [ -z "$(stage_pids "$canceled_id")" ]; }
  check "the canceled job's stage process is gone" wait_for 15 gone
fi

finish
