#!/usr/bin/env bash
# test_queues: the queues and what an operator does with them. Pausing a
# queue of 3 partitions writes its paused key in every partition (and submits
# are still accepted), resuming deletes them all and wakes the workers;
# GET /v1/queues shows depth, scheduled, paused, rate limit and failed, each
# checked against Redis itself; bad input gets 400/404/405. Failed jobs go to
# their queue's failed index, so GET /v1/jobs?state=failed finds them however
# many jobs ran since (the recent index forgot them); an expired one is
# dropped from the index. POST /v1/jobs/{id}/retry runs a failed job again
# from its failed stage, and a canceled one; a running or succeeded job is
# refused 409. The CLI's queues, pause, resume, retry and list --queue.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tqu
sq_redis qu
T=$STAGEQ_TEST_TMP
MARKS="$T/marks"
mkdir -p "$MARKS"
P="$T/pipelines.json"
cat >"$P" <<EOF2
{"queues": {"pq": {"partitions": 3}, "rq": {"rate_limit": {"jobs": 5, "per_s": 60}}},
 "pipelines": {
  "p3": {"queue": "pq", "stages": [{"name": "a", "builtin": "echo"}]},
  "ok": {"queue": "fq", "stages": [{"name": "a", "builtin": "echo"}]},
  "bad": {"queue": "fq", "max_attempts": 1,
          "stages": [{"name": "a", "builtin": "echo"}, {"name": "b", "exec": ["sh", "tests/stages/exit3.sh"]}]},
  "once": {"queue": "fq", "max_attempts": 1,
           "stages": [{"name": "a", "builtin": "echo"},
                      {"name": "b", "exec": ["sh", "tests/stages/fail_once.sh", "$MARKS"]},
                      {"name": "c", "builtin": "echo"}]},
  "slow": {"queue": "sq", "stages": [{"name": "a", "exec": ["sh", "tests/stages/sleep_echo.sh"]}]},
  "rated": {"queue": "rq", "stages": [{"name": "a", "builtin": "echo"}]}
}}
EOF2
start_api api --pipelines "$P"
W="--pipelines $P --lease 2 --kill-grace-ms 300"
CLI=("$BUILD/stageq" --url "$API_URL")

field() { rcli HGET "$(job_key "$1")" "$2"; }
state_is() { [ "$(field "$1" state)" = "$2" ]; }
submit() { post_json /v1/jobs "{\"pipeline\":\"$1\",\"id\":\"$2\",\"input\":{\"n\":1}}"; }
queue_fig() { http GET "/v1/queues/$1"; jqr ".$2"; }

# --- pause and resume: every partition of a 3-partition queue -------------------
http POST /v1/queues/pq/pause
check_eq "POST /v1/queues/pq/pause answers 200" 200 "$HTTP_STATUS"
check_eq "... with the queue: paused, 3 partitions, all paused" "pq true 3 3" \
  "$(jqr '"\(.name) \(.paused) \(.partitions) \(.paused_partitions)"')"
at=$(jqr .paused_at)
check "... paused_at is an RFC 3339 time" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' <<<"$at"
for j in 0 1 2; do
  k=$(paused_key pq "$j" 3)
  check_eq "the paused key of partition $j holds that time ($k)" "$at" "$(rcli GET "$k")"
done
submit p3 pp-1
check_eq "a submit to the paused queue is still accepted" 202 "$HTTP_STATUS"
http GET /v1/queues/pq
check_eq "GET /v1/queues/pq: depth 1, paused" "1 true" "$(jqr '"\(.depth) \(.paused)"')"
http POST /v1/queues/pq/pause
check_eq "pausing again answers 200 (idempotent)" "200 true" "$HTTP_STATUS $(jqr .paused)"

# a subscriber on the wake channel hears the resume
wake_log="$T/wake.log"
redis-cli -p "$REDIS_PORT" SUBSCRIBE "$(wake_channel pq)" >"$wake_log" &
SUB=$!
poll 10 sh -c "[ \"\$(redis-cli -p $REDIS_PORT PUBSUB NUMSUB '$(wake_channel pq)' | sed -n 2p)\" -ge 1 ]"
http POST /v1/queues/pq/resume
check_eq "POST /v1/queues/pq/resume answers 200, not paused" "200 false 0 null" \
  "$HTTP_STATUS $(jqr '"\(.paused) \(.paused_partitions) \(.paused_at)"')"
gone=0
for j in 0 1 2; do [ "$(rcli EXISTS "$(paused_key pq "$j" 3)")" = 0 ] && gone=$((gone + 1)); done
check_eq "... every partition's paused key is gone" 3 "$gone"
check "... and the wake channel was published to" poll 10 grep -q "$(wake_channel pq)" "$wake_log"
kill "$SUB" 2>/dev/null; wait "$SUB" 2>/dev/null

http POST /v1/queues/nobody-knows/pause
check_eq "a queue the pipelines file does not know can be paused (workers may serve it)" \
  "200 false true 1" "$HTTP_STATUS $(jqr '"\(.known) \(.paused) \(.partitions)"')"
check "... its key is written" [ "$(rcli EXISTS "$(paused_key nobody-knows)")" = 1 ]
http POST /v1/queues/nobody-knows/resume

# --- bad input -----------------------------------------------------------------------
http GET /v1/queues/pq/pause
check_eq "GET on /pause is 405" 405 "$HTTP_STATUS"
check_eq "... Allow names POST" "POST" "$(printf '%s' "$HTTP_HEADERS" | tr -d '\r' | sed -n 's/^[Aa]llow: //p')"
http DELETE /v1/queues
check_eq "DELETE /v1/queues is 405 (Allow: GET, HEAD)" "405 GET, HEAD" \
  "$HTTP_STATUS $(printf '%s' "$HTTP_HEADERS" | tr -d '\r' | sed -n 's/^[Aa]llow: //p')"
http PUT /v1/queues/pq
check_eq "PUT /v1/queues/pq is 405" 405 "$HTTP_STATUS"
http POST "/v1/queues/bad%20name/pause"
check_eq "a queue name with a space is 400" "400 invalid_request" "$HTTP_STATUS $(jqr .error.code)"
http POST "/v1/queues/$(printf 'q%.0s' $(seq 1 65))/pause"
check_eq "a queue name of 65 characters is 400" 400 "$HTTP_STATUS"
http POST /v1/queues/../pause
check_eq "'..' is no queue name (400 or 404)" true \
  "$([ "$HTTP_STATUS" = 400 ] || [ "$HTTP_STATUS" = 404 ] && echo true)"
http GET "/v1/queues?x=1"
check_eq "an unknown query parameter is 400" 400 "$HTTP_STATUS"
http POST /v1/queues/pq/stop
check_eq "an unknown action is 404" 404 "$HTTP_STATUS"
http POST /v1/jobs/no-such-job/retry
check_eq "retry of an unknown job is 404" "404 not_found" "$HTTP_STATUS $(jqr .error.code)"
http POST "/v1/jobs/bad%20id/retry"
check_eq "retry of an invalid id is 400" "400 invalid_id" "$HTTP_STATUS $(jqr .error.code)"
http GET /v1/jobs/pp-1/retry
check_eq "GET on /retry is 405" 405 "$HTTP_STATUS"
http GET "/v1/jobs?state=failed&queue=bad%20q"
check_eq "list with a bad queue= is 400" 400 "$HTTP_STATUS"

# --- GET /v1/queues against Redis ---------------------------------------------------
# a scheduled (delayed) entry and a rate log written as the take step would
for j in 0 1 2; do rcli ZADD "$(delayed_key pq "$j" 3)" 99999999999999 "later-$j" >/dev/null; done
now_ms=$(($(date +%s) * 1000))
rcli ZADD "$(rate_key rq)" "$now_ms" "$now_ms.1" "$((now_ms - 1))" "$((now_ms - 1)).2" \
  "$((now_ms - 3600000))" "old.3" >/dev/null
submit p3 pp-2; submit p3 pp-3; submit rated rr-1
http GET /v1/queues
check_eq "GET /v1/queues answers 200" 200 "$HTTP_STATUS"
check_eq "... lists the file's queues (sorted) and default" "default fq pq rq sq" \
  "$(jqr '[.queues[].name] | join(" ")')"
depth=0; sched=0
for j in 0 1 2; do
  depth=$((depth + $(rcli LLEN "$(queue_key pq "$j" 3)")))
  sched=$((sched + $(rcli ZCARD "$(delayed_key pq "$j" 3)")))
done
check_eq "pq's depth is the sum of its 3 lists' LLEN ($depth)" "$depth" \
  "$(jqr '.queues[] | select(.name=="pq") | .depth')"
check_eq "pq's scheduled is the sum of its delayed sets' ZCARD ($sched)" "$sched" \
  "$(jqr '.queues[] | select(.name=="pq") | .scheduled')"
check_eq "rq's rate limit and use in the window (2 of the 3 entries are recent)" \
  '{"jobs":5,"per_s":60} 2 1' \
  "$(jqr -c '.queues[] | select(.name=="rq") | "\(.rate_limit|tojson) \(.rate_used) \(.depth)"')"
check_eq "a queue without a limit shows null" "null null" \
  "$(jqr '.queues[] | select(.name=="fq") | "\(.rate_limit) \(.rate_used)"')"
for j in 0 1 2; do rcli DEL "$(delayed_key pq "$j" 3)" >/dev/null; done

# --- the failed index ------------------------------------------------------------------
start_worker fq $W --queue fq --concurrency 2
FQ=$WORKER_PID
for i in $(seq 1 30); do printf '{"pipeline":"bad","id":"f-%d","input":%d}\n' "$i" "$i"; done |
  jq -s -c . >"$T/bad.json"
post_json /v1/jobs "$(cat "$T/bad.json")"
check_eq "30 failing jobs submitted" 202 "$HTTP_STATUS"
all_failed() { [ "$(rcli ZCARD "$(failed_key fq)")" = 30 ]; }
check "... all 30 end failed and are in fq's failed index" poll 60 all_failed
check_eq "... scored by when they failed (ms), the newest kept" 30 \
  "$(rcli ZCOUNT "$(failed_key fq)" "$((now_ms - 60000))" +inf)"
for i in $(seq 1 200); do printf '{"pipeline":"ok","input":%d}\n' "$i"; done |
  jq -s -c . >"$T/ok.json"
post_json /v1/jobs "$(cat "$T/ok.json")"
check_eq "200 successful jobs submitted after them" 202 "$HTTP_STATUS"
ok_done() { [ "$(curl -s "$API_URL/v1/queues/fq" | jq .depth)" = 0 ] && [ "$(curl -s "$API_URL/v1/queues/fq" | jq .running)" = 0 ]; }
check "... and run" poll 60 ok_done
# the recent index forgets the failures (as it would after 10,000 newer jobs):
# the failed listing does not depend on it
for id in $(rcli ZRANGE "$(failed_key fq)" 0 -1); do rcli ZREM "$(recent_key)" "$id" >/dev/null; done
http GET "/v1/jobs?state=failed&limit=500"
check_eq "GET /v1/jobs?state=failed finds all 30 from the failed index" 30 "$(jqr '.jobs | length')"
check_eq "... the same ids as ZRANGE of the index, newest first" \
  "$(rcli ZREVRANGE "$(failed_key fq)" 0 -1 | tr '\n' ' ')" "$(jqr '[.jobs[].id] | join(" ")') "
check_eq "... all failed" failed "$(jqr '[.jobs[].state] | unique | join(" ")')"
http GET "/v1/jobs?state=failed&limit=10"
c1=$(jqr .next_cursor); p1=$(jqr '[.jobs[].id] | join(" ")')
http GET "/v1/jobs?state=failed&limit=10&cursor=$c1"
p2=$(jqr '[.jobs[].id] | join(" ")')
check_eq "... paged by cursor: pages of 10 follow each other" \
  "$(rcli ZREVRANGE "$(failed_key fq)" 0 19 | tr '\n' ' ')" "$p1 $p2 "
http GET "/v1/jobs?state=failed&queue=pq"
check_eq "queue=pq has none" 0 "$(jqr '.jobs | length')"
http GET "/v1/jobs?state=failed&queue=fq&limit=3"
check_eq "queue=fq has them" 3 "$(jqr '.jobs | length')"
check_eq "GET /v1/queues/fq: failed is the index's ZCARD" "$(rcli ZCARD "$(failed_key fq)")" \
  "$(queue_fig fq failed)"
out=$("${CLI[@]}" list --state failed --queue fq --limit 500 2>/dev/null | grep -c ' failed ')
check_eq "stageq list --state failed --queue fq shows them" 30 "$out"
# an expired failed job is dropped from the index when read
rcli DEL "$(job_key f-1)" >/dev/null
http GET "/v1/jobs?state=failed&limit=500"
check_eq "an expired failed job is not listed" 29 "$(jqr '.jobs | length')"
dropped() { [ -z "$(rcli ZSCORE "$(failed_key fq)" f-1)" ]; }
check "... and is dropped from the index" poll 10 dropped

# --- retry -------------------------------------------------------------------------------
submit once r-1
check "a job whose stage b fails its first run ends failed" poll 30 state_is r-1 failed
check_eq "... at stage b (2 of 3), after 1 attempt" "2 1" "$(field r-1 stage) $(field r-1 attempt)"
a_field=$(field r-1 stage.1) # "a succeeded <started> <finished>"
check "... stage a's field holds its end" [ "$(stage_part r-1 1 state)" = succeeded ] &&
  [ -n "$(stage_part r-1 1 finished)" ]
check "... it is in the failed index" [ -n "$(rcli ZSCORE "$(failed_key fq)" r-1)" ]
http POST /v1/jobs/r-1/retry
check_eq "POST /v1/jobs/r-1/retry answers 202 with its status, queued" "202 queued fq" \
  "$HTTP_STATUS $(jqr '"\(.state) \(.queue)"')"
check_eq "... error and finished_at cleared, the errors kept" "null null 1" \
  "$(jqr '"\(.error) \(.finished_at) \(.errors | length)"')"
check "... it left the failed index" [ -z "$(rcli ZSCORE "$(failed_key fq)" r-1)" ]
check "... and succeeds" poll 30 state_is r-1 succeeded
check_eq "... resumed at the failed stage, attempt 1 of a fresh budget" "2 1" \
  "$(field r-1 resumed_from_stage) $(field r-1 attempt)"
check_eq "... stage a did not run again (its field, times and output kept), b ran twice" \
  "$a_field true 2" \
  "$(field r-1 stage.1) $([ -n "$(field r-1 stage.1.output)" ] && echo true) $(grep -c '^r-1$' "$MARKS/runs")"
http POST /v1/jobs/r-1/retry
check_eq "retry of a succeeded job is 409 with its state" "409 not_retryable succeeded" \
  "$HTTP_STATUS $(jqr '"\(.error.code) \(.error.state)"')"
"${CLI[@]}" retry r-1 >/dev/null 2>&1
check_eq "stageq retry of a succeeded job exits 1" 1 "$?"

# a running job: 409; canceled, then retried: it runs again
start_worker sq $W --queue sq --concurrency 1
post_json /v1/jobs '{"pipeline":"slow","id":"s-1","input":{"sleep":30}}'
check "a slow job runs" poll 30 state_is s-1 running
http POST /v1/jobs/s-1/retry
check_eq "retry of a running job is 409 with its state" "409 running" \
  "$HTTP_STATUS $(jqr .error.state)"
http DELETE /v1/jobs/s-1
check_eq "it is canceled" 200 "$HTTP_STATUS"
stopped() { http POST /v1/jobs/s-1/retry; [ "$HTTP_STATUS" = 202 ]; }
check "POST retry of the canceled job answers 202 (once its worker let it go)" poll 30 stopped
check "... and it runs again" poll 30 state_is s-1 running
check_eq "... attempt 1" 1 "$(field s-1 attempt)"
http DELETE /v1/jobs/s-1

submit ok c-1 # fq has a worker: cancel a queued job on an unserved queue instead
post_json /v1/jobs '{"pipeline":"p3","id":"c-2"}'
http DELETE /v1/jobs/c-2
check_eq "a queued job canceled" "200 canceled" "$HTTP_STATUS $(jqr .state)"
out=$("${CLI[@]}" retry c-2)
check_eq "stageq retry of the canceled job: requeued on its queue (exit 0)" "requeued c-2 on pq 0" "$out $?"
kc=$(sq_keys -P 3 job c-2)
check_eq "... queued again, in its partition's list" "queued 1" \
  "$(rcli HGET "$kc" state) $(rcli LPOS "$(queue_key pq "$(part_of c-2 3)" 3)" c-2 | grep -c .)"

# --- the CLI -------------------------------------------------------------------------------
"${CLI[@]}" pause pq >"$T/cli.out"
check_eq "stageq pause pq" "paused pq 0" "$(cat "$T/cli.out") $?"
"${CLI[@]}" queues >"$T/cli.out"
check "stageq queues: a table with a header" grep -q '^QUEUE' "$T/cli.out"
check "... pq's line says paused" grep -qE '^pq +3 .* since ' "$T/cli.out"
check "... rq's line its rate" grep -qE '^rq .* [0-9]+/5 per 60s' "$T/cli.out"
"${CLI[@]}" --json queues | jq -e '.queues | length == 5' >/dev/null
check_eq "stageq --json queues prints the API's JSON" 0 "$?"
"${CLI[@]}" resume pq >"$T/cli.out"
check_eq "stageq resume pq" "resumed pq 0" "$(cat "$T/cli.out") $?"
"${CLI[@]}" pause 'bad name' 2>/dev/null
check_eq "stageq pause of a bad name exits 2" 2 "$?"
"${CLI[@]}" pause 2>/dev/null
check_eq "stageq pause without a queue exits 2" 2 "$?"
"${CLI[@]}" retry no-such-job 2>/dev/null
check_eq "stageq retry of an unknown job exits 1" 1 "$?"

finish
