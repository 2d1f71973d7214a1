#!/usr/bin/env bash
# test_runner: tests/run-all.sh itself, on both Redis topologies, with small
# suites of its own: each result line names its topology, the final line sums
# both passes, a suite listed as not for a cluster says so with its reason,
# and a suite killed by its timeout leaves no redis-server behind — neither
# the one the runner gave it nor the one it started itself (a daemonized
# redis-server is out of the suite's process group: only the runner can stop
# it, by PID).
source "$(dirname "$0")/lib.sh"
T=$STAGEQ_TEST_TMP

# The key helpers fill the default partition's names from templates sq-keys
# gave: the same names as sq-keys itself, whatever the prefix and argument.
bad=""
for pfx in stageq 'a&b' 'x\y'; do
  for arg in j-1 'h:1' '*' '' 'a&b' '@A@'; do
    for kind in job queue delayed processing stagehist eta worker wake; do
      got=$(STAGEQ_PREFIX=$pfx sq_key "$kind" "$arg")
      [ "$got" = "$(STAGEQ_PREFIX=$pfx sq_keys "$kind" "$arg")" ] || bad="$bad $kind:$pfx:$arg=$got"
    done
  done
  for kind in counters recent leases alive current workers events; do
    got=$(STAGEQ_PREFIX=$pfx sq_key_part "$kind")
    [ "$got" = "$(STAGEQ_PREFIX=$pfx sq_keys "$kind")" ] || bad="$bad $kind:$pfx=$got"
  done
done
check_eq "the key helpers' names are sq-keys' names" "" "$bad"
check_eq "a job of a queue with 1 partition is in slot 8192's tag" "{8209}" "$(tag_of_slot "$(part_slot 1 0)")"
mkdir -p "$T/fake"

# the servers a fake suite's Redis runs on, by PID, appended to FILE
cat >"$T/fake/pids.sh" <<'SH'
record_pids() { # FILE
  local p
  for p in $(if on_cluster; then echo "$CL_PORTS"; else echo "$REDIS_PORT"; fi); do
    redis-cli -p "$p" INFO server | tr -d '\r' | sed -n 's/^process_id://p' >>"$1"
  done
}
SH
cat >"$T/fake/test_a.sh" <<SH
source "$PWD/tests/e2e/lib.sh"
source "$T/fake/pids.sh"
echo "\$STAGEQ_TEST_TMP" >>"$T/tmps"
record_pids "$T/pids"
check_eq "the runner's Redis answers" PONG "\$(rcli PING)"
check_eq "its URL names the topology" "\$STAGEQ_TEST_TOPOLOGY" "\$(case \$SQ_REDIS_URL in redis-cluster://*) echo cluster ;; redis://*) echo single ;; esac)"
finish
SH
cat >"$T/fake/test_hang.sh" <<SH
source "$PWD/tests/e2e/lib.sh"
source "$T/fake/pids.sh"
echo "\$STAGEQ_TEST_TMP" >>"$T/tmps"
record_pids "$T/pids"
sq_redis own
record_pids "$T/pids"
touch "$T/hang-up.\$STAGEQ_TEST_TOPOLOGY"
sleep 1000
SH
cat >"$T/fake/test_deploy.sh" <<SH
source "$PWD/tests/e2e/lib.sh"
check_eq "runs on \$STAGEQ_TEST_TOPOLOGY" single "\$STAGEQ_TEST_TOPOLOGY"
SH

# timeout: long enough for a cluster of the suite's own to come up on a busy machine
env -u STAGEQ_CLUSTER_SUITES STAGEQ_TEST_TOPOLOGY="single cluster" STAGEQ_SKIP_UNIT=1 STAGEQ_SUITE_TIMEOUT_S=60 STAGEQ_PARALLEL=3 \
  STAGEQ_SUITES="$T/fake/test_a.sh $T/fake/test_hang.sh $T/fake/test_deploy.sh" \
  bash tests/run-all.sh "$BUILD" >"$T/run.out" 2>&1
check_eq "run-all fails (the hanging suite)" 1 "$?"
out=$(cat "$T/run.out")
for topo in single cluster; do
  check "e2e[$topo] test_a: 2 passed" grep -qx "e2e\[$topo\] test_a: 2 passed, 0 failed ([0-9]* s)" <<<"$out"
  check "e2e[$topo] test_hang is failed" grep -q "^e2e\[$topo\] test_hang: 0 passed, 1 failed" <<<"$out"
  check "... as stopped after its timeout" grep -q "not ok - test_hang was stopped after its 60 s" <<<"$out"
  check "... after its own $topo Redis was up" test -f "$T/hang-up.$topo"
done
check "the suite marked not for a cluster runs on single Redis" \
  grep -qx 'e2e\[single\] test_deploy: 1 passed, 0 failed ([0-9]* s)' <<<"$out"
check "... and says why it does not on a cluster" \
  grep -q '^e2e\[cluster\] test_deploy: not run on a cluster: .*single servers' <<<"$out"
# test_a 2 x 2, test_deploy 1, the daemon log check 1; test_hang 1 x 2
check "the last line sums both passes" grep -qx '6 passed, 2 failed' <<<"$(tail -1 "$T/run.out")"

# every server the fake suites ran on is gone: the runner's (one per suite),
# and test_hang's own
check_eq "servers seen: 3 single + 3 clusters of 6" 21 "$(sort -u "$T/pids" | grep -c .)"
left=""
for pid in $(sort -u "$T/pids"); do pid_running "$pid" && left="$left $pid"; done
check_eq "no redis-server left running" "" "$left"
if [ -n "$left" ]; then
  for pid in $left; do kill -TERM "$pid" 2>/dev/null; done # ours: started by this test's run
  cat "$T/run.out"
fi
finish
