#!/usr/bin/env bash
# test_events: live events — the SSE stream of one job (first status at once,
# every stage in order, ends by itself), the stream of all jobs, latency,
# POST ?wait, 100 concurrent streams, 404, and clients that go away.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tev
flush_prefix tev
start_api api
T=$STAGEQ_TEST_TMP

wait_sub() { grep -q "events: subscribed" "$T/api.log"; }
check "the API subscribes to tev:events" wait_for 5 wait_sub

# --- one job's stream --------------------------------------------------------
post_json /v1/jobs '{"pipeline":"demo","input":{"size":3000000,"rounds":1}}'
id=$(jqr .id)
check_eq "the 202 names the events url" "/v1/jobs/$id/events" "$(jqr .events_url)"
curl -s -N -D "$T/ev.h" --max-time 30 "$API_URL/v1/jobs/$id/events" >"$T/ev.out" &
cpid=$!
first_event() { grep -q '^data: ' "$T/ev.out"; }
check "the first event arrives at once" wait_for 2 first_event
check_eq "the first event says queued" queued \
  "$(grep -m1 '^data: ' "$T/ev.out" | cut -c7- | jq -r .state)"
check "Content-Type is text/event-stream" grep -qi '^content-type: text/event-stream' "$T/ev.h"
check "Cache-Control: no-store" grep -qi '^cache-control: no-store' "$T/ev.h"
check "X-Accel-Buffering: no" grep -qi '^x-accel-buffering: no' "$T/ev.h"

# all jobs, and arrival times for the latency check
curl -s -N --max-time 30 "$API_URL/v1/events" > >(python3 -u -c '
import sys, time
while True:
    line = sys.stdin.readline()
    if not line:
        break
    sys.stdout.write("%.6f %s" % (time.time(), line))
    sys.stdout.flush()' >"$T/all.out") &
apid=$!
sleep 0.3
start_worker worker --concurrency 2
check "the stream ends by itself after the job ends" wait_for 25 bash -c "! kill -0 $cpid 2>/dev/null"
wait "$cpid" 2>/dev/null
data=$(grep '^data: ' "$T/ev.out" | cut -c7-)
check "every data line parses with jq" bash -c "printf '%s\n' \"\$1\" | jq -e . >/dev/null" _ "$data"
stages=$(grep -B2 '^data: ' "$T/ev.out" | grep -A2 '^event: status' | grep '^data: ' | cut -c7- |
  jq -r 'select(.state == "running") | .stage' | uniq | tr '\n' ' ')
check_eq "events for stages 1..4 in order" "1 2 3 4 " "$stages"
check_eq "the last status is succeeded" succeeded \
  "$(grep -A2 '^event: status' "$T/ev.out" | grep '^data: ' | tail -1 | cut -c7- | jq -r .state)"
check_eq "then an end event" "event: end" "$(grep '^event: ' "$T/ev.out" | tail -1)"
check "ids are sent" grep -q '^id: [0-9]' "$T/ev.out"

# --- /v1/events sees two jobs; latency ---------------------------------------
post_json /v1/jobs '{"pipeline":"echo","input":"two"}'
id2=$(jqr .id)
seen_two() {
  grep ' data: ' "$T/all.out" | sed 's/^[^ ]* data: //' | jq -r .id | sort -u |
    grep -cx "$id\|$id2" | grep -q 2
}
check "/v1/events sees events of two jobs" wait_for 10 seen_two
kill "$apid" 2>/dev/null
wait "$apid" 2>/dev/null
lat_ok=$(grep ' data: ' "$T/all.out" | python3 -c '
import sys, json, datetime
worst, seen = 0.0, set()
for line in sys.stdin:
    t, _, data = line.rstrip("\n").partition(" data: ")
    st = json.loads(data)
    if (st["id"], st["updated_at"]) in seen:
        continue  # progress writes keep updated_at: only its first arrival counts
    seen.add((st["id"], st["updated_at"]))
    if st["state"] not in ("succeeded", "failed", "canceled"):
        continue  # the final change of each job (the first ones may queue behind a slow reader)
    u = datetime.datetime.fromisoformat(st["updated_at"].replace("Z", "+00:00")).timestamp()
    worst = max(worst, float(t) - u)
print("yes" if 0 < len(seen) and worst < 5.0 else "no: %.3f s" % worst)
print("# worst final-event latency %.0f ms" % (worst * 1000), file=sys.stderr)')
check_eq "a final change reaches /v1/events promptly (< 5 s here; the figure is logged)" yes "$lat_ok"

# --- POST ?wait ----------------------------------------------------------------
post_json '/v1/jobs?wait=10' '{"pipeline":"echo","input":{"w":1}}'
check_eq "?wait=10 on an echo job answers 200" 200 "$HTTP_STATUS"
check_eq "... with state succeeded" succeeded "$(jqr .state)"
check_eq "... and the result" '{"w":1}' "$(jqr -c .result)"
t0=$(date +%s.%N)
post_json '/v1/jobs?wait=1' '{"pipeline":"echo","queue":"nobody","input":1}'
t1=$(date +%s.%N)
check_eq "?wait=1 with nobody running it answers 202" 202 "$HTTP_STATUS"
check_eq "... with the status" queued "$(jqr .status.state)"
check_eq "... and the usual body" "/v1/jobs/$(jqr .id)" "$(jqr .status_url)"
check "... after about 1 s" python3 -c "import sys; d=$t1-$t0; sys.exit(0 if 0.9 <= d < 10 else 1)"
for bad in abc 0 301 -1 1.5 ''; do
  post_json "/v1/jobs?wait=$bad" '{"pipeline":"echo","input":1}'
  check_eq "?wait=$bad answers 400" 400 "$HTTP_STATUS"
  check_eq "?wait=$bad is invalid_request" invalid_request "$(jqr .error.code)"
done

# --- 100 concurrent streams ----------------------------------------------------
post_json /v1/jobs '{"pipeline":"demo","queue":"later","input":{"size":200000,"rounds":1}}'
id3=$(jqr .id)
pids=()
for i in $(seq 1 100); do
  curl -s -N --max-time 30 "$API_URL/v1/jobs/$id3/events" >"$T/many.$i" &
  pids+=($!)
done
all_open() { local i; for i in $(seq 1 100); do grep -q '^data: ' "$T/many.$i" || return 1; done; }
check "100 streams got their first event" wait_for 10 all_open
start_worker worker2 --queue later
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
ended=$(for i in $(seq 1 100); do grep -c '^event: end' "$T/many.$i"; done | grep -cx 1)
check_eq "all 100 streams received the end event" 100 "$ended"
http GET /healthz
check_eq "the API stays healthy" 200 "$HTTP_STATUS"

# --- 404, disconnects ------------------------------------------------------------
http GET /v1/jobs/no-such-job/events
check_eq "unknown job → 404" 404 "$HTTP_STATUS"
check_eq "... not_found" not_found "$(jqr .error.code)"
post_json /v1/jobs '{"pipeline":"echo","queue":"nobody","input":2}'
id4=$(jqr .id)
for i in 1 2 3; do
  curl -s -N --max-time 30 "$API_URL/v1/jobs/$id4/events" >"$T/gone.$i" &
  gp=$!
  sleep 0.3
  kill "$gp"
  wait "$gp" 2>/dev/null
done
curl -s -N --max-time 30 "$API_URL/v1/events" >/dev/null &
gp=$!
sleep 0.3
kill "$gp"
wait "$gp" 2>/dev/null
http DELETE "/v1/jobs/$id4" # cancel publishes: the gone clients' entry is read
sleep 0.3
http GET /healthz
check_eq "clients that went away mid-stream do not hurt the API" 200 "$HTTP_STATUS"

# a stream open at shutdown ends cleanly, and so does a held ?wait
post_json /v1/jobs '{"pipeline":"echo","queue":"nobody","input":3}'
id5=$(jqr .id)
curl -s -N --max-time 10 "$API_URL/v1/jobs/$id5/events" >"$T/shut.out" &
sp=$!
curl -s --max-time 10 -o "$T/wait.out" -w '%{http_code}' -H 'content-type: application/json' \
  --data-binary '{"pipeline":"echo","queue":"nobody","input":4}' "$API_URL/v1/jobs?wait=60" \
  >"$T/wait.code" &
wp=$!
sleep 0.5
stop_pid "$API_PID" 10
check_eq "SIGTERM with open streams: the API exits 0" 0 "$STOP_RC"
wait "$sp" 2>/dev/null
wait "$wp" 2>/dev/null
check "the open stream got an end event" grep -q '^event: end' "$T/shut.out"
check_eq "the held ?wait was answered 202" 202 "$(cat "$T/wait.code")"
check "the API log has no sanitizer report" bash -c "! grep -q 'Sanitizer\|runtime error' '$T/api.log'"
finish
