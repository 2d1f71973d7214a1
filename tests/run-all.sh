#!/usr/bin/env bash
# run-all.sh BUILD_DIR: runs every test suite against the binaries in BUILD_DIR.
# Runs the cmocka unit tests, then each tests/e2e/test_*.sh on a redis-server
# of its own on a free loopback port, then again on a Redis Cluster of its own
# (STAGEQ_TEST_TOPOLOGY=single|cluster runs one pass only), stops what it
# started, and ends with one line "N passed, N failed" summing every suite.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${1:-build}
export BUILD
export STAGEQ_TEST_TMP
STAGEQ_TEST_TMP=$(mktemp -d /tmp/stageq-test.XXXXXX)
TOPOLOGIES=${STAGEQ_TEST_TOPOLOGY:-single cluster} # read before lib.sh sets its default
unset STAGEQ_TEST_TOPOLOGY
source tests/e2e/lib.sh

passed=0
failed=0
failed_suites=""

cleanup() {
  redis_stop_under "$STAGEQ_TEST_TMP"
  [ -n "${STAGEQ_KEEP_TMP:-}" ] || rm -rf "$STAGEQ_TEST_TMP"
}
trap cleanup EXIT INT TERM

# Unit tests (cmocka prints its summary on stderr). STAGEQ_SKIP_UNIT=1 skips
# them (make test-valgrind: STAGEQ_WRAP wraps daemons only, so they would
# run exactly as in make test).
run_t0=$(date +%s)
for t in "$BUILD"/tests/unit/test_*; do
  [ -z "${STAGEQ_SKIP_UNIT:-}" ] || break
  [ -x "$t" ] || continue
  case "$t" in *.o|*.d) continue ;; esac
  t0=$(date +%s)
  out=$("$t" 2>&1)
  rc=$?
  secs=$(($(date +%s) - t0))
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer report
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    printf '%s\n' "$out" | tail -40
    failed_suites="$failed_suites $(basename "$t")"
  fi
  echo "unit $(basename "$t"): $p passed, $f failed ($secs s)"
done

# End-to-end suites, on each Redis topology of STAGEQ_TEST_TOPOLOGY ("single",
# "cluster", or both, the default: single first). Each suite gets a Redis of
# its own (some count whole-server figures: commands, DBSIZE) — on the cluster
# topology a 3+3 cluster of its own (tests/e2e/cluster.sh) —, its own key
# prefix and its own temp dir. STAGEQ_PARALLEL (default 2) of them run at
# once: most of a suite's time is spent waiting for stages and timeouts, not
# on a CPU. A suite's result is printed when it ends, in the order they end,
# as "e2e[TOPOLOGY] NAME: ...".
SUITE_TMP_ROOT=$STAGEQ_TEST_TMP
SUITE_TIMEOUT_S=${STAGEQ_SUITE_TIMEOUT_S:-600}
SUITES=${STAGEQ_SUITES:-tests/e2e/test_*.sh tests/bad-input/test_*.sh}

# The suites that do not run on a cluster, and why (one line each: NAME REASON).
NOT_ON_CLUSTER="
test_sentinel_api     its Redis is a Sentinel group (tests/e2e/sentinel.sh), the other HA topology
test_sentinel_worker  its Redis is a Sentinel group (tests/e2e/sentinel.sh), the other HA topology
test_deploy           checks the compose files and the Sentinel HA example, which name single servers
test_run              make run starts its own private redis-server (deploy/run.sh): no Redis to choose
test_options          reads --help and flag parsing only: no Redis at all
test_runner           runs tests/run-all.sh itself, on both topologies inside
test_cluster_conn     starts a 3+3 cluster of its own on either pass (rconn's cluster mode)
test_partitions_cluster starts a 3+3 cluster of its own on either pass (partitioned queues)
test_cookbook         runs docs/operations.md's redis-cli commands exactly as written, for one server
"
# STAGEQ_CLUSTER_SUITES: the suites of the cluster pass (default: every suite
# not listed above; make test narrows it to CLUSTER_CI_SUITES, see Makefile).
not_on_cluster() { # NAME: its reason, or fails
  printf '%s\n' "$NOT_ON_CLUSTER" | awk -v n="$1" '$1 == n { $1 = ""; sub(/^ +/, ""); print; f = 1 } END { exit !f }'
}

suite_report() {
  local key=$1 rc=$2 secs=$3 log="$SUITE_TMP_ROOT/$1.log" p f topo=${1%%.*} name=${1#*.}
  p=$(grep -c '^ok ' "$log")
  f=$(grep -c '^not ok ' "$log")
  if [ "$rc" -eq 124 ]; then
    f=$((f + 1)); echo "not ok - $name was stopped after its $SUITE_TIMEOUT_S s" >>"$log"
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; echo "not ok - $name exited with $rc" >>"$log"
  fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    echo "---- e2e[$topo] $name (last lines of its log) ----"
    grep "^not ok" "$log" | head -20; tail -60 "$log"
    failed_suites="$failed_suites ${name}[$topo]"
  fi
  echo "e2e[$topo] $name: $p passed, $f failed ($secs s)"
}

# Clusters are started ahead (about 10 s each): cluster k, for the k-th suite
# of the cluster pass, starts in the background in pool/k (STAGEQ_CLUSTER_AHEAD,
# default STAGEQ_PARALLEL, are ready or starting beyond the running suites).
# pool/k/env holds its CL_PORTS and CL_URL once it is up; pool/k/failed says
# it did not come up.
pool_next=1
pool_start() {
  local dir="$SUITE_TMP_ROOT/pool/$1"
  mkdir -p "$dir"
  (
    STAGEQ_TEST_TMP=$dir
    SQ_REDIS_NAMES=""
    if cl_start cl >"$dir/start.log" 2>&1; then
      printf 'CL_PORTS="%s"\nCL_URL="%s"\n' "$CL_PORTS" "$CL_URL" >"$dir/env.tmp"
      mv "$dir/env.tmp" "$dir/env"
    else
      touch "$dir/failed"
    fi
  ) &
}
pool_fill() { # UPTO: clusters 1..UPTO are started
  while [ "$pool_next" -le "$1" ]; do pool_start "$pool_next"; pool_next=$((pool_next + 1)); done
}

# suite_run SCRIPT KEY TOPOLOGY [CLUSTER]: one suite in the background (a
# subshell), in its own temp dir with its own Redis; its exit status and
# seconds are written to KEY.rc. Whatever Redis servers were started for it or
# by it are stopped here by PID, also when the suite was killed by its
# timeout (its own finish never ran).
suite_run() {
  local s=$1 key=$2 topo=$3 k=${4:-} t0 rc pool="" i
  t0=$(date +%s)
  STAGEQ_TEST_TMP="$SUITE_TMP_ROOT/$key.d"
  mkdir -p "$STAGEQ_TEST_TMP"
  trap 'redis_stop_under "$STAGEQ_TEST_TMP"; [ -z "$pool" ] || redis_stop_under "$pool"' EXIT
  if [ "$topo" = cluster ]; then
    pool="$SUITE_TMP_ROOT/pool/$k"
    for i in $(seq 1 1200); do [ -f "$pool/env" ] || [ -f "$pool/failed" ] && break; sleep 0.1; done
    if [ ! -f "$pool/env" ]; then
      { echo "not ok - its cluster did not come up"; cat "$pool/start.log" 2>/dev/null; } >"$SUITE_TMP_ROOT/$key.log"
      echo "1 $(($(date +%s) - t0))" >"$SUITE_TMP_ROOT/$key.rc"
      return
    fi
    # shellcheck disable=SC1091
    source "$pool/env"
    export CL_PORTS CL_URL
    REDIS_PORT=${CL_PORTS%% *} SQ_REDIS_URL=$CL_URL STAGEQ_TEST_TOPOLOGY=cluster \
      timeout "$SUITE_TIMEOUT_S" bash "$s" >"$SUITE_TMP_ROOT/$key.log" 2>&1
    rc=$?
  else
    redis_start suite
    REDIS_PORT=$REDIS_PORT_suite SQ_REDIS_URL="redis://127.0.0.1:$REDIS_PORT_suite/0" \
      STAGEQ_TEST_TOPOLOGY=single timeout "$SUITE_TIMEOUT_S" bash "$s" >"$SUITE_TMP_ROOT/$key.log" 2>&1
    rc=$?
  fi
  redis_stop_under "$STAGEQ_TEST_TMP"
  [ -z "$pool" ] || redis_stop_under "$pool"
  echo "$rc $(($(date +%s) - t0))" >"$SUITE_TMP_ROOT/$key.rc"
}
running=()
suite_reap() { # waits for one running suite to end and reports it
  local i key rc secs
  while :; do
    for i in "${!running[@]}"; do
      key=${running[$i]}
      if [ -f "$SUITE_TMP_ROOT/$key.rc" ]; then
        read -r rc secs <"$SUITE_TMP_ROOT/$key.rc"
        unset "running[$i]"; running=("${running[@]}")
        suite_report "$key" "$rc" "$secs"
        return
      fi
    done
    sleep 0.2
  done
}

# The longest suites start first (their seconds in make test on a 2-core
# machine, longest first), so that the pass does not end waiting for one
# that started last; the others follow in the order given.
SLOW_FIRST="test_bad_input test_sentinel_api test_sentinel_worker test_garbage test_openapi
test_metrics test_worker test_recovery test_partitions test_runner test_scheduled test_events
test_listing test_bulk test_serve test_take_order test_jobs"
slow_first() { # SCRIPT...: the same scripts, those named in SLOW_FIRST first
  local n s
  for n in $SLOW_FIRST; do
    for s in "$@"; do [ "$(basename "$s" .sh)" = "$n" ] && echo "$s"; done
  done
  for s in "$@"; do
    case " $(echo $SLOW_FIRST) " in *" $(basename "$s" .sh) "*) ;; *) echo "$s" ;; esac
  done
}

# The plan: one line "TOPOLOGY SCRIPT" per suite to run.
plan=()
for topo in $TOPOLOGIES; do
  case $topo in
    single) list=$SUITES ;;
    cluster) list=${STAGEQ_CLUSTER_SUITES:-$SUITES} ;;
    *) echo "run-all: unknown topology '$topo' (single or cluster)"; exit 2 ;;
  esac
  # shellcheck disable=SC2086 # a list of paths (globs expanded here)
  list=$(slow_first $list)
  for s in $list; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    if [ "$topo" = cluster ] && why=$(not_on_cluster "$name"); then
      echo "e2e[cluster] $name: not run on a cluster: $why"
      continue
    fi
    plan+=("$topo $s")
  done
done
ahead=${STAGEQ_CLUSTER_AHEAD:-${STAGEQ_PARALLEL:-2}}
ncluster_suites=$(printf '%s\n' "${plan[@]}" | grep -c '^cluster ')
nclusters=0
for entry in "${plan[@]}"; do
  topo=${entry%% *}; s=${entry#* }
  [ "$topo" = cluster ] && [ "$nclusters" -eq 0 ] && pool_fill "$((ahead < ncluster_suites ? ahead : ncluster_suites))"
  while [ "${#running[@]}" -ge "${STAGEQ_PARALLEL:-2}" ]; do suite_reap; done
  name=$(basename "$s" .sh)
  if [ "$topo" = cluster ]; then
    nclusters=$((nclusters + 1))
    pool_fill $((nclusters + ahead < ncluster_suites ? nclusters + ahead : ncluster_suites))
    suite_run "$s" "$topo.$name" "$topo" "$nclusters" &
  else
    suite_run "$s" "$topo.$name" "$topo" &
  fi
  running+=("$topo.$name")
done
while [ "${#running[@]}" -gt 0 ]; do suite_reap; done
wait

# Daemons log to files: a sanitizer report there fails the run too.
reports=$(grep -rlE --include='*.log' 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STAGEQ_TEST_TMP" 2>/dev/null)
if [ -n "$reports" ]; then
  for r in $reports; do echo "---- sanitizer report in $(basename "$r") ----"; grep -A30 -E 'Sanitizer|runtime error:' "$r" | head -60; done
  failed=$((failed + 1)); failed_suites="$failed_suites sanitizers"
else
  passed=$((passed + 1))
fi
echo "daemon logs: $( [ -n "$reports" ] && echo "sanitizer reports found" || echo "no sanitizer report")"

[ -n "$failed_suites" ] && echo "failed suites:$failed_suites"
echo "run-all $BUILD: $(($(date +%s) - run_t0)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
