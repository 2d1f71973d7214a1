#!/usr/bin/env bash
# test_cluster_api: the API's cluster client (api/rasync.c) on a real Redis
# Cluster of 3 masters + 3 replicas on loopback: /readyz and its reasons,
# submits and reads routed to the master of the jobs' slot while that slot
# visits every master (MOVED, and NOSCRIPT on each new node), a slot mid
# migration (ASK, for a read and for a script), a graceful CLUSTER FAILOVER,
# a map naming only unreachable masters, a kill -9 of the master holding the
# jobs and the events subscription (503s, never a crash, then recovery; the
# events stream goes on from another node).
#
# Until the scripts take the events channel in ARGV, they name it in KEYS:
# the prefix is chosen so that "<prefix>:events" hashes to slot 8192, the
# slot of the default partition (tag {8209}), so that every key of a script
# is in one slot.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
T=$STAGEQ_TEST_TMP
TAG='{8209}'
S=8192
STAGEQ_PREFIX=$(python3 - <<'EOF'
T = []
for i in range(256):
    c = i << 8
    for _ in range(8):
        c = ((c << 1) ^ 0x1021) if c & 0x8000 else c << 1
    T.append(c & 0xFFFF)
def slot(k):
    c = 0
    for b in k.encode():
        c = ((c << 8) & 0xFFFF) ^ T[((c >> 8) ^ b) & 0xFF]
    return c & 16383
print(next("tca%d" % i for i in range(10**6) if slot("tca%d:events" % i) == 8192))
EOF
)
export STAGEQ_PREFIX
P=$STAGEQ_PREFIX
jkey() { echo "$P:$TAG:job:$1"; }

# --- /readyz says what is missing ---------------------------------------------
redis_start tca-single
start_api api-nocl --redis-url "redis-cluster://127.0.0.1:$REDIS_PORT_tca_single/"
check "a seed without cluster support: /readyz 503 says CLUSTER SLOTS failed there" \
  poll 10 not_ready_says "CLUSTER SLOTS on 127.0.0.1:$REDIS_PORT_tca_single failed: ERR This instance has cluster support disabled"
stop_pid "$API_PID" 10
redis_stop tca-single
dead=$(free_port)
start_api api-dead --redis-url "redis-cluster://127.0.0.1:$dead/"
check "no seed reachable: /readyz 503 says so" \
  poll 10 not_ready_says "cannot reach any seed node: cannot connect to 127.0.0.1:$dead"
http GET /v1/jobs/x
check_eq "... and so does a GET's 503" "503 yes" \
  "$HTTP_STATUS $(jqr .error.message | grep -q 'cannot reach any seed node' && echo yes)"
stop_pid "$API_PID" 10
redis_start tca-partial --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$(free_port)"
redis-cli -p "$REDIS_PORT_tca_partial" cluster addslotsrange 0 10922 >/dev/null
start_api api-partial --redis-url "redis-cluster://127.0.0.1:$REDIS_PORT_tca_partial/"
check "a map with slots unserved: /readyz 503 says how many it covers" \
  poll 10 not_ready_says "cluster map covers 10923 of 16384 slots"
stop_pid "$API_PID" 10
redis_stop tca-partial

# --- the cluster --------------------------------------------------------------
check "a cluster comes up (3 masters, 3 replicas)" cl_start tca
slot_of() { redis-cli -p "$CL_PORT" cluster keyslot "$1"; }
check_eq "the jobs' keys and the events name (prefix $P) share slot $S" "$S $S $S" \
  "$(slot_of "$(jkey x)") $(slot_of "$P:$TAG:queue:nobody") $(slot_of "$P:events")"
myid() { redis-cli -p "$1" cluster myid; }
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$API_URL/readyz")" = 200 ]; }
alive() { kill -0 "$API_PID" 2>/dev/null; }
submit() { post_json /v1/jobs "{\"pipeline\":\"echo\",\"queue\":\"nobody\",\"id\":\"$1\",\"input\":1}"; }
get_200() { http GET "/v1/jobs/$1"; [ "$HTTP_STATUS" = 200 ]; }
role_is() { redis-cli -p "$1" role 2>/dev/null | head -1 | grep -qx "$2"; }

# move_slot SLOT FROM TO [half]: migrates SLOT's keys from master port FROM to
# TO by hand; "half" stops after the keys moved, with the slot still
# MIGRATING/IMPORTING (the source answers ASK for them).
move_slot() {
  local s=$1 from=$2 to=$3 keys
  redis-cli -p "$to" cluster setslot "$s" importing "$(myid "$from")" >/dev/null
  redis-cli -p "$from" cluster setslot "$s" migrating "$(myid "$to")" >/dev/null
  while :; do
    keys=$(redis-cli -p "$from" cluster getkeysinslot "$s" 1000)
    [ -n "$keys" ] || break
    # shellcheck disable=SC2086
    redis-cli -p "$from" migrate 127.0.0.1 "$to" "" 0 5000 keys $keys >/dev/null
  done
  [ "${4:-}" = half ] && return 0
  end_move "$s" "$to"
}
# end_move SLOT TO: gives SLOT to master TO on every master.
end_move() {
  local p id
  id=$(myid "$2")
  for p in $(cl_masters); do redis-cli -p "$p" cluster setslot "$1" node "$id" >/dev/null; done
}

start_api api-cl --redis-url "$CL_URL" --log-level debug
check "the API on $CL_URL is ready" poll 20 ready
check "... it read the map: 3 masters, every slot covered" \
  grep -q "redis: cluster map from 127.0.0.1:[0-9]*: 3 masters, 16384 of 16384 slots covered" \
  "$T/api-cl.log"
http GET /v1/jobs/nosuchjob
check_eq "an unknown id: 404 (its slot's master said so)" 404 "$HTTP_STATUS"

curl -sN --max-time 300 "$API_URL/v1/events" >"$T/events.out" 2>/dev/null &
SQ_PIDS="$SQ_PIDS $!"
sub_port() {
  local p
  for p in $CL_PORTS; do
    [ "$(redis-cli -p "$p" pubsub numsub "$P:events" 2>/dev/null | tail -1)" = 1 ] && echo "$p"
  done
}
has_sub() { [ -n "$(sub_port)" ]; }
check "the events stream subscribed on one node" poll 10 has_sub
in_stream() { grep -q "\"id\":\"$1\".*\"state\":\"$2\"" "$T/events.out"; }

# --- submits and reads while the jobs' slot visits every master (MOVED) -------
m0=$(cl_master_of_slot "$S")
route=("$m0" $(cl_masters | grep -vx "$m0"))
check_eq "three masters to visit" 3 "${#route[@]}"
submit r0
check_eq "a submit on the cluster: 202" 202 "$HTTP_STATUS"
check_eq "... the job hash is on the slot's master $m0" 1 "$(redis-cli -p "$m0" EXISTS "$(jkey r0)")"
check "... GET answers 200" get_200 r0
check "... the events stream shows it (PUBLISH heard on another node)" poll 10 in_stream r0 queued
for k in 1 2; do
  from=${route[$((k - 1))]}
  to=${route[$k]}
  move_slot "$S" "$from" "$to"
  submit "r$k"
  check_eq "slot $S moved to $to: a submit answers 202 (MOVED followed, then NOSCRIPT: EVAL there)" \
    202 "$HTTP_STATUS"
  check_eq "... the job hash is on $to" 1 "$(redis-cli -p "$to" EXISTS "$(jkey "r$k")")"
  check "... the API logged the redirection" \
    grep -q "MOVED $S 127.0.0.1:$to: redirected" "$T/api-cl.log"
  check "... GET of the first job (moved along) answers 200" get_200 r0
done

# --- ASK: the slot mid migration ----------------------------------------------
from=$(cl_master_of_slot "$S")
to=${route[0]}
# An importing node runs a multi-key command only when it holds every key
# (else TRYAGAIN: a 503 for the caller). So for the cancel script below every
# key it names exists before the move, the events name included.
submit a1
cl_cli ZADD "$P:$TAG:delayed:nobody" 0 placeholder >/dev/null
cl_cli SET "$P:events" placeholder >/dev/null
move_slot "$S" "$from" "$to" half
check_eq "slot $S mid migration: the source answers ASK for a job" "ASK" \
  "$(redis-cli -p "$from" hget "$(jkey r0)" state | cut -d' ' -f1)"
check "GET of a job mid migration: 200 (ASKING + the read on the target)" get_200 r0
check "... the API logged the ASK" grep -q "ASK $S 127.0.0.1:$to: redirected" "$T/api-cl.log"
http DELETE /v1/jobs/a1
check_eq "cancel mid migration (ASK for HMGET, then ASKING + EVAL of the script): 200" 200 \
  "$HTTP_STATUS"
submit a2
check_eq "a submit mid migration (a new job: TRYAGAIN on the importing node): 503" 503 \
  "$HTTP_STATUS"
end_move "$S" "$to"
cl_cli DEL "$P:events" >/dev/null
check_eq "... the canceled job's hash, on $to, says canceled" canceled \
  "$(redis-cli -p "$to" HGET "$(jkey a1)" state)"
submit a2
check_eq "... after the migration the submit answers 202" 202 "$HTTP_STATUS"

# --- a graceful CLUSTER FAILOVER of the jobs' shard ---------------------------
m=$(cl_master_of_slot "$S")
r=$(for p in $(cl_replicas); do
  redis-cli -p "$p" info replication | tr -d '\r' | grep -qx "master_port:$m" && echo "$p"
done | head -1)
redis-cli -p "$r" cluster failover >/dev/null
check "CLUSTER FAILOVER: replica $r of $m is master" poll 30 role_is "$r" master
check "... GET answers 200 again" poll 30 get_200 r0
submit f1
check_eq "... a submit answers 202" 202 "$HTTP_STATUS"
check_eq "... its hash is on the new master" 1 "$(redis-cli -p "$r" EXISTS "$(jkey f1)")"

# --- the map names no reachable master: the seeds are the way back -----------
# Every master announces a port nobody listens on: the map read next names
# only unreachable masters. The API must keep its seed connections to read
# the map again, and be ready once the masters announce their real ports.
bogus=$(free_port)
for p in $(cl_masters); do redis-cli -p "$p" config set cluster-announce-port "$bogus" >/dev/null; done
check "masters announcing a dead port: /readyz 503, no master reachable" \
  poll 30 not_ready_says "no cluster master is reachable"
for p in $(cl_masters); do redis-cli -p "$p" config set cluster-announce-port 0 >/dev/null; done
check "... real ports announced again: the API reads the map over a seed and is ready" poll 30 ready
check "... and answers once its map names every master's real port" poll 30 get_200 r0
check "the API is still running" alive
# The nodes learn the real ports again by gossip, each in its own time: the
# kill below picks its victim from one node's map, which must not still name
# the dead port.
no_bogus() {
  local p
  for p in $CL_PORTS; do
    ! redis-cli -p "$p" cluster slots 2>/dev/null | grep -qx "$bogus" || return 1
  done
}
check "... every node's map names the real ports again" poll 30 no_bogus

# --- kill -9 of the master holding the jobs and the subscription --------------
# An API whose first seed is that master: its subscriber connects there.
victim=$(cl_master_of_slot "$S")
API_MAIN=$API_URL
API_MAIN_PID=$API_PID
start_api api-kill --redis-url "redis-cluster://127.0.0.1:$victim,${CL_URL#redis-cluster://}" \
  --log-level debug
check "an API seeded with $victim first is ready" poll 20 ready
curl -sN --max-time 300 "$API_URL/v1/events" >"$T/events-kill.out" 2>/dev/null &
SQ_PIDS="$SQ_PIDS $!"
check "... its events stream subscribed on $victim" poll 10 bash -c \
  "[ \"\$(redis-cli -p $victim pubsub numsub $P:events | tail -1)\" -ge 1 ]"
: >"$T/kill.codes"
getter() {
  while [ ! -e "$T/kill.stop" ]; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "$API_URL/v1/jobs/r0" >>"$T/kill.codes"
    sleep 0.05
  done
}
getter &
GETTER_PID=$!
poll 10 grep -q 200 "$T/kill.codes"
for n in $CL_NODES; do
  [ "${n##*:}" = "$victim" ] && kill -KILL "$(cat "$STAGEQ_TEST_TMP/redis-${n%%:*}/redis.pid")"
done
saw_outage() { grep -q '^503$' "$T/kill.codes" || ! ready; }
check "kill -9 of master $victim: GETs get 503 or /readyz says not ready" poll 30 saw_outage
check "... then its replica is promoted and GETs answer 200 again" poll 60 get_200 r0
check "... the API is ready again" poll 30 ready
touch "$T/kill.stop"
wait "$GETTER_PID"
check_eq "... no answer but 200 and 503 meanwhile" 0 "$(grep -cv '^\(200\|503\)$' "$T/kill.codes")"
echo "# kill -9: $(grep -c '^503$' "$T/kill.codes") GETs answered 503, then 200"
check "... the API survived the kill" alive
submit k1
check_eq "... a submit answers 202" 202 "$HTTP_STATUS"
kill_stream() { grep -q "\"id\":\"k1\".*\"state\":\"queued\"" "$T/events-kill.out"; }
check "... and the events stream, subscribed again on a live node, shows it" poll 30 kill_stream
stop_pid "$API_PID" 10
API_URL=$API_MAIN
API_PID=$API_MAIN_PID
check "the first API survived too" alive

check "the API logs have no sanitizer report" \
  bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error:' '$T'/api-*.log"
finish
