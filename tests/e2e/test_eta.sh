#!/usr/bin/env bash
# test_eta: the stage history behind the estimates (eta_s, stage_eta_s,
# expected_s, duration_s), the cluster-wide counters and stage histograms the
# scripts keep in Redis, and the event a submit publishes.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=teta
flush_prefix teta
T=$STAGEQ_TEST_TMP
PIPES=tests/e2e/pipelines-test.json
start_api api --pipelines "$PIPES"

# --- a submit is an event: /v1/events sees a job while it is queued ----------
curl -s -N --max-time 20 "$API_URL/v1/events" >"$T/eta-all.out" &
epid=$!
sleep 0.5
post_json /v1/jobs '{"pipeline":"blog4","input":{"sleep":0.3}}'
id1=$(jqr .id)
check_eq "with no history, a queued job's eta_s is null" null "$(jqr .eta_s)"
queued_seen() {
  grep '^data: ' "$T/eta-all.out" | cut -c7- |
    jq -e --arg id "$id1" 'select(.id == $id and .state == "queued")' >/dev/null
}
check "/v1/events shows the job queued (submit publishes)" wait_for 5 queued_seen
kill "$epid" 2>/dev/null
http GET "/v1/jobs/$id1"
check_eq "no history: every stage's expected_s is null" "null null null null" \
  "$(jqr '[.stages[].expected_s] | map(tostring) | join(" ")')"

# --- one run makes the history ---------------------------------------------------
start_worker w --concurrency 1 --pipelines "$PIPES"
done1() { [ "$(rcli HGET "$(job_key "$id1")" state)" = succeeded ]; }
check "the first job succeeds" wait_for 30 done1
check_eq "each stage has one recorded duration" "1 1 1 1" \
  "$(for k in 1 2 3 4; do printf '%s ' "$(rcli HGET "$(eta_key blog4)" "$k.n")"; done | xargs)"
check_eq "the ETA hash has each stage's mean, count and runs" "12" "$(rcli HLEN "$(eta_key blog4)")"
http GET "/v1/jobs/$id1"
check_eq "a finished job: eta_s 0" 0 "$(jqr .eta_s)"
check_eq "a finished job: stage_eta_s 0" 0 "$(jqr .stage_eta_s)"
check_eq "every finished stage has duration_s > 0" "true true true true" \
  "$(jqr '[.stages[].duration_s > 0] | map(tostring) | join(" ")')"
d1=$(jqr '.stages[0].duration_s')
ms1=$(rcli HGET "$(eta_key blog4)" 1.runs | cut -d, -f1)
check "stage 1's recorded ms matches its duration_s ($ms1 ms vs $d1 s, within 50 ms)" \
  awk -v a="$ms1" -v b="$d1" 'BEGIN { d = a / 1000 - b; exit !(d < 0.05 && d > -0.05) }'

# --- the next job gets estimates -------------------------------------------------
stop_pid "$WORKER_PID"
post_json /v1/jobs '{"pipeline":"blog4","input":{"sleep":1.5}}'
id2=$(jqr .id)
has_eta() { [ "$(curl -s "$API_URL/v1/jobs/$id2" | jq -r '.eta_s | type')" = number ]; }
check "a queued job's eta_s becomes a number (the API reads the history each second)" \
  wait_for 5 has_eta
http GET "/v1/jobs/$id2"
sum=$(for k in 1 2 3 4; do rcli HGET "$(eta_key blog4)" "$k"; done | awk '{ s += $1 } END { printf "%.3f", s / 1000 }')
check_eq "queued: eta_s is the sum of the stages' means" "$sum" "$(jqr '.eta_s * 1000 | round / 1000 | tostring' | awk '{ printf "%.3f", $1 }')"
check_eq "queued: stage_eta_s is null" null "$(jqr .stage_eta_s)"
check_eq "every stage has expected_s" "number number number number" \
  "$(jqr '[.stages[].expected_s | type] | join(" ")')"
start_worker w2 --concurrency 1 --pipelines "$PIPES"
in_stage2() { [ "$(curl -s "$API_URL/v1/jobs/$id2" | jq -r '.stage')" = 2 ]; }
check "the job reaches stage 2" wait_for 20 in_stage2
http GET "/v1/jobs/$id2"
echo "# running in stage 2: eta_s=$(jqr .eta_s) stage_eta_s=$(jqr .stage_eta_s)"
check_eq "running: stage_eta_s and eta_s are numbers" "number number" \
  "$(jqr '[.stage_eta_s, .eta_s] | map(type) | join(" ")')"
check "running: eta_s >= stage_eta_s + stages 3 and 4's means" \
  bash -c 'jq -e --argjson m3 "$1" --argjson m4 "$2" \
    ".eta_s + 0.001 >= .stage_eta_s + (\$m3 + \$m4) / 1000" <<<"$3" >/dev/null' _ \
  "$(rcli HGET "$(eta_key blog4)" 3)" "$(rcli HGET "$(eta_key blog4)" 4)" "$HTTP_BODY"
check_eq "the running stage has elapsed_s, no duration_s" "number null" \
  "$(jqr '[.stages[1].elapsed_s, .stages[1].duration_s] | map(type) | join(" ")')"
done2() { [ "$(rcli HGET "$(job_key "$id2")" state)" = succeeded ]; }
check "the second job succeeds" wait_for 30 done2
check_eq "two durations per stage now" 2 "$(rcli HGET "$(eta_key blog4)" 3.runs | tr ',' '\n' | wc -l)"
check_eq "the ETA hash counts them" 2 "$(rcli HGET "$(eta_key blog4)" 3.n)"

# --- the history is bounded: 20 runs per stage ---------------------------------
rcli HSET "$(eta_key blog4)" 1.runs "$(seq 1 25 | sed 's/.*/100/' | paste -sd,)" >/dev/null
post_json /v1/jobs '{"pipeline":"blog4","input":{"sleep":0.1}}'
id3=$(jqr .id)
done3() { [ "$(rcli HGET "$(job_key "$id3")" state)" = succeeded ]; }
check "a third job succeeds" wait_for 30 done3
check_eq "stage 1 keeps its last 20 durations" 20 "$(rcli HGET "$(eta_key blog4)" 1.runs | tr ',' '\n' | wc -l)"
check_eq "and their mean" "$(rcli HGET "$(eta_key blog4)" 1.runs | tr ',' '\n' | awk '{ s += $1 } END { printf "%d", s / NR + 0.5 }')" \
  "$(rcli HGET "$(eta_key blog4)" 1)"
eta_ttl_over() { [ "$(rcli TTL "$(eta_key blog4)")" -gt "$1" ]; }
check "the history keys expire (30 days)" eta_ttl_over 2500000

# --- an idle worker writes each stage as it starts ------------------------------
# Four echo stages end within microseconds. A worker with nothing else to do
# writes each transition before the next stage runs (watchers see every
# stage), so the job changes Redis (and publishes) 6 times: submit, start,
# the 3 transitions, finish. A worker draining a backlog folds them into the
# end instead (test_events: about one script call per job).
redis-cli -p "$REDIS_PORT" SUBSCRIBE "$(events_channel)" >"$T/eta-sub.out" &
subpid=$!
sleep 0.3
post_json /v1/jobs '{"pipeline":"fast4","input":{"x":1}}'
idf=$(jqr .id)
donef() { [ "$(rcli HGET "$(job_key "$idf")" state)" = succeeded ]; }
check "a job of four fast stages succeeds" wait_for 20 donef
sleep 0.3
kill "$subpid" 2>/dev/null
wait "$subpid" 2>/dev/null
nmsg=$(grep -cx "$idf" "$T/eta-sub.out")
echo "# writes (events) for the 4-stage job of fast stages: $nmsg"
check_eq "it was written 6 times (submit, start, 3 transitions, finish)" 6 "$nmsg"
http GET "/v1/jobs/$idf"
check_eq "every stage is recorded succeeded, with its output" "succeeded succeeded succeeded succeeded|4" \
  "$(jqr '([.stages[].state] | join(" ")) + "|" + ([.stages[].output.x] | length | tostring)')"
check_eq "every stage has its duration" "number number number number" \
  "$(jqr '[.stages[].duration_s | type] | join(" ")')"
check_eq "and each stage's duration went into the history" "1 1 1 1" \
  "$(for k in 1 2 3 4; do printf '%s ' "$(rcli HGET "$(eta_key fast4)" "$k.n")"; done | xargs)"

# --- a backlog: each job is popped and started in one round trip (take.lua) ---
stop_pid "$WORKER_PID"
cmdcalls() {
  rcli_each INFO commandstats | tr -d '\r' | sed -n "s/^cmdstat_$1:calls=\([0-9]*\).*/\1/p" |
    awk '{ s += $1 } END { if (NR) print s }'
}
ids=""
for i in $(seq 1 20); do
  post_json /v1/jobs '{"pipeline":"fast4","input":{"i":'"$i"'}}'
  ids="$ids $(jqr .id)"
done
b0=$(cmdcalls blmove); b0=${b0:-0}
r0=$(info_sum stats total_reads_processed)
start_worker w3 --concurrency 1 --pipelines "$PIPES"
all_done() {
  local id
  for id in $ids; do [ "$(rcli HGET "$(job_key "$id")" state)" = succeeded ] || return 1; done
}
check "a backlog of 20 fast jobs is drained" wait_for 60 all_done
b1=$(cmdcalls blmove); b1=${b1:-0}
t1=$(date +%s%3N)
r1=$(info_sum stats total_reads_processed)
# the worker idles in BLMOVE (1 s each) from the last end until b1 was read:
# those are allowed beside the (at most 3) of the drain itself
last=$(for id in $ids; do rcli HGET "$(job_key "$id")" finished_at; done | sort | tail -1)
idle=$(((t1 - $(date -d "$last" +%s%3N) + 999) / 1000))
echo "# backlog of 20 jobs: $((b1 - b0)) BLMOVE ($idle s idle after it), $((r1 - r0)) Redis reads (all clients, incl. this test's)"
check "the backlog was popped without waiting in BLMOVE per job ($((b1 - b0)) BLMOVE for 20 jobs, $idle s idle)" \
  test $((b1 - b0)) -le $((3 + idle))
check_eq "each job started once" "$(printf '1 %.0s' $(seq 1 20) | xargs)" \
  "$(for id in $ids; do printf '%s ' "$(rcli HGET "$(job_key "$id")" attempt)"; done | xargs)"

# --- counters and histograms -----------------------------------------------------
post_json /v1/jobs '{"pipeline":"permanent","input":{}}'
idp=$(jqr .id)
post_json /v1/jobs '{"pipeline":"idle","input":{}}'
idc=$(jqr .id)
http DELETE "/v1/jobs/$idc"
check_eq "cancel answers 200" 200 "$HTTP_STATUS"
failed() { [ "$(rcli HGET "$(job_key "$idp")" state)" = failed ]; }
check "the permanent failure fails" wait_for 30 failed
check_eq "submitted:blog4 counts 3" 3 "$(rcli HGET "$(counters_key)" submitted:blog4)"
check_eq "succeeded:blog4 counts 3" 3 "$(rcli HGET "$(counters_key)" succeeded:blog4)"
check_eq "failed:permanent counts 1" 1 "$(rcli HGET "$(counters_key)" failed:permanent)"
check_eq "canceled:idle counts 1" 1 "$(rcli HGET "$(counters_key)" canceled:idle)"
check_eq "submitted:idle counts 1" 1 "$(rcli HGET "$(counters_key)" submitted:idle)"
check_eq "the histogram counts 3 runs of stage 'two'" 3 "$(rcli HGET "$(stagehist_key blog4)" 'two|count')"
buckets=$(rcli HGETALL "$(stagehist_key blog4)" | paste - - | awk -F'\t' '$1 ~ /^two\|[0-9+]/ { s += $2 } END { print s }')
check_eq "its buckets add up to its count" 3 "$buckets"
check "its sum is the seconds of its runs (> 0)" \
  awk -v s="$(rcli HGET "$(stagehist_key blog4)" 'two|sum')" 'BEGIN { exit !(s > 0) }'

stop_all
finish
