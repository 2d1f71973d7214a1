# sentinel.sh: a real Redis Sentinel group on loopback for the suites (sourced
# after lib.sh): a master, 2 replicas and 3 sentinels (redis-server --sentinel),
# each on a free port in its own dir under STAGEQ_TEST_TMP, registered like
# redis_start's servers so that redis_stop / redis_stop_all (finish) stop them
# by PID. down-after-milliseconds is short so that a failover takes seconds.

: "${SG_DOWN_AFTER_MS:=1000}"

# sg_start NAME: starts the group monitored as master NAME. Sets SG_NAME,
# SG_NODES ("name:port" of the master and replicas, master first),
# SG_SENTINEL_PORTS, SG_URL (redis-sentinel://...#NAME, db 0) and
# SG_SENTINEL_PORT (the first sentinel). Returns non-zero when the group did
# not come up (replicas linked, sentinels aware of each other and of both
# replicas) within 30 s.
sg_start() {
  local name=$1 mport p i dir hosts=""
  SG_NAME=$name
  redis_start "$name-m"
  mport=$(sg_port_of "$name-m")
  SG_NODES="$name-m:$mport"
  for i in 1 2; do
    redis_start "$name-r$i" --replicaof 127.0.0.1 "$mport" --replica-announce-ip 127.0.0.1
    SG_NODES="$SG_NODES $name-r$i:$(sg_port_of "$name-r$i")"
  done
  SG_SENTINEL_PORTS=""
  for i in 1 2 3; do
    dir="$STAGEQ_TEST_TMP/redis-$name-s$i"
    mkdir -p "$dir"
    p=$(free_port)
    cat >"$dir/sentinel.conf" <<CONF
port $p
bind 127.0.0.1
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
sentinel announce-ip 127.0.0.1
sentinel resolve-hostnames no
sentinel monitor $name 127.0.0.1 $mport 2
sentinel down-after-milliseconds $name $SG_DOWN_AFTER_MS
sentinel failover-timeout $name 6000
sentinel parallel-syncs $name 2
CONF
    redis-server "$dir/sentinel.conf" --sentinel >/dev/null
    echo "$p" >"$dir/port"
    SQ_REDIS_NAMES="$SQ_REDIS_NAMES $name-s$i"
    SG_SENTINEL_PORTS="$SG_SENTINEL_PORTS $p"
    hosts="$hosts${hosts:+,}127.0.0.1:$p"
  done
  SG_SENTINEL_PORTS=${SG_SENTINEL_PORTS# }
  SG_SENTINEL_PORT=${SG_SENTINEL_PORTS%% *}
  SG_URL="redis-sentinel://$hosts/0#$name"
  wait_for 30 sg_is_settled
}

# sg_port_of NODE: the port of a node started by sg_start (or redis_start).
sg_port_of() {
  local v="REDIS_PORT_$1" f="$STAGEQ_TEST_TMP/redis-$1/port"
  if [ -f "$f" ]; then cat "$f"; return; fi
  v=${v//-/_}
  echo "${!v}"
}

# sg_pid_of NODE: the pid of a node of the group.
sg_pid_of() { cat "$STAGEQ_TEST_TMP/redis-$1/redis.pid" 2>/dev/null; }

# sg_master_port: the master's port as the first sentinel that answers says.
sg_master_port() {
  local p out
  for p in $SG_SENTINEL_PORTS; do
    out=$(redis-cli -p "$p" SENTINEL get-master-addr-by-name "$SG_NAME" 2>/dev/null | sed -n 2p)
    [ -n "$out" ] && { echo "$out"; return 0; }
  done
  return 1
}

# sg_master_node: the NODE name of the current master ("" when unknown).
sg_master_node() {
  local mp n
  mp=$(sg_master_port) || return 1
  for n in $SG_NODES; do
    [ "${n##*:}" = "$mp" ] && { echo "${n%%:*}"; return 0; }
  done
  return 1
}

# sg_is_settled: every sentinel agrees on one master that says ROLE master,
# has 2 replicas online, and each sentinel knows the 2 others and 2 replicas,
# each of which it has seen report role slave, linked to that master: the
# state in which a failover can happen and is over. (A sentinel that last saw
# a replica as master, e.g. a stale master converted less than its 10 s INFO
# period ago, turns a replica promoted next back into a replica of the old
# master: the next SENTINEL FAILOVER then ends in failover-abort-slave-timeout.)
sg_is_settled() {
  local p mp="" m n
  for p in $SG_SENTINEL_PORTS; do
    m=$(redis-cli -p "$p" SENTINEL get-master-addr-by-name "$SG_NAME" 2>/dev/null | sed -n 2p)
    [ -n "$m" ] || return 1
    [ -z "$mp" ] || [ "$mp" = "$m" ] || return 1
    mp=$m
    n=$(redis-cli -p "$p" SENTINEL master "$SG_NAME" 2>/dev/null |
      awk 'NR%2==1{k=$0;next} k=="num-other-sentinels"||k=="num-slaves"{printf "%s ",$0} k=="flags"{f=$0} END{print f}')
    case "$n" in "2 2 master") ;; *) return 1 ;; esac
    n=$(redis-cli -p "$p" SENTINEL replicas "$SG_NAME" 2>/dev/null | awk -v mp="$mp" '
      NR%2==1 { k=$0; next }
      k=="flags" { n++; if ($0 != "slave") bad++ }
      k=="role-reported" && $0 != "slave" { bad++ }
      k=="master-link-status" && $0 != "ok" { bad++ }
      k=="master-port" && $0 != mp { bad++ }
      END { print n + 0, bad + 0 }')
    [ "$n" = "2 0" ] || return 1
  done
  [ "$(redis-cli -p "$mp" ROLE 2>/dev/null | head -1)" = master ] || return 1
  [ "$(redis-cli -p "$mp" INFO replication 2>/dev/null | grep -c 'state=online')" = 2 ]
}

# sg_wait_new_master OLD_PORT SECONDS: waits until the sentinels name a master
# other than OLD_PORT that answers ROLE master.
sg_wait_new_master() {
  local old=$1 t=$2
  wait_for "$t" sg_has_new_master "$old"
}
sg_has_new_master() {
  local mp
  mp=$(sg_master_port) || return 1
  [ "$mp" != "$1" ] && [ "$(redis-cli -p "$mp" ROLE 2>/dev/null | head -1)" = master ]
}

# sg_failover: a graceful SENTINEL FAILOVER through the first sentinel.
# sg_kept_checks MIN: at least MIN clients of the sentinels have asked SENTINEL
# REPLICAS last and have been connected for 3 s or more (master checks that keep
# their connection; one opened per check would never get that old).
sg_kept_checks() {
  local p n=0 c
  for p in $SG_SENTINEL_PORTS; do
    c=$(redis-cli -p "$p" CLIENT LIST 2>/dev/null | grep 'cmd=sentinel|replicas' |
      awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^age=/) { split($i, a, "="); if (a[2] >= 3) n++ } } END { print n + 0 }')
    n=$((n + c))
  done
  [ "$n" -ge "$1" ]
}

# sg_failover: a graceful SENTINEL FAILOVER through the first sentinel, asked
# again (for up to 20 s) while it answers NOGOODSLAVE or INPROG: right after
# an earlier failover the replicas may not count as good yet. Prints the last
# answer; fails when it never was OK.
sg_failover() {
  local i out=""
  for i in $(seq 1 100); do
    out=$(redis-cli -p "$SG_SENTINEL_PORT" SENTINEL FAILOVER "$SG_NAME" 2>&1)
    [ "$out" = OK ] && break
    sleep 0.2
  done
  echo "$out"
  [ "$out" = OK ]
}

# sg_restart NODE: starts a node of the group again after a kill, on its port,
# as a replica of the current master (what a restarted host would do with
# its config; Sentinel would reconfigure it anyway).
sg_restart() {
  local node=$1 port dir mp
  port=$(sg_port_of "$node")
  dir="$STAGEQ_TEST_TMP/redis-$node"
  mp=$(sg_master_port)
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --replica-announce-ip 127.0.0.1 --replicaof 127.0.0.1 "$mp" >/dev/null
}
