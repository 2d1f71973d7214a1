#!/usr/bin/env bash
# test_run: `make run` (deploy/run.sh) on free ports, stopped as Ctrl-C stops
# it: SIGINT to the whole process group. It must stop what it started (the
# API, the worker pool, its private Redis) and exit 0 (or 130, make's own
# answer to a Ctrl-C) without an error — also when SIGINT was ignored on
# entry (a script that ran `make run &`), where the shell cannot trap it and
# the API and workers, stopping cleanly, used to be taken for a failure
# ("make: *** Error 1").
source "$(dirname "$0")/lib.sh"
T=$STAGEQ_TEST_TMP
unset STAGEQ_REDIS_URL STAGEQ_LISTEN STAGEQ_PIPELINES

# run_case NAME IGNORE_INT COMMAND...: starts COMMAND in its own session (its
# pid is the group id) with SIGINT at its default, as a terminal's foreground
# job has it (IGNORE_INT 0), or ignored, as a script's `... &` leaves it
# (IGNORE_INT 1); waits for the API, sends SIGINT to the group, then checks
# the exit status and that every process it started is gone.
run_case() {
  local name=$1 ignore=$2; shift 2
  local rport lport pg i rpid pids rc left p
  rport=$(free_port)
  lport=$(free_port)
  export STAGEQ_RUN_REDIS_PORT=$rport STAGEQ_LISTEN="127.0.0.1:$lport"
  if [ "$ignore" = 1 ]; then
    (trap '' INT; exec setsid "$@" >"$T/run-$name.log" 2>&1) &
  else
    python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' "$@" >"$T/run-$name.log" 2>&1 &
  fi
  pg=$!
  for i in $(seq 1 $((600 * SQ_SLOW))); do
    curl -fs "http://127.0.0.1:$lport/healthz" >/dev/null 2>&1 && break
    kill -0 "$pg" 2>/dev/null || break
    sleep 0.1
  done
  check "$name: the API answers" curl -fs "http://127.0.0.1:$lport/healthz" -o /dev/null
  # every process it started: its group, and Redis (in a session of its own)
  rpid=$(redis-cli -p "$rport" INFO server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
  sleep 1 # the worker pool has forked its children
  pids="$(pgrep -g "$pg" | tr '\n' ' ')$rpid"
  check "$name: API, workers and a private Redis run" test -n "$rpid" -a "$(wc -w <<<"$pids")" -ge 4
  kill -INT -- "-$pg"
  for i in $(seq 1 $((600 * SQ_SLOW))); do kill -0 "$pg" 2>/dev/null || break; sleep 0.1; done
  rc=0
  wait "$pg" || rc=$?
  check "$name: exits 0 or 130 (got $rc)" test "$rc" -eq 0 -o "$rc" -eq 130
  check "$name: no error reported" sh -c "! grep -E 'make: \*\*\*|^process [0-9]+ exited' '$T/run-$name.log'"
  left=""
  for i in $(seq 1 $((100 * SQ_SLOW))); do
    left=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
    [ -z "$left" ] && break
    sleep 0.1
  done
  check_eq "$name: nothing it started is left" "" "$left"
  for p in $left; do kill -KILL "$p" 2>/dev/null; done
}

run_case run.sh 0 bash deploy/run.sh
run_case run.sh-int-ignored 1 bash deploy/run.sh
run_case make-run 0 make --no-print-directory run BUILD="$BUILD"
run_case make-run-int-ignored 1 make --no-print-directory run BUILD="$BUILD"

finish
