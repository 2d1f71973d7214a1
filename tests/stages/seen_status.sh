#!/bin/sh
# seen_status: a stage that looks at its own job the moment it starts: it
# reads GET $SEEN_API/v1/jobs/$STAGEQ_JOB_ID (what a new stream's first event
# and every open stream's next one carry) and prints {"seen": that status}.
# sh and curl: seen within a few ms of the stage's start.
cat >/dev/null
st=$(curl -s --max-time 10 "$SEEN_API/v1/jobs/$STAGEQ_JOB_ID") || exit 1
printf '{"seen": %s}\n' "$st"
