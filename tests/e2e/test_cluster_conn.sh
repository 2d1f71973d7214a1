#!/usr/bin/env bash
# test_cluster_conn: the workers' synchronous connection (shared/rconn.c) on a
# redis-cluster:// URL against a real 3+3 cluster, through one long-lived
# rconn (tests/e2e/rconn_probe): commands reach the master of every key's
# slot; EVALSHA falls back to EVAL on each node (NOSCRIPT per node); a
# pipeline of script calls spread over the three masters is answered in the
# order sent; a slot moved with CLUSTER SETSLOT is followed (MOVED); a key
# migrated by hand is reached with ASKING (ASK), alone and inside a pipeline
# (TRYAGAIN, for keys split by the migration, goes back to the caller);
# CLUSTER FAILOVER and a kill -9 of a master are survived after the map is
# read again; WAIT goes to every node written since the last WAIT; the URL's
# user and password reach every node.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster.sh"

PROBE=$BUILD/tests/e2e/rconn_probe

if ! cl_start tcc; then
  not_ok "cluster up (3 masters, 3 replicas)"
  finish
  exit 1
fi
ok "cluster up (3 masters, 3 replicas)"

# One probe (one rconn) for the whole suite: its map and connections live on
# across the steps, as a worker's do.
# the probe's log lines (stderr) go to a file: only its answers come back on the pipe
coproc PRB { "$PROBE" "$CL_URL" 10000 2>>"$STAGEQ_TEST_TMP/probe.err"; }
# (kept: bash unsets PRB_PID once the coproc has ended, and a probe that ends
# at once when its input closes could be gone by the time of the wait below)
probe_pid=$PRB_PID
# p STEP...: one step, its answer in $ANS (empty when the probe is silent 60 s).
p() {
  ANS=""
  echo "$*" >&"${PRB[1]}"
  read -r -t 60 ANS <&"${PRB[0]}"
}
# pq STEP EXPECTED: the step's answer is EXPECTED.
pq() {
  p "$1"
  [ "$ANS" = "$2" ] || { echo "# '$1': got '$ANS', want '$2'" >&2; return 1; }
}

# node_id PORT: the cluster node id of the node on PORT.
node_id() { redis-cli -p "$1" cluster myid; }
# slot_of KEY: the key's slot.
slot_of() { redis-cli -p "$CL_PORT" cluster keyslot "$1"; }
# pid_of PORT: the redis-server pid on PORT.
pid_of() {
  local n
  for n in $CL_NODES; do
    [ "${n##*:}" = "$1" ] && cat "$STAGEQ_TEST_TMP/redis-${n%:*}/redis.pid"
  done
}

# One hash tag per master: TAG[port] = "{tN}", the first N whose slot it serves.
declare -A TAG
mapfile -t MASTERS < <(cl_masters)
check_eq "three masters" 3 "${#MASTERS[@]}"
for i in $(seq 0 200); do
  m=$(cl_master_of_slot "$(slot_of "{t$i}")")
  [ -n "$m" ] && [ -z "${TAG[$m]:-}" ] && TAG[$m]="{t$i}"
  [ "${#TAG[@]}" -eq 3 ] && break
done
check_eq "a hash tag on every master" 3 "${#TAG[@]}"
M1=${MASTERS[0]} M2=${MASTERS[1]} M3=${MASTERS[2]}
T1=${TAG[$M1]} T2=${TAG[$M2]} T3=${TAG[$M3]}
# TA: another tag of M3, for the slot the ASK scenario migrates to M1
TA=""
for i in $(seq 201 600); do
  [ "$(cl_master_of_slot "$(slot_of "{t$i}")")" = "$M3" ] && TA="{t$i}" && break
done
check "a second hash tag on M3" test -n "$TA"

# --- commands on keys of every master's slots -----------------------------
for m in "${MASTERS[@]}"; do
  check "SET ${TAG[$m]}k through rconn" pq "cmd SET ${TAG[$m]}k v$m" "s:OK"
  check_eq "... stored on its master $m itself" "v$m" "$(redis-cli -p "$m" get "${TAG[$m]}k")"
  check "GET ${TAG[$m]}k through rconn" pq "cmd GET ${TAG[$m]}k" "s:v$m"
done
check "a keyless command goes to a master" pq "cmd PING" "s:PONG"
check "a multi-key command in one slot" pq "cmd MGET ${T1}k ${T1}none" "[s:v$M1 nil]"
p connects
check "one connection per master (no more)" test "$ANS" -le 4 -a "$ANS" -ge 3
p peer
check_eq "rconn_peer names the node of the last command" "127.0.0.1:$M1" "$ANS"

# --- EVALSHA with keys in every master's slots: NOSCRIPT then EVAL, per node --
cl_each_master script flush >/dev/null
for m in "${MASTERS[@]}"; do
  t=${TAG[$m]}
  redis-cli -p "$m" zadd "${t}d" 1 a 2 b >/dev/null
  check "script on $t (master $m, no script cached there)" pq "script promote 2 ${t}d ${t}q 100 10 wk" "i:2"
  check_eq "... the script ran on $m" 2 "$(redis-cli -p "$m" llen "${t}q")"
done

# --- a pipeline spread over the three masters, answered in order ------------
redis-cli -p "$M1" zadd "${T1}d" 1 a >/dev/null
redis-cli -p "$M2" zadd "${T2}d" 1 a 2 b >/dev/null
redis-cli -p "$M3" zadd "${T3}d" 1 a 2 b 3 c >/dev/null
redis-cli -p "$M2" zadd "${T2}e" 1 a 2 b 3 c 4 d >/dev/null
for s in "${T3}d ${T3}q" "${T1}d ${T1}q" "${T2}e ${T2}q" "${T2}d ${T2}q"; do
  pq "send promote 2 $s 100 10 wk" sent || not_ok "pipelined send $s"
done
check "four calls pending" pq npending 4
got=""
for i in 1 2 3 4; do p read; got="$got $ANS"; done
check_eq "the replies come in the order sent (M3, M1, M2, M2)" " i:3 i:1 i:4 i:2" "$got"
check "nothing pending after" pq npending 0
check "no reply left to read" pq read "null: redis: no reply pending (the connection was lost)"

# --- WAIT on every node written since the last WAIT --------------------------
for m in "${MASTERS[@]}"; do pq "cmd SET ${TAG[$m]}w 1" "s:OK" >/dev/null; done
check "WAIT 1: every written master's replica acknowledged" pq "wait 1 5000" 1
for m in "${MASTERS[@]}"; do pq "cmd SET ${TAG[$m]}w 2" "s:OK" >/dev/null; done
p "wait 2 300"
check "WAIT 2 (one replica each): not confirmed, says how many" grep -q "^0: 1 of 2 replica(s) of 127.0.0.1:" <<<"$ANS"

# --- MOVED: a slot moved with CLUSTER SETSLOT (the probe's map is old) --------
key="${T1}k"
slot=$(slot_of "$key")
from=$(node_id "$M1") to=$(node_id "$M2")
redis-cli -p "$M2" cluster setslot "$slot" importing "$from" >/dev/null
redis-cli -p "$M1" cluster setslot "$slot" migrating "$to" >/dev/null
while :; do
  keys=$(redis-cli -p "$M1" cluster getkeysinslot "$slot" 100)
  [ -z "$keys" ] && break
  # shellcheck disable=SC2086
  redis-cli -p "$M1" migrate 127.0.0.1 "$M2" "" 0 5000 keys $keys >/dev/null
done
for m in "${MASTERS[@]}"; do redis-cli -p "$m" cluster setslot "$slot" node "$to" >/dev/null; done
check_eq "the slot is served by $M2 now" "$M2" "$(cl_master_of_slot "$slot")"
check "a GET of the moved slot follows MOVED" pq "cmd GET $key" "s:v$M1"
p peer
check_eq "... answered by the new master" "127.0.0.1:$M2" "$ANS"
check "a script on the moved slot (EVALSHA, MOVED, NOSCRIPT, EVAL)" pq "script promote 2 ${T1}d ${T1}q 100 10 wk" "i:0"
check "a second GET goes straight there (the map was patched)" pq "cmd GET $key" "s:v$M1"
check_eq "... and $M1 holds no key of it" "" "$(redis-cli -p "$M1" cluster getkeysinslot "$slot" 10)"

# --- ASK: one key migrated by hand in a slot being migrated -----------------
T=$TA
slot=$(slot_of "${T}a")
from=$(node_id "$M3") to=$(node_id "$M1")
redis-cli -p "$M3" set "${T}a" moved-one >/dev/null
redis-cli -p "$M3" set "${T}b" stays >/dev/null
redis-cli -p "$M3" del "${T}d" "${T}q" >/dev/null
redis-cli -p "$M3" zadd "${T}d" 1 x >/dev/null
redis-cli -p "$M3" rpush "${T}q" first >/dev/null
redis-cli -p "$M1" cluster setslot "$slot" importing "$from" >/dev/null
redis-cli -p "$M3" cluster setslot "$slot" migrating "$to" >/dev/null
redis-cli -p "$M3" migrate 127.0.0.1 "$M1" "" 0 5000 keys "${T}a" "${T}d" "${T}q" >/dev/null
check_eq "(the three migrated keys are on $M1, one stays on $M3)" "3 1" \
  "$(redis-cli -p "$M1" cluster countkeysinslot "$slot") $(redis-cli -p "$M3" cluster countkeysinslot "$slot")"
check "GET of the migrated key follows ASK" pq "cmd GET ${T}a" "s:moved-one"
check "GET of a key not migrated yet stays on the old master" pq "cmd GET ${T}b" "s:stays"
p peer
check_eq "... (the map is unchanged by ASK)" "127.0.0.1:$M3" "$ANS"
p "cmd MGET ${T}a ${T}b"
check "a multi-key command over migrated and staying keys: TRYAGAIN to the caller" \
  grep -q "^e:TRYAGAIN" <<<"$ANS"
redis-cli -p "$M2" zadd "${T2}d" 1 a 2 b >/dev/null
redis-cli -p "$M2" del "${T2}q" >/dev/null
pq "send promote 2 ${T2}d ${T2}q 100 10 wk" sent >/dev/null
pq "send promote 2 ${T}d ${T}q 100 10 wk" sent >/dev/null
pq "send promote 2 ${T2}d ${T2}q 100 10 wk" sent >/dev/null
got=""
for i in 1 2 3; do p read; got="$got $ANS"; done
check_eq "a pipelined call answered ASK is sent again in its place" " i:2 i:1 i:0" "$got"
for m in "${MASTERS[@]}"; do redis-cli -p "$m" cluster setslot "$slot" node "$to" >/dev/null; done
check_eq "... it ran on the importing node" 2 "$(redis-cli -p "$M1" llen "${T}q")"
redis-cli -p "$M3" del "${T}b" >/dev/null
cl_wait_ok 30 || not_ok "cluster ok after the migration"

# --- CLUSTER FAILOVER on a replica ------------------------------------------
check "(a WAIT first: what was written so far is confirmed)" pq "wait 1 5000" 1
# the replica of M2 takes over; the probe's map still names M2
rep=""
for r in $(cl_replicas); do
  [ "$(redis-cli -p "$r" info replication | sed -n 's/^master_port:\([0-9]*\).*/\1/p')" = "$M2" ] && rep=$r
done
check "M2 has a replica" test -n "$rep"
redis-cli -p "$M2" set "${T2}f" before-failover >/dev/null
redis-cli -p "$M2" wait 1 2000 >/dev/null
redis-cli -p "$rep" cluster failover >/dev/null
is_master() { redis-cli -p "$1" role 2>/dev/null | head -1 | grep -q '^master$'; }
check "the replica $rep is master after CLUSTER FAILOVER" poll 30 is_master "$rep"
cl_wait_ok 30
check "a GET after the failover reaches the new master" poll 30 pq "cmd GET ${T2}f" "s:before-failover"
p peer
check_eq "... $rep" "127.0.0.1:$rep" "$ANS"
redis-cli -p "$rep" zadd "${T2}g" 1 a >/dev/null
check "a script on the promoted replica (its script cache is empty)" pq "script promote 2 ${T2}g ${T2}h 100 10 wk" "i:1"
check "a write there, then WAIT for its replica (the old master)" pq "cmd SET ${T2}w after" "s:OK"
check "... WAIT 1 on the new node" poll 30 pq "wait 1 5000" 1

# --- kill -9 of a master: its replica is promoted, commands work again ------
check "SET on M3's slot" pq "cmd SET ${T3}z before-kill" "s:OK"
check "... WAIT 1: its replica has it" pq "wait 1 5000" 1
pid=$(pid_of "$M3")
check "M3's pid known" test -n "$pid"
kill -9 "$pid"
poll 10 eval '! pid_running "$pid"'
p "cmd GET ${T3}z"
check "right after the kill: an error, not a crash ($ANS)" grep -q "^null: \|^e:" <<<"$ANS"
check "commands on M3's slots work again after the replica took over" \
  poll 60 pq "cmd GET ${T3}z" "s:before-kill"
check "... and writes" pq "cmd SET ${T3}z after-kill" "s:OK"
check "... and scripts" pq "script promote 2 ${T3}d ${T3}q 100 10 wk" "i:0"
# each node leaves CLUSTERDOWN when it learns of the promotion itself (full
# coverage is required): a node may answer it a moment after M3's slots work
check "the other masters serve (again)" poll 30 pq "cmd GET ${T1}w" "s:2"
p peer
check "... peer is a live node" test "$ANS" != "127.0.0.1:$M3"

exec {PRB[1]}>&-
wait "$probe_pid" 2>/dev/null
check_eq "the probe exits 0 at the end of its input" 0 "$?"

# --- AUTH: the URL's user and password go to every node ---------------------
for port in $CL_PORTS; do
  redis-cli -p "$port" ping >/dev/null 2>&1 || continue
  redis-cli -p "$port" acl setuser app on '>app-pw' '~*' '&*' '+@all' >/dev/null
  redis-cli -p "$port" acl setuser default off >/dev/null
done
authed=${CL_URL/redis-cluster:\/\//redis-cluster://app:app-pw@}
out=$(printf '%s\n' "cmd SET ${T1}auth 1" "cmd SET ${T2}auth 2" "cmd SET ${T3}auth 3" \
  "cmd GET ${T3}auth" | "$PROBE" "$authed" 10000 2>&1)
check_eq "with user app: commands on keys of two masters (a connection each)" "s:OK s:OK s:OK s:3" "$(echo $out)"
out=$(echo "cmd GET ${T1}auth" | "$PROBE" "$CL_URL" 10000 2>&1)
check "without the user: NOAUTH, said" grep -q "NOAUTH" <<<"$out"
finish
