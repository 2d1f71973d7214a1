#!/usr/bin/env bash
# test_examples: the "train" example pipeline of deploy/pipelines.json end to
# end — four exec stages in Python and POSIX sh (examples/train/) run by a
# real worker: each stage's output, the model it learns, the artifact and its
# sha256, progress seen while training, and a bad input that fails at once
# (exit 65: permanent, not retried) with the stage's own message.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tex
flush_prefix tex
P=deploy/pipelines.json
# The stages write under STAGEQ_EXAMPLE_DIR/<job id>/; the worker passes its
# environment on to them.
export STAGEQ_EXAMPLE_DIR="$STAGEQ_TEST_TMP/examples"
mkdir -p "$STAGEQ_EXAMPLE_DIR"
start_api api-ex --pipelines "$P"
start_worker worker-ex --pipelines "$P" --concurrency 2

http GET /v1/pipelines
check_eq "the train pipeline is listed with its 4 exec stages" \
  "prepare:exec preprocess:exec train:exec package:exec 3" \
  "$(jqr '.pipelines[] | select(.name == "train") | ([.stages[] | .name + ":" + .kind] | join(" ")) + " " + (.max_attempts | tostring)')"

# --- a train job, watched while it runs -------------------------------------------
# 500 epochs on 5000 rows: the train stage lasts about a second, time enough to
# see its progress; the "train" settings travel from the job input through
# prepare and preprocess.
post_json /v1/jobs '{"pipeline":"train","input":{"rows":5000,"seed":7,"train":{"epochs":500}}}'
check_eq "POST train job answers 202" 202 "$HTTP_STATUS"
id=$(jqr .id)

seen="$STAGEQ_TEST_TMP/seen-ex.$$"
: >"$seen"
urls=$(for _ in $(seq 1 100); do printf '%s ' "$API_URL/v1/jobs/$id"; done)
deadline=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt "$deadline" ]; do
  # shellcheck disable=SC2086
  curl -s $urls | jq -c '[.state, .stage, .stage_name, .progress, .message, .overall_progress]' \
    >>"$seen" 2>/dev/null
  grep -q '"succeeded"\|"failed"\|"canceled"' "$seen" && break
done

http GET "/v1/jobs/$id"
check_eq "the train job succeeded within 60 s" succeeded "$(jqr .state)"
check_eq "on its first attempt" 1 "$(jqr .attempt)"
check_eq "4 stages succeeded, in order" \
  "prepare:succeeded preprocess:succeeded train:succeeded package:succeeded" \
  "$(jqr '[.stages[] | .name + ":" + .state] | join(" ")')"

check_eq "prepare's output: dataset, rows, columns, train settings" \
  "true 5000 x1,x2,x3,y 500 0.1" \
  "$(jqr '.stages[0].output | [(.dataset | type == "string"), .rows, (.columns | join(",")), .train.epochs, .train.learning_rate] | map(tostring) | join(" ")')"
check_eq "preprocess's output: the standardized dataset, rows, stats per column" \
  "true 5000 x1,x2,x3,y true" \
  "$(jqr '.stages[1].output | [(.dataset | endswith("/data_norm.csv")), .rows, (.stats | keys_unsorted | join(",")), ([.stats[] | .std > 0] | all)] | map(tostring) | join(" ")')"
check_eq "train's output: weights, bias, loss, epochs, dataset" \
  "3 true true 500 true 500" \
  "$(jqr '.stages[2].output | [(.weights | length), (.bias | type == "number"), (.loss | type == "number"), .epochs, (.dataset | type == "string"), (.loss_history | length)] | map(tostring) | join(" ")')"
check_eq "package's output: artifact, sha256, loss" "true true true" \
  "$(jqr '.stages[3].output | [(.artifact | type == "string"), (.sha256 | test("^[0-9a-f]{64}$")), (.loss | type == "number")] | map(tostring) | join(" ")')"
check_eq "the result is the package stage's output" true "$(jqr '.result == .stages[3].output')"

loss=$(jqr .result.loss)
check "the final loss is near the noise level (0.1² = 0.01): $loss < 0.05" \
  awk -v l="$loss" 'BEGIN { exit !(l > 0 && l < 0.05) }'
check "the loss went down during training" \
  test "$(jqr '.stages[2].output | .loss_history[0] > 10 * .loss')" = true
check_eq "the model found y = 3·x1 − 2·x2 + 0.5·x3 + 1" true \
  "$(jqr '.result | ([.weights, [3, -2, 0.5]] | transpose | map(.[0] - .[1] | fabs < 0.05) | all) and ((.bias - 1) | fabs < 0.1)')"

artifact=$(jqr .result.artifact)
check_eq "the artifact is model.json in the job's work directory" \
  "$STAGEQ_EXAMPLE_DIR/$id/model.json" "$artifact"
check "the artifact exists" test -s "$artifact"
check_eq "its sha256 matches" "$(jqr .result.sha256)" "$(sha256sum "$artifact" 2>/dev/null | cut -d' ' -f1)"
check_eq "model.json holds the trained weights" "$(jqr -c .result.weights)" \
  "$(jq -c .weights "$artifact" 2>/dev/null)"
check_eq "the training data were deleted, model.json kept" "model.json" \
  "$(ls "$STAGEQ_EXAMPLE_DIR/$id" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"

train_seen=$(grep '^\["running",3,"train",' "$seen")
check "progress of the train stage was seen mid-run (0 < progress < 1, 'epoch k/500 loss …')" \
  grep -Eq '^\["running",3,"train",0\.[0-9]*[1-9][0-9]*,"epoch [0-9]+/500 loss [0-9.e+-]+"' <<<"$train_seen"
bad=$(jq -r 'select(.[3] < 0 or .[3] > 1 or .[5] < 0 or .[5] > 1)' "$seen" | wc -l)
check_eq "progress and overall_progress stay within 0..1" 0 "$bad"
stages_seen=$(grep '"running"' "$seen" | jq -r '.[1]' | uniq | tr '\n' ' ')
check "stages were seen in increasing order ($stages_seen)" \
  awk -v s="$stages_seen" 'BEGIN { n = split(s, a, " "); for (i = 2; i <= n; i++) if (a[i] <= a[i-1]) exit 1 }'

# --- bad input: exit 65 in prepare, failed at once, not retried -------------------
post_json /v1/jobs '{"pipeline":"train","input":{"rows":-5}}'
bad_id=$(jqr .id)
final() { case "$(rcli HGET "tex:{8209}:job:$1" state)" in succeeded | failed | canceled) return 0 ;; esac; return 1; }
check "a train job with rows -5 ends within 30 s" wait_for 30 final "$bad_id"
http GET "/v1/jobs/$bad_id"
check_eq "it failed in prepare with exit status 65 on attempt 1" \
  "failed exit_status 65 prepare 1 1" \
  "$(jqr '[.state, .error.code, .error.exit_status, .error.stage, .error.attempt, .attempt] | map(tostring) | join(" ")')"
check_eq "it is not retryable and was tried once" "false 1" \
  "$(jqr '[.error.retryable, (.errors | length)] | map(tostring) | join(" ")')"
check "its stderr_tail names the problem" \
  grep -q "'rows' must be an integer from 1 to 5000000, got -5" <<<"$(jqr .error.stderr_tail)"
check_eq "later stages never ran" "failed pending pending pending" \
  "$(jqr '[.stages[].state] | join(" ")')"
check "it left no work directory" test ! -e "$STAGEQ_EXAMPLE_DIR/$bad_id"

# --- the example's Python client: submit, then watch over the event stream ---------
out=$(timeout 300 python3 examples/train/client.py --url "$API_URL" --rows 5000 --seed 3 \
        --epochs 500 --timeout 240 2>&1)
rc=$?
check_eq "examples/train/client.py exits 0 for a job that succeeded" 0 "$rc"
check "it printed the id it submitted first" grep -Eq '^submitted [0-9a-f-]{36}$' <<<"$(head -1 <<<"$out")"
check "it printed the train stage's progress as the stream brought it" \
  grep -Eq "^running	train	0\.[0-9]+	epoch [0-9]+/500 loss " <<<"$out"
check "then the succeeded status" grep -q "^succeeded	package	" <<<"$out"
check_eq "and last the result with the model" 3 "$(tail -1 <<<"$out" | jq '.weights | length' 2>/dev/null)"
out=$(timeout 120 python3 examples/train/client.py --url "$API_URL" --rows -5 --timeout 100 2>&1)
rc=$?
check_eq "for rows -5 it exits 1 and prints the error (exit status 65, in prepare)" "1 65 prepare" \
  "$rc $(tail -1 <<<"$out" | jq -r '[.exit_status, .stage] | map(tostring) | join(" ")' 2>/dev/null)"
out=$(timeout 60 python3 examples/train/client.py --url "$API_URL/nope" --rows 5 2>&1)
rc=$?
check "an API error exits 2 with the API's code" test "$rc" = 2 -a -n "$(grep 'not_found' <<<"$out")"

stop_pid "$WORKER_PID" 10
check_eq "SIGTERM: the worker exits 0" 0 "$STOP_RC"
rm -rf "$STAGEQ_EXAMPLE_DIR"
finish
