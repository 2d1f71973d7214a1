#!/bin/sh
# package: stage 4 (the last) of the "train" example pipeline. POSIX sh + sed
# + awk + sha256sum (no jq, no bash).
#
# Writes the trained model as JSON to the job's work directory
#   ${STAGEQ_EXAMPLE_DIR:-/tmp/stageq-examples}/$STAGEQ_JOB_ID/model.json
# with its SHA-256, then deletes the training data (the CSV files of the work
# directory; set STAGEQ_EXAMPLE_KEEP_DATA=1 to keep them).
#
# Input (train's output): {"weights": [...], "bias": b, "loss": l,
#   "features"?: [...], "target"?: "y", "epochs"?: E, "rows"?: N, ...}
# Output (the job's result): {"artifact": path, "sha256": hex, "bytes": N,
#   "loss": l, "weights": [...], "bias": b}
#
# Stage protocol (docs/stage-protocol.md): input JSON on stdin, output JSON on
# stdout, progress lines on fd $STAGEQ_PROGRESS_FD when it is set, bad input
# -> message on stderr and exit 65 (permanent); other failures exit 1 (retried).
set -u
set -f # no globbing of what the input holds, and
IFS='
'       # lists split at newlines only
LC_ALL=C
export LC_ALL

fail() {
  echo "package: $*" >&2
  exit 65
}

pfd=${STAGEQ_PROGRESS_FD:-}
case $pfd in '' | *[!0-9]*) pfd= ;; esac

progress() { # FRACTION MESSAGE (no '"' or '\' in MESSAGE)
  [ -n "$pfd" ] || return 0
  printf '{"progress":%s,"message":"%s"}\n' "$1" "$2" 2>/dev/null 1>&"$pfd" || :
}

# A JSON number, strictly (what a model may hold).
is_number() {
  printf '%s\n' "$1" | grep -Eqx -- '-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][-+]?[0-9]+)?'
}

# field NAME: the raw text of a scalar member ("name": 1.5 -> 1.5).
field() {
  printf '%s\n' "$input" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\([^],}[:space:]]*\).*/\1/p"
}

# list NAME: the items of a flat array member, one per line, trimmed.
list() {
  printf '%s\n' "$input" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\[\([^]]*\)\].*/\1/p" |
    tr ',' '\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//; /^$/d'
}

input=$(tr '\n\r\t' '   ')
case $input in
  [[:space:]]*'{'* | '{'*) ;;
  *) fail "input must be a JSON object (train's output) with weights, bias and loss" ;;
esac
progress 0.1 "checking the model"

weights=$(list weights)
[ -n "$weights" ] || fail "input has no \"weights\" array of numbers"
for v in $weights; do
  is_number "$v" || fail "\"weights\" holds something that is not a number: $v"
done
nweights=$(printf '%s\n' "$weights" | wc -l)
bias=$(field bias)
is_number "$bias" || fail "\"bias\" must be a number, got '$bias'"
loss=$(field loss)
is_number "$loss" || fail "\"loss\" must be a number, got '$loss'"
features=$(list features)
if [ -n "$features" ]; then
  for f in $features; do
    printf '%s\n' "$f" | grep -Eqx '"[A-Za-z_][A-Za-z0-9_]*"' ||
      fail "\"features\" must be column names of [A-Za-z_][A-Za-z0-9_]*, got $f"
  done
  nfeatures=$(printf '%s\n' "$features" | wc -l)
  [ "$nfeatures" -eq "$nweights" ] || fail "$nweights weights for $nfeatures features"
else
  features=$(i=1; while [ "$i" -le "$nweights" ]; do echo "\"x$i\""; i=$((i + 1)); done)
fi
target=$(field target)
case $target in '') target='"y"' ;; esac
printf '%s\n' "$target" | grep -Eqx '"[A-Za-z_][A-Za-z0-9_]*"' ||
  fail "\"target\" must be a column name of [A-Za-z_][A-Za-z0-9_]*, got $target"
epochs=$(field epochs)
case $epochs in '' | *[!0-9]*) epochs=null ;; esac
rows=$(field rows)
case $rows in '' | *[!0-9]*) rows=null ;; esac

job=${STAGEQ_JOB_ID:-}
case $job in
  '' | . | .. | *[!A-Za-z0-9._:-]*) fail "STAGEQ_JOB_ID must be set to a job id of [A-Za-z0-9._:-] (stageq sets it)" ;;
esac
dir=${STAGEQ_EXAMPLE_DIR:-/tmp/stageq-examples}/$job
case $dir in *[\"\\]* | *'
'*) fail "the work directory '$dir' must not contain quotes, backslashes or newlines" ;; esac
mkdir -p "$dir" || exit 1
model=$dir/model.json

join() { printf '%s\n' "$1" | paste -sd, -; }
progress 0.4 "writing model.json"
printf '{"model":"linear_regression","features":[%s],"target":%s,"weights":[%s],"bias":%s,"loss":%s,"epochs":%s,"rows":%s,"job_id":"%s","created_at":"%s"}\n' \
  "$(join "$features")" "$target" "$(join "$weights")" "$bias" "$loss" "$epochs" "$rows" \
  "$job" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$model.tmp" || exit 1
mv "$model.tmp" "$model" || exit 1

progress 0.7 "computing sha256"
sha=$(sha256sum "$model" | awk '{print $1}') || exit 1
bytes=$(wc -c <"$model" | tr -d ' ')

if [ "${STAGEQ_EXAMPLE_KEEP_DATA:-0}" != 1 ]; then
  progress 0.9 "removing the training data"
  set +f
  rm -f "$dir"/*.csv "$dir"/*.csv.tmp
  set -f
fi
progress 1 "model.json written ($bytes bytes)"

printf '{"artifact":"%s","sha256":"%s","bytes":%s,"loss":%s,"weights":[%s],"bias":%s}\n' \
  "$model" "$sha" "$bytes" "$loss" "$(join "$weights")" "$bias"
