#!/usr/bin/env bash
# test_garbage: a number field edited by hand with redis-cli never crashes or
# wedges a process. Garbage ("x", "", "-1", "99999999999999999999", "1e400",
# "nan") is written into each numeric field of the hash of a queued, a running
# (an exec stage in flight, writing its progress) and a finished job, then into
# the workers' lease and stats fields and the figures /metrics reads. Every
# reader must answer: GET /v1/jobs/{id}, the listing, the stats, the workers,
# /metrics, the event streams and the CLI give a 200 with a fallback or a 5xx
# JSON error, never a dropped connection; the API and every worker process
# stay alive, and a fresh job runs to success afterwards on each pool.
source "$(dirname "$0")/lib.sh"
export STAGEQ_TEST_TMP
export STAGEQ_PREFIX=tgarb
flush_prefix tgarb
P=tgarb
PIPES=tests/e2e/pipelines-garbage.json
T=$STAGEQ_TEST_TMP
rm -f "$T/tick.stop"
start_api api --pipelines "$PIPES"
# a short lease: a heartbeat (which reads and writes the alive hash) every 2 s
start_worker w --concurrency 1 --pipelines "$PIPES" --lease 8
W_PID=$WORKER_PID
start_worker wt --concurrency 1 --pipelines "$PIPES" --queue tick --lease 8
WT_PID=$WORKER_PID

state_of() { curl -s --max-time 5 "$API_URL/v1/jobs/$1" | jq -r .state 2>/dev/null; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }

post_json /v1/jobs '{"pipeline":"two","id":"g-done","input":{"n":1}}'
check_eq "the finished job is accepted" 202 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"ticker","id":"g-run","input":{"n":2}}'
check_eq "the running job is accepted" 202 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"parked","id":"g-queued","input":{"n":3}}'
check_eq "the queued job is accepted" 202 "$HTTP_STATUS"
check "g-done succeeds" poll 60 is_state g-done succeeded
check "g-run is running" poll 60 is_state g-run running
check "g-queued stays queued (no worker takes its queue)" is_state g-queued queued
JOBS="g-done g-run g-queued"

# answered URL [text]: 0 when the API answered: a 200 with a JSON body (with
# "text": the Prometheus text of /metrics), or a 5xx with a JSON error;
# otherwise ANSWER says what came back.
answered() {
  local url=$1 bf="$T/garb.body" code rc
  code=$(curl -s -o "$bf" -w '%{http_code}' --max-time 10 "$API_URL$url")
  rc=$?
  if [ "$rc" -ne 0 ]; then ANSWER="curl exit $rc (connection dropped or no answer)"; return 1; fi
  case $code in
    200)
      if [ "${2:-}" = text ]; then
        grep -q '^stageq_' "$bf" || { ANSWER="200 without a stageq_ series"; return 1; }
      else
        jq -e . "$bf" >/dev/null 2>&1 || { ANSWER="200 with a body that is not JSON"; return 1; }
      fi ;;
    5??) jq -e '.error.code' "$bf" >/dev/null 2>&1 || { ANSWER="$code without a JSON error"; return 1; } ;;
    *) ANSWER="status $code"; return 1 ;;
  esac
}

# streamed URL SECONDS: an event stream gives its first event (JSON data) or a
# 5xx JSON error; the stream of a finished job ends by itself, a live one is
# cut by curl after SECONDS (curl exit 28 is then the expected end).
streamed() {
  local url=$1 secs=$2 bf="$T/garb.sse${1//\//_}" code rc data
  code=$(curl -s -N -o "$bf" -w '%{http_code}' --max-time "$secs" "$API_URL$url")
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 28 ]; then ANSWER="curl exit $rc (connection dropped)"; return 1; fi
  case $code in
    200)
      data=$(sed -n 's/^data: //p' "$bf" | head -1)
      [ -z "$data" ] && [ "$url" = /v1/events ] && return 0 # nothing changed meanwhile
      printf '%s' "$data" | jq -e . >/dev/null 2>&1 || { ANSWER="no JSON event: $(head -c 200 "$bf")"; return 1; } ;;
    5??) jq -e '.error.code' "$bf" >/dev/null 2>&1 || { ANSWER="$code without a JSON error"; return 1; } ;;
    *) ANSWER="status $code"; return 1 ;;
  esac
}

# cli_answers ID: `stageq status` ends with one of its documented exit codes
# (0 done, 1 failed/canceled/unknown, 3 API unreachable or 5xx), not a signal.
cli_answers() {
  local rc
  sq_run stageq --url "$API_URL" status "$1" >"$T/garb.cli" 2>&1
  rc=$?
  case $rc in 0 | 1 | 3) return 0 ;; esac
  ANSWER="exit $rc: $(head -c 200 "$T/garb.cli")"
  return 1
}

# alive: the API, both supervisors and each of their worker processes (a
# child that died is respawned, so its death is read in the supervisor's log).
alive() {
  local p
  for p in $API_PID $W_PID $WT_PID; do
    kill -0 "$p" 2>/dev/null || { ANSWER="process $p is gone"; return 1; }
  done
  if grep -hE 'killed by signal|exited with status' "$T/w.log" "$T/wt.log" >"$T/garb.deaths"; then
    ANSWER="a worker process died: $(head -1 "$T/garb.deaths")"
    return 1
  fi
}

# streams_check VALUE: the event streams of the running and the queued job and
# of every job (the dashboard's), read side by side for 2 s each.
streams_check() {
  local v=$1 i=0 url pids=()
  for url in /v1/jobs/g-run/events /v1/jobs/g-queued/events /v1/events; do
    (streamed "$url" 2 && echo ok >"$T/stream.$i" || echo "$ANSWER" >"$T/stream.$i") &
    pids+=($!)
    i=$((i + 1))
  done
  wait "${pids[@]}"
  i=0
  for url in /v1/jobs/g-run/events /v1/jobs/g-queued/events /v1/events; do
    ANSWER=$(cat "$T/stream.$i")
    vcheck "all garbled to '$v': the stream $url" test "$ANSWER" = ok
    i=$((i + 1))
  done
}

# page_answers: the dashboard page itself (its data is the routes above).
page_answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$API_URL/")
  [ "$code" = 200 ] || { ANSWER="status $code"; return 1; }
}

# list_answers: `stageq list` ends with a documented exit code.
list_answers() {
  local rc
  sq_run stageq --url "$API_URL" list >"$T/garb.cli" 2>&1
  rc=$?
  case $rc in 0 | 3) return 0 ;; esac
  ANSWER="exit $rc: $(head -c 200 "$T/garb.cli")"
  return 1
}

# alive_sane: the alive hash the heartbeats rewrite holds numbers again, since
# <= seen (a garbled since kept as it was would stop every judgement of a
# lost worker for good).
alive_sane() {
  local seen since
  seen=$(rcli HGET "$(alive_key)" seen)
  since=$(rcli HGET "$(alive_key)" since)
  ANSWER="seen '$seen', since '$since'"
  [[ $seen =~ ^[0-9]+$ && $since =~ ^[0-9]+$ ]] && [ "$since" -le "$seen" ]
}

# is_int KEY FIELD: the hash field holds an integer.
is_int() { [[ $(rcli HGET "$1" "$2") =~ ^[0-9]+$ ]]; }

FAILED_CHECKS=""
# verdict NAME COMMAND...: like check, but each distinct failure is printed
# once (a field x value grid would repeat it a hundred times) and counted.
verdict() {
  local name=$1; shift
  if "$@"; then ANSWER=""; return 0; fi
  case $FAILED_CHECKS in *"|$name|"*) return 1 ;; esac
  FAILED_CHECKS="$FAILED_CHECKS|$name|"
  not_ok "$name: $ANSWER"
  return 1
}
vcheck() { verdict "$@" && ok "$1"; }

# Numeric fields of the job hash (docs/redis-keys.md), and the stage fields
# (stage.<k>: "<name> <state> <started> <finished>"). attempt comes last: a
# worker whose fenced write finds another attempt leaves the job (it is no
# longer its own), so the running job keeps running for every field before it.
FIELDS="max_attempts stage stage_count progress overall_progress result_ttl_s resume
  resumed_from_stage success_count created_at started_at updated_at finished_at next_attempt_at
  stage.1 stage.2 attempt"
VALUES=("x" "" "-1" "99999999999999999999" "1e400" "nan")

# garble FIELD VALUE: writes VALUE into FIELD of each job (KEYS[2..]), keeping
# what was there in the hash KEYS[1] (garbsave, in the jobs' slot); ungarble
# FIELD VALUE puts it back where the garbage is still in place (the running
# job's worker may have written since).
GARBLE="for i = 2, #KEYS do
  local k = KEYS[i]
  local old = redis.call('HGET', k, ARGV[1])
  redis.call('HDEL', KEYS[1], k)
  if old then redis.call('HSET', KEYS[1], k, old) end
  redis.call('HSET', k, ARGV[1], ARGV[2])
end"
UNGARBLE="for i = 2, #KEYS do
  local k = KEYS[i]
  if redis.call('HGET', k, ARGV[1]) == ARGV[2] then
    local old = redis.call('HGET', KEYS[1], k)
    if old then redis.call('HSET', k, ARGV[1], old) else redis.call('HDEL', k, ARGV[1]) end
  end
end"
JOB_KEYS=("$(job_key garbsave)") # not a job: a key in the slot of the jobs (P=1)
mapfile -t -O 1 JOB_KEYS < <(job_keys $JOBS)

# grid_check: every reader of the job hashes once, in one curl (one process
# for six requests: the grid has 114 rounds). The CLI reads the same status:
# it runs on every job below, with every field garbled at once.
GRID_URLS=(/v1/jobs/g-done /v1/jobs/g-run /v1/jobs/g-queued "/v1/jobs?limit=50"
  /task_status/g-done /v1/jobs/g-done/events)
grid_check() {
  local f=$1 args=() jsons=() i=0 n ok_all=0 rc code url
  for url in "${GRID_URLS[@]}"; do args+=(-o "$T/grid.$i" "$API_URL$url"); i=$((i + 1)); done
  rm -f "$T"/grid.*
  curl -s -N --max-time 10 -w '%{exitcode} %{http_code}\n' "${args[@]}" >"$T/grid.codes"
  i=0
  while read -r rc code; do
    url=${GRID_URLS[$i]}
    if [ "$rc" != 0 ]; then
      ANSWER="curl exit $rc (connection dropped or no answer)"
    elif [[ $code == 5?? ]]; then
      jq -e '.error.code' "$T/grid.$i" >/dev/null 2>&1 && ANSWER="" || ANSWER="$code without a JSON error"
    elif [ "$code" != 200 ]; then
      ANSWER="status $code"
    elif [[ $url == */events ]]; then
      grep -q '^data: {' "$T/grid.$i" && ANSWER="" || ANSWER="no status event"
    else
      jsons+=("$i") # parsed below, all in one jq
      ANSWER=""
    fi
    [ -z "$ANSWER" ] || { verdict "$url with $f garbled" false; ok_all=1; }
    i=$((i + 1))
  done <"$T/grid.codes"
  n=$i
  if [ "${#jsons[@]}" -gt 0 ] && ! (cd "$T" && jq -e -s length "${jsons[@]/#/grid.}") >/dev/null 2>&1; then
    for i in "${jsons[@]}"; do
      jq -e . "$T/grid.$i" >/dev/null 2>&1 && continue
      ANSWER="200 with a body that is not JSON"
      verdict "${GRID_URLS[$i]} with $f garbled" false
      ok_all=1
    done
  fi
  [ "$n" = "${#GRID_URLS[@]}" ] || { ANSWER="curl gave $n answers"; verdict "the readers with $f garbled" false; ok_all=1; }
  verdict "processes alive after $f garbled" alive || ok_all=1
  return $ok_all
}

rounds=0
bad=0
for f in $FIELDS; do
  for v in "${VALUES[@]}"; do
    rcli EVAL "$GARBLE" "${#JOB_KEYS[@]}" "${JOB_KEYS[@]}" "$f" "$v" >/dev/null
    grid_check "$f" || bad=$((bad + 1))
    rcli EVAL "$UNGARBLE" "${#JOB_KEYS[@]}" "${JOB_KEYS[@]}" "$f" "$v" >/dev/null
    rounds=$((rounds + 1))
  done
done
check_eq "every reader answered for each job field x garbage value ($rounds rounds)" 0 "$bad"

# Every numeric field garbled at once, for the readers that cost seconds: the
# live streams, the stats, the workers, /metrics.
for v in "${VALUES[@]}"; do
  for j in $JOBS; do
    for f in $FIELDS; do rcli HSET "$(job_key "$j")" "$f" "$v" >/dev/null; done
  done
  for w in $(scan_keys "$(worker_key '*')"); do
    for f in pid started_at heartbeat_at jobs_done; do rcli HSET "$w" "$f" "$v" >/dev/null; done
  done
  for f in seen since; do rcli HSET "$(alive_key)" "$f" "$v" >/dev/null; done
  for f in 1 1.n 1.runs 2 2.n; do rcli HSET "$(eta_key two)" "$f" "$v" >/dev/null; done
  for f in 'a|count' 'a|sum' 'a|0.005' 'a|+Inf'; do rcli HSET "$(stagehist_key two)" "$f" "$v" >/dev/null; done
  for f in submitted:two succeeded:two failed:two; do rcli HSET "$(counters_key)" "$f" "$v" >/dev/null; done
  for j in $JOBS; do
    vcheck "all garbled to '$v': GET /v1/jobs/$j" answered "/v1/jobs/$j"
    vcheck "all garbled to '$v': stageq status $j" cli_answers "$j"
  done
  vcheck "all garbled to '$v': the listing" answered "/v1/jobs?limit=50"
  vcheck "all garbled to '$v': the listing of running jobs" answered "/v1/jobs?state=running"
  vcheck "all garbled to '$v': /v1/stats" answered /v1/stats
  vcheck "all garbled to '$v': /v1/workers" answered /v1/workers
  vcheck "all garbled to '$v': /v1/pipelines" answered /v1/pipelines
  vcheck "all garbled to '$v': /metrics" answered /metrics text
  # the live streams last until curl cuts them: the three at once
  streams_check "$v"
  vcheck "all garbled to '$v': the dashboard page" page_answers
  vcheck "all garbled to '$v': stageq list" list_answers
  vcheck "all garbled to '$v': processes alive" alive
  vcheck "all garbled to '$v': the heartbeats mend the alive hash" poll 30 alive_sane
done

# The workers ran through it all: a fresh job runs to success on each pool
# (the ticking one once its garbled job lets it go).
touch "$T/tick.stop"
post_json /v1/jobs '{"pipeline":"two","id":"g-fresh","input":{"n":4}}'
check_eq "a fresh job is accepted" 202 "$HTTP_STATUS"
check "the fresh job succeeds" poll 60 is_state g-fresh succeeded
check_eq "the garbled count of submitted jobs starts again" 1 "$(rcli HGET "$(counters_key)" submitted:two)"
check "the garbled count of succeeded jobs starts again" poll 30 is_int "$(counters_key)" succeeded:two
check "the garbled stage histogram counts again" poll 30 is_int "$(stagehist_key two)" 'a|count'
post_json /v1/jobs '{"pipeline":"ticker","id":"g-fresh-tick","input":{"n":5}}'
check_eq "a fresh job on the ticking pool is accepted" 202 "$HTTP_STATUS"
check "it succeeds too" poll 120 is_state g-fresh-tick succeeded
# An attempt garbled by hand while its job runs names no other owner: the
# job still ends (it used to stay running for good, its worker alive).
post_json /v1/jobs '{"pipeline":"slowish","id":"g-att-run","input":{"n":6}}'
check "a slow job runs" poll 30 is_state g-att-run running
rcli HSET "$(job_key g-att-run)" attempt x >/dev/null
check "with its attempt garbled mid-run it still succeeds" poll 30 is_state g-att-run succeeded
vcheck "the API and the workers are alive at the end" alive
finish
