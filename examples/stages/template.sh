#!/bin/sh
# A stageq exec stage in POSIX shell: copy this file and replace the work.
#
# The protocol (docs/stage-protocol.md) in five lines:
#   1. the input (the job input, or the previous stage's output) is JSON on stdin;
#   2. progress goes to fd $STAGEQ_PROGRESS_FD (3), one JSON line per report:
#      {"progress":0.42,"message":"step 4/10"} (only when the variable is set,
#      so that the script also runs by hand);
#   3. the output is one JSON value on stdout (nothing else may go there: log
#      to stderr, which stageq logs and keeps the tail of);
#   4. exit 0 = success, exit 65 = bad input (failed, never retried), any
#      other status = failed, retried while the job has attempts left;
#   5. STAGEQ_JOB_ID, STAGEQ_STAGE, STAGEQ_STAGE_INDEX, STAGEQ_STAGE_COUNT and
#      STAGEQ_ATTEMPT say which job, stage and attempt this is.
#
# This one takes {"n": 1..100 (default 5)} and returns {"n": n, "sum": 1+..+n},
# sleeping 1 s per step so that its progress can be watched. By hand:
#   echo '{"n": 3}' | STAGEQ_PROGRESS_FD=3 sh examples/stages/template.sh 3>&2
# Without jq, read simple fields with sed; print JSON with printf, and only
# put text you have checked (digits, known names) inside it.
set -u

progress() { # FRACTION MESSAGE
  case ${STAGEQ_PROGRESS_FD:-} in
    '' | *[!0-9]*) return 0 ;;
  esac
  printf '{"progress":%s,"message":"%s"}\n' "$1" "$2" >&"$STAGEQ_PROGRESS_FD"
}

fail() {
  echo "template: $*" >&2
  exit 65 # permanent: running it again would not help
}

input=$(tr '\n' ' ') # all of stdin, on one line
case $input in
  *'"n"'*)
    n=$(printf '%s\n' "$input" | sed -n 's/.*"n"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\)[^0-9.eE].*/\1/p')
    [ -n "$n" ] || fail "'n' must be an integer from 1 to 100" ;;
  *) n=5 ;;
esac
if [ "$n" -lt 1 ] || [ "$n" -gt 100 ]; then
  fail "'n' must be an integer from 1 to 100, got $n"
fi

echo "job ${STAGEQ_JOB_ID:-?}, stage ${STAGEQ_STAGE:-?}, attempt ${STAGEQ_ATTEMPT:-?}" >&2
i=0
sum=0
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  sum=$((sum + i)) # the work
  sleep 1
  progress "$(awk -v i="$i" -v n="$n" 'BEGIN { printf "%.4f", i / n }')" "step $i/$n"
done

printf '{"n":%s,"sum":%s}\n' "$n" "$sum"
