#!/bin/sh
# preprocess: stage 2 of the "train" example pipeline. POSIX sh + sed + awk
# (no jq, no bash).
#
# Reads the CSV named by the input's "dataset", computes each column's mean
# and standard deviation (awk, one pass, Welford), and writes a copy with
# every feature column standardized ((x - mean) / std) and the target (the
# last column) unchanged to the job's work directory
#   ${STAGEQ_EXAMPLE_DIR:-/tmp/stageq-examples}/$STAGEQ_JOB_ID/data_norm.csv
#
# Input (prepare's output): {"dataset": path, "rows"?: N, "train"?: {...}, ...}
# Output: {"dataset": normalized path, "rows": N, "columns": [...],
#          "stats": {"x1": {"mean": m, "std": s}, ...}, "train"?: {...}}
# "train" (a flat object) is passed through untouched for the train stage.
#
# Stage protocol (docs/stage-protocol.md): input JSON on stdin, output JSON on
# stdout, progress lines on fd $STAGEQ_PROGRESS_FD when it is set, bad input
# -> message on stderr and exit 65 (permanent); other failures exit 1 and are
# retried.
set -u
LC_ALL=C # "." as the decimal point, whatever the locale
export LC_ALL

fail() { # MESSAGE: bad input, do not retry
  echo "preprocess: $*" >&2
  exit 65
}

pfd=${STAGEQ_PROGRESS_FD:-}
case $pfd in '' | *[!0-9]*) pfd= ;; esac

progress() { # FRACTION MESSAGE (no '"' or '\' in MESSAGE)
  [ -n "$pfd" ] || return 0
  printf '{"progress":%s,"message":"%s"}\n' "$1" "$2" 2>/dev/null 1>&"$pfd" || :
}

# The whole input on one line, so that sed sees pretty-printed JSON too.
input=$(tr '\n\r\t' '   ')
case $input in
  *[![:space:]]*) ;;
  *) fail "empty input: expected prepare's output, e.g. {\"dataset\":\"/path/data.csv\"}" ;;
esac
case $input in
  [[:space:]]*'{'* | '{'*) ;;
  *) fail "input must be a JSON object with a \"dataset\" path" ;;
esac

# "dataset": a string without quotes or backslashes.
dataset=$(printf '%s\n' "$input" |
  sed -n 's/.*"dataset"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p')
[ -n "$dataset" ] || fail "input has no \"dataset\" string (a path to a CSV file)"
if [ ! -f "$dataset" ] || [ ! -r "$dataset" ]; then
  fail "dataset '$dataset' is not a readable file"
fi

# "rows" (optional): checked against the file.
rows_in=$(printf '%s\n' "$input" | sed -n 's/.*"rows"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')

# "train" (optional): a flat object of numbers, passed on as it is.
train=$(printf '%s\n' "$input" |
  sed -n 's/.*"train"[[:space:]]*:[[:space:]]*\({[^{}]*}\).*/\1/p')
case $train in
  *[!-0-9A-Za-z_\":,.+\ {}]*) fail "\"train\" must be a flat object of numbers, got $train" ;;
esac

job=${STAGEQ_JOB_ID:-}
case $job in
  '' | . | .. | *[!A-Za-z0-9._:-]*) fail "STAGEQ_JOB_ID must be set to a job id of [A-Za-z0-9._:-] (stageq sets it)" ;;
esac
dir=${STAGEQ_EXAMPLE_DIR:-/tmp/stageq-examples}/$job
case $dir in *[\"\\]* | *'
'*) fail "the work directory '$dir' must not contain quotes, backslashes or newlines" ;; esac
mkdir -p "$dir" || exit 1
out=$dir/data_norm.csv
meta=$dir/preprocess.meta

lines=$(wc -l <"$dataset") || exit 1
total=$((lines > 0 ? lines - 1 : 0))
[ "$total" -gt 0 ] || fail "dataset '$dataset' has no data rows"
if [ -n "$rows_in" ] && [ "$rows_in" != "$total" ]; then
  fail "dataset '$dataset' has $total rows but the input says \"rows\": $rows_in"
fi
progress 0 "reading $total rows"

# One awk, two passes over the file: statistics, then the standardized copy.
# Progress lines go to awk's stdout, which is the progress fd (or /dev/null).
if [ -n "$pfd" ]; then exec 4>&"$pfd"; else exec 4>/dev/null; fi
awk -v total="$total" -v out="$out.tmp" -v meta="$meta" '
function bad(msg) {
  printf "preprocess: %s\n", msg > "/dev/stderr"
  failed = 1
  exit 65
}
function report(frac, msg) {
  printf "{\"progress\":%.4f,\"message\":\"%s\"}\n", frac, msg
  fflush()
}
BEGIN {
  FS = ","
  step = int(total / 10); if (step < 1) step = 1
  num = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"
}
FNR == NR && FNR == 1 {            # pass 1, header
  sub(/\r$/, "")
  ncol = NF
  if (ncol < 2) bad("the header must name at least one feature column and the target, got: " $0)
  for (i = 1; i <= NF; i++) {
    if ($i !~ /^[A-Za-z_][A-Za-z0-9_]*$/) bad("column " i " has a bad name (want [A-Za-z_][A-Za-z0-9_]*)")
    name[i] = $i
  }
  next
}
FNR == NR {                         # pass 1, data: validate, mean and M2 (Welford)
  sub(/\r$/, "")
  if (NF != ncol) bad("line " FNR " has " NF " fields, the header has " ncol)
  n++
  for (i = 1; i <= ncol; i++) {
    if ($i !~ num) bad("line " FNR ", column " name[i] ": not a number: " $i)
    x = $i + 0
    if (x > 1e300 || x < -1e300) bad("line " FNR ", column " name[i] ": out of range: " $i)
    d = x - mean[i]
    mean[i] += d / n
    m2[i] += d * (x - mean[i])
  }
  if (n % step == 0) report(0.5 * n / total, "statistics: " n "/" total " rows")
  next
}
FNR == 1 {                          # pass 2, header: finish the statistics
  for (i = 1; i <= ncol; i++) {
    sd[i] = sqrt(m2[i] / n)
    if (i < ncol && !(sd[i] > 0)) bad("feature column " name[i] " is constant: it cannot be standardized")
  }
  print > out
  next
}
{                                   # pass 2, data
  sub(/\r$/, "")
  line = ""
  for (i = 1; i < ncol; i++) line = line sprintf("%.6f,", ($i - mean[i]) / sd[i])
  print line $ncol > out
  if ((FNR - 1) % step == 0 || FNR - 1 == total)
    report(0.5 + 0.5 * (FNR - 1) / total, "standardized " (FNR - 1) "/" total " rows")
}
END {
  if (failed) exit 65
  if (n != total) bad("read " n " rows, expected " total)
  cols = ""; stats = ""
  for (i = 1; i <= ncol; i++) {
    cols = cols (i > 1 ? "," : "") "\"" name[i] "\""
    stats = stats (i > 1 ? "," : "") sprintf("\"%s\":{\"mean\":%.10g,\"std\":%.10g}", name[i], mean[i], sd[i])
  }
  printf "%s\n{%s}\n", cols, stats > meta
  close(out)
  close(meta)
}' "$dataset" "$dataset" >&4
rc=$?
exec 4>&-
if [ "$rc" -ne 0 ]; then
  rm -f "$out.tmp" "$meta"
  rmdir "$dir" 2>/dev/null # when this stage created it and it is empty
  [ "$rc" -eq 65 ] && exit 65
  echo "preprocess: awk failed with status $rc" >&2
  exit 1
fi
mv "$out.tmp" "$out" || exit 1
columns=$(sed -n 1p "$meta")
stats=$(sed -n 2p "$meta")
rm -f "$meta"

if [ -n "$train" ]; then train=",\"train\":$train"; fi
printf '{"dataset":"%s","rows":%s,"columns":[%s],"stats":%s%s}\n' \
  "$out" "$total" "$columns" "$stats" "$train"
