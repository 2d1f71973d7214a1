#!/usr/bin/env bash
# test_hop: stages that move between pools. A 3-stage pipeline over two queues
# (prep and pack on "cpu", fit on "gpu"): the job waits on the gpu queue after
# prep, its status says so, it can be canceled there, a failing fit is retried
# on the gpu queue, a pool killed with -9 mid-run is recovered onto the queue
# of the stage it ran, and every job succeeds exactly once. A worker checks
# only the programs of the stages its pool runs.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=th
P=tests/e2e/pipelines-hop.json
HOP_MARKS="$STAGEQ_TEST_TMP/marks"
export HOP_MARKS
: >"$HOP_MARKS"
start_api api --pipelines "$P"
W="--pipelines $P --lease 2 --kill-grace-ms 300"

field() { rcli HGET "$(job_key "$1")" "$2"; }
state_is() { [ "$(field "$1" state)" = "$2" ]; }
waits_on_gpu() { state_is "$1" queued && [ "$(field "$1" queue)" = gpu ]; }
submit() { post_json /v1/jobs "{\"pipeline\":\"hop\",\"input\":$1}"; JOB=$(jqr .id); }
# runs JOB STAGE WHAT: how many times the stage program marked WHAT (start, done)
runs() { grep -c "^$3 $1 $2 " "$HOP_MARKS"; }

# --- a worker checks only the programs of its pool's stages ---------------------
missing="$STAGEQ_TEST_TMP/pipelines-missing.json"
sed 's|"queue": "gpu", "exec": \["python3", "tests/stages/hop_mark.py"\]|"queue": "gpu", "exec": ["tests/stages/no-such-program"]|' \
  "$P" >"$missing"
sq_run stageq-worker --redis-url "$SQ_REDIS_URL" --pipelines "$missing" \
  --queue gpu >"$STAGEQ_TEST_TMP/gpu-missing.log" 2>&1
rc=$?
check_eq "a gpu pool refuses a gpu stage whose program is missing" 2 "$rc"
check "and names it" grep -q "no-such-program" "$STAGEQ_TEST_TMP/gpu-missing.log"
start_worker cpu-missing $W --queue cpu --concurrency 1 --pipelines "$missing"
CPU_MISSING=$WORKER_PID
cpu_started() { grep -q "starting 1 worker process" "$STAGEQ_TEST_TMP/cpu-missing.log"; }
check "a cpu pool starts: the gpu stage's program is not its concern" poll 20 cpu_started
check "and keeps running" kill -0 "$CPU_MISSING"
stop_pid "$CPU_MISSING" 10

# --- the pipeline as the API shows it ----------------------------------------------
http GET /v1/pipelines
check_eq "GET /v1/pipelines shows each stage's queue" "null gpu null" \
  "$(jqr '[.pipelines[] | select(.name == "hop") | .stages[].queue] | map(tostring) | join(" ")')"

# --- a job waits on the gpu queue after prep ---------------------------------------
start_worker cpu $W --queue cpu --concurrency 2
CPU=$WORKER_PID
submit '{"trace":[]}'
a=$JOB
check "after prep (cpu), the job waits on the gpu queue" poll 30 waits_on_gpu "$a"
http GET "/v1/jobs/$a"
check_eq "its status: queued on gpu, stage 1 done, next stage 2 (fit)" \
  "queued gpu 1 prep 2 fit succeeded pending cpu gpu cpu 1" \
  "$(jqr '[.state, .queue, .stage, .stage_name, .next_stage, .next_stage_name,
           .stages[0].state, .stages[1].state, (.stages[] | .queue), .attempt] | map(tostring) | join(" ")')"
check_eq "prep's output is kept" '["prep"]' "$(jqr -c '.stages[0].output.trace')"
cli_out=$(STAGEQ_URL=$API_URL sq_run stageq status "$a" 2>&1 </dev/null)
check "stageq status says it waits for stage 2 fit on queue gpu" \
  grep -q '^waits for: stage 2 fit on queue gpu$' <<<"$cli_out"
check_eq "the gpu queue holds it, the cpu queue does not" "1 0" \
  "$(rcli LLEN "$(queue_key gpu)") $(rcli LLEN "$(queue_key cpu)")"
http GET /v1/stats
check_eq "GET /v1/stats counts it on the gpu queue" "1 0" \
  "$(jqr '[.queues.gpu.queued, .queues.cpu.queued] | map(tostring) | join(" ")')"
http GET /metrics
check "GET /metrics counts it on the gpu queue" \
  grep -q '^stageq_queue_depth{queue="gpu"} 1$' <<<"$HTTP_BODY"
check_eq "prep ran once, fit not yet" "1 0" "$(runs "$a" prep start) $(runs "$a" fit start)"

# --- cancel while waiting on the gpu queue ------------------------------------------
submit '{"trace":[]}'
b=$JOB
check "a second job waits on gpu" poll 30 waits_on_gpu "$b"
http DELETE "/v1/jobs/$b"
check_eq "DELETE cancels it there (200, was queued)" "200 queued" \
  "$HTTP_STATUS $(jqr .previous_state)"
check_eq "it is off the gpu queue" "" "$(rcli LPOS "$(queue_key gpu)" "$b")"

# --- a failing gpu stage is retried on the gpu queue --------------------------------
post_json /v1/jobs '{"pipeline":"hop","input":{"trace":[],"fail":"fit"}}'
c=$(jqr .id)
check "a third job waits on gpu" poll 30 waits_on_gpu "$c"

# --- a hop's continuation begun but never run is handed back as it was --------------
# (a worker stopping, or one that held it behind a slow job: requeue.lua's
# unstarted form). The steps a gpu worker takes, on Redis itself: BLMOVE, then
# start.lua, then requeue.lua; the scripts as the worker sends them.
submit '{"trace":[]}'
d=$JOB
check "a fourth job waits on gpu" poll 30 waits_on_gpu "$d"
rcli LREM "$(queue_key gpu)" 1 "$d" >/dev/null
rcli LPUSH "$(processing_key fake:1)" "$d" >/dev/null
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
rcli EVAL "$(lua_src start)" 3 "$(job_key "$d")" "$(processing_key fake:1)" "$(current_key)" \
  "$d" fake:1 "$now" 604800 "$(events_channel)" 0 >/dev/null
check_eq "begun on gpu at stage 2, in the same attempt" "running 2 1 1" \
  "$(field "$d" state) $(field "$d" stage) $(field "$d" attempt) $(field "$d" hopped)"
check_eq "handed back unstarted: ok" ok \
  "$(rcli EVAL "$(lua_src requeue)" 4 "$(job_key "$d")" "$(processing_key fake:1)" "$(queue_key gpu)" \
       "$(current_key)" 1 "$d" "$now" 2 1 1 fake:1 "$(events_channel)" "$(wake_channel gpu)")"
check_eq "it waits for stage 2 on gpu again, attempt 1 kept" "queued gpu 1 2 1 pending" \
  "$(field "$d" state) $(field "$d" queue) $(field "$d" stage) $(field "$d" next_stage) $(field "$d" attempt) $(stage_part "$d" 2 state)"
check_eq "back at the front of the gpu queue, off the worker's list" "$d 0" \
  "$(rcli LINDEX "$(queue_key gpu)" -1) $(rcli LLEN "$(processing_key fake:1)")"

# SSE of job a, through the hand-over and to its end
curl -sN --max-time 60 "$API_URL/v1/jobs/$a/events" >"$STAGEQ_TEST_TMP/a.sse" 2>/dev/null &
SSE=$!
sleep 0.5
start_worker gpu $W --queue gpu --concurrency 2
GPU=$WORKER_PID
in_gpu_delayed() { [ -n "$(rcli ZSCORE "$(delayed_key gpu)" "$c")" ] && state_is "$c" queued; }
check "job c's failed fit waits for its backoff in the gpu queue's delayed set" poll 30 in_gpu_delayed "$c"
check_eq "on queue gpu, stage 1 kept" "gpu succeeded pending" \
  "$(field "$c" queue) $(stage_part "$c" 1 state) $(stage_part "$c" 2 state)"
check "job a succeeds once the gpu pool runs fit" poll 60 state_is "$a" succeeded
http GET "/v1/jobs/$a"
check_eq "its result went through prep, fit and pack once each" '["prep","fit","pack"]' \
  "$(jqr -c .result.trace)"
check_eq "in one attempt, recorded succeeded once" "1 1" "$(jqr .attempt) $(once_count "$a")"
check_eq "each stage ran once" "1 1 1" "$(runs "$a" prep start) $(runs "$a" fit start) $(runs "$a" pack start)"
# the pool a stage ran in: its worker process is a child of that pool's supervisor
pool_of() {
  local w
  w=$(grep "^start $1 $2 " "$HOP_MARKS" | awk '{print $6}')
  if pgrep -P "$CPU" | grep -qx "$w"; then echo cpu; elif pgrep -P "$GPU" | grep -qx "$w"; then echo gpu; else echo "?"; fi
}
check_eq "the stages ran on their queues' pools" "cpu gpu cpu" \
  "$(pool_of "$a" prep) $(pool_of "$a" fit) $(pool_of "$a" pack)"
wait "$SSE"
check "its events showed it waiting for fit on gpu, then succeeded" \
  grep -q '"next_stage":2' "$STAGEQ_TEST_TMP/a.sse"
check "and ended succeeded" grep -q '"state":"succeeded"' "$STAGEQ_TEST_TMP/a.sse"

check "then the gpu pool runs fit again and it succeeds" poll 60 state_is "$c" succeeded
http GET "/v1/jobs/$c"
check_eq "attempt 2, the first attempt's error in fit, result through each stage once" \
  'fit 2 ["prep","fit","pack"]' "$(jqr '.errors[0].stage') $(jqr .attempt) $(jqr -c .result.trace)"
check_eq "prep once, fit twice (attempts 1 and 2), pack once" "1 2 1 1" \
  "$(runs "$c" prep start) $(runs "$c" fit start) $(runs "$c" fit done) $(runs "$c" pack start)"
check "job d succeeds" poll 60 state_is "$d" succeeded
check_eq "in attempt 1, fit run once" "1 1" "$(field "$d" attempt) $(runs "$d" fit start)"
sleep 1
check_eq "the canceled job never ran fit" "canceled 0" "$(field "$b" state) $(runs "$b" fit start)"

# --- kill -9 a pool mid-run, restart it: every job succeeds exactly once -------------
N=10
ids=()
for i in $(seq 1 $N); do
  submit '{"trace":[],"sleep":{"prep":0.3,"fit":1.0,"pack":1.0}}'
  ids+=("$JOB")
done
# any_runs K: one of the jobs runs stage K (their states read in one redis-cli)
any_runs() {
  job_keys "${ids[@]}" | sed 's/^/HMGET /; s/$/ state stage/' | rcli | paste -d' ' - - | grep -qx "running $1"
}
check "the gpu pool runs fit" poll 60 any_runs 2
kill -9 "$GPU" $(pgrep -P "$GPU")
wait "$GPU" 2>/dev/null
gpu_waits() { [ "$(rcli LLEN "$(queue_key gpu)")" -gt 0 ]; }
check "a fit of the killed pool goes back to the gpu queue (lease 2 s)" \
  poll 30 gpu_waits
start_worker gpu2 $W --queue gpu --concurrency 2
GPU=$WORKER_PID
check "the cpu pool runs pack" poll 60 any_runs 3
kill -9 "$CPU" $(pgrep -P "$CPU")
wait "$CPU" 2>/dev/null
start_worker cpu2 $W --queue cpu --concurrency 2
CPU=$WORKER_PID
all_done() { local j; for j in "${ids[@]}"; do state_is "$j" succeeded || return 1; done; }
check "every job succeeds" poll 120 all_done
bad=0 extra=0
for j in "${ids[@]}"; do
  [ "$(once_count "$j")" = 1 ] || bad=$((bad + 1))
  [ "$(field "$j" result | jq -c .trace)" = '["prep","fit","pack"]' ] || bad=$((bad + 1))
  for s in prep fit pack; do
    n=$(runs "$j" "$s" start)
    [ "$n" -ge 1 ] || bad=$((bad + 1))
    extra=$((extra + n - 1))
  done
done
check_eq "each recorded succeeded once, its result through each stage once" 0 "$bad"
echo "# stage runs again after the kills: $extra"
check "only stages in flight in a killed pool ran again (at most 2 per kill)" test "$extra" -le 4
check_eq "nothing left on the queues or the processing lists" "0 0 0" \
  "$(rcli LLEN "$(queue_key cpu)") $(rcli LLEN "$(queue_key gpu)") $(scan_keys "$(processing_key '*')" | while read -r k; do rcli LLEN "$k"; done | awk '{s += $1} END {print s + 0}')"
finish
