# lib.sh: helpers for the end-to-end suites (sourced). Real redis-server, real
# stageq processes on loopback, real HTTP with curl. Everything started is
# remembered by PID and stopped by stop_all / redis_stop_all, also on failure.
# Results are printed as "ok - name" / "not ok - name" lines, counted by run-all.
#
# The Redis topology is a parameter: STAGEQ_TEST_TOPOLOGY=single (default: one
# redis-server) or cluster (a 3+3 Redis Cluster, tests/e2e/cluster.sh). A suite
# never names a port or a key itself: it starts daemons on SQ_REDIS_URL, talks
# to Redis with rcli (one key's node) or rcli_each (every master: SCAN, INFO,
# DBSIZE, ...), and builds key names with job_key, queue_key, ... (the
# daemons' own shared/keys.c, through $BUILD/tests/sq-keys).

: "${BUILD:=build}"
: "${STAGEQ_TEST_TMP:=$(mktemp -d /tmp/stageq-test.XXXXXX)}"
SQ_PIDS=""
SQ_REDIS_NAMES=""
SQ_FAILS=0

# STAGEQ_WRAP: a command put in front of every stageq daemon the suites start
# (make test-valgrind: "valgrind --log-file=... ..."). Split on blanks, no
# quoting and no globbing: write options as --opt=a,b. Wrapped daemons start
# and stop slowly, so the waits below grow with SQ_SLOW.
SQ_WRAP=()
[ -n "${STAGEQ_WRAP:-}" ] && read -r -a SQ_WRAP <<<"$STAGEQ_WRAP"
SQ_SLOW=1
[ ${#SQ_WRAP[@]} -gt 0 ] && SQ_SLOW=6

# python3 as the shell finds it may be a version manager's shim (pyenv: a
# bash script run before every start, a second or more on a loaded machine;
# the suites start python3 hundreds of times, and so do the stage programs
# with "#!/usr/bin/env python3"). Resolve it once to the interpreter the shim
# runs and put that first on PATH for the suites and everything they start:
# the same python3, without the shim. SQ_PY_BIN is exported, so this is done
# once per run-all.sh, not once per suite.
if [ -z "${SQ_PY_BIN:-}" ]; then
  SQ_PY_BIN="$STAGEQ_TEST_TMP/bin"
  mkdir -p "$SQ_PY_BIN"
  sq_py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
  if [ -n "$sq_py" ] && [ -x "$sq_py" ] && [ "$sq_py" != "$(command -v python3)" ]; then
    ln -sf "$sq_py" "$SQ_PY_BIN/python3"
    PATH="$SQ_PY_BIN:$PATH"
  fi
  unset sq_py
  export SQ_PY_BIN PATH
fi

# free_port: a TCP port free on 127.0.0.1 now, drawn at random below the
# kernel's ephemeral range (ip_local_port_range), which outgoing connections
# take their local ports from: a port the kernel handed out for bind(0) and
# that was closed again can be any client's local port a moment later (the
# suites make thousands of connections side by side), before the server
# meant to listen on it binds. Only another free_port can collide with it, and
# redis_start tries again on a new port when its server did not come up.
free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((10000 + RANDOM % 20000))
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
low = max(low, 12000)
for _ in range(500):
    port = random.randrange(10000, low)
    if port == 8080:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# redis_start NAME [extra redis-server args]: sets REDIS_PORT_<NAME>. The
# port and the extra args are kept in its dir (redis_restart starts it again
# the same way: same port, same files). When the server does not answer (its
# port was taken in between), it is stopped and started on a new port, up to
# 3 times; non-zero (and the end of its log on stderr) when it never came up.
redis_start() {
  local name=$1 try rc=1; shift
  local dir="$STAGEQ_TEST_TMP/redis-$name" port
  mkdir -p "$dir"
  [ $# -eq 0 ] || printf '%s\0' "$@" >"$dir/args"
  for try in 1 2 3; do
    port=$(free_port)
    echo "$port" >"$dir/port"
    if redis_run "$name"; then rc=0; break; fi
    echo "# redis_start $name: no answer on port $port (try $try); its log ends:" >&2
    tail -3 "$dir/redis.log" 2>/dev/null | sed 's/^/#   /' >&2
    redis_stop "$name"
  done
  eval "REDIS_PORT_${name//-/_}=$port"
  SQ_REDIS_NAMES="$SQ_REDIS_NAMES $name"
  return "$rc"
}

# redis_run NAME: starts redis-server NAME from its dir (port, args) and waits
# (up to 5 s) until it answers, and answers as itself: the process_id in its
# INFO is the PID in its pid file (not another suite's server that took the
# port first). Non-zero when it did not.
redis_run() {
  local dir="$STAGEQ_TEST_TMP/redis-$1" port i pid logsz args=()
  port=$(cat "$dir/port")
  [ -f "$dir/args" ] && mapfile -d '' -t args <"$dir/args"
  rm -f "$dir/redis.pid"
  logsz=$(stat -c %s "$dir/redis.log" 2>/dev/null || echo 0)
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "${args[@]}" >/dev/null
  for i in $(seq 1 100); do
    pid=$(cat "$dir/redis.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
      redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$pid" && return 0
      pid_running "$pid" || return 1
    else # it writes its pid file once it listens; a failed start says so
      tail -c +$((logsz + 1)) "$dir/redis.log" 2>/dev/null | grep -qE 'Failed listening|aborting' && return 1
    fi
    sleep 0.05
  done
  return 1
}

# pid_running PID: the process exists and is not a zombie. A daemonized
# redis-server is the child of init, which may take a second or more to reap
# it; a zombie holds no socket or file any more, so it counts as gone.
pid_running() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

redis_stop() {
  local name=$1 dir="$STAGEQ_TEST_TMP/redis-$1" pid i
  [ -f "$dir/redis.pid" ] || return 0
  pid=$(cat "$dir/redis.pid")
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 100); do pid_running "$pid" || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/redis.pid"
}

redis_stop_all() {
  local n
  for n in $SQ_REDIS_NAMES; do redis_stop "$n"; done
}

# redis_stop_under DIR: stops (by the PID in its pid file) every redis-server
# started under DIR, whoever started it: the runner's cleanup after a suite
# that was killed (its own trap never ran) or that started servers in a
# subshell. A daemonized redis-server is in a session of its own: a signal to
# the suite's process group never reaches it.
redis_stop_under() {
  local f pid i pids=""
  for f in $(find "$1" -name redis.pid 2>/dev/null); do
    pid=$(cat "$f" 2>/dev/null) || continue
    case $pid in '' | *[!0-9]*) continue ;; esac
    kill -TERM "$pid" 2>/dev/null && pids="$pids $pid"
    rm -f "$f"
  done
  for pid in $pids; do
    for i in $(seq 1 100); do pid_running "$pid" || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null
  done
}

# ---- the topology -------------------------------------------------------------
: "${STAGEQ_TEST_TOPOLOGY:=single}"
case $STAGEQ_TEST_TOPOLOGY in
  single | cluster) ;;
  *) echo "lib.sh: STAGEQ_TEST_TOPOLOGY must be single or cluster, not '$STAGEQ_TEST_TOPOLOGY'" >&2; exit 2 ;;
esac
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

# on_cluster: the suites run against a Redis Cluster.
on_cluster() { [ "$STAGEQ_TEST_TOPOLOGY" = cluster ]; }

# skip_on_cluster WHAT WHY: on a cluster, says that a part of a suite does not
# run there and why (a "# skip" line, neither ok nor not ok); returns 0 then,
# so a suite writes: if ! skip_on_cluster "..." "..."; then ... fi
skip_on_cluster() {
  on_cluster || return 1
  echo "# skip on cluster - $1: $2"
}

# The Redis the suite talks to: REDIS_PORT (single: the server; cluster: the
# first node), SQ_REDIS_URL (what daemons get), and on a cluster CL_PORTS.
# run-all.sh hands them in; a suite that starts a Redis of its own switches to
# it with sq_redis. Without SQ_REDIS_URL, a single Redis on REDIS_PORT.
if [ -z "${SQ_REDIS_URL:-}" ] && [ -n "${REDIS_PORT:-}" ]; then
  SQ_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

# sq_redis NAME [extra redis-server args]: starts a Redis of the topology for
# this suite alone (single: redis_start NAME; cluster: cl_start NAME, every
# node with the extra args) and makes it the current one (use_redis).
sq_redis() {
  local name=$1; shift
  if on_cluster; then
    CL_SERVER_ARGS=("$@")
    cl_start "$name" || echo "# sq_redis: the cluster $name did not come up" >&2
    CL_SERVER_ARGS=()
    printf 'CL_PORTS="%s"\nCL_URL="%s"\n' "$CL_PORTS" "$CL_URL" >"$STAGEQ_TEST_TMP/cluster-$name.env"
  else
    redis_start "$name" "$@"
  fi
  use_redis "$name"
}

# use_redis NAME: makes the Redis sq_redis NAME started the current one:
# sets REDIS_PORT, SQ_REDIS_URL (and CL_PORTS, CL_PORT, CL_URL on a cluster).
use_redis() {
  if on_cluster; then
    # shellcheck disable=SC1090
    source "$STAGEQ_TEST_TMP/cluster-$1.env"
    CL_PORT=${CL_PORTS%% *}
    REDIS_PORT=$CL_PORT
    SQ_REDIS_URL=$CL_URL
  else
    REDIS_PORT=$(cat "$STAGEQ_TEST_TMP/redis-$1/port")
    SQ_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  fi
}

# dead_redis_url PORT: a URL of the topology's kind where no Redis listens
# (PORT: a free one), for the suites' "Redis unreachable" cases.
dead_redis_url() {
  if on_cluster; then echo "redis-cluster://127.0.0.1:$1/"; else echo "redis://127.0.0.1:$1/0"; fi
}

# sq_redis_names NAME: the redis_start names of sq_redis NAME's servers.
sq_redis_names() {
  local d
  if on_cluster; then
    for d in "$STAGEQ_TEST_TMP/redis-$1"-*; do [ -f "$d/port" ] && echo "${d##*/redis-}"; done
  else
    echo "$1"
  fi
}

# sq_redis_down NAME / sq_redis_up NAME: an outage of sq_redis NAME (every
# node of a cluster), then the same servers back on the same ports with
# their files (a cluster re-forms from its nodes.conf: up waits for
# cluster_state:ok).
sq_redis_down() {
  local n
  for n in $(sq_redis_names "$1"); do redis_stop "$n"; done
}
sq_redis_up() {
  local n
  for n in $(sq_redis_names "$1"); do redis_run "$n"; done
  if on_cluster; then cl_wait_ok 60 || echo "# sq_redis_up: the cluster $1 is not ok again" >&2; fi
}

# rcli ARGS...: redis-cli on the current Redis; on a cluster it follows MOVED
# (redis-cli -c), so any one-key command reaches its key's node. Commands read
# from stdin (no ARGS) work too: the "-> Redirected" notes redis-cli prints
# then are dropped.
rcli() {
  if ! on_cluster; then
    redis-cli -p "$REDIS_PORT" "$@"
  elif [ $# -gt 0 ]; then
    redis-cli -c -p "$REDIS_PORT" "$@"
  else
    redis-cli -c -p "$REDIS_PORT" | sed '/^-> Redirected to slot \[[0-9]*\] located at /d'
  fi
}

# key_port KEY: the port of the master serving KEY's slot (single: the server).
key_port() {
  if on_cluster; then
    cl_master_of_slot "$(redis-cli -p "$REDIS_PORT" CLUSTER KEYSLOT "$1")"
  else
    echo "$REDIS_PORT"
  fi
}

# rcli_at KEY [ARGS...]: redis-cli straight on the master serving KEY's slot:
# for what must reach that node without a redirection (MULTI ... EXEC read
# from stdin, SCRIPT FLUSH, CLIENT KILL, EVAL of a script that scans with no
# key, -r repeats).
rcli_at() {
  local port
  port=$(key_port "$1")
  shift
  redis-cli -p "$port" "$@"
}

# sq_masters: the ports of the current Redis' masters (single: the server).
sq_masters() {
  if on_cluster; then cl_masters; else echo "$REDIS_PORT"; fi
}

# sq_nodes: the ports of every node, replicas too (single: the server).
sq_nodes() {
  if on_cluster; then printf '%s\n' $CL_PORTS; else echo "$REDIS_PORT"; fi
}

# numsub CHANNEL: how many connections are subscribed to CHANNEL (classic
# pub/sub: on a cluster a subscriber may sit on any node, so every node's
# PUBSUB NUMSUB is summed).
numsub() {
  local p
  if ! on_cluster; then
    rcli PUBSUB NUMSUB "$1" | sed -n 2p
    return
  fi
  for p in $CL_PORTS; do redis-cli -p "$p" PUBSUB NUMSUB "$1" | sed -n 2p; done |
    awk '{ s += $1 } END { print s + 0 }'
}

# rcli_each ARGS...: runs redis-cli ARGS on every master and concatenates the
# outputs: the per-node commands (SCAN/--scan, KEYS, DBSIZE, INFO, CONFIG,
# FLUSHALL, CLIENT, DEBUG, MONITOR, EVAL with no key). Fails when one failed.
rcli_each() {
  local p rc=0
  for p in $(sq_masters); do redis-cli -p "$p" "$@" || rc=1; done
  return $rc
}

# rcli_sum ARGS...: rcli_each of a command answering an integer (DBSIZE,
# EVAL ... 0 returning a count), summed over the masters.
rcli_sum() {
  rcli_each "$@" | awk '{ s += $1 } END { print s + 0 }'
}

# info_sum SECTION FIELD: INFO SECTION's FIELD summed over the masters.
info_sum() {
  rcli_each INFO "$1" | tr -d '\r' | awk -F: -v f="$2" '$1 == f { s += $2 } END { print s + 0 }'
}

# noscript_count: script calls refused NOSCRIPT since the masters started
# (INFO errorstats, summed).
noscript_count() {
  rcli_each INFO errorstats | tr -d '\r' |
    awk -F'[:=,]' '$1 == "errorstat_NOSCRIPT" { s += $3 } END { print s + 0 }'
}

# scan_keys PATTERN: every key matching PATTERN, on every master.
scan_keys() { rcli_each --scan --pattern "$1"; }

# flush_prefix PREFIX: deletes every key under PREFIX: (a suite's own keys),
# on every master, one DEL per key (keys of different slots).
flush_prefix() {
  local p
  for p in $(sq_masters); do
    redis-cli -p "$p" --scan --pattern "$1:*" | sed 's/^/DEL /' | redis-cli -p "$p" >/dev/null
  done
}

# job_fields FILE FIELD...: FIELD of the job hash of each id in FILE (one id
# a line), as HGET (one field) or HMGET answers them, one value a line, in
# one redis-cli.
job_fields() {
  local file=$1 cmd=HGET
  shift
  [ $# -eq 1 ] || cmd=HMGET
  # shellcheck disable=SC2046
  job_keys $(cat "$file") | sed "s/^/$cmd /; s/\$/ $*/" | rcli
}

# stage_part ID K PART: PART (name, state, started or finished) of stage K of
# job ID as its hash holds it: read from its field stage.<K> (docs/redis-
# keys.md, "The job hash": "<name> <letter> [<start>] [<end>]", the state a
# letter, shown as its word; a time in ms after created_at, "=" a start at the
# end of the stage before, "-" unknown), or, for a job of the older layout,
# its field stage.<K>.name, .state, .started_at or .finished_at.
stage_part() {
  local key v
  key=$(job_key "$1")
  v=$(rcli HGET "$key" "stage.$2")
  case $3 in
    name | state) [ -n "$v" ] || { rcli HGET "$key" "stage.$2.$3"; return; } ;;
    started | finished) [ -n "$v" ] || { rcli HGET "$key" "stage.$2.$3_at"; return; } ;;
    *) echo "stage_part: no part $3" >&2; return 1 ;;
  esac
  awk -v part="$3" '{
    n = split($0, t, / /)
    w["p"] = "pending"; w["r"] = "running"; w["s"] = "succeeded"; w["f"] = "failed"; w["c"] = "canceled"
    st = (t[2] in w) ? w[t[2]] : t[2]
    s0 = ""; s1 = ""
    if (t[4] != "") { s0 = t[3]; s1 = t[4] }
    else if (st == "running") s0 = (t[3] == "" ? "=" : t[3])
    else if (t[3] != "") { s0 = "="; s1 = t[3] }
    if (part == "name") print t[1]
    else if (part == "state") print st
    else if (part == "started") print s0
    else print s1
  }' <<<"$v"
}

# once_count ID...: how many of the jobs ID succeeded exactly once: state
# succeeded and no success_count above 1 (it is written from a second success
# on: absent once succeeded; a job of the older layout holds 1).
once_count() {
  [ $# -eq 0 ] && { echo 0; return; }
  job_keys "$@" | sed 's/^/HMGET /; s/$/ state success_count/' | rcli | paste -d' ' - - |
    grep -Ec '^succeeded 1?$'
}

# ---- key names, as the daemons build them ---------------------------------------
# $BUILD/tests/sq-keys is built from shared/keys.c (make test-build), so a
# suite cannot disagree with the daemons. The prefix is STAGEQ_PREFIX (the
# suite's own, default stageq); J P are a partition and the queue's partition
# count (default 0 of 1, the default partition, tag {8209}). The names of the
# default partition are asked once, as templates (prefix @P@, argument @A@),
# and filled in here: a suite's polls then start no process per name.
sq_keys() { "$BUILD/tests/sq-keys" -p "${STAGEQ_PREFIX:-stageq}" "$@"; }
declare -A SQ_KEY_TEMPLATE=()
if [ -x "$BUILD/tests/sq-keys" ]; then
  for sq_k in job queue delayed processing stagehist eta worker wake; do
    SQ_KEY_TEMPLATE[$sq_k]=$("$BUILD/tests/sq-keys" -p @P@ "$sq_k" @A@)
  done
  for sq_k in counters recent leases alive current workers events; do
    SQ_KEY_TEMPLATE[$sq_k]=$("$BUILD/tests/sq-keys" -p @P@ "$sq_k")
  done
  unset sq_k
else
  # without it every key name is empty and a suite fails in puzzling ways
  echo "lib.sh: $BUILD/tests/sq-keys is missing: build it first (make test-build, or make BUILD=$BUILD $BUILD/tests/sq-keys)" >&2
  exit 2
fi
# sq_key KIND [ARG] [J P]: a name of the default partition from its template,
# any other from sq-keys.
sq_key() {
  local kind=$1 arg=${2-} j=${3:-0} parts=${4:-1} t
  t=${SQ_KEY_TEMPLATE[$kind]:-}
  if [ -z "$t" ] || [ "$j" != 0 ] || [ "$parts" != 1 ]; then
    sq_keys -j "$j" -P "$parts" "$kind" ${2+"$arg"}
    return
  fi
  t=${t//@P@/"${STAGEQ_PREFIX:-stageq}"}
  printf '%s\n' "${t//@A@/"$arg"}"
}
# job_key ID [P]: the job hash of ID (its partition from ID and P).
job_key() {
  if [ "${2:-1}" = 1 ]; then sq_key job "$1"; else sq_keys -P "$2" job "$1"; fi
}
# job_keys ID...: the job hashes of several ids (P=1), one per line.
job_keys() { [ $# -eq 0 ] || sq_keys job "$@"; }
queue_key() { sq_key queue "$1" "${2:-0}" "${3:-1}"; }           # Q [J P]
delayed_key() { sq_key delayed "$1" "${2:-0}" "${3:-1}"; }       # Q [J P]
paused_key() { sq_keys -j "${2:-0}" -P "${3:-1}" paused "$1"; }   # Q [J P]
failed_key() { sq_keys -j "${2:-0}" -P "${3:-1}" failed "$1"; }   # Q [J P]
rate_key() { sq_keys rate "$1"; }                                 # Q (1 partition)
processing_key() { sq_key processing "$1" "${2:-0}" "${3:-1}"; } # WORKER [J P]
stagehist_key() { sq_key stagehist "$1" "${2:-0}" "${3:-1}"; }   # PIPELINE [J P]
eta_key() { sq_key eta "$1" "${2:-0}" "${3:-1}"; }               # PIPELINE [J P]
counters_key() { sq_key_part counters "$@"; }                    # [J P]
recent_key() { sq_key_part recent "$@"; }                        # [J P]
leases_key() { sq_key_part leases "$@"; }                        # [J P]
alive_key() { sq_key_part alive "$@"; }                          # [J P]
current_key() { sq_key_part current "$@"; }                      # [J P]
sq_key_part() { # KIND [J P]: a key of a partition without an argument
  local t=${SQ_KEY_TEMPLATE[$1]:-}
  if [ -z "$t" ] || [ "${2:-0}" != 0 ] || [ "${3:-1}" != 1 ]; then
    sq_keys -j "${2:-0}" -P "${3:-1}" "$1"
  else
    printf '%s\n' "${t//@P@/"${STAGEQ_PREFIX:-stageq}"}"
  fi
}
workers_key() { sq_key_part workers; }                           # the registry
worker_key() { sq_key worker "$1"; }                             # WORKER
events_channel() { sq_key_part events; }
wake_channel() { sq_key wake "$1"; }                             # Q
tag_of_slot() { sq_keys tag "$1"; }                              # SLOT: "{n}"
part_slot() { sq_keys -P "$1" -j "$2" slot; }                    # P J: the slot
part_of() { sq_keys -P "${2:-1}" part "$1"; }                    # ID [P]: its partition

# lua_src NAME: shared/scripts/NAME.lua with its --#include lines expanded,
# as deploy/embed-lua.sh builds it into the daemons (for EVAL by hand).
lua_src() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in
      "--#include "*) cat "shared/scripts/inc/${line#--#include }" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done <"shared/scripts/$1.lua"
}

# submit_lua_load: loads submit.lua on every master; sets SUBMIT_SHA.
submit_lua_load() {
  SUBMIT_SHA=$(rcli_each SCRIPT LOAD "$(lua_src submit)" | head -1)
}

# submit_lua_lines PIPELINE STAGE_NAME INPUT ID...: one submit.lua call per
# id (EVALSHA $SUBMIT_SHA, after submit_lua_load) as lines for `| rcli` (or
# `| rcli_at "$(queue_key default)"`, MULTI and all): jobs of the default
# queue with one stage, queued without the API, so that a suite fills a
# backlog of thousands in one redis-cli. INPUT is JSON without a single quote.
submit_lua_lines() {
  local pl=$1 st=$2 in=$3 now q r c d ev wk key id
  shift 3
  now=$(date +%s%3N)
  q=$(queue_key default) r=$(recent_key) c=$(counters_key) d=$(delayed_key default)
  ev=$(events_channel) wk=$(wake_channel default)
  paste -d' ' <(job_keys "$@") <(printf '%s\n' "$@") | while read -r key id; do
    printf "EVALSHA %s 5 %s %s %s %s %s %s 3600 0 %s 100000 %s %s 0 id %s pipeline %s queue default state queued attempt 0 max_attempts 1 input '%s' stage 0 stage_count 1 result_ttl_s 600 stage.1 '%s pending'\n" \
      "$SUBMIT_SHA" "$key" "$q" "$r" "$c" "$d" "$id" "$now" "$ev" "$wk" "$id" "$pl" "$in" "$st"
  done
}

# start_api NAME [flags...]: starts stageq-api on a free port; sets API_URL and
# API_PID. Env STAGEQ_* from the caller applies.
start_api() {
  local name=$1; shift
  local pf="$STAGEQ_TEST_TMP/$name.port" i
  rm -f "$pf"
  "${SQ_WRAP[@]}" "$BUILD/stageq-api" --listen 127.0.0.1:0 --port-file "$pf" \
    --redis-url "$SQ_REDIS_URL" "$@" >>"$STAGEQ_TEST_TMP/$name.log" 2>&1 &
  API_PID=$!
  SQ_PIDS="$SQ_PIDS $API_PID"
  for i in $(seq 1 $((200 * SQ_SLOW))); do
    [ -s "$pf" ] && break
    kill -0 "$API_PID" 2>/dev/null || break
    sleep 0.05
  done
  API_URL="http://127.0.0.1:$(cat "$pf" 2>/dev/null)"
  # On a cluster the API reads the slot map and opens a link per master after
  # it listens: requests before that are answered 503 (as they should be).
  # Suites submit at once, so wait (bounded) until /readyz says ready; one
  # that starts the API without its Redis on purpose only waits longer. So
  # under STAGEQ_WRAP (valgrind): the first connection to Redis can come
  # seconds after the port file.
  if on_cluster || [ "$SQ_SLOW" -gt 1 ]; then
    for i in $(seq 1 $((100 * SQ_SLOW))); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$API_URL/readyz" 2>/dev/null)" = 200 ] && break
      kill -0 "$API_PID" 2>/dev/null || break
      sleep 0.05
    done
  fi
}

# start_worker NAME [flags...]: sets WORKER_PID.
start_worker() {
  local name=$1; shift
  "${SQ_WRAP[@]}" "$BUILD/stageq-worker" --redis-url "$SQ_REDIS_URL" "$@" \
    >>"$STAGEQ_TEST_TMP/$name.log" 2>&1 &
  WORKER_PID=$!
  SQ_PIDS="$SQ_PIDS $WORKER_PID"
}

# sq_run BINARY [args...]: runs a stageq binary in the foreground, wrapped like
# the daemons (for the suites' short runs: --help, bad flags, bad config).
sq_run() {
  local bin=$1; shift
  "${SQ_WRAP[@]}" "$BUILD/$bin" "$@"
}

# stop_pid PID [timeout_s]: SIGTERM, wait, SIGKILL; sets STOP_RC to the exit
# status (not in a $(...) subshell: only this shell can wait for its children).
stop_pid() {
  local pid=$1 t=$((${2:-10} * SQ_SLOW)) i
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 $((t * 20))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  STOP_RC=$?
}

stop_all() {
  local p
  for p in $SQ_PIDS; do kill -TERM "$p" 2>/dev/null; done
  for p in $SQ_PIDS; do
    for i in $(seq 1 $((100 * SQ_SLOW))); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  SQ_PIDS=""
}

# stage_pids JOB_ID: pids of stage programs running for that job (found by the
# STAGEQ_JOB_ID in their environment, so other suites' programs never count).
stage_pids() {
  grep -lsz "^STAGEQ_JOB_ID=$1\$" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
}

# own_stage_pids: pids of stage programs (tests/stages/) started from this
# checkout (cwd is its top), so suites of other checkouts never count.
own_stage_pids() {
  local p top
  top=$(pwd -P)
  for p in $(pgrep -f 'tests/stages/'); do
    [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$top" ] && echo "$p"
  done
}

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; SQ_FAILS=$((SQ_FAILS + 1)); }

# check NAME COMMAND...: ok when the command succeeds.
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

# http METHOD PATH [curl args...]: sets HTTP_STATUS, HTTP_BODY, HTTP_HEADERS.
http() {
  local method=$1 path=$2; shift 2
  local hf="$STAGEQ_TEST_TMP/h.$$" bf="$STAGEQ_TEST_TMP/b.$$"
  HTTP_STATUS=$(curl -s -o "$bf" -D "$hf" -w '%{http_code}' -X "$method" --max-time 10 \
    "$@" "$API_URL$path")
  HTTP_BODY=$(cat "$bf" 2>/dev/null)
  HTTP_HEADERS=$(cat "$hf" 2>/dev/null)
  rm -f "$hf" "$bf"
}

# post_json PATH BODY [curl args...]
post_json() {
  local path=$1 body=$2; shift 2
  http POST "$path" -H 'content-type: application/json' --data-binary "$body" "$@"
}

jqr() { printf '%s' "$HTTP_BODY" | jq -r "$@" 2>/dev/null; }

# not_ready_says TEXT: /readyz answers 503 with TEXT (a fixed string) in its
# message (poll it: the API may not have given up yet).
not_ready_says() {
  http GET /readyz
  [ "$HTTP_STATUS" = 503 ] && jqr .error.message | grep -qF -- "$1"
}

# wait_for SECONDS COMMAND...: polls every 50 ms until the command succeeds.
wait_for() {
  local t=$1 i; shift
  for i in $(seq 1 $((t * 20))); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

# poll SECONDS COMMAND...: runs the command every 0.1 s until it succeeds, for
# at most SECONDS of wall-clock time (wait_for counts tries: the bound of a
# slow condition, one that starts processes or asks several servers, is then
# many times longer than its number).
poll() {
  local end=$(($(date +%s) + $1))
  shift
  while :; do
    "$@" && return 0
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.1
  done
}

# valgrind_report DIR: reads the vg.<pid>.log files valgrind wrote to DIR (make
# test-valgrind) and prints every log with an error, a definite or indirect
# leak or a crash, then one line "valgrind: N process logs, E errors"; fails
# when E > 0. N counts the logs with an ERROR SUMMARY: a log without one is a
# forked child that exec'd a stage program (not traced) or a process killed
# with SIGKILL on purpose.
valgrind_report() {
  local dir=$1 f n=0 errs=0 e
  for f in "$dir"/vg.*.log; do
    [ -f "$f" ] || continue
    grep -q 'ERROR SUMMARY:' "$f" || continue
    n=$((n + 1))
    e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) error.*/\1/p' "$f" | tail -1 | tr -d ,)
    e=${e:-0}
    if [ "$e" -eq 0 ] && grep -qE 'definitely lost: [1-9]|indirectly lost: [1-9]|Process terminating with default action of signal (4|6|7|8|11) ' "$f"; then
      e=1
    fi
    if [ "$e" -gt 0 ]; then
      errs=$((errs + e))
      echo "---- $(basename "$f"): $e error(s) ----"
      grep -v '^==[0-9]*== *$' "$f" | head -150
    fi
  done
  echo "valgrind: $n process logs, $errs errors"
  [ "$n" -gt 0 ] && [ "$errs" -eq 0 ]
}

# Every suite ends with: finish
finish() {
  stop_all
  redis_stop_all
  [ "$SQ_FAILS" -eq 0 ]
}
