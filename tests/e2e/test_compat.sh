#!/usr/bin/env bash
# test_compat: the blog's routes (examples/blog/README.md) answer as
# its Flask app did, so its client works unchanged; CORS (--cors-origin) and
# the bearer token (--api-token) in the routing step.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tc
flush_prefix tc

# --- options checked at start --------------------------------------------------
sq_run stageq-api --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --listen 127.0.0.1:0 \
  --default-pipeline nosuch >/dev/null 2>&1
check_eq "an unknown --default-pipeline exits 2" 2 "$?"
sq_run stageq-api --help | grep -q -- '--cors-origin'
check_eq "--help lists --cors-origin" 0 "$?"
sq_run stageq-api --help | grep -q -- '--api-token'
check_eq "--help lists --api-token" 0 "$?"

# --- the blog's request sequence, on a 4-stage pipeline ------------------------
# Each stage sleeps 0.5 s (tests/stages/sleep_echo.sh), so that polling sees
# every stage even on a loaded machine; a fast builtin stage can be missed.
PIPES=tests/e2e/pipelines-test.json
start_api api --pipelines "$PIPES" --default-pipeline blog4

post_json /start_task '{"data":{"size":8000000,"sleep":0.5}}'
check_eq "POST /start_task answers 200" 200 "$HTTP_STATUS"
check_eq "its message is the blog's" "Task started." "$(jqr .message)"
id=$(jqr .task_id)
check "it returns a task_id (a UUID)" grep -Eq '^[0-9a-f-]{36}$' <<<"$id"
check_eq "the task is a job of the default pipeline" blog4 "$(rcli HGET "tc:{8209}:job:$id" pipeline)"
check_eq "data became the job's input" '{"size":8000000,"sleep":0.5}' \
  "$(rcli HGET "tc:{8209}:job:$id" input | jq -c .)"

# Poll densely, like test_jobs (one curl asks 200 times on one connection),
# then start the worker, so that the queued state and stage 1 are seen.
seen="$STAGEQ_TEST_TMP/compat-seen.$$"
: >"$seen"
urls=$(for i in $(seq 1 200); do printf '%s ' "$API_URL/task_status/$id"; done)
(
  for i in $(seq 1 1000); do
    # shellcheck disable=SC2086
    curl -s $urls | jq -r '.status + "|" + (.result != null | tostring)' >>"$seen" 2>/dev/null
    grep -q '^Task ' "$seen" && break
  done
) &
poller=$!
sleep 0.3
start_worker w --concurrency 1 --pipelines "$PIPES"
wait "$poller"
stages=$(grep '^Currently executing stage' "$seen" | sed 's/|.*//' | uniq | sed 's/[^0-9]//g' |
  tr '\n' ' ')
check_eq "'Currently executing stage k.' was seen for k = 0 (queued), 1..4 in order" \
  "0 1 2 3 4 " "$stages"
check_eq "the last status is 'Task Completed'" "Task Completed|true" "$(tail -1 "$seen")"
check_eq "result is null before stage 2 (no stage output yet)" "" \
  "$(grep -E '^Currently executing stage [01]\.\|true' "$seen")"
check_eq "from stage 2 on, result is the last finished stage's output" "" \
  "$(grep -E '^Currently executing stage [234]\.\|false' "$seen")"

http GET "/task_status/$id"
check_eq "GET /task_status answers 200" 200 "$HTTP_STATUS"
check_eq "it has the blog's fields" "result status task_id" "$(jqr '[keys[]] | join(" ")')"
check_eq "task_id is the id" "$id" "$(jqr .task_id)"
check_eq "status is 'Task Completed'" "Task Completed" "$(jqr .status)"
check_eq "result is the job's result" 8000000 "$(jqr .result.size)"

# --- a client-chosen id, twice ---------------------------------------------------
http POST /start_task/blog-task-1
check_eq "POST /start_task/<id> without a body answers 200" 200 "$HTTP_STATUS"
check_eq "its message is the blog's" "Task blog-task-1 started." "$(jqr .message)"
check_eq "its task_id is the client's" blog-task-1 "$(jqr .task_id)"
post_json /start_task/blog-task-1 '{"data":{"size":1000}}'
check_eq "the same id again answers 400" 400 "$HTTP_STATUS"
check_eq "with the blog's exact body" '{"message":"Task is already running or completed."}' \
  "$(jqr -c .)"
wait_for 20 sh -c "curl -s '$API_URL/task_status/blog-task-1' | grep -q 'Task Completed'"
check_eq "the job of the client's id completes" 0 "$?"

http GET /task_status/no-such-task
check_eq "an unknown task answers 404" 404 "$HTTP_STATUS"
check_eq "with the blog's exact body" '{"message":"Task not found."}' "$(jqr -c .)"
http GET '/task_status/bad%2Fid'
check_eq "an invalid id keeps the usual 400 invalid_id" "400 invalid_id" \
  "$HTTP_STATUS $(jqr .error.code)"
post_json /start_task '{"data":'
check_eq "bad JSON keeps the usual 400 malformed_json" "400 malformed_json" \
  "$HTTP_STATUS $(jqr .error.code)"
post_json /start_task '[1]'
check_eq "a body that is not an object answers 400 invalid_request" "400 invalid_request" \
  "$HTTP_STATUS $(jqr .error.code)"
http POST /start_task -H 'content-type: text/plain' --data-binary 'x'
check_eq "a body that is not JSON answers 415" 415 "$HTTP_STATUS"
http GET /start_task
check_eq "GET /start_task answers 405" 405 "$HTTP_STATUS"
stop_pid "$API_PID"

# --- --default-pipeline echo: data in, the same out ----------------------------
start_api api-echo --default-pipeline echo
post_json /start_task '{"data":"hello from the blog"}'
check_eq "start_task on echo answers 200" 200 "$HTTP_STATUS"
eid=$(jqr .task_id)
check_eq "the job runs the default pipeline" echo "$(rcli HGET "tc:{8209}:job:$eid" pipeline)"
wait_for 20 sh -c "curl -s '$API_URL/task_status/$eid' | grep -q 'Task Completed'"
http GET "/task_status/$eid"
check_eq "the echo result is the data" '"hello from the blog"' \
  "$(printf '%s' "$HTTP_BODY" | jq -c .result)"
post_json /start_task '{"other":1}'
check_eq "missing data is accepted (as null)" 200 "$HTTP_STATUS"
nid=$(jqr .task_id)
check_eq "its input is null" null "$(rcli HGET "tc:{8209}:job:$nid" input)"
http POST /start_task
check_eq "no body at all is accepted" 200 "$HTTP_STATUS"
stop_pid "$API_PID"

# --- CORS -------------------------------------------------------------------------
start_api api-cors --cors-origin https://app.example.com
http GET /healthz -H 'Origin: https://app.example.com'
check "CORS on: GET carries Access-Control-Allow-Origin" \
  grep -qi '^access-control-allow-origin: https://app.example.com' <<<"$HTTP_HEADERS"
check "CORS on: with Vary: Origin" grep -qi '^vary: origin' <<<"$HTTP_HEADERS"
post_json /v1/jobs '{"pipeline":"echo","input":1}' -H 'Origin: https://app.example.com'
check_eq "CORS on: POST still answers 202" 202 "$HTTP_STATUS"
check "CORS on: POST carries Access-Control-Allow-Origin" \
  grep -qi '^access-control-allow-origin: https://app.example.com' <<<"$HTTP_HEADERS"
http GET /nowhere
check "CORS on: a 404 carries it too" grep -qi '^access-control-allow-origin:' <<<"$HTTP_HEADERS"
http OPTIONS /v1/jobs -H 'Origin: https://app.example.com' \
  -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type'
check_eq "CORS on: preflight answers 204" 204 "$HTTP_STATUS"
check "preflight: Allow-Methods is the route's" \
  grep -qi '^access-control-allow-methods: GET, HEAD, POST' <<<"$HTTP_HEADERS"
check "preflight: Allow-Headers" \
  grep -qi '^access-control-allow-headers: content-type, authorization, last-event-id' <<<"$HTTP_HEADERS"
check "preflight: Max-Age 600" grep -qi '^access-control-max-age: 600' <<<"$HTTP_HEADERS"
check "preflight: Allow-Origin" grep -qi '^access-control-allow-origin:' <<<"$HTTP_HEADERS"
http OPTIONS /v1/jobs/abc
check "preflight on /v1/jobs/{id}: GET, HEAD, DELETE" \
  grep -qi '^access-control-allow-methods: GET, HEAD, DELETE' <<<"$HTTP_HEADERS"
http OPTIONS /nowhere
check_eq "CORS on: OPTIONS on an unknown route stays 404" 404 "$HTTP_STATUS"
stop_pid "$API_PID"

start_api api-star --cors-origin '*'
http GET /healthz
check "CORS *: Allow-Origin *" grep -qi '^access-control-allow-origin: \*' <<<"$HTTP_HEADERS"
check "CORS *: no Vary" test -z "$(grep -i '^vary:' <<<"$HTTP_HEADERS")"
stop_pid "$API_PID"

start_api api-nocors
http GET /healthz -H 'Origin: https://app.example.com'
check "CORS off: no Access-Control-Allow-Origin" \
  test -z "$(grep -i '^access-control-' <<<"$HTTP_HEADERS")"
http OPTIONS /v1/jobs -H 'Origin: https://app.example.com'
check_eq "CORS off: OPTIONS answers 405" 405 "$HTTP_STATUS"
stop_pid "$API_PID"

# --- bearer token -----------------------------------------------------------------
tok='s3cr3t-T0ken_value'
njobs() { rcli --scan --pattern 'tc:{8209}:job:*' | wc -l; }
before=$(njobs)
start_api api-tok --api-token "$tok" --cors-origin '*'
http GET /healthz
check_eq "token on: /healthz answers 200 without a token" 200 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"echo","input":1}'
check_eq "token on: POST /v1/jobs without a token answers 401" 401 "$HTTP_STATUS"
check_eq "the error code is unauthorized" unauthorized "$(jqr .error.code)"
check "401 carries WWW-Authenticate: Bearer" \
  grep -qi '^www-authenticate: Bearer' <<<"$HTTP_HEADERS"
check_eq "no job was created" "$before" "$(njobs)"
post_json /v1/jobs '{"pipeline":"echo","input":1}' -H 'Authorization: Bearer s3cr3t-T0ken_valuX'
check_eq "a wrong token answers 401" 401 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"echo","input":1}' -H 'Authorization: Bearer s3cr3t'
check_eq "a shorter token answers 401" 401 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"echo","input":1}' -H "Authorization: Bearer ${tok}x"
check_eq "a longer token answers 401" 401 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"echo","input":1}' -H "Authorization: Basic $tok"
check_eq "another scheme answers 401" 401 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"echo","input":1}' -H "Authorization: Bearer $tok"
check_eq "the right token answers 202" 202 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"echo","input":1}' -H "authorization: bearer $tok"
check_eq "the scheme is case-insensitive" 202 "$HTTP_STATUS"
http GET /task_status/x
check_eq "token on: the blog's routes need it too" 401 "$HTTP_STATUS"
http GET /nowhere
check_eq "token on: unknown paths answer 401, not 404" 401 "$HTTP_STATUS"
http OPTIONS /v1/jobs
check_eq "token on: a CORS preflight needs no token" 204 "$HTTP_STATUS"
stop_pid "$API_PID"

finish
