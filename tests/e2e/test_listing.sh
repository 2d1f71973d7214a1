#!/usr/bin/env bash
# test_listing: the overview routes — GET /v1/jobs (recent jobs, newest first,
# filters, cursor paging), GET /v1/stats and GET /v1/workers — and the bound
# of the recent index.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tl
flush_prefix tl
flush_prefix tlb
start_api api

# --- jobs: 4 echo, 2 demo that succeed, 1 demo that fails --------------------
ids=()
for i in 1 2 3 4; do
  post_json /v1/jobs "{\"pipeline\":\"echo\",\"id\":\"echo-$i\",\"input\":{\"n\":$i}}"
  ids+=("echo-$i")
done
for i in 1 2; do
  post_json /v1/jobs "{\"pipeline\":\"demo\",\"id\":\"demo-$i\",\"input\":{\"size\":1000,\"rounds\":1,\"seed\":$i}}"
  ids+=("demo-$i")
done
post_json /v1/jobs '{"pipeline":"demo","id":"demo-bad","input":{"size":0}}'
ids+=("demo-bad")
check_eq "the last submit answers 202" 202 "$HTTP_STATUS"
# two jobs for a queue nobody serves
post_json /v1/jobs '{"pipeline":"echo","id":"nobody-1","queue":"nobody","input":{}}'
post_json /v1/jobs '{"pipeline":"echo","id":"nobody-2","queue":"nobody","input":{}}'
check_eq "a job for queue nobody answers 202" 202 "$HTTP_STATUS"
check_eq "the recent index holds every job" 9 "$(rcli ZCARD "$(recent_key)")"

http GET /v1/jobs
check_eq "GET /v1/jobs answers 200" 200 "$HTTP_STATUS"
check_eq "newest first" "nobody-2 nobody-1 demo-bad demo-2 demo-1 echo-4 echo-3 echo-2 echo-1" \
  "$(jqr '[.jobs[].id] | join(" ")')"
check_eq "a short list has no next_cursor" null "$(jqr .next_cursor)"
check_eq "summaries have the listed fields" \
  "attempt created_at finished_at id overall_progress pipeline progress queue run_at stage stage_count stage_name state updated_at" \
  "$(jqr '.jobs[0] | keys | join(" ")')"
check_eq "before any worker, all are queued" 9 "$(jqr '[.jobs[] | select(.state == "queued")] | length')"

# a short lease: heartbeats (which publish jobs_done) every second
start_worker worker --concurrency 2 --lease 3
done_all() {
  local n
  n=$(curl -s "$API_URL/v1/jobs?pipeline=demo" | jq '[.jobs[] | select(.state == "succeeded" or .state == "failed")] | length')
  [ "$n" = 3 ] && [ "$(curl -s "$API_URL/v1/jobs/echo-4" | jq -r .state)" = succeeded ]
}
check "the jobs run" wait_for 20 done_all

http GET "/v1/jobs?state=failed"
check_eq "filter by state: failed" "demo-bad" "$(jqr '[.jobs[].id] | join(" ")')"
http GET "/v1/jobs?state=succeeded&pipeline=demo"
check_eq "filter by state and pipeline" "demo-2 demo-1" "$(jqr '[.jobs[].id] | join(" ")')"
http GET "/v1/jobs?pipeline=echo"
check_eq "filter by pipeline" "nobody-2 nobody-1 echo-4 echo-3 echo-2 echo-1" \
  "$(jqr '[.jobs[].id] | join(" ")')"
http GET "/v1/jobs?state=queued"
check_eq "queued: the nobody jobs" "nobody-2 nobody-1" "$(jqr '[.jobs[].id] | join(" ")')"
check_eq "numbers are numbers" number "$(jqr '.jobs[0].stage_count | type')"

# --- paging: limit 2 + cursor covers everything exactly once ---------------------
seen=""
cursor=""
pages=0
while :; do
  if [ -n "$cursor" ]; then http GET "/v1/jobs?limit=2&cursor=$cursor"; else http GET "/v1/jobs?limit=2"; fi
  [ "$HTTP_STATUS" = 200 ] || break
  pages=$((pages + 1))
  [ "$(jqr '.jobs | length')" -le 2 ] || { not_ok "a page holds at most limit jobs"; break; }
  seen="$seen $(jqr '[.jobs[].id] | join(" ")')"
  cursor=$(jqr '.next_cursor // empty')
  [ -z "$cursor" ] && break
  [ "$pages" -gt 20 ] && break
done
check_eq "paging returns every job once, newest first" \
  " nobody-2 nobody-1 demo-bad demo-2 demo-1 echo-4 echo-3 echo-2 echo-1" "$(echo "$seen" | tr -s ' ')"
check "paging took 5 pages" test "$pages" -eq 5

# same score: jobs created in the same millisecond still page exactly once
now=$(date +%s%3N)
for x in a b c; do rcli ZADD "$(recent_key)" "$((now + 100000))" "tie-$x" >/dev/null; rcli HSET "$(job_key "tie-$x")" id "tie-$x" state queued pipeline echo >/dev/null; done
http GET "/v1/jobs?limit=2"
c=$(jqr .next_cursor)
first=$(jqr '[.jobs[].id] | join(" ")')
http GET "/v1/jobs?limit=2&cursor=$c"
check_eq "ties across a page boundary are not lost" "tie-c tie-b | tie-a nobody-2" "$first | $(jqr '[.jobs[].id] | join(" ")')"
rcli ZREM "$(recent_key)" tie-a tie-b tie-c >/dev/null
rcli DEL "$(job_key tie-a)" "$(job_key tie-b)" "$(job_key tie-c)" >/dev/null

# expired jobs are skipped
rcli DEL "$(job_key echo-1)" >/dev/null
http GET /v1/jobs
check_eq "an expired job is skipped" 8 "$(jqr '.jobs | length')"

# --- bad parameters ------------------------------------------------------------
for q in limit=0 limit=501 limit=abc limit=-1 state=bogus cursor=xyz cursor=12 pipeline=a/b; do
  http GET "/v1/jobs?$q"
  check_eq "bad $q answers 400" 400 "$HTTP_STATUS"
  check_eq "bad $q names the parameter" yes \
    "$(jqr '.error.message' | grep -q "'${q%%=*}'" && echo yes)"
done
check_eq "the error code is invalid_request" invalid_request "$(jqr .error.code)"
http GET "/v1/jobs?limit"
check_eq "a parameter without = answers 400" 400 "$HTTP_STATUS"
http GET "/v1/jobs?foo=1"
check_eq "an unknown parameter answers 400" 400 "$HTTP_STATUS"
http GET "/v1/jobs?limit=500"
check_eq "limit 500 is accepted" 200 "$HTTP_STATUS"

# --- stats ----------------------------------------------------------------------
http GET /v1/stats
check_eq "GET /v1/stats answers 200" 200 "$HTTP_STATUS"
check_eq "stats: queue nobody has 2 queued" 2 "$(jqr '.queues.nobody.queued')"
check_eq "stats: queue nobody has no workers" 0 "$(jqr '.queues.nobody.workers')"
check_eq "stats: default queue is empty" 0 "$(jqr '.queues.default.queued')"
check_eq "stats: default queue has 2 workers" 2 "$(jqr '.queues.default.workers')"
check_eq "stats: workers_alive is 2" 2 "$(jqr .workers_alive)"
check_eq "stats: recent window" 10000 "$(jqr .recent_jobs.window)"
check_eq "stats: by_state" "1 2 0 0 5" \
  "$(jqr '.recent_jobs.by_state | "\(.failed) \(.queued) \(.running) \(.canceled) \(.succeeded)"')"
check_eq "stats: the expired job counts as expired" 1 "$(jqr .recent_jobs.expired)"

# --- workers ----------------------------------------------------------------------
http GET /v1/workers
check_eq "GET /v1/workers answers 200" 200 "$HTTP_STATUS"
check_eq "two live workers" 2 "$(jqr '.workers | length')"
check_eq "both serve queue default" "default default" "$(jqr '[.workers[].queue] | join(" ")')"
jobs_done_is_7() { [ "$(curl -s "$API_URL/v1/workers" | jq '[.workers[].jobs_done] | add')" = 7 ]; }
check "jobs_done adds up to the 7 jobs run" wait_for 5 jobs_done_is_7
check_eq "worker fields" "heartbeat_at host id job jobs_done lease_expires_at pid queue queues started_at" \
  "$(jqr '.workers[0] | keys | join(" ")')"
check_eq "pid is a number" number "$(jqr '.workers[0].pid | type')"
check_eq "a pool of one queue lists it in queues, without a weight" '[{"name":"default","weight":null}]' \
  "$(jqr -c '.workers[0].queues')"
http POST /v1/workers
check_eq "POST /v1/workers answers 405" 405 "$HTTP_STATUS"

# --- the current job shows from the moment it runs, and idle from its end ---------
# The start and end scripts write the worker's job field: with a lease of
# 600 s the next heartbeat is 150 s away, far past this test (heartbeat_at
# must not move), and no check waits longer than 10 s for what it looks for.
start_api api2 --pipelines tests/e2e/pipelines-test.json
start_worker shown --pipelines tests/e2e/pipelines-test.json --queue shown --concurrency 1 \
  --lease 600
shown_worker() { curl -s "$API_URL/v1/workers" | jq -c '.workers[] | select(.queue == "shown")'; }
shown_live() { [ -n "$(shown_worker)" ]; }
check "a worker serves queue shown" wait_for 10 shown_live
hb0=$(shown_worker | jq -r .heartbeat_at)
check_eq "idle: its job is null" null "$(shown_worker | jq -r .job)"
post_json /v1/jobs '{"pipeline":"blog4","queue":"shown","id":"shown-1","input":{"sleep":1}}'
shown_running() { [ "$(curl -s "$API_URL/v1/jobs/shown-1" | jq -r .state)" = running ]; }
check "the job runs" wait_for 10 shown_running
check_eq "/v1/workers shows the job while it runs" shown-1 "$(shown_worker | jq -r .job)"
http GET /v1/stats
check_eq "/v1/stats counts it running" 1 "$(jqr .queues.shown.running)"
shown_done() { [ "$(curl -s "$API_URL/v1/jobs/shown-1" | jq -r .state)" = succeeded ]; }
check "the job ends" wait_for 20 shown_done
check_eq "/v1/workers: idle again once it ended" null "$(shown_worker | jq -r .job)"
http GET /v1/stats
check_eq "/v1/stats: none running once it ended" 0 "$(jqr .queues.shown.running)"
check_eq "no heartbeat meanwhile (the start and end wrote it)" "$hb0" \
  "$(shown_worker | jq -r .heartbeat_at)"

# --- the recent index is bounded (the script's trim, with a bound of 3) ------------
for i in 1 2 3 4 5; do
  (
    export STAGEQ_PREFIX=tlb
    rcli EVAL "$(lua_src submit)" 5 "$(job_key "b$i")" "$(queue_key default)" "$(recent_key)" \
      "$(counters_key)" "$(delayed_key default)" "b$i" 60 0 "$((1000 + i))" 3 "$(events_channel)" \
      "$(wake_channel default)" 0 id "b$i" state queued >/dev/null
  )
done
check_eq "the index keeps the newest N" "b5 b4 b3" "$(rcli ZREVRANGE "$(STAGEQ_PREFIX=tlb recent_key)" 0 -1 | tr '\n' ' ' | sed 's/ $//')"
flush_prefix tlb

# --- numbers edited by hand in Redis: read with bounds, each with its fallback ------
# (the API's own share of the garbage-field rule; no worker runs on prefix tlg)
export STAGEQ_PREFIX=tlg
flush_prefix tlg
start_api apig
now=$(($(date +%s) * 1000))
rcli HSET "$(job_key g-new)" id g-new state running pipeline echo stage abc stage_count 2 \
  progress 1e999 overall_progress nan attempt -3 >/dev/null
rcli HSET "$(job_key g-mid)" id g-mid state queued pipeline echo stage 1 stage_count 2 \
  progress 0.5 attempt 0 >/dev/null
rcli HSET "$(job_key g-old)" id g-old state queued pipeline echo >/dev/null
rcli ZADD "$(recent_key)" "$now" g-new "$((now - 1000))" g-mid -1 g-old >/dev/null
http GET "/v1/jobs?limit=1"
check_eq "garbage in numeric fields: the listing answers 200" 200 "$HTTP_STATUS"
check_eq "numeric fields holding garbage are null, never strings" "null null null null null" \
  "$(jqr '.jobs[0] | "\(.stage) \(.progress) \(.overall_progress) \(.attempt) \(.stage|type)"')"
check_eq "a numeric field in bounds is a number" 2 "$(jqr '.jobs[0].stage_count')"
c1=$(jqr .next_cursor)
http GET "/v1/jobs?limit=1&cursor=$c1"
check_eq "page 2 is g-mid, its numbers as numbers" "g-mid 1 0.5 0" \
  "$(jqr '.jobs[0] | "\(.id) \(.stage) \(.progress) \(.attempt)"')"
c2=$(jqr .next_cursor)
http GET "/v1/jobs?limit=1&cursor=$c2"
check_eq "page 3 is g-old (its score is -1, set by hand)" g-old "$(jqr '.jobs[0].id')"
c3=$(jqr .next_cursor)
http GET "/v1/jobs?limit=1&cursor=$c3"
check_eq "the cursor after a score of -1 is one the API accepts" 200 "$HTTP_STATUS"
check_eq "and the index ends there" "0 null" "$(jqr '"\(.jobs | length) \(.next_cursor)"')"
rcli ZADD "$(workers_key)" inf w-inf >/dev/null
rcli HSET "$(worker_key w-inf)" id w-inf host h pid 12abc queue default jobs_done x7 >/dev/null
http GET /v1/workers
check_eq "garbage in a worker's fields: /v1/workers answers 200" 200 "$HTTP_STATUS"
check_eq "pid, jobs_done and an infinite lease read as null" "w-inf null null null" \
  "$(jqr '.workers[0] | "\(.id) \(.pid) \(.jobs_done) \(.lease_expires_at)"')"
flush_prefix tlg

finish
