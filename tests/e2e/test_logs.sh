#!/usr/bin/env bash
# test_logs: structured logs. With STAGEQ_LOG=json every line of the API's and
# the worker's logs is one JSON object with ts/level/msg, even when a stage
# writes hostile bytes to stderr; worker lines about a job carry job, worker,
# pipeline and stage; the API writes one access line per request (streams when
# they end), which --access-log off turns off; text mode stays one line per
# event with the same fields as key=value. Lines are buffered, yet none is lost
# when a daemon is stopped with SIGTERM or crashes (SIGSEGV, SIGABRT).
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tlog
flush_prefix tlog
flush_prefix tlogt
flush_prefix tlogc
PL=tests/e2e/pipelines-logs.json
T=$STAGEQ_TEST_TMP
TS_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'

STAGEQ_LOG=json start_api logs-api --pipelines "$PL"
STAGEQ_LOG=json start_worker logs-worker --pipelines "$PL" --concurrency 1

# --- requests: each answered one gets one access line ------------------------------
n_req=0
req() { curl -s -o /dev/null "$@"; n_req=$((n_req + 1)); }
post_json /v1/jobs '{"pipeline":"ok","id":"log-ok","input":{"n":4}}'; n_req=$((n_req + 1))
post_json /v1/jobs '{"pipeline":"hostile","id":"log-hostile","input":{}}'; n_req=$((n_req + 1))
state_is() { n_req=$((n_req + 1)); [ "$(curl -s "$API_URL/v1/jobs/$1" | jq -r .state)" = "$2" ]; }
check "the ok job succeeds" wait_for 20 state_is log-ok succeeded
check "the hostile job succeeds" wait_for 20 state_is log-hostile succeeded
req "$API_URL/healthz"
req "$API_URL/v1/jobs/log-ok"
req "$API_URL/no/such/thing"
req -X DELETE "$API_URL/healthz"
req -H 'X-Forwarded-For: "evil"' "$API_URL/v1/jobs/%22quoted%0A"
req -N --max-time 5 "$API_URL/v1/jobs/log-ok/events"  # finished: the stream ends at once
# a stream that stays open is logged when it ends (client gone: 499)
curl -s -N --max-time 30 "$API_URL/v1/events" >/dev/null &
spid=$!
n_req=$((n_req + 1))
sleep 0.5
access_lines() { jq -c 'select(.route != null)' "$T/logs-api.log" 2>/dev/null; }
check "an open stream is not logged yet" \
  test -z "$(access_lines | jq -r 'select(.route == "/v1/events") | .route')"
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
stream_logged() { [ -n "$(access_lines | jq -r 'select(.route == "/v1/events") | .route')" ]; }
check "the stream is logged when it ends" wait_for 5 stream_logged
check_eq "a stream whose client went away: status 499" 499 \
  "$(access_lines | jq -r 'select(.route == "/v1/events") | .status')"
stop_pid "$WORKER_PID"
stop_pid "$API_PID"

# --- every line is a JSON object with ts, level, msg ---------------------------------
for f in logs-api logs-worker; do
  check "$f log: valid UTF-8" iconv -f UTF-8 -t UTF-8 "$T/$f.log" -o /dev/null
  bad=$(jq -R -n --arg re "$TS_RE" '[inputs | (try fromjson catch "unparsable")
        | select(type != "object" or (.ts | type) != "string" or (.ts | test($re) | not)
                 or ((.level | type) != "string") or ((.msg | type) != "string"))] | length' \
        "$T/$f.log")
  check_eq "$f log: every line is an object with ts (RFC 3339 ms UTC), level, msg" 0 "$bad"
  check "$f log: more than a few lines" test "$(wc -l <"$T/$f.log")" -ge 3
done
check "jq -e parses every line of both logs" \
  bash -c "while IFS= read -r l; do printf '%s\n' \"\$l\" | jq -e 'has(\"ts\") and has(\"level\") and has(\"msg\")' >/dev/null || exit 1; done < <(cat '$T/logs-api.log' '$T/logs-worker.log')"

# --- worker lines about a job carry job, worker, pipeline, stage ---------------------
jw() { jq -c "$1" "$T/logs-worker.log"; }
check "worker lines about log-ok exist" test -n "$(jw 'select(.job == "log-ok")')"
check_eq "every line about a job names the worker" "" \
  "$(jw 'select(.job != null and (.worker | type) != "string")')"
check_eq "every line about log-hostile names its pipeline" "" \
  "$(jw 'select(.job == "log-hostile" and .pipeline != "hostile")')"
check_eq "the worker id is host:pid" 1 \
  "$(jw 'select(.job == "log-ok") | .worker' | sort -u | grep -cE '^"[^"]+:[0-9]+"$')"
check_eq "stderr lines carry the stage number and name" "" \
  "$(jw 'select(.msg | startswith("stage h stderr")) | select(.stage != 1 or .stage_name != "h" or .job != "log-hostile")')"
check "the 'succeeded' line names the job and its last stage" test -n \
  "$(jw 'select(.job == "log-hostile" and .msg == "succeeded" and .stage == 2 and .stage_name == "after")')"
check "hostile stderr: quotes and backslashes survive" test -n \
  "$(jw 'select(.msg | contains("he said \"hi\" \\ and left"))')"
# (the stage runner turns invalid and control bytes of stderr into '?'; the log
# module would turn what is left invalid into U+FFFD)
check "hostile stderr: invalid UTF-8 is replaced, not passed through" test -n \
  "$(jw 'select(.msg == "stage h stderr: bad utf8: ?? lone ? overlong ?? cut ??")')"
check "hostile stderr: control bytes are replaced, the tab kept" test -n \
  "$(jw 'select(.msg == "stage h stderr: control: ???[31mred?[0m tab\there")')"
check "hostile stderr: a forged JSON line stays inside msg" test -z \
  "$(jw 'select(.msg == "forged")')"
check "hostile stderr: the last line without a newline is logged" test -n \
  "$(jw 'select(.msg | contains("no newline at the end €"))')"

# --- the access log --------------------------------------------------------------------
acc=$(jq -c 'select(.route != null)' "$T/logs-api.log")
check_eq "one access line per request" "$n_req" "$(printf '%s\n' "$acc" | grep -c .)"
check_eq "each has method, route, path, status, duration_ms, bytes, remote" "" \
  "$(printf '%s\n' "$acc" | jq -c 'select((.method | type) != "string" or (.route | type) != "string"
      or (.path | type) != "string" or (.status | type) != "number" or (.duration_ms | type) != "number"
      or (.bytes | type) != "number" or (.remote | test("^127\\.0\\.0\\.1:[0-9]+$") | not))')"
check "a 404 for an unknown path has route other" test -n \
  "$(printf '%s\n' "$acc" | jq -c 'select(.route == "other" and .status == 404 and .path == "/no/such/thing")')"
check "a 405 keeps its route" test -n \
  "$(printf '%s\n' "$acc" | jq -c 'select(.route == "/healthz" and .method == "DELETE" and .status == 405)')"
check "a job route is logged by template, with the raw path" test -n \
  "$(printf '%s\n' "$acc" | jq -c 'select(.route == "/v1/jobs/{id}" and .path == "/v1/jobs/log-ok" and .status == 200 and .bytes > 100)')"
check "a finished job's stream is logged with its bytes" test -n \
  "$(printf '%s\n' "$acc" | jq -c 'select(.route == "/v1/jobs/{id}/events" and .status == 200 and .bytes > 0)')"
check "the access lines are info" test -z "$(printf '%s\n' "$acc" | jq -c 'select(.level != "info")')"

# --- --access-log off, and text mode ------------------------------------------------------
export STAGEQ_PREFIX=tlogt
STAGEQ_ACCESS_LOG=off start_api logs-api-quiet --pipelines "$PL"
curl -s -o /dev/null "$API_URL/healthz"
curl -s -o /dev/null "$API_URL/v1/pipelines"
stop_pid "$API_PID"
check_eq "STAGEQ_ACCESS_LOG=off: no access line" 0 "$(grep -c 'route=' "$T/logs-api-quiet.log")"
check "but the rest is logged" grep -q 'listening on' "$T/logs-api-quiet.log"
start_api logs-api-flag --pipelines "$PL" --access-log off
curl -s -o /dev/null "$API_URL/healthz"
stop_pid "$API_PID"
check_eq "--access-log off: no access line" 0 "$(grep -c 'route=' "$T/logs-api-flag.log")"
check "a bad --access-log value is refused" bash -c "! '$BUILD/stageq-api' --access-log maybe 2>/dev/null"

start_api logs-api-text --pipelines "$PL"
start_worker logs-worker-text --pipelines "$PL" --concurrency 1
post_json /v1/jobs '{"pipeline":"hostile","id":"text-hostile","input":{}}'
check "text mode: the hostile job succeeds" wait_for 20 state_is text-hostile succeeded
curl -s -o /dev/null "$API_URL/v1/jobs/text-hostile"
stop_pid "$WORKER_PID"
stop_pid "$API_PID"
line_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z (error|warn |info |debug) [^ ]+: '
for f in logs-api-text logs-worker-text; do
  check_eq "$f: every line is one event (time, level, role)" 0 "$(grep -cvE "$line_re" "$T/$f.log")"
  check "$f: valid UTF-8" iconv -f UTF-8 -t UTF-8 "$T/$f.log" -o /dev/null
done
check "text: stderr lines carry job, pipeline, stage, stage_name, worker as key=value" grep -qE \
  'stage h stderr: .* job=text-hostile pipeline=hostile stage=1 stage_name=h worker=[^ ]+:[0-9]+$' \
  "$T/logs-worker-text.log"
check "text: control bytes never reach the line (the tab is escaped)" grep -qF \
  'stage h stderr: control: ???[31mred?[0m tab\there job=' "$T/logs-worker-text.log"
check "text: the access line has the fields as key=value" grep -qE \
  'GET /v1/jobs/text-hostile 200 [0-9]+ms method=GET route=/v1/jobs/\{id\} path=/v1/jobs/text-hostile status=200 duration_ms=[0-9]+ bytes=[0-9]+ remote=127\.0\.0\.1:[0-9]+$' \
  "$T/logs-api-text.log"

# --- held lines are written at SIGTERM, at exit and on a crash ---------------------------
# The log is buffered: each of these processes is stopped or killed right after
# its last line, which must be in its file.
export STAGEQ_PREFIX=tlogc
ulimit -c 0 # the crashes below leave no core file
# Under ASan, SIGSEGV is its own (it would report the kill as a bug): the
# daemons here leave it to theirs, which the default action follows.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
api_killed_by() { # SIGNAME EXPECTED_RC: the last request's access line survives
  start_api "logs-api-$1" --pipelines "$PL"
  curl -s -o /dev/null "$API_URL/v1/jobs/last-before-$1"
  kill -"$1" "$API_PID"
  wait "$API_PID" 2>/dev/null
  check_eq "API, $1: exit status $2" "$2" "$?"
  check "API, $1: the access line of the last request answered is logged" grep -qE \
    "GET /v1/jobs/last-before-$1 404 .* status=404 " "$T/logs-api-$1.log"
}
api_killed_by TERM 0
check_eq "API, TERM: the line written after the loop ended is logged, last" "info  api: stopped" \
  "$(tail -n 1 "$T/logs-api-TERM.log" | cut -d' ' -f2-)"
api_killed_by SEGV 139
api_killed_by ABRT 134

start_worker logs-worker-crash --pipelines "$PL" --concurrency 1
start_api logs-api-crash --pipelines "$PL"
post_json /v1/jobs '{"pipeline":"ok","id":"crash-1","input":{"n":1}}'
check "worker: the job before the crash succeeds" wait_for 20 state_is crash-1 succeeded
child=$(curl -s "$API_URL/v1/jobs/crash-1" | jq -r .worker | sed 's/.*://')
kill -SEGV "$child"
child_died() { grep -q "(pid $child) was killed by signal 11" "$T/logs-worker-crash.log"; }
check "worker: the child dies of the SIGSEGV (and is restarted)" wait_for 20 child_died
check "worker, SEGV: the last job's line is logged" grep -qE \
  "succeeded job=crash-1 .*worker=[^ ]+:$child\$" "$T/logs-worker-crash.log"
post_json /v1/jobs '{"pipeline":"ok","id":"crash-2","input":{"n":1}}'
check "worker: the restarted child runs the next job" wait_for 20 state_is crash-2 succeeded
stop_pid "$WORKER_PID"
check_eq "worker, TERM: exit status 0" 0 "$STOP_RC"
check "worker, TERM: the last job's line is logged" grep -qE "succeeded job=crash-2 " \
  "$T/logs-worker-crash.log"
check_eq "worker, TERM: the supervisor's line written at exit is logged, last" \
  "info  supervisor: stopped" "$(tail -n 1 "$T/logs-worker-crash.log" | cut -d' ' -f2-)"
stop_pid "$API_PID"

finish
