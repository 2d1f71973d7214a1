#!/usr/bin/env bash
# bench/run.sh: `make bench`. A benchmark, not a test: it starts its own
# redis-server, stageq-api and stageq-worker pools on loopback (free ports),
# measures submit, drain, end-to-end, status, live-event latency and costs,
# the Redis limit (redis-benchmark) on the same machine in the same run, and
# prints one table (median of BENCH_RUNS runs, with min and max) with the
# targets marked. Raw results: $BUILD/bench/results.json. Exits 0 whatever
# the figures; non-zero only when it cannot run. Everything it starts is
# stopped by PID, also on Ctrl-C or error.
#
# With a replica it starts for that part only: submit and drain with
# STAGEQ_MIN_REPLICAS 0 and 1 (what the WAIT confirmation costs).
#
# Env: BENCH_RUNS (3), BENCH_JOBS (50000: the drain backlog), BENCH_SECONDS
# (5: each wrk window), BENCH_STREAMS (1000: SSE streams held open),
# BENCH_QUICK=1 (small counts, for development), BENCH_LOG_LEVEL (the daemons'
# log level; unset: the defaults as shipped, info with the access log, two
# lines per job), BUILD (build). Whatever it is, "log: defaults vs warn"
# measures both side by side.
set -u -o pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
BUILD=${BUILD:-build}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
  RUNS=${BENCH_RUNS:-3} JOBS=${BENCH_JOBS:-3000} SECS=${BENCH_SECONDS:-1} STREAMS=${BENCH_STREAMS:-100}
  RB_N=20000 LIVE_S=1
else
  RUNS=${BENCH_RUNS:-3} JOBS=${BENCH_JOBS:-50000} SECS=${BENCH_SECONDS:-5} STREAMS=${BENCH_STREAMS:-1000}
  RB_N=200000 LIVE_S=5
fi
LOGLEVEL=${BENCH_LOG_LEVEL:-}
LIVE_RATE=${BENCH_LIVE_RATE:-100} # jobs/s submitted while measuring live latency
PIPES="$top/bench/pipelines.json"
OUT="$top/$BUILD/bench"
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/stageq-bench.XXXXXX)
KV="$OUT/raw.kv" # "name value" lines, turned into the table and JSON by report.py
: >"$KV"
PIDS=""
REDIS_PID=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
kv() { echo "$1 $2" >>"$KV"; }
now_ms() { date +%s%3N; }
rfc3339() { date -u -d "@$(($1 / 1000)).$(printf %03d $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ; }
ts_ms() { date -d "$1" +%s%3N; }

stop_pid() { # stop_pid PID: TERM, wait up to 15 s, KILL
  local p=$1
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$p" | tr '\n' ' ')
}

cleanup() {
  local p
  trap - EXIT INT TERM
  for p in $PIDS; do stop_pid "$p"; done
  [ -n "$REDIS_PID" ] && stop_pid "$REDIS_PID"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

die() { log "error: $*"; exit 1; }

free_port() {
  local p
  while :; do
    p=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    [ "$p" != 8080 ] && break
  done
  echo "$p"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
children() { cat /proc/"$1"/task/*/children 2>/dev/null; }
# ticks PID...: "user system" CPU clock ticks used so far, summed over the PIDs
ticks() {
  local p
  for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null; done |
    awk '{u += $12; s += $13} END {print u + 0, s + 0}'
}
HZ=$(getconf CLK_TCK)
# cpu_us NAME "U0 S0" "U1 S1" COUNT: CPU microseconds per item (user+sys) and the sys share
cpu_us() {
  local u0 s0 u1 s1
  read -r u0 s0 <<<"$2"
  read -r u1 s1 <<<"$3"
  kv "cpu.$1.us" "$(calc 1 "(($u1 - $u0) + ($s1 - $s0)) * 1000000 / $HZ / ($4 + 0.000001)")"
  kv "cpu.$1.sys_pct" "$(calc 0 "100 * ($s1 - $s0) / (($u1 - $u0) + ($s1 - $s0) + 0.000001)")"
}

# python3 straight, not through a version manager's shim (slow to start)
PY=$(command -v /usr/bin/python3 || command -v python3)
for t in wrk redis-server redis-benchmark redis-cli python3 jq curl; do
  command -v "$t" >/dev/null || die "$t is missing (make deps-bench)"
done
{ [ -x "$BUILD/stageq-api" ] && [ -x "$BUILD/stageq-worker" ]; } || die "build first: make"

# 1,000 SSE streams need file descriptors: the API raises its own soft limit
# to the hard one; the client (this shell's children) needs it too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((STREAMS + 200)) ] &&
  log "warning: ulimit -n $(ulimit -n) is below $((STREAMS + 200)): streams may fail"

# ---- machine and versions ----
kv meta.cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
kv meta.cores "$(nproc)"
kv meta.mem_gb "$(awk '/^MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
kv meta.kernel "$(uname -r)"
# shellcheck disable=SC1091
kv meta.os "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
kv meta.redis "$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*malloc=\([^ ]*\).*/\1 (\2)/p')"
kv meta.gcc "$(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)"
kv meta.wrk "$(dpkg-query -W -f '${Version}' wrk 2>/dev/null)"
kv meta.libs "hiredis $(dpkg-query -W -f '${Version}' libhiredis0.14 2>/dev/null), libevent $(dpkg-query -W -f '${Version}' libevent-2.1-7 2>/dev/null), cJSON $(dpkg-query -W -f '${Version}' libcjson1 2>/dev/null)"
kv meta.cflags "$(make -s -n --no-print-directory -B "$BUILD/api/main.o" 2>/dev/null | grep -o -- ' -O[0-9s] ' | head -1 | tr -d ' ')"
kv meta.commit "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo +dirty)"
kv meta.date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
kv meta.runs "$RUNS"
kv meta.jobs "$JOBS"
kv meta.seconds "$SECS"
kv meta.streams "$STREAMS"
kv meta.quick "$QUICK"
kv meta.loglevel "${LOGLEVEL:-info (the default)}"
kv meta.live_rate "$LIVE_RATE"
kv meta.load "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- redis, api ----
RPORT=$(free_port)
mkdir -p "$TMP/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP/redis" --save '' --appendonly no \
  --logfile "$TMP/redis/redis.log" --daemonize no --maxmemory 0 >/dev/null &
REDIS_PID=$!
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
rcli() { redis-cli -p "$RPORT" "$@"; }
# bkey KIND [NAME]: the daemons' key names (shared/keys.c); a build without
# sq-keys (the A/B's base commit) named its keys untagged: stageq:KIND[:NAME]
bkey() {
  if [ -x "$BUILD/tests/sq-keys" ]; then
    "$BUILD/tests/sq-keys" -p stageq "$@"
  else
    local IFS=:
    echo "stageq:$*"
  fi
}
rcli ping >/dev/null || die "redis-server did not start ($TMP/redis/redis.log)"
RURL="redis://127.0.0.1:$RPORT/0"
[ -n "$LOGLEVEL" ] && export STAGEQ_LOG_LEVEL="$LOGLEVEL"

rcli info server | grep -q 'redis_version:7' || log "warning: not Redis 7: commandstats method may differ"

# api_start NAME [URL] [PIPELINES]: a stageq-api on a free port, on URL (the
# bench's Redis) with PIPELINES (the bench's), logging to $OUT/NAME.log; sets
# STARTED_PID and STARTED_PORT (STAGEQ_* from the caller apply).
api_start() {
  local pf="$TMP/$1.port"
  "$BUILD/stageq-api" --listen 127.0.0.1:0 --port-file "$pf" --redis-url "${2:-$RURL}" \
    --pipelines "${3:-$PIPES}" --max-queue 0 >>"$OUT/$1.log" 2>&1 &
  STARTED_PID=$!
  PIDS="$PIDS $STARTED_PID"
  for _ in $(seq 1 100); do [ -s "$pf" ] && break; sleep 0.05; done
  [ -s "$pf" ] || die "stageq-api did not start ($OUT/$1.log)"
  STARTED_PORT=$(cat "$pf")
}

api_start api
API_PID=$STARTED_PID
APORT=$STARTED_PORT
API="http://127.0.0.1:$APORT"
log "redis :$RPORT, api :$APORT, pid $API_PID; runs $RUNS, jobs $JOBS, ${SECS}s windows"
kv api.rss_idle_kb "$(rss_kb "$API_PID")"

start_worker() { # start_worker LOGNAME [flags]: sets WPID
  local name=$1; shift
  "$BUILD/stageq-worker" --redis-url "$RURL" --pipelines "$PIPES" "$@" >>"$OUT/$name.log" 2>&1 &
  WPID=$!
  PIDS="$PIDS $WPID"
}

wrk_json() { grep '^{"requests"' | tail -1; }
jget() { jq -r ".$1 // empty" 2>/dev/null; }
calc() { awk "BEGIN { printf \"%.$1f\n\", $2 }"; } # calc DECIMALS EXPR
submit_one() { # submit_one PIPELINE [query]: prints the job id
  curl -s -XPOST "$API/v1/jobs$2" -H 'content-type: application/json' \
    -d "{\"pipeline\":\"$1\",\"input\":{\"n\":1}}" | jget id
}

# ---- a finished job (status and HGETALL target) ----
start_worker w-setup --concurrency 1
FIN_ID=$(submit_one bench4 '?wait=10')
stop_pid "$WPID"
[ "$(rcli HGET "$(bkey job "$FIN_ID")" state)" = succeeded ] || die "the setup job did not succeed"
kv status.finished_bytes "$(curl -s "$API/v1/jobs/$FIN_ID" | wc -c)"

# ---- the limit: redis-benchmark on this Redis ----
for r in $(seq 1 "$RUNS"); do
  for t in hset lpush; do
    v=$(redis-benchmark -p "$RPORT" -c 50 -n "$RB_N" -t "$t" --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
    kv "limit.$t.rps" "$v"
  done
  v=$(redis-benchmark -p "$RPORT" -c 50 -n "$RB_N" --csv HGETALL "$(bkey job "$FIN_ID")" 2>/dev/null |
    tail -1 | cut -d, -f2 | tr -d '"')
  kv limit.hgetall.rps "$v"
done
rcli DEL mylist myhash >/dev/null
log "limit: done"

# ---- submit: POST /v1/jobs, 1 and 50 connections ----
for r in $(seq 1 "$RUNS"); do
  for c in 1 50; do
    rcli FLUSHALL >/dev/null
    a0=$(ticks "$API_PID") r0=$(ticks "$REDIS_PID")
    j=$(wrk -t1 -c"$c" -d"${SECS}s" --timeout 5s -s bench/submit.lua "$API/v1/jobs" | wrk_json)
    a1=$(ticks "$API_PID") r1=$(ticks "$REDIS_PID")
    nreq=$(echo "$j" | jget requests)
    cpu_us "submit_c$c.api" "$a0" "$a1" "$nreq"
    cpu_us "submit_c$c.redis" "$r0" "$r1" "$nreq"
    kv "submit.c$c.rps" "$(echo "$j" | jget rps)"
    kv "submit.c$c.p50_ms" "$(echo "$j" | jget p50_ms)"
    kv "submit.c$c.p99_ms" "$(echo "$j" | jget p99_ms)"
    kv "submit.c$c.non2xx" "$(echo "$j" | jget non2xx)"
  done
done
# bulk: one connection, arrays of BENCH_BULK (100) jobs
BULK=${BENCH_BULK:-100}
for r in $(seq 1 "$RUNS"); do
  rcli FLUSHALL >/dev/null
  a0=$(ticks "$API_PID") r0=$(ticks "$REDIS_PID")
  j=$(BENCH_BATCH=$BULK wrk -t1 -c1 -d"${SECS}s" --timeout 5s -s bench/submit.lua "$API/v1/jobs" | wrk_json)
  a1=$(ticks "$API_PID") r1=$(ticks "$REDIS_PID")
  njobs=$(calc 0 "$(echo "$j" | jget requests) * $BULK")
  cpu_us submit_bulk.api "$a0" "$a1" "$njobs"
  cpu_us submit_bulk.redis "$r0" "$r1" "$njobs"
  kv submit.bulk.jobs_s "$(calc 0 "$(echo "$j" | jget rps) * $BULK")"
  kv submit.bulk.p99_ms "$(echo "$j" | jget p99_ms)"
  kv submit.bulk.non2xx "$(echo "$j" | jget non2xx)"
  kv submit.bulk.queued "$(rcli LLEN "$(bkey queue default)")"
done
kv meta.bulk "$BULK"
kv api.rss_after_submit_kb "$(rss_kb "$API_PID")"
log "submit: done"

# ---- drain: a backlog of JOBS bench4 jobs, then the pool ----
count_jobs() { # count_jobs FROM_RFC TO_RFC: "succeeded in_window first_started last_finished other"
  rcli EVAL "$(cat bench/count.lua)" 0 "$(bkey job '*')" "$1" "$2" | tr '\n' ' '
}
stat_of() { rcli INFO "$1" | tr -d '\r' | sed -n "s/^$2:\([^,]*\).*/\1/p" | head -1; }
cmdstats() { rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\).*/\1 \2/p'; }

# preload N CONNS: submits about N bench4 jobs through the API with wrk (no
# worker running): wrk runs until the queue holds N, then is stopped (its
# duration cannot be a count). Sets PRELOAD_RPS.
preload() {
  local want=$1 conns=$2 t0 t1 wp q
  t0=$(now_ms)
  wrk -t1 -c"$conns" -d600s --timeout 5s -s bench/submit.lua "$API/v1/jobs" >/dev/null 2>&1 &
  wp=$!
  PIDS="$PIDS $wp"
  while :; do
    q=$(rcli LLEN "$(bkey queue default)")
    [ "${q:-0}" -ge "$want" ] && break
    kill -0 "$wp" 2>/dev/null || break
    sleep 0.05
  done
  t1=$(now_ms)
  stop_pid "$wp"
  sleep 0.2
  q=$(rcli LLEN "$(bkey queue default)")
  PRELOAD_RPS=$(calc 1 "$q * 1000 / ($t1 - $t0 + 1)")
}

# drain_run TAG RUN [JOBS]: one drain of a backlog of JOBS (default $JOBS) jobs
# of the pipeline BENCH_PIPELINE (bench4), its figures named TAG (cost figures:
# TAG drain). A backlog of 500 or fewer is submitted one by one (exactly that
# many: wrk would overshoot it by hundreds).
drain_run() {
  local tag=$1 r=$2 want=${3:-$JOBS} i
  rcli FLUSHALL >/dev/null
  sleep 0.2
  mem0=$(stat_of memory used_memory)
  if [ "$want" -le 500 ]; then
    for i in $(seq 1 "$want"); do submit_one "${BENCH_PIPELINE:-bench4}" "" >/dev/null; done
    PRELOAD_RPS=0
  else
    preload "$want" 50
  fi
  n=$(rcli LLEN "$(bkey queue default)")
  kv "$tag.preload_rps" "$PRELOAD_RPS"
  [ "$n" -ge "$want" ] || log "warning: backlog $n < $want"
  mem_queued=$(stat_of memory used_memory)
  # the poller's own Redis reads, to subtract from total_reads_processed
  rd0=$(stat_of stats total_reads_processed)
  for _ in 1 2 3 4 5 6 7 8 9 10; do rcli LLEN "$(bkey queue default)" >/dev/null; done
  rd1=$(stat_of stats total_reads_processed)
  per_poll=$(((rd1 - rd0 - 1) / 10))
  rcli CONFIG RESETSTAT >/dev/null
  r0=$(ticks "$REDIS_PID") a0=$(ticks "$API_PID")
  t0=$(now_ms)
  # shellcheck disable=SC2086 # BENCH_QUEUES: one --queues argument when set
  start_worker "w-$tag" --concurrency 2 ${BENCH_QUEUES:+--queues $BENCH_QUEUES}
  polls=0 sup_rss=0 child_rss=0 left=$n
  while :; do
    sleep 0.2
    left=$(rcli LLEN "$(bkey queue default)")
    polls=$((polls + 1))
    v=$(rss_kb "$WPID"); [ "$v" -gt "$sup_rss" ] && sup_rss=$v
    for c in $(children "$WPID"); do v=$(rss_kb "$c"); [ "$v" -gt "$child_rss" ] && child_rss=$v; done
    if [ "$left" = 0 ]; then
      busy=$(rcli KEYS "$(bkey processing '*')" | grep -c .)
      polls=$((polls + 1))
      [ "$busy" = 0 ] && break
    fi
    kill -0 "$WPID" 2>/dev/null || die "the worker exited ($OUT/w-$tag.log)"
  done
  t_seen=$(now_ms)
  r1=$(ticks "$REDIS_PID") a1=$(ticks "$API_PID")
  # shellcheck disable=SC2046 # one argument per child pid
  w1=$(ticks $(children "$WPID"))
  # a worker child sleeps (a voluntary context switch) when it waits on Redis
  # shellcheck disable=SC2046
  wsw=$(for c in $(children "$WPID"); do awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$c/status"; done |
    awk '{s += $1} END {print s + 0}')
  cmdstats >"$TMP/cmdstats"
  reads=$(stat_of stats total_reads_processed)
  cmds=$(stat_of stats total_commands_processed)
  stop_pid "$WPID"
  read -r ok _ first last other <<<"$(count_jobs "$(rfc3339 "$t0")" "$(rfc3339 "$t_seen")")"
  t_end=$(ts_ms "$last")
  kv "$tag.jobs" "$ok"
  cpu_us "$tag.worker" "0 0" "$w1" "$ok"
  cpu_us "$tag.redis" "$r0" "$r1" "$ok"
  cpu_us "$tag.api" "$a0" "$a1" "$ok" # no stream open: the API is not subscribed to the events
  kv "$tag.not_succeeded" "$other"
  kv "$tag.rps" "$(calc 1 "$ok * 1000 / ($t_end - $t0 + 0.001)")"
  kv "$tag.seconds" "$(calc 3 "($t_end - $t0) / 1000")"
  kv "$tag.first_start_after_ms" "$(($(ts_ms "$first") - t0))"
  log "$tag run $r: $ok jobs in $((t_end - t0)) ms"
  [ "$tag" = drain ] || return 0
  kv cost.worker_supervisor_rss_kb "$sup_rss"
  kv cost.worker_child_rss_kb "$child_rss"
  mem1=$(stat_of memory used_memory)
  kv cost.redis_bytes_per_job "$(((mem1 - mem0) / ok))"
  kv cost.redis_bytes_per_queued_job "$(((mem_queued - mem0) / n))"
  # round trips: reads Redis processed over the drain, less this script's own
  # (each redis-cli call = a connection: per_poll reads; +2 for INFO's)
  own=$((polls * per_poll + 3 * per_poll))
  kv cost.roundtrips_per_job "$(calc 3 "($reads - $own) / $ok")"
  kv cost.worker_waits_per_job "$(calc 3 "$wsw / $ok")"
  kv cost.commands_per_job "$(calc 3 "($cmds - $polls - 3) / $ok")"
  sc=$(awk '$1 == "evalsha" || $1 == "eval" {s += $2} END {print s + 0}' "$TMP/cmdstats")
  bl=$(awk '$1 == "blmove" {print $2}' "$TMP/cmdstats")
  kv cost.scripts_per_job "$(calc 3 "$sc / $ok")"
  kv cost.blmove_per_job "$(calc 3 "${bl:-0} / $ok")"
  awk -v ok="$ok" '{printf "cmdstat.%s %.3f\n", $1, $2 / ok}' "$TMP/cmdstats" >>"$KV"
}

# ---- the drain, A/B: this checkout against the commit issue 17 started from ----
# BENCH_AB_BASE (92828b9, the commit before issue 17's first change; empty: no
# A/B) is built once from git into $OUT/base-<commit> (make all, its own
# Makefile) and its drain runs alternated with this checkout's on the same
# Redis: the same backlog of bench4 jobs, submitted through its own API (its
# job hash layout) with its own bench/pipelines.json, and its own worker pool.
AB_BASE=${BENCH_AB_BASE-92828b9}
AB_BUILD=""
if [ -n "$AB_BASE" ]; then
  if ab_sha=$(git rev-parse --short "$AB_BASE^{commit}" 2>/dev/null); then
    AB_DIR="$OUT/base-$ab_sha"
    if [ ! -x "$AB_DIR/build/stageq-worker" ] || [ ! -x "$AB_DIR/build/stageq-api" ]; then
      log "A/B: building $ab_sha into $AB_DIR"
      rm -rf "$AB_DIR" && mkdir -p "$AB_DIR" &&
        git archive "$ab_sha" | tar -x -C "$AB_DIR" &&
        make -C "$AB_DIR" -s -j"$(nproc)" all >"$OUT/base-build.log" 2>&1 ||
        log "warning: A/B: the build of $ab_sha failed ($OUT/base-build.log): no A/B"
    fi
    if [ -x "$AB_DIR/build/stageq-worker" ] && [ -x "$AB_DIR/build/stageq-api" ]; then
      AB_BUILD="$AB_DIR/build"
      kv meta.ab_base "$ab_sha"
    fi
  else
    log "warning: A/B: $AB_BASE is not a commit of this checkout (a shallow clone?): no A/B"
  fi
fi
# ab_drain TAG RUN: one drain_run with the base's API, worker and pipelines
ab_drain() {
  local build=$BUILD api=$API api_pid=$API_PID pipes=$PIPES
  BUILD=$AB_BUILD PIPES="$AB_DIR/bench/pipelines.json"
  api_start "api-$1"
  API_PID=$STARTED_PID API="http://127.0.0.1:$STARTED_PORT"
  drain_run "$1" "$2"
  stop_pid "$API_PID"
  BUILD=$build API=$api API_PID=$api_pid PIPES=$pipes
}

for r in $(seq 1 "$RUNS"); do
  [ -n "$AB_BUILD" ] && ab_drain drain_base "$r"
  drain_run drain "$r"
  # the same pool serving 3 queues, the backlog's last (two empty ones looked at first)
  BENCH_QUEUES=hi,lo,default drain_run drain3q "$r"
done

# ---- memory: Redis bytes per finished job, 4 and 16 stages ----
# MEM_JOBS jobs submitted (bulk arrays), drained by a pool, then used_memory
# again: the difference per job, less what the recent index grew (bounded: its
# newest 10,000 ids a partition, nothing per job at scale; reported apart).
# Taken after a first job, with no worker connected either time, so that the
# scripts, counters and stage history (constant) are in both. Outputs "{}" (2
# bytes: the figure is stageq's own, the outputs excluded) and the bench's
# input (19 bytes, each stage's output). Bytes are deterministic: one run.
MEM_JOBS=${BENCH_MEM_JOBS:-10000}
mem_run() { # mem_run TAG PIPELINE INPUT
  local tag=$1 pl=$2 input=$3 job body left m0 m1 r0 r1 k
  rcli FLUSHALL >/dev/null
  sleep 0.2
  job="{\"pipeline\":\"$pl\",\"input\":$input}"
  start_worker "w-mem-$tag" --concurrency 2
  curl -s -XPOST "$API/v1/jobs?wait=10" -H 'content-type: application/json' -d "$job" >/dev/null
  stop_pid "$WPID"
  m0=$(stat_of memory used_memory)
  r0=$(rcli MEMORY USAGE "$(bkey recent)")
  body="[$(printf "$job,%.0s" $(seq 1 99))$job]"
  for ((left = MEM_JOBS; left > 0; left -= 100)); do
    curl -s -XPOST "$API/v1/jobs" -H 'content-type: application/json' -d "$body" >/dev/null
  done
  start_worker "w-mem-$tag" --concurrency 2
  while [ "$(rcli LLEN "$(bkey queue default)")" != 0 ] ||
    [ -n "$(rcli KEYS "$(bkey processing '*')")" ]; do sleep 0.2; done
  stop_pid "$WPID"
  sleep 0.2
  m1=$(stat_of memory used_memory)
  r1=$(rcli MEMORY USAGE "$(bkey recent)")
  k=$(rcli --scan --pattern "$(bkey job '*')" | head -1)
  [ "$(rcli HGET "$k" state)" = succeeded ] || log "warning: mem $tag: a job did not succeed"
  kv "mem.$tag.bytes_per_job" "$(((m1 - m0 - (r1 - r0)) / MEM_JOBS))"
  kv "mem.$tag.memory_usage" "$(rcli MEMORY USAGE "$k")"
  kv "mem.$tag.fields" "$(rcli HLEN "$k")"
  kv mem.recent_bytes_per_id "$(((r1 - r0) / MEM_JOBS))"
}
mem_run bench4_empty bench4 '{}'
mem_run bench4 bench4 '{"n":1,"s":"bench"}'
mem_run bench16_empty bench16 '{}'
kv meta.mem_jobs "$MEM_JOBS"
log "memory: done"

# ---- Python stages: one-shot exec vs "serve": true; a program slow to start ----
# The same drain (--concurrency 2) of 4 trivial Python stages (bench/append.py:
# append a marker to a string), a new process per stage per job vs one warm
# process per worker process; then one stage whose program takes 1 s to start.
# One-shot backlogs are small: they drain at tens of jobs/s, or 2 jobs/s.
if [ "$QUICK" = 1 ]; then
  PY_JOBS="40 3000 6 300"
else
  PY_JOBS="100 20000 10 2000"
fi
read -r PY_EXEC_N PY_SERVE_N SLOW_EXEC_N SLOW_SERVE_N <<<"$PY_JOBS"
for r in $(seq 1 "$RUNS"); do
  BENCH_PIPELINE=py4-exec drain_run py4_exec "$r" "$PY_EXEC_N"
  BENCH_PIPELINE=py4-serve drain_run py4_serve "$r" "$PY_SERVE_N"
  BENCH_PIPELINE=slowstart-exec drain_run slowstart_exec "$r" "$SLOW_EXEC_N"
  BENCH_PIPELINE=slowstart-serve drain_run slowstart_serve "$r" "$SLOW_SERVE_N"
done
log "python stages: done"

# ---- STAGEQ_MIN_REPLICAS: what confirming with WAIT costs ----
# A replica of the bench's Redis (loopback, started here and stopped after this
# part only: the other figures are without one), and a second API with
# STAGEQ_MIN_REPLICAS=1. The same submit window (50 connections) on each API,
# and the same drain with the pool's STAGEQ_MIN_REPLICAS 0 and 1.
REPLICA_PORT=$(free_port)
mkdir -p "$TMP/replica"
redis-server --port "$REPLICA_PORT" --bind 127.0.0.1 --dir "$TMP/replica" --save '' --appendonly no \
  --logfile "$TMP/replica/redis.log" --daemonize no --replicaof 127.0.0.1 "$RPORT" >/dev/null &
REPLICA_PID=$!
PIDS="$PIDS $REPLICA_PID"
for _ in $(seq 1 200); do rcli INFO replication | grep -q 'state=online' && break; sleep 0.05; done
rcli INFO replication | grep -q 'state=online' || die "the replica did not come online ($TMP/replica/redis.log)"
STAGEQ_MIN_REPLICAS=1 api_start api-min1
API_MIN1_PID=$STARTED_PID
for r in $(seq 1 "$RUNS"); do
  for m in 0 1; do
    api=$API
    [ "$m" = 1 ] && api="http://127.0.0.1:$(cat "$TMP/api-min1.port")"
    rcli FLUSHALL >/dev/null
    j=$(wrk -t1 -c50 -d"${SECS}s" --timeout 5s -s bench/submit.lua "$api/v1/jobs" | wrk_json)
    for f in rps p50_ms p99_ms non2xx; do kv "replicated.min$m.submit.$f" "$(echo "$j" | jget "$f")"; done
    STAGEQ_MIN_REPLICAS=$m drain_run "replicated.min$m.drain" "$r"
  done
done
stop_pid "$API_MIN1_PID"
stop_pid "$REPLICA_PID"
log "min replicas: done"

# ---- end to end: submitting (wrk, 50 connections) while the pool drains ----
for r in $(seq 1 "$RUNS"); do
  rcli FLUSHALL >/dev/null
  start_worker w-e2e --concurrency 2
  sleep 0.5
  t0=$(now_ms)
  j=$(wrk -t1 -c50 -d"${SECS}s" --timeout 5s -s bench/submit.lua "$API/v1/jobs" | wrk_json)
  t1=$(now_ms)
  stop_pid "$WPID"
  read -r ok win _ _ other <<<"$(count_jobs "$(rfc3339 "$t0")" "$(rfc3339 "$t1")")"
  kv e2e.rps "$(calc 1 "$win * 1000 / ($t1 - $t0)")"
  kv e2e.submit_rps "$(echo "$j" | jget rps)"
done
log "end to end: done"

# ---- status: GET /v1/jobs/{id}, 50 connections, finished and running job ----
rcli FLUSHALL >/dev/null
start_worker w-setup --concurrency 1
FIN_ID=$(submit_one bench4 '?wait=10')
stop_pid "$WPID"
start_worker w-sleep --queue bsleep --concurrency 1 --grace 0 --kill-grace-ms 200
SLEEP_WPID=$WPID
RUN_ID=$(submit_one bench-sleep '')
for _ in $(seq 1 100); do [ "$(rcli HGET "$(bkey job "$RUN_ID")" state)" = running ] && break; sleep 0.1; done
[ "$(rcli HGET "$(bkey job "$RUN_ID")" state)" = running ] || log "warning: the sleeping job is not running"
kv status.running_bytes "$(curl -s "$API/v1/jobs/$RUN_ID" | wc -c)"
# The floor (bench/floor.c): evhttp + hiredis answering the same HGETALL,
# nothing else, as evhttp writes (floor) and writing at once as the API does
# (floor_now); a build without it (the A/B's base commit) has no floor rows
FLOORS=""
if [ -x "$BUILD/bench/floor" ]; then
  for fl in floor floor_now; do
    mode=()
    [ "$fl" = floor_now ] && mode=(now)
    "$BUILD/bench/floor" "$RPORT" "$TMP/$fl.port" "$(bkey job "$FIN_ID")" "${mode[@]}" \
      >>"$OUT/$fl.log" 2>&1 &
    eval "PID_$fl=$!"
    PIDS="$PIDS $!"
    for _ in $(seq 1 100); do [ -s "$TMP/$fl.port" ] && break; sleep 0.05; done
    [ -s "$TMP/$fl.port" ] || die "bench/floor did not start ($OUT/$fl.log)"
    FLOORS="$FLOORS $fl"
  done
  kv status.floor_bytes "$(curl -s "http://127.0.0.1:$(cat "$TMP/floor.port")/" | wc -c)"
fi
for r in $(seq 1 "$RUNS"); do
  for fl in $FLOORS; do
    eval "pid=\$PID_$fl"
    f0=$(ticks "$pid")
    j=$(wrk -t1 -c50 -d"${SECS}s" --timeout 5s -s bench/get.lua "http://127.0.0.1:$(cat "$TMP/$fl.port")/" | wrk_json)
    f1=$(ticks "$pid")
    cpu_us "status_$fl.api" "$f0" "$f1" "$(echo "$j" | jget requests)"
    kv "status.$fl.rps" "$(echo "$j" | jget rps)"
  done
  for what in finished running; do
    id=$FIN_ID
    [ "$what" = running ] && id=$RUN_ID
    a0=$(ticks "$API_PID") r0=$(ticks "$REDIS_PID")
    j=$(wrk -t1 -c50 -d"${SECS}s" --timeout 5s --latency -s bench/get.lua "$API/v1/jobs/$id" | wrk_json)
    a1=$(ticks "$API_PID") r1=$(ticks "$REDIS_PID")
    cpu_us "status_$what.api" "$a0" "$a1" "$(echo "$j" | jget requests)"
    cpu_us "status_$what.redis" "$r0" "$r1" "$(echo "$j" | jget requests)"
    kv "status.$what.rps" "$(echo "$j" | jget rps)"
    kv "status.$what.p50_ms" "$(echo "$j" | jget p50_ms)"
    kv "status.$what.p99_ms" "$(echo "$j" | jget p99_ms)"
    kv "status.$what.non2xx" "$(echo "$j" | jget non2xx)"
    # Redis alone on the same hash, right after: the baseline of this run
    # (the load of the shared host moves within minutes)
    v=$(redis-benchmark -p "$RPORT" -c 50 -n "$RB_N" --csv HGETALL "$(bkey job "$id")" 2>/dev/null |
      tail -1 | cut -d, -f2 | tr -d '"')
    kv "status.$what.hgetall_rps" "$v"
  done
done
kv api.rss_after_status_kb "$(rss_kb "$API_PID")"
stop_pid "$SLEEP_WPID"
for fl in $FLOORS; do eval "stop_pid \$PID_$fl"; done
log "status: done"

# ---- live: a change -> SSE client, /v1/events at a steady rate ----
# bench/sse.py: kernel receive times at the client, the PUBLISH seen by a
# subscriber of its own (the clocks are explained there)
LIVE_FIGS="events early unmatched total_p50_ms total_p99_ms total_max_ms delivery_p50_ms delivery_p99_ms
  write_p50_ms write_p99_ms client_lag_p50_ms client_lag_p99_ms age_p50_ms age_p99_ms"
for r in $(seq 1 "$RUNS"); do
  rcli FLUSHALL >/dev/null
  start_worker w-live --concurrency 2
  sleep 0.3
  "$PY" bench/sse.py live 127.0.0.1 "$APORT" "$RPORT" "$(bkey events)" "$LIVE_S" "$LIVE_RATE" \
    "$TMP/live.json" || log "warning: live client failed"
  stop_pid "$WPID"
  for f in $LIVE_FIGS submit_p50_ms submit_p99_ms; do
    kv "live.all.$f" "$(jget "$f" <"$TMP/live.json")"
  done
done
kv api.rss_after_live_kb "$(rss_kb "$API_PID")"
log "live: done"

# ---- STREAMS per-job SSE streams: API RSS, then the burst of their jobs ----
# Each run twice: the client at nice 10 (the figure: the client, 1,000
# sockets in Python, is the bench's own tool, and at the same priority it
# takes a CPU from the API it measures on this 2-core machine; its own delay
# is left out by the kernel's receive times, not its use of the CPU), then at
# the daemons' priority (live.streams_same.*, shown below it).
for r in $(seq 1 "$RUNS"); do
  for mode in nice same; do
    rcli FLUSHALL >/dev/null
    preload "$STREAMS" 10
    rcli LRANGE "$(bkey queue default)" $((-STREAMS)) -1 >"$TMP/ids" # the oldest STREAMS
    rss_before=$(rss_kb "$API_PID")
    rm -f "$TMP/ready"
    nice_n=0
    [ "$mode" = nice ] && nice_n=10
    nice -n "$nice_n" "$PY" bench/sse.py streams 127.0.0.1 "$APORT" "$RPORT" "$(bkey events)" \
      "$TMP/ids" "$TMP/ready" "$TMP/streams.json" 60 &
    SPID=$!
    PIDS="$PIDS $SPID"
    for _ in $(seq 1 600); do [ -s "$TMP/ready" ] && break; kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    sleep 0.5
    if [ "$mode" = nice ]; then
      kv api.rss_streams_kb "$(rss_kb "$API_PID")"
      kv api.rss_before_streams_kb "$rss_before"
      kv api.streams_open "$(cat "$TMP/ready" 2>/dev/null || echo 0)"
    fi
    # the API's time runnable but waiting for a CPU during the burst (schedstat, ns)
    read -r _ sched0 _ </proc/"$API_PID"/schedstat
    start_worker w-streams --concurrency 2
    wait "$SPID"
    read -r _ sched1 _ </proc/"$API_PID"/schedstat
    PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$SPID" | tr '\n' ' ')
    stop_pid "$WPID"
    tag=streams
    [ "$mode" = same ] && tag=streams_same
    for f in $LIVE_FIGS failed; do kv "live.$tag.$f" "$(jget "$f" <"$TMP/streams.json")"; done
    kv "live.$tag.api_cpu_wait_ms" "$(awk -v a="$sched0" -v b="$sched1" 'BEGIN {printf "%.1f", (b - a) / 1e6}')"
  done
done
kv api.rss_peak_kb "$(awk '/^VmHWM:/ {print $2}' /proc/"$API_PID"/status)"
log "streams: done"

# ---- log: defaults vs warn, CPU per item ----
# An API and a pool with the defaults as shipped (info, the access log on) and
# with STAGEQ_LOG_LEVEL=warn, on the same Redis, back to back in each run: the
# status (twice each, ABBA) and submit windows (50 connections) and a drain. Compared as CPU time
# per item (API, Redis and workers, /proc/PID/stat), steadier than rates on a
# shared host. Figures: cpu.logcmp.<defaults|warn>.<status|submit|drain>.*.

# log_level defaults|warn: the STAGEQ_LOG_LEVEL of that row (info is the default)
log_level() { if [ "$1" = warn ]; then echo warn; else echo info; fi; }

# log_api defaults|warn: starts an API with that row's log level (the access
# log on, as shipped; it writes at info); sets LOG_API_PID and LOG_API.
log_api() {
  STAGEQ_LOG_LEVEL=$(log_level "$1") STAGEQ_ACCESS_LOG=on api_start "api-log-$1"
  LOG_API_PID=$STARTED_PID
  LOG_API="http://127.0.0.1:$STARTED_PORT"
}

# log_window TAG API_PID URL WRK_ARGS...: one wrk window (50 connections),
# its API and Redis CPU per request as cpu.TAG.api and cpu.TAG.redis
log_window() {
  local tag=$1 pid=$2 url=$3 a0 a1 r0 r1 j
  shift 3
  a0=$(ticks "$pid") r0=$(ticks "$REDIS_PID")
  j=$(wrk -t1 -c50 -d"${SECS}s" --timeout 5s "$@" "$url" | wrk_json)
  a1=$(ticks "$pid") r1=$(ticks "$REDIS_PID")
  cpu_us "$tag.api" "$a0" "$a1" "$(echo "$j" | jget requests)"
  cpu_us "$tag.redis" "$r0" "$r1" "$(echo "$j" | jget requests)"
  kv "$tag.rps" "$(echo "$j" | jget rps)"
}

bench_log_levels() {
  local r lv id
  local -A pids urls
  for lv in defaults warn; do
    log_api "$lv"
    pids[$lv]=$LOG_API_PID urls[$lv]=$LOG_API
  done
  for r in $(seq 1 "$RUNS"); do
    rcli FLUSHALL >/dev/null
    start_worker w-setup --concurrency 1
    id=$(submit_one bench4 '?wait=10')
    stop_pid "$WPID"
    # two status windows each, in ABBA order: the access line is about 3 % of
    # a GET, within the host's window-to-window spread, so the least of 2 x
    # RUNS windows (and a drift cancelled by the order) estimates it better
    for lv in defaults warn warn defaults; do
      log_window "logcmp.$lv.status" "${pids[$lv]}" "${urls[$lv]}/v1/jobs/$id" -s bench/get.lua
    done
    for lv in defaults warn; do
      rcli FLUSHALL >/dev/null
      log_window "logcmp.$lv.submit" "${pids[$lv]}" "${urls[$lv]}/v1/jobs" -s bench/submit.lua
    done
    for lv in defaults warn; do
      STAGEQ_LOG_LEVEL=$(log_level "$lv") drain_run "logcmp.$lv.drain" "$r"
    done
  done
  for lv in defaults warn; do stop_pid "${pids[$lv]}"; done
  log "log levels: done"
}
bench_log_levels

# ---- Redis Cluster: a queue of 6 partitions on 3 shards ----
# The drain of drain_run (bench4, --concurrency 2) with the queue "default" in
# 6 partitions (the pipelines file plus "queues": {"default": {"partitions":
# 6}}): on the bench's own Redis, then on a cluster of 3 masters (no
# replicas: nothing to fail over in a bench) started here for this part only.
# Figures next to drain.rps (one partition, the same Redis, the same run):
# per shard, the commands it served (INFO commandstats deltas, the bench's own
# polls left out) and the Redis CPU it spent (INFO cpu deltas), per job.
# Backlogs are at most 20,000 jobs (BENCH_QUICK: 3,000) whatever BENCH_JOBS.
CL_JOBS=$((JOBS < 20000 ? JOBS : 20000))
[ "$QUICK" = 1 ] && CL_JOBS=$((JOBS < 3000 ? JOBS : 3000))
P6="$TMP/pipelines-p6.json"
jq '. + {queues: {default: {partitions: 6}}}' "$PIPES" >"$P6" || die "jq: $PIPES"

# cl_bench_start: 3 cluster-enabled redis-servers (bus ports of their own),
# joined with redis-cli --cluster create; sets CL_PORTS and CL_URL.
cl_bench_start() {
  local i p bus hosts="" ok
  CL_PORTS=""
  for i in 1 2 3; do
    p=$(free_port)
    bus=$(free_port)
    mkdir -p "$TMP/cl-$i"
    redis-server --port "$p" --bind 127.0.0.1 --dir "$TMP/cl-$i" --save '' --appendonly no \
      --logfile "$TMP/cl-$i/redis.log" --daemonize no --maxmemory 0 --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-port "$bus" --cluster-node-timeout 5000 >/dev/null &
    PIDS="$PIDS $!"
    CL_PIDS="$CL_PIDS $!"
    CL_PORTS="$CL_PORTS $p"
    hosts="$hosts 127.0.0.1:$p"
  done
  for p in $CL_PORTS; do
    for _ in $(seq 1 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
  done
  # shellcheck disable=SC2086 # one argument per node
  redis-cli --cluster create $hosts --cluster-replicas 0 --cluster-yes >"$TMP/cl-create.log" 2>&1 ||
    die "redis-cli --cluster create failed ($TMP/cl-create.log)"
  for _ in $(seq 1 300); do
    ok=1
    for p in $CL_PORTS; do
      redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok' || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || die "the cluster did not reach cluster_state:ok"
  hosts=${hosts# }
  CL_URL="redis-cluster://${hosts// /,}/"
}

# pqueue PORTS: "queued processing" over every partition of the queue default
# (any key layout: the pattern takes the hash tag in), summed over the nodes.
PQ_LUA="local q, w = 0, 0
for _, k in ipairs(redis.call('KEYS', ARGV[1] .. ':*queue:default')) do q = q + redis.call('LLEN', k) end
for _, k in ipairs(redis.call('KEYS', ARGV[1] .. ':*processing:*')) do w = w + 1 end
return {q, w}"
pqueue() {
  local p
  for p in $1; do redis-cli -p "$p" EVAL "$PQ_LUA" 0 stageq | paste -sd' '; done |
    awk '{ q += $1; w += $2 } END { print q + 0, w + 0 }'
}
# bus_pub PORT: PUBLISH messages the node received over the cluster bus so far
# (each PUBLISH on a node is forwarded to every other node; 0 off a cluster)
bus_pub() {
  redis-cli -p "$1" CLUSTER INFO 2>/dev/null | tr -d '\r' |
    awk -F: '$1 == "cluster_stats_messages_publish_received" { n = $2 } END { print n + 0 }'
}
# node_cpu PORT: Redis CPU seconds so far (user + sys, INFO cpu)
node_cpu() {
  redis-cli -p "$1" INFO cpu | tr -d '\r' |
    awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" { s += $2 } END { printf "%.6f\n", s }'
}
# node_calls PORT: commands the node ran since CONFIG RESETSTAT (those inside
# scripts too), less the bench's INFO and CONFIG and the pool's CLUSTER and
# PING. The poll above (one EVAL a node every 0.2 s) is the same on each.
node_calls() {
  redis-cli -p "$1" INFO commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\).*/\1 \2/p' |
    awk '$1 !~ /^(info|config|cluster|ping)/ { s += $2 } END { print s + 0 }'
}

# pdrain TAG RUN PORTS URL: one drain of CL_JOBS bench4 jobs on the queue of 6
# partitions, in the Redis of PORTS (one node or every master) at URL: an API
# of its own preloads them (wrk, 50 connections, stopped once the backlog is
# there), then a pool drains them. Figures TAG.*.
pdrain() {
  local tag=$1 r=$2 ports=$3 url=$4 p apid wp wpid t0 t_seen q w
  local ok=0 win=0 first="" last="" other=0 o wi f l ot jobs
  local -A cpu0 cpu1 calls bus0 bus1
  for p in $ports; do redis-cli -p "$p" FLUSHALL >/dev/null; done
  api_start "api-$tag" "$url" "$P6"
  apid=$STARTED_PID
  wrk -t1 -c50 -d600s --timeout 5s -s bench/submit.lua "http://127.0.0.1:$STARTED_PORT/v1/jobs" \
    >/dev/null 2>&1 &
  wp=$!
  PIDS="$PIDS $wp"
  while :; do
    read -r q _ <<<"$(pqueue "$ports")"
    [ "${q:-0}" -ge "$CL_JOBS" ] && break
    kill -0 "$wp" 2>/dev/null || break
    sleep 0.05
  done
  stop_pid "$wp"
  sleep 0.2
  read -r q _ <<<"$(pqueue "$ports")"
  jobs=$q
  [ "$jobs" -ge "$CL_JOBS" ] || log "warning: $tag backlog $jobs < $CL_JOBS"
  for p in $ports; do
    redis-cli -p "$p" CONFIG RESETSTAT >/dev/null
    cpu0[$p]=$(node_cpu "$p")
    bus0[$p]=$(bus_pub "$p")
  done
  t0=$(now_ms)
  RURL=$url PIPES=$P6 start_worker "w-$tag" --concurrency 2
  wpid=$WPID
  while :; do
    sleep 0.2
    read -r q w <<<"$(pqueue "$ports")"
    [ "$q" = 0 ] && [ "$w" = 0 ] && break
    kill -0 "$wpid" 2>/dev/null || die "the worker exited ($OUT/w-$tag.log)"
  done
  t_seen=$(now_ms)
  for p in $ports; do
    cpu1[$p]=$(node_cpu "$p")
    bus1[$p]=$(bus_pub "$p")
    calls[$p]=$(node_calls "$p")
  done
  # shellcheck disable=SC2046 # one argument per child pid
  w1=$(ticks $(children "$wpid"))
  stop_pid "$wpid"
  stop_pid "$apid"
  for p in $ports; do
    read -r o wi f l ot <<<"$(redis-cli -p "$p" EVAL "$(cat bench/count.lua)" 0 "stageq:*:job:*" \
      "$(rfc3339 "$t0")" "$(rfc3339 "$t_seen")" | tr '\n' ' ')"
    ok=$((ok + o)) win=$((win + wi)) other=$((other + ot))
    [ "$f" != - ] && { [ -z "$first" ] || [[ "$f" < "$first" ]]; } && first=$f
    [ "$l" != - ] && [[ "$l" > "$last" ]] && last=$l
  done
  kv "$tag.jobs" "$ok"
  kv "$tag.not_succeeded" "$other"
  kv "$tag.rps" "$(calc 1 "$ok * 1000 / ($(ts_ms "${last:-@0}") - $t0 + 0.001)")"
  cpu_us "$tag.worker" "0 0" "$w1" "$ok"
  local i=0 all_calls=0 all_cpu=0 all_bus=0
  for p in $ports; do all_calls=$((all_calls + calls[$p])); done
  for p in $ports; do
    i=$((i + 1))
    kv "$tag.shard$i.share_pct" "$(calc 1 "100 * ${calls[$p]} / ($all_calls + 0.000001)")"
    kv "$tag.shard$i.redis_us" "$(calc 1 "(${cpu1[$p]} - ${cpu0[$p]}) * 1000000 / ($ok + 0.000001)")"
    all_cpu=$(calc 6 "$all_cpu + ${cpu1[$p]} - ${cpu0[$p]}")
    all_bus=$((all_bus + bus1[$p] - bus0[$p]))
  done
  kv "$tag.redis_us" "$(calc 1 "$all_cpu * 1000000 / ($ok + 0.000001)")"
  kv "$tag.commands_per_job" "$(calc 2 "$all_calls / ($ok + 0.000001)")"
  kv "$tag.bus_publish_per_job" "$(calc 2 "$all_bus / ($ok + 0.000001)")"
  log "$tag run $r: $ok jobs in $(($(ts_ms "${last:-@0}") - t0)) ms"
}

bench_cluster() {
  local r
  cl_bench_start
  log "cluster: masters on$CL_PORTS, $CL_JOBS jobs per drain"
  for r in $(seq 1 "$RUNS"); do
    pdrain cluster.single_p6 "$r" "$RPORT" "$RURL"
    pdrain cluster.shards_p6 "$r" "$CL_PORTS" "$CL_URL"
  done
  for p in $CL_PIDS; do stop_pid "$p"; done
  log "cluster: done"
}
# In a subshell of its own, which stops what it started however it ends: a
# failure here (the cluster, its API or pool) costs these rows only.
if ! (
  PIDS="" CL_PIDS=""
  trap 'for p in $PIDS; do stop_pid "$p"; done' EXIT
  bench_cluster
); then
  log "warning: the Redis Cluster rows failed ($OUT/*cluster*.log): left out"
fi

# ---- BENCH_PERF=1: where the CPU goes (perf record) ----
# Separate short runs, never inside the measured windows above. Profiles go to
# $OUT/perf-<what>.txt: self time by library and symbol; for the API also the
# inclusive time per function (DWARF call graphs: who calls the costly code).
perf_top() { # perf_top NAME DATAFILE [tree]
  {
    perf report -i "$2" --stdio --no-children --sort dso --percent-limit 1 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -12
    echo
    perf report -i "$2" --stdio --no-children --sort dso,symbol --percent-limit 0.7 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -40
    if [ "${3:-}" = tree ]; then
      echo
      echo "inclusive (children) time, user-space functions:"
      perf report -i "$2" --stdio --children --sort symbol --percent-limit 3 -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | grep -v '\[k\]' | grep -v ' 0x0000' | head -40
    fi
  } >"$OUT/perf-$1.txt"
}
perf_api() { # perf_api NAME WRK_ARGS...: profiles the API under that wrk load
  local name=$1 pp
  shift
  perf record -q --call-graph dwarf,16384 -F 499 -o "$TMP/p-$name" -p "$API_PID" -- sleep "$SECS" \
    >/dev/null 2>&1 &
  pp=$!
  wrk -t1 -c50 -d"${SECS}s" "$@" >/dev/null
  wait "$pp"
  perf_top "$name" "$TMP/p-$name" tree
}
if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  rcli FLUSHALL >/dev/null
  start_worker w-perf --concurrency 1
  PERF_ID=$(submit_one bench4 '?wait=10')
  stop_pid "$WPID"
  perf_api api-status -s bench/get.lua "$API/v1/jobs/$PERF_ID"
  perf_api api-submit -s bench/submit.lua "$API/v1/jobs"
  rcli FLUSHALL >/dev/null
  preload "$JOBS" 50
  start_worker w-perf --concurrency 2
  sleep 0.3
  kids=$(children "$WPID" | tr ' \n' ',,' | sed 's/,*$//')
  perf record -q -F 999 -o "$TMP/p-worker" -p "$kids" -- sleep 3 >/dev/null 2>&1 &
  pp=$!
  perf record -q -F 999 -o "$TMP/p-redis" -p "$REDIS_PID" -- sleep 3 >/dev/null 2>&1
  wait "$pp"
  stop_pid "$WPID"
  perf_top worker-drain "$TMP/p-worker"
  perf_top redis-drain "$TMP/p-redis"
  log "perf: profiles in $OUT/perf-*.txt"
fi

stop_pid "$API_PID"
"$PY" bench/report.py "$KV" "$OUT/results.json"
