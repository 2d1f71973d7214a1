#!/usr/bin/env bash
# test_cli: the `stageq` command-line client against a real API and worker —
# submit (inline, @file, stdin), status, --json, watch (plain lines when piped,
# a redrawn bar inside a pseudo-terminal), cancel, pipelines, and exit codes.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tcli
flush_prefix tcli
start_api api
export STAGEQ_URL=$API_URL
unset STAGEQ_API_TOKEN
SQ="$BUILD/stageq"
T=$STAGEQ_TEST_TMP

# cli ARGS...: runs stageq; sets OUT, ERR and RC.
cli() {
  OUT=$("$SQ" "$@" 2>"$T/cli.err" </dev/null)
  RC=$?
  ERR=$(cat "$T/cli.err")
}

# --- usage errors --------------------------------------------------------------
cli
check_eq "no command: exit 2" 2 "$RC"
cli frobnicate
check_eq "unknown command: exit 2" 2 "$RC"
check "unknown command is named" grep -q frobnicate <<<"$ERR"
cli --bogus status x
check_eq "unknown global option: exit 2" 2 "$RC"
cli status
check_eq "status without an id: exit 2" 2 "$RC"
cli submit demo '{}' --nope
check_eq "unknown submit option: exit 2" 2 "$RC"
cli --help
check_eq "--help: exit 0" 0 "$RC"
check "--help lists the commands and STAGEQ_URL" grep -q 'STAGEQ_URL' <<<"$OUT"

# --- with no worker yet: submit, status, cancel of a queued job ---------------
cli submit demo '{"size":1000}' --id cli-q1
check_eq "submit --id: exit 0" 0 "$RC"
check_eq "submit --id prints the id" cli-q1 "$OUT"
check_eq "the job is in Redis" queued "$(rcli HGET tcli:job:cli-q1 state)"
cli status cli-q1
check_eq "status of a queued job: exit 0" 0 "$RC"
check "status text names the state" grep -q '^state: *queued' <<<"$OUT"
check "status text lists the stage names" \
  bash -c 'grep -q generate <<<"$1" && grep -q transform <<<"$1" && grep -q summarize <<<"$1"' _ "$OUT"
cli cancel cli-q1
check_eq "cancel of a queued job: exit 0" 0 "$RC"
check "cancel says what it did" grep -q 'canceled cli-q1 (was queued)' <<<"$OUT"
check_eq "the job is canceled" canceled "$(rcli HGET tcli:job:cli-q1 state)"
cli cancel cli-q1
check_eq "cancel of a finished job (409): exit 1" 1 "$RC"
check "cancel of a finished job prints the API's message" grep -q 'job_finished' <<<"$ERR"
cli watch cli-q1
check_eq "watch of a canceled job: exit 1" 1 "$RC"
check "watch of a canceled job says canceled" grep -q '^canceled' <<<"$OUT"

start_worker worker --concurrency 2

# --- submit: inline, @file, stdin ------------------------------------------------
cli submit echo '{"a":1}'
check_eq "submit inline JSON: exit 0" 0 "$RC"
id1=$OUT
check "submit inline prints an id that exists" test -n "$(rcli HGET "tcli:job:$id1" state)"
echo '{"b":2}' >"$T/in.json"
cli submit echo "@$T/in.json"
check_eq "submit @file: exit 0" 0 "$RC"
check "submit @file: the job exists with that input" \
  test "$(rcli HGET "tcli:job:$OUT" input | jq -c .)" = '{"b":2}'
OUT=$(echo '{"c":3}' | "$SQ" submit echo - 2>/dev/null)
RC=$?
check_eq "submit from stdin: exit 0" 0 "$RC"
check "submit stdin: the job exists with that input" \
  test "$(rcli HGET "tcli:job:$OUT" input | jq -c .)" = '{"c":3}'
cli --json submit echo '{"d":4}'
check_eq "submit --json prints the reply" queued "$(jq -r .state <<<"$OUT")"

wait_for 10 test "$(rcli HGET "tcli:job:$id1" state)" = succeeded
cli --json status "$id1"
check_eq "status --json: exit 0" 0 "$RC"
check_eq "status --json parses with jq" succeeded "$(jq -r .state <<<"$OUT")"
cli status "$id1" --json
check_eq "--json after the command works too" "$id1" "$(jq -r .id <<<"$OUT")"
cli status "$id1"
check "status text of a finished job shows the result" grep -q '^result: *{"a":1}' <<<"$OUT"

cli pipelines
check_eq "pipelines: exit 0" 0 "$RC"
check "pipelines lists demo with its stages" grep -q '^demo .*generate → transform → sort → summarize' <<<"$OUT"
cli --json pipelines
check "pipelines --json parses" test "$(jq -r '.pipelines | map(.name) | index("demo") != null' <<<"$OUT")" = true

# --- errors --------------------------------------------------------------------
cli status no-such-job
check_eq "unknown id: exit 1" 1 "$RC"
check "unknown id: the API's message" grep -q 'not found' <<<"$ERR"
cli submit demo '{"size":'
check_eq "bad JSON input: exit 2" 2 "$RC"
check "bad JSON input: a message" grep -q 'not valid JSON' <<<"$ERR"
cli submit demo "@$T/missing.json"
check_eq "missing input file: exit 2" 2 "$RC"
cli submit no-such-pipeline '{}'
check_eq "unknown pipeline (422): exit 2" 2 "$RC"
check "unknown pipeline: the API's message" grep -q 'unknown_pipeline' <<<"$ERR"
cli submit echo '{}' --id 'bad id!'
check_eq "invalid id (400): exit 2" 2 "$RC"
cli --url "http://127.0.0.1:$(free_port)" status x
check_eq "API not running: exit 3" 3 "$RC"
check "API not running: says it cannot reach it" grep -q 'cannot reach' <<<"$ERR"
cli --url ftp://x status x
check_eq "a non-http URL: exit 2" 2 "$RC"

# --- watch, piped: plain lines -------------------------------------------------
"$SQ" submit demo '{"size":300000}' --watch >"$T/watch.out" 2>&1
RC=$?
check_eq "submit --watch of a demo job: exit 0" 0 "$RC"
stages=$(grep -o '^stage [1-4]/4' "$T/watch.out" | cut -c7 | uniq | tr '\n' ' ')
check_eq "piped watch names stages 1..4 in order" "1 2 3 4 " "$stages"
check "piped watch has no carriage returns" test "$(grep -c $'\r' "$T/watch.out")" = 0
check "piped watch ends with the outcome" grep -q '^succeeded after' <<<"$(tail -1 "$T/watch.out")"

"$SQ" submit demo '{"size":0}' --watch >"$T/fail.out" 2>&1
RC=$?
check_eq "a failing job watched: exit 1" 1 "$RC"
check "a failing job: the error is shown" grep -q '^failed .*invalid_input' "$T/fail.out"

cli --json submit demo '{"size":1000}' --watch
check_eq "submit --watch --json: exit 0" 0 "$RC"
check_eq "submit --watch --json prints the final status" succeeded "$(jq -r .state <<<"$OUT")"

# --- watch on a terminal: a bar redrawn in place --------------------------------
# script(1) from util-linux runs the watch inside a pseudo-terminal.
if ! command -v script >/dev/null; then
  ok "# SKIP tty watch: script(1) is not installed"
else
  cli submit demo '{"size":1500000}'
  id=$OUT
  script -qfec "$SQ watch $id" /dev/null >"$T/tty.out" 2>&1 </dev/null
  check "watch on a tty redraws with \\r" grep -q $'\r\[stage' "$T/tty.out"
  check "the bar shows stage 2/4 and a percentage" \
    grep -qE '\[stage 2/4 transform\] \[[#-]+\] +[0-9]+%' "$T/tty.out"
  check "the bar clears to the end of line" grep -q $'\e\[K' "$T/tty.out"
  check "the bar shows elapsed and eta" grep -qE 'elapsed [0-9]+:[0-9]{2}  eta ([0-9]+:[0-9]{2}|--)' "$T/tty.out"
  check "the tty watch ends with the outcome line" grep -q 'succeeded after .* (stage 4/4 summarize)' "$T/tty.out"
  check "the job succeeded" test "$(rcli HGET "tcli:job:$id" state)" = succeeded
  check "at 80 columns every line fits" \
    test "$(tr '\r' '\n' <"$T/tty.out" | sed 's/\x1b\[K//g' | awk 'length > 79' | wc -l)" = 0

  cli submit demo '{"size":1000000}'
  id=$OUT
  script -qfec "stty cols 120; $SQ watch $id" /dev/null >"$T/tty120.out" 2>&1 </dev/null
  check "at 120 columns the bar shows the stage's message whole" \
    grep -qE '\[stage 2/4 transform\] \[[#-]+\] +[0-9]+%  transformed [0-9]+/1000000  elapsed' "$T/tty120.out"
fi

flush_prefix tcli
finish
