#!/usr/bin/env bash
# test_bulk: POST /v1/jobs with a JSON array — every element submitted as a
# single POST would be, each with its own answer in order (202 when all were
# accepted, 207 when some were refused), bounded in count (413) and body
# size; the jobs run; a retry of the same array is safe; Redis away answers
# each element 503 and creates nothing half-way; the CLI's submit-many and the
# Python client's submit_many use it. On a cluster the elements of one array
# land on several nodes (a queue of 4 partitions).
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tbk
sq_redis bk
P="$STAGEQ_TEST_TMP/pipelines.json"
cat >"$P" <<'EOF'
{"queues": {"bq": {"partitions": 4}},
 "pipelines": {
  "fast4": {"stages": [{"name": "a", "builtin": "echo"}, {"name": "b", "builtin": "echo"},
                       {"name": "c", "builtin": "echo"}, {"name": "d", "builtin": "echo"}]},
  "wide": {"queue": "bq", "stages": [{"name": "a", "builtin": "echo"}]}
}}
EOF
start_api api --pipelines "$P" --max-body 200000
T=$STAGEQ_TEST_TMP

# --- all accepted: 202, one answer per element, in order ---------------------
post_json /v1/jobs '[{"pipeline":"fast4","id":"b-1","input":{"n":1.50}},
  {"pipeline":"fast4","id":"b-2","input":[1,2]},{"pipeline":"wide","id":"b-3"}]'
check_eq "an array of 3 valid jobs answers 202" 202 "$HTTP_STATUS"
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
finish
