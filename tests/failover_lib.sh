# shellcheck shell=bash
# failover_lib.sh (sourced after tests/e2e/lib.sh): what the failover suites
# share (tests/sentinel/run.sh on a Sentinel group, tests/faults/cluster.sh on
# a Redis Cluster): clocks, counts of id files, waiting for every job to end,
# the sanitizer check of the daemons' logs and the cleanup. A suite defines
# `unended DIR` (how many of its jobs are still queued or running, or nothing
# when Redis did not answer) and counts `passed` / `failed`.

now_ms() { date +%s%3N; }
secs_since() { awk -v a="$2" -v b="$1" 'BEGIN { printf "%.1f", (a - b) / 1000 }'; }
lines() { if [ -f "$1" ]; then grep -c . "$1"; else echo 0; fi; }
exited() { ! pid_running "$1"; }
api_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$API_URL/readyz")" = 200 ]; }

# settle DIR SECONDS: waits until every job of DIR has ended, for as long as
# jobs keep ending: it gives up once none has ended for SECONDS (a loaded
# machine drains slowly; a job left queued or running forever stops it).
settle() {
  local left last="" since
  since=$(date +%s)
  while :; do
    left=$(unended "$1")
    [ "$left" = 0 ] && return 0
    if [ -n "$left" ] && [ "$left" != "$last" ]; then
      last=$left
      since=$(date +%s)
    fi
    [ $(($(date +%s) - since)) -lt "$2" ] || return 1
    sleep 0.5
  done
}

# failover_cleanup KEEP: stops everything started; the logs stay when KEEP is
# not empty or a scenario failed.
failover_cleanup() {
  stop_all
  redis_stop_all
  if [ -n "$1" ] || [ "$failed" != 0 ]; then
    echo "# logs kept in $STAGEQ_TEST_TMP"
  else
    rm -rf "$STAGEQ_TEST_TMP"
  fi
}

# failover_sanitizer_check: a sanitizer report in a daemon's log fails the
# run (as in run-all.sh): prints it and counts a failure.
failover_sanitizer_check() {
  local reports r
  reports=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STAGEQ_TEST_TMP"/*.log 2>/dev/null)
  [ -n "$reports" ] || return 0
  for r in $reports; do
    echo "---- sanitizer report in $(basename "$r") ----"
    grep -A30 -E 'Sanitizer|runtime error:' "$r" | head -60
  done
  failed=$((failed + 1))
}
