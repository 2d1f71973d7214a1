#!/usr/bin/env bash
# test_partitions_cluster: the 4-partition queue of test_partitions on a real
# Redis Cluster (3 masters + 3 replicas, tests/e2e/cluster.sh): its partitions
# live on several shards, workers reach them through one redis-cluster:// URL,
# drain every partition (each job succeeds once, a failing one is retried),
# hop to another 4-partition queue in the job's own slot, and recover the jobs
# of a worker killed with -9. Any step naming keys of two slots would fail
# here with CROSSSLOT.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
export STAGEQ_PREFIX=tpc
P=tests/e2e/pipelines-partitions.json
HOP_MARKS="$STAGEQ_TEST_TMP/marks"
export HOP_MARKS
: >"$HOP_MARKS"
cl_start c || { not_ok "the cluster starts"; finish; }
W="--redis-url $CL_URL --pipelines $P --lease 2 --kill-grace-ms 300"
PART="python3 tests/e2e/partition.py"
declare -A TAG
learn() {
  local id t p
  while read -r id t p; do TAG[$id]=$t; done < <($PART tags 4 "$@")
}
field() { redis-cli -c -p "$CL_PORT" HGET "tpc:${TAG[$1]}:job:$1" "$2"; }
# once ID: succeeded, recorded once (success_count is written from a second success on)
once() { [ "$(field "$1" state)" = succeeded ] && case $(field "$1" success_count) in '' | 1) ;; *) false ;; esac; }
submit() {
  $PART submit 127.0.0.1 "$CL_PORT" tpc 4 "$@" >/dev/null
  shift 3
  learn "$@"
}
all_succeeded() {
  local id
  for id in "$@"; do [ "$(field "$id" state)" = succeeded ] || return 1; done
}
starts() { grep -c "^start $1 $2 " "$HOP_MARKS"; }
cworker() { # NAME QUEUE CONCURRENCY: a worker on the cluster URL
  "${SQ_WRAP[@]}" "$BUILD/stageq-worker" $W --queue "$2" --concurrency "$3" \
    >>"$STAGEQ_TEST_TMP/$1.log" 2>&1 &
  WORKER_PID=$!
  SQ_PIDS="$SQ_PIDS $WORKER_PID"
}

shards=$(for j in 0 1 2 3; do cl_master_of_slot $(((2 * j + 1) * 16384 / 8)); done | sort -u | wc -l)
check "the 4 partitions of the queue live on several shards ($shards)" test "$shards" -ge 2

ids=$(seq -f "cj-%g" 1 24)
# shellcheck disable=SC2086
submit p s@pq '{"sleep":{"s":0.02}}' $ids
submit p s@pq '{"fail":"s"}' cretry
cworker w1 pq 2
W1=$WORKER_PID
# shellcheck disable=SC2086
check "2 worker processes on the cluster run all 24 jobs" poll 120 all_succeeded $ids
twice=0
for id in $ids; do [ "$(starts "$id" s)" = 1 ] || twice=$((twice + 1)); done
check_eq "each ran once" 0 "$twice"
check "a failing job is retried and succeeds" poll 60 all_succeeded cretry
check_eq "at attempt 2" 2 "$(field cretry attempt)"
check "no CROSSSLOT in the worker's log" bash -c "! grep -q CROSSSLOT '$STAGEQ_TEST_TMP/w1.log'"
# the image's HEALTHCHECK on a redis-cluster URL whose only seed is the last
# node: the registry ({w}) is on a master it names in a MOVED
last_port=${CL_PORTS##* }
check "the worker healthcheck follows the cluster to the registry's master" \
  env STAGEQ_REDIS_URL="redis-cluster://127.0.0.1:$last_port/" bash deploy/healthcheck.sh worker "$W1"

# --- a hop between two 4-partition queues ---------------------------------------
cworker w2 pq2 1
W2=$WORKER_PID
h_ids=$(seq -f "chop-%g" 1 6)
# shellcheck disable=SC2086
submit h a@pq,b@pq2 '{}' $h_ids
# shellcheck disable=SC2086
check "6 jobs hop from pq to pq2 and succeed" poll 120 all_succeeded $h_ids
bad=0
for id in $h_ids; do
  [ "$(starts "$id" a)" = 1 ] && [ "$(starts "$id" b)" = 1 ] || bad=$((bad + 1))
done
check_eq "each ran stage a once and stage b once" 0 "$bad"
stop_pid "$W1" 10
stop_pid "$W2" 10

# --- kill -9: the jobs of every partition are recovered ---------------------------
k_ids=$(seq -f "ck-%g" 1 8)
# shellcheck disable=SC2086
submit p s@pq '{"sleep":{"s":3}}' $k_ids
cworker victim pq 4
VICTIM=$WORKER_PID
running4() {
  local id n=0
  for id in $k_ids; do [ "$(field "$id" state)" = running ] && n=$((n + 1)); done
  [ "$n" -ge 4 ]
}
check "the victim runs 4 jobs" poll 60 running4
kill -9 "$VICTIM" $(pgrep -P "$VICTIM")
cworker rescuer pq 4
RESCUER=$WORKER_PID
# shellcheck disable=SC2086
check "every job of the killed worker is recovered and succeeds" poll 180 all_succeeded $k_ids
lost=0
for id in $k_ids; do once "$id" || lost=$((lost + 1)); done
check_eq "each succeeded exactly once" 0 "$lost"
stop_pid "$RESCUER" 10
check "no CROSSSLOT in any worker's log" bash -c "! grep -q CROSSSLOT '$STAGEQ_TEST_TMP'/*.log"

finish
