#!/usr/bin/env bash
# test_worker: the supervisor — flags and exit codes, N children, respawn of a
# killed child, clean SIGTERM, and riding out a Redis outage.
source "$(dirname "$0")/lib.sh"

out=$("$BUILD/stageq-worker" --help 2>&1); rc=$?
check_eq "worker --help exits 0" 0 "$rc"
check "worker --help lists STAGEQ_REDIS_URL and --concurrency" \
  grep -q -- "--concurrency.*STAGEQ_CONCURRENCY" <<<"$out"
"$BUILD/stageq-worker" --concurrency nope >/dev/null 2>&1; rc=$?
check_eq "bad --concurrency exits 2" 2 "$rc"
err=$("$BUILD/stageq-worker" --bogus 2>&1); rc=$?
check_eq "unknown flag exits 2" 2 "$rc"
check "unknown flag is named" grep -q -- "--bogus" <<<"$err"
STAGEQ_REDIS_URL=http://x "$BUILD/stageq-worker" >/dev/null 2>&1; rc=$?
check_eq "bad STAGEQ_REDIS_URL exits 2" 2 "$rc"

# Its own Redis, so that it can be stopped and started again on the same port.
redis_start w
REDIS_PORT=$REDIS_PORT_w
start_worker worker --concurrency 3 --prefix tw
children() { pgrep -P "$WORKER_PID" | sort; }
has_n_children() { [ "$(children | wc -l)" -eq "$1" ]; }
check "pool starts 3 children" wait_for 5 has_n_children 3
victim=$(children | head -1)
kill -9 "$victim"
respawned() { has_n_children 3 && ! children | grep -qx "$victim"; }
check "a killed child is replaced" wait_for 5 respawned
check "the death is logged with its signal" \
  wait_for 2 grep -q "killed by signal 9" "$STAGEQ_TEST_TMP/worker.log"

# A job pushed by hand through the submit script (no API needed here).
submit_echo() { # id
  rcli EVAL "$(cat shared/scripts/submit.lua)" 3 "tw:{8209}:job:$1" tw:{8209}:queue:default tw:{8209}:recent "$1" 3600 0 \
    "$(date +%s%3N)" 10000 \
    id "$1" pipeline echo queue default state queued attempt 0 max_attempts 1 input '{"n":1}' \
    stage 0 stage_count 1 result_ttl_s 60 stage.1.name echo stage.1.state pending >/dev/null
}
state_is() { [ "$(rcli HGET "tw:{8209}:job:$1" state)" = "$2" ]; }
submit_echo before
check "a job runs" wait_for 5 state_is before succeeded

# Redis goes away: the workers stay up and wait; Redis returns: they go on.
redis_stop w
sleep 1.5
check_eq "workers survive a Redis outage" 3 "$(children | wc -l)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STAGEQ_TEST_TMP/redis-w" --save '' \
  --appendonly no --daemonize yes --pidfile "$STAGEQ_TEST_TMP/redis-w/redis.pid" \
  --logfile "$STAGEQ_TEST_TMP/redis-w/redis.log" >/dev/null
wait_for 5 rcli ping >/dev/null
submit_echo after
check "after Redis returns, jobs run again" wait_for 10 state_is after succeeded
check_eq "the echo result is the input" '{"n":1}' "$(rcli HGET tw:{8209}:job:after result)"

kids=$(children)
stop_pid "$WORKER_PID" 10
check_eq "SIGTERM: the supervisor exits 0" 0 "$STOP_RC"
left=0
for k in $kids; do kill -0 "$k" 2>/dev/null && left=$((left + 1)); done
check_eq "SIGTERM: no child is left" 0 "$left"

# A backlog: the end of one job and the start of the next are one script call
# (finish.lua takes the next job), and the stage figures are gathered by the
# worker and in Redis, complete, by the time it goes idle.
preload() { # first last: echo jobs b<first>..b<last>, through submit.lua in one redis-cli
  local sha now i
  sha=$(rcli SCRIPT LOAD "$(cat shared/scripts/submit.lua)")
  now=$(date +%s%3N)
  for ((i = $1; i <= $2; i++)); do
    printf 'EVALSHA %s 3 tw:{8209}:job:b%s tw:{8209}:queue:default tw:{8209}:recent b%s 3600 0 %s 10000 id b%s pipeline echo queue default state queued attempt 0 max_attempts 1 input %s stage 0 stage_count 1 result_ttl_s 600 stage.1.name echo stage.1.state pending\n' \
      "$sha" "$i" "$i" "$now" "$i" "'{\"n\":$i}'"
  done | rcli >/dev/null
}
count0=$(rcli HGET tw:{8209}:stagehist:echo 'echo|count')
done0=$(rcli HGET tw:{8209}:counters succeeded:echo)
preload 1 300
check_eq "300 jobs are queued" 300 "$(rcli LLEN tw:{8209}:queue:default)"
rcli CONFIG RESETSTAT >/dev/null
start_worker backlog --concurrency 1 --prefix tw
all_done() { [ "$(rcli HGET tw:{8209}:counters succeeded:echo)" = "$((done0 + 300))" ]; }
check "the backlog drains" wait_for 30 all_done
count1=$(rcli HGET tw:{8209}:stagehist:echo 'echo|count') # at once: the last finish recorded them
check_eq "every stage run is in the histogram once the worker is idle" "$((count0 + 300))" "$count1"
check_eq "the ETA keeps the newest 20 runs" 20 "$(rcli HGET tw:{8209}:eta:echo 1.n)"
calls=$(rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
echo "# script calls for 300 jobs: $calls"
check "about one script call per job with a backlog (not two)" test "${calls:-9999}" -le 360
check_eq "each job ran once" 300 "$(for i in $(seq 1 300); do echo "HGET tw:{8209}:job:b$i success_count"; done | rcli | grep -cx 1)"
stop_pid "$WORKER_PID" 10

# Retries whose backoff ends while a backlog drains are moved to the queue
# then, not after it (finish.lua keeps taking jobs: promotion must go on).
# Promotion runs once a second, so the backlog must outlast about 1.5 s: one
# worker process drains up to ~17,000 jobs/s here, so 40,000 jobs.
preload 5001 45000
rcli ZADD tw:{8209}:delayed:default "$(($(date +%s%3N) + 1000))" late >/dev/null
start_worker backlog3 --concurrency 1 --prefix tw
promoted() { [ "$(rcli ZCARD tw:{8209}:delayed:default)" = 0 ]; }
check "a retry that falls due is promoted during the backlog" wait_for 20 promoted
left=$(rcli LLEN tw:{8209}:queue:default)
echo "# jobs still queued when the retry was promoted: $left"
check "the backlog was not over yet" test "$left" -gt 0
stop_pid "$WORKER_PID" 10
rcli DEL tw:{8209}:queue:default >/dev/null

# SIGTERM in the middle of a backlog: whatever the worker took is handed back
# or finished, nothing is left running or on its processing list.
done2=$(rcli HGET tw:{8209}:counters succeeded:echo)
preload 301 2300
start_worker backlog2 --concurrency 2 --prefix tw
some_done() { [ "$(rcli HGET tw:{8209}:counters succeeded:echo)" -gt "$((done2 + 100))" ]; }
check "a second backlog starts draining" wait_for 30 some_done
stop_pid "$WORKER_PID" 10
check_eq "SIGTERM mid-backlog: exit 0" 0 "$STOP_RC"
succeeded=$(( $(rcli HGET tw:{8209}:counters succeeded:echo) - done2 ))
queued=$(rcli LLEN tw:{8209}:queue:default)
echo "# after SIGTERM: $succeeded succeeded, $queued queued"
check_eq "SIGTERM mid-backlog: every job succeeded or is queued" 2000 "$((succeeded + queued))"
check_eq "SIGTERM mid-backlog: no processing list left" "" "$(rcli --scan --pattern 'tw:{8209}:processing:*')"
running=$(for i in $(seq 301 2300); do echo "HGET tw:{8209}:job:b$i state"; done | rcli | grep -c running)
check_eq "SIGTERM mid-backlog: no job left running" 0 "$running"
# the jobs it held (taken, never begun) were given their attempt back
charged=$(for i in $(seq 301 2300); do echo "HMGET tw:{8209}:job:b$i state attempt"; done | rcli |
  paste - - | awk '$1 == "queued" && $2 != 0' | wc -l)
check_eq "SIGTERM mid-backlog: no queued job is charged an attempt" 0 "$charged"
finish
