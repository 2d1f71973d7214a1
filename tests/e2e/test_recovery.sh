#!/usr/bin/env bash
# test_recovery: no job is lost — leases and recovery of a killed pool,
# resuming at the unfinished stage, fencing of a late writer, worker_lost past
# max_attempts, graceful shutdown handing jobs back at once, a Redis outage in
# the middle of a stage, backpressure (429), and the live-worker registry.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tr
P=tests/e2e/pipelines-recovery.json
sq_redis rec --appendonly yes --appendfsync everysec
start_api api --pipelines "$P" --max-queue 3
W="--pipelines $P --lease 2 --kill-grace-ms 300"

field() { rcli HGET "$(job_key "$1")" "$2"; }
state_is() { [ "$(field "$1" state)" = "$2" ]; }
stage_is() { state_is "$1" running && [ "$(field "$1" stage)" = "$2" ]; }
submit() { post_json /v1/jobs "{\"pipeline\":\"$1\",\"input\":$2}"; JOB=$(jqr .id); }

# Pool R only recovers: it serves another queue, so jobs of "default" are
# steered to the pools each case starts. (SIGSTOP is no way to steer: Redis
# still hands a job to a stopped process whose BLMOVE was already waiting.)
start_worker poolR $W --concurrency 1 --queue other
POOL_R=$WORKER_PID
sleep 2.5 # it must have been healthy for a whole lease before it judges others

# --- a whole pool killed with -9 mid-stage: the job resumes elsewhere -------------
start_worker poolA $W --concurrency 1
POOL_A=$WORKER_PID
submit long '{"sleep":4}'
id=$JOB
check "pool A runs stage 2" wait_for 10 stage_is "$id" 2
http GET "/v1/jobs/$id"
s1_done=$(jqr '.stages[0].finished_at')
check "stage 1 has ended" [ -n "$s1_done" ] && [ "$s1_done" != null ]
t0=$(date +%s%N)
kill -9 "$POOL_A" $(pgrep -P "$POOL_A")
check "the lost job is back on its queue after the lease (2 s)" wait_for 10 state_is "$id" queued
t1=$(date +%s%N)
echo "# recovery took $(((t1 - t0) / 1000000)) ms"
check "first in line" test "$(rcli LINDEX "$(queue_key default)" -1)" = "$id"
no_stage_of() { [ -z "$(stage_pids "$1")" ]; }
check "the stage program of the killed pool is gone" wait_for 3 no_stage_of "$id"
# shorten the rerun of stage 2 (4 s): it takes stage 1's stored output as its
# input, so the result below also shows that the rerun used it
rcli HSET "$(job_key "$id")" stage.1.output '{"sleep":0.5}' >/dev/null
start_worker poolA2 $W --concurrency 1
POOL_A2=$WORKER_PID
check "another pool then finishes it" wait_for 15 state_is "$id" succeeded
http GET "/v1/jobs/$id"
check_eq "it resumed at stage 2, not stage 1" 2 "$(jqr .resumed_from_stage)"
check_eq "stage 1 was not run again" "$s1_done" "$(jqr '.stages[0].finished_at')"
check_eq "the first attempt's error says worker_lost in stage 2" "worker_lost 2 2" \
  "$(jqr '[.errors[0].code, .errors[0].stage_index, .attempt] | map(tostring) | join(" ")')"
check_eq "it was recorded succeeded exactly once" 1 "$(once_count "$id")"
check_eq "the output chain is intact (from stage 1's stored output)" 0.5 "$(jqr .result.sleep)"
stop_pid "$POOL_A2" 10

# --- no attempt left: worker_lost ---------------------------------------------------
start_worker poolC $W --concurrency 1
POOL_C=$WORKER_PID
submit once '{"sleep":5}'
id=$JOB
check "pool C runs a single-attempt job" wait_for 10 stage_is "$id" 1
kill -9 "$POOL_C" $(pgrep -P "$POOL_C")
check "past max_attempts a lost job fails" wait_for 10 state_is "$id" failed
check_eq "with error worker_lost" worker_lost "$(field "$id" error | jq -r .code)"
check_eq "... and it joins its queue's failed index (recover.lua)" 1 \
  "$(rcli ZSCORE "$(sq_keys failed "$(field "$id" queue)")" "$id" | grep -c .)"

# --- a frozen worker's late writes are refused (fencing) ----------------------------
start_worker poolD $W --concurrency 1
POOL_D=$WORKER_PID
submit long '{"sleep":2}'
id=$JOB
check "pool D runs stage 2" wait_for 10 stage_is "$id" 2
frozen=$(pgrep -P "$POOL_D")
stage_prog=$(pgrep -P "$frozen")
kill -STOP "$frozen" $stage_prog # the child and its stage program freeze
check "the frozen worker's job is recovered" wait_for 10 state_is "$id" queued
start_worker poolD2 $W --concurrency 1
POOL_D2=$WORKER_PID
check "another pool finishes it" wait_for 15 state_is "$id" succeeded
stop_pid "$POOL_D2" 10
kill -CONT $stage_prog "$frozen"
thawed_tried() { grep -q "job is fenced\|job is succeeded\|job is queued\|stopped in stage" "$STAGEQ_TEST_TMP/poolD.log"; }
check "the thawed worker tries to write and is told why not" wait_for 10 thawed_tried
check_eq "its late writes were refused (recorded succeeded once, in attempt 2)" "succeeded 1 2" \
  "$(field "$id" state) $(once_count "$id") $(field "$id" attempt)"
stop_pid "$POOL_D" 5

# --- graceful shutdown: SIGTERM hands the job back at once --------------------------
start_worker poolE $W --concurrency 1 --grace 1
POOL_E=$WORKER_PID
submit long '{"sleep":30}'
id=$JOB
check "pool E runs stage 2" wait_for 10 stage_is "$id" 2
t0=$(date +%s%N)
stop_pid "$POOL_E" 15
t1=$(date +%s%N)
check_eq "SIGTERM: the pool exits 0" 0 "$STOP_RC"
check "it stopped within grace (1 s) + a little, not after the 30 s stage" \
  test $(((t1 - t0) / 1000000)) -lt 5000
check_eq "the job is back on its queue at once, at stage 2" "queued succeeded pending" \
  "$(field "$id" state) $(stage_part "$id" 1 state) $(stage_part "$id" 2 state)"
check_eq "first in line" "$id" "$(rcli LINDEX "$(queue_key default)" -1)"
check "no stage program left" wait_for 3 no_stage_of "$id"
rcli HSET "$(job_key "$id")" stage.1.output '{"sleep":0.5}' >/dev/null # shorten the rerun
start_worker poolE2 $W --concurrency 1
POOL_E2=$WORKER_PID
check "a new pool resumes it" wait_for 15 state_is "$id" succeeded
check_eq "at stage 2" 2 "$(field "$id" resumed_from_stage)"

# --- SIGTERM between stages: the finished stage is kept, the rest runs elsewhere ---
submit long '{"sleep":1.5}'
id=$JOB
check "pool E2 runs stage 2" wait_for 10 stage_is "$id" 2
stop_pid "$POOL_E2" 15
check_eq "a stage finishing within grace is recorded, the job handed back before stage 3" \
  "queued succeeded succeeded pending" \
  "$(field "$id" state) $(stage_part "$id" 1 state) $(stage_part "$id" 2 state) $(stage_part "$id" 3 state)"
start_worker poolE3 $W --concurrency 1
POOL_E3=$WORKER_PID
check "and it resumes at stage 3" wait_for 10 state_is "$id" succeeded
check_eq "resumed_from_stage is 3" 3 "$(field "$id" resumed_from_stage)"

# --- resume can be turned off ----------------------------------------------------------
stop_pid "$POOL_E3" 10
start_worker poolF $W --concurrency 1
POOL_F=$WORKER_PID
submit noresume '{"sleep":3}'
id=$JOB
check "pool F runs stage 2 of a no-resume pipeline" wait_for 10 stage_is "$id" 2
kill -9 "$POOL_F" $(pgrep -P "$POOL_F")
check "it is recovered" wait_for 10 state_is "$id" queued
rcli HSET "$(job_key "$id")" input '{"sleep":0.5}' >/dev/null # shorten the rerun (3 s), which starts from the input
start_worker poolF2 $W --concurrency 1
check "and succeeds" wait_for 20 state_is "$id" succeeded
check_eq "having started again at stage 1" "2 " "$(field "$id" attempt) $(field "$id" resumed_from_stage)"
check_eq "... from the job's input" 0.5 "$(field "$id" result | jq -r .sleep)"

# --- a retry resumes at the failed stage ----------------------------------------------
submit flaky '{"x":1}'
id=$JOB
check "a job failing once in stage 2 succeeds on its retry" wait_for 15 state_is "$id" succeeded
check_eq "the retry resumed at stage 2" "2 2 exit_status" \
  "$(field "$id" attempt) $(field "$id" resumed_from_stage) $(field "$id" errors | jq -r '.[0].code')"

# --- Redis goes away in the middle of a stage ------------------------------------------
submit long '{"sleep":3}'
id=$JOB
check "a job is in its 3 s stage" wait_for 10 stage_is "$id" 2
sq_redis_down rec
sleep 2
sq_redis_up rec
check "after Redis (AOF) restarts, the job is still there and finishes" wait_for 20 state_is "$id" succeeded
check_eq "in one attempt" "1 1" "$(field "$id" attempt) $(once_count "$id")"

ready() { http GET /readyz; [ "$HTTP_STATUS" = 200 ]; }
check "the API is ready again by itself" wait_for 5 ready

# --- backpressure --------------------------------------------------------------------
for i in 1 2 3; do post_json /v1/jobs '{"pipeline":"idle"}'; done
check_eq "up to --max-queue jobs are accepted" 202 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"idle"}'
check_eq "beyond it: 429 queue_full" "429 queue_full" "$HTTP_STATUS $(jqr .error.code)"
check "with Retry-After" grep -qi '^retry-after:' <<<"$HTTP_HEADERS"
check_eq "and nothing written" 3 "$(rcli LLEN "$(queue_key idle)")"

# --- the live-worker registry ------------------------------------------------------------
b_child=$(pgrep -P "$POOL_R")
check "a live worker is in the registry (workers)" test -n "$(rcli ZSCORE "$(workers_key)" "$(hostname):$b_child")"
check "its info hash says what it is" test "$(rcli HGET "$(worker_key "$(hostname):$b_child")" pid)" = "$b_child"
ttl=$(rcli TTL "$(worker_key "$(hostname):$b_child")")
check "and expires by itself" test "$ttl" -gt 0 -a "$ttl" -le 4
dead_gone() { [ "$(rcli ZCARD "$(workers_key)")" = 1 ]; }
stop_pid "$WORKER_PID" 10 # pool F2
check "lost workers are forgotten once their jobs are recovered" wait_for 10 dead_gone
stop_pid "$POOL_R" 10
check_eq "a cleanly stopped worker leaves the registry" 0 "$(rcli ZCARD "$(workers_key)")"
finish
