# cluster.sh: a real Redis Cluster on loopback for the suites (sourced after
# lib.sh): 3 masters and 3 replicas (redis-server --cluster-enabled yes), each
# on a free port (and a free cluster bus port) in its own dir under
# STAGEQ_TEST_TMP, created with redis-cli --cluster create and registered like
# redis_start's servers, so that redis_stop / redis_stop_all stop them by PID.
# cluster-node-timeout is short so that a failover takes seconds.

: "${CL_NODE_TIMEOUT_MS:=2000}"

# cl_start NAME [masters] [replicas-per-master]: starts the cluster (default
# 3 masters, 1 replica each). Sets CL_NAME, CL_NODES ("name:port" of every
# node, masters first as created), CL_PORTS (their ports), CL_PORT (the first
# node) and CL_URL (redis-cluster://127.0.0.1:p1,127.0.0.1:p2,.../). Returns
# non-zero when the cluster did not reach cluster_state:ok on every node, with
# every replica linked, within 60 s. CL_SERVER_ARGS (an array) are extra
# redis-server args for every node (lib.sh's sq_redis: --appendonly yes ...).
CL_SERVER_ARGS=()
cl_start() {
  local name=$1 masters=${2:-3} reps=${3:-1} n i p bus try hosts="" ok
  CL_NAME=$name
  CL_NODES=""
  CL_PORTS=""
  n=$((masters * (1 + reps)))
  for i in $(seq 1 "$n"); do
    # a node that did not come up may have found its bus port taken: a new one
    for try in 1 2; do
      bus=$(free_port)
      redis_start "$name-$i" --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-node-timeout "$CL_NODE_TIMEOUT_MS" --cluster-port "$bus" \
        --cluster-announce-ip 127.0.0.1 --cluster-require-full-coverage yes \
        --cluster-allow-replica-migration no "${CL_SERVER_ARGS[@]}" && break
      [ "$try" = 2 ] && { echo "# cl_start $name: node $i did not come up" >&2; return 1; }
    done
    p=$(cat "$STAGEQ_TEST_TMP/redis-$name-$i/port")
    CL_NODES="$CL_NODES $name-$i:$p"
    CL_PORTS="$CL_PORTS $p"
    hosts="$hosts 127.0.0.1:$p"
  done
  CL_NODES=${CL_NODES# }
  CL_PORTS=${CL_PORTS# }
  CL_PORT=${CL_PORTS%% *}
  # shellcheck disable=SC2086
  if ! redis-cli --cluster create $hosts --cluster-replicas "$reps" --cluster-yes \
    >"$STAGEQ_TEST_TMP/cluster-$name-create.log" 2>&1; then
    echo "# cl_start $name: redis-cli --cluster create failed; its output ends:" >&2
    tail -5 "$STAGEQ_TEST_TMP/cluster-$name-create.log" | sed 's/^/#   /' >&2
    return 1
  fi
  CL_URL="redis-cluster://$(echo $hosts | tr ' ' ',')/"
  for i in $(seq 1 600); do
    ok=1
    for p in $CL_PORTS; do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || { ok=0; break; }
    done
    if [ "$ok" = 1 ] && [ "$(cl_linked_replicas)" -ge $((masters * reps)) ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "# cl_start $name: not every node says cluster_state:ok with $((masters * reps)) replicas linked after 60 s" >&2
  return 1
}

# cl_linked_replicas: how many replicas say master_link_status:up.
cl_linked_replicas() {
  local p c=0
  for p in $CL_PORTS; do
    redis-cli -p "$p" info replication 2>/dev/null | grep -q '^master_link_status:up' && c=$((c + 1))
  done
  echo "$c"
}

# cl_masters: the ports of the nodes that are masters now (one per line).
cl_masters() {
  local p
  for p in $CL_PORTS; do
    redis-cli -p "$p" role 2>/dev/null | head -1 | grep -q '^master$' && echo "$p"
  done
}

# cl_replicas: the ports of the nodes that are replicas now (one per line).
cl_replicas() {
  local p
  for p in $CL_PORTS; do
    redis-cli -p "$p" role 2>/dev/null | head -1 | grep -q '^slave$' && echo "$p"
  done
}

# cl_master_of_slot SLOT: the port of the master serving SLOT now.
cl_master_of_slot() {
  redis-cli -p "${CL_PORT:-${CL_PORTS%% *}}" cluster slots 2>/dev/null | awk -v s="$1" '
    NR % 1 == 0 { a[NR] = $0 }
    END {
      # CLUSTER SLOTS, flat: start, end, ip, port, id, (replicas: ip, port, id)...
      i = 1
      while (i <= NR) {
        if (a[i] ~ /^[0-9]+$/ && a[i+1] ~ /^[0-9]+$/ && a[i+2] ~ /\./) {
          if (s + 0 >= a[i] + 0 && s + 0 <= a[i+1] + 0) { print a[i+3]; exit }
          i += 3
        } else i++
      }
    }'
}

# cl_wait_ok [timeout_s]: waits until every node still running says
# cluster_state:ok (after a failover or a reshard). 0, or 1 on timeout.
cl_wait_ok() {
  local t=${1:-30} i p ok
  for i in $(seq 1 $((t * 10))); do
    ok=1
    for p in $CL_PORTS; do
      redis-cli -p "$p" ping >/dev/null 2>&1 || continue
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || { ok=0; break; }
    done
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}

# cl_cli ARGS...: redis-cli in cluster mode (-c: follows MOVED) on a live node.
cl_cli() {
  local p
  for p in $CL_PORTS; do
    if redis-cli -p "$p" ping >/dev/null 2>&1; then
      redis-cli -c -p "$p" "$@"
      return
    fi
  done
  return 1
}

# cl_each_master ARGS...: runs redis-cli ARGS on every master (SCAN, FLUSHALL,
# INFO ... are per node).
cl_each_master() {
  local p
  for p in $(cl_masters); do redis-cli -p "$p" "$@"; done
}
