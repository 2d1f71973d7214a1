#!/usr/bin/env bash
# test_sentinel_api: the API on a real Sentinel group (a master, 2 replicas, 3
# sentinels on loopback). Submits and status across a graceful failover and a
# kill -9 of the master (503 only during the switch, nothing acknowledged
# missing), SSE streams and a ?wait watching jobs across a failover (never
# closed, their final state arrives), the two discovery errors told apart in
# /readyz and the log, and STAGEQ_MIN_REPLICAS.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sentinel.sh"
export STAGEQ_PREFIX=tsa
T=$STAGEQ_TEST_TMP

check "a Sentinel group comes up (master, 2 replicas, 3 sentinels)" sg_start tsa
mcli() { redis-cli -p "$(sg_master_port)" "$@"; }
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$API_URL/readyz")" = 200 ]; }

start_api api-sg --redis-url "$SG_URL" --log-level debug
check "the API on $SG_URL is ready" wait_for 10 ready
check "... it logs the master the sentinels named" \
  grep -q "redis: connected to redis-sentinel://.*(master 'tsa' at 127.0.0.1:$(sg_master_port))" \
  "$T/api-sg.log"
check "... it keeps one sentinel connection for its master checks" wait_for 20 sg_kept_checks 1
post_json /v1/jobs '{"pipeline":"echo","queue":"nobody","id":"before-1","input":1}'
check_eq "a submit answers 202" 202 "$HTTP_STATUS"
check_eq "... the job is on the master" queued "$(mcli HGET "$(job_key before-1)" state)"

# submitter NAME: submits jobs NAME-1, NAME-2, ... one after the other until
# $T/NAME.stop exists, writing "id status" lines to $T/NAME.codes.
submitter() {
  local name=$1 i=0 code
  : >"$T/$name.codes"
  while [ ! -e "$T/$name.stop" ]; do
    i=$((i + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'content-type: application/json' \
      --data-binary "{\"pipeline\":\"echo\",\"queue\":\"nobody\",\"id\":\"$name-$i\",\"input\":$i}" \
      "$API_URL/v1/jobs")
    echo "$name-$i $code" >>"$T/$name.codes"
  done
}
# acked_missing NAME: how many jobs answered 202 are not on the current master.
acked_missing() {
  local id code n=0
  while read -r id code; do
    [ "$code" = 202 ] || continue
    [ "$(mcli EXISTS "$(job_key "$id")")" = 1 ] || n=$((n + 1))
  done <"$T/$1.codes"
  echo "$n"
}
codes_other() { awk '$2 != 202 && $2 != 503' "$T/$1.codes" | wc -l; }
n503() { awk '$2 == 503' "$T/$1.codes" | wc -l; }
n202_after() { tail -n +"$2" "$T/$1.codes" | awk '$2 == 202' | wc -l; }
has_lines() { [ "$(wc -l <"$T/$1.codes")" -ge "$2" ]; }

subscribed_on_master() {
  [ "$(redis-cli -p "$(sg_master_port)" PUBSUB NUMSUB tsa:events | tail -1)" = 1 ]
}

# Streams and a ?wait on queued jobs, held across the failovers; the jobs are
# canceled afterwards, through the API on the new master. The longest wait
# (300 s): under ASan on a loaded machine the three failovers took over 100 s.
for i in 1 2 3; do
  post_json /v1/jobs "{\"pipeline\":\"echo\",\"queue\":\"nobody\",\"id\":\"watched-$i\",\"input\":$i}"
  curl -s -N --max-time 330 "$API_URL/v1/jobs/watched-$i/events" >"$T/watched-$i.out" &
  eval "wpid_$i=$!"
done
curl -s --max-time 330 -o "$T/wait.out" -w '%{http_code}' "$API_URL/v1/jobs?wait=300" \
  -H 'content-type: application/json' \
  --data-binary '{"pipeline":"echo","queue":"nobody","id":"waited","input":0}' >"$T/wait.code" &
wait_pid=$!
first_events() { for i in 1 2 3; do grep -q '^data: ' "$T/watched-$i.out" || return 1; done; }
check "3 streams got their first event" wait_for 10 first_events
check "... the API is subscribed" wait_for 10 subscribed_on_master

# failover NAME HOW [N]: a failover (HOW: graceful = SENTINEL FAILOVER, kill =
# kill -9 of the master, then started again as a replica once a new master is
# up) while a submitter runs, until 20 submits were acknowledged on the new
# master; prints the figures (N: the API's STAGEQ_MIN_REPLICAS) and sets
# MISSING, the jobs acknowledged (202) and missing on the new master.
failover() {
  local name=$1 how=$2 old oldnode sp m
  old=$(sg_master_port)
  oldnode=$(sg_master_node)
  submitter "$name" &
  sp=$!
  check "the submitter runs" wait_for 10 has_lines "$name" 20
  if [ "$how" = kill ]; then kill -9 "$(sg_pid_of "$oldnode")"; else sg_failover >/dev/null; fi
  check "$how failover: a new master" sg_wait_new_master "$old" 30
  m=$(wc -l <"$T/$name.codes")
  check "submits are acknowledged again on the new master" wait_for 30 bash -c \
    "[ \$(tail -n +$((m + 1)) '$T/$name.codes' | awk '\$2 == 202' | wc -l) -ge 20 ]"
  touch "$T/$name.stop"
  wait "$sp"
  MISSING=$(acked_missing "$name")
  echo "# $how failover, STAGEQ_MIN_REPLICAS=${3:-0}: $(wc -l <"$T/$name.codes") submits, $(n503 "$name") answered 503, $MISSING acknowledged and missing"
  check_eq "... every answer was 202 or 503" 0 "$(codes_other "$name")"
  [ "$how" = kill ] && sg_restart "$oldnode"
}
alive() { for p in "$wpid_1" "$wpid_2" "$wpid_3" "$wait_pid"; do kill -0 "$p" 2>/dev/null || return 1; done; }

# --- 1. a graceful failover while submits go on --------------------------------
# Without STAGEQ_MIN_REPLICAS, writes the old master acknowledged after the
# promotion and before its demotion are lost (section 5 checks the option).
failover gf graceful
check "the API logged the switch" wait_for 5 grep -q "redis: connected to .*(master 'tsa' at 127.0.0.1:$(sg_master_port))" "$T/api-sg.log"
check "... and its subscriber follows to the new master" wait_for 10 subscribed_on_master
http GET /v1/jobs/before-1
check_eq "status of a job from before: 200" 200 "$HTTP_STATUS"
check "the 3 streams and the ?wait are still open" alive
check "sentinels settle after the failover" wait_for 30 sg_is_settled

# --- 2. kill -9 of the master while submits go on ------------------------------
failover kill kill
check "the 3 streams and the ?wait are still open" alive
check "... the subscriber is on the new master" wait_for 10 subscribed_on_master

# --- 2b. SIGSTOP of the master while the API is idle ----------------------------
# The API leaves the stopped master (a command without reply, or the sentinels,
# asked every second, naming another master) before it comes back as a stale
# master (until Sentinel demotes it), and takes no write there.
check "sentinels settled" wait_for 40 sg_is_settled
old=$(sg_master_port)
opid=$(sg_pid_of "$(sg_master_node)")
kill -STOP "$opid"
check "SIGSTOP of the master: a new master" sg_wait_new_master "$old" 30
check "... the API is ready on it" wait_for 20 ready
echo "# the API left a master because the sentinels named another $(grep -c 'the sentinels name' "$T/api-sg.log") time(s), for want of a reply $(grep -c 'no reply from' "$T/api-sg.log") time(s)"
kill -CONT "$opid"
: >"$T/stop.codes"
for i in 1 2 3 4 5; do
  post_json /v1/jobs "{\"pipeline\":\"echo\",\"queue\":\"nobody\",\"id\":\"stop-$i\"}"
  echo "stop-$i $HTTP_STATUS" >>"$T/stop.codes"
done
check_eq "SIGCONT: submits right after are acknowledged" 5 "$(awk '$2 == 202' "$T/stop.codes" | wc -l)"
check "sentinels settle (the stale master is demoted)" wait_for 40 sg_is_settled
check_eq "... none of those jobs is missing" 0 "$(acked_missing stop)"
check "the 3 streams and the ?wait are still open" alive

# The watched jobs end (canceled through the API): each stream sends it and ends.
for i in 1 2 3; do http DELETE "/v1/jobs/watched-$i"; done
check_eq "cancel through the API on the new master: 200" 200 "$HTTP_STATUS"
http DELETE /v1/jobs/waited
for i in 1 2 3; do
  eval "p=\$wpid_$i"
  check "stream $i ends" wait_for 10 bash -c "! kill -0 $p 2>/dev/null"
  check_eq "... with its final state" canceled \
    "$(grep '^data: ' "$T/watched-$i.out" | cut -c7- | jq -r .state 2>/dev/null | grep -v null | tail -1)"
  check_eq "... then an end event" "event: end" "$(grep '^event: ' "$T/watched-$i.out" | tail -1)"
done
check "the ?wait answers" wait_for 10 bash -c "! kill -0 $wait_pid 2>/dev/null"
check_eq "... 200" 200 "$(cat "$T/wait.code")"
check_eq "... with the final state" canceled "$(jq -r .state "$T/wait.out")"
check "the old master is back as a replica; sentinels settle" wait_for 40 sg_is_settled

# --- 3. discovery errors, told apart ---------------------------------------------
API_MAIN=$API_URL
p1=$(free_port)
p2=$(free_port)
start_api api-unreach --redis-url "redis-sentinel://127.0.0.1:$p1,127.0.0.1:$p2/0#tsa"
check "sentinels unreachable: /readyz 503 saying all sentinels are unreachable" \
  wait_for 10 not_ready_says 'all sentinels unreachable'
check "... and the log says it" wait_for 5 grep -q 'all sentinels unreachable' "$T/api-unreach.log"
stop_pid "$API_PID" 10
start_api api-unknown --redis-url "${SG_URL%#*}#nosuchmaster"
check "a master no sentinel knows: /readyz 503" wait_for 10 not_ready_says 'no sentinel knows'
msg=$(jqr .error.message)
check "... saying no sentinel knows it" bash -c "grep -q \"no sentinel knows.*nosuchmaster\" <<<'$msg'"
check "... not that they are unreachable" bash -c "! grep -q unreachable <<<'$msg'"
check "... and the log says it" wait_for 5 grep -q "no sentinel knows.*nosuchmaster" "$T/api-unknown.log"
stop_pid "$API_PID" 10

# --- 4. STAGEQ_MIN_REPLICAS=1 ------------------------------------------------------
STAGEQ_MIN_REPLICAS=1 start_api api-dur --redis-url "$SG_URL"
check "an API with STAGEQ_MIN_REPLICAS=1 is ready" wait_for 10 ready
body='{"pipeline":"echo","queue":"nobody","id":"dur-1","input":{"n":1}}'
post_json /v1/jobs "$body"
check_eq "replicas up: a submit answers 202" 202 "$HTTP_STATUS"
on_replicas() {
  local n node c=0
  for n in $SG_NODES; do
    node=${n%%:*}
    [ "$node" = "$(sg_master_node)" ] && continue
    [ "$(redis-cli -p "${n##*:}" EXISTS "$(job_key "$1")")" = 1 ] && c=$((c + 1))
  done
  echo "$c"
}
check "... the job is on a replica when 202 arrives" test "$(on_replicas dur-1)" -ge 1
post_json /v1/jobs "$body"
check_eq "the same request again (a retry): 202, the same job" "202 dur-1 queued" \
  "$HTTP_STATUS $(jqr .id) $(jqr .state)"
post_json /v1/jobs '{"pipeline":"echo","queue":"nobody","id":"dur-1","input":{"n":2}}'
check_eq "another request with that id: 409 duplicate_id" "409 duplicate_id" \
  "$HTTP_STATUS $(jqr .error.code)"

replicas=""
for n in $SG_NODES; do
  node=${n%%:*}
  [ "$node" = "$(sg_master_node)" ] || replicas="$replicas $node"
done
for node in $replicas; do redis_stop "$node"; done
no_replica() { [ "$(mcli INFO replication | grep -c '^slave[0-9]*:')" = 0 ]; }
check "both replicas stopped: the master has none" wait_for 10 no_replica
body='{"pipeline":"echo","queue":"nobody","id":"dur-2","input":2}'
post_json /v1/jobs "$body"
check_eq "replicas gone: a submit answers 503" 503 "$HTTP_STATUS"
check_eq "... redis_unavailable" redis_unavailable "$(jqr .error.code)"
# the count is max(N, the replicas the sentinels still count healthy): 2
# until they flag the stopped ones s_down (down-after-milliseconds), then 1
check "... saying it reached 0 of the replicas required" \
  bash -c "jq -r .error.message <<<'$HTTP_BODY' | grep -qE 'reached 0 of the [12] replicas required'"
check "... with Retry-After" bash -c "grep -qi '^retry-after: 1' <<<'$HTTP_HEADERS'"
http POST /start_task -H 'content-type: application/json' --data-binary '{"data":1}'
check_eq "the blog's start route too: 503" 503 "$HTTP_STATUS"
# Submits wait on their own connection: status reads go on meanwhile.
bg=""
for i in 1 2 3; do
  curl -s -o /dev/null --max-time 10 -H 'content-type: application/json' \
    --data-binary "{\"pipeline\":\"echo\",\"queue\":\"nobody\",\"id\":\"dur-bg-$i\"}" \
    "$API_URL/v1/jobs" &
  bg="$bg $!"
done
sleep 0.1
t=$(curl -s -o "$T/dur-get.out" -w '%{http_code} %{time_total}' --max-time 10 "$API_URL/v1/jobs/dur-1")
check_eq "... a status read while submits wait for replicas: 200" 200 "${t%% *}"
echo "# status read while 3 submits wait for absent replicas: ${t#* } s (WAIT waits $((2000 / 2)) ms)"
wait $bg
post_json /v1/jobs "$body"
check_eq "a retry while replicas are gone: 503 again" 503 "$HTTP_STATUS"
for node in $replicas; do sg_restart "$node"; done
check "replicas back" wait_for 30 bash -c "[ \"\$(redis-cli -p $(sg_master_port) INFO replication | grep -c 'state=online')\" = 2 ]"
post_json /v1/jobs "$body"
check_eq "the retry with the same id: 202" 202 "$HTTP_STATUS"
check "... the job is on a replica" test "$(on_replicas dur-2)" -ge 1
check_eq "... and once only on its queue" 1 "$(mcli LRANGE "$(queue_key nobody)" 0 -1 | grep -cx dur-2)"
stop_pid "$API_PID" 10
check_eq "the API exits 0" 0 "$STOP_RC"

# --- 5. failovers with STAGEQ_MIN_REPLICAS ------------------------------------------
# A graceful failover: the old master keeps taking writes for about a second
# after the promotion, and its other replica could confirm them (that replica
# then resyncs from the new master and drops them); with N >= 1 the API waits
# for every replica the sentinels count healthy (2), which the old master no
# longer has, so N = 1 holds (twice: it must not be luck). A kill -9:
# Sentinel promotes the replica with the most data.
for spec in graceful:1 graceful:1 graceful:2 kill:1; do
  how=${spec%:*} n=${spec#*:} name="min-${spec/:/-}-$((++round))"
  check "sentinels settled" wait_for 40 sg_is_settled
  STAGEQ_MIN_REPLICAS=$n start_api "api-$name" --redis-url "$SG_URL"
  check "an API with STAGEQ_MIN_REPLICAS=$n is ready" wait_for 10 ready
  failover "$name" "$how" "$n"
  check_eq "... no job acknowledged (202) is missing" 0 "$MISSING"
  stop_pid "$API_PID" 10
done

# --- 6. a sentinel with a password of its own ------------------------------------------
scli() { redis-cli -p "$SG_SENTINEL_PORT" --pass sntpw --no-auth-warning "$@"; }
redis-cli -p "$SG_SENTINEL_PORT" ACL SETUSER default on '>sntpw' >/dev/null
spw_url() { echo "redis-sentinel://127.0.0.1:$SG_SENTINEL_PORT/0?sentinel_password=$1#tsa"; }
start_api api-spw --redis-url "$(spw_url sntpw)"
check "a sentinel that wants a password: the API sends it (ready)" wait_for 10 ready
stop_pid "$API_PID" 10
start_api api-spw2 --redis-url "$(spw_url wrong)"
check "... a wrong one: 503, the sentinel counts as unreachable" \
  wait_for 10 not_ready_says 'all sentinels unreachable'

stop_pid "$API_PID" 10
scli ACL SETUSER default nopass >/dev/null
API_URL=$API_MAIN

# --- 7. the master and its replicas down: the sentinels still name it ----------------
# settled first: the sentinels agree on one master (a failover of the
# sections above may still be spreading), whose address the message names
check "sentinels settled before the data nodes go" wait_for 40 sg_is_settled
mp=$(sg_master_port)
for n in $SG_NODES; do redis_stop "${n%%:*}"; done
check "every data node down: /readyz 503 says the master named cannot be reached" \
  wait_for 30 not_ready_says "the master the sentinels gave cannot be reached: 127.0.0.1:$mp"
check "... and so does a submit's 503" bash -c "curl -s -H 'content-type: application/json' \
  --data-binary '{\"pipeline\":\"echo\"}' '$API_URL/v1/jobs' | jq -r .error.message | grep -q 'cannot be reached'"

check "the API logs have no sanitizer report" \
  bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error:' '$T'/api-*.log"
finish
