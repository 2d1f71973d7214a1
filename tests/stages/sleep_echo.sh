#!/bin/sh
# sleep_echo: sleeps for input.sleep seconds (default 1) in small steps,
# reporting progress on fd 3, then prints its input unchanged. For recovery
# and shutdown tests, which need a stage that is reliably in flight.
input=$(cat)
secs=$(printf '%s' "$input" | sed -n 's/.*"sleep":[ ]*\([0-9.]*\).*/\1/p')
[ -n "$secs" ] || secs=1
steps=$(awk -v s="$secs" 'BEGIN { n = int(s * 10); if (n < 1) n = 1; print n }')
i=0
while [ "$i" -lt "$steps" ]; do
  sleep 0.1
  i=$((i + 1))
  [ -n "$STAGEQ_PROGRESS_FD" ] && printf '{"progress":%s}\n' "$(awk -v i="$i" -v n="$steps" 'BEGIN { printf "%.3f", i / n }')" >&3
done
printf '%s\n' "$input"
