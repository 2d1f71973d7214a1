#!/usr/bin/env bash
# test_options: the options both daemons read are one set of rows (the same
# name, limits, default and help in each --help), the ones that differ on
# purpose have different names, and the API still reads the old name of its
# renamed option (STAGEQ_REDIS_TIMEOUT_MS, --redis-timeout-ms) for one release.
source "$(dirname "$0")/lib.sh"
T=$STAGEQ_TEST_TMP

sq_run stageq-api --help >"$T/api.help" 2>&1
check_eq "stageq-api --help exits 0" 0 "$?"
sq_run stageq-worker --help >"$T/worker.help" 2>&1
check_eq "stageq-worker --help exits 0" 0 "$?"

# help_of FILE FLAG: the two lines --help prints for --FLAG (name line, help line).
help_of() { grep -A1 -- "^  --$2 " "$1"; }
for f in redis-url prefix min-replicas pipelines result-ttl-s log log-level; do
  a=$(help_of "$T/api.help" "$f")
  check "--$f is in the API's --help" test -n "$a"
  check_eq "--$f: the same row in both daemons" "$a" "$(help_of "$T/worker.help" "$f")"
done
check "the API's Redis wait is --request-timeout-ms" grep -q -- '^  --request-timeout-ms .*STAGEQ_REQUEST_TIMEOUT_MS .*2000$' "$T/api.help"
check "the worker's socket timeout keeps --redis-timeout-ms" grep -q -- '^  --redis-timeout-ms .*STAGEQ_REDIS_TIMEOUT_MS .*5000$' "$T/worker.help"
check "the API's --help names the old name" grep -q -- '(formerly --redis-timeout-ms STAGEQ_REDIS_TIMEOUT_MS: still read for one release)' "$T/api.help"

# The old env name still sets the API's option (its bounds name the new flag) ...
out=$(STAGEQ_REDIS_TIMEOUT_MS=5 sq_run stageq-api --listen 127.0.0.1:0 2>&1)
check_eq "STAGEQ_REDIS_TIMEOUT_MS=5: the API exits 2" 2 "$?"
check_eq "... naming the old variable and the option" \
  "stageq-api: STAGEQ_REDIS_TIMEOUT_MS (--request-timeout-ms): 5 is out of range [10, 600000]" "$out"
out=$(sq_run stageq-api --listen 127.0.0.1:0 --redis-timeout-ms 5 2>&1)
check_eq "--redis-timeout-ms 5: the API exits 2 too" 2 "$?"
# ... and the new name wins when both are set: a bad old value is not read then.
out=$(STAGEQ_REDIS_TIMEOUT_MS=5 STAGEQ_REQUEST_TIMEOUT_MS=7 sq_run stageq-api --listen 127.0.0.1:0 2>&1)
check_eq "both set: the new name's value is the one checked" \
  "stageq-api: STAGEQ_REQUEST_TIMEOUT_MS (--request-timeout-ms): 7 is out of range [10, 600000]" "$out"
# The worker's own bounds: 100..60000.
out=$(STAGEQ_REDIS_TIMEOUT_MS=50 sq_run stageq-worker 2>&1)
check_eq "the worker's STAGEQ_REDIS_TIMEOUT_MS=50 exits 2" 2 "$?"
check_eq "... with the worker's bounds" \
  "stageq-worker: STAGEQ_REDIS_TIMEOUT_MS (--redis-timeout-ms): 50 is out of range [100, 60000]" "$out"
# The shared checks answer alike in both daemons.
for bin in stageq-api stageq-worker; do
  out=$(sq_run "$bin" --prefix 'bad prefix' 2>&1)
  check_eq "$bin --prefix 'bad prefix' exits 2" 2 "$?"
  check "$bin names --prefix" grep -q -- "--prefix: 'bad prefix' must be 1-64 characters" <<<"$out"
  out=$(sq_run "$bin" --log-level loud 2>&1)
  check "$bin names --log-level" grep -q -- "--log-level: 'loud' is not error, warn, info or debug" <<<"$out"
done
finish
