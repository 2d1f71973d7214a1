#!/usr/bin/env bash
# The fault suite (`make test-faults`): each scenario runs N jobs (short
# stages; delayed_kill: scheduled 0 to 5 s ahead) on a fresh Redis with AOF,
# injects a fault, waits for every job to end, and then reads every job hash in Redis itself to count what happened:
#   scenario: submitted=N succeeded=N failed=N lost=0 duplicated=0 max_attempt=K recovery_s=X
# The outage scenarios (Redis away, or frozen, for longer than two leases)
# run jobs of one attempt and also fail when any job failed or was ever
# judged lost (worker_lost): a worker that waited through an outage every
# worker saw is not lost. They print the phases the jobs were in.
# lost = accepted jobs that never reached a final state (or vanished);
# duplicated = jobs recorded succeeded more than once (success_count > 1: it
# is written from a second success on, a missing field reads "-");
# recovery_s = seconds from the end of the fault until every job that was in
# flight at the fault has ended, is back on its queue or runs elsewhere, and
# jobs complete again.
# A scenario fails when lost or duplicated is not 0. Bounded in time; only
# loopback; everything started is stopped by PID.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD

# The scenarios run in two groups side by side (FAULT_PARALLEL=0: all in one
# sequence): each scenario has its own Redis, API and workers, the counts come
# from its own Redis, and none asserts a duration, so sharing the machine can
# only make recovery_s larger. The groups are about equally long (the longest
# scenario, redis_down_10s, waits 10 s on a Redis that is away).
if [ -z "${FAULT_SCENARIOS:-}" ] && [ "${FAULT_PARALLEL:-1}" != 0 ]; then
  source tests/side_by_side.sh
  side_by_side FAULT_SCENARIOS tests/faults/run.sh \
    "kill_children kill_pool redis_restart redis_frozen_leases delayed_kill" \
    "sigterm_pool redis_down_10s redis_away_leases hop_moves"
  exit
fi
STAGEQ_TEST_TMP=$(mktemp -d /tmp/stageq-faults.XXXXXX)
export STAGEQ_TEST_TMP
source tests/e2e/lib.sh
N=${FAULT_JOBS:-200}
P=tests/faults/pipelines.json
W=(--pipelines "$P" --lease 2 --grace 1 --kill-grace-ms 300 --concurrency 3)
passed=0
failed=0
trap 'stop_all; redis_stop_all; [ -n "${FAULT_KEEP:-}" ] || rm -rf "$STAGEQ_TEST_TMP"' EXIT
# FAULT_SCENARIOS="kill_pool redis_restart" runs a subset; FAULT_KEEP=1 keeps the logs.
want() { [ -z "${FAULT_SCENARIOS:-}" ] || [[ " $FAULT_SCENARIOS " == *" $1 "* ]]; }

now_ms() { date +%s%3N; }

now_ts() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

# submit_all SCENARIO FIRST LAST: one curl process sends them all on one
# keep-alive connection; those not accepted (503 while Redis is away) are sent
# again. Client ids make a retried submit idempotent (409 = accepted before).
# With FAULT_DELAY=1, job i is scheduled: delay_s (i % 51) / 10, 0 to 5 s.
submit_all() {
  local sc=$1 todo="$STAGEQ_TEST_TMP/$1.todo.$BASHPID" cfg="$STAGEQ_TEST_TMP/$1.curl.$BASHPID" t i delay
  seq "$2" "$3" >"$todo"
  for t in $(seq 1 300); do
    : >"$cfg"
    while read -r i; do
      printf 'url = "%s/v1/jobs"\nheader = "content-type: application/json"\n' "$API_URL" >>"$cfg"
      delay=""
      [ -z "${FAULT_DELAY:-}" ] || printf -v delay ',\\"delay_s\\":%d.%d' $((i % 51 / 10)) $((i % 51 % 10))
      printf 'data = "{\\"pipeline\\":\\"%s\\",\\"id\\":\\"%s-%s\\",\\"input\\":{\\"sleep\\":0.2,\\"i\\":%s}%s}"\n' \
        "${FAULT_PIPELINE:-fault}" "$sc" "$i" "$i" "$delay" >>"$cfg"
      printf 'output = "/dev/null"\nwrite-out = "%s %%{http_code}\\n"\nnext\n' "$i" >>"$cfg"
    done <"$todo"
    curl -s --max-time 60 -K "$cfg" >"$cfg.out" 2>/dev/null
    awk -v sc="$sc" '$2 == 202 || $2 == 409 { print sc "-" $1 }' "$cfg.out" >>"$STAGEQ_TEST_TMP/$sc.ids"
    awk '$2 != 202 && $2 != 409 { print $1 }' "$cfg.out" >"$todo.next"
    # requests curl never got to (connection refused midway) are not in .out
    sort "$todo" | comm -23 - <(awk '{ print $1 }' "$cfg.out" | sort) >>"$todo.next"
    sort -un "$todo.next" >"$todo"
    [ -s "$todo" ] || break
    sleep 0.2
  done
  rm -f "$todo" "$todo.next" "$cfg" "$cfg.out"
}

# snapshot SCENARIO: the jobs in flight right before a fault, as "id worker".
snapshot() {
  local k
  : >"$STAGEQ_TEST_TMP/$1.inflight"
  local pre
  pre=$(processing_key '')
  for k in $(scan_keys "$pre*"); do
    rcli LRANGE "$k" 0 -1 | sed "s|\$| ${k#"$pre"}|" >>"$STAGEQ_TEST_TMP/$1.inflight"
  done
}

# in_flight_settled SCENARIO: every job of the snapshot has ended, or is back
# on its queue, or runs on another worker: nothing waits on a dead one.
in_flight_settled() {
  local f="$STAGEQ_TEST_TMP/$1.inflight"
  [ -s "$f" ] || return 0
  job_keys $(cut -d' ' -f1 "$f") | sed 's/^/HMGET /; s/$/ state worker/' | rcli 2>/dev/null | paste -d' ' - - |
    paste -d' ' "$f" - | awk '$3 == "running" && $4 == $2 { bad = 1 } END { exit bad }'
}

succeeded_count() {
  local ids="$STAGEQ_TEST_TMP/$1.ids"
  [ -s "$ids" ] || { echo 0; return; }
  job_fields "$ids" state | grep -c '^succeeded$'
}

# measure_recovery SCENARIO T_FAULT_END_MS: sets RECOVERY_S, the time until
# the jobs in flight at the fault have settled and jobs complete again.
measure_recovery() {
  local sc=$1 t_end=$2 base i total now_ok
  base=$(succeeded_count "$sc")
  total=$(sort -u "$STAGEQ_TEST_TMP/$sc.ids" | wc -l)
  for i in $(seq 1 1200); do
    if in_flight_settled "$sc"; then
      now_ok=$(succeeded_count "$sc")
      { [ "$now_ok" -gt "$base" ] || [ "$now_ok" = "$total" ]; } && break
    fi
    sleep 0.05
  done
  RECOVERY_S=$(awk -v a="$(now_ms)" -v b="$t_end" 'BEGIN { printf "%.1f", (a - b) / 1000 }')
}

all_final() {
  local sc=$1
  ! job_fields "$STAGEQ_TEST_TMP/$sc.ids" state |
    grep -qv '^\(succeeded\|failed\|canceled\)$'
}

# report SCENARIO [EXTRA]: counts from Redis itself. With EXTRA (the outage
# scenarios' figures) a job failed or judged lost (worker_lost) fails it too.
report() {
  local sc=$1 extra=${2:-} submitted ok=0 bad=0 lost=0 dup=0 maxa=0 wlost id st sc_ attempt
  sort -u "$STAGEQ_TEST_TMP/$sc.ids" >"$STAGEQ_TEST_TMP/$sc.uids"
  submitted=$(wc -l <"$STAGEQ_TEST_TMP/$sc.uids")
  while read -r id st sc_ attempt; do
    case "$st" in
      succeeded) ok=$((ok + 1)) ;;
      failed) bad=$((bad + 1)) ;;
      *) lost=$((lost + 1)) ;;
    esac
    [ "${sc_:-0}" -gt 1 ] 2>/dev/null && dup=$((dup + 1))
    [ "${attempt:-0}" -gt "$maxa" ] 2>/dev/null && maxa=$attempt
  done < <(job_fields "$STAGEQ_TEST_TMP/$sc.uids" state success_count attempt |
    sed 's/^$/-/' | paste -d' ' - - - | paste -d' ' "$STAGEQ_TEST_TMP/$sc.uids" -)
  local line="$sc: submitted=$submitted succeeded=$ok failed=$bad lost=$lost duplicated=$dup max_attempt=$maxa recovery_s=$RECOVERY_S"
  local strict_ok=1
  if [ -n "$extra" ]; then
    wlost=$(job_fields "$STAGEQ_TEST_TMP/$sc.uids" errors | grep -c worker_lost)
    line="$line worker_lost=$wlost $extra"
    [ "$bad" = 0 ] && [ "$wlost" = 0 ] || strict_ok=0
  fi
  if [ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$submitted" -ge "$N" ] && [ "$strict_ok" = 1 ]; then
    echo "$line"
    passed=$((passed + 1))
  else
    echo "$line  FAILED"
    failed=$((failed + 1))
  fi
}

# setup SCENARIO: a fresh Redis (AOF), the API, and the prefix fq.
setup() {
  stop_all
  redis_stop_all
  export STAGEQ_PREFIX=fq
  sq_redis "$1" --appendonly yes --appendfsync everysec
  : >"$STAGEQ_TEST_TMP/$1.ids"
  start_api "api-$1" --pipelines "$P"
}

wait_done() { wait_for "${2:-120}" all_final "$1" || echo "# $1: not every job ended in time"; }

restart_redis() { # name, seconds down
  sq_redis_down "$1"
  sleep "$2"
  sq_redis_up "$1"
}

# 1. kill -9 random worker children, repeatedly, during stages.
if want kill_children; then
  sc=kill_children
  setup $sc
  submit_all $sc 1 "$N"
  start_worker "$sc-p1" "${W[@]}"; P1=$WORKER_PID
  start_worker "$sc-p2" "${W[@]}"; P2=$WORKER_PID
  for k in $(seq 1 8); do
    sleep 0.7
    snapshot $sc
    victim=$(pgrep -P "$P1"; pgrep -P "$P2")
    victim=$(echo "$victim" | shuf -n 1)
    [ -n "$victim" ] && kill -9 "$victim"
  done
  t_end=$(now_ms)
  measure_recovery $sc "$t_end"
  wait_done $sc
  report $sc
fi

# 2. kill -9 a whole worker pool while another pool runs.
if want kill_pool; then
  sc=kill_pool
  setup $sc
  submit_all $sc 1 "$N"
  start_worker "$sc-p1" "${W[@]}"; P1=$WORKER_PID
  start_worker "$sc-p2" "${W[@]}"
  sleep 2.5 # both mid-run, and p2 healthy for a whole lease: it may judge others
  snapshot $sc
  kill -9 "$P1" $(pgrep -P "$P1")
  t_end=$(now_ms)
  measure_recovery $sc "$t_end"
  wait_done $sc
  report $sc
fi

# 3. SIGTERM the pool mid-run, then start a new one.
if want sigterm_pool; then
  sc=sigterm_pool
  setup $sc
  submit_all $sc 1 "$N"
  start_worker "$sc-p1" "${W[@]}"; P1=$WORKER_PID
  sleep 2
  snapshot $sc
  stop_pid "$P1" 20
  [ "$STOP_RC" = 0 ] || echo "# $sc: the pool exited $STOP_RC"
  t_end=$(now_ms)
  start_worker "$sc-p2" "${W[@]}"
  measure_recovery $sc "$t_end"
  wait_done $sc
  report $sc
fi

# 4. restart redis-server (AOF) mid-run.
if want redis_restart; then
  sc=redis_restart
  setup $sc
  submit_all $sc 1 "$N"
  start_worker "$sc-p1" "${W[@]}"
  start_worker "$sc-p2" "${W[@]}"
  sleep 2
  snapshot $sc
  restart_redis $sc 0.5
  t_end=$(now_ms)
  measure_recovery $sc "$t_end"
  wait_done $sc
  report $sc
fi

# 5. Redis away for 10 s while clients keep submitting and polling.
if want redis_down_10s; then
  sc=redis_down_10s
  setup $sc
  submit_all $sc 1 $((N / 2))
  start_worker "$sc-p1" "${W[@]}"
  start_worker "$sc-p2" "${W[@]}"
  (submit_all $sc $((N / 2 + 1)) "$N") &
  submitter=$!
  (for i in $(seq 1 400); do curl -s -o /dev/null --max-time 1 "$API_URL/v1/jobs/$sc-$((i % N + 1))"; sleep 0.05; done) &
  poller=$!
  sleep 0.5
  snapshot $sc
  restart_redis $sc 10
  t_end=$(now_ms)
  wait "$submitter"
  measure_recovery $sc "$t_end"
  wait_done $sc
  kill "$poller" 2>/dev/null
  report $sc
fi

# 8. stages that move between pools: "in" and "out" run on the default queue,
# "work" on the gpu queue. Each pool is killed with -9 in turn (and a new one
# started), and Redis restarted, while jobs move between the queues: none
# lost, none recorded succeeded twice.
if want hop_moves; then
  sc=hop_moves
  setup $sc
  FAULT_PIPELINE=hop submit_all $sc 1 "$N"
  start_worker "$sc-cpu" "${W[@]}"; C=$WORKER_PID
  start_worker "$sc-gpu" "${W[@]}" --queue gpu; G=$WORKER_PID
  sleep 2.5 # both mid-run, each healthy for a whole lease: it may judge the other
  snapshot $sc
  kill -9 "$G" $(pgrep -P "$G")
  start_worker "$sc-gpu2" "${W[@]}" --queue gpu
  sleep 1.5
  restart_redis $sc 0.5
  sleep 1.5
  kill -9 "$C" $(pgrep -P "$C")
  start_worker "$sc-cpu2" "${W[@]}"
  t_end=$(now_ms)
  measure_recovery $sc "$t_end"
  wait_done $sc 180
  # the hand-overs the pools logged (a pool killed mid-run may have run one again)
  echo "# $sc: hand-overs to gpu $(cat "$STAGEQ_TEST_TMP/$sc"-cpu*.log | grep -c 'handed over to queue gpu')," \
    "back to default $(cat "$STAGEQ_TEST_TMP/$sc"-gpu*.log | grep -c 'handed over to queue default')"
  report $sc
fi

# 9. delayed jobs (delay_s 0 to 5 s) while pools are killed with -9 and new
# ones started, and children killed: every accepted job ends exactly once,
# and none starts before its run_at (its first started_at).
if want delayed_kill; then
  sc=delayed_kill
  setup $sc
  FAULT_DELAY=1 submit_all $sc 1 "$N"
  start_worker "$sc-p1" "${W[@]}"; P1=$WORKER_PID
  start_worker "$sc-p2" "${W[@]}"; P2=$WORKER_PID
  sleep 1.5
  snapshot $sc
  kill -9 "$P1" $(pgrep -P "$P1")
  start_worker "$sc-p3" "${W[@]}"; P3=$WORKER_PID
  sleep 1.5
  victim=$(pgrep -P "$P3" | shuf -n 1)
  [ -n "$victim" ] && kill -9 "$victim"
  sleep 1
  snapshot $sc
  kill -9 "$P2" $(pgrep -P "$P2")
  start_worker "$sc-p4" "${W[@]}"
  t_end=$(now_ms)
  measure_recovery $sc "$t_end"
  wait_done $sc 180
  early=$(job_fields "$STAGEQ_TEST_TMP/$sc.ids" run_at started_at | paste -d' ' - - |
    awk 'NF == 2 && $2 < $1' | wc -l)
  sched=$(job_fields "$STAGEQ_TEST_TMP/$sc.ids" run_at | grep -c .)
  echo "# $sc: $sched jobs were scheduled, $early started before their run_at," \
    "$(rcli ZCARD "$(delayed_key default)") left in the delayed set"
  report $sc
  if [ "$early" != 0 ]; then
    echo "$sc: $early jobs started before their run_at  FAILED"
    failed=$((failed + 1))
  fi
fi

# 6, 7. Redis away (stopped, restarted from its AOF) or frozen (SIGSTOP) for
# 2.5 leases while jobs of one attempt are queued, mid-stage, and finishing
# their last stage (their end is written once Redis is back). Nobody may be
# judged lost for the outage: failed=0, worker_lost=0. Figures: the jobs
# queued and running when it began, and those whose end waited through it.
outage() { # scenario, how: away | frozen
  local sc=$1 how=$2 i t0 t1 queued running waited dir pid
  setup "$sc"
  : >"$STAGEQ_TEST_TMP/$sc.cfg"
  for i in $(seq 1 "$ON"); do
    printf 'url = "%s/v1/jobs"\nheader = "content-type: application/json"\n' "$API_URL"
    printf 'data = "{\\"pipeline\\":\\"outage\\",\\"id\\":\\"%s-%s\\",\\"input\\":{\\"sleep\\":%s}}"\n' \
      "$sc" "$i" "$(awk -v i="$i" 'BEGIN { printf "%.1f", 0.3 + (i % 10) / 10 }')"
    printf 'output = "/dev/null"\nwrite-out = "%s-%s %%{http_code}\\n"\nnext\n' "$sc" "$i"
  done >"$STAGEQ_TEST_TMP/$sc.cfg"
  curl -s --max-time 60 -K "$STAGEQ_TEST_TMP/$sc.cfg" 2>/dev/null | awk '$2 == 202 { print $1 }' >"$STAGEQ_TEST_TMP/$sc.ids"
  start_worker "$sc-p1" "${W[@]}"
  start_worker "$sc-p2" "${W[@]}"
  sleep 1.5 # every worker mid-stage, more jobs queued
  queued=$(rcli LLEN "$(queue_key default)")
  running=$(job_fields "$STAGEQ_TEST_TMP/$sc.ids" state | grep -c '^running$')
  t0=$(now_ts)
  dir="$STAGEQ_TEST_TMP/redis-$sc"
  if [ "$how" = frozen ]; then
    pid=$(cat "$dir/redis.pid")
    kill -STOP "$pid"
    sleep 5
    kill -CONT "$pid"
  else
    restart_redis "$sc" 5
  fi
  t1=$(now_ts)
  RECOVERY_S=-
  wait_done "$sc"
  # ends built during the outage and written after it (updated_at: a job's
  # end is its last write; it stores no finished_at)
  waited=$(job_fields "$STAGEQ_TEST_TMP/$sc.ids" updated_at |
    awk -v a="$t0" -v b="$t1" '$1 > a && $1 < b' | wc -l)
  N=$ON report "$sc" "queued_at_fault=$queued running_at_fault=$running ends_waited=$waited outage_s=5 lease_s=2"
}
ON=${FAULT_OUTAGE_JOBS:-60}
want redis_away_leases && outage redis_away_leases away
want redis_frozen_leases && outage redis_frozen_leases frozen

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
