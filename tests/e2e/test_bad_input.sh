#!/usr/bin/env bash
# test_bad_input: every error of the HTTP contract, each with its status and
# error code, a JSON body, no key written, and the API still serving; then
# Redis going away (503 + Retry-After) and coming back (recovers by itself).
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tb
redis_start bad
REDIS_PORT=$REDIS_PORT_bad
start_api api

# expect NAME STATUS CODE METHOD PATH [curl args...]: status, error code, JSON body.
expect() {
  local name=$1 status=$2 code=$3; shift 3
  http "$@"
  local got_code ctype
  got_code=$(jqr .error.code)
  ctype=$(grep -i '^content-type:' <<<"$HTTP_HEADERS" | tr -d '\r' | cut -d' ' -f2-)
  if [ "$HTTP_STATUS" = "$status" ] && [ "$got_code" = "$code" ] &&
    [ -n "$(jqr .error.message)" ] && [[ "$ctype" == application/json* ]]; then
    ok "$name → $status $code"
  else
    not_ok "$name: expected $status $code, got $HTTP_STATUS '$got_code' ($ctype) body: ${HTTP_BODY:0:200}"
  fi
}
J=(-H 'content-type: application/json')
deep=$(printf '%.0s[' $(seq 1 200))$(printf '%.0s]' $(seq 1 200))
long_id=$(head -c 129 /dev/zero | tr '\0' a)
big=$(head -c $((1048576 - 40)) /dev/zero | tr '\0' a)
printf '{"pipeline":"echo","input":"%s"}' "$big" >"$STAGEQ_TEST_TMP/big.json"
printf '{"pipeline":"echo","input":"%s"}' "${big}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" >"$STAGEQ_TEST_TMP/toobig.json"

expect "no content type" 415 unsupported_media_type POST /v1/jobs --data-binary '{"pipeline":"echo"}' -H 'content-type:'
expect "text/plain" 415 unsupported_media_type POST /v1/jobs -H 'content-type: text/plain' --data-binary '{"pipeline":"echo"}'
expect "malformed JSON" 400 malformed_json POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":'
check "malformed JSON names the byte position" grep -q 'at byte 11' <<<"$(jqr .error.message)"
expect "empty body" 400 malformed_json POST /v1/jobs "${J[@]}" --data-binary ''
expect "trailing garbage" 400 malformed_json POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo"} x'
expect "invalid UTF-8" 400 malformed_json POST /v1/jobs "${J[@]}" --data-binary $'{"pipeline":"echo","input":"\xc3\x28"}'
expect "NUL byte" 400 malformed_json POST /v1/jobs "${J[@]}" --data-binary @<(printf '{"pipeline":"echo","input":"a\0b"}')
expect "escaped NUL" 400 malformed_json POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","input":"a\u0000b"}'
expect "nesting 200 deep" 400 malformed_json POST /v1/jobs "${J[@]}" --data-binary "{\"pipeline\":\"echo\",\"input\":$deep}"
expect "body is an array" 400 invalid_request POST /v1/jobs "${J[@]}" --data-binary '[1]'
expect "body is a string" 400 invalid_request POST /v1/jobs "${J[@]}" --data-binary '"x"'
expect "missing pipeline" 422 missing_field POST /v1/jobs "${J[@]}" --data-binary '{"input":1}'
check "missing_field names the field" grep -q pipeline <<<"$(jqr .error.message)"
expect "pipeline is a number" 422 invalid_field POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":5}'
expect "unknown pipeline" 422 unknown_pipeline POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"nope"}'
expect "unknown field" 422 unknown_field POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","inptu":1}'
check "unknown_field names the field" grep -q inptu <<<"$(jqr .error.message)"
expect "id ../x" 400 invalid_id POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","id":"../x"}'
expect "id with a space" 400 invalid_id POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","id":"a b"}'
expect "id of 129 chars" 400 invalid_id POST /v1/jobs "${J[@]}" --data-binary "{\"pipeline\":\"echo\",\"id\":\"$long_id\"}"
expect "id empty" 400 invalid_id POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","id":""}'
expect "result_ttl_s 0" 422 invalid_field POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","result_ttl_s":0}'
expect "result_ttl_s 1.5" 422 invalid_field POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","result_ttl_s":1.5}'
expect "result_ttl_s string" 422 invalid_field POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","result_ttl_s":"10"}'
expect "result_ttl_s huge" 422 invalid_field POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","result_ttl_s":1e300}'
expect "queue with a slash" 422 invalid_field POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo","queue":"a/b"}'
expect "body of 1 MiB + 1" 413 payload_too_large POST /v1/jobs "${J[@]}" --data-binary @"$STAGEQ_TEST_TMP/toobig.json"
check_eq "no key was written by any refused request" 0 "$(rcli DBSIZE)"
post_json /v1/jobs @"$STAGEQ_TEST_TMP/big.json"
check_eq "a body of exactly the limit is accepted" 202 "$HTTP_STATUS"
post_json /v1/jobs '{"pipeline":"echo"}' -H 'content-type: application/json; charset=utf-8'
check_eq "content type with charset is accepted" 202 "$HTTP_STATUS"
http POST /v1/jobs -H 'content-type: application/json' --data-binary @<(head -c 5000000 /dev/zero)
check_eq "a 5 MB body is refused with 413" 413 "$HTTP_STATUS"

expect "unknown job" 404 not_found GET /v1/jobs/no-such-job
expect "job id with encoded slash" 400 invalid_id GET '/v1/jobs/..%2Fx'
expect "job id with encoded NUL" 400 invalid_id GET '/v1/jobs/a%00b'
expect "job id of 129 chars" 400 invalid_id GET "/v1/jobs/$long_id"
expect "job id of 10 KB" 400 invalid_id GET "/v1/jobs/$(head -c 10000 /dev/zero | tr '\0' a)"
expect "unknown route" 404 not_found GET /nope
expect "unknown route under /v1" 404 not_found GET /v1/jobs/x/y/z
expect "DELETE /v1/jobs" 405 method_not_allowed DELETE /v1/jobs
check "405 lists Allow: POST" grep -qi '^allow:.*POST' <<<"$HTTP_HEADERS"
expect "PUT /healthz" 405 method_not_allowed PUT /healthz
check "405 lists Allow: GET" grep -qi '^allow:.*GET' <<<"$HTTP_HEADERS"
expect "PATCH a job" 405 method_not_allowed PATCH /v1/jobs/abc
http GET /healthz -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)"
check_eq "huge headers are refused" 400 "$HTTP_STATUS"
http GET /healthz
check_eq "after all of that the API still serves" 200 "$HTTP_STATUS"
check "the API process is alive" kill -0 "$API_PID"

# --- Redis goes away, then comes back ---------------------------------------
redis_stop bad
expect "submit with Redis down" 503 redis_unavailable POST /v1/jobs "${J[@]}" --data-binary '{"pipeline":"echo"}'
check "503 carries Retry-After" grep -qi '^retry-after:' <<<"$HTTP_HEADERS"
expect "status with Redis down" 503 redis_unavailable GET /v1/jobs/abc
expect "readyz with Redis down" 503 redis_unavailable GET /readyz
http GET /healthz
check_eq "healthz does not need Redis" 200 "$HTTP_STATUS"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STAGEQ_TEST_TMP/redis-bad" --save '' \
  --appendonly no --daemonize yes --pidfile "$STAGEQ_TEST_TMP/redis-bad/redis.pid" \
  --logfile "$STAGEQ_TEST_TMP/redis-bad/redis.log" >/dev/null
ready() { http GET /readyz; [ "$HTTP_STATUS" = 200 ]; }
check "the API reconnects by itself" wait_for 10 ready
post_json /v1/jobs '{"pipeline":"echo","id":"after-outage"}'
check_eq "submit works again" 202 "$HTTP_STATUS"
check_eq "and the job is in Redis" queued "$(rcli HGET tb:job:after-outage state)"
finish
