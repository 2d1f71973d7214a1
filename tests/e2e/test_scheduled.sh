#!/usr/bin/env bash
# test_scheduled: delayed and scheduled jobs on submit. POST /v1/jobs takes
# delay_s or run_at (RFC 3339 with Z or an offset), single and bulk; bad
# values are refused with clear errors; the job is "scheduled" with its
# run_at in the status and the listings, its id in the queue's delayed zset
# (not on the list) until it is due, shown "queued" once due; it runs after
# its time, never before (the start delay is measured and printed, not
# asserted); a scheduled job cancels like a queued one; a resubmit with the
# same id is safe. Exactly once: 2 worker pools and 2 API replicas, 100 jobs
# with delays spread over 3 s, each run once (a stage that logs every run).
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tsd
sq_redis sc
T=$STAGEQ_TEST_TMP
RUNS="$T/runs.log"
P="$T/pipelines.json"
cat >"$P" <<EOF
{"queues": {"sq4": {"partitions": 4}},
 "pipelines": {
  "fast": {"stages": [{"name": "a", "builtin": "echo"}]},
  "logged": {"max_attempts": 3, "stages": [
     {"name": "log", "exec": ["sh", "-c", "echo \"\$STAGEQ_JOB_ID\" >>'$RUNS'; cat"]}]},
  "wide": {"queue": "sq4", "stages": [{"name": "a", "builtin": "echo"}]}
}}
EOF
: >"$RUNS"
start_api api --pipelines "$P"
API1=$API_URL

ms_of() { # RFC 3339 -> ms since the epoch
  python3 -c 'import sys, datetime as d
print(int(d.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp() * 1000))' "$1"
}
now_ms() { date +%s%3N; }
# iso_in S [OFFSET]: the time S seconds from now, in RFC 3339 with OFFSET
# (a "+HH:MM"; default Z)
iso_in() {
  python3 -c 'import sys, datetime as d
off = sys.argv[2] if len(sys.argv) > 2 else ""
tz = d.timezone.utc
if off:
    sign = -1 if off[0] == "-" else 1
    tz = d.timezone(sign * d.timedelta(hours=int(off[1:3]), minutes=int(off[4:6])))
t = d.datetime.now(tz) + d.timedelta(seconds=float(sys.argv[1]))
print(t.isoformat(timespec="milliseconds").replace("+00:00", "Z"))' "$@"
}
state_of() { curl -s "$API_URL/v1/jobs/$1" | jq -r .state; }
dkey=$(delayed_key default)
qkey=$(queue_key default)

# --- delay_s: scheduled, in the delayed zset, not on the list ---------------------
t0=$(now_ms)
post_json /v1/jobs '{"pipeline":"fast","id":"s-1","input":1,"delay_s":300}'
check_eq "delay_s 300: 202, state scheduled" "202 scheduled" "$HTTP_STATUS $(jqr .state)"
run_at=$(jqr .run_at)
d=$(($(ms_of "$run_at") - t0))
check "... the answer's run_at is 300 s ahead ($d ms after the request began)" \
  test "$d" -ge 300000 -a "$d" -lt 310000
http GET /v1/jobs/s-1
check_eq "the status: scheduled, the same run_at, not started" "scheduled $run_at null" \
  "$(jqr '"\(.state) \(.run_at) \(.started_at)"')"
check_eq "... the hash: state scheduled, run_at" "scheduled $run_at" \
  "$(rcli HGET "$(job_key s-1)" state) $(rcli HGET "$(job_key s-1)" run_at)"
check_eq "... its id in the delayed zset, scored by its due ms" "$(ms_of "$run_at")" \
  "$(rcli ZSCORE "$dkey" s-1)"
check_eq "... and not on the queue's list" "" "$(rcli LPOS "$qkey" s-1)"
ttl=$(rcli TTL "$(job_key s-1)")
check "... its hash lives its whole wait and more (TTL $ttl s)" test "$ttl" -gt 604800
post_json /v1/jobs '{"pipeline":"fast","id":"s-frac","delay_s":0.25}'
check_eq "a fraction of a second is accepted" "202 scheduled" "$HTTP_STATUS $(jqr .state)"

# --- run_at with an offset: the same instant, shown in UTC -------------------------
at=$(iso_in 300 +05:30)
post_json /v1/jobs "{\"pipeline\":\"fast\",\"id\":\"s-2\",\"run_at\":\"$at\"}"
check_eq "run_at $at: 202 scheduled" "202 scheduled" "$HTTP_STATUS $(jqr .state)"
check_eq "... its run_at is that instant in UTC" "$(ms_of "$at")" "$(ms_of "$(jqr .run_at)")"
check "... written with a Z" bash -c "[[ '$(jqr .run_at)' == *Z ]]"

# --- due now or before: a queued job at once --------------------------------------
post_json /v1/jobs '{"pipeline":"fast","id":"s-0","delay_s":0}'
check_eq "delay_s 0: queued, on the list, no run_at" "202 queued null" \
  "$HTTP_STATUS $(jqr .state) $(curl -s "$API_URL/v1/jobs/s-0" | jq -r .run_at)"
check_eq "... on the list" 0 "$(rcli LPOS "$qkey" s-0)"
post_json /v1/jobs '{"pipeline":"fast","id":"s-past","run_at":"2020-01-01T00:00:00Z"}'
check_eq "run_at in the past: queued" "202 queued" "$HTTP_STATUS $(jqr .state)"

# --- listings and stats --------------------------------------------------------------
http GET '/v1/jobs?state=scheduled&limit=100'
check_eq "GET /v1/jobs?state=scheduled lists the scheduled jobs, with run_at" "s-1 s-2" \
  "$(jqr '[.jobs[] | select(.id == "s-1" or .id == "s-2") | .id] | sort | join(" ")')"
check_eq "... each with its run_at" "$run_at" "$(jqr '.jobs[] | select(.id == "s-1") | .run_at')"
check_eq "... and no queued job" "" "$(jqr '.jobs[] | select(.state != "scheduled") | .id')"
http GET '/v1/jobs?state=queued&limit=100'
check_eq "?state=queued does not list them" "" \
  "$(jqr '.jobs[] | select(.id == "s-1" or .id == "s-2") | .id')"
http GET /v1/stats
check "/v1/stats counts them (recent_jobs.by_state.scheduled >= 2)" \
  test "$(jqr .recent_jobs.by_state.scheduled)" -ge 2
check "... and its queue's delayed count holds them" test "$(jqr .queues.default.delayed)" -ge 2

# --- a scheduled job whose time has passed, no worker yet: shown queued ----------------
wait_for 10 test "$(state_of s-frac)" = queued
check_eq "s-frac, due with no worker to move it: shown queued, its hash still scheduled" \
  "queued scheduled" "$(state_of s-frac) $(rcli HGET "$(job_key s-frac)" state)"
http GET '/v1/jobs?state=queued&limit=100'
check_eq "... listed as queued" s-frac "$(jqr '.jobs[] | select(.id == "s-frac") | .id')"

# --- bad values: clear errors, nothing created ------------------------------------------
bad() { # NAME BODY-MEMBERS EXPECTED-MESSAGE-PART
  post_json /v1/jobs "{\"pipeline\":\"fast\",\"id\":\"bad-x\",$2}"
  check_eq "$1: 422 invalid_field" "422 invalid_field" "$HTTP_STATUS $(jqr .error.code)"
  check "... the message says why ($(jqr .error.message))" \
    bash -c "printf '%s' \"\$1\" | grep -qF -- \"\$2\"" _ "$(jqr .error.message)" "$3"
}
bad "delay_s -1" '"delay_s":-1' "field 'delay_s' must be a number of seconds in [0, 31536000]"
bad "delay_s \"5\" (not a number)" '"delay_s":"5"' "field 'delay_s' must be a number"
bad "delay_s null" '"delay_s":null' "field 'delay_s' must be a number"
bad "delay_s over a year" '"delay_s":31536001' "[0, 31536000]"
bad "delay_s and run_at both" '"delay_s":1,"run_at":"2030-01-01T00:00:00Z"' \
  "give either 'delay_s' or 'run_at', not both"
bad "run_at without an offset" '"run_at":"2030-01-01T00:00:00"' \
  "field 'run_at' must be an RFC 3339 time with a 'Z' or an offset"
bad "run_at on a day that does not exist" '"run_at":"2030-02-30T00:00:00Z"' "RFC 3339"
bad "run_at as a number" '"run_at":1900000000' "RFC 3339"
bad "run_at as text" '"run_at":"tomorrow"' "RFC 3339"
bad "run_at more than a year ahead" "\"run_at\":\"$(iso_in $((366 * 86400)))\"" \
  "field 'run_at' is more than 31536000 s (a year) ahead: at most"
check_eq "... none of them created a job" 0 "$(rcli EXISTS "$(job_key bad-x)")"

# --- idempotent resubmit: the same request again is the same job ------------------------
post_json /v1/jobs '{"pipeline":"fast","id":"s-1","input":1,"delay_s":300}'
check_eq "the same request again (s-1): 202, the job's state" "202 scheduled" \
  "$HTTP_STATUS $(jqr .state)"
check_eq "... its run_at unchanged" "$run_at" "$(rcli HGET "$(job_key s-1)" run_at)"
check_eq "... still once in the delayed zset" "1 $(ms_of "$run_at")" \
  "$(rcli ZCOUNT "$dkey" "$(ms_of "$run_at")" "$(ms_of "$run_at")") $(rcli ZSCORE "$dkey" s-1)"
post_json /v1/jobs '{"pipeline":"fast","id":"s-1","input":2,"delay_s":300}'
check_eq "another input with that id: 409 duplicate_id" "409 duplicate_id" \
  "$HTTP_STATUS $(jqr .error.code)"

# --- cancel a scheduled job: it never runs, gone from the delayed zset ---------------
post_json /v1/jobs '{"pipeline":"logged","id":"s-cancel","delay_s":1}'
http DELETE /v1/jobs/s-cancel
check_eq "DELETE of a scheduled job: 200, canceled, previous_state scheduled" \
  "200 canceled scheduled" "$HTTP_STATUS $(jqr .state) $(jqr .previous_state)"
check_eq "... gone from the delayed zset and the list" "" \
  "$(rcli ZSCORE "$dkey" s-cancel)$(rcli LPOS "$qkey" s-cancel)"
http DELETE /v1/jobs/s-cancel
check_eq "... a second DELETE: 409 job_finished" "409 job_finished" "$HTTP_STATUS $(jqr .error.code)"
"$BUILD/stageq" --url "$API_URL" submit logged '"cli"' --id s-cancel2 --delay 1 >/dev/null
"$BUILD/stageq" --url "$API_URL" cancel s-cancel2 >/dev/null
check_eq "stageq cancel of a job submitted with --delay: canceled" canceled "$(state_of s-cancel2)"

# --- bulk: per-element delays ----------------------------------------------------------------
post_json /v1/jobs "[{\"pipeline\":\"fast\",\"id\":\"b-1\",\"delay_s\":1},
  {\"pipeline\":\"wide\",\"id\":\"b-2\",\"run_at\":\"$(iso_in 2)\"},
  {\"pipeline\":\"fast\",\"id\":\"b-3\"},
  {\"pipeline\":\"fast\",\"id\":\"b-4\",\"delay_s\":-3}]"
check_eq "a bulk array with delays: 207, 202 202 202 422" "207 202 202 202 422" \
  "$HTTP_STATUS $(jqr '[.jobs[].status] | map(tostring) | join(" ")')"
check_eq "... states scheduled scheduled queued, the scheduled ones with run_at" \
  "scheduled scheduled queued true true" \
  "$(jqr '[.jobs[0:3][].state] | join(" ")') $(jqr '[.jobs[0:2][] | has("run_at")] | map(tostring) | join(" ")')"
k2=$(sq_key delayed sq4 "$(part_of b-2 4)" 4)
check "... the partitioned queue's job in its partition's delayed zset" \
  test -n "$(rcli_at "$k2" ZSCORE "$k2" b-2)"

# --- the CLI --------------------------------------------------------------------------------
id=$("$BUILD/stageq" --url "$API_URL" submit fast '{"c":1}' --delay 2.5)
check_eq "stageq submit --delay 2.5: a scheduled job" scheduled "$(state_of "$id")"
"$BUILD/stageq" --url "$API_URL" status "$id" >"$T/cli-status.txt"
check "... stageq status shows its run_at" grep -q '^run at: *20..-..-..T' "$T/cli-status.txt"
id2=$("$BUILD/stageq" --url "$API_URL" submit fast --at "$(iso_in 3 -02:00)")
check_eq "stageq submit --at TIME: a scheduled job" scheduled "$(state_of "$id2")"
"$BUILD/stageq" --url "$API_URL" submit fast --delay -1 >/dev/null 2>"$T/cli-err.txt"
check_eq "stageq submit --delay -1: a usage error (2)" 2 "$?"
"$BUILD/stageq" --url "$API_URL" submit fast --delay 1 --at "$(iso_in 3)" >/dev/null 2>>"$T/cli-err.txt"
check_eq "stageq submit --delay with --at: a usage error (2)" 2 "$?"
# (a job due in 10 minutes: the ones above may be due by now on a loaded machine)
idl=$("$BUILD/stageq" --url "$API_URL" submit fast '{"c":9}' --delay 600)
"$BUILD/stageq" --url "$API_URL" list --state scheduled --json >"$T/cli-list.json"
check "stageq list --state scheduled lists them" grep -q "\"$idl\"" "$T/cli-list.json"
"$BUILD/stageq" --url "$API_URL" cancel "$idl" >/dev/null

# --- the workers: each job runs after its time, never before ----------------------------
start_worker w1 --pipelines "$P" --concurrency 2
start_worker w2 --pipelines "$P" --queue sq4 --concurrency 1
t1=$(now_ms)
post_json /v1/jobs '{"pipeline":"logged","id":"s-3","delay_s":1.5}'
run3=$(jqr .run_at)
wait_for 30 test "$(state_of s-3)" = succeeded
http GET /v1/jobs/s-3
started=$(jqr .started_at)
d=$(($(ms_of "$started") - $(ms_of "$run3")))
check "s-3 (delay_s 1.5) succeeded, started at or after its run_at" test "$d" -ge 0
echo "# s-3: due $(($(ms_of "$run3") - t1)) ms after the submit began, started $d ms after its run_at"
check_eq "... it ran once" 1 "$(grep -c '^s-3$' "$RUNS")"
for j in b-1 b-2 "$id" "$id2" s-frac s-0 s-past b-3; do
  wait_for 30 test "$(state_of "$j")" = succeeded
done
ok_after=0 delays=""
for j in b-1 b-2 "$id" "$id2" s-frac; do
  http GET "/v1/jobs/$j"
  d=$(($(ms_of "$(jqr .started_at)") - $(ms_of "$(jqr .run_at)")))
  [ "$(jqr .state)" = succeeded ] && [ "$d" -ge 0 ] && ok_after=$((ok_after + 1))
  delays="$delays $j:${d}ms"
done
check_eq "the scheduled jobs of bulk, CLI and run_at succeeded, none before its run_at" 5 "$ok_after"
echo "# start delays after run_at:$delays"
check_eq "the canceled ones never ran" "0 canceled canceled" \
  "$(grep -c '^s-cancel' "$RUNS") $(state_of s-cancel) $(state_of s-cancel2)"
check_eq "s-1 and s-2 (300 s ahead) are still scheduled" "scheduled scheduled" \
  "$(state_of s-1) $(state_of s-2)"

# --- ?wait on a scheduled job: held until it ends ----------------------------------------
post_json '/v1/jobs?wait=30' '{"pipeline":"fast","id":"s-wait","input":"w","delay_s":1}' --max-time 40
check_eq "POST ?wait=30 with delay_s 1: 200 succeeded once it ran" "200 succeeded" \
  "$HTTP_STATUS $(jqr .state)"

# --- exactly once: 2 pools, 2 API replicas, 100 jobs due over 3 s -----------------------------
start_api api2 --pipelines "$P"
API2=$API_URL
start_worker w3 --pipelines "$P" --concurrency 2
python3 - "$T" <<'PY'
import json, sys
for half in (0, 1):
    jobs = [{"pipeline": "logged", "id": "x-%d" % i, "input": i, "delay_s": (i % 30 + 1) / 10}
            for i in range(half, 100, 2)]
    open("%s/x%d.json" % (sys.argv[1], half), "w").write(json.dumps(jobs))
PY
API_URL=$API1 http POST /v1/jobs -H 'content-type: application/json' --data-binary "@$T/x0.json"
a1="$HTTP_STATUS $(jqr .accepted)"
API_URL=$API2 http POST /v1/jobs -H 'content-type: application/json' --data-binary "@$T/x1.json"
a2="$HTTP_STATUS $(jqr .accepted)"
API_URL=$API1
check_eq "100 jobs with delays 0.1-3 s through 2 API replicas: all accepted" "202 50 202 50" "$a1 $a2"
# the same arrays again, each through the other replica: nothing twice
API_URL=$API2 http POST /v1/jobs -H 'content-type: application/json' --data-binary "@$T/x0.json"
check_eq "... the same arrays again through the other replica: 202 (the same jobs)" "202 50" \
  "$HTTP_STATUS $(jqr .accepted)"
API_URL=$API1
seq -f 'x-%.0f' 0 99 >"$T/x.ids"
all_ran() { [ "$(job_fields "$T/x.ids" state | grep -c '^succeeded$')" = 100 ]; }
check "all 100 succeeded (2 pools of workers)" poll 90 all_ran
check_eq "each ran exactly once (the stage's log holds each id once)" "100 100" \
  "$(grep -c '^x-' "$RUNS") $(grep '^x-' "$RUNS" | sort -u | wc -l)"
check_eq "each recorded succeeded once (no success_count above 1, attempt 1)" "100" \
  "$(job_fields "$T/x.ids" state success_count attempt | paste -d' ' - - - | grep -Ec '^succeeded 1? 1$')"
job_fields "$T/x.ids" run_at started_at | paste -d' ' - - >"$T/x.times"
stats=$(python3 - "$T/x.times" <<'PY'
import sys, datetime as d
ms = lambda s: d.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
ds = [ms(b) - ms(a) for a, b in (l.split() for l in open(sys.argv[1]) if len(l.split()) == 2)]
early = sum(1 for x in ds if x < 0)
ds.sort()
print(len(ds), early, "min %.0f median %.0f p95 %.0f max %.0f ms" % (
    ds[0], ds[len(ds) // 2], ds[int(len(ds) * 0.95)], ds[-1]))
PY
)
n=${stats%% *}
rest=${stats#* }
check_eq "... each has its run_at and one started_at, none started early" "100 0" "$n ${rest%% *}"
echo "# start delay after run_at (promotion by the workers), 100 jobs: ${rest#* }"
check_eq "none of them is left in the delayed zset or on the list" "0 0" \
  "$(rcli ZRANGE "$dkey" 0 -1 | grep -c '^x-') $(rcli LRANGE "$qkey" 0 -1 | grep -c '^x-')"
http GET /v1/jobs/x-7
check_eq "a job that ran shows its run_at still" true "$(jqr '.run_at != null')"

finish
