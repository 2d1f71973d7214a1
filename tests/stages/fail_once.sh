#!/bin/sh
# fail_once DIR: fails (exit 3) the first time it runs for a job (it leaves
# the marker DIR/<job id>), echoes its input every later time, whatever the
# attempt number (a retried job starts again at attempt 1). Each run appends
# the job id to DIR/runs.
input=$(cat)
echo "$STAGEQ_JOB_ID" >>"$1/runs"
marker="$1/$STAGEQ_JOB_ID"
if [ ! -e "$marker" ]; then
  : >"$marker"
  echo "fail_once: failing the first run on purpose" >&2
  exit 3
fi
printf '%s\n' "$input"
