#!/usr/bin/env bash
# test_metrics: GET /metrics — the text passes `promtool check metrics`, the job
# counters match the jobs run, stage histograms are cumulative with _count =
# +Inf bucket, queue gauges equal LLEN/ZCARD, running jobs and live workers,
# per-process HTTP counters move by exactly one per request (404, 405, 401 and
# streams included), two replicas agree on every cluster-wide figure, the
# bearer token protects the route, and Redis away gives a 503 JSON error.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tmet
flush_prefix tmet
PL=tests/e2e/pipelines-test.json

# The job counters (<p>:counters) and stage histograms (<p>:stagehist:<p>)
# checked here are the ones the Lua scripts write for the jobs this suite runs.

start_api met-api --pipelines "$PL"
API1=$API_URL
start_api met-api2 --pipelines "$PL"
API2=$API_URL
API_URL=$API1

# scrape [URL] [curl args...]: the page into $M (and $M_STATUS, $M_CTYPE).
scrape() {
  local url=${1:-$API_URL}; shift || true
  local hf="$STAGEQ_TEST_TMP/mh.$$"
  M=$(curl -s -D "$hf" --max-time 10 "$@" "$url/metrics")
  M_STATUS=$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' "$hf")
  M_CTYPE=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\(.*\)\r$/\1/p' "$hf")
  rm -f "$hf"
}
# mval SERIES: the value of one sample line of $M (exact series text), or "".
mval() { printf '%s\n' "$M" | awk -v k="$1" '$1 == k { print $2; exit }'; }

scrape
check_eq "GET /metrics answers 200" 200 "$M_STATUS"
check_eq "content type is the text format 0.0.4" "text/plain; version=0.0.4; charset=utf-8" "$M_CTYPE"
check "every loaded pipeline has its counters, at 0" \
  test "$(mval 'stageq_jobs_failed_total{pipeline="idle"}')" = 0
check_eq "no worker yet" 0 "$(mval stageq_workers_alive)"
check_eq "build info" 1 "$(printf '%s\n' "$M" | awk '/^stageq_build_info\{version="[^"]+"\} /{print $2}')"

# --- jobs: 2 ok, 1 permanent failure, 1 exit3 (2 retries then failed), 2 idle
# (one canceled), 1 blog4 (4 stages) ------------------------------------------
start_worker met-worker --pipelines "$PL" --concurrency 2 --lease 3
for i in 1 2; do post_json /v1/jobs "{\"pipeline\":\"ok\",\"id\":\"ok-$i\",\"input\":{\"n\":$i}}"; done
post_json /v1/jobs '{"pipeline":"permanent","id":"perm-1","input":{}}'
post_json /v1/jobs '{"pipeline":"exit3","id":"exit3-1","input":{}}'
post_json /v1/jobs '{"pipeline":"idle","id":"idle-1","input":{}}'
post_json /v1/jobs '{"pipeline":"idle","id":"idle-2","input":{}}'
http DELETE /v1/jobs/idle-2
check_eq "the idle job is canceled" 200 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"blog4","id":"blog-1","input":{"sleep":0.6}}'
check_eq "the last submit answers 202" 202 "$HTTP_STATUS"

running_is() { scrape; [ "$(mval 'stageq_jobs_running{queue="default"}')" = "$1" ]; }
check "a running job shows in stageq_jobs_running" wait_for 20 running_is 1
state_of() { curl -s "$API_URL/v1/jobs/$1" | jq -r .state; }
all_done() {
  [ "$(state_of ok-1)" = succeeded ] && [ "$(state_of ok-2)" = succeeded ] &&
    [ "$(state_of perm-1)" = failed ] && [ "$(state_of exit3-1)" = failed ] &&
    [ "$(state_of blog-1)" = succeeded ]
}
check "the jobs end" wait_for 40 all_done
check "no job running once they ended" wait_for 10 running_is 0
workers_are() { scrape; [ "$(mval stageq_workers_alive)" = "$1" ]; }
check "stageq_workers_alive counts the worker processes" wait_for 10 workers_are 2

# --- counters -------------------------------------------------------------------
scrape
for c in submitted:ok:2 submitted:permanent:1 submitted:exit3:1 submitted:idle:2 submitted:blog4:1 \
  succeeded:ok:2 succeeded:blog4:1 succeeded:exit3:0 failed:permanent:1 failed:exit3:1 \
  failed:ok:0 canceled:idle:1 canceled:ok:0 retried:exit3:2 retried:permanent:0; do
  IFS=: read -r ev pl n <<<"$c"
  check_eq "stageq_jobs_${ev}_total{pipeline=\"$pl\"}" "$n" \
    "$(mval "stageq_jobs_${ev}_total{pipeline=\"$pl\"}")"
done
# fields the endpoint must skip: a bad pipeline name, an unknown event, not a count
rcli HSET tmet:{8209}:counters "submitted:not a name" 9 bogus:ok 7 submitted:x1 -3 submitted:x2 1.5 >/dev/null
scrape
check_eq "invalid counter fields are left out" "" \
  "$(printf '%s\n' "$M" | grep -E 'not a name|bogus|x1|x2')"
check_eq "and the valid ones stay" 2 "$(mval 'stageq_jobs_submitted_total{pipeline="ok"}')"

# --- stage histograms -------------------------------------------------------------
scrape
for s in one two three four; do
  check_eq "blog4 stage $s ran once" 1 \
    "$(mval "stageq_stage_duration_seconds_count{pipeline=\"blog4\",stage=\"$s\"}")"
done
check_eq "ok/double ran twice" 2 \
  "$(mval 'stageq_stage_duration_seconds_count{pipeline="ok",stage="double"}')"
check_eq "_count equals the hash's own count" "$(rcli HGET tmet:{8209}:stagehist:blog4 'one|count')" \
  "$(mval 'stageq_stage_duration_seconds_count{pipeline="blog4",stage="one"}')"
check "blog4 stage one took 0.6 s or more" awk -v v="$(mval 'stageq_stage_duration_seconds_sum{pipeline="blog4",stage="one"}')" \
  'BEGIN { exit !(v >= 0.6 && v < 60) }'
check "no blog4 stage run under 0.5 s" test \
  "$(mval 'stageq_stage_duration_seconds_bucket{pipeline="blog4",stage="two",le="0.5"}')" = 0
# every histogram (stages and HTTP): cumulative buckets, ends with +Inf = _count
hist_ok() {
  printf '%s\n' "$M" | python3 -c '
import re, sys
series = {}
counts = {}
for line in sys.stdin:
    if line.startswith("#") or not line.strip():
        continue
    name, value = line.rsplit(" ", 1)
    m = re.match(r"^(\w+)_bucket\{(.*),le=\"([^\"]+)\"\}$", name)
    if m:
        series.setdefault((m.group(1), m.group(2)), []).append((m.group(3), float(value)))
        continue
    m = re.match(r"^(\w+)_count\{(.*)\}$", name)
    if m:
        counts[(m.group(1), m.group(2))] = float(value)
bad = 0
for key, buckets in series.items():
    les = [float("inf") if le == "+Inf" else float(le) for le, _ in buckets]
    vals = [v for _, v in buckets]
    if les != sorted(les) or les[-1] != float("inf") or vals != sorted(vals) or counts.get(key) != vals[-1]:
        print("bad histogram", key, buckets, counts.get(key)); bad += 1
if not series:
    print("no histogram"); bad += 1
sys.exit(1 if bad else 0)'
}
check "histograms are cumulative and _count equals the +Inf bucket" hist_ok

# --- queues -----------------------------------------------------------------------
check_eq "idle queue depth equals LLEN" "$(rcli LLEN tmet:{8209}:queue:idle)" \
  "$(mval 'stageq_queue_depth{queue="idle"}')"
check "the idle queue holds a job" test "$(mval 'stageq_queue_depth{queue="idle"}')" -ge 1
check_eq "default queue depth equals LLEN" "$(rcli LLEN tmet:{8209}:queue:default)" \
  "$(mval 'stageq_queue_depth{queue="default"}')"
# a worker on a queue no pipeline names: its queue shows (read in a 2nd round)
rcli ZADD tmet:{8209}:delayed:extraq 99999999999999 not-due-1 99999999999999 not-due-2 >/dev/null
start_worker met-worker-extra --pipelines "$PL" --concurrency 1 --queue extraq --lease 3
extra_shows() { scrape; [ "$(mval 'stageq_queue_delayed{queue="extraq"}')" = 2 ]; }
check "a live worker's own queue shows, with its delayed retries" wait_for 10 extra_shows
check_eq "its depth equals LLEN" "$(rcli LLEN tmet:{8209}:queue:extraq)" \
  "$(mval 'stageq_queue_depth{queue="extraq"}')"
check_eq "its running jobs" 0 "$(mval 'stageq_jobs_running{queue="extraq"}')"
check "stageq_workers_alive counts it too" wait_for 10 workers_are 3

# --- promtool -------------------------------------------------------------------------
if command -v promtool >/dev/null; then
  out=$(printf '%s\n' "$M" | promtool check metrics 2>&1)
  rc=$?
  check_eq "promtool check metrics finds no problem" "0:" "$rc:$out"
else
  not_ok "promtool is not installed (deploy/install-deps.sh test installs prometheus)"
fi

# --- two replicas agree on every cluster-wide figure ------------------------------------
cluster() {
  scrape "$1"
  printf '%s\n' "$M" | grep -vE '^(# (HELP|TYPE) )?stageq_(http_|redis_errors|build_info)'
}
c1=$(cluster "$API1")
c2=$(cluster "$API2")
check "two API replicas give the same cluster-wide figures" test "$c1" = "$c2"
check "and the figures are there" test "$(printf '%s\n' "$c1" | grep -c '^stageq_')" -gt 100

# --- HTTP counters: exactly one per request -----------------------------------------------
hv() { mval "stageq_http_requests_total{route=\"$1\",method=\"$2\",status=\"$3\"}"; }
series=('/metrics GET 200' '/healthz GET 200' '/v1/jobs/{id} GET 200' '/v1/jobs/{id} GET 404'
  'other GET 404' '/healthz DELETE 405' '/v1/jobs/{id}/events GET 200' '/v1/jobs POST 422')
scrape
declare -A before
for s in "${series[@]}"; do read -r r m st <<<"$s"; before[$s]=$(hv "$r" "$m" "$st"); done
curl -s "$API_URL/healthz" >/dev/null
curl -s "$API_URL/v1/jobs/ok-1" >/dev/null
curl -s "$API_URL/v1/jobs/no-such-job" >/dev/null
curl -s "$API_URL/no/such/path" >/dev/null
curl -s -X DELETE "$API_URL/healthz" >/dev/null
curl -s -N --max-time 5 "$API_URL/v1/jobs/ok-1/events" >/dev/null  # a finished job: ends at once
post_json /v1/jobs '{"pipeline":"no-such-pipeline","input":{}}'
scrape
for s in "${series[@]}"; do
  read -r r m st <<<"$s"
  check_eq "http_requests_total{$r,$m,$st} grew by one" $((${before[$s]:-0} + 1)) "$(hv "$r" "$m" "$st")"
done
check "raw paths never become routes" test -z "$(printf '%s\n' "$M" | grep -E 'route="/(v1/jobs/(ok-1|no-such)|no/such)')"
lat_count=$(mval 'stageq_http_request_duration_seconds_count{route="/healthz"}')
check_eq "the latency histogram counts every /healthz request" \
  "$(( $(hv /healthz GET 200) + $(hv /healthz DELETE 405) ))" "$lat_count"

# --- the bearer token protects /metrics ---------------------------------------------------
start_api met-api-token --pipelines "$PL" --api-token s3cret
scrape "$API_URL"
check_eq "without the token: 401" 401 "$M_STATUS"
scrape "$API_URL" -H 'Authorization: Bearer s3cret'
check_eq "with the token: 200" 200 "$M_STATUS"
check_eq "the 401 was counted under its route" 1 "$(hv /metrics GET 401)"

# --- HEAD, and Redis errors counted -------------------------------------------------------------
hstatus=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -I "$API1/metrics")
check_eq "HEAD /metrics: 200 without a body" "200 0" "$hstatus"
# on a Redis of its own: a pause of the shared one would stall the suites
# that run beside this one
redis_start met
REDIS_PORT=$REDIS_PORT_met start_api met-api-slow --pipelines "$PL" --request-timeout-ms 300
scrape "$API_URL"
check_eq "no Redis error yet" 0 "$(mval stageq_redis_errors_total)"
REDIS_PORT=$REDIS_PORT_met rcli CLIENT PAUSE 1500 >/dev/null   # Redis answers nothing for 1.5 s: commands time out
http GET /metrics
check_eq "a Redis timeout: 503" 503 "$HTTP_STATUS"
sleep 1.5
scraped_ok() { scrape "$API_URL"; [ "$M_STATUS" = 200 ]; }
check "the API recovers when Redis answers again" wait_for 10 scraped_ok
check "the timed-out commands are counted in stageq_redis_errors_total" \
  test "$(mval stageq_redis_errors_total)" -ge 1

# --- Redis away: 503 JSON ---------------------------------------------------------------------
start_api met-api-noredis --pipelines "$PL" --redis-url "redis://127.0.0.1:$(free_port)/0"
http GET /metrics
check_eq "Redis away: 503" 503 "$HTTP_STATUS"
check_eq "with the usual JSON error" redis_unavailable "$(jqr .error.code)"

finish
