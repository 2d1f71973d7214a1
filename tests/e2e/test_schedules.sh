#!/usr/bin/env bash
# test_schedules: recurring jobs. A schedule with every_s: 1 fires N times in
# N seconds with 3 API replicas and 2 worker pools, never twice for one tick
# (one job per tick id, created by exactly one replica, run once); a bad
# schedule is refused at start naming file, schedule and field; after all
# APIs were down, "skip" fires no missed tick and "run_once" exactly one (the
# newest); GET /v1/schedules shows last and next runs; `stageq schedules`.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tsc
flush_prefix tsc
P="$STAGEQ_TEST_TMP/pipelines-schedules.json"
cat >"$P" <<'EOF'
{"pipelines": {"tick": {"queue": "sched", "result_ttl_s": 600,
                        "stages": [{"name": "e", "builtin": "echo"}]}},
 "schedules": [
   {"name": "every1", "pipeline": "tick", "input": {"n": 9007199254740993}, "every_s": 1},
   {"name": "nightly", "pipeline": "tick", "cron": "30 2 * * *", "timezone": "Europe/Berlin",
    "missed": "run_once"}]}
EOF
now_s() { date +%s; }
# exists ID: the job is known to the API (200), not 404
exists() { http GET "/v1/jobs/$1"; [ "$HTTP_STATUS" = 200 ]; }
# created_count TICK: how many API logs say they created that tick's job
created_count() { cat "$STAGEQ_TEST_TMP"/sched-a*.log | grep -c "tick $1 submitted"; }

# --- a bad schedule is refused at start ---------------------------------------
bad="$STAGEQ_TEST_TMP/pipelines-bad.json"
sed 's|"30 2 \* \* \*"|"30 24 * * *"|' "$P" >"$bad"
out=$(sq_run stageq-api --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --pipelines "$bad" \
  --listen 127.0.0.1:0 2>&1)
rc=$?
check_eq "a bad cron expression: the API refuses to start (exit 2)" 2 "$rc"
check "and names file, schedule and field" \
  grep -qF "$bad: schedule 'nightly': field 'cron': field 2 (hour): 24 is out of range 0-23" <<<"$out"
out=$(sq_run stageq-worker --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --pipelines "$bad" 2>&1)
check "the worker refuses the same file" grep -qF "schedule 'nightly'" <<<"$out"
sed 's|"Europe/Berlin"|"Europe/Atlantis"|' "$P" >"$bad"
out=$(sq_run stageq-api --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --pipelines "$bad" \
  --listen 127.0.0.1:0 2>&1)
check "an unknown timezone is refused, named" \
  grep -qF "schedule 'nightly': field 'timezone': 'Europe/Atlantis'" <<<"$out"

# --- every_s: 1, 3 API replicas, 2 pools: one job per tick ---------------------
start_worker sched-w1 --pipelines "$P" --queue sched --concurrency 2
start_worker sched-w2 --pipelines "$P" --queue sched --concurrency 2
# rounds are aligned on the clock: the 3 replicas race for every tick
start_api sched-a1 --pipelines "$P" --log-level debug
A1=$API_PID
start_api sched-a2 --pipelines "$P" --log-level debug
A2=$API_PID
start_api sched-a3 --pipelines "$P" --log-level debug
A3=$API_PID
sleep 1.5
N=8
t0=$(now_s)
sleep "$N"
t1=$(now_s)
fired=0
missing=""
for T in $(seq $((t0 + 1)) $((t0 + N))); do
  if exists "sched.every1.$T"; then fired=$((fired + 1)); else missing="$missing $T"; fi
done
check "every_s: 1 fired N-1..N+1 of the N=$N ticks in ($t0, $((t0 + N))] (missing:$missing)" \
  test "$fired" -ge $((N - 1)) -a "$fired" -le $((N + 1))
dups=""
for T in $(seq $((t0 + 1)) $((t1 - 1))); do
  c=$(created_count "$T")
  [ "$c" -le 1 ] || dups="$dups $T:$c"
done
check_eq "no tick was created by two replicas (ticks created more than once)" "" "$dups"
creators=0
for f in "$STAGEQ_TEST_TMP"/sched-a1.log "$STAGEQ_TEST_TMP"/sched-a2.log "$STAGEQ_TEST_TMP"/sched-a3.log; do
  grep -q "schedule every1: tick" "$f" && creators=$((creators + 1))
done
echo "# $creators of the 3 API replicas created ticks"
raced=$(cat "$STAGEQ_TEST_TMP"/sched-a*.log | grep -c "schedule every1: tick .* exists (fired by another)")
echo "# $raced submits of a tick found it created by another replica"
check "the replicas did race for ticks (the fence answered 'exists')" test "$raced" -gt 0
all_done() {
  local T
  for T in $(seq $((t0 + 1)) $((t0 + N))); do
    http GET "/v1/jobs/sched.every1.$T"
    [ "$HTTP_STATUS" = 404 ] && continue
    [ "$(jqr .state)" = succeeded ] || return 1
  done
}
check "every tick's job ran to the end" poll 30 all_done
runs=""
for T in $(seq $((t0 + 1)) $((t0 + N))); do
  http GET "/v1/jobs/sched.every1.$T"
  [ "$HTTP_STATUS" = 200 ] && runs="$runs $(jqr .attempt)"
done
check_eq "each ran once (attempt 1 each)" "$(printf ' 1%.0s' $(seq 1 "$fired"))" "$runs"
http GET "/v1/jobs/sched.every1.$((t0 + 2))"
check_eq "the input is the schedule's, its numbers as written" 9007199254740993 \
  "$(printf '%s' "$HTTP_BODY" | grep -o '"n":[0-9]*' | head -1 | cut -d: -f2)"

# --- GET /v1/schedules --------------------------------------------------------
http GET /v1/schedules
check_eq "GET /v1/schedules answers 200" 200 "$HTTP_STATUS"
check_eq "it lists both schedules" "every1 nightly" "$(jqr '[.schedules[].name] | join(" ")')"
check_eq "every1: pipeline, queue, every_s, missed" "tick sched 1 skip" \
  "$(jqr '.schedules[0] | [.pipeline, .queue, .every_s, .missed] | map(tostring) | join(" ")')"
last_id=$(jqr '.schedules[0].last_run.job_id')
last_tick=${last_id##*.}
check "its last run is a recent tick" test "$last_tick" -ge "$t1" -a "$last_tick" -le "$(($(now_s) + 1))"
check_eq "the last run's time is that tick" "$(date -u -d "@$last_tick" +%Y-%m-%dT%H:%M:%S.000Z)" \
  "$(jqr '.schedules[0].last_run.time')"
nr=$(jqr '.schedules[0].next_run')
check "its next run is the tick after" test "$(date -u -d "$nr" +%s)" -gt "$last_tick"
expect_next=$(python3 - <<'PY'
import datetime, zoneinfo
tz = zoneinfo.ZoneInfo("Europe/Berlin")
now = datetime.datetime.now(tz)
t = now.replace(hour=2, minute=30, second=0, microsecond=0)
while t <= now or t.hour != 2:  # the next 02:30 that exists (no DST day today in practice)
    t = (t + datetime.timedelta(days=1)).replace(hour=2, minute=30)
print(t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
PY
)
check_eq "nightly: cron, timezone, missed, no run yet, next 02:30 Berlin time" \
  "30 2 * * * Europe/Berlin run_once null $expect_next" \
  "$(jqr '.schedules[1] | [.cron, .timezone, .missed, .last_run, .next_run] | map(tostring) | join(" ")')"
cli_out=$(STAGEQ_URL=$API_URL sq_run stageq schedules 2>&1 </dev/null)
check "stageq schedules lists every1 with its last job" grep -qE "^every1 .*sched\.every1\.[0-9]+" <<<"$cli_out"
check "and nightly with its cron and next run" grep -qF "$expect_next" <<<"$cli_out"
echo "$cli_out" | sed 's/^/# /'

stop_pid "$A1" 10
stop_pid "$A2" 10
stop_pid "$A3" 10
# read once no replica fires any more: a tick between the two reads made
# them differ by one (CI, stop 23)
submitted=$(rcli HGET "tsc:{8209}:counters" "submitted:tick")
created=$(cat "$STAGEQ_TEST_TMP"/sched-a*.log | grep -c "schedule every1: tick .* submitted")
check_eq "the submit count in Redis equals the ticks created (no second creation)" \
  "$created" "$submitted"
# Counted in Redis itself, once no replica fires any more: the job hashes of
# the ticks (one key per tick id: two for one tick cannot exist) against the
# creations the counters hash recorded (a tick created twice would count twice).
jk=$(job_key sched.every1.0)
scan_keys "${jk%0}*" | sed 's/.*\.//' | sort -n >"$STAGEQ_TEST_TMP/ticks.txt"
in_window=$(awk -v a="$t0" -v b="$((t0 + N))" '$1 > a && $1 <= b' "$STAGEQ_TEST_TMP/ticks.txt" | wc -l)
echo "# Redis holds $in_window tick jobs for the $N ticks in ($t0, $((t0 + N))], $(wc -l <"$STAGEQ_TEST_TMP/ticks.txt") in all"
check "... N-1..N+1 of them in the window" test "$in_window" -ge $((N - 1)) -a "$in_window" -le $((N + 1))
check_eq "... one creation counted per tick job in Redis (none created twice)" \
  "$(wc -l <"$STAGEQ_TEST_TMP/ticks.txt")" "$(rcli HGET "tsc:{8209}:counters" "submitted:tick")"

# --- a tick the submit refuses (queue full) is retried, then given up ---------
# --max-queue 1 and no worker on queue "full": the first tick's job fills it,
# the next ones are refused with 429 (the internal request's error path)
cat >"$STAGEQ_TEST_TMP/pipelines-full.json" <<'EOF2'
{"pipelines": {"fill": {"queue": "full", "stages": [{"name": "e", "builtin": "echo"}]}},
 "schedules": [{"name": "full1", "pipeline": "fill", "every_s": 1}]}
EOF2
start_api sched-full --pipelines "$STAGEQ_TEST_TMP/pipelines-full.json" --max-queue 1
F=$API_PID
refused() { grep -q "schedule full1: tick [0-9]* not submitted (429" "$STAGEQ_TEST_TMP/sched-full.log"; }
check "a tick refused with 429 (queue full) is logged and retried" poll 15 refused
check "the API keeps running" kill -0 "$F"
http GET /v1/schedules
check_eq "and keeps answering" 200 "$HTTP_STATUS"
check_eq "the queue holds the one job it took" 1 "$(rcli LLEN "tsc:{8209}:queue:full")"
stop_pid "$F" 10
check_eq "it stops cleanly (exit 0)" 0 "$STOP_RC"

# --- missed ticks: skip fires none of them, run_once the newest once -----------
# every_s 4: the APIs stop just after tick T0 fired and come back at T0+11.5,
# so T0+4 and T0+8 were missed (T0+8 by 3.5 s, more than the grace) and T0+12
# is due when they are back.
cat >"$P" <<'EOF'
{"pipelines": {"tick": {"queue": "sched", "stages": [{"name": "e", "builtin": "echo"}]}},
 "schedules": [{"name": "skip4", "pipeline": "tick", "every_s": 4},
               {"name": "ro4", "pipeline": "tick", "every_s": 4, "missed": "run_once"}]}
EOF
start_api sched-m1 --pipelines "$P"
M1=$API_PID
start_api sched-m2 --pipelines "$P"
M2=$API_PID
rec_tick() { rcli HGET tsc:{w}:schedules "$1" | grep -o '"tick":[0-9]*' | cut -d: -f2; }
# a fresh tick recorded for both, and we are early in its period
fresh() {
  local a b n
  a=$(rec_tick skip4) b=$(rec_tick ro4) n=$(now_s)
  [ -n "$a" ] && [ "$a" = "$b" ] && [ $((n - a)) -le 1 ] && [ "$a" -gt "$t1" ]
}
check "both schedules fire and record their tick" poll 20 fresh
T0=$(rec_tick ro4)
stop_pid "$M1" 10
stop_pid "$M2" 10
python3 -c "import time; time.sleep(max(0, $T0 + 11.5 - time.time()))"
start_api sched-m3 --pipelines "$P"
start_api sched-m4 --pipelines "$P"
check "back up, the next due tick T0+12 fires for both" \
  poll 20 eval 'exists sched.ro4.$((T0 + 12)) && exists sched.skip4.$((T0 + 12))'
got=""
for name in skip4 ro4; do
  for T in $((T0 + 4)) $((T0 + 8)); do
    if exists "sched.$name.$T"; then got="$got $name:+$((T - T0))"; fi
  done
done
check_eq "missed ticks: skip fired none, run_once only the newest (T0+8)" " ro4:+8" "$got"
check_eq "the catch-up was created once" 1 "$(grep -h "tick $((T0 + 8)) submitted" \
  "$STAGEQ_TEST_TMP"/sched-m3.log "$STAGEQ_TEST_TMP"/sched-m4.log | grep -c ro4)"

finish
