#!/usr/bin/env bash
# The Redis Cluster fault suite (`make test-faults-cluster`; SAN=1 runs it on
# the ASan + UBSan build). Each scenario starts a real cluster of 3 masters
# and 3 replicas (tests/e2e/cluster.sh), an API and 3 worker pools on its
# redis-cluster:// URL, and a steady submitter (CLUSTER_FAULT_JOBS (300) jobs
# of the pipeline "cfault" on the queue q of 6 partitions, two slots on each
# master: an echo stage, an exec stage of 0.2 s, an echo stage; at
# CLUSTER_FAULT_RATE (40) jobs/s; tests/sentinel/clients.py, each acknowledged
# id written to a file, a 503 sent again with the same id). Once a third is
# acknowledged the fault strikes, on the shard that serves partition 0, while
# the last third of the submits waits for it:
#   failover  CLUSTER FAILOVER on that master's replica (graceful: the
#             replica catches up, then takes over)
#   kill9     kill -9 of that master: its replica takes over after
#             cluster-node-timeout (2 s; the whole cluster answers CLUSTERDOWN
#             until then), then the old master is started again and rejoins
#             as a replica (empty, it resyncs)
#   reshard   redis-cli --cluster reshard moves partition 0's slot (and the
#             lower slots of its master: reshard takes a node's lowest slots
#             first) to another master while its jobs run: MIGRATE of its keys
#             in batches, ASK and TRYAGAIN on the way, MOVED after
# API and workers run with STAGEQ_MIN_REPLICAS=CLUSTER_FAULT_MIN_REPLICAS (1):
# a submit is answered 202 once the shard's replica has it, which is what
# makes a kill -9 lose no acknowledged job. After the submitter is done and
# every job has ended (given up once none has ended for CLUSTER_FAULT_SETTLE_S,
# 60 s), the counts come from the cluster itself (SCAN of every master, the
# job hashes read where they live), one line per scenario:
#   NAME: acked=N conflict=N gaveup=0 partitions=6 succeeded=N failed=N
#         lost=0 unfinished=0 duplicated=0 processing_left=0 doc_keys_bad=0
#         max_attempt=K fault_s=X drained_s=Y
# acked = submits answered 202; conflict = ids answered 409 on a retry (an
# earlier try wrote the job); partitions = distinct hash tags among the job
# keys (the queue really is spread); partition0 = jobs of the faulted
# partition, partition0_ended_after_fault = those of them that ended after the
# fault began (the partition was busy through it); lost = acked or conflict ids without a
# job hash; unfinished = job hashes still queued or running; duplicated = jobs
# with success_count > 1; processing_left = processing lists still holding an
# id; doc_keys_bad = of 10 jobs, those whose key the job_key function of
# docs/redis-keys.md does not give; fault_s = from the fault until the
# cluster is whole again (cluster_state ok, the new master serving the
# slot); drained_s = from the fault until every job has ended. lost,
# unfinished, duplicated, processing_left, doc_keys_bad and gaveup must be 0,
# partitions 6, and acked + conflict the number of jobs. No duration is
# asserted; every wait is a bounded poll on a condition. Only loopback;
# everything started is stopped by PID. CLUSTER_FAULT_SCENARIOS picks a
# subset, CLUSTER_FAULT_KEEP=1 keeps the logs (kept anyway on failure).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
export BUILD
STAGEQ_TEST_TMP=$(mktemp -d /tmp/stageq-cfaults.XXXXXX)
export STAGEQ_TEST_TMP
source tests/e2e/lib.sh
source tests/e2e/cluster.sh
source tests/failover_lib.sh
N=${CLUSTER_FAULT_JOBS:-300}
RATE=${CLUSTER_FAULT_RATE:-40}
SETTLE_S=${CLUSTER_FAULT_SETTLE_S:-60}
MINR=${CLUSTER_FAULT_MIN_REPLICAS:-1}
SCENARIOS=${CLUSTER_FAULT_SCENARIOS:-failover kill9 reshard}
P=tests/faults/pipelines-cluster.json
PARTS=6 # the partitions of q in $P
W=(--pipelines "$P" --queue q --concurrency 3 --lease 5 --grace 1 --kill-grace-ms 300)
PY=python3
passed=0
failed=0
trap 'failover_cleanup "${CLUSTER_FAULT_KEEP:-}"' EXIT

# part_slot J: the slot of partition J of q (shared/keys.h, keys_part_slot).
part_slot() { echo $(((2 * $1 + 1) * 16384 / (2 * PARTS))); }
# node_of PORT: the cluster.sh name of the node on PORT (its dir is redis-NAME).
node_of() {
  local n
  for n in $CL_NODES; do [ "${n##*:}" = "$1" ] && echo "${n%:*}"; done
}
live_port() {
  local p
  for p in $CL_PORTS; do redis-cli -p "$p" ping >/dev/null 2>&1 && { echo "$p"; return 0; }; done
  return 1
}
# master_of SLOT: the port of the master serving SLOT, asked of a live node.
master_of() { CL_PORT=$(live_port) cl_master_of_slot "$1"; }
# replica_of PORT: the port of a replica linked to the master on PORT.
replica_of() {
  local p
  for p in $(cl_replicas); do
    redis-cli -p "$p" INFO replication | tr -d '\r' | grep -qx "master_port:$1" && { echo "$p"; return 0; }
  done
  return 1
}
role_is() { [ "$(redis-cli -p "$1" ROLE 2>/dev/null | head -1)" = "$2" ]; }
serves() { [ "$(master_of "$1")" = "$2" ]; }
whole() { cl_wait_ok 1 && [ -n "$(master_of 0)" ]; }
linked() { [ "$(cl_linked_replicas)" -ge 3 ]; }
# moved_off OLD: a live master other than OLD serves SLOT.
moved_off() { [ -n "$(master_of "$SLOT")" ] && ! serves "$SLOT" "$1"; }

# node_restart PORT: starts the node on PORT again, with its dir, nodes.conf
# and cluster bus port (read from nodes.conf), as cl_start started it.
node_restart() {
  local port=$1 dir bus
  dir="$STAGEQ_TEST_TMP/redis-$(node_of "$port")"
  bus=$(awk '$3 ~ /myself/ { split($2, a, "@"); split(a[2], b, ","); print b[1] }' "$dir/nodes.conf")
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout "$CL_NODE_TIMEOUT_MS" --cluster-port "$bus" \
    --cluster-announce-ip 127.0.0.1 --cluster-require-full-coverage yes \
    --cluster-allow-replica-migration no >/dev/null
}

# states DIR: "id state success_count attempt tag ended" of every job hash in
# the cluster, read on the master that holds it (SCAN is per node); ended is
# its updated_at (a job's end is its last write: it stores no finished_at).
states() {
  local p k="$1/keys"
  for p in $(cl_masters); do
    redis-cli -p "$p" --scan --pattern 'fq:*:job:*' >"$k.$p" 2>/dev/null
    [ -s "$k.$p" ] || continue
    # a missing field is an empty line: "-" keeps the columns in place
    sed 's/^/HMGET /; s/$/ state success_count attempt updated_at/' "$k.$p" |
      redis-cli -c -p "$p" 2>/dev/null | sed 's/^$/-/' | paste -d' ' - - - - |
      paste -d' ' <(sed 's/^fq:\({[^}]*}\):job:\(.*\)$/\2 \1/' "$k.$p") - |
      awk '{ print $1, $3, $4, $5, $2, $6 }'
  done
}

# unended DIR: acked and conflict ids without a final state (or without a job).
unended() {
  cat "$1/acked" "$1/conflict" 2>/dev/null | sort -u >"$1/ids"
  states "$1" | awk 'NR == FNR { st[$1] = $2; next }
    !(st[$1] == "succeeded" || st[$1] == "failed" || st[$1] == "canceled")' - "$1/ids" | grep -c .
}

# processing_left: processing lists (any partition, any worker) still holding an id.
processing_left() {
  local p
  for p in $(cl_masters); do redis-cli -p "$p" --scan --pattern 'fq:*:processing:*' 2>/dev/null; done | grep -c .
}

# fault_failover OLD: CLUSTER FAILOVER on the replica of the master on OLD.
fault_failover() {
  local rep
  rep=$(replica_of "$1") || { note="$note no-replica"; return 1; }
  redis-cli -p "$rep" CLUSTER FAILOVER >>"$d/fault.log" 2>&1
  poll 60 role_is "$rep" master || { note="$note replica-not-promoted"; return 1; }
  poll 60 serves "$SLOT" "$rep" || { note="$note slot-not-moved"; return 1; }
}

# fault_kill9 OLD: kill -9 of the master on OLD; once its replica serves the
# slot, OLD starts again and must come back as a linked replica.
fault_kill9() {
  local pid
  pid=$(cat "$STAGEQ_TEST_TMP/redis-$(node_of "$1")/redis.pid")
  kill -KILL "$pid"
  poll 10 exited "$pid"
  poll 60 moved_off "$1" || { note="$note no-new-master"; return 1; }
  node_restart "$1"
  poll 60 role_is "$1" slave || { note="$note old-master-not-replica"; return 1; }
  poll 60 linked || { note="$note replica-not-linked"; return 1; }
}

# fault_reshard OLD: redis-cli --cluster reshard moves the lowest slots of the
# master on OLD, up to and including SLOT, to another master.
fault_reshard() {
  local to from_id to_id k
  to=$(master_of "$(part_slot 2)")
  [ "$to" != "$1" ] || to=$(master_of "$(part_slot 4)")
  from_id=$(redis-cli -p "$1" CLUSTER MYID)
  to_id=$(redis-cli -p "$to" CLUSTER MYID)
  # CLUSTER NODES ends a master's line with its slot ranges ("0-5460"): the
  # slots of OLD up to SLOT are those reshard moves first
  k=$(redis-cli -p "$1" CLUSTER NODES | awk -v id="$from_id" -v s="$SLOT" '$1 == id {
    for (i = 9; i <= NF; i++) { if ($i ~ /^\[/) continue; n = split($i, r, "-"); lo = r[1]; hi = (n > 1 ? r[2] : r[1])
      if (lo <= s) k += (hi < s ? hi : s) - lo + 1 } } END { print k + 0 }')
  echo "# reshard: $k slots from :$1 to :$to" >>"$d/fault.log"
  redis-cli --cluster reshard "127.0.0.1:$1" --cluster-from "$from_id" --cluster-to "$to_id" \
    --cluster-slots "$k" --cluster-yes >>"$d/fault.log" 2>&1 || { note="$note reshard-failed"; return 1; }
  poll 60 serves "$SLOT" "$to" || { note="$note slot-not-moved"; return 1; }
}

# doc_job_key ID [P] [PREFIX]: docs/redis-keys.md's job_key, run from there
# (so the doc is checked against the keys the daemons wrote; renamed: lib.sh
# may have a job_key of its own).
eval "$(sed -n '/^job_key() {/,/^}/p' docs/redis-keys.md | sed '1s/^job_key()/doc_job_key()/')"
# doc_keys_bad DIR: of 10 job keys found in the cluster, those doc_job_key does not give.
doc_keys_bad() {
  local id tag
  awk '{ print $1, $5 }' "$1/states" | shuf -n 10 --random-source=<(yes) | while read -r id tag; do
    [ "$(doc_job_key "$id" "$PARTS" fq)" = "fq:$tag:job:$id" ] || echo "$id"
  done | grep -c .
}

run_scenario() {
  local sc=$1 ok=1 note="" old t_fault t_whole="" t_end sub_pid
  local acked conflict gaveup parts succ fail lost unfin dup proc maxa keys_bad tag0 p0 p0_after
  d="$STAGEQ_TEST_TMP/$sc"
  mkdir -p "$d"
  : >"$d/acked"; : >"$d/conflict"; : >"$d/gaveup"
  stop_all
  redis_stop_all
  SQ_REDIS_NAMES=""
  if ! cl_start "$sc"; then
    echo "cluster_$sc: the cluster did not come up  FAILED"
    failed=$((failed + 1))
    return
  fi
  export STAGEQ_PREFIX=fq STAGEQ_MIN_REPLICAS=$MINR
  # the daemons' Redis for lib.sh's start_api / start_worker (either form)
  # shellcheck disable=SC2034 # read by lib.sh
  SQ_REDIS_URL=$CL_URL REDIS_PORT=$CL_PORT
  start_api "api-$sc" --redis-url "$CL_URL" --pipelines "$P"
  poll $((30 * SQ_SLOW)) api_ready || note="$note api-not-ready"
  start_worker "$sc-p1" --redis-url "$CL_URL" "${W[@]}"
  start_worker "$sc-p2" --redis-url "$CL_URL" "${W[@]}"
  start_worker "$sc-p3" --redis-url "$CL_URL" "${W[@]}"
  "$PY" tests/sentinel/clients.py submit "$API_URL" cfault "$sc" 1 "$N" "$RATE" 8 "$d" '{"sleep":0.2}' \
    $((2 * N / 3 + 1)) "$d/fault" >"$d/submit.json" 2>"$d/submit.err" &
  sub_pid=$!
  SQ_PIDS="$SQ_PIDS $sub_pid"
  acked_third() { [ "$(lines "$d/acked")" -ge $((N / 3)) ]; }
  poll 120 acked_third || note="$note slow-submits"
  SLOT=$(part_slot 0)
  old=$(master_of "$SLOT")
  t_fault=$(now_ms)
  : >"$d/fault"
  "fault_$sc" "$old" || ok=0
  poll 60 whole && t_whole=$(now_ms)
  [ -n "$t_whole" ] || { note="$note not-whole"; ok=0; }
  poll 300 exited "$sub_pid" || note="$note submitter-hung"
  wait "$sub_pid" 2>/dev/null
  settle "$d" "$SETTLE_S" || note="$note not-all-ended"
  t_end=$(now_ms)

  acked=$(lines "$d/acked")
  conflict=$(lines "$d/conflict")
  gaveup=$(lines "$d/gaveup")
  cat "$d/acked" "$d/conflict" | sort -u >"$d/ids"
  states "$d" | sort -k1,1 >"$d/states"
  parts=$(awk '{ print $5 }' "$d/states" | sort -u | grep -c .)
  succ=$(awk '$2 == "succeeded"' "$d/states" | grep -c .)
  fail=$(awk '$2 == "failed"' "$d/states" | grep -c .)
  lost=$(comm -23 "$d/ids" <(awk '{ print $1 }' "$d/states") | tee "$d/lost" | grep -c .)
  unfin=$(awk '$2 == "queued" || $2 == "running"' "$d/states" | tee "$d/unfinished" | grep -c .)
  dup=$(awk '$3 > 1' "$d/states" | grep -c .)
  maxa=$(awk '$4 > m { m = $4 } END { print m + 0 }' "$d/states")
  proc=$(processing_left)
  keys_bad=$(doc_keys_bad "$d")
  # the faulted partition: its jobs, and those of them that ended after the fault began
  tag0=$(awk '{ print $5 }' "$d/states" | sort -u | while read -r t; do
    [ "$(redis-cli -p "$(live_port)" CLUSTER KEYSLOT "x$t")" = "$SLOT" ] && echo "$t"; done)
  p0=$(awk -v t="$tag0" '$5 == t' "$d/states" | grep -c .)
  p0_after=$(awk -v t="$tag0" -v f="$(date -u -d "@$((t_fault / 1000))" +%Y-%m-%dT%H:%M:%S)" \
    '$5 == t && $6 >= f' "$d/states" | grep -c .)
  [ "$lost" = 0 ] && [ "$unfin" = 0 ] && [ "$dup" = 0 ] && [ "$proc" = 0 ] && [ "$gaveup" = 0 ] || ok=0
  [ "$parts" = "$PARTS" ] && [ $((acked + conflict)) = "$N" ] && [ "$keys_bad" = 0 ] || ok=0
  local line
  line="cluster_$sc: acked=$acked conflict=$conflict gaveup=$gaveup partitions=$parts partition0=$p0 partition0_ended_after_fault=$p0_after succeeded=$succ failed=$fail lost=$lost unfinished=$unfin duplicated=$dup processing_left=$proc doc_keys_bad=$keys_bad max_attempt=$maxa fault_s=$(secs_since "$t_fault" "${t_whole:-$t_fault}") drained_s=$(secs_since "$t_fault" "$t_end")"
  line="$line $(cat "$d/submit.json" 2>/dev/null)"
  [ -n "$note" ] && line="$line #$note"
  if [ "$ok" = 1 ]; then
    echo "$line"
    passed=$((passed + 1))
  else
    echo "$line  FAILED"
    failed=$((failed + 1))
    head -5 "$d/lost" "$d/unfinished" "$d/gaveup" "$d/fault.log" 2>/dev/null | sed 's/^/#   /'
  fi
}

for sc in $SCENARIOS; do
  case $sc in
    failover | kill9 | reshard) run_scenario "$sc" ;;
    *) echo "unknown scenario $sc"; failed=$((failed + 1)) ;;
  esac
done
stop_all
redis_stop_all

failover_sanitizer_check
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
