#!/usr/bin/env bash
# run-all.sh BUILD_DIR: runs every test suite against the binaries in BUILD_DIR.
# Starts its own redis-server on a free loopback port in a temp dir, runs the
# cmocka unit tests, then each tests/e2e/test_*.sh, stops what it started, and
# ends with one line "N passed, N failed" summing every suite.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${1:-build}
export BUILD
export STAGEQ_TEST_TMP
STAGEQ_TEST_TMP=$(mktemp -d /tmp/stageq-test.XXXXXX)
source tests/e2e/lib.sh

passed=0
failed=0
failed_suites=""

cleanup() {
  redis_stop_all
  rm -rf "$STAGEQ_TEST_TMP"
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

# End-to-end suites: each gets a Redis of its own (some count whole-server
# figures: commands, DBSIZE), its own key prefix and its own temp dir.
# STAGEQ_PARALLEL (default 2) of them run at once: most of a suite's time is
# spent waiting for stages and timeouts, not on a CPU. A suite's result is
# printed when it ends, in the order they end.
SUITE_TMP_ROOT=$STAGEQ_TEST_TMP
suite_report() {
  local name=$1 rc=$2 secs=$3 log="$SUITE_TMP_ROOT/$1.log" p f
  p=$(grep -c '^ok ' "$log")
  f=$(grep -c '^not ok ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name exited with $rc" >>"$log"; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then
    echo "---- $name (last lines of its log) ----"
    grep "^not ok" "$log" | head -20; tail -60 "$log"
    failed_suites="$failed_suites $name"
  fi
  echo "e2e $name: $p passed, $f failed ($secs s)"
}
# suite_run SCRIPT NAME: one suite in the background (a subshell), in its own
# temp dir with its own Redis; its exit status and seconds are written to
# NAME.rc.
suite_run() {
  local s=$1 name=$2 t0 rc
  t0=$(date +%s)
  STAGEQ_TEST_TMP="$SUITE_TMP_ROOT/$name.d"
  mkdir -p "$STAGEQ_TEST_TMP"
  trap 'redis_stop_all' EXIT
  redis_start suite
  REDIS_PORT=$REDIS_PORT_suite timeout 600 bash "$s" >"$SUITE_TMP_ROOT/$name.log" 2>&1
  rc=$?
  redis_stop_all
  echo "$rc $(($(date +%s) - t0))" >"$SUITE_TMP_ROOT/$name.rc"
}
running=()
suite_reap() { # waits for one running suite to end and reports it
  local i name rc secs
  while :; do
    for i in "${!running[@]}"; do
      name=${running[$i]}
      if [ -f "$SUITE_TMP_ROOT/$name.rc" ]; then
        read -r rc secs <"$SUITE_TMP_ROOT/$name.rc"
        unset "running[$i]"; running=("${running[@]}")
        suite_report "$name" "$rc" "$secs"
        return
      fi
    done
    sleep 0.2
  done
}
for s in ${STAGEQ_SUITES:-tests/e2e/test_*.sh tests/bad-input/test_*.sh}; do
  [ -f "$s" ] || continue
  while [ "${#running[@]}" -ge "${STAGEQ_PARALLEL:-2}" ]; do suite_reap; done
  name=$(basename "$s" .sh)
  suite_run "$s" "$name" &
  running+=("$name")
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
