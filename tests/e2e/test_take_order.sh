#!/usr/bin/env bash
# test_take_order: one pool serving several queues (--queues), and what its
# take step does besides taking (takejob.lua's take_units): strict order
# (a lower queue only once the higher ones are empty), weighted order (6:3:1
# counted over the first 3,000 jobs taken), a pause that stops taking within
# one take (and leaves the pool's other queues running), a rate limit held
# over every window of a 15 s run (RATE_S) without stalling the pool's other queue,
# and delayed jobs promoted by the take itself: an idle worker starts a due
# job soon after its time (measured and printed, not asserted), never
# before, and exactly once. Jobs are written with submit.lua into each queue
# (the API's own script), so the worker alone is under test.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=to
P=tests/e2e/pipelines-order.json
W="--pipelines $P --lease 3 --kill-grace-ms 300"
RATE_S=${RATE_S:-15} # windows of 1 s counted (RATE_S=60 for a longer look)

# subq QUEUE PIPELINE STAGE INPUT ID...: submit.lua lines for queue QUEUE
subq() {
  local qu=$1 pl=$2 st=$3 in=$4 now q r c d ev wk key id
  shift 4
  now=$(date +%s%3N)
  q=${SUBQ_LIST:-$(queue_key "$qu")} r=$(recent_key) c=$(counters_key) d=$(delayed_key "$qu")
  ev=$(events_channel) wk=$(wake_channel "$qu")
  paste -d' ' <(job_keys "$@") <(printf '%s\n' "$@") | while read -r key id; do
    printf "EVALSHA %s 5 %s %s %s %s %s %s 3600 0 %s 100000 %s %s 0 id %s pipeline %s queue %s state queued attempt 0 max_attempts 1 input '%s' stage 0 stage_count 1 result_ttl_s 600 stage.1 '%s pending'\n" \
      "$SUBMIT_SHA" "$key" "$q" "$r" "$c" "$d" "$id" "$now" "$ev" "$wk" "$id" "$pl" "$qu" "$in" "$st"
  done
}
submit_to() { # QUEUE PIPELINE STAGE INPUT ID...
  submit_lua_load
  subq "$@" | rcli_at "$(queue_key "$1")" >/dev/null
}
# park QUEUE ID...: written as submitted to QUEUE, but pushed onto a list of
# their own (no worker sees them there), to be moved by hand
park() { SUBQ_LIST=$(queue_key parked) submit_to "$@"; }
# starts ID...: "<started_at ms> <queue> <id>" per job that started, by start time
starts() {
  job_keys "$@" | sed 's/^/HMGET /; s/$/ started_at queue/' | rcli | python3 -c '
import datetime, sys
ids, lines, out = sys.argv[1:], sys.stdin.read().split("\n"), []
for i, jid in enumerate(ids):
    ts, q = lines[2 * i], lines[2 * i + 1]
    if ts:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
        t = t.replace(tzinfo=datetime.timezone.utc)
        out.append((round(t.timestamp() * 1000), q, jid))
for o in sorted(out):
    print(*o)' "$@"
}
n_state() { # STATE ID...: how many are in STATE
  local st=$1
  shift
  job_keys "$@" | sed "s/^/HGET /; s/\$/ state/" | rcli | grep -cx "$st"
}
all_state() { local st=$1 n=$2; shift 2; [ "$(n_state "$st" "$@")" = "$n" ]; }

# --- strict order: high, then default, then low ------------------------------
H=$(seq -f 'sh%g' 1 40) D=$(seq -f 'sd%g' 1 40) L=$(seq -f 'sl%g' 1 40)
# shellcheck disable=SC2086
{ submit_to low echo echo '{"n":1}' $L; submit_to default echo echo '{"n":1}' $D; submit_to high echo echo '{"n":1}' $H; }
start_worker strict $W --queues high,default,low --concurrency 1
# shellcheck disable=SC2086
check "120 jobs of three queues succeed" wait_for 60 all_state succeeded 120 $H $D $L
# each queue's first and last start (ms: jobs of one ms are ties, in any order)
# shellcheck disable=SC2086
spans=$(starts $H $D $L | awk '{ if (!($2 in a)) a[$2] = $1; b[$2] = $1 } END { print a["high"], b["high"], a["default"], b["default"], a["low"], b["low"] }')
echo "# first and last start (ms) of high, default, low: $spans"
read -r h0 h1 d0 d1 l0 l1 <<<"$spans"
check "taken in strict order: every high job before any default one" test "$h1" -le "$d0"
check "... every default job before any low one" test "$d1" -le "$l0"
: "$h0" "$l1"
stop_pid "$WORKER_PID" 10
bad_queues() { # SPEC TEXT: the worker exits 2 at start, its message saying TEXT
  local out rc
  # shellcheck disable=SC2086
  out=$(sq_run stageq-worker --redis-url "$SQ_REDIS_URL" $W --queues "$1" 2>&1)
  rc=$?
  [ "$rc" = 2 ] && grep -qF -- "$2" <<<"$out" || { echo "# exit $rc: $out"; return 1; }
}
check "--queues: weights for some only are refused" bad_queues 'a:1,b' 'give every queue a weight'
check "--queues: a bad name is refused, named" bad_queues 'high,hi/gh' "'hi/gh' is not a queue name"
check "--queues: a weight of 0 is refused" bad_queues 'a:0,b:1' "the weight of 'a' must be an integer in [1, 1000]"
check "--queues: a queue named twice is refused" bad_queues 'a,b,a' "'a' is named twice"
check "--queues: queues of different partition counts are refused" bad_queues 'big,default' \
  "'default' has 1 partition(s) and 'big' 2"

# --- weighted order 6:3:1 over the first 3,000 jobs taken --------------------
H=$(seq -f 'wh%g' 1 2500) D=$(seq -f 'wd%g' 1 2500) L=$(seq -f 'wl%g' 1 2500)
# shellcheck disable=SC2086
{ submit_to high echo echo '{"n":1}' $H; submit_to default echo echo '{"n":1}' $D; submit_to low echo echo '{"n":1}' $L; }
start_worker weighted $W --queues high:6,default:3,low:1 --concurrency 2
# shellcheck disable=SC2086
check "7,500 jobs of three weighted queues succeed" wait_for 120 all_state succeeded 7500 $H $D $L
# shellcheck disable=SC2086
read -r nh nd nl < <(starts $H $D $L | head -3000 | awk '{ c[$2]++ } END { print c["high"]+0, c["default"]+0, c["low"]+0 }')
echo "# first 3,000 taken: high $nh, default $nd, low $nl (6:3:1 is 1800, 900, 300)"
within() { awk -v n="$1" -v want="$2" 'BEGIN { exit !(n >= want * 0.9 && n <= want * 1.1) }'; }
check "high got 1800 ±10 % ($nh)" within "$nh" 1800
check "default got 900 ±10 % ($nd)" within "$nd" 900
check "low got 300 ±10 %: never starved ($nl)" within "$nl" 300
stop_pid "$WORKER_PID" 10

# --- /v1/workers shows the queues a pool serves ------------------------------
start_api api
start_worker shown $W --queues high:6,default:3,low:1 --concurrency 1
has_worker() { http GET /v1/workers && [ "$(jqr '.workers | length')" -ge 1 ]; }
check "the pool is listed" wait_for 20 has_worker
check_eq "/v1/workers: its queues in order, with their weights" \
  'high:6 default:3 low:1' "$(jqr '[.workers[0].queues[] | "\(.name):\(.weight)"] | join(" ")')"
check_eq "... and its first queue as queue" high "$(jqr '.workers[0].queue')"
stop_pid "$WORKER_PID" 10

# --- pause: nothing new is taken within one take; the others go on -----------
S=$(seq -f 'ps%g' 1 30)
# shellcheck disable=SC2086
submit_to slow slow s '{"sleep":{"s":0.15}}' $S
start_worker pause $W --queues slow --concurrency 2
check "jobs start" wait_for 30 eval '[ "$(n_state succeeded $S)" -ge 4 ]'
rcli SET "$(sq_key paused slow 0 1)" "$(date -u +%FT%TZ)" >/dev/null
# the pause's time on Redis's clock (starts are timed on it), read once the SET
# is done: on a loaded machine the SET can come a take or two after any time
# read before it (CI: 3 starts after a t_pause read before a slow redis-cli)
t_pause=$(rcli TIME | awk 'NR == 1 { s = $1 } NR == 2 { printf "%.0f\n", s * 1000 + int($1 / 1000) }')
sleep 2
# shellcheck disable=SC2086
after=$(starts $S | awk -v t="$t_pause" '$1 > t' | wc -l)
echo "# jobs started after the pause: $after (2 worker processes)"
check "at most one take per worker process after the pause ($after <= 2)" test "$after" -le 2
# shellcheck disable=SC2086
n1=$(n_state succeeded $S)
sleep 1.5
# shellcheck disable=SC2086
check_eq "paused: no job starts any more" "$n1" "$(n_state succeeded $S)"
# shellcheck disable=SC2086
check "paused: the rest wait, queued" test "$(n_state queued $S)" -gt 10
rcli DEL "$(sq_key paused slow 0 1)" >/dev/null
rcli PUBLISH "$(wake_channel slow)" 1 >/dev/null
# shellcheck disable=SC2086
check "resumed (flag gone, wake published): all 30 succeed" wait_for 60 all_state succeeded 30 $S
stop_pid "$WORKER_PID" 10

A=$(seq -f 'pa%g' 1 20) B=$(seq -f 'pb%g' 1 20)
rcli SET "$(sq_key paused qa 0 1)" "$(date -u +%FT%TZ)" >/dev/null
# shellcheck disable=SC2086
{ submit_to qa echo echo '{"n":1}' $A; submit_to qb echo echo '{"n":1}' $B; }
start_worker pause2 $W --queues qa,qb --concurrency 1
# shellcheck disable=SC2086
check "a pool's other queue runs while one is paused" wait_for 30 all_state succeeded 20 $B
# shellcheck disable=SC2086
check_eq "... the paused queue's jobs wait" 20 "$(n_state queued $A)"
rcli DEL "$(sq_key paused qa 0 1)" >/dev/null
rcli PUBLISH "$(wake_channel qa)" 1 >/dev/null
# shellcheck disable=SC2086
check "... and run once it is resumed" wait_for 30 all_state succeeded 20 $A
stop_pid "$WORKER_PID" 10

# --- delayed jobs: promoted by the take step, started right after their time ---
# (written queued, then moved from the list to the delayed set, as a retry
# or a scheduled submit leaves them)
delay_case() { # NAME QUEUES...: 5 jobs due 1.5 s to 2.7 s from now, on an idle pool
  local name=$1 ids id i due lat=""
  shift
  ids=$(seq -f "dl$name%g" 1 5)
  start_worker "delay$name" $W --queues "$1" --concurrency 1
  sleep 1.2 # idle: BLMOVE, or waiting on the wake channel
  # shellcheck disable=SC2086
  park default echo echo '{"n":1}' $ids
  i=0
  declare -A DUE
  for id in $ids; do
    due=$(($(date +%s%3N) + 1500 + i * 300))
    DUE[$id]=$due
    rcli LREM "$(queue_key parked)" 0 "$id" >/dev/null
    rcli ZADD "$(delayed_key default)" "$due" "$id" >/dev/null
    i=$((i + 1))
  done
  # shellcheck disable=SC2086
  check "[$name] 5 delayed jobs succeed" wait_for 30 all_state succeeded 5 $ids
  early=0
  while read -r ts _ id; do
    [ "$ts" -lt "${DUE[$id]}" ] && early=$((early + 1))
    lat="$lat $((ts - DUE[$id]))"
  done < <(starts $ids)
  echo "# [$name] start after due time (ms):$lat"
  check_eq "[$name] none started before its time" 0 "$early"
  # shellcheck disable=SC2086
  check_eq "[$name] each ran once" 5 "$(once_count $ids)"
  stop_pid "$WORKER_PID" 10
}
delay_case one default
delay_case three high,default,low

# --- rate limit: 5 jobs a second, over every window of a 30 s run ---------------
R=$(seq -f 'rl%g' 1 400) F=$(seq -f 'rf%g' 1 300)
# shellcheck disable=SC2086
submit_to rl echo echo '{"n":1}' $R
start_worker rate $W --queues rl,default --concurrency 2
sleep 0.5
# shellcheck disable=SC2086
submit_to default echo echo '{"n":1}' $F
# shellcheck disable=SC2086
check "the pool's other queue is not stalled by the limited one" wait_for 30 all_state succeeded 300 $F
sleep "$RATE_S"
stop_pid "$WORKER_PID" 10
# shellcheck disable=SC2086
starts $R | awk '{ print $1 }' >"$STAGEQ_TEST_TMP/rl.ts"
total=$(wc -l <"$STAGEQ_TEST_TMP/rl.ts")
# per window of 1 s from the first start: 5 each (±1: starts follow their
# take, timed on Redis's clock, by a few ms), the last one partial
wins=$(awk 'NR == 1 { a = $1 } { c[int(($1 - a) / 1000)]++; n = int(($1 - a) / 1000) } END { for (i = 0; i < n; i++) printf "%d ", c[i] + 0 }' "$STAGEQ_TEST_TMP/rl.ts")
echo "# rate limit 5/s: $total jobs started; per 1 s window: $wins"
bad=$(for c in $wins; do [ "$c" -ge 4 ] && [ "$c" -le 6 ] || echo "$c"; done | wc -l)
check "every 1 s window held 5 ±1 jobs" test "$bad" = 0 -a -n "$wins"
span=$(awk 'NR == 1 { a = $1 } { b = $1 } END { print int((b - a) / 1000) }' "$STAGEQ_TEST_TMP/rl.ts")
check "the run lasted the ${RATE_S} s asked at least (${span} s between the first and last start)" \
  test "$span" -ge "$((RATE_S - 1))"
check "the limit is used, not exceeded: $total jobs, 5 a second over ${span} s" \
  test "$total" -ge $((5 * span - 5)) -a "$total" -le $((5 * (span + 1) + 1))
check "the rate log holds at most the window's takes" test "$(rcli ZCARD "$(sq_key rate rl 0 1)")" -le 5

finish
