#!/usr/bin/env bash
# test_eventsource: the event streams with a real EventSource client (npm
# "eventsource", tests/eventsource/watch.mjs) and with curl. A client that
# watched a job to its end stops: its reconnect (Last-Event-ID) is answered
# 204, which tells EventSource not to come back; a first connect to an ended
# job still gets its status and end; a reconnect to a running job resumes
# (status now, then its changes); /v1/events resumes too. Needs node and npm
# (deploy/install-deps.sh test).
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tes
flush_prefix tes
T=$STAGEQ_TEST_TMP
PIPES=tests/e2e/pipelines-test.json
start_api api-es --pipelines "$PIPES"
start_worker w-es --concurrency 1 --pipelines "$PIPES"
JSON=(-H 'content-type: application/json')
state_is() { [ "$(rcli HGET "tes:{8209}:job:$1" state)" = "$2" ]; }
# requests NAME: how many requests the API saw on job NAME's stream, by status
# ("200 204"), from its access log
requests() {
  grep -o "GET /v1/jobs/$1/events [0-9]*" "$T/api-es.log" | awk '{ print $3 }' | paste -sd' '
}

# --- curl: the answers themselves -----------------------------------------------
post_json /v1/jobs '{"pipeline":"fast4","id":"es-done","input":1}'
check "a job ends" wait_for 20 state_is es-done succeeded
http GET /v1/jobs/es-done/events -N
check_eq "an ended job, first connect: 200" 200 "$HTTP_STATUS"
check "... its status" grep -q '"state":"succeeded"' <<<"$HTTP_BODY"
check "... then end" grep -q '^event: end' <<<"$HTTP_BODY"
http GET /v1/jobs/es-done/events -N -H 'Last-Event-ID: 3'
check_eq "an ended job, a reconnect (Last-Event-ID): 204" 204 "$HTTP_STATUS"
check_eq "... with no body" "" "$HTTP_BODY"
check "... and no Content-Type" bash -c '! grep -qi "^content-type" <<<"$1"' _ "$HTTP_HEADERS"
http GET /v1/jobs/es-gone/events -N -H 'Last-Event-ID: 3'
check_eq "an unknown job, a reconnect: 404" 404 "$HTTP_STATUS"
check_eq "... in JSON" not_found "$(jqr .error.code)"

post_json /v1/jobs '{"pipeline":"blog4","id":"es-resume","input":{"sleep":1}}'
check "a job runs" wait_for 20 state_is es-resume running
curl -s -N --max-time 60 -H 'Last-Event-ID: 42' "$API_URL/v1/jobs/es-resume/events" >"$T/resume.out"
check "a running job, a reconnect: resumed with its status now" \
  grep -qm1 '"state":"running"' "$T/resume.out"
stages=$(sed -n 's/^data: .*"stage_name":"\([a-z]*\)".*/\1/p' "$T/resume.out" | uniq | paste -sd' ')
echo "# stages seen: $stages"
check "... then every change up to its end (the stages in order, to four)" \
  bash -c '[ -n "$1" ] && [[ "one two three four" == *"$1" ]]' _ "$stages"
check "... and its final status, then end" \
  bash -c 'grep "^data: " "$1" | tail -2 | head -1 | grep -q "\"state\":\"succeeded\"" &&
           tail -3 "$1" | grep -q "^event: end"' _ "$T/resume.out"

curl -s -N --max-time 2 -D "$T/all.h" -H 'Last-Event-ID: 42' "$API_URL/v1/events" >"$T/all.out"
check "/v1/events, a reconnect: the stream resumes (200)" grep -q '^HTTP/1.1 200' "$T/all.h"
check "... and opens (: connected)" grep -q '^: connected' "$T/all.out"

# --- the npm EventSource client ---------------------------------------------------
have=1
if ! command -v node >/dev/null 2>&1; then
  not_ok "node is installed (deploy/install-deps.sh test)"; have=0
fi
if [ "$have" = 1 ] && [ ! -d tests/eventsource/node_modules/eventsource ]; then
  if ! (cd tests/eventsource && timeout 300 npm ci --no-audit --no-fund >"$T/npm-es.log" 2>&1); then
    cat "$T/npm-es.log"
    not_ok "npm installs eventsource into tests/eventsource/node_modules"; have=0
  fi
fi
# watch NAME URL SECONDS: runs watch.mjs; R = its JSON summary
watch() {
  timeout $(($3 + 30)) node tests/eventsource/watch.mjs "$2" "$3" >"$T/$1.json" 2>"$T/$1.err"
  R=$(cat "$T/$1.json")
  [ -s "$T/$1.err" ] && sed 's/^/# stderr: /' "$T/$1.err" | head -20
  echo "# $1: $R"
}
field() { jq -r "$1" <<<"$R"; }
if [ "$have" = 1 ]; then
  # A job watched from the start to its end. The client's reconnect delay is
  # its own (about 3 s): 60 s is far more than a client that stops needs, and
  # a client that loops opens again within it.
  post_json /v1/jobs '{"pipeline":"blog4","id":"es-live","input":{"sleep":1.5}}'
  watch live "$API_URL/v1/jobs/es-live/events" 60
  check_eq "EventSource, a job to its end: the client stops by itself (CLOSED)" true "$(field .closed)"
  check_eq "... after one connection that opened" 1 "$(field .opens)"
  check_eq "... one end" 1 "$(field .ends)"
  check_eq "... the last status is succeeded" succeeded "$(field '.states[-1]')"
  check "... several statuses on the way" test "$(field .statuses)" -ge 2
  check_eq "... onmessage saw none of them (the events are named)" 0 "$(field .messages)"
  check_eq "the API saw the stream (200) and one reconnect (204), no more" "200 204" \
    "$(requests es-live)"

  # An ended job opened afresh: the status and end once, then the same stop.
  watch ended "$API_URL/v1/jobs/es-done/events" 60
  check_eq "EventSource, an ended job: CLOSED by itself" true "$(field .closed)"
  check_eq "... one connection, one status, one end" "1 1 1" \
    "$(field '"\(.opens) \(.statuses) \(.ends)"')"
  check_eq "... its state" succeeded "$(field '.states[0]')"

  # /v1/events never ends: the client stays connected.
  watch all "$API_URL/v1/events" 2
  check_eq "EventSource on /v1/events: open, not closed" "1 false" "$(field '"\(.opens) \(.closed)"')"
fi
finish
