#!/usr/bin/env bash
# test_bulk: POST /v1/jobs with a JSON array — every element submitted as a
# single POST would be, each with its own answer in order (202 when all were
# accepted, 207 when some were refused), bounded in count (413) and body
# size; the jobs run; a retry of the same array is safe; Redis away answers
# each element 503 and creates nothing half-way; the CLI's submit-many and the
# Python client's submit_many use it. On a cluster the elements of one array
# land on several nodes (a queue of 4 partitions). The jobs of an array that
# share a slot are one submit_many.lua call: mixed partitions (a queue of 3
# beside queues of 1 and 4), an id given twice in one array, a queue that
# fills up mid-array (per partition), scheduled elements, the events
# published, the recent index and counters, and --min-replicas. A slot's jobs
# go in several calls (the first small, sent while the rest is prepared):
# an array of more than one call keeps the order, the repeats and the
# refusals across the calls' bounds.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tbk
sq_redis bk
P="$STAGEQ_TEST_TMP/pipelines.json"
cat >"$P" <<'EOF'
{"queues": {"bq": {"partitions": 4}, "tq": {"partitions": 3}},
 "pipelines": {
  "fast4": {"stages": [{"name": "a", "builtin": "echo"}, {"name": "b", "builtin": "echo"},
                       {"name": "c", "builtin": "echo"}, {"name": "d", "builtin": "echo"}]},
  "wide": {"queue": "bq", "stages": [{"name": "a", "builtin": "echo"}]},
  "tri": {"queue": "tq", "stages": [{"name": "a", "builtin": "echo"}]},
  "fill": {"queue": "fq", "stages": [{"name": "a", "builtin": "echo"}]},
  "fill2": {"queue": "gq", "stages": [{"name": "a", "builtin": "echo"}]}
}}
EOF
start_api api --pipelines "$P" --max-body 200000
T=$STAGEQ_TEST_TMP

# --- all accepted: 202, one answer per element, in order ---------------------
post_json /v1/jobs '[{"pipeline":"fast4","id":"b-1","input":{"n":1.50}},
  {"pipeline":"fast4","id":"b-2","input":[1,2]},{"pipeline":"wide","id":"b-3"}]'
check_eq "an array of 3 valid jobs answers 202" 202 "$HTTP_STATUS"
# the API's first call of a script on a connection is an EVAL (it loads it):
# the calls pipelined behind it are not refused NOSCRIPT and sent again
check_eq "... no call was refused NOSCRIPT on the fresh Redis" 0 "$(noscript_count)"
check_eq "... accepted 3, refused 0" "3 0" "$(jqr '"\(.accepted) \(.refused)"')"
check_eq "... one answer per job, in the order sent" "b-1 b-2 b-3" "$(jqr '[.jobs[].id] | join(" ")')"
check_eq "... each with status 202 and its URLs" "202 /v1/jobs/b-2 /v1/jobs/b-2/events queued" \
  "$(jqr '.jobs[1] | "\(.status) \(.status_url) \(.events_url) \(.state)"')"
check_eq "... no Location header (several jobs)" "" \
  "$(printf '%s' "$HTTP_HEADERS" | grep -i '^location:')"
check_eq "the jobs are in Redis, their input as sent" '{"n":1.50}' \
  "$(rcli HGET "$(job_key b-1)" input)"
k3=$(sq_key job b-3 "$(part_of b-3 4)" 4)
check_eq "... the partitioned queue's job too, in its partition" wide "$(rcli_at "$k3" HGET "$k3" pipeline)"

# --- some refused: 207, the others created all the same -----------------------
post_json /v1/jobs '[{"pipeline":"fast4","id":"m-1"},{"pipeline":"nope"},
  {"pipeline":"fast4","id":"b-1","input":{"n":2}},"text",{"pipeline":"fast4","bogus":1},
  {"pipeline":"fast4","id":"bad id"},{"pipeline":"fast4","id":"m-2"}]'
check_eq "an array with refused jobs answers 207" 207 "$HTTP_STATUS"
check_eq "... accepted 2, refused 5" "2 5" "$(jqr '"\(.accepted) \(.refused)"')"
check_eq "... each answer's status, in order" "202 422 409 400 422 400 202" \
  "$(jqr '[.jobs[].status] | map(tostring) | join(" ")')"
check_eq "... the same error codes a single POST gives" \
  "unknown_pipeline duplicate_id invalid_request unknown_field invalid_id" \
  "$(jqr '[.jobs[].error.code | select(. != null)] | join(" ")')"
check_eq "... the valid ones exist" "queued queued" \
  "$(rcli HGET "$(job_key m-1)" state) $(rcli HGET "$(job_key m-2)" state)"
check_eq "... the refused one with a taken id left it alone" '{"n":1.50}' \
  "$(rcli HGET "$(job_key b-1)" input)"

# --- a retry of the same array: safe, nothing created twice -----------------------
post_json /v1/jobs '[{"pipeline":"fast4","id":"b-1","input":{"n":1.50}},
  {"pipeline":"fast4","id":"b-2","input":[1,2]},{"pipeline":"wide","id":"b-3"}]'
check_eq "the same array again answers 202 (each the same request again)" "202 202 202 202" \
  "$HTTP_STATUS $(jqr '[.jobs[].status] | map(tostring) | join(" ")')"

# --- mixed partitions in one array: each job in its own partition's slot ------------
submitted() { # PIPELINE P: the submitted:PIPELINE counts summed over P partitions
  local j s=0 k
  for j in $(seq 0 $(($2 - 1))); do
    k=$(counters_key "$j" "$2")
    s=$((s + $(rcli_at "$k" HGET "$k" "submitted:$1" | sed 's/^$/0/')))
  done
  echo "$s"
}
before_tri=$(submitted tri 3) before_fast=$(submitted fast4 1)
redis-cli -p "$REDIS_PORT" SUBSCRIBE "$(events_channel)" >"$T/events.out" 2>&1 &
SUB_PID=$!
SQ_PIDS="$SQ_PIDS $SUB_PID"
subscribed() { [ "$(numsub "$(events_channel)")" -ge 1 ]; }
check "a subscriber listens on the events channel" wait_for 10 subscribed
arr='[' ids=''
for i in $(seq 0 8); do
  arr="$arr{\"pipeline\":\"tri\",\"id\":\"x-$i\",\"input\":$i},"
  [ $((i % 3)) = 0 ] && arr="$arr{\"pipeline\":\"fast4\",\"id\":\"xf-$i\"},{\"pipeline\":\"wide\",\"id\":\"xw-$i\"},"
  ids="$ids x-$i"
  [ $((i % 3)) = 0 ] && ids="$ids xf-$i xw-$i"
done
post_json /v1/jobs "${arr%,}]"
check_eq "an array over queues of 3, 1 and 4 partitions: 202, 15 accepted" "202 15" \
  "$HTTP_STATUS $(jqr .accepted)"
check_eq "... one answer per job, in the order sent" "${ids# }" "$(jqr '[.jobs[].id] | join(" ")')"
parts_seen=''
for i in $(seq 0 8); do
  j=$(part_of "x-$i" 3)
  k=$(sq_key job "x-$i" "$j" 3)
  q=$(queue_key tq "$j" 3)
  r=$(recent_key "$j" 3)
  [ "$(rcli_at "$k" HGET "$k" input)" = "$i" ] &&
    [ -n "$(rcli_at "$q" LPOS "$q" "x-$i")" ] &&
    [ -n "$(rcli_at "$r" ZSCORE "$r" "x-$i")" ] && parts_seen="$parts_seen $j"
done
check_eq "... each tri job in its partition: hash, list and recent index there" 9 \
  "$(echo "$parts_seen" | wc -w)"
check_eq "... the 9 ids spread over the 3 partitions" 3 \
  "$(echo "$parts_seen" | tr ' ' '\n' | grep . | sort -u | wc -l)"
check_eq "... counted: submitted:tri +9, submitted:fast4 +3" "$((before_tri + 9)) $((before_fast + 3))" \
  "$(submitted tri 3) $(submitted fast4 1)"
all_heard() { [ "$(grep -c -E '^x[fw]?-[0-9]$' "$T/events.out")" -ge 15 ]; }
check "... every job's id published on the events channel" wait_for 10 all_heard
kill "$SUB_PID" 2>/dev/null

# --- an id given twice (or thrice) in one array ---------------------------------------
before_fast=$(submitted fast4 1)
post_json /v1/jobs '[{"pipeline":"fast4","id":"d-1","input":1},{"pipeline":"fast4","id":"d-1","input":1},
  {"pipeline":"fast4","id":"d-1","input":2},{"pipeline":"fast4","id":"d-2"}]'
check_eq "an id repeated in one array: the same request again 202, another 409" \
  "207 202 202 409 202 duplicate_id" \
  "$HTTP_STATUS $(jqr '[.jobs[].status] | map(tostring) | join(" ")') $(jqr '.jobs[2].error.code')"
check_eq "... the repeat answers the job's state" "queued queued" "$(jqr '"\(.jobs[0].state) \(.jobs[1].state)"')"
check_eq "... d-1 created once: on its list once, its input the first's, counted once" "1 1 $((before_fast + 2))" \
  "$(rcli LRANGE "$(queue_key default)" 0 -1 | grep -c '^d-1$') $(rcli HGET "$(job_key d-1)" input) $(submitted fast4 1)"

# --- more jobs of one slot than one call takes: the same answers across calls -------------
# 130 jobs of the default queue (one slot): calls of 24, then 100, then 6; repeats
# of an id of the first call in the later ones, refusals on and around the bounds
python3 - "$T/chunks.json" "$T/chunks.want" <<'PY'
import json, sys
arr, want = [], []
for i in range(130):
    if i in (23, 24, 60):
        arr.append({"pipeline": "nope"}); want.append("422")
    elif i == 110:
        arr.append({"pipeline": "fast4", "id": "c-5", "input": 5}); want.append("202")  # same request
    elif i == 120:
        arr.append({"pipeline": "fast4", "id": "c-7", "input": 8}); want.append("409")  # another input
    elif i == 125:
        arr.append({"pipeline": "fast4", "id": "c-124", "input": 124}); want.append("202")
    else:
        arr.append({"pipeline": "fast4", "id": "c-%d" % i, "input": i}); want.append("202")
json.dump(arr, open(sys.argv[1], "w"))
open(sys.argv[2], "w").write(" ".join(want))
PY
before_fast=$(submitted fast4 1)
http POST /v1/jobs -H 'content-type: application/json' --data-binary "@$T/chunks.json"
check_eq "130 jobs of one slot (several calls): 207, each answer in order, as one call gives" \
  "207 $(cat "$T/chunks.want")" "$HTTP_STATUS $(jqr '[.jobs[].status] | map(tostring) | join(" ")')"
check_eq "... accepted 126, refused 4; the ids answered in order" "126 4 c-0 c-22 c-25 c-5 duplicate_id c-124 c-129" \
  "$(jqr '"\(.accepted) \(.refused)"') $(jqr '[.jobs[0,22,25,110,120,125,129] | .id // .error.code] | join(" ")')"
check_eq "... the repeat of c-124 one job later: the same request again, its state" "queued" \
  "$(jqr '.jobs[125].state')"
check_eq "... created once each: 124 on the list, counted once; c-7 the first's input" \
  "124 $((before_fast + 124)) 7" \
  "$(rcli LRANGE "$(queue_key default)" 0 -1 | grep -c '^c-') $(submitted fast4 1) $(rcli HGET "$(job_key c-7)" input)"
check_eq "... the list holds them in the order sent (the first call's first)" \
  "$(python3 -c 'print(" ".join("c-%d" % i for i in range(130) if i not in (23, 24, 60, 110, 120, 125)))')" \
  "$(rcli LRANGE "$(queue_key default)" 0 -1 | grep '^c-' | tac | xargs)"

# --- a job whose key is of the wrong type: its own 503, the others created ---------------
rcli SET "$(job_key wt-1)" x >/dev/null
post_json /v1/jobs '[{"pipeline":"fast4","id":"wt-0"},{"pipeline":"fast4","id":"wt-1"},{"pipeline":"fast4","id":"wt-2"}]'
check_eq "a job key of the wrong type (edited by hand): that job 503, the others of its call 202" \
  "207 202 503 202 redis_unavailable" \
  "$HTTP_STATUS $(jqr '[.jobs[].status] | map(tostring) | join(" ")') $(jqr '.jobs[1].error.code')"
check_eq "... the others exist, the broken key is left as it was" "queued queued x" \
  "$(rcli HGET "$(job_key wt-0)" state) $(rcli HGET "$(job_key wt-2)" state) $(rcli GET "$(job_key wt-1)")"

# --- scheduled elements -----------------------------------------------------------------
at=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))')
sched="[{\"pipeline\":\"fast4\",\"id\":\"s-1\",\"delay_s\":60},{\"pipeline\":\"fast4\",\"id\":\"s-2\",\"run_at\":\"$at\"},
  {\"pipeline\":\"fast4\",\"id\":\"s-3\"},{\"pipeline\":\"tri\",\"id\":\"s-4\",\"delay_s\":30}]"
post_json /v1/jobs "$sched"
check_eq "scheduled elements: 202, each its state" "202 scheduled scheduled queued scheduled" \
  "$HTTP_STATUS $(jqr '[.jobs[].state] | join(" ")')"
check_eq "... run_at in the answers of the scheduled ones, as given" "$at true false true" \
  "$(jqr '"\(.jobs[1].run_at) \(.jobs[0] | has("run_at")) \(.jobs[2] | has("run_at")) \(.jobs[3] | has("run_at"))"')"
j4=$(part_of s-4 3)
d4=$(delayed_key tq "$j4" 3)
check_eq "... in the delayed sets (s-1, s-4), on the list (s-3)" "yes yes no 1" \
  "$([ -n "$(rcli ZSCORE "$(delayed_key default)" s-1)" ] && echo yes || echo no) $([ -n "$(rcli_at "$d4" ZSCORE "$d4" s-4)" ] && echo yes || echo no) $([ -n "$(rcli ZSCORE "$(delayed_key default)" s-3)" ] && echo yes || echo no) $(rcli LRANGE "$(queue_key default)" 0 -1 | grep -c '^s-3$')"
check_eq "... the hash of s-2 is scheduled with its run_at" "scheduled $at" \
  "$(rcli HGET "$(job_key s-2)" state) $(rcli HGET "$(job_key s-2)" run_at)"
post_json /v1/jobs "$sched"
check_eq "... the same array again: 202, the states, no run_at (as a single retry)" \
  "202 scheduled scheduled queued scheduled false" \
  "$HTTP_STATUS $(jqr '[.jobs[].state] | join(" ")') $(jqr '[.jobs[] | has("run_at")] | any')"

# --- a queue that fills up mid-array (--max-queue, per partition) ------------------------
MAIN_API_URL=$API_URL MAIN_API_PID=$API_PID
start_api api-full --pipelines "$P" --max-queue 15
arr='[' want=''
for i in $(seq 1 16); do
  arr="$arr{\"pipeline\":\"fill\",\"id\":\"f-$i\"},"
  want="$want $([ "$i" -le 15 ] && echo 202 || echo 429)"
  [ "$i" = 3 ] && arr="$arr{\"pipeline\":\"nope\"}," && want="$want 422"
done
post_json /v1/jobs "$arr{\"pipeline\":\"fill\",\"id\":\"f-1\"}]"
check_eq "a queue of 15 filled mid-array: 202 × 15, then 429 queue_full; a repeat of a created id 202" \
  "207${want} 202 queue_full" \
  "$HTTP_STATUS $(jqr '[.jobs[].status] | map(tostring) | join(" ")') $(jqr '.jobs[16].error.code')"
check_eq "... the full queue holds 15, f-16 was not written" "15 0" \
  "$(rcli LLEN "$(queue_key fq)") $(rcli EXISTS "$(job_key f-16)")"
# the tq partitions (3) take at most 5 each (15 / 3), and hold some x-* already
arr='[' want='' has=()
for j in 0 1 2; do has[$j]=$(rcli_at "$(queue_key tq "$j" 3)" LLEN "$(queue_key tq "$j" 3)"); done
for i in $(seq 0 14); do
  arr="$arr{\"pipeline\":\"tri\",\"id\":\"y-$i\"},"
  j=$(part_of "y-$i" 3)
  if [ "${has[$j]}" -lt 5 ]; then want="$want 202" has[$j]=$((has[$j] + 1)); else want="$want 429"; fi
done
post_json /v1/jobs "${arr%,}]"
check_eq "... a queue of 3 partitions: each partition fills up on its own, mid-array" "${want# }" \
  "$(jqr '[.jobs[].status] | map(tostring) | join(" ")')"
check_eq "... and holds 5 in each" "5 5 5" \
  "$(for j in 0 1 2; do rcli_at "$(queue_key tq "$j" 3)" LLEN "$(queue_key tq "$j" 3)"; done | xargs)"
# a queue of 60 filled by an array of 90 (calls of 24, then 66): full in the second call
start_api api-full2 --pipelines "$P" --max-queue 60
python3 -c 'import json; print(json.dumps([{"pipeline": "fill2", "id": "g-%d" % i} for i in range(90)]))' >"$T/g.json"
http POST /v1/jobs -H 'content-type: application/json' --data-binary "@$T/g.json"
check_eq "a queue of 60 filled by an array of 90 (two calls): 202 × 60, then 429 × 30" \
  "207 60 $(printf '202 %.0s' $(seq 60))$(printf '429 %.0s' $(seq 30) | sed 's/ $//')" \
  "$HTTP_STATUS $(jqr .accepted) $(jqr '[.jobs[].status] | map(tostring) | join(" ")')"
check_eq "... the queue holds 60, g-59 the last, g-60 not written" "60 g-59 0" \
  "$(rcli LLEN "$(queue_key gq)") $(rcli LINDEX "$(queue_key gq)" 0) $(rcli EXISTS "$(job_key g-60)")"
stop_pid "$API_PID"
stop_pid "$API_PID"
API_URL=$MAIN_API_URL API_PID=$MAIN_API_PID

# --- --min-replicas: each created job waits for its WAIT ---------------------------------
start_api api-dur --pipelines "$P" --min-replicas 9 --request-timeout-ms 400
post_json /v1/jobs '[{"pipeline":"fast4","id":"w-1"},{"pipeline":"nope"},{"pipeline":"tri","id":"w-2"},
  {"pipeline":"fast4","id":"d-1","input":2}]'
check_eq "--min-replicas 9 on a Redis without them: the created jobs 503, the refusals as they are" \
  "207 503 422 503 409 redis_unavailable" \
  "$HTTP_STATUS $(jqr '[.jobs[].status] | map(tostring) | join(" ")') $(jqr '.jobs[0].error.code')"
check "... the message says the job is not durable yet" grep -q 'job w-1 reached [0-9]* of the 9 replicas' \
  <(jqr '.jobs[0].error.message')
stop_pid "$API_PID"
API_URL=$MAIN_API_URL API_PID=$MAIN_API_PID

# --- bounds and malformed arrays --------------------------------------------------
post_json /v1/jobs '[]'
check_eq "an empty array: 400 invalid_request" "400 invalid_request" "$HTTP_STATUS $(jqr .error.code)"
post_json /v1/jobs '[{"pipeline":"fast4"},'
check_eq "a malformed array: 400 malformed_json" "400 malformed_json" "$HTTP_STATUS $(jqr .error.code)"
big=$(python3 -c 'import json; print(json.dumps([{"pipeline": "fast4"}] * 1001))')
post_json /v1/jobs "$big"
check_eq "1001 jobs: 413 payload_too_large, naming the bound" "413 payload_too_large" \
  "$HTTP_STATUS $(jqr .error.code)"
check_eq "... the message says so" "the array holds 1001 jobs, at most 1000 per request: split it" \
  "$(jqr .error.message)"
post_json '/v1/jobs?wait=5' '[{"pipeline":"fast4"}]'
check_eq "?wait with an array: 400" 400 "$HTTP_STATUS"
python3 -c 'import json; print(json.dumps([{"pipeline": "fast4", "input": "x" * 1000}] * 250))' >"$T/huge.json"
http POST /v1/jobs -H 'content-type: application/json' --data-binary "@$T/huge.json"
check_eq "a body over --max-body: 413" 413 "$HTTP_STATUS"
http POST /v1/jobs -H 'content-type: text/plain' --data-binary '[{"pipeline":"fast4"}]'
check_eq "an array as text/plain: 415" 415 "$HTTP_STATUS"
check_eq "nothing was created by the refused requests" 0 \
  "$(rcli EXISTS "$(job_key nothing)")"

# --- 1000 jobs in one request: all accepted, all run ---------------------------------
python3 -c 'import json; print(json.dumps([{"pipeline": "fast4", "id": "k-%d" % i, "input": {"i": i}} for i in range(1000)]))' >"$T/k.json"
http POST /v1/jobs -H 'content-type: application/json' --data-binary "@$T/k.json"
check_eq "1000 jobs in one request: 202, 1000 accepted" "202 1000" "$HTTP_STATUS $(jqr .accepted)"
start_worker w1 --pipelines "$P" --concurrency 4
start_worker w2 --pipelines "$P" --queue bq --concurrency 2
all_done() {
  [ "$(curl -s "$API_URL/v1/jobs/k-999" | jq -r .state)" = succeeded ] &&
    [ "$(curl -s "$API_URL/v1/jobs/b-3" | jq -r .state)" = succeeded ]
}
check "they run (the last one and the partitioned queue's succeed)" wait_for 60 all_done
http GET /v1/jobs/k-500
check_eq "... a job's result is its input through 4 echo stages" '{"i":500}' "$(jqr -c .result)"

# --- the CLI: submit-many, JSON Lines in --------------------------------------------
printf '{"n":1}\n\n[1, 2.50]\nnot json\n"s"\n' >"$T/in.jsonl"
"$BUILD/stageq" --url "$API_URL" submit-many fast4 "$T/in.jsonl" >"$T/cli.out" 2>"$T/cli.err"
rc=$?
check_eq "stageq submit-many: 3 ids for the 3 valid lines" 3 "$(grep -c . "$T/cli.out")"
check_eq "... exits 2 (a bad line)" 2 "$rc"
check "... and names the bad line" grep -q 'line 4 of .* is not valid JSON' "$T/cli.err"
check_eq "... the input as written" '[1,2.50]' \
  "$(rcli HGET "$(job_key "$(sed -n 2p "$T/cli.out")")" input)"
seq 1 250 | sed 's/.*/{"i":&}/' | "$BUILD/stageq" --url "$API_URL" submit-many fast4 - >"$T/cli2.out"
check_eq "250 lines from stdin: 250 ids, exit 0" "250 0" "$(grep -c . "$T/cli2.out") $?"
printf '1\n' | "$BUILD/stageq" --url "$API_URL" submit-many nope >/dev/null 2>"$T/cli3.err"
check_eq "an unknown pipeline: exit 2" 2 "$?"
check "... with the API's message" grep -q "unknown pipeline 'nope'" "$T/cli3.err"

# --- the Python client: submit_many ---------------------------------------------------
out=$(PYTHONPATH=clients/python python3 - "$API_URL" <<'PY'
import sys
from stageq import Client
c = Client(sys.argv[1])
jobs = [{"pipeline": "fast4", "id": "py-%d" % i, "input": i} for i in range(250)]
jobs.insert(7, {"pipeline": "nope"})
a = c.submit_many(jobs, batch=100)
print(len(a), sum(1 for x in a if x["status"] == 202), a[7]["status"], a[7]["error"]["code"], a[8]["id"])
PY
)
check_eq "Python submit_many: 251 answers in 3 requests, 250 accepted, the bad one 422" \
  "251 250 422 unknown_pipeline py-7" "$out"

# --- Redis away: every element 503, the request answered --------------------------------
sq_redis_down bk
post_json /v1/jobs '[{"pipeline":"fast4","id":"gone-1"},{"pipeline":"fast4","id":"gone-2"}]'
check_eq "Redis away: 207, each element 503 redis_unavailable" "207 503 503 redis_unavailable" \
  "$HTTP_STATUS $(jqr '[.jobs[].status] | map(tostring) | join(" ")') $(jqr '.jobs[0].error.code')"
sq_redis_up bk
check "the API is still up" kill -0 "$API_PID"
# back (its script cache empty): the new connection loads each script with
# its first call, an array's calls pipelined behind it included
# (new ids each try: a try answered in part while nodes come back must not
# make the next one's ids exist)
back_try=0
bulk_back() {
  local b="back-$((++back_try))"
  post_json /v1/jobs "[{\"pipeline\":\"fast4\",\"id\":\"$b-1\"},{\"pipeline\":\"wide\",\"id\":\"$b-2\"},
    {\"pipeline\":\"tri\",\"id\":\"$b-3\"},{\"pipeline\":\"wide\",\"id\":\"$b-4\"}]"
  [ "$HTTP_STATUS" = 202 ]
}
check "Redis back: an array is accepted (202)" poll 15 bulk_back
check_eq "... no call was refused NOSCRIPT since it came back" 0 "$(noscript_count)"
finish
