# lib.sh: helpers for the end-to-end suites (sourced). Real redis-server, real
# stageq processes on loopback, real HTTP with curl. Everything started is
# remembered by PID and stopped by stop_all / redis_stop_all, also on failure.
# Results are printed as "ok - name" / "not ok - name" lines, counted by run-all.

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
  echo "$port" >"$dir/port"
  eval "REDIS_PORT_${name//-/_}=$port"
  SQ_REDIS_NAMES="$SQ_REDIS_NAMES $name"
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
  "${SQ_WRAP[@]}" "$BUILD/stageq-api" --listen 127.0.0.1:0 --port-file "$pf" \
    --redis-url "redis://127.0.0.1:$REDIS_PORT/0" "$@" >>"$STAGEQ_TEST_TMP/$name.log" 2>&1 &
  API_PID=$!
  SQ_PIDS="$SQ_PIDS $API_PID"
  for i in $(seq 1 $((200 * SQ_SLOW))); do
    [ -s "$pf" ] && break
    kill -0 "$API_PID" 2>/dev/null || break
    sleep 0.05
  done
  API_URL="http://127.0.0.1:$(cat "$pf" 2>/dev/null)"
}

# start_worker NAME [flags...]: sets WORKER_PID.
start_worker() {
  local name=$1; shift
  "${SQ_WRAP[@]}" "$BUILD/stageq-worker" --redis-url "redis://127.0.0.1:$REDIS_PORT/0" "$@" \
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
