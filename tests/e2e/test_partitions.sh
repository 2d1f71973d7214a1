#!/usr/bin/env bash
# test_partitions: a queue of 4 partitions ("queues": {"pq": {"partitions": 4}}).
# Jobs land in the partition of their id (4 lists, in 4 slots), a pool of
# worker processes drains every partition (each job succeeds once), an idle
# worker wakes for a job pushed to any partition, one worker serves two
# partitions with backlogs interleaved (fair rotation), a worker killed with -9
# while holding jobs of several partitions has them all recovered, and a job
# hops between two 4-partition queues in its own slot. Jobs are written
# straight into their partition (tests/e2e/partition.py: the fields the API
# writes, and the push that publishes the wake channel), so the worker is
# checked against an independent computation of the layout.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tp
P=tests/e2e/pipelines-partitions.json
HOP_MARKS="$STAGEQ_TEST_TMP/marks"
export HOP_MARKS
: >"$HOP_MARKS"
W="--pipelines $P --lease 2 --kill-grace-ms 300"
PART="python3 tests/e2e/partition.py"

# the tag and partition of every id submitted (one python run per submit)
declare -A TAG PRT
PTAG=($($PART ptag 0 4) $($PART ptag 1 4) $($PART ptag 2 4) $($PART ptag 3 4))
learn() {
  local id t p
  while read -r id t p; do TAG[$id]=$t; PRT[$id]=$p; done < <($PART tags 4 "$@")
}
part() { echo "${PRT[$1]}"; }
field() { rcli HGET "tp:${TAG[$1]}:job:$1" "$2"; }
# once ID: succeeded, recorded once (success_count is written from a second success on)
once() { [ "$(field "$1" state)" = succeeded ] && case $(field "$1" success_count) in '' | 1) ;; *) false ;; esac; }
# submit PIPELINE STAGES INPUT ID...: written into each id's partition
submit() {
  $PART submit 127.0.0.1 "$REDIS_PORT" tp 4 "$@" >>"$STAGEQ_TEST_TMP/pushed"
  shift 3
  learn "$@"
}
llen() { rcli LLEN "tp:${PTAG[$1]}:queue:$2"; }
depths() { echo "$(llen 0 "$1") $(llen 1 "$1") $(llen 2 "$1") $(llen 3 "$1")"; }
all_succeeded() {
  local id
  for id in "$@"; do [ "$(field "$id" state)" = succeeded ] || return 1; done
}
# starts ID: how many times stage s of ID started
starts() { grep -c "^start $1 $2 " "$HOP_MARKS"; }

# every command, to check at the end that each script call named keys of one slot
redis-cli -p "$REDIS_PORT" MONITOR >"$STAGEQ_TEST_TMP/monitor.log" 2>&1 &
MON=$!

# --- the layout: jobs spread over the 4 partition lists --------------------------
ids=$(seq -f "job-%g" 1 40)
# shellcheck disable=SC2086
submit p s@pq '{"sleep":{"s":0.02}}' $ids
d=$(depths pq)
check_eq "40 jobs wait, spread over the 4 partition lists" 40 $(($(echo "$d" | tr ' ' '+')))
nonempty=0
for n in $d; do [ "$n" -gt 0 ] && nonempty=$((nonempty + 1)); done
check_eq "every partition list holds some ($d)" 4 "$nonempty"
check_eq "a job hash lives in its partition's slot" queued "$(field job-1 state)"
check_eq "the default partition's list is not used" 0 "$(rcli LLEN 'tp:{8209}:queue:pq')"
# a failing first attempt: retried (retry.lua, the delayed set, promote.lua)
submit p s@pq '{"fail":"s"}' retry-1

# --- a pool drains every partition -----------------------------------------------
start_worker w1 $W --queue pq --concurrency 2
W1=$WORKER_PID
start_worker w2 $W --queue pq --concurrency 1
W2=$WORKER_PID
# shellcheck disable=SC2086
check "3 worker processes run all 40 jobs" poll 90 all_succeeded $ids
check_eq "no job is left on any partition list" "0 0 0 0" "$(depths pq)"
twice=0
for id in $ids; do [ "$(starts "$id" s)" = 1 ] || twice=$((twice + 1)); done
check_eq "each job ran once" 0 "$twice"
check "each succeeded once" once job-7
check "a job failing its first attempt succeeds at attempt 2" poll 60 all_succeeded retry-1
check_eq "in attempt 2, its stage started twice" "2 2" "$(field retry-1 attempt) $(starts retry-1 s)"
check "the counters of a partition count its jobs" \
  test "$(rcli HGET "tp:${PTAG[0]}:counters" succeeded:p)" -gt 0
stop_pid "$W2" 10

# --- an idle worker wakes for a job pushed to any partition -----------------------
sleep 1 # idle: every partition swept empty, waiting for a wake message
woke=0
for id in wake-a wake-b wake-c wake-d wake-e wake-f; do
  submit p s@pq '{}' "$id"
  if poll 30 all_succeeded "$id"; then
    woke=$((woke + 1))
    t0=$(awk -v id="$id" '$1 == id {print $2}' "$STAGEQ_TEST_TMP/pushed")
    t1=$(date -d "$(field "$id" started_at)" +%s%3N)
    echo "# $id (partition $(part "$id")) started $((t1 - t0)) ms after its push"
  fi
done
check_eq "an idle worker runs a job pushed to any partition (6 of 6)" 6 "$woke"
parts=$(for id in wake-a wake-b wake-c wake-d wake-e wake-f; do part "$id"; done | sort -u | wc -l)
check "those jobs were in several partitions ($parts)" test "$parts" -ge 3
stop_pid "$W1" 10

# --- fairness: one worker, two partitions with backlogs, interleaved -------------
# 20 ids of partition 0 and 20 of partition 2
learn $(seq -f "fair-%g" 1 400)
a_ids="" b_ids="" na=0 nb=0
for i in $(seq 1 400); do
  id="fair-$i"
  case ${PRT[$id]} in
  0) [ "$na" -lt 20 ] && a_ids="$a_ids $id" && na=$((na + 1)) ;;
  2) [ "$nb" -lt 20 ] && b_ids="$b_ids $id" && nb=$((nb + 1)) ;;
  esac
done
: >"$HOP_MARKS"
# shellcheck disable=SC2086
submit p s@pq '{"sleep":{"s":0.05}}' $a_ids
# shellcheck disable=SC2086
submit p s@pq '{"sleep":{"s":0.05}}' $b_ids
check_eq "partitions 0 and 2 hold 20 each" "20 0 20 0" "$(depths pq)"
start_worker fair $W --queue pq --concurrency 1
FAIR=$WORKER_PID
# shellcheck disable=SC2086
check "one worker runs all 40" poll 90 all_succeeded $a_ids $b_ids
order=$(grep '^start ' "$HOP_MARKS" | awk '{print $2}' | while read -r id; do part "$id"; done | tr -d '\n')
echo "# start order by partition: $order"
first_half=${order:0:20}
check "both partitions ran in the first half of the starts ($first_half)" \
  bash -c "[[ '$first_half' == *0* && '$first_half' == *2* ]]"
switches=$(echo "$order" | fold -w1 | uniq | wc -l)
check "the starts switch partitions more than once ($switches runs)" test "$switches" -gt 2
stop_pid "$FAIR" 10

# --- kill -9 of a worker holding jobs of several partitions -----------------------
: >"$HOP_MARKS"
k_ids=$(seq -f "kill-%g" 1 12)
# shellcheck disable=SC2086
submit p s@pq '{"sleep":{"s":3}}' $k_ids
start_worker victim $W --queue pq --concurrency 4
VICTIM=$WORKER_PID
running_in_parts() {
  local id n=0 ps=""
  for id in $k_ids; do
    if [ "$(field "$id" state)" = running ]; then
      n=$((n + 1))
      ps="$ps$(part "$id")"
    fi
  done
  [ "$n" -ge 4 ] && [ "$(echo "$ps" | fold -w1 | sort -u | wc -l)" -ge 2 ]
}
check "the victim runs 4 jobs of at least 2 partitions" poll 30 running_in_parts
kill -9 "$VICTIM" $(pgrep -P "$VICTIM")
start_worker rescuer $W --queue pq --concurrency 4
RESCUER=$WORKER_PID
# shellcheck disable=SC2086
check "every job of the killed worker is recovered and succeeds" poll 120 all_succeeded $k_ids
lost=0
for id in $k_ids; do once "$id" || lost=$((lost + 1)); done
check_eq "each succeeded exactly once" 0 "$lost"
check_eq "no job is left on any partition list" "0 0 0 0" "$(depths pq)"
stop_pid "$RESCUER" 10

# --- a hop between two 4-partition queues -----------------------------------------
start_worker hp $W --queue pq --concurrency 1
HP=$WORKER_PID
start_worker hq $W --queue pq2 --concurrency 1
HQ=$WORKER_PID
h_ids=$(seq -f "hop-%g" 1 8)
# shellcheck disable=SC2086
submit h a@pq,b@pq2 '{}' $h_ids
# shellcheck disable=SC2086
check "8 jobs hop from pq to pq2 and succeed" poll 90 all_succeeded $h_ids
bad=0
for id in $h_ids; do
  [ "$(starts "$id" a)" = 1 ] && [ "$(starts "$id" b)" = 1 ] || bad=$((bad + 1))
done
check_eq "each ran stage a once (pq) and stage b once (pq2)" 0 "$bad"
check_eq "nothing left on pq2's partition lists" "0 0 0 0" "$(depths pq2)"
check_eq "the default partition of pq2 was never used" 0 "$(rcli EXISTS 'tp:{8209}:queue:pq2')"
stop_pid "$HP" 10
stop_pid "$HQ" 10

# --- no call named keys of two slots (a cluster would refuse it: CROSSSLOT) -------
kill "$MON" 2>/dev/null
wait "$MON" 2>/dev/null
slots=$($PART slots "$STAGEQ_TEST_TMP/monitor.log")
echo "# $slots"
check "every script call and BLMOVE named keys of one slot" $PART slots "$STAGEQ_TEST_TMP/monitor.log"

finish
