#!/usr/bin/env bash
# test_cookbook: runs every command of the redis-cli cookbook in
# docs/operations.md against a live system (API, workers, jobs queued,
# running, succeeded and failed), exactly as written, and checks each block's
# output against the pattern its "<!-- cookbook: TITLE ; expect: ERE -->"
# line gives.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=stageq # the cookbook uses the default prefix
flush_prefix stageq
T=$STAGEQ_TEST_TMP
DOC=docs/operations.md
PIPES=tests/e2e/pipelines-test.json

# redis-cli as an operator types it, but on the test's Redis (also under
# `timeout`, which a shell function would not cover).
mkdir -p "$T/cookbook-bin"
printf '#!/bin/sh\nexec %s -p %s "$@"\n' "$(command -v redis-cli)" "$REDIS_PORT" \
  >"$T/cookbook-bin/redis-cli"
chmod +x "$T/cookbook-bin/redis-cli"

start_api api --pipelines "$PIPES"
start_worker w --concurrency 2 --pipelines "$PIPES"
post_json /v1/jobs '{"pipeline":"demo","input":{"size":1000}}'
ID=$(jqr .id)
post_json /v1/jobs '{"pipeline":"permanent","input":{}}'
FAILED_ID=$(jqr .id)
post_json /v1/jobs '{"pipeline":"blog4","input":{"sleep":20}}'
RUNNING_ID=$(jqr .id)
ended() { [ "$(rcli HGET "stageq:{8209}:job:$1" state)" = "$2" ]; }
check "the demo job succeeds" wait_for 20 ended "$ID" succeeded
check "the permanent job fails" wait_for 20 ended "$FAILED_ID" failed
check "the long job runs" wait_for 20 ended "$RUNNING_ID" running
post_json /v1/jobs '{"pipeline":"idle","input":{}}' # stays queued

# Extract the blocks: title, pattern, then the commands up to the closing fence.
n=0
while IFS= read -r line; do
  case $line in
    '<!-- cookbook: '*)
      meta=${line#<!-- cookbook: }
      meta=${meta% -->}
      title=${meta%% ; expect: *}
      expect=${meta#* ; expect: }
      n=$((n + 1))
      : >"$T/cookbook.$n.sh"
      printf '%s\n' "$title" >"$T/cookbook.$n.title"
      printf '%s\n' "$expect" >"$T/cookbook.$n.expect"
      state=want_fence ;;
    '```sh')
      [ "${state:-}" = want_fence ] && state=in_block ;;
    '```')
      state= ;;
    *)
      [ "${state:-}" = in_block ] && printf '%s\n' "$line" >>"$T/cookbook.$n.sh" ;;
  esac
done <"$DOC"
check "the cookbook has at least 10 tested blocks (found $n)" test "$n" -ge 10

for i in $(seq 1 "$n"); do
  title=$(cat "$T/cookbook.$i.title")
  expect=$(cat "$T/cookbook.$i.expect")
  out=$(cd "$T" && PATH="$T/cookbook-bin:$PATH" ID=$ID FAILED_ID=$FAILED_ID \
    timeout 20 bash -e "$T/cookbook.$i.sh" 2>&1)
  rc=$?
  printf '# %s:\n%s\n' "$title" "$(printf '%s\n' "$out" | head -5 | sed 's/^/#   /')"
  check_eq "cookbook '$title' runs" 0 "$rc"
  check "cookbook '$title' prints what it says (/$expect/)" \
    grep -Eq -- "$expect" <<<"$out"
done

# The requeue did what it says: the failed job ran again (and failed again).
check_eq "the requeued job ran a second attempt" 2 "$(rcli HGET "stageq:{8209}:job:$FAILED_ID" attempt)"
check "and ended failed again" wait_for 20 ended "$FAILED_ID" failed
check_eq "its errors list both attempts" 2 \
  "$(curl -s "$API_URL/v1/jobs/$FAILED_ID" | jq '.errors | length')"

http DELETE "/v1/jobs/$RUNNING_ID"
stop_all
flush_prefix stageq
finish
