#!/usr/bin/env bash
# test_sentinel_worker: worker pools on a redis-sentinel:// URL keep draining
# across a SENTINEL FAILOVER, a kill -9 of the master and a SIGSTOP of it
# longer than down-after (then SIGCONT: a stale master), and workers waiting
# in BLMOVE on an empty queue take the next job from the new master; every
# job ends exactly once (no success_count above 1). STAGEQ_MIN_REPLICAS=1 keeps a
# job's end until the replicas have it. The two discovery errors (all
# sentinels unreachable, no sentinel knows the master) are logged once each,
# and the worker recovers when the group appears. Jobs are submitted through
# an API on a plain redis:// URL to the current master (restarted after each
# failover), so that this suite does not depend on the API's Sentinel support.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sentinel.sh"

P=tsw
export STAGEQ_PREFIX=$P
PF=tests/e2e/pipelines-sentinel-worker.json
N=40 # jobs per scenario

out=$(sq_run stageq-worker --help 2>&1)
check "worker --help: the redis-sentinel URL form" grep -q "redis-sentinel://" <<<"$out"
check "worker --help: STAGEQ_MIN_REPLICAS" grep -q -- "--min-replicas.*STAGEQ_MIN_REPLICAS" <<<"$out"
err=$(STAGEQ_REDIS_URL="redis-sentinel://127.0.0.1:1,127.0.0.1:2/0" sq_run stageq-worker 2>&1)
check_eq "a sentinel URL without #master exits 2" 2 "$?"
check "... and says the master name is missing" grep -q "master name is missing" <<<"$err"
err=$(sq_run stageq-worker --min-replicas 1 --min-replicas-timeout-ms 5000 2>&1)
check_eq "a WAIT timeout not below the read timeout exits 2" 2 "$?"
check "... naming both options" grep -q "STAGEQ_MIN_REPLICAS_TIMEOUT_MS.*STAGEQ_REDIS_TIMEOUT_MS" <<<"$err"

if ! sg_start tswm; then
  not_ok "sentinel group up (master, 2 replicas, 3 sentinels)"
  finish
  exit 1
fi
ok "sentinel group up (master, 2 replicas, 3 sentinels)"

mrcli() { redis-cli -p "$(sg_master_port)" "$@"; }
not_grep() { ! grep -q "$@"; }

# api_on_master: (re)starts the API on the current master, plain URL.
api_on_master() {
  [ -n "${API_PID:-}" ] && stop_pid "$API_PID"
  API_ON=$(sg_master_port)
  REDIS_PORT=$API_ON SQ_REDIS_URL="redis://127.0.0.1:$API_ON/0"
  start_api api --pipelines "$PF" --prefix "$P"
  # its link to Redis comes after it listens (a request before it is answered
  # 503, as it should be): a scenario submits at once (CI under load: "40
  # submits accepted (got 503)" right after a restart here)
  api_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$API_URL/readyz")" = 200 ]; }
  wait_for 30 api_ready || echo "# the API on the master is not ready after 30 s"
}

# api_follows_master: the API is restarted if the master moved since it
# started. The sentinels may fail over a second time on their own: on a
# loaded CI host one of them saw the master just promoted after a kill -9
# silent for its 1 s down-after and promoted the other replica; the API,
# left on the demoted node, answered every submit 503 (READONLY).
api_follows_master() {
  [ "$(sg_master_port)" = "${API_ON:-}" ] || api_on_master
}

# submit TAG COUNT [PIPELINE [SLEEP]]: jobs TAG-1..TAG-COUNT whose slow stage
# sleeps SLEEP seconds (default 1: a scenario's batch drains over ~10 s),
# through the API on the current master; fails unless all get 202
# (HTTP_STATUS and HTTP_BODY are the first refusal's).
submit() {
  local i pl=${3:-sw3} sl=${4:-1}
  api_follows_master
  for i in $(seq 1 "$2"); do
    post_json /v1/jobs "{\"pipeline\":\"$pl\",\"input\":{\"sleep\":$sl},\"id\":\"$1-$i\"}"
    [ "$HTTP_STATUS" = 202 ] || return 1
  done
}

tag_keys() { job_keys $(seq -f "$1-%.0f" 1 "$2"); } # TAG COUNT: the job keys of TAG-1..TAG-COUNT

# replicated TAG COUNT: every replica of the current master has the jobs.
replicated() {
  local n p mp
  mp=$(sg_master_port) || return 1
  for n in $SG_NODES; do
    p=${n##*:}
    [ "$p" = "$mp" ] && continue
    # shellcheck disable=SC2046
    [ "$(redis-cli -p "$p" EXISTS $(tag_keys "$1" "$2") 2>/dev/null)" = "$2" ] || return 1
  done
}

# summary TAG COUNT: "succeeded once twice" over the jobs, on the master.
SUMMARY_LUA='local ok, once, twice = 0, 0, 0
for i = 1, tonumber(ARGV[2]) do
  local h = redis.call("HMGET", ARGV[1] .. i, "state", "success_count")
  if h[1] == "succeeded" then ok = ok + 1 end
  local sc = tonumber(h[2]) or (h[1] == "succeeded" and 1 or 0) -- absent: 1 once succeeded
  if sc == 1 then once = once + 1 elseif sc > 1 then twice = twice + 1 end
end
return {ok, once, twice}'
summary() { mrcli EVAL "$SUMMARY_LUA" 0 "$(job_key "$1-")" "$2" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
n_succeeded() { local s; s=$(summary "$1" "$2"); echo "${s%% *}"; }
at_least_done() { [ "$(n_succeeded "$1" "$2")" -ge "$3" ] 2>/dev/null; }
all_done() { [ "$(n_succeeded "$1" "$2")" = "$2" ]; }

more_done() { [ "$(n_succeeded "$1" "$2")" -gt "$3" ] 2>/dev/null; }
ms_of() { date -d "$1" +%s%3N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1000 }'; }

# nothing_left: the queue, the delayed set and every processing list are empty.
nothing_left() {
  local k
  [ "$(mrcli LLEN "$(queue_key default)")" = 0 ] || return 1
  [ "$(mrcli ZCARD "$(delayed_key default)")" = 0 ] || return 1
  for k in $(mrcli --scan --pattern "$(processing_key '*')"); do
    [ "$(mrcli LLEN "$k")" = 0 ] || return 1
  done
}

api_on_master
# Two pools on the Sentinel URL: one confirms each job's end on a replica.
STAGEQ_MIN_REPLICAS=1 start_worker poolA --redis-url "$SG_URL" --pipelines "$PF" --prefix "$P" \
  --concurrency 2
POOL_A=$WORKER_PID
start_worker poolB --redis-url "$SG_URL" --pipelines "$PF" --prefix "$P" --concurrency 2
POOL_B=$WORKER_PID
check "the pools find the master through the sentinels" \
  wait_for 20 grep -q "redis redis-sentinel://127.0.0.1:" "$STAGEQ_TEST_TMP/poolA.log"
check "each worker process keeps one sentinel connection for its master checks" \
  wait_for 30 sg_kept_checks 4

# scenario TAG ACTION: N jobs, ACTION (failover | kill | stop) once some are
# done, then every job must end exactly once on the new master.
scenario() {
  local tag=$1 action=$2 old oldnode t0ms t1ms t2ms="" c0 left
  if ! submit "$tag" "$N"; then
    not_ok "$tag: $N submits accepted (got $HTTP_STATUS: $(jqr .error.message))"
    return
  fi
  check "$tag: the submits reached both replicas" wait_for 30 replicated "$tag" "$N"
  check "$tag: the drain is under way" wait_for 60 at_least_done "$tag" "$N" 4
  left=$((N - $(n_succeeded "$tag" "$N")))
  check "$tag: jobs are left when the master goes ($left)" test "$left" -gt 0
  old=$(sg_master_port)
  oldnode=$(sg_master_node)
  t0ms=$(date +%s%3N)
  case $action in
    failover) sg_failover >/dev/null ;;
    kill) kill -9 "$(sg_pid_of "$oldnode")" ;;
    stop) kill -STOP "$(sg_pid_of "$oldnode")" ;;
  esac
  check "$tag: a new master is elected" sg_wait_new_master "$old" 60
  t1ms=$(date +%s%3N)
  c0=$(n_succeeded "$tag" "$N")
  case $action in
    kill) sg_restart "$oldnode" ;;
    stop) kill -CONT "$(sg_pid_of "$oldnode")" ;;
  esac
  # the first end written on the new master (the count it had grows)
  wait_for 60 more_done "$tag" "$N" "$c0" && t2ms=$(date +%s%3N)
  api_on_master
  check "$tag: every job succeeds" wait_for 180 all_done "$tag" "$N"
  check_eq "$tag: every job ended exactly once (succeeded, once, twice)" "$N $N 0" \
    "$(summary "$tag" "$N")"
  check "$tag: nothing left queued or on a processing list" wait_for 30 nothing_left
  [ -n "$t2ms" ] && echo "# figure: $tag ($action): $left of $N jobs left; new master after" \
    "$(secs "$t0ms" "$t1ms") s; first job completed on it $(secs "$t0ms" "$t2ms") s after the $action"
  check "$tag: the group settles again" wait_for 90 sg_is_settled
}

scenario fo failover
scenario kill kill
scenario stop stop

# Workers waiting in BLMOVE on an empty queue during a failover take the next
# job from the new master.
check "idle: the queue is empty" nothing_left
old=$(sg_master_port)
t0ms=$(date +%s%3N)
sg_failover >/dev/null
check "idle: a new master is elected" sg_wait_new_master "$old" 60
api_on_master
submit idle 1
check "idle: the next job runs on the new master" wait_for 60 all_done idle 1
check_eq "idle: it ended once" "1 1 0" "$(summary idle 1)"
t1=$(mrcli HGET "$(job_key idle-1)" updated_at) # its end (no finished_at: docs/redis-keys.md)
[ -n "$t1" ] && echo "# figure: idle: job submitted after the failover completed" \
  "$(secs "$t0ms" "$(ms_of "$t1")") s after SENTINEL FAILOVER"
check "idle: the group settles again" wait_for 90 sg_is_settled

check "the pools are still up" kill -0 "$POOL_A"
check "... both" kill -0 "$POOL_B"
check "the pools logged the move to a new master" \
  wait_for 5 grep -q "redis: connected to 127.0.0.1:" "$STAGEQ_TEST_TMP/poolA.log"

# STAGEQ_MIN_REPLICAS=1 on a backlog of fast jobs: they are taken in batches
# and their ends sent without waiting; one WAIT covers several ends.
wait_calls() {
  local c
  c=$(mrcli INFO commandstats | sed -n 's/^cmdstat_wait:calls=\([0-9]*\),.*/\1/p')
  echo "${c:-0}"
}
submit fast 100 durable
w0=$(wait_calls)
STAGEQ_MIN_REPLICAS=1 start_worker durable --redis-url "$SG_URL" --pipelines "$PF" \
  --prefix "$P" --queue durable --concurrency 1 --min-replicas-timeout-ms 300
DURABLE=$WORKER_PID
check "batches with STAGEQ_MIN_REPLICAS=1: the backlog drains" wait_for 60 all_done fast 100
check_eq "batches with STAGEQ_MIN_REPLICAS=1: each job ended once" "100 100 0" \
  "$(summary fast 100)"
waits=$(($(wait_calls) - w0))
echo "# figure: $waits WAITs confirmed the ends of 100 fast jobs"
check "batches with STAGEQ_MIN_REPLICAS=1: one WAIT covers several ends" \
  test "$waits" -gt 0 -a "$waits" -lt 100

# STAGEQ_MIN_REPLICAS=1 with both replicas stopped: the first job's end is
# written but not confirmed, so the worker keeps it (writing it again) and
# does not take the next job; once the replicas are back, it is confirmed and
# the next job runs.
mp=$(sg_master_port)
stopped=""
for n in $SG_NODES; do
  [ "${n##*:}" = "$mp" ] && continue
  redis_stop "${n%%:*}"
  stopped="$stopped ${n%%:*}"
done
submit dur 2 durable
check "durable: the first end is not confirmed without replicas" \
  wait_for 30 grep -q "end not confirmed.*job=dur-1" "$STAGEQ_TEST_TMP/durable.log"
check_eq "durable: it is written on the master" succeeded "$(mrcli HGET "$(job_key dur-1)" state)"
check_eq "durable: the worker keeps it and takes nothing else" queued \
  "$(mrcli HGET "$(job_key dur-2)" state)"
for n in $stopped; do sg_restart "$n"; done
check "durable: with the replicas back the next job runs" wait_for 60 all_done dur 2
check "durable: the first end is confirmed" \
  wait_for 5 grep -q "end confirmed by 1 replica.*job=dur-1" "$STAGEQ_TEST_TMP/durable.log"
check_eq "durable: both ended once" "2 2 0" "$(summary dur 2)"
stop_pid "$DURABLE"
check "durable: the group settles again" wait_for 90 sg_is_settled

# STAGEQ_MIN_REPLICAS=1 across a graceful failover: the old master takes
# writes for about a second after the promotion while its other replica,
# still attached, could acknowledge them (then it resyncs from the new master
# and drops them). The worker waits for every replica the sentinels count
# healthy (2), which the old master no longer has: such an end is not
# confirmed, the worker asks the sentinels at once and writes it again on
# the new master. Every job ends once, none is left behind.
check "durable failover: 60 submits accepted" submit dfo 60 durslow 0.2
check "durable failover: the submits reached both replicas" wait_for 30 replicated dfo 60
STAGEQ_MIN_REPLICAS=1 start_worker durfo --redis-url "$SG_URL" --pipelines "$PF" --prefix "$P" \
  --queue durable --concurrency 2 --min-replicas-timeout-ms 300 --log-level debug
DURFO=$WORKER_PID
check "durable failover: the drain is under way" wait_for 60 at_least_done dfo 60 6
old=$(sg_master_port)
t0ms=$(date +%s%3N)
sg_failover >/dev/null
check "durable failover: a new master is elected" sg_wait_new_master "$old" 60
new=$(sg_master_port)
moved() { grep -q "connected to 127.0.0.1:$new" "$STAGEQ_TEST_TMP/durfo.log"; }
check "durable failover: the worker moves to the new master" wait_for 60 moved
t1ms=$(date +%s%3N)
api_on_master
check "durable failover: every job succeeds" wait_for 120 all_done dfo 60
check_eq "durable failover: every job ended exactly once (succeeded, once, twice)" "60 60 0" \
  "$(summary dfo 60)"
check "durable failover: nothing left queued or on a processing list" wait_for 30 nothing_left
rerun=$(for i in $(seq 1 60); do mrcli HGET "$(job_key "dfo-$i")" attempt; done | awk '$1 > 1' | wc -l)
unconf=$(grep -c "end not confirmed" "$STAGEQ_TEST_TMP/durfo.log")
echo "# figure: durable failover: the worker on the new master within $(secs "$t0ms" "$t1ms") s" \
  "(polled); $unconf end(s) not confirmed meanwhile; $rerun job(s) run again"
stop_pid "$DURFO"
check "durable failover: the group settles again" wait_for 90 sg_is_settled

# A wrong master name: "no sentinel knows master" once, then the job runs
# when the sentinels learn the name.
# repeats LOG TEXT: the failure was seen again (logged at debug level only).
repeats() { [ "$(grep -c "debug .*$2" "$STAGEQ_TEST_TMP/$1.log")" -ge 2 ]; }
warned() { grep -c "warn .*$2" "$STAGEQ_TEST_TMP/$1.log"; }
start_worker late --redis-url "${SG_URL%#*}#late" --pipelines "$PF" --prefix "$P" --queue late \
  --concurrency 1 --log-level debug
LATE=$WORKER_PID
check "unknown master: logged" \
  wait_for 20 grep -q "no sentinel knows master 'late'" "$STAGEQ_TEST_TMP/late.log"
submit late 1 late
check "unknown master: retried" wait_for 30 repeats late "no sentinel knows master 'late'"
mp=$(sg_master_port)
for p in $SG_SENTINEL_PORTS; do redis-cli -p "$p" SENTINEL MONITOR late 127.0.0.1 "$mp" 2 >/dev/null; done
check "unknown master: the worker recovers when the name is known" wait_for 60 all_done late 1
check_eq "unknown master: warned once" 1 "$(warned late "no sentinel knows master 'late'")"
check "unknown master: not mistaken for unreachable sentinels" \
  not_grep "sentinels unreachable" "$STAGEQ_TEST_TMP/late.log"
stop_pid "$LATE"
for p in $SG_SENTINEL_PORTS; do redis-cli -p "$p" SENTINEL REMOVE late >/dev/null; done

# No sentinel reachable: "all sentinels unreachable" once, then the job runs
# when a sentinel comes up on one of the addresses.
p1=$(free_port)
p2=$(free_port)
start_worker unreach --redis-url "redis-sentinel://127.0.0.1:$p1,127.0.0.1:$p2/0#$SG_NAME" \
  --pipelines "$PF" --prefix "$P" --queue unreach --concurrency 1 --log-level debug
check "unreachable sentinels: logged" \
  wait_for 20 grep -q "all 2 sentinels unreachable" "$STAGEQ_TEST_TMP/unreach.log"
submit unreach 1 unreach
check "unreachable sentinels: retried" wait_for 30 repeats unreach "all 2 sentinels unreachable"
dir="$STAGEQ_TEST_TMP/redis-$SG_NAME-s4"
mkdir -p "$dir"
: >"$dir/sentinel.conf" # written by Sentinel; the settings come as arguments
redis-server "$dir/sentinel.conf" --sentinel --port "$p1" --bind 127.0.0.1 --daemonize yes \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
  --sentinel announce-ip 127.0.0.1 --sentinel monitor "$SG_NAME" 127.0.0.1 "$(sg_master_port)" 2 \
  >/dev/null
SQ_REDIS_NAMES="$SQ_REDIS_NAMES $SG_NAME-s4"
check "unreachable sentinels: the worker recovers when one appears" wait_for 60 all_done unreach 1
check_eq "unreachable sentinels: warned once" 1 "$(warned unreach "all 2 sentinels unreachable")"
check "unreachable sentinels: not mistaken for an unknown master" \
  not_grep "no sentinel knows" "$STAGEQ_TEST_TMP/unreach.log"

finish
