# lib.sh: helpers for the end-to-end suites (sourced). Real redis-server, real
# stageq processes on loopback, real HTTP with curl. Everything started is
# remembered by PID and stopped by stop_all / redis_stop_all, also on failure.
# Results are printed as "ok - name" / "not ok - name" lines, counted by run-all.

: "${BUILD:=build}"
: "${STAGEQ_TEST_TMP:=$(mktemp -d /tmp/stageq-test.XXXXXX)}"
SQ_PIDS=""
SQ_REDIS_NAMES=""
SQ_FAILS=0

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# redis_start NAME [extra redis-server args]: sets REDIS_PORT_<NAME>.
redis_start() {
  local name=$1; shift
  local dir="$STAGEQ_TEST_TMP/redis-$name" port i
  mkdir -p "$dir"
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "$@" >/dev/null
  for i in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  eval "REDIS_PORT_$name=$port"
  SQ_REDIS_NAMES="$SQ_REDIS_NAMES $name"
}

redis_stop() {
  local name=$1 dir="$STAGEQ_TEST_TMP/redis-$1" pid i
  [ -f "$dir/redis.pid" ] || return 0
  pid=$(cat "$dir/redis.pid")
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/redis.pid"
}

redis_stop_all() {
  local n
  for n in $SQ_REDIS_NAMES; do redis_stop "$n"; done
}

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# flush_prefix PREFIX: deletes every key under PREFIX: (a suite's own keys).
flush_prefix() {
  rcli --scan --pattern "$1:*" | xargs -r redis-cli -p "$REDIS_PORT" DEL >/dev/null
}

# start_api NAME [flags...]: starts stageq-api on a free port; sets API_URL and
# API_PID. Env STAGEQ_* from the caller applies.
start_api() {
  local name=$1; shift
  local pf="$STAGEQ_TEST_TMP/$name.port" i
  rm -f "$pf"
  "$BUILD/stageq-api" --listen 127.0.0.1:0 --port-file "$pf" \
    --redis-url "redis://127.0.0.1:$REDIS_PORT/0" "$@" >>"$STAGEQ_TEST_TMP/$name.log" 2>&1 &
  API_PID=$!
  SQ_PIDS="$SQ_PIDS $API_PID"
  for i in $(seq 1 200); do
    [ -s "$pf" ] && break
    kill -0 "$API_PID" 2>/dev/null || break
    sleep 0.05
  done
  API_URL="http://127.0.0.1:$(cat "$pf" 2>/dev/null)"
}

# start_worker NAME [flags...]: sets WORKER_PID.
start_worker() {
  local name=$1; shift
  "$BUILD/stageq-worker" --redis-url "redis://127.0.0.1:$REDIS_PORT/0" "$@" \
    >>"$STAGEQ_TEST_TMP/$name.log" 2>&1 &
  WORKER_PID=$!
  SQ_PIDS="$SQ_PIDS $WORKER_PID"
}

# stop_pid PID [timeout_s]: SIGTERM, wait, SIGKILL; sets STOP_RC to the exit
# status (not in a $(...) subshell: only this shell can wait for its children).
stop_pid() {
  local pid=$1 t=${2:-10} i
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
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  SQ_PIDS=""
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

# wait_for SECONDS COMMAND...: polls every 50 ms until the command succeeds.
wait_for() {
  local t=$1 i; shift
  for i in $(seq 1 $((t * 20))); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

# Every suite ends with: finish
finish() {
  stop_all
  redis_stop_all
  [ "$SQ_FAILS" -eq 0 ]
}
