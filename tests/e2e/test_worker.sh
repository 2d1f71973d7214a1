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
export STAGEQ_PREFIX=tw
sq_redis w
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
  submit_lua_load # again after an outage: Redis forgot it
  submit_lua_lines echo echo '{"n":1}' "$1" | rcli >/dev/null
}
state_is() { [ "$(rcli HGET "$(job_key "$1")" state)" = "$2" ]; }
submit_echo before
check "a job runs" wait_for 5 state_is before succeeded

# Redis goes away: the workers stay up and wait; Redis returns: they go on.
sq_redis_down w
sleep 1.5
check_eq "workers survive a Redis outage" 3 "$(children | wc -l)"
sq_redis_up w
submit_echo after
check "after Redis returns, jobs run again" wait_for 10 state_is after succeeded
check_eq "the echo result is the input" '{"n":1}' "$(rcli HGET "$(job_key after)" result)"

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
  submit_lua_load
  submit_lua_lines echo echo '{"n":1}' $(seq -f 'b%.0f' "$1" "$2") | rcli_at "$(queue_key default)" >/dev/null
}
count0=$(rcli HGET "$(stagehist_key echo)" 'echo|count')
done0=$(rcli HGET "$(counters_key)" succeeded:echo)
preload 1 300
check_eq "300 jobs are queued" 300 "$(rcli LLEN "$(queue_key default)")"
rcli_each CONFIG RESETSTAT >/dev/null
start_worker backlog --concurrency 1 --prefix tw
all_done() { [ "$(rcli HGET "$(counters_key)" succeeded:echo)" = "$((done0 + 300))" ]; }
check "the backlog drains" wait_for 30 all_done
count1=$(rcli HGET "$(stagehist_key echo)" 'echo|count') # at once: the last finish recorded them
check_eq "every stage run is in the histogram once the worker is idle" "$((count0 + 300))" "$count1"
check_eq "the ETA keeps the newest 20 runs" 20 "$(rcli HGET "$(eta_key echo)" 1.n)"
calls=$(rcli_each INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' |
  awk '{ s += $1 } END { if (NR) print s }')
echo "# script calls for 300 jobs: $calls"
# the batch's first job is begun by start.lua when the end before it was not
# answered yet (ends are pipelined: pipe.c), more often on a loaded machine or
# under valgrind (340 quiet, 368 seen in CI): a bound between one and two
check "about one script call per job with a backlog (not two)" test "${calls:-9999}" -le 450
check_eq "each job ran once" 300 "$(once_count $(seq -f 'b%.0f' 1 300))"
# The jobs held behind another run unbegun: a fast one's start is written with
# its end (finish.lua's '.begun'), one HSET and one PUBLISH, where a begin
# before it cost two more HSETs (the start and the worker's current job) and a
# PUBLISH: 900 HSETs for 300 jobs. The batch's first job is begun by start.lua.
cmdcalls() { rcli_each INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" |
  awk '{ s += $1 } END { print s + 0 }'; }
hsets=$(cmdcalls hset) pubs=$(cmdcalls publish)
echo "# HSET and PUBLISH calls for 300 jobs: $hsets, $pubs"
check "a fast job held in a backlog: its start and end are one HSET ($hsets <= 400)" test "$hsets" -le 400
check "... and one PUBLISH ($pubs <= 400)" test "$pubs" -le 400
fields() { rcli HGETALL "$(job_key "$1")" | awk 'NR % 2' | sort | tr '\n' ' '; }
check_eq "a job ended so holds the fields of one begun first (after: run alone)" \
  "$(fields after)" "$(fields b150)"
check_eq "... at stage 1 of 1" 1 "$(rcli HGET "$(job_key b150)" stage)"
check_eq "... at attempt 1, by the worker" "1 $(rcli HGET "$(job_key after)" worker | cut -d: -f1)" \
  "$(rcli HGET "$(job_key b150)" attempt) $(rcli HGET "$(job_key b150)" worker | cut -d: -f1)"
started=$(rcli HGET "$(job_key b150)" started_at) ended=$(rcli HGET "$(job_key b150)" updated_at)
check "... started_at its start, not after its end ($started, $ended)" test -n "$started" -a ! "$started" \> "$ended"
stop_pid "$WORKER_PID" 10

# The fast ends of a backlog share a call (pipe.c: finish_many). A job still
# as its reservation read it and on the worker's list is written as
# finish.lua's fast end writes it; any other is left as it is and answered
# 'again', for the worker to send alone to finish.lua, which fences it.
submit_lua_load
submit_lua_lines echo echo '{"n":1}' m1 m2 m3 m4 m5 m6 | rcli_at "$(queue_key default)" >/dev/null
pk=$(processing_key tw:many) ck=$(counters_key) fk=$(failed_key default)
for j in m1 m2 m3 m4 m5 m6; do rcli LREM "$(queue_key default)" 0 "$j" >/dev/null; done
for j in m1 m3 m4 m5 m6; do rcli LPUSH "$pk" "$j" >/dev/null; done
rcli HSET "$(job_key m3)" state running >/dev/null
ok0=$(rcli HGET "$ck" succeeded:echo) failed0=$(rcli HGET "$ck" failed:echo)
ts=2026-12-05T01:02:03.004Z
end_ok=(stage 1 result '{"n":1}' state succeeded updated_at "$ts" stage.1 'echo s 5')
end_failed=(stage 1 state failed error '{"code":"boom"}' updated_at "$ts" stage.1 'echo f 5')
many=$(rcli EVAL "$(lua_src finish_many)" 12 "$pk" "$ck" \
  "$(job_key m1)" "$fk" "$(job_key m2)" "$fk" "$(job_key m3)" "$fk" "$(job_key m4)" "$fk" \
  "$(job_key m5)" "$fk" tw:many "$(events_channel)" 100 \
  m1 600 "$ts" ${#end_ok[@]} "${end_ok[@]}" m2 600 "$ts" ${#end_ok[@]} "${end_ok[@]}" \
  m3 600 "$ts" ${#end_ok[@]} "${end_ok[@]}" m4 600 "$ts" 2 .keep result \
  m5 600 "$ts" ${#end_failed[@]} "${end_failed[@]}" | tr '\n' ' ')
check_eq "finish_many: fresh and on the list: ok; not on it, begun, a directive: again" \
  "ok again again again ok " "$many"
rcli EVAL "$(lua_src finish)" 6 "$(job_key m6)" "$pk" "$ck" "$(current_key)" "$(job_key m6)" "$fk" \
  1 600 m6 "$(events_channel)" 0 '' idle 0 tw:many "$ts" 604800 '' '' 100 .begun "$ts" \
  "${end_ok[@]}" >/dev/null
values() { rcli HGETALL "$(job_key "$1")" | paste - - | grep -v '^id	' | sort | tr '\n' ' '; }
check_eq "... the job it wrote holds what finish.lua's fast end writes" "$(values m6)" "$(values m1)"
check_eq "... its TTL" 1 "$(rcli TTL "$(job_key m1)" | awk '{ print ($1 > 500 && $1 <= 600) }')"
check_eq "... the ones it left are as they were" "queued running queued" \
  "$(for j in m2 m3 m4; do rcli HGET "$(job_key "$j")" state; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "... left on the list (m3, m4), the ended ones off it" "m4 m3" \
  "$(rcli LRANGE "$pk" 0 -1 | tr '\n' ' ' | sed 's/ $//')"
check_eq "... the failed one is in its queue's failed index" 1 "$(rcli ZSCORE "$fk" m5 | grep -c .)"
check_eq "... each end counted once" "$((ok0 + 2)) $((${failed0:-0} + 1))" \
  "$(rcli HGET "$ck" succeeded:echo) $(rcli HGET "$ck" failed:echo)"
rcli DEL "$pk" >/dev/null

# The ends of a backlog's jobs share writes (pipe.c): a call appended to the
# connection (rconn_script_append) is not written until flushed, or until the
# next call; then its reply is read as any other. (On a cluster a call is
# written at once: rconn_script_append.)
if ! on_cluster; then
  coproc PRB { "$BUILD/tests/e2e/rconn_probe" "$SQ_REDIS_URL" 5000 2>>"$STAGEQ_TEST_TMP/probe.err"; }
  probe_pid=$PRB_PID
  p() { ANS=""; echo "$*" >&"${PRB[1]}"; read -r -t 30 ANS <&"${PRB[0]}"; }
  rcli ZADD tw:{a}d 100 x1 >/dev/null
  p "append promote 2 tw:{a}d tw:{a}q 1000 10 tw:wk"
  check_eq "a call appended" appended "$ANS"
  p unsent
  check_eq "... waits in the output buffer" 1 "$ANS"
  check_eq "... not run by Redis yet" 0 "$(rcli LLEN tw:{a}q)"
  p flush
  check_eq "... written by a flush" flushed "$ANS"
  p read
  check_eq "... its reply read then (one id moved)" "i:1" "$ANS"
  check_eq "... run by Redis" 1 "$(rcli LLEN tw:{a}q)"
  p unsent
  check_eq "... nothing waits after it" 0 "$ANS"
  exec {PRB[1]}>&-
  wait "$probe_pid" 2>/dev/null
fi

# Retries whose backoff ends while a backlog drains are moved to the queue
# then, not after it (finish.lua keeps taking jobs: promotion must go on).
# Promotion runs once a second, so the backlog must outlast about 1.5 s: one
# worker process drains up to ~17,000 jobs/s here, so 40,000 jobs.
preload 5001 45000
rcli ZADD "$(delayed_key default)" "$(($(date +%s%3N) + 1000))" late >/dev/null
start_worker backlog3 --concurrency 1 --prefix tw
promoted() { [ "$(rcli ZCARD "$(delayed_key default)")" = 0 ]; }
check "a retry that falls due is promoted during the backlog" wait_for 20 promoted
left=$(rcli LLEN "$(queue_key default)")
echo "# jobs still queued when the retry was promoted: $left"
check "the backlog was not over yet" test "$left" -gt 0
stop_pid "$WORKER_PID" 10
rcli DEL "$(queue_key default)" >/dev/null

# SIGTERM in the middle of a backlog: whatever the worker took is handed back
# or finished, nothing is left running or on its processing list.
done2=$(rcli HGET "$(counters_key)" succeeded:echo)
preload 301 2300
start_worker backlog2 --concurrency 2 --prefix tw
some_done() { [ "$(rcli HGET "$(counters_key)" succeeded:echo)" -gt "$((done2 + 100))" ]; }
check "a second backlog starts draining" wait_for 30 some_done
stop_pid "$WORKER_PID" 10
check_eq "SIGTERM mid-backlog: exit 0" 0 "$STOP_RC"
succeeded=$(( $(rcli HGET "$(counters_key)" succeeded:echo) - done2 ))
queued=$(rcli LLEN "$(queue_key default)")
echo "# after SIGTERM: $succeeded succeeded, $queued queued"
check_eq "SIGTERM mid-backlog: every job succeeded or is queued" 2000 "$((succeeded + queued))"
check_eq "SIGTERM mid-backlog: no processing list left" "" "$(scan_keys "$(processing_key '*')")"
running=$(job_keys $(seq -f 'b%.0f' 301 2300) | sed 's/^/HGET /; s/$/ state/' | rcli | grep -c running)
check_eq "SIGTERM mid-backlog: no job left running" 0 "$running"
# the jobs it held (taken, never begun) were given their attempt back
charged=$(job_keys $(seq -f 'b%.0f' 301 2300) | sed 's/^/HMGET /; s/$/ state attempt/' | rcli |
  paste - - | awk '$1 == "queued" && $2 != 0' | wc -l)
check_eq "SIGTERM mid-backlog: no queued job is charged an attempt" 0 "$charged"
finish
