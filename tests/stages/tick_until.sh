#!/bin/sh
# tick_until: reports progress on fd 3 every 0.2 s until the file
# $STAGEQ_TEST_TMP/tick.stop exists (at most 300 s), then prints its input
# unchanged. A stage that stays in flight, writing to its job, for as long as
# a suite needs it to.
input=$(cat)
i=0
while [ ! -e "$STAGEQ_TEST_TMP/tick.stop" ] && [ "$i" -lt 1500 ]; do
  sleep 0.2
  i=$((i + 1))
  [ -n "$STAGEQ_PROGRESS_FD" ] && printf '{"progress":0.%03d,"message":"tick %d"}\n' "$((i % 1000))" "$i" >&3
done
printf '%s\n' "$input"
