#!/usr/bin/env bash
# test_numbers: JSON numbers reach every stage and every client exactly as
# sent (cJSON alone prints 15 digits: 9007199254740993 came back as
# 9.00719925474099e+15, 0.30000000000000004 as 0.3, 1e400 as null). Through
# builtin (echo) and exec (cat) stages: the stored input, every stage output,
# the result, GET status, ?wait, the SSE stream, the blog's routes, the CLI.
# Numbers are compared as text (tests/e2e/jsontext.py), never through a
# float.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tnum
flush_prefix tnum
PIPES=tests/e2e/pipelines-numbers.json
T=$STAGEQ_TEST_TMP
start_api api --pipelines "$PIPES" --default-pipeline mixed
start_worker w --concurrency 1 --pipelines "$PIPES"

# as sent (with whitespace), and as it must come out (the same, compact)
IN='{ "big": 9007199254740993, "frac": 0.30000000000000004, "huge": 1e400,
  "negzero": -0, "exp": 1E+2, "long": 123456789012345678901234567890,
  "fraction": 0.1000000000000000055511151231257827021181583404541015625,
  "tiny": 4.9406564584124654e-324, "text": "1.0 stays 1.0",
  "nested": [1.5, [2e-308, {"x": -1.0e-10}], {"y": [0.1, 100000000000000000001]}] }'
WANT='{"big":9007199254740993,"frac":0.30000000000000004,"huge":1e400,"negzero":-0,"exp":1E+2,"long":123456789012345678901234567890,"fraction":0.1000000000000000055511151231257827021181583404541015625,"tiny":4.9406564584124654e-324,"text":"1.0 stays 1.0","nested":[1.5,[2e-308,{"x":-1.0e-10}],{"y":[0.1,100000000000000000001]}]}'

jt() { python3 tests/e2e/jsontext.py "$@"; }
body_at() { printf '%s' "$HTTP_BODY" | jt "$1"; }
state_of() { curl -s "$API_URL/v1/jobs/$1" | jq -r .state; }
is_final() { case $(state_of "$1") in succeeded | failed | canceled) return 0 ;; esac; return 1; }

# --- POST /v1/jobs, a builtin and an exec stage twice each ------------------
post_json /v1/jobs "{\"pipeline\":\"mixed\",\"id\":\"n1\",\"input\":$IN}"
check_eq "submit answers 202" 202 "$HTTP_STATUS"
check_eq "the stored input is the input as sent (without whitespace)" "$WANT" \
  "$(rcli HGET "$(job_key n1)" input)"
check "the job succeeds" wait_for 30 is_final n1
check_eq "it succeeded" succeeded "$(state_of n1)"
for k in 1 2 3; do
  check_eq "stage $k's stored output is the input, byte for byte" "$WANT" \
    "$(rcli HGET "$(job_key n1)" "stage.$k.output")"
done
check_eq "the stored result is the input, byte for byte" "$WANT" "$(rcli HGET "$(job_key n1)" result)"
check_eq "the last stage's output is the result, not stored twice" 0 \
  "$(rcli HEXISTS "$(job_key n1)" stage.4.output)"

http GET /v1/jobs/n1
check_eq "GET status: input" "$WANT" "$(body_at .input)"
for k in 0 1 2 3; do
  check_eq "GET status: stages[$k].output" "$WANT" "$(body_at ".stages.$k.output")"
done
check_eq "GET status: result" "$WANT" "$(body_at .result)"

# --- the SSE stream ------------------------------------------------------------
curl -s -N --max-time 10 "$API_URL/v1/jobs/n1/events" >"$T/num-ev.out"
ev=$(sed -n 's/^data: //p' "$T/num-ev.out" | head -1)
check_eq "SSE: the status event carries the result as sent" "$WANT" "$(printf '%s' "$ev" | jt .result)"
check_eq "SSE: and the input" "$WANT" "$(printf '%s' "$ev" | jt .input)"

# --- ?wait, and each awkward number as the whole input ---------------------------
post_json '/v1/jobs?wait=30' "{\"pipeline\":\"mixed\",\"input\":$IN}"
check_eq "?wait: the status holds the result as sent" "$WANT" "$(body_at .result)"
for n in 9007199254740993 0.30000000000000004 1e400 -0 1E+2 123456789012345678901234567890 \
  0.1000000000000000055511151231257827 '[-0,1e400]' '{"a":{"b":[9007199254740993]}}'; do
  post_json '/v1/jobs?wait=30' "{\"pipeline\":\"mixed\",\"input\": $n }"
  check_eq "input $n: ?wait's result" "$n" "$(body_at .result)"
  check_eq "input $n: its stored input" "$n" "$(rcli HGET "$(job_key "$(jqr .id)")" input)"
done

# --- an exec stage's output is the text it wrote -----------------------------
post_json '/v1/jobs?wait=30' '{"pipeline":"catonly","input":[1.0, 2.50, 1e2]}'
check_eq "exec: 1.0, 2.50 and 1e2 stay as written" '[1.0,2.50,1e2]' "$(body_at .result)"

# --- the blog's routes ---------------------------------------------------------
post_json /start_task/blog-n "{\"data\":$IN}"
check_eq "start_task answers 200" 200 "$HTTP_STATUS"
check_eq "start_task: data is stored as sent" "$WANT" "$(rcli HGET "$(job_key blog-n)" input)"
check "the blog's job succeeds" wait_for 30 is_final blog-n
http GET /task_status/blog-n
check_eq "task_status: the result as sent" "$WANT" "$(body_at .result)"

# --- the CLI -------------------------------------------------------------------
export STAGEQ_URL=$API_URL
out=$("$BUILD/stageq" --json status n1)
check_eq "stageq --json status: the result as sent" "$WANT" "$(printf '%s' "$out" | jt .result)"
out=$("$BUILD/stageq" status n1 | sed -n 's/^result: *//p')
check_eq "stageq status: the result line as sent" "$WANT" "$out"
id=$("$BUILD/stageq" submit mixed "$IN" --id n-cli)
check_eq "stageq submit: the input is sent as given" "$WANT" "$(rcli HGET "$(job_key n-cli)" input)"
out=$("$BUILD/stageq" submit mixed '[0.30000000000000004]' --watch --json)
check_eq "stageq submit --watch --json: the result as sent" '[0.30000000000000004]' \
  "$(printf '%s' "$out" | jt .result)"
: "$id"

# --- strictness is unchanged ------------------------------------------------------
post_json /v1/jobs '{"pipeline":"mixed","input":[01]}'
check_eq "a leading zero is still refused" "400 malformed_json" "$HTTP_STATUS $(jqr .error.code)"
post_json /v1/jobs '{"pipeline":"mixed","input":[1.]}'
check_eq "a bare point is still refused" "400 malformed_json" "$HTTP_STATUS $(jqr .error.code)"

finish
