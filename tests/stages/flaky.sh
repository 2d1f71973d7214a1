#!/bin/sh
# flaky: fails (exit 3) on the first attempt, echoes its input on later ones.
input=$(cat)
if [ "${STAGEQ_ATTEMPT:-1}" = 1 ]; then
  echo "flaky: failing attempt 1 on purpose" >&2
  exit 3
fi
printf '%s\n' "$input"
