#!/usr/bin/env bash
# run.sh: `make run`. Starts a private Redis under run/ (unless
# STAGEQ_REDIS_URL is set) on STAGEQ_RUN_REDIS_PORT (6380, or the next free
# port), stageq-api on STAGEQ_LISTEN (127.0.0.1:8080) and a stageq-worker pool
# (binaries from BUILD, default build/), prints how to submit a demo job, and
# stops all of it on Ctrl-C (or when one of them exits): exit 0 after a
# Ctrl-C or a clean stop, 1 when a process failed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
run="$top/run"
mkdir -p "$run/redis"
pids=""

redis_pid=""

# Stops the API and the workers first (a Ctrl-C has already reached them
# through the terminal), then the private Redis, which runs in its own session
# so that it outlives them and takes their last writes.
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping stageq..."
  for p in $pids $redis_pid; do
    i=0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 10 ]; do sleep 0.1; i=$((i + 1)); done
    kill -TERM "$p" 2>/dev/null || true
    i=0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 350 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$p" 2>/dev/null || true
  done
  echo "stopped."
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

port_in_use() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${STAGEQ_REDIS_URL:-}" ]; then
  port=${STAGEQ_RUN_REDIS_PORT:-6380}
  while port_in_use "$port"; do port=$((port + 1)); done
  setsid redis-server "$top/deploy/redis.conf" --port "$port" --dir "$run/redis" \
    --logfile "$run/redis/redis.log" --daemonize no &
  redis_pid=$!
  i=0
  until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "redis-server did not start: see $run/redis/redis.log" >&2; exit 1; }
    sleep 0.1
  done
  STAGEQ_REDIS_URL="redis://127.0.0.1:$port/0"
  echo "redis:  $STAGEQ_REDIS_URL (data in run/redis, log run/redis/redis.log)"
fi
export STAGEQ_REDIS_URL
listen=${STAGEQ_LISTEN:-127.0.0.1:8080}
export STAGEQ_LISTEN="$listen"

"$BUILD/stageq-api" &
pids="$pids $!"
"$BUILD/stageq-worker" &
pids="$pids $!"

i=0
until curl -fsS "http://$listen/healthz" >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -gt 100 ] && { echo "stageq-api did not start" >&2; exit 1; }
  sleep 0.1
done
cat <<MSG

stageq is running: API http://$listen, workers on ${STAGEQ_REDIS_URL}. Ctrl-C stops it.

Submit a demo job (4 stages of real CPU work):
  curl -s -XPOST http://$listen/v1/jobs -H 'content-type: application/json' -d '{"pipeline":"demo","input":{"size":2000000}}'
Read its status (use the id from the reply; repeat to watch it move):
  curl -s http://$listen/v1/jobs/<id>

MSG
# Wait until Ctrl-C or until any process exits. A Ctrl-C reaches the API and
# the workers too (the terminal signals the whole foreground group), and they
# stop cleanly with status 0: that is a stop, not a failure, even when this
# shell never sees the SIGINT (one ignored on entry, as by a shell that
# started `make run &`, cannot be trapped).
while :; do
  for p in $pids $redis_pid; do
    if ! kill -0 "$p" 2>/dev/null; then
      rc=0
      wait "$p" 2>/dev/null || rc=$?
      if [ "$rc" -eq 0 ]; then
        echo "process $p stopped; stopping the rest"
        exit 0
      fi
      echo "process $p exited with status $rc; stopping the rest" >&2
      exit 1
    fi
  done
  sleep 1
done
