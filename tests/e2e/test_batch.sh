#!/usr/bin/env bash
# test_batch: a worker takes a backlog of fast jobs in batches and sends each
# end without waiting for it; a job held behind a slow one is handed back
# (its attempt given back) and runs elsewhere; a worker killed with a batch
# in hand charges no attempt to the jobs it had not begun; replies lost with the
# connection, or refused because Redis forgot the scripts, are sent again:
# every job ends once, none fails.
source "$(dirname "$0")/lib.sh"

export STAGEQ_PREFIX=tb
sq_redis b
PL=tests/e2e/pipelines-batch.json
submit_lua_load
# submit_cmds PIPELINE STAGE_NAME INPUT ID...: submit.lua calls, one per id
submit_cmds() { submit_lua_lines "$@"; }
# rq: redis-cli on the node of the queue (the jobs' slot: MULTI, EVAL below)
rq() { rcli_at "$(queue_key default)" "$@"; }
ids() { local i; for ((i = $2; i <= $3; i++)); do echo "$1$i"; done; }
field_count() { # field value ids...: how many of the jobs have field = value
  local f=$1 v=$2 id
  shift 2
  job_keys "$@" | sed "s/^/HGET /; s/\$/ $f/" | rq | grep -cx -- "$v"
}
succeeded() { [ "$(rcli HGET "$(counters_key)" succeeded:echo)" = "$1" ]; }

# 1. A backlog: the worker holds a batch (its processing list has more than
# one job), and every job succeeds once, at attempt 1.
submit_cmds echo echo '{"n":1}' $(ids a 1 3000) | rq >/dev/null
check_eq "3000 jobs are queued" 3000 "$(rcli LLEN "$(queue_key default)")"
maxlen="local m = 0 for _, k in ipairs(redis.call('KEYS', '$(processing_key '*')')) do m = math.max(m, redis.call('LLEN', k)) end return m"
rq -r 600 -i 0.005 EVAL "$maxlen" 0 >"$STAGEQ_TEST_TMP/batch-llen.txt" 2>&1 &
sampler=$!
start_worker batch1 --concurrency 1 --prefix tb --pipelines "$PL"
check "the backlog drains" wait_for 60 succeeded 3000
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
most=$(sort -n "$STAGEQ_TEST_TMP/batch-llen.txt" | tail -1)
echo "# most jobs on the worker's processing list at once: $most"
check "the worker takes a batch (more than one job in hand)" test "${most:-0}" -gt 1
check "the jobs in hand are bounded (a batch and half of one: 48)" test "${most:-99}" -le 48
check_eq "each job succeeded once" 3000 "$(once_count $(ids a 1 3000))"
check_eq "each at attempt 1" 3000 "$(field_count attempt 1 $(ids a 1 3000))"
# a script's first call on a connection is an EVAL (it loads it): the ends
# sent before the first reply is read are not refused NOSCRIPT, to stay on
# the list and be sent again after the next batch's take
check_eq "no call was refused NOSCRIPT" 0 "$(noscript_count)"
stop_pid "$WORKER_PID" 10

# 2. A slow job taken in a batch: the jobs held behind it are handed back at
# once and a second worker runs them while the slow one still runs.
rcli DEL "$(counters_key)" >/dev/null
start_worker batch2 --concurrency 1 --prefix tb --pipelines "$PL"
WORKER1=$WORKER_PID
# warmed up, then idle in BLMOVE: it pops f0, a fast job, and its end takes a
# batch — the slow job and 7 behind it (queued in one MULTI: all at once)
submit_cmds echo echo '{"n":1}' $(ids w 1 50) | rq >/dev/null
check "warm-up jobs run" wait_for 20 succeeded 50
sleep 0.3
{
  echo MULTI
  submit_cmds echo echo '{"n":1}' f0
  submit_cmds slow wait '{"sleep":4}' slow
  submit_cmds echo echo '{"n":1}' $(ids f 1 30)
  echo EXEC
} | rq >/dev/null
state_is() { [ "$(rcli HGET "$(job_key "$1")" state)" = "$2" ]; }
check "the slow job runs" wait_for 10 state_is slow running
start_worker batch3 --concurrency 1 --prefix tb --pipelines "$PL"
WORKER2=$WORKER_PID
check "the fast jobs behind it end while it runs" wait_for 3 succeeded 81
check_eq "... it is still running then" running "$(rcli HGET "$(job_key slow)" state)"
check "the held jobs were handed back before they began" \
  wait_for 5 grep -q "handed back before it began: ok" "$STAGEQ_TEST_TMP/batch2.log"
check_eq "a handed-back job ran at attempt 1 (its attempt given back)" 30 \
  "$(field_count attempt 1 $(ids f 1 30))"
check "the slow job then succeeds" wait_for 10 state_is slow succeeded
stop_pid "$WORKER1" 10
stop_pid "$WORKER2" 10

# 3. The connection is cut again and again while a backlog drains: ends whose
# reply was lost are sent again, jobs taken by a lost reply are put back
# unstarted; every job ends once, none fails (max_attempts is 1).
rcli DEL "$(counters_key)" >/dev/null
submit_cmds echo echo '{"n":2}' $(ids c 1 6000) | rq >/dev/null
# one redis-cli connection cuts every other one every 30 ms, 100 times
rq -r 100 -i 0.03 CLIENT KILL TYPE normal SKIPME yes >"$STAGEQ_TEST_TMP/batch-kills.txt" 2>&1 &
killer=$!
start_worker batch4 --concurrency 2 --prefix tb --pipelines "$PL"
wait "$killer"
kills=$(awk '$1 > 0 {n++} END {print n + 0}' "$STAGEQ_TEST_TMP/batch-kills.txt")
left=$(rcli LLEN "$(queue_key default)")
echo "# connections cut $kills times; $left jobs still queued after the cuts"
check "the connections were cut while it drained" test "$kills" -ge 3
check "the backlog drains through the cuts" wait_for 60 succeeded 6000
check_eq "none failed" "" "$(rcli HGET "$(counters_key)" failed:echo)"
check_eq "each job succeeded once" 6000 "$(once_count $(ids c 1 6000))"
check_eq "nothing left on a processing list" 0 \
  "$(rq EVAL "$maxlen" 0)"
stop_pid "$WORKER_PID" 10

# 4. Redis forgets the scripts again and again (SCRIPT FLUSH) while a backlog
# drains: an end sent without waiting comes back NOSCRIPT and is sent again
# with its source; every job ends once.
rcli DEL "$(counters_key)" >/dev/null
submit_cmds echo echo '{"n":3}' $(ids s 1 6000) | rq >/dev/null
rq -r 100 -i 0.03 SCRIPT FLUSH >/dev/null 2>&1 &
flusher=$!
start_worker batch5 --concurrency 2 --prefix tb --pipelines "$PL"
wait "$flusher"
check "the backlog drains through the flushes" wait_for 60 succeeded 6000
check_eq "each job succeeded once" 6000 "$(once_count $(ids s 1 6000))"
check_eq "nothing left on a processing list" 0 "$(rq EVAL "$maxlen" 0)"
stop_pid "$WORKER_PID" 10

# 5. kill -9 of a worker holding a batch: the jobs it held and had not begun
# are reservations, still queued; they are put back and run at attempt 1
# (max_attempts is 1: a charged attempt would fail them as worker_lost).
rcli DEL "$(counters_key)" >/dev/null
submit_lua_load # flushed above
start_worker batch6 --concurrency 1 --prefix tb --pipelines "$PL" --lease 2
POOL=$WORKER_PID
has_child() { KID=$(pgrep -P "$POOL" | head -1); [ -n "$KID" ]; }
check "its child starts" wait_for 10 has_child
PLIST=$(processing_key "$(hostname):$KID")
# watch its processing list every 2 ms; kill -9 the child at once when it
# holds more than two jobs (one runs, the others wait in its hands)
# (the backlog is queued while it is frozen, so that it drains at full pace)
kill -STOP "$KID"
submit_cmds echo echo '{"n":5}' $(ids k 1 20000) | rq >/dev/null
rcli -r 20000 -i 0.002 LLEN "$PLIST" 2>/dev/null |
  while read -r n; do [ "$n" -gt 2 ] 2>/dev/null && { kill -STOP "$POOL"; kill -9 "$KID"; break; }; done &
watcher=$!
kill -CONT "$KID"
wait "$watcher"
child_gone() { ! pid_running "$KID"; }
check "it was killed holding a batch" wait_for 5 child_gone
sleep 0.2
rcli LRANGE "$PLIST" 0 -1 >"$STAGEQ_TEST_TMP/held.txt"
: >"$STAGEQ_TEST_TMP/held-queued.txt"
while read -r id; do
  [ "$(rcli HGET "$(job_key "$id")" state)" = queued ] && echo "$id" >>"$STAGEQ_TEST_TMP/held-queued.txt"
done <"$STAGEQ_TEST_TMP/held.txt"
nheld=$(wc -l <"$STAGEQ_TEST_TMP/held.txt")
nqueued=$(wc -l <"$STAGEQ_TEST_TMP/held-queued.txt")
echo "# killed holding $nheld jobs, $nqueued of them not begun"
check "the held jobs it had not begun read queued" test "$nqueued" -ge 1 -a "$nqueued" -ge $((nheld - 2))
held_attempt0() { job_keys $(cat "$STAGEQ_TEST_TMP/held-queued.txt") | sed 's/^/HGET /; s/$/ attempt/' | rq | grep -cvx 0; }
check_eq "... and were charged no attempt" 0 "$(held_attempt0)"
start_worker batch7 --concurrency 1 --prefix tb --pipelines "$PL" --lease 2
held_done() { [ "$(field_count state succeeded $(cat "$STAGEQ_TEST_TMP/held-queued.txt"))" = "$nqueued" ]; }
check "every held job that had not begun succeeded" wait_for 60 held_done
check_eq "... at attempt 1" "$nqueued" "$(field_count attempt 1 $(cat "$STAGEQ_TEST_TMP/held-queued.txt"))"
check_eq "... once" "$nqueued" "$(once_count $(cat "$STAGEQ_TEST_TMP/held-queued.txt"))"
drained() { [ "$(rcli LLEN "$(queue_key default)")" = 0 ] && [ "$(rq EVAL "$maxlen" 0)" = 0 ]; }
check "the backlog drains" wait_for 60 drained
check "only the jobs begun when it died failed (worker_lost)" \
  test "$(field_count state failed $(ids k 1 20000))" -le $((nheld - nqueued))
kill -CONT "$POOL"
stop_pid "$POOL" 10
stop_pid "$WORKER_PID" 10
finish
