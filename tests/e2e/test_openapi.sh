#!/usr/bin/env bash
# test_openapi: docs/openapi.yaml against the real API. The document must be
# valid OpenAPI (tests/openapi/check.py, which also refuses a stray key in a
# schema, and @redocly/cli's lint with tests/openapi/redocly.yaml, warnings
# included), name exactly the routes of api/routes.c, and document every
# answer provoked here: each request below is recorded (status, headers,
# body) and tests/openapi/check.py checks that its status is documented for
# the path and method, its Content-Type is, the documented headers are there,
# and its body validates against the documented schema (event streams: each
# event's data). Covers every route and every status that can be provoked
# from outside: 200 202 204 400 401 404 405 409 413 415 422 429 501 503.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=toa
flush_prefix toa
flush_prefix toafull

SPEC=docs/openapi.yaml
CHECK=tests/openapi/check.py
# the test pipelines, with two schedules for GET /v1/schedules (a yearly
# cron that will not fire during the run, and an every_s one)
PIPES="$STAGEQ_TEST_TMP/pipelines-openapi.json"
jq '. + {schedules: [{name: "yearly", pipeline: "ok", cron: "0 0 1 1 *", timezone: "Asia/Tokyo",
                      input: {"x": 1}, missed: "run_once"},
                     {name: "tick", pipeline: "idle", every_s: 3600}]}' \
  tests/e2e/pipelines-test.json >"$PIPES"
RDIR="$STAGEQ_TEST_TMP/openapi-responses"
rm -rf "$RDIR"
mkdir -p "$RDIR"

# The checker needs jsonschema and yaml (deploy/install-deps.sh test); the
# python3 first on PATH may be another install than Debian's.
PY=""
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import jsonschema, yaml' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
  not_ok "python3 with jsonschema and yaml is installed (deploy/install-deps.sh test)"
  finish
  exit
fi

# --- the document itself, and the route table ---------------------------------
"$PY" "$CHECK" spec "$SPEC"
"$PY" "$CHECK" coverage "$SPEC" api/routes.c

# --- a real OpenAPI linter: @redocly/cli (pinned in tests/openapi/package.json)
# with tests/openapi/redocly.yaml: recommended rules, warnings as errors ------
# A copy with a known mistake shows that both checks can fail: a flow mapping
# whose text holds a comma ({description: a, b} is a stray key "b").
broken="$STAGEQ_TEST_TMP/openapi-broken.yaml"
sed "s/^\( *input: \){description: \"\(.*\)\"}$/\1{description: \2}/" "$SPEC" >"$broken"
check "the broken copy differs from the document" bash -c '! cmp -s "$1" "$2"' _ "$SPEC" "$broken"
"$PY" "$CHECK" spec "$broken" >"$STAGEQ_TEST_TMP/openapi-broken.check" 2>&1
check "check.py finds the stray key of the broken copy" \
  grep -q "^not ok - every schema holds keywords only: .*'any JSON' is not a keyword" \
  "$STAGEQ_TEST_TMP/openapi-broken.check"
LINT=tests/openapi/node_modules/.bin/redocly
have=1
if ! command -v node >/dev/null 2>&1; then
  not_ok "node is installed (deploy/install-deps.sh test)"; have=0
fi
if [ "$have" = 1 ] && [ ! -x "$LINT" ]; then
  if ! (cd tests/openapi && timeout 600 npm ci --no-audit --no-fund >"$STAGEQ_TEST_TMP/npm-oa.log" 2>&1); then
    cat "$STAGEQ_TEST_TMP/npm-oa.log"
    not_ok "npm installs @redocly/cli into tests/openapi/node_modules"; have=0
  fi
fi
if [ "$have" = 1 ]; then
  export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true # no network
  "$LINT" lint --config tests/openapi/redocly.yaml --format=stylish "$SPEC" \
    >"$STAGEQ_TEST_TMP/openapi-lint.out" 2>&1
  rc=$?
  [ "$rc" = 0 ] || sed 's/^/# /' "$STAGEQ_TEST_TMP/openapi-lint.out"
  check_eq "redocly lint passes $SPEC (warnings as errors)" 0 "$rc"
  "$LINT" lint --config tests/openapi/redocly.yaml --format=stylish "$broken" \
    >"$STAGEQ_TEST_TMP/openapi-lint-broken.out" 2>&1
  check "redocly lint refuses the broken copy (Property \`any JSON\` is not expected)" \
    grep -q 'Property `any JSON` is not expected' "$STAGEQ_TEST_TMP/openapi-lint-broken.out"
fi

# rec NAME EXPECTED_STATUS METHOD PATH [curl args...]: sends one request to
# $URL (default $API_URL) and records it for check.py; sets HTTP_STATUS and
# HTTP_BODY. REC_SSE='{"status":1}' asks for at least that many events of
# each kind; REC_HDRS='{"Name":"value"}' for exact header values. A
# --data-binary body is recorded too: check.py holds it against the documented
# request schema (accepted requests must validate, refused ones must not).
NREC=0
# jstr VAR TEXT: VAR = TEXT as a JSON string
jstr() { local s=${2//\\/\\\\}; s=${s//\"/\\\"}; printf -v "$1" '"%s"' "$s"; }
rec() {
  local name=$1 expect=$2 method=$3 path=$4 f mflag jname jpath jreq=null a prev=""
  shift 4
  for a in "$@"; do # the request body, for check.py to hold against the schema
    [ "$prev" = --data-binary ] && [ "${a:0:1}" != @ ] && jstr jreq "$a"
    prev=$a
  done
  NREC=$((NREC + 1))
  printf -v f '%s/%03d' "$RDIR" "$NREC"
  mflag=(-X "$method")
  [ "$method" = HEAD ] && mflag=(--head)
  : >"$f.body"
  : >"$f.headers"
  HTTP_STATUS=$(curl -s -o "$f.body" -D "$f.headers" -w '%{http_code}' "${mflag[@]}" \
    --max-time "${REC_TIME:-10}" "$@" "${URL:-$API_URL}$path")
  HTTP_BODY=""
  IFS= read -r -d '' HTTP_BODY <"$f.body"
  # written without forks: the shared test machine makes every process slow
  jstr jname "$name"
  jstr jpath "$path"
  printf '{"name":%s,"expect":"%s","method":"%s","path":%s,"status":"%s","sse":%s,"headers":%s,"request":%s}\n' \
    "$jname" "$expect" "$method" "$jpath" "$HTTP_STATUS" "${REC_SSE:-null}" \
    "${REC_HDRS:-null}" "$jreq" >"$f.json"
}
JSON=(-H 'content-type: application/json')
job_state() { rcli HGET "$(job_key "$1")" state; }
state_is() { [ "$(job_state "$1")" = "$2" ]; }

start_api api --pipelines "$PIPES" --default-pipeline blog4
start_worker w --concurrency 1 --pipelines "$PIPES"

# --- health -------------------------------------------------------------------
rec "liveness" 200 GET /healthz
rec "liveness, HEAD" 200 HEAD /healthz
rec "a query string that does not parse" 400 GET '/healthz?novalue'
rec "readiness" 200 GET /readyz
rec "a method the path does not have" 405 DELETE /healthz
rec "OPTIONS without CORS is just another method" 405 OPTIONS /v1/jobs
rec "an unknown path" 404 GET /v2/nothing
rec "a method the API does not know" 501 FOO /v1/jobs
rec "a method the API does not know, on no path" 501 FOO /v2/nothing

# --- submit -------------------------------------------------------------------
rec "submit" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"blog4","input":{"sleep":0.5},"id":"oa-run","result_ttl_s":600}'
check "the first job runs" wait_for 20 state_is oa-run running
rec "a running job" 200 GET /v1/jobs/oa-run
rec "a running job, HEAD" 200 HEAD /v1/jobs/oa-run
rec "the same id again" 409 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"blog4","id":"oa-run"}'
rec "submit to a queue nobody serves" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"idle","id":"oa-idle","input":[1,"two",null]}'
rec "submit to a pipeline whose second stage runs on another queue" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"hopidle","id":"oa-hop","input":1}'
handed_over() { state_is oa-hop queued && [ "$(rcli HGET "$(job_key oa-hop)" next_stage)" = 2 ]; }
check "after its first stage it waits on the other queue" wait_for 20 handed_over
rec "a job waiting for its next stage on another queue" 200 GET /v1/jobs/oa-hop
check_eq "which says so" "idle 2 there idle" \
  "$(jqr '[.queue, .next_stage, .next_stage_name, .stages[1].queue] | map(tostring) | join(" ")')"
rec "submit with charset, a generated id" 202 POST /v1/jobs -H 'content-type: Application/JSON; charset=utf-8' \
  --data-binary '{"pipeline":"idle"}'
rec "malformed JSON" 400 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":'
rec "an empty body" 400 POST /v1/jobs "${JSON[@]}"
rec "a body that is neither an object nor an array" 400 POST /v1/jobs "${JSON[@]}" --data-binary '"job"'
rec "an array of jobs (bulk submit)" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary '[{"pipeline":"idle","id":"oa-b1"},{"pipeline":"idle","input":{"n":1}}]'
rec "an array with refused jobs: each its own answer" 207 POST /v1/jobs "${JSON[@]}" \
  --data-binary '[1,{"pipeline":"nosuch"},{"pipeline":"idle","id":"oa-b2"}]'
rec "an empty array" 400 POST /v1/jobs "${JSON[@]}" --data-binary '[]'
rec "an invalid id in the body" 400 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"idle","id":"a/b"}'
rec "?wait=0" 400 POST '/v1/jobs?wait=0' "${JSON[@]}" --data-binary '{"pipeline":"idle"}'
rec "no Content-Type" 415 POST /v1/jobs --data-binary '{"pipeline":"idle"}'
rec "a missing field" 422 POST /v1/jobs "${JSON[@]}" --data-binary '{"input":1}'
rec "an unknown field" 422 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"idle","inptu":1}'
rec "a field of the wrong range" 422 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"idle","result_ttl_s":0}'
rec "an unknown pipeline" 422 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"nosuch"}'
rec "a scheduled job (delay_s)" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"idle","id":"oa-sched","input":1,"delay_s":3600}'
rec "a scheduled job (run_at with an offset)" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary "{\"pipeline\":\"idle\",\"id\":\"oa-sched2\",\"run_at\":\"$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%S)+01:00\"}"
rec "a scheduled job's status" 200 GET /v1/jobs/oa-sched
rec "the scheduled jobs" 200 GET '/v1/jobs?state=scheduled'
rec "delay_s and run_at both" 422 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"idle","delay_s":1,"run_at":"2099-01-01T00:00:00Z"}'
rec "a negative delay_s" 422 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"idle","delay_s":-1}'
rec "a run_at without an offset" 422 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"idle","run_at":"2099-01-01T00:00:00"}'
rec "an array with delays" 207 POST /v1/jobs "${JSON[@]}" \
  --data-binary '[{"pipeline":"idle","delay_s":60},{"pipeline":"idle","delay_s":"x"}]'
rec "cancel a scheduled job" 200 DELETE /v1/jobs/oa-sched2
rec "a method /v1/jobs does not have" 405 PUT /v1/jobs
big="$STAGEQ_TEST_TMP/openapi-big.json"
{ printf '{"pipeline":"idle","input":"'; head -c 1200000 /dev/zero | tr '\0' 'a'; printf '"}'; } >"$big"
rec "a body over --max-body (1 MiB), under 4x" 413 POST /v1/jobs "${JSON[@]}" --data-binary "@$big"
rm -f "$big"

# --- a job's status in every state -------------------------------------------
rec "a queued job" 200 GET /v1/jobs/oa-idle
check "the first job succeeds" wait_for 30 state_is oa-run succeeded
rec "a succeeded job" 200 GET /v1/jobs/oa-run
rec "an unknown job" 404 GET /v1/jobs/no-such-job
rec "request headers over 16 KiB: libevent's own 400" 400 GET /v1/jobs/oa-run \
  -H "X-Big: $(head -c 17000 /dev/zero | tr '\0' 'a')"
rec "an id that is not valid" 400 GET '/v1/jobs/a%20b'
rec "an id of 129 characters" 400 GET "/v1/jobs/$(printf 'x%.0s' $(seq 1 129))"
rec "a method /v1/jobs/{id} does not have" 405 POST /v1/jobs/oa-run

rec "a job that fails and retries" 202 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"exit3","id":"oa-exit3"}'
retrying() { [ -n "$(rcli HGET "$(job_key oa-exit3)" next_attempt_at)" ] || state_is oa-exit3 failed; }
check "it waits for a retry" wait_for 20 retrying
rec "a job waiting for its retry" 200 GET /v1/jobs/oa-exit3
rec "a job that fails for good" 202 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"permanent","id":"oa-perm"}'
check "it fails" wait_for 20 state_is oa-perm failed
rec "a failed job" 200 GET /v1/jobs/oa-perm

# Every kind of end a job can have, for the shapes of stages[], result, error
# and errors: builtin and exec stages, bad output, a timeout, a signal, bad
# progress lines, too much output.
kinds="ok chain env garbage empty flood hang killself badprog echo demo"
for p in $kinds; do
  case $p in
    demo) input='{"size":1000}' ;;
    *) input='{"n":21}' ;;
  esac
  rec "a $p job" 202 POST /v1/jobs "${JSON[@]}" \
    --data-binary "{\"pipeline\":\"$p\",\"id\":\"oa-kind-$p\",\"input\":$input}"
done
ended() { local st; st=$(job_state "oa-kind-$1"); [ "$st" = succeeded ] || [ "$st" = failed ]; }
for p in $kinds; do
  check "the $p job ends" wait_for 30 ended "$p"
  rec "an ended $p job" 200 GET "/v1/jobs/oa-kind-$p"
done

# --- ?wait: ended (200) and time up (202) ------------------------------------
rec "?wait, the job ends in time" 200 POST '/v1/jobs?wait=30' "${JSON[@]}" \
  --data-binary '{"pipeline":"blog4","id":"oa-wait","input":{"sleep":0.1}}' --max-time 40
check_eq "?wait answered with the final status" "succeeded" "$(jqr .state)"
rec "?wait, time is up first" 202 POST '/v1/jobs?wait=1' "${JSON[@]}" \
  --data-binary '{"pipeline":"idle","id":"oa-wait-idle"}'
check_eq "?wait time up: 202 with the last status" "queued" "$(jqr .status.state)"

# --- cancel ---------------------------------------------------------------------
rec "cancel a queued job" 200 DELETE /v1/jobs/oa-idle
rec "a canceled job" 200 GET /v1/jobs/oa-idle
rec "cancel it again" 409 DELETE /v1/jobs/oa-idle
rec "cancel a finished job" 409 DELETE /v1/jobs/oa-run
rec "cancel an unknown job" 404 DELETE /v1/jobs/no-such-job
rec "cancel with an invalid id" 400 DELETE '/v1/jobs/..' --path-as-is
rec "a running job to cancel" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"blog4","id":"oa-cancel","input":{"sleep":5}}'
check "it runs" wait_for 30 state_is oa-cancel running
rec "cancel a running job" 200 DELETE /v1/jobs/oa-cancel
check_eq "previous_state is running" running "$(jqr .previous_state)"

# --- listing, stats, workers, pipelines --------------------------------------
rec "the recent jobs" 200 GET /v1/jobs
rec "a page of 2" 200 GET '/v1/jobs?limit=2'
cursor=$(jqr .next_cursor)
rec "the next page" 200 GET "/v1/jobs?limit=2&cursor=$cursor"
for s in queued running succeeded failed canceled; do
  rec "the $s jobs" 200 GET "/v1/jobs?state=$s&pipeline=blog4&limit=500"
done
rec "the recent jobs, HEAD" 200 HEAD /v1/jobs
rec "an unknown parameter" 400 GET '/v1/jobs?colour=red'
rec "a bad state" 400 GET '/v1/jobs?state=done'
rec "a bad limit" 400 GET '/v1/jobs?limit=501'
rec "a bad cursor" 400 GET '/v1/jobs?cursor=abc'
rec "stats" 200 GET /v1/stats
rec "stats take no parameter" 400 GET '/v1/stats?x=1'
rec "workers" 200 GET /v1/workers
check "a worker is listed" test "$(jqr .count)" -ge 1
rec "workers take no parameter" 400 GET '/v1/workers?x=1'
rec "pipelines" 200 GET /v1/pipelines
rec "schedules" 200 GET /v1/schedules
check_eq "both schedules are listed" "yearly tick" "$(jqr '[.schedules[].name] | join(" ")')"
rec "schedules take no parameter" 400 GET '/v1/schedules?x=1'
rec "queues" 200 GET /v1/queues
rec "queues take no parameter" 400 GET '/v1/queues?x=1'
rec "one queue" 200 GET /v1/queues/default
rec "a bad queue name" 400 GET '/v1/queues/bad%20name'
rec "pause a queue" 200 POST /v1/queues/oa-q/pause
rec "a paused queue" 200 GET /v1/queues/oa-q
rec "resume it" 200 POST /v1/queues/oa-q/resume
rec "pause, a bad queue name" 400 POST '/v1/queues/bad%20name/pause'
rec "a method /pause does not have" 405 GET /v1/queues/oa-q/pause
rec "retry a succeeded job" 409 POST /v1/jobs/oa-run/retry
rec "retry an unknown job" 404 POST /v1/jobs/no-such-job/retry
rec "retry, a bad id" 400 POST '/v1/jobs/bad%20id/retry'
rec "the failed jobs (the failed indexes)" 200 GET '/v1/jobs?state=failed&limit=500'
rec "the failed jobs of one queue" 200 GET '/v1/jobs?state=failed&queue=default'
rec "pipelines, a query string that does not parse" 400 GET '/v1/pipelines?x'
rec "readiness, a query string that does not parse" 400 GET '/readyz?x&y'
rec "all events, a query string that does not parse" 400 GET '/v1/events?x'
rec "task_status, a query string that does not parse" 400 GET '/task_status/oa-run?x'
rec "a method /v1/pipelines does not have" 405 POST /v1/pipelines

# --- event streams --------------------------------------------------------------
REC_SSE='{"status":1,"end":1}' rec "events of an ended job: its status, then end" 200 \
  GET /v1/jobs/oa-run/events -N
rec "events of an unknown job" 404 GET /v1/jobs/no-such-job/events
rec "events of an ended job, a reconnect (Last-Event-ID): 204, EventSource stops" 204 \
  GET /v1/jobs/oa-run/events -N -H 'Last-Event-ID: 1'
rec "events, bad id" 400 GET '/v1/jobs/a%2Fb/events'
rec "events, HEAD" 200 HEAD /v1/jobs/oa-run/events
rec "events of a job, from submit to its end" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"blog4","id":"oa-live","input":{"sleep":0.5}}'
# a request in the background takes its record number here, in the subshell
( REC_TIME=2 rec "all events" 200 GET /v1/events -N ) &
allpid=$!
NREC=$((NREC + 1))
REC_SSE='{"status":2,"end":1}' REC_TIME=40 rec "a job's events, live" 200 GET /v1/jobs/oa-live/events -N
wait "$allpid"
( REC_SSE='{"status":1}' REC_TIME=3 rec "all events while a job runs" 200 GET /v1/events -N ) &
allpid=$!
NREC=$((NREC + 1))
sleep 0.3
rec "a job for the all-jobs stream" 202 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"blog4","id":"oa-live2","input":{"sleep":0.1}}'
wait "$allpid"
rec "all events, HEAD" 200 HEAD /v1/events

# --- the blog's routes -------------------------------------------------------
rec "start_task" 200 POST /start_task "${JSON[@]}" --data-binary '{"data":{"sleep":0.1}}'
rec "start_task without a body" 200 POST /start_task
rec "start_task with an id" 200 POST /start_task/oa-blog "${JSON[@]}" --data-binary '{"data":{"sleep":0.1},"x":1}'
rec "start_task with an id again" 400 POST /start_task/oa-blog
rec "start_task with a bad id" 400 POST '/start_task/a%20b'
rec "start_task, malformed JSON" 400 POST /start_task "${JSON[@]}" --data-binary '{'
rec "start_task, not an object" 400 POST /start_task "${JSON[@]}" --data-binary '"x"'
rec "start_task, a body without Content-Type" 415 POST /start_task --data-binary '{"data":1}'
rec "start_task, GET" 405 GET /start_task
rec "task_status of a queued or running task" 200 GET /task_status/oa-blog
check "the blog's task completes" wait_for 30 state_is oa-blog succeeded
rec "task_status of a completed task" 200 GET /task_status/oa-blog
rec "task_status of a failed task" 200 GET /task_status/oa-perm
rec "retry a failed job" 202 POST /v1/jobs/oa-perm/retry
rec "task_status of a canceled task" 200 GET /task_status/oa-idle
rec "task_status, HEAD" 200 HEAD /task_status/oa-blog
rec "task_status of an unknown task" 404 GET /task_status/no-such-task
rec "task_status, bad id" 400 GET '/task_status/..' --path-as-is
rec "task_status, DELETE" 405 DELETE /task_status/oa-blog

# --- the dashboard and the metrics, once the table has them ------------------
rec "the dashboard" 200 GET /
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$RDIR/$(printf %03d "$NREC").headers" | tr -d '\r')
rec "the dashboard, cached" 304 GET / -H "If-None-Match: $etag"
rec "the dashboard, HEAD" 200 HEAD /
rec "the dashboard, POST" 405 POST /
if grep -qE 'EVHTTP_REQ_GET, *"/metrics"' api/routes.c; then
  rec "the metrics" 200 GET /metrics
else
  ok "GET /metrics answers Prometheus text # SKIP not served by this build yet"
fi

# --- backpressure and sizes: --max-queue 1, --max-body 1024 ------------------
start_api api-full --pipelines "$PIPES" --default-pipeline idle --prefix toafull \
  --max-queue 1 --max-body 1024
URL=$API_URL
rec "the queue's one place" 202 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"idle"}'
REC_HDRS='{"Retry-After":"1"}' rec "the queue is full" 429 POST /v1/jobs "${JSON[@]}" \
  --data-binary '{"pipeline":"idle"}'
rec "start_task, the queue is full" 429 POST /start_task
rec "start_task with an id, the queue is full" 429 POST /start_task/oa-full "${JSON[@]}" \
  --data-binary '{"data":null}'
rec "start_task with an id, a body without Content-Type" 415 POST /start_task/oa-full \
  --data-binary '{"data":1}'
body=$(printf '{"pipeline":"idle","input":"%s"}' "$(head -c 2000 /dev/zero | tr '\0' 'a')")
rec "a body over --max-body" 413 POST /v1/jobs "${JSON[@]}" --data-binary "$body"
rec "start_task, a body over --max-body" 413 POST /start_task/oa-big "${JSON[@]}" \
  --data-binary "{\"data\":\"$(head -c 2000 /dev/zero | tr '\0' 'a')\"}"
body=$(printf '{"pipeline":"idle","input":"%s"}' "$(head -c 8000 /dev/zero | tr '\0' 'a')")
rec "a body over 4x --max-body: libevent's own 413" 413 POST /v1/jobs "${JSON[@]}" \
  -H 'Expect:' --data-binary "$body"
unset URL

# --- a token, CORS --------------------------------------------------------------
start_api api-sec --pipelines "$PIPES" --default-pipeline blog4 --api-token s3cret \
  --cors-origin https://app.example.com
URL=$API_URL
AUTH=(-H 'Authorization: Bearer s3cret')
rec "no token: liveness is public" 200 GET /healthz
rec "no token" 401 GET /v1/jobs
rec "a wrong token" 401 GET /readyz -H 'Authorization: Bearer s3cre7'
rec "no token, an unknown path: 401 before 404" 401 GET /v2/nothing
rec "no token, a method the path does not have" 401 PUT /v1/stats
rec "no token, the blog's routes" 401 POST /start_task
rec "no token, events" 401 GET /v1/events
for r in "GET /readyz" "POST /v1/jobs" "GET /v1/jobs/x" "DELETE /v1/jobs/x" "GET /v1/jobs/x/events" \
  "GET /v1/stats" "GET /v1/workers" "GET /v1/pipelines" "GET /v1/schedules" "POST /start_task/x" \
  "GET /task_status/x" "GET /v1/queues" "GET /v1/queues/q" "POST /v1/queues/q/pause" \
  "POST /v1/queues/q/resume" "POST /v1/jobs/x/retry"; do
  rec "no token" 401 ${r% *} "${r#* }"
done
rec "the token" 200 GET /v1/pipelines "${AUTH[@]}"
rec "no token: the dashboard is public" 200 GET /
REC_TIME=2 rec "the token in the query, on a stream" 200 GET '/v1/events?access_token=s3cret' -N
rec "a wrong token in the query, on a stream" 401 GET '/v1/jobs/x/events?access_token=s3cre7'
rec "the token in the query, not a stream: 401" 401 GET '/v1/stats?access_token=s3cret'
rec "the token, scheme in lower case" 200 GET /readyz -H 'authorization: bearer s3cret'
rec "the token, an unknown path" 404 GET /v2/nothing "${AUTH[@]}"
REC_HDRS='{"Access-Control-Allow-Origin":"https://app.example.com","Vary":"Origin"}' \
  rec "CORS preflight needs no token" 204 OPTIONS /v1/jobs/x -H 'Origin: https://app.example.com' \
  -H 'Access-Control-Request-Method: DELETE'
REC_HDRS='{"Access-Control-Allow-Origin":"https://app.example.com"}' \
  rec "CORS on an error" 401 GET /v1/jobs/x -H 'Origin: https://app.example.com'
rec "OPTIONS on an unknown path stays 404 (token given)" 404 OPTIONS /v2/nothing "${AUTH[@]}"
unset URL

# --- Redis unreachable: 503 -----------------------------------------------------
deadport=$(free_port)
start_api api-dead --pipelines "$PIPES" --default-pipeline blog4 \
  --redis-url "$(dead_redis_url "$deadport")" --redis-timeout-ms 300 # the old name of --request-timeout-ms, still read
URL=$API_URL
rec "liveness without Redis" 200 GET /healthz
rec "readiness without Redis" 503 GET /readyz
rec "submit without Redis" 503 POST /v1/jobs "${JSON[@]}" --data-binary '{"pipeline":"idle"}'
rec "status without Redis" 503 GET /v1/jobs/x
rec "cancel without Redis" 503 DELETE /v1/jobs/x
rec "list without Redis" 503 GET /v1/jobs
rec "stats without Redis" 503 GET /v1/stats
rec "workers without Redis" 503 GET /v1/workers
rec "schedules without Redis" 503 GET /v1/schedules
rec "queues without Redis" 503 GET /v1/queues
rec "pause without Redis" 503 POST /v1/queues/q/pause
rec "retry without Redis" 503 POST /v1/jobs/x/retry
rec "a job's events without Redis" 503 GET /v1/jobs/x/events
rec "pipelines need no Redis" 200 GET /v1/pipelines
REC_TIME=1 rec "all events without Redis: a stream, events come once Redis is back" 200 GET /v1/events -N
rec "start_task without Redis" 503 POST /start_task
rec "start_task with an id without Redis" 503 POST /start_task/x
rec "task_status without Redis" 503 GET /task_status/x
unset URL

# --- every recorded response against the document ------------------------------
"$PY" "$CHECK" responses "$SPEC" "$RDIR"
check_eq "the checker of the responses passes" 0 "$?"
echo "# $NREC responses recorded"
finish
