#!/usr/bin/env bash
# The failover suite (`make test-sentinel`; `make test-sentinel SAN=1` runs it
# on the ASan + UBSan build). Each scenario starts a real Sentinel group
# (tests/e2e/sentinel.sh: a master, 2 replicas, 3 sentinels, down-after 1 s),
# an API and 2 worker pools on its redis-sentinel:// URL, and a steady
# submitter (SENTINEL_JOBS (300) jobs of the 4-stage pipeline "ha", two exec
# stages of 0.2 s, at SENTINEL_RATE (30) jobs/s, each acknowledged id written
# to a file).
# Once a third of them are acknowledged, SSE clients watch the newest jobs
# and the fault strikes:
#   failover      SENTINEL FAILOVER (graceful)
#   kill9         kill -9 of the master, submits in flight; it comes back as a replica
#   sigstop       SIGSTOP of the master until the sentinels have promoted a
#                 replica (longer than down-after), then SIGCONT: the stale
#                 master must be demoted without taking writes
#   sse_blmove    SENTINEL FAILOVER while more SSE clients watch jobs and a third
#                 pool waits in BLMOVE on an empty queue; after the switch one
#                 job is sent to that queue
#   failover_min0 failover with STAGEQ_MIN_REPLICAS=0: what a graceful
#                 failover loses without it (reported, never failed)
#   kill9_min0    kill9 with STAGEQ_MIN_REPLICAS=0: what is lost without it
#                 (reported, never failed)
# The others run with STAGEQ_MIN_REPLICAS=1 (API and workers). In a graceful
# failover Sentinel takes the promoted replica off the old master about a
# second before the other one, and the old master keeps taking writes: behind
# Sentinel the WAIT count is every replica the sentinels count healthy (at
# least N), so no write of that second is confirmed by the replica that then
# resyncs from the new master (docs/operations.md, "Running on Redis Sentinel"). After the
# submitter is done and every job has ended (given up once no job has ended
# for SENTINEL_SETTLE_S, 60 s), one line per scenario:
#   NAME: acked=N conflict=N missing=0 duplicated=0 stuck=0 sse_bad=0/N
#         failover_s=X first_done_s=Y [idle_job_s=Z] [demoted_s=W]
# acked = submits answered 202; conflict = ids answered 409 on a retry after a
# 503 (written, never acknowledged); missing = acked ids GET answers 404 for;
# duplicated = jobs with success_count > 1; stuck = jobs still queued or
# running after the settle; sse_bad = streams that ended without their job's
# final state, or with another one than Redis holds; failover_s = from the
# fault until the sentinels name a new master; first_done_s = from the fault
# until the first job completes on the new master. missing, duplicated, stuck
# and sse_bad must be 0 (missing and stuck but in the two reported scenarios).
# No duration is asserted; every wait is a bounded poll on a condition.
# Only loopback; everything started is stopped by PID. SENTINEL_SCENARIOS
# picks a subset (run in one sequence), SENTINEL_KEEP=1 keeps the logs (kept
# anyway on failure); SENTINEL_MIN_REPLICAS (1) and
# SENTINEL_MIN_REPLICAS_GRACEFUL (1) change the STAGEQ_MIN_REPLICAS above.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD
# The scenarios run in two groups side by side (SENTINEL_PARALLEL=0: one
# sequence): each has its own Sentinel group, API and pools, and counts from
# its own Redis; none asserts a duration, so sharing the machine can only make
# the measured seconds larger.
if [ -z "${SENTINEL_SCENARIOS:-}" ] && [ "${SENTINEL_PARALLEL:-1}" != 0 ]; then
  source tests/side_by_side.sh
  side_by_side SENTINEL_SCENARIOS tests/sentinel/run.sh "failover sigstop kill9_min0" \
    "kill9 sse_blmove failover_min0"
  exit
fi
STAGEQ_TEST_TMP=$(mktemp -d /tmp/stageq-sentinel.XXXXXX)
export STAGEQ_TEST_TMP
source tests/e2e/lib.sh
source tests/e2e/sentinel.sh
source tests/failover_lib.sh
N=${SENTINEL_JOBS:-300}
RATE=${SENTINEL_RATE:-30}
SETTLE_S=${SENTINEL_SETTLE_S:-60}
P=tests/sentinel/pipelines.json
W=(--pipelines "$P" --queue ha --concurrency 6 --lease 5)
MINR=${SENTINEL_MIN_REPLICAS:-1}
MINR_GRACEFUL=${SENTINEL_MIN_REPLICAS_GRACEFUL:-1}
SCENARIOS=${SENTINEL_SCENARIOS:-failover kill9 sigstop sse_blmove failover_min0 kill9_min0}
PY=python3
passed=0
failed=0
trap 'failover_cleanup "${SENTINEL_KEEP:-}"' EXIT

# mcli ARGS...: redis-cli on the master the sentinels name now.
mcli() { redis-cli -p "$(sg_master_port)" "$@"; }

# states DIR: "id state success_count" for every id written (acked and conflict).
states() {
  local ids="$1/ids"
  cat "$1/acked" "$1/conflict" 2>/dev/null | sort -u >"$ids"
  [ -s "$ids" ] || return 0
  job_keys $(cat "$ids") | sed 's/^/HMGET /; s/$/ state success_count/' | mcli 2>/dev/null |
    paste -d' ' - - | paste -d' ' "$ids" -
}

# unended DIR: how many jobs of DIR are queued or running ("" when Redis did not answer).
unended() {
  local out
  out=$(states "$1") || return 0
  [ -n "$out" ] || return 0
  printf '%s\n' "$out" | awk '$2 == "queued" || $2 == "running" { n++ } END { print n + 0 }'
}

# first_done_watch OLD_PORT OUT: (in the background) waits until the sentinels
# name a new master, reads its count of succeeded jobs, and writes to OUT the
# time (ms) it first grows: the first job completed on the new master. (A
# job's finished_at cannot tell: a worker keeps the end it could not write
# and writes it, with that time, to the new master.)
first_done_watch() {
  local old=$1 out=$2 mp c0
  poll 120 sg_has_new_master "$old" || return 0
  mp=$(sg_master_port)
  c0=$(redis-cli -p "$mp" HGET "$(counters_key)" succeeded:ha)
  succeeded_grew() {
    local c
    c=$(redis-cli -p "$mp" HGET "$(counters_key)" succeeded:ha)
    [ "${c:-0}" -gt "${c0:-0}" ]
  }
  poll 120 succeeded_grew && now_ms >"$out"
}

# missing DIR: acked ids GET /v1/jobs/{id} answers 404 for (one curl, keep-alive).
count_missing() {
  local cfg="$1/get.curl"
  : >"$cfg"
  while read -r id; do
    printf 'url = "%s/v1/jobs/%s"\noutput = "/dev/null"\nwrite-out = "%s %%{http_code}\\n"\nnext\n' \
      "$API_URL" "$id" "$id" >>"$cfg"
  done <"$1/acked"
  curl -s --max-time 120 -K "$cfg" >"$1/get.out" 2>/dev/null
  awk '$2 == 404' "$1/get.out" >"$1/missing"
  # an id curl got no answer for counts as missing too
  comm -23 <(sort -u "$1/acked") <(awk '$2 != 404 && $2 != 000 { print $1 }' "$1/get.out" | sort -u) |
    grep -c .
}

blocked_clients() { [ "$(mcli INFO clients | tr -d '\r' | sed -n 's/^blocked_clients://p')" -ge 1 ] 2>/dev/null; }
role_of_port() { redis-cli -p "$1" ROLE 2>/dev/null | head -1; }
is_replica() { [ "$(role_of_port "$1")" = slave ]; }
job_state() { curl -s --max-time 5 "$API_URL/v1/jobs/$1" | jq -r '.state // empty' 2>/dev/null; }
job_succeeded() { [ "$(job_state "$1")" = succeeded ]; }
# submit_one PIPELINE ID: 202, or 409 for a retry of a write whose answer was lost.
submit_one() {
  case $(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'content-type: application/json' \
    -d "{\"pipeline\":\"$1\",\"id\":\"$2\",\"input\":{}}" "$API_URL/v1/jobs") in
    202 | 409) return 0 ;;
  esac
  return 1
}

# run_scenario NAME FAULT MIN_REPLICAS WATCHERS [report]: with "report", lost
# and stuck jobs are reported, not failed.
run_scenario() {
  local sc=$1 fault=$2 minr=$3 nwatch=$4 strict=1 d="$STAGEQ_TEST_TMP/$1" ok=1 note=""
  [ "${5:-}" = report ] && strict=0
  local old_port old_node old_pid t_fault t_new sub_pid watch_pid fw_pid
  local acked conflict gaveup missing dup stuck sse_n sse_bad first_s idle_s="" demoted_s="" acked_at_fault
  mkdir -p "$d"
  : >"$d/acked"; : >"$d/conflict"; : >"$d/gaveup"; : >"$d/sse"
  stop_all
  redis_stop_all
  SQ_REDIS_NAMES=""
  if ! sg_start "$sc"; then
    echo "$sc: the Sentinel group did not come up  FAILED"
    failed=$((failed + 1))
    return
  fi
  export STAGEQ_PREFIX=sq STAGEQ_MIN_REPLICAS=$minr
  # the daemons' Redis for lib.sh's start_api / start_worker
  REDIS_PORT=$(sg_master_port) SQ_REDIS_URL=$SG_URL
  start_api "api-$sc" --pipelines "$P"
  if ! poll $((30 * SQ_SLOW)) api_ready; then
    # nothing after this could be measured: fail now, not after the submitter
    # has given up on every job
    echo "$sc: the API did not become ready on $SG_URL (log: $STAGEQ_TEST_TMP/api-$sc.log)  FAILED"
    tail -5 "$STAGEQ_TEST_TMP/api-$sc.log" 2>/dev/null | sed 's/^/#   /'
    failed=$((failed + 1))
    return
  fi
  if [ "$fault" = sse_blmove ]; then
    # the idle pool first, alone: once a client is blocked, it is this pool
    start_worker "$sc-idle" --pipelines "$P" --queue idle --concurrency 1 --lease 5
    poll 30 blocked_clients || note="$note idle-pool-not-blocked"
  fi
  start_worker "$sc-p1" "${W[@]}"
  start_worker "$sc-p2" "${W[@]}"
  # the last third waits for the fault: submits are in flight when it strikes
  "$PY" tests/sentinel/clients.py submit "$API_URL" ha "$sc" 1 "$N" "$RATE" 8 "$d" '{}' \
    $((2 * N / 3 + 1)) "$d/fault" >"$d/submit.json" 2>"$d/submit.err" &
  sub_pid=$!
  SQ_PIDS="$SQ_PIDS $sub_pid"
  acked_third() { [ "$(lines "$d/acked")" -ge $((N / 3)) ]; }
  poll 120 acked_third || note="$note slow-submits"
  tail -n "$nwatch" "$d/acked" >"$d/watch.ids"
  "$PY" tests/sentinel/clients.py watch "$API_URL" "$d/watch.ids" "$d/sse" 900 "$d/watch.ready" \
    2>"$d/watch.err" &
  watch_pid=$!
  SQ_PIDS="$SQ_PIDS $watch_pid"
  poll 30 test -s "$d/watch.ready" || note="$note watchers-not-open"
  old_port=$(sg_master_port)
  old_node=$(sg_master_node)
  old_pid=$(sg_pid_of "$old_node")
  acked_at_fault=$(lines "$d/acked")
  t_fault=$(now_ms)
  case $fault in
    failover | sse_blmove) sg_failover >/dev/null ;;
    kill9) kill -KILL "$old_pid" ;;
    sigstop) kill -STOP "$old_pid" ;;
  esac
  : >"$d/fault"
  first_done_watch "$old_port" "$d/first_done" &
  fw_pid=$!
  SQ_PIDS="$SQ_PIDS $fw_pid"
  if poll 60 sg_has_new_master "$old_port"; then
    t_new=$(now_ms)
  else
    t_new=""
    note="$note no-new-master"
  fi
  case $fault in
    kill9)
      poll 10 exited "$old_pid"
      sg_restart "$old_node"
      ;;
    sigstop)
      kill -CONT "$old_pid"
      local t_cont
      t_cont=$(now_ms)
      if poll 30 is_replica "$old_port"; then demoted_s=$(secs_since "$t_cont" "$(now_ms)"); else demoted_s=never; ok=0; fi
      ;;
    sse_blmove)
      local t_idle
      t_idle=$(now_ms)
      poll 60 submit_one idle "$sc-idle"
      if poll 60 job_succeeded "$sc-idle"; then
        idle_s=$(secs_since "$t_idle" "$(now_ms)")
      else
        idle_s=never
        [ -n "$(job_state "$sc-idle")" ] || idle_s=lost
        ok=0
      fi
      ;;
  esac
  # the submitter ends by itself: each id is answered or given up within 120 s
  poll 300 exited "$sub_pid" || note="$note submitter-hung"
  wait "$sub_pid" 2>/dev/null
  settle "$d" "$SETTLE_S" || note="$note not-all-ended"
  poll 120 exited "$watch_pid" || note="$note watchers-hung"
  kill "$watch_pid" 2>/dev/null
  wait "$watch_pid" 2>/dev/null

  acked=$(lines "$d/acked")
  conflict=$(lines "$d/conflict")
  gaveup=$(lines "$d/gaveup")
  missing=$(count_missing "$d")
  states "$d" >"$d/states"
  dup=$(awk '$3 > 1' "$d/states" | grep -c .)
  stuck=$(awk '$2 == "queued" || $2 == "running"' "$d/states" | grep -c .)
  # streams: ended with event: end on a final state, the one Redis holds
  sse_n=$(lines "$d/sse")
  sse_bad=$(jq -r '[.id, .state, .ended] | @tsv' "$d/sse" 2>/dev/null |
    awk 'NR == FNR { st[$1] = $2; next } !($3 == "end" && ($2 == "succeeded" || $2 == "failed" || $2 == "canceled") && st[$1] == $2)' \
      "$d/states" - | tee "$d/sse.bad" | grep -c .)
  poll 130 exited "$fw_pid"
  first_s=never
  [ -s "$d/first_done" ] && first_s=$(secs_since "$t_fault" "$(cat "$d/first_done")")
  [ "$first_s" = never ] && ok=0

  [ "$dup" = 0 ] && [ "$sse_bad" = 0 ] && [ "$gaveup" = 0 ] || ok=0
  [ "$sse_n" = "$nwatch" ] || ok=0
  [ $((acked + conflict)) = "$N" ] || ok=0
  if [ "$strict" = 1 ]; then
    [ "$missing" = 0 ] && [ "$stuck" = 0 ] || ok=0
  fi
  local line="$sc: min_replicas=$minr acked=$acked conflict=$conflict gaveup=$gaveup acked_at_fault=$acked_at_fault missing=$missing duplicated=$dup stuck=$stuck sse_bad=$sse_bad/$sse_n failover_s=$(secs_since "$t_fault" "${t_new:-$t_fault}") first_done_s=$first_s"
  [ -n "$idle_s" ] && line="$line idle_job_s=$idle_s"
  [ -n "$demoted_s" ] && line="$line demoted_s=$demoted_s"
  line="$line $(cat "$d/submit.json" 2>/dev/null)"
  [ -n "$note" ] && line="$line #$note"
  if [ "$strict" = 0 ] && { [ "$missing" != 0 ] || [ "$stuck" != 0 ]; }; then
    line="$line (reported, not failed)"
  fi
  if [ "$ok" = 1 ]; then
    echo "$line"
    passed=$((passed + 1))
  else
    echo "$line  FAILED"
    failed=$((failed + 1))
    head -5 "$d/missing" "$d/sse.bad" "$d/gaveup" 2>/dev/null | sed 's/^/#   /'
    awk '$2 == "queued" || $2 == "running"' "$d/states" | head -5 | sed 's/^/#   stuck: /'
  fi
}

for sc in $SCENARIOS; do
  case $sc in
    failover) run_scenario failover failover "$MINR_GRACEFUL" 10 ;;
    kill9) run_scenario kill9 kill9 "$MINR" 10 ;;
    sigstop) run_scenario sigstop sigstop "$MINR" 10 ;;
    sse_blmove) run_scenario sse_blmove sse_blmove "$MINR_GRACEFUL" 40 ;;
    failover_min0) run_scenario failover_min0 failover 0 10 report ;;
    kill9_min0) run_scenario kill9_min0 kill9 0 10 report ;;
    *) echo "unknown scenario $sc"; failed=$((failed + 1)) ;;
  esac
done
stop_all
redis_stop_all

failover_sanitizer_check
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
