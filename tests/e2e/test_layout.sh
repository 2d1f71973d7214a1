#!/usr/bin/env bash
# test_layout: the job hash's layout (docs/redis-keys.md, "The job hash"): one
# field per stage, nothing stored that says nothing, so that a finished
# 4-stage job stays within its memory bound (MEMORY USAGE: bytes are
# deterministic); jobs of the layout before (four fields per stage, id,
# overall_progress, finished_at: as an older version wrote them) read, run,
# re-run and resume as they did; a re-run of a failed job resumes at its
# failed stage; a running job canceled; progress and messages a stage
# reported leave nothing behind once the job ends.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tlay
flush_prefix tlay
T=$STAGEQ_TEST_TMP
MARKS="$T/layout-marks"
mkdir -p "$MARKS"
rm -f "$T/tick.stop"
P="$T/pipelines-layout.json"
cat >"$P" <<EOF2
{"pipelines": {
  "fast4": {"stages": [{"name": "a", "builtin": "echo"}, {"name": "b", "builtin": "echo"},
                       {"name": "c", "builtin": "echo"}, {"name": "d", "builtin": "echo"}]},
  "once": {"max_attempts": 1,
           "stages": [{"name": "a", "builtin": "echo"},
                      {"name": "b", "exec": ["sh", "tests/stages/fail_once.sh", "$MARKS"]},
                      {"name": "c", "builtin": "echo"}]},
  "ticks": {"stages": [{"name": "a", "builtin": "echo"},
                       {"name": "b", "exec": ["sh", "tests/stages/tick_until.sh"]},
                       {"name": "c", "builtin": "echo"}]}
}}
EOF2
start_api api --pipelines "$P"
start_worker w --concurrency 2 --pipelines "$P"

field() { rcli HGET "$(job_key "$1")" "$2"; }
state_is() { [ "$(field "$1" state)" = "$2" ]; }
has() { [ "$(rcli HEXISTS "$(job_key "$1")" "$2")" = 1 ]; }
# none_of ID FIELD...: the hash of job ID holds none of FIELD
none_of() {
  local id=$1 f
  shift
  for f in "$@"; do has "$id" "$f" && { echo "# $id holds $f"; return 1; }; done
  return 0
}

# --- a finished 4-stage job: its fields and its memory ----------------------------
post_json "/v1/jobs?wait=30" '{"pipeline":"fast4","input":{}}'
id=$(jqr .id)
check_eq "a 4-stage job succeeds" succeeded "$(jqr .state)"
key=$(job_key "$id")
check_eq "its hash holds 21 fields" 21 "$(rcli HLEN "$key")"
check "none that says nothing or that another field holds (the id is the key's)" \
  none_of "$id" id overall_progress finished_at progress message next_attempt_at \
  resumed_from_stage next_stage hopped resume success_count stage_name stage.4.output stage.1.name \
  stage.1.state
for k in 1 2 3 4; do
  name=$(cut -c"$k" <<<abcd)
  check "stage.$k is '$name s <its end: ms after created_at>'" \
    grep -Eq "^$name s [0-9]+\$" <<<"$(field "$id" "stage.$k")"
done
usage=$(rcli MEMORY USAGE "$key")
echo "# MEMORY USAGE of the finished 4-stage job: $usage bytes"
check "its memory is within 640 bytes (MEMORY USAGE: $usage; 552 in docs/performance.md)" [ "$usage" -le 640 ]
http GET "/v1/jobs/$id"
check_eq "the status: its id, progress 1, overall_progress 1, the last output is the result" \
  "$id 1 1 {} {}" \
  "$(jqr '"\(.id) \(.progress) \(.overall_progress) \(.stages[3].output|tojson) \(.result|tojson)"')"
check_eq "... finished_at is updated_at, every stage's end the next one's start" "true true" \
  "$(jqr '"\(.finished_at == .updated_at and .finished_at != null) \([range(1;4) as $i | .stages[$i].started_at == .stages[$i-1].finished_at] | all)"')"
check_eq "... stage 1 started with the job" "$(jqr .started_at)" "$(jqr '.stages[0].started_at')"

# --- a job of the older layout, queued at the upgrade: run by today's worker ------
now=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
rcli HSET "$(job_key old-1)" id old-1 pipeline fast4 queue default state queued attempt 0 \
  max_attempts 1 input '{"n":1}' stage 0 stage_count 4 progress 0 overall_progress 0 \
  result_ttl_s 600 resume 1 created_at "$now" updated_at "$now" \
  stage.1.name a stage.1.state pending stage.2.name b stage.2.state pending \
  stage.3.name c stage.3.state pending stage.4.name d stage.4.state pending >/dev/null
rcli LPUSH "$(queue_key default)" old-1 >/dev/null
check "an older job queued at the upgrade succeeds" poll 30 state_is old-1 succeeded
http GET /v1/jobs/old-1
check_eq "its status: four stages succeeded, its result, overall_progress 1" \
  'old-1 ["succeeded","succeeded","succeeded","succeeded"] {"n":1} 1' \
  "$(jqr '"\(.id) \([.stages[].state]|tojson) \(.result|tojson) \(.overall_progress)"')"
check "its hash is in today's layout now" none_of old-1 overall_progress stage.1.name \
  stage.1.state stage.2.name stage.4.state stage.1.started_at
check_eq "... one field per stage" "a succeeded d succeeded" \
  "$(stage_part old-1 1 name) $(stage_part old-1 1 state) $(stage_part old-1 4 name) $(stage_part old-1 4 state)"

# --- an older finished job: read as it was written --------------------------------
rcli HSET "$(job_key old-2)" id old-2 pipeline fast4 queue default state succeeded attempt 1 \
  max_attempts 1 input '{}' stage 4 stage_name d stage_count 4 progress 1.0000 \
  overall_progress 1.0000 message '' result_ttl_s 600 resume 1 success_count 1 \
  worker host:1 next_attempt_at '' resumed_from_stage '' \
  created_at 2025-11-25T16:48:14.123Z started_at 2025-11-25T16:48:14.200Z \
  updated_at 2025-11-25T16:48:14.260Z finished_at 2025-11-25T16:48:14.260Z \
  stage.1.name a stage.1.state succeeded stage.1.started_at 2025-11-25T16:48:14.200Z \
  stage.1.finished_at 2025-11-25T16:48:14.210Z stage.1.output '{}' \
  stage.2.name b stage.2.state succeeded stage.2.started_at 2025-11-25T16:48:14.210Z \
  stage.2.finished_at 2025-11-25T16:48:14.230Z stage.2.output '{}' \
  stage.3.name c stage.3.state succeeded stage.3.started_at 2025-11-25T16:48:14.230Z \
  stage.3.finished_at 2025-11-25T16:48:14.245Z stage.3.output '{}' \
  stage.4.name d stage.4.state succeeded stage.4.started_at 2025-11-25T16:48:14.245Z \
  stage.4.finished_at 2025-11-25T16:48:14.260Z stage.4.output '[4]' result '[4]' >/dev/null
rcli EXPIRE "$(job_key old-2)" 600 >/dev/null
rcli ZADD "$(recent_key)" 1764089294123 old-2 >/dev/null # as its submit indexed it
http GET /v1/jobs/old-2
check_eq "an older finished job reads as written" \
  "old-2 a 2025-11-25T16:48:14.210Z 2025-11-25T16:48:14.230Z [4] 2025-11-25T16:48:14.260Z 1" \
  "$(jqr '"\(.id) \(.stages[0].name) \(.stages[1].started_at) \(.stages[1].finished_at) \(.stages[3].output|tojson) \(.finished_at) \(.overall_progress)"')"
http GET "/v1/jobs?limit=50"
check_eq "... and in the list" "old-2 2025-11-25T16:48:14.260Z 1 1" \
  "$(jqr '.jobs[] | select(.id == "old-2") | "\(.id) \(.finished_at) \(.progress) \(.overall_progress)"')"

# --- an older failed job, re-run: it resumes at its failed stage ------------------
: >"$MARKS/old-3" # stage b's next run succeeds (fail_once)
rcli HSET "$(job_key old-3)" id old-3 pipeline once queue default state failed attempt 1 \
  max_attempts 1 input '{"n":3}' stage 2 stage_name b stage_count 3 progress 0 \
  overall_progress 0.3333 message '' result_ttl_s 600 resume 1 worker host:1 \
  error '{"code":"exit_status"}' errors '[{"code":"exit_status"}]' \
  created_at 2025-11-25T16:48:14.123Z started_at 2025-11-25T16:48:14.200Z \
  updated_at 2025-11-25T16:48:15.000Z finished_at 2025-11-25T16:48:15.000Z \
  stage.1.name a stage.1.state succeeded stage.1.started_at 2025-11-25T16:48:14.200Z \
  stage.1.finished_at 2025-11-25T16:48:14.500Z stage.1.output '{"n":3}' \
  stage.2.name b stage.2.state failed stage.2.started_at 2025-11-25T16:48:14.500Z \
  stage.2.finished_at 2025-11-25T16:48:15.000Z stage.3.name c stage.3.state pending >/dev/null
rcli EXPIRE "$(job_key old-3)" 600 >/dev/null
http POST /v1/jobs/old-3/retry
check_eq "POST retry of an older failed job answers 202, queued" "202 queued" \
  "$HTTP_STATUS $(jqr .state)"
check "... and it succeeds" poll 30 state_is old-3 succeeded
http GET /v1/jobs/old-3
check_eq "... resumed at stage 2, stage 1 kept as it was (times, output)" \
  '2 2025-11-25T16:48:14.200Z 2025-11-25T16:48:14.500Z {"n":3}' \
  "$(jqr '"\(.resumed_from_stage) \(.stages[0].started_at) \(.stages[0].finished_at) \(.result|tojson)"')"
check_eq "... stage b ran once" 1 "$(grep -c '^old-3$' "$MARKS/runs")"

# --- a failed job of today's layout, re-run: it resumes at its failed stage -------
post_json /v1/jobs '{"pipeline":"once","id":"new-3","input":{"n":4}}'
check "a job whose stage b fails its first run ends failed" poll 30 state_is new-3 failed
check_eq "... stage 1 succeeded, stage 2 failed, stage 3 pending (their fields)" \
  "succeeded failed pending" \
  "$(stage_part new-3 1 state) $(stage_part new-3 2 state) $(stage_part new-3 3 state)"
s1=$(field new-3 stage.1)
http POST /v1/jobs/new-3/retry
check_eq "POST retry answers 202" 202 "$HTTP_STATUS"
check "... and it succeeds" poll 30 state_is new-3 succeeded
check_eq "... resumed at stage 2, stage 1's field and output kept, b ran twice" \
  "2 $s1 true 2" \
  "$(field new-3 resumed_from_stage) $(field new-3 stage.1) $(has new-3 stage.1.output && echo true) $(grep -c '^new-3$' "$MARKS/runs")"

# --- a running job canceled ---------------------------------------------------------
post_json /v1/jobs '{"pipeline":"ticks","id":"can-1","input":{}}'
ticking() { state_is "$1" running && [ "$(field "$1" stage)" = 2 ] && has "$1" message; }
check "a job reports progress and a message in stage 2" poll 30 ticking can-1
check_eq "... held in the hash while it runs" "true true running" \
  "$(has can-1 progress && echo true) $(has can-1 message && echo true) $(stage_part can-1 2 state)"
http DELETE /v1/jobs/can-1
check_eq "DELETE of the running job answers 200, canceled" "200 canceled" \
  "$HTTP_STATUS $(jqr .state)"
let_go() { [ "$(rcli LLEN "$(processing_key "$(field can-1 worker)")")" = 0 ]; }
check "its worker lets it go" poll 10 let_go
http GET /v1/jobs/can-1
check_eq "stage 2 canceled at the job's end, stage 3 pending" \
  "canceled true pending true" \
  "$(jqr '"\(.stages[1].state) \(.stages[1].finished_at == .finished_at and .finished_at == .updated_at) \(.stages[2].state) \(.stages[1].started_at == .stages[0].finished_at)"')"
check "... its field: 'b c <ms>'" grep -Eq '^b c [0-9]+$' <<<"$(field can-1 stage.2)"
check "... no finished_at stored (its end is updated_at)" none_of can-1 finished_at

# --- progress and a message, then the end: nothing is left that says nothing ------
post_json /v1/jobs '{"pipeline":"ticks","id":"tick-1","input":{}}'
check "a job reports progress and a message in stage 2" poll 30 ticking tick-1
: >"$T/tick.stop"
check "... and succeeds" poll 30 state_is tick-1 succeeded
check "progress and message are gone with the end" none_of tick-1 progress message \
  overall_progress finished_at
http GET /v1/jobs/tick-1
check_eq "... the status shows progress 1 and no message" "1 null 1" \
  "$(jqr '"\(.progress) \(.message) \(.overall_progress)"')"

finish
