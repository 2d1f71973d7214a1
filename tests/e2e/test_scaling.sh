#!/usr/bin/env bash
# test_scaling: horizontal scaling as `docker compose up --scale worker=3` does
# it — three independent stageq-worker pools (separate supervisors, 2 processes
# each, each under its own host name like a container when `unshare --uts` is
# allowed) on one Redis.
#   1. they share 20 jobs of 4 exec stages and GET /v1/workers lists all three;
#   2. SIGTERM one pool while it runs jobs (20 more): its jobs go to the others;
#   3. with a fresh pool D started, SIGKILL a whole pool (supervisor and children): its jobs are recovered
#      by lease expiry (--lease 2).
# Every job must end succeeded exactly once (no success_count above 1), none lost.
# Figures (jobs per pool, hand-over and recovery seconds) are printed as "#"
# lines; wall-clock limits are only generous bounds on the waits.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=ts
P=tests/e2e/pipelines-scaling.json
flush_prefix ts
start_api api --pipelines "$P"
W=(--pipelines "$P" --concurrency 2 --lease 2 --grace 5 --kill-grace-ms 300)

now_ms() { date +%s%3N; }

# wait_s SECONDS COMMAND...: like wait_for, but bounded by the clock (a poll
# here costs a few Redis round trips, so counting polls would stretch it).
wait_s() {
  local end=$(($(now_ms) + $1 * 1000 * SQ_SLOW)); shift
  while :; do
    "$@" && return 0
    [ "$(now_ms)" -lt "$end" ] || return 1
    sleep 0.1
  done
}

# Pools look like containers: their own UTS namespace and host name, so their
# worker ids are poolA:<pid>, … . Without that privilege, ids are <host>:<pid>
# and the pool of a worker is found from the pids of each supervisor's children
# (STAGEQ_TEST_NO_UTS=1 forces that way, to test it).
UTS=0
[ -n "${STAGEQ_TEST_NO_UTS:-}" ] || { unshare --uts sh -c 'hostname sq-probe' 2>/dev/null && UTS=1; }
echo "# pools in their own UTS namespace (distinct host names): $([ $UTS = 1 ] && echo yes || echo no)"
PIDMAP="$STAGEQ_TEST_TMP/scaling.pidmap"
: >"$PIDMAP"
POOLS=""

# start_pool NAME: a stageq-worker supervisor; sets POOL_<NAME> to its pid.
start_pool() {
  local name=$1 pid
  if [ $UTS = 1 ]; then
    unshare --uts sh -c 'hostname "$0" && exec "$@"' "$name" \
      "${SQ_WRAP[@]}" "$BUILD/stageq-worker" --redis-url "$SQ_REDIS_URL" "${W[@]}" \
      >>"$STAGEQ_TEST_TMP/$name.log" 2>&1 &
    pid=$!
    SQ_PIDS="$SQ_PIDS $pid"
  else
    start_worker "$name" "${W[@]}"
    pid=$WORKER_PID
  fi
  eval "POOL_$name=$pid"
  POOLS="$POOLS $name"
}

# map_children: remembers which pool each worker child belongs to (fallback).
map_children() {
  local n p c
  for n in $POOLS; do
    p=$(eval echo "\$POOL_$n")
    for c in $(pgrep -P "$p" 2>/dev/null); do echo "$c $n"; done
  done >>"$PIDMAP"
}

# pool_of WORKER_ID: the pool name.
pool_of() {
  echo "$1" | awk -v uts=$UTS -v map="$PIDMAP" "$POOL_AWK"'{ print pool($0) }'
}
# awk function pool(worker id): the host part with UTS, else looked up by pid.
POOL_AWK='
function pool(w,   h, p, line, f) {
  if (w == "-" || w == "") return "-"
  h = w; sub(/:[^:]*$/, "", h); p = w; sub(/^.*:/, "", p)
  if (uts) return h
  if (!loaded) { while ((getline line < map) > 0) { split(line, f, " "); pm[f[1]] = f[2] } loaded = 1 }
  return (p in pm) ? pm[p] : "?"
}'

# submit_n PHASE N SLEEP: N jobs with client ids PHASE-1..N, over one curl.
submit_n() {
  local ph=$1 n=$2 sl=$3 cfg="$STAGEQ_TEST_TMP/$1.curl" i
  for i in $(seq 1 "$n"); do
    [ "$i" = 1 ] || echo next
    printf 'url = "%s/v1/jobs"\nheader = "content-type: application/json"\n' "$API_URL"
    printf 'data = "{\\"pipeline\\":\\"scale4\\",\\"id\\":\\"%s-%s\\",\\"input\\":{\\"sleep\\":%s,\\"i\\":%s}}"\n' \
      "$ph" "$i" "$sl" "$i"
    printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
  done >"$cfg"
  curl -s --max-time 60 -K "$cfg" | grep -c '^202$'
}

# snapshot PHASE N: "id state pool success_count stage" per job, in one Redis
# round trip and one awk (polls stay cheap on a loaded machine).
snapshot() {
  local ph=$1 n=$2 i
  [ $UTS = 1 ] || map_children
  job_keys $(seq -f "$ph-%.0f" 1 "$n") | sed 's/^/HMGET /; s/$/ state worker success_count stage/' |
    rcli | sed 's/^$/-/' | paste -d' ' - - - - |
    awk -v ph="$ph" -v uts=$UTS -v map="$PIDMAP" "$POOL_AWK"'
      { printf "%s-%d %s %s %s %s\n", ph, NR, $1, pool($2), $3, $4 }'
}

all_succeeded() { [ "$(snapshot "$1" "$2" | awk '$2 == "succeeded"' | wc -l)" = "$2" ]; }

# running_on POOL PHASE N: "id stage" of the phase's jobs running on that pool.
running_on() { snapshot "$2" "$3" | awk -v p="$1" '$2 == "running" && $3 == p { print $1, $5 }'; }

# pool_busy POOL PHASE N: both its processes run a job, one of them at most in
# stage 2 (so it is still mid-pipeline when the fault comes); keeps what it
# saw in BUSY_SNAP for the caller.
pool_busy() {
  running_on "$1" "$2" "$3" >"$STAGEQ_TEST_TMP/busy"
  [ "$(grep -c . "$STAGEQ_TEST_TMP/busy")" -ge 2 ] && [ -n "$(awk '$2 <= 2' "$STAGEQ_TEST_TMP/busy")" ]
}

# per_pool PHASE N: "poolA=21 poolB=19 poolC=20" from the worker that finished each job.
per_pool() {
  snapshot "$1" "$2" | awk '$2 == "succeeded" { n[$3]++ } END { for (p in n) print p "=" n[p] }' |
    sort | tr '\n' ' '
}

# exactly_once PHASE N: every job succeeded, no success_count above 1 (it is
# written from a second success on: "-" when absent).
exactly_once() {
  local bad
  bad=$(snapshot "$1" "$2" | awk '$2 != "succeeded" || ($4 != "1" && $4 != "-")' | head -5)
  [ -z "$bad" ] || echo "# not exactly once: $bad"
  [ -z "$bad" ]
}

live_pools() {
  http GET /v1/workers
  local id
  for id in $(jqr '.workers[].id'); do pool_of "$id"; done | sort -u | tr '\n' ' '
}

# --- 1. three pools share the work ----------------------------------------------------
start_pool poolA
start_pool poolB
start_pool poolC
sleep 0.5
map_children
# 20 jobs a phase (there were 30): the faults hit the jobs a pool runs at that
# moment (2), the others are load that keeps every pool busy across the fault
# and then must still end exactly once; 20 over 6 (then 4) processes are
# still several rounds each, and pool_busy waits for the fault's moment.
N=20
check_eq "$N jobs accepted" "$N" "$(submit_n s1 $N 0.2)"
t0=$(now_ms)
three_listed() { map_children; [ "$(live_pools)" = "poolA poolB poolC " ]; }
check "GET /v1/workers lists the workers of all three pools" wait_s 20 three_listed
six_workers() { http GET /v1/workers; [ "$(jqr '.workers | length')" = 6 ]; }
check "GET /v1/workers lists 6 worker processes (3 pools x 2)" wait_s 10 six_workers
check "all $N jobs succeeded" wait_s 180 all_succeeded s1 $N
echo "# phase 1: $N jobs of 4 x 0.2 s stages in $((($(now_ms) - t0) / 1000)) s on 3 pools x 2: $(per_pool s1 $N)"
for p in poolA poolB poolC; do
  check "phase 1: $p ran some of the jobs" test -n "$(per_pool s1 $N | grep -oE "\b$p=[1-9]")"
done
check "phase 1: every job succeeded exactly once" exactly_once s1 $N

# --- 2. SIGTERM one pool mid-run: its jobs go to the others ---------------------------
check_eq "phase 2: $N more jobs accepted" "$N" "$(submit_n s2 $N 0.3)"
check "phase 2: pool A runs two jobs" wait_s 30 pool_busy poolA s2 $N
t0=$(now_ms)
stop_pid "$POOL_poolA" 20 # SIGTERM at once, then wait for it to exit
t_exit=$(now_ms)
snap=$(cat "$STAGEQ_TEST_TMP/busy")
held=$(echo "$snap" | awk '$2 <= 3 { print $1 }' | tr '\n' ' ')
echo "# phase 2: at SIGTERM pool A ran (id stage): $(echo $snap)"
check_eq "phase 2: pool A exits 0 after SIGTERM" 0 "$STOP_RC"
not_on_a() { [ -z "$(running_on poolA s2 $N)" ]; }
check "phase 2: no job is left running on pool A" not_on_a
echo "# phase 2: pool A stopped in $(((t_exit - t0))) ms (grace 5 s)"
POOLS=${POOLS/ poolA/}
check "phase 2: all $N jobs succeeded on the remaining pools" wait_s 180 all_succeeded s2 $N
echo "# phase 2: jobs per pool: $(per_pool s2 $N)"
handed=0
for id in $held; do
  w=$(rcli HGET "$(job_key "$id")" worker)
  [ "$(pool_of "$w")" != poolA ] && handed=$((handed + 1))
done
echo "# phase 2: $handed of the $(echo $held | wc -w) jobs pool A ran at SIGTERM were finished by another pool"
check "phase 2: pool A's running jobs were handed to the other pools" test "$handed" -ge 1
check "phase 2: every job succeeded exactly once" exactly_once s2 $N
a_gone() { [ -z "$(live_pools | grep -w poolA)" ]; }
check "phase 2: GET /v1/workers no longer lists pool A" wait_s 10 a_gone

# --- 3. SIGKILL a whole pool: recovery by lease expiry --------------------------------
start_pool poolD # a replacement, like a restarted container
check_eq "phase 3: $N more jobs accepted" "$N" "$(submit_n s3 $N 0.3)"
check "phase 3: pool B runs two jobs" wait_s 30 pool_busy poolB s3 $N
{ kill -9 "$POOL_poolB" $(pgrep -P "$POOL_poolB"); } 2>/dev/null
t0=$(now_ms)
snap=$(cat "$STAGEQ_TEST_TMP/busy")
held=$(echo "$snap" | awk '$2 <= 3 { print $1 }' | tr '\n' ' ')
echo "# phase 3: at SIGKILL pool B ran (id stage): $(echo $snap)"
{ wait "$POOL_poolB"; } 2>/dev/null
POOLS=${POOLS/ poolB/}
# recovered: none of its jobs is still marked running on pool B
recovered() { [ -z "$(running_on poolB s3 $N)" ]; }
check "phase 3: pool B's jobs are recovered after its lease (2 s) expires" wait_s 30 recovered
echo "# phase 3: recovery took $((($(now_ms) - t0))) ms (lease 2 s)"
check "phase 3: all $N jobs succeeded" wait_s 180 all_succeeded s3 $N
echo "# phase 3: jobs per pool: $(per_pool s3 $N)"
bad=""
for id in $held; do
  http GET "/v1/jobs/$id"
  r=$(jqr '[.state, (.worker | split(":")[0]), .errors[0].code] | map(tostring) | join(" ")')
  echo "# phase 3: $id: attempt $(jqr .attempt), resumed from stage $(jqr .resumed_from_stage): $r"
  case $r in "succeeded "*" worker_lost") ;; *) bad="$bad $id" ;; esac
  [ "$(pool_of "$(jqr .worker)")" != poolB ] || bad="$bad $id(poolB)"
done
check_eq "phase 3: pool B's jobs were rerun elsewhere after a worker_lost error" "" "$bad"
check "phase 3: every job succeeded exactly once" exactly_once s3 $N
b_gone() { [ -z "$(live_pools | grep -w poolB)" ]; }
check "phase 3: GET /v1/workers no longer lists pool B" wait_s 10 b_gone

# --- nothing lost, nothing left over -------------------------------------------------
check_eq "no job hash is missing (3 phases x $N)" $((3 * N)) "$(scan_keys "$(job_key 's[123]-*')" | wc -l)"
check_eq "the queue is empty" 0 "$(rcli LLEN "$(queue_key default)")"
left=$(scan_keys "$(processing_key '*')" | while read -r k; do rcli LLEN "$k"; done | awk '{ s += $1 } END { print s + 0 }')
check_eq "no job is left on a processing list" 0 "$left"
flush_prefix ts
finish
