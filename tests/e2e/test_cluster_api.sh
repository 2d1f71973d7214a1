#!/usr/bin/env bash
# test_cluster_api: the API's cluster client (api/rasync.c) on a real Redis
# Cluster of 3 masters + 3 replicas on loopback: /readyz, reads routed to the
# master of each job's slot, a slot moved under the API (MOVED), a slot mid
# migration (ASK, also for a script), a graceful CLUSTER FAILOVER, a kill -9
# of a master (503s or not-ready, never a crash, then recovery) and the
# events stream moving to another node when its node dies.
#
# Until the tagged key layout lands, the submit script names keys of several
# slots (CROSSSLOT on a cluster): the jobs here are written with redis-cli,
# as a real submit on a single Redis wrote its template, and the script path
# is the cancel script on keys chosen to share one slot.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"
export STAGEQ_PREFIX=tca
T=$STAGEQ_TEST_TMP

# --- a real job hash, written by a submit on a single Redis ------------------
redis_start tca-single
REDIS_PORT=$REDIS_PORT_tca_single
start_api api-single
post_json /v1/jobs '{"pipeline":"echo","queue":"nobody","id":"tpl","input":{"n":1}}'
check_eq "a template job is submitted on a single Redis" 202 "$HTTP_STATUS"
mapfile -t TPL < <(rcli --raw HGETALL tca:job:tpl)
stop_pid "$API_PID" 10

# --- /readyz says what is missing ---------------------------------------------
start_api api-nocl --redis-url "redis-cluster://127.0.0.1:$REDIS_PORT/"
check "a seed without cluster support: /readyz 503 says CLUSTER SLOTS failed there" \
  poll 10 not_ready_says "CLUSTER SLOTS on 127.0.0.1:$REDIS_PORT failed: ERR This instance has cluster support disabled"
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

check "a cluster comes up (3 masters, 3 replicas)" cl_start tca
slot_of() { redis-cli -p "$CL_PORT" cluster keyslot "$1"; }
port_of_id() { redis-cli -p "$1" cluster myid; }
# put_job KEY ID [field value...]: the template's hash under KEY (id ID).
put_job() {
  local key=$1 id=$2
  shift 2
  cl_cli HSET "$key" "${TPL[@]}" id "$id" "$@" >/dev/null
}
status_of() { http GET "/v1/jobs/$1"; }
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$API_URL/readyz")" = 200 ]; }
alive() { kill -0 "$API_PID" 2>/dev/null; }

start_api api-cl --redis-url "$CL_URL" --log-level debug
check "the API on $CL_URL is ready" poll 20 ready
check "... it read the map: 3 masters, every slot covered" \
  grep -q "redis: cluster map from 127.0.0.1:[0-9]*: 3 masters, 16384 of 16384 slots covered" "$T/api-cl.log"

# --- reads go to the master of each job's slot -------------------------------
# ids spread so that their job keys live on all three masters
declare -A ON
IDS=()
for i in $(seq 1 60); do
  m=$(cl_master_of_slot "$(slot_of "tca:job:spread-$i")")
  [ -n "${ON[$m]:-}" ] && continue
  ON[$m]=spread-$i
  IDS+=("spread-$i")
done
check_eq "ids whose job keys hash to each of the 3 masters" 3 "${#IDS[@]}"
for id in "${IDS[@]}"; do
  put_job "tca:job:$id" "$id"
  m=$(cl_master_of_slot "$(slot_of "tca:job:$id")")
  check_eq "job $id: its hash is on its slot's master ($m)" 1 "$(redis-cli -p "$m" EXISTS "tca:job:$id")"
  status_of "$id"
  check_eq "... GET answers 200 through the API" 200 "$HTTP_STATUS"
  check_eq "... with that job" "$id queued" "$(jqr '.id + " " + .state')"
done
http GET /v1/jobs/nosuchjob
check_eq "an unknown id: 404 (its slot's master said so)" 404 "$HTTP_STATUS"

# --- MOVED: a slot moved to another master under the API ---------------------
# move_slot SLOT FROM TO [half]: migrates SLOT's keys from master port FROM to
# TO by hand; "half" stops after the keys moved, with the slot still
# MIGRATING/IMPORTING (the source answers ASK for them).
move_slot() {
  local s=$1 from=$2 to=$3 keys p
  redis-cli -p "$to" cluster setslot "$s" importing "$(port_of_id "$from")" >/dev/null
  redis-cli -p "$from" cluster setslot "$s" migrating "$(port_of_id "$to")" >/dev/null
  keys=$(redis-cli -p "$from" cluster getkeysinslot "$s" 1000)
  # shellcheck disable=SC2086
  [ -z "$keys" ] || redis-cli -p "$from" migrate 127.0.0.1 "$to" "" 0 5000 keys $keys >/dev/null
  [ "${4:-}" = half ] && return 0
  end_move "$s" "$to"
}
# end_move SLOT TO: gives SLOT to master TO on every master.
end_move() {
  local p id
  id=$(port_of_id "$2")
  for p in $(cl_masters); do redis-cli -p "$p" cluster setslot "$1" node "$id" >/dev/null; done
}
other_master() { cl_masters | grep -vx "$1" | head -1; }

id=${IDS[0]}
s=$(slot_of "tca:job:$id")
from=$(cl_master_of_slot "$s")
to=$(other_master "$from")
move_slot "$s" "$from" "$to"
check_eq "slot $s moved: the job's hash is on $to now" 1 "$(redis-cli -p "$to" EXISTS "tca:job:$id")"
status_of "$id"
check_eq "GET of a job in a moved slot: 200 (MOVED followed inside the API)" "200 $id" \
  "$HTTP_STATUS $(jqr .id)"
check "... the API logged the redirection" grep -q "MOVED $s 127.0.0.1:$to: redirected" "$T/api-cl.log"
status_of "$id"
check_eq "... and again (the map was updated)" 200 "$HTTP_STATUS"

# --- ASK: a slot mid migration -----------------------------------------------
id=${IDS[1]}
s=$(slot_of "tca:job:$id")
from=$(cl_master_of_slot "$s")
to=$(other_master "$from")
move_slot "$s" "$from" "$to" half
check_eq "slot $s mid migration: the source answers ASK for the job" "ASK" \
  "$(redis-cli -p "$from" hget "tca:job:$id" state | cut -d' ' -f1)"
status_of "$id"
check_eq "GET of a job mid migration: 200 (ASKING + the read on the target)" "200 $id" \
  "$HTTP_STATUS $(jqr .id)"
check "... the API logged the ASK" grep -q "ASK $s 127.0.0.1:$to: redirected" "$T/api-cl.log"
end_move "$s" "$to"

# --- a script (cancel.lua) on keys of one slot, through EVALSHA/EVAL ----------
# A prefix whose counters hash and events name share a slot S, a job id whose
# hash is in S, and a queue name whose hash tag is in S: every key of the
# cancel script in one slot, so it runs on a cluster today.
read -r CP CS CID CID2 CQ < <(python3 - <<'EOF'
T = []
for i in range(256):
    c = i << 8
    for _ in range(8):
        c = ((c << 1) ^ 0x1021) if c & 0x8000 else c << 1
    T.append(c & 0xFFFF)
def slot(k):
    s = k.find("{")
    if s >= 0:
        e = k.find("}", s + 1)
        if e > s + 1:
            k = k[s + 1:e]
    c = 0
    for b in k.encode():
        c = ((c << 8) & 0xFFFF) ^ T[((c >> 8) ^ b) & 0xFF]
    return c & 16383
p = next("c%d" % i for i in range(10**6) if slot("c%d:counters" % i) == slot("c%d:events" % i))
S = slot(p + ":counters")
ids = []
i = 0
while len(ids) < 2:
    if slot("%s:job:cj%d" % (p, i)) == S:
        ids.append("cj%d" % i)
    i += 1
tag = next("q%d" % i for i in range(10**7) if slot("q%d" % i) == S)
print(p, S, ids[0], ids[1], "{%s}" % tag)
EOF
)
check_eq "the cancel script's keys share slot $CS (as Redis computes it)" "$CS $CS $CS $CS $CS" \
  "$(for k in "$CP:counters" "$CP:events" "$CP:job:$CID" "$CP:queue:$CQ" "$CP:delayed:$CQ"; do
    slot_of "$k"
  done | tr '\n' ' ' | sed 's/ $//')"
API_MAIN=$API_URL
API_MAIN_PID=$API_PID
start_api api-cp --redis-url "$CL_URL" --prefix "$CP" --log-level debug
check "an API with prefix $CP is ready" poll 20 ready
put_job "$CP:job:$CID" "$CID" queue "$CQ" stage.1.queue "$CQ"
cl_cli LPUSH "$CP:queue:$CQ" "$CID" >/dev/null
cl_cli SCRIPT FLUSH >/dev/null # on the node that holds S: EVALSHA finds nothing
http DELETE "/v1/jobs/$CID"
check_eq "cancel (EVALSHA, NOSCRIPT, then EVAL on the slot's master): 200" 200 "$HTTP_STATUS"
check_eq "... the job hash says canceled" canceled "$(cl_cli HGET "$CP:job:$CID" state)"
check_eq "... and left its queue" 0 "$(cl_cli LLEN "$CP:queue:$CQ")"

# The same script mid migration: ASKING, then EVAL, on the target. An
# importing node runs a multi-key command only when it holds every key (else
# TRYAGAIN, which reaches the caller as a 503): so every key of the script
# exists before the move, the events name included.
put_job "$CP:job:$CID2" "$CID2" queue "$CQ" stage.1.queue "$CQ"
cl_cli LPUSH "$CP:queue:$CQ" "$CID2" >/dev/null
cl_cli ZADD "$CP:delayed:$CQ" 0 placeholder >/dev/null
cl_cli SET "$CP:events" placeholder >/dev/null
from=$(cl_master_of_slot "$CS")
to=$(other_master "$from")
move_slot "$CS" "$from" "$to" half
http DELETE "/v1/jobs/$CID2"
check_eq "cancel of a job mid migration (ASK for HMGET and for the script): 200" 200 "$HTTP_STATUS"
end_move "$CS" "$to"
check_eq "... the job hash on the target says canceled" canceled \
  "$(redis-cli -p "$to" HGET "$CP:job:$CID2" state)"
stop_pid "$API_PID" 10
API_URL=$API_MAIN
API_PID=$API_MAIN_PID

check "the API is still running after the redirections" alive

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
get_200() { status_of "$1"; [ "$HTTP_STATUS" = 200 ]; }
check "... and answers once its map names every master's real port" poll 30 get_200 "${IDS[2]}"

# --- the events stream, and a graceful CLUSTER FAILOVER -----------------------
# set_state ID STATE: what a worker's script does (a change, then PUBLISH).
set_state() {
  cl_cli HSET "tca:job:$1" state "$2" >/dev/null
  cl_cli PUBLISH tca:events "$1" >/dev/null
}
curl -sN --max-time 300 "$API_URL/v1/events" >"$T/events.out" 2>/dev/null &
EV_PID=$!
SQ_PIDS="$SQ_PIDS $EV_PID"
sub_port() {
  local p
  for p in $CL_PORTS; do
    [ "$(redis-cli -p "$p" pubsub numsub tca:events 2>/dev/null | tail -1)" = 1 ] && echo "$p"
  done
}
has_sub() { [ -n "$(sub_port)" ]; }
check "the events stream subscribed on one node" poll 10 has_sub
sub_has() { grep -q "\"id\":\"$1\".*\"state\":\"$2\"" "$T/events.out"; }
set_state "${IDS[2]}" running
check "a PUBLISH on another node reaches the stream" poll 10 sub_has "${IDS[2]}" running

# job_on PORT: prints the id of a job written now whose hash lives on master PORT.
job_on() {
  local i id
  for i in $(seq 1 200); do
    id=on-$1-$i
    if [ "$(cl_master_of_slot "$(slot_of "tca:job:$id")")" = "$1" ]; then
      put_job "tca:job:$id" "$id"
      echo "$id"
      return 0
    fi
  done
  return 1
}
sp=$(sub_port) # the subscription's node: kept a master for the kill below
m=$(cl_masters | grep -vx "$sp" | head -1)
id=$(job_on "$m")
r=$(for p in $(cl_replicas); do
  redis-cli -p "$p" info replication | tr -d '\r' | grep -qx "master_port:$m" && echo "$p"
done | head -1)
redis-cli -p "$r" cluster failover >/dev/null
role_is() { redis-cli -p "$1" role 2>/dev/null | head -1 | grep -qx "$2"; }
check "CLUSTER FAILOVER: replica $r of $m is master" poll 30 role_is "$r" master
check "... GET of a job of that shard answers 200" poll 30 get_200 "$id"
check_eq "... its hash is on the new master" 1 "$(redis-cli -p "$r" EXISTS "tca:job:$id")"

# --- kill -9 of a master: 503 or not ready, then recovery --------------------
# the master killed holds the events subscription, and a job
victim=$sp
check "the subscription's node $victim is a master" role_is "$victim" master
vid=$(job_on "$victim")
: >"$T/kill.codes"
getter() {
  while [ ! -e "$T/kill.stop" ]; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "$API_URL/v1/jobs/$vid" >>"$T/kill.codes"
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
check "kill -9 of master $victim: GETs of its job get 503 or /readyz says not ready" \
  poll 30 saw_outage
check "... then the replica is promoted and GETs answer 200 again" poll 60 get_200 "$vid"
check "the API is ready again" poll 30 ready
touch "$T/kill.stop"
wait "$GETTER_PID"
check_eq "... no answer but 200 and 503 during the failover" 0 \
  "$(grep -cv '^\(200\|503\)$' "$T/kill.codes")"
echo "# kill -9: $(grep -c '^503$' "$T/kill.codes") answers 503, $(grep -c '^200$' "$T/kill.codes") answers 200"
check "the API survived the kill" alive

set_state "$vid" running
check "the events stream delivers again (its subscriber moved to a live node)" \
  poll 30 sub_has "$vid" running
check "... subscribed on a live node" poll 10 has_sub

check "the API logs have no sanitizer report" \
  bash -c "! grep -q 'ERROR: AddressSanitizer\|runtime error:' '$T'/api-*.log"
finish
