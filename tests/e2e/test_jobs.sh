#!/usr/bin/env bash
# test_jobs: a job's whole life through the real API and workers — submit,
# watch every stage go by, read the result, see the same facts in Redis, and
# see the job expire (expiry is the cleanup).
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tj
flush_prefix tj
start_api api

http GET /healthz
check_eq "healthz answers 200" 200 "$HTTP_STATUS"
http GET /readyz
check_eq "readyz answers 200 with Redis up" 200 "$HTTP_STATUS"

# --- a demo job, watched while it runs -------------------------------------
post_json /v1/jobs '{"pipeline":"demo","input":{"size":10000000,"rounds":1,"seed":3}}'
check_eq "POST demo job answers 202" 202 "$HTTP_STATUS"
id=$(jqr .id)
check_eq "the reply has a status_url" "/v1/jobs/$id" "$(jqr .status_url)"
check "the job is in Redis when 202 arrives" test -n "$(rcli HGET "$(job_key "$id")" state)"

check_eq "with no worker yet it waits queued" queued "$(rcli HGET "$(job_key "$id")" state)"
check_eq "its id is on the queue" "$id" "$(rcli LRANGE "$(queue_key default)" 0 -1)"

# Poll densely (one curl keeps one connection and asks 200 times in a row,
# and the next curl starts at once), then start the workers, so that even the
# short first stage (tens of ms) is seen. Whether the job has ended is asked
# apart from the polling: under a loaded CI, a jq and a grep between two
# curls made a gap longer than that stage.
raw="$STAGEQ_TEST_TMP/seen-raw.$$" seen="$STAGEQ_TEST_TMP/seen.$$"
: >"$raw"
urls=$(for i in $(seq 1 200); do printf '%s ' "$API_URL/v1/jobs/$id"; done)
stop_polling="$STAGEQ_TEST_TMP/seen-stop.$$"
(
  for i in $(seq 1 1000); do
    [ -e "$stop_polling" ] && break
    # shellcheck disable=SC2086
    curl -s $urls >>"$raw"
  done
) &
poller=$!
sleep 0.3
start_worker worker --concurrency 2
job_is_final() { case $(rcli HGET "$(job_key "$id")" state) in succeeded | failed) return 0 ;; esac; return 1; }
poll 120 job_is_final
touch "$stop_polling" # the poller ends after the curl it runs
wait "$poller"
jq -c '[.state, .stage, .progress, .overall_progress]' "$raw" >"$seen" 2>/dev/null
running_stages=$(grep '"running"' "$seen" | jq -r '.[1]' | uniq | tr '\n' ' ')
check_eq "stages 1..4 were observed in order while running" "1 2 3 4 " "$running_stages"
bad_progress=$(jq -r 'select(.[2] < 0 or .[2] > 1 or .[3] < 0 or .[3] > 1)' "$seen" | wc -l)
check_eq "progress and overall_progress stay within 0..1" 0 "$bad_progress"
overall_sorted=$(grep '"running"' "$seen" | jq -r '.[3]' | sort -g -c && echo yes)
check_eq "overall_progress never goes back" yes "$overall_sorted"
check "progress inside a stage was observed between 0 and 1" \
  grep -q '"running",2,0\.[1-9]' "$seen"

http GET "/v1/jobs/$id"
check_eq "GET status answers 200" 200 "$HTTP_STATUS"
check_eq "the job succeeded" succeeded "$(jqr .state)"
check_eq "status has every field of the contract" \
  "attempt created_at error errors eta_s finished_at id max_attempts message next_attempt_at next_stage next_stage_name overall_progress pipeline progress queue result resumed_from_stage run_at stage stage_count stage_eta_s stage_name stages started_at state updated_at worker" \
  "$(jqr '[keys[] | select(. != "input" and . != "result_ttl_s")] | join(" ")')"
check_eq "stage_count is 4" 4 "$(jqr .stage_count)"
check_eq "overall_progress is 1" 1 "$(jqr .overall_progress)"
check_eq "every stage succeeded, in order" "generate:succeeded transform:succeeded sort:succeeded summarize:succeeded" \
  "$(jqr '[.stages[] | .name + ":" + .state] | join(" ")')"
check_eq "every stage has its output and times" 4 \
  "$(jqr '[.stages[] | select(.output != null and .started_at <= .finished_at)] | length')"
check_eq "stage 1's output feeds stage 2 (same checksum)" "$(jqr '.stages[0].output.checksum')" \
  "$(jqr '.stages[1].output.checksum')"
check_eq "result covers the whole input" 10000000 "$(jqr .result.size)"
check_eq "result histogram sums to the size" 10000000 "$(jqr '.result.histogram | add')"
check_eq "result percentiles are ordered" true \
  "$(jqr '.result.min <= .result.median and .result.median <= .result.p90 and .result.p90 <= .result.max')"
check_eq "the result is the last stage's output" true "$(jqr '.result == .stages[3].output')"
check "times are RFC 3339 UTC with milliseconds" \
  grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' <<<"$(jqr .finished_at)"

# --- the same facts in Redis --------------------------------------------------
check_eq "redis hash: state" succeeded "$(rcli HGET "$(job_key "$id")" state)"
check_eq "redis hash: stage 4, the name in its field stage.4" "4 summarize" \
  "$(rcli HGET "$(job_key "$id")" stage) $(stage_part "$id" 4 name)"
check_eq "redis hash: stage.2 succeeded (its field stage.2)" "transform succeeded" \
  "$(stage_part "$id" 2 name) $(stage_part "$id" 2 state)"
check_eq "redis hash: result is the API's result" "$(jqr -c .result)" \
  "$(rcli HGET "$(job_key "$id")" result | jq -c .)"
ttl=$(rcli TTL "$(job_key "$id")")
check "redis hash: TTL is positive and at most 86400" test "$ttl" -gt 0 -a "$ttl" -le 86400
inflight=0
for k in $(scan_keys "$(processing_key '*')"); do inflight=$((inflight + $(rcli LLEN "$k"))); done
check_eq "the workers' processing lists are empty again" 0 "$inflight"

# --- expiry is the cleanup ------------------------------------------------------
# (?wait answers with its end: polling could miss the 1 s it exists for)
post_json '/v1/jobs?wait=60' '{"pipeline":"echo","input":"short-lived","result_ttl_s":1}' --max-time 70
short=$(jqr .id)
succeeded() { [ "$(rcli HGET "$(job_key "$1")" state)" = succeeded ]; }
skey=$(job_key "$short")
check_eq "a short-lived job succeeds (POST ?wait answers its end)" "200 succeeded" \
  "$HTTP_STATUS $(jqr .state)"
gone() { [ "$(rcli EXISTS "$skey")" = 0 ]; }
check "after result_ttl_s the hash is gone" wait_for 5 gone
http GET "/v1/jobs/$short"
check_eq "an expired job answers 404" 404 "$HTTP_STATUS"
check_eq "the 404 says not_found" not_found "$(jqr .error.code)"

# --- client ids, duplicates -----------------------------------------------------
post_json /v1/jobs '{"pipeline":"echo","id":"order-42.v1:a_b","input":{"x":[1,2]}}'
check_eq "a client-supplied id is accepted" "202 order-42.v1:a_b" "$HTTP_STATUS $(jqr .id)"
post_json /v1/jobs '{"pipeline":"echo","id":"order-42.v1:a_b","input":{}}'
check_eq "the same id again answers 409 duplicate_id" "409 duplicate_id" "$HTTP_STATUS $(jqr .error.code)"
check "the first job is untouched by the duplicate" wait_for 5 succeeded order-42.v1:a_b
check_eq "its result is its own input" '{"x":[1,2]}' "$(rcli HGET "$(job_key order-42.v1:a_b)" result)"

# --- a failing job ----------------------------------------------------------------
post_json /v1/jobs '{"pipeline":"demo","input":{"size":0}}'
bad=$(jqr .id)
failed() { [ "$(rcli HGET "$(job_key "$bad")" state)" = failed ]; }
check "a job with bad input fails" wait_for 10 failed
http GET "/v1/jobs/$bad"
check_eq "its error names code and stage" "invalid_input generate 1" \
  "$(jqr '[.error.code, .error.stage, .error.stage_index] | join(" ")')"
check_eq "the failed stage is marked failed" failed "$(jqr '.stages[0].state')"
ttl=$(rcli TTL "$(job_key "$bad")")
check "a failed job is kept longer than result_ttl_s" test "$ttl" -gt 86400

# --- many jobs, two workers ------------------------------------------------------
ids=()
for i in $(seq 1 50); do
  post_json /v1/jobs "{\"pipeline\":\"echo\",\"input\":$i}"
  ids+=("$(jqr .id)")
done
all_done() { local j; for j in "${ids[@]}"; do succeeded "$j" || return 1; done; }
check "50 jobs all succeed" wait_for 20 all_done
check_eq "each result is its own input" "$(seq 1 50 | paste -sd' ')" \
  "$(for j in "${ids[@]}"; do rcli HGET "$(job_key "$j")" result; done | paste -sd' ')"
workers=$(for j in "${ids[@]}"; do rcli HGET "$(job_key "$j")" worker; done | sort -u | wc -l)
check "both worker processes took jobs" test "$workers" -ge 2

stop_pid "$API_PID" 10
check_eq "SIGTERM: the API exits 0" 0 "$STOP_RC"
finish
