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
  rcli EVAL "$(cat shared/scripts/submit.lua)" 3 "tw:job:$1" tw:queue:default tw:recent "$1" 3600 0 \
    "$(date +%s%3N)" 10000 \
    id "$1" pipeline echo queue default state queued attempt 0 max_attempts 1 input '{"n":1}' \
    stage 0 stage_count 1 result_ttl_s 60 stage.1.name echo stage.1.state pending >/dev/null
}
state_is() { [ "$(rcli HGET "tw:job:$1" state)" = "$2" ]; }
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
check_eq "the echo result is the input" '{"n":1}' "$(rcli HGET tw:job:after result)"

kids=$(children)
stop_pid "$WORKER_PID" 10
check_eq "SIGTERM: the supervisor exits 0" 0 "$STOP_RC"
left=0
for k in $kids; do kill -0 "$k" 2>/dev/null && left=$((left + 1)); done
check_eq "SIGTERM: no child is left" 0 "$left"
finish
