#!/usr/bin/env bash
# test_cli: the `stageq` command-line client against a real API and worker —
# submit (inline, @file, stdin), status, --json, watch over the SSE stream
# (plain lines when piped, a redrawn bar inside a pseudo-terminal, reconnect
# across an API restart, SSE framing and fallback against a scripted server),
# cancel, list, stats, workers, pipelines, and exit codes.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tcli
flush_prefix tcli
PIPES=tests/e2e/pipelines-test.json
start_api api --pipelines "$PIPES"
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
check_eq "the job is in Redis" queued "$(rcli HGET "$(job_key cli-q1)" state)"
cli status cli-q1
check_eq "status of a queued job: exit 0" 0 "$RC"
check "status text names the state" grep -q '^state: *queued' <<<"$OUT"
check "status text lists the stage names" \
  bash -c 'grep -q generate <<<"$1" && grep -q transform <<<"$1" && grep -q summarize <<<"$1"' _ "$OUT"
cli cancel cli-q1
check_eq "cancel of a queued job: exit 0" 0 "$RC"
check "cancel says what it did" grep -q 'canceled cli-q1 (was queued)' <<<"$OUT"
check_eq "the job is canceled" canceled "$(rcli HGET "$(job_key cli-q1)" state)"
cli cancel cli-q1
check_eq "cancel of a finished job (409): exit 1" 1 "$RC"
check "cancel of a finished job prints the API's message" grep -q 'job_finished' <<<"$ERR"
cli watch cli-q1
check_eq "watch of a canceled job: exit 1" 1 "$RC"
check "watch of a canceled job says canceled" grep -q '^canceled' <<<"$OUT"

start_worker worker --concurrency 2 --pipelines "$PIPES"

# --- submit: inline, @file, stdin ------------------------------------------------
cli submit echo '{"a":1}'
check_eq "submit inline JSON: exit 0" 0 "$RC"
id1=$OUT
check "submit inline prints an id that exists" test -n "$(rcli HGET "$(job_key "$id1")" state)"
echo '{"b":2}' >"$T/in.json"
cli submit echo "@$T/in.json"
check_eq "submit @file: exit 0" 0 "$RC"
check "submit @file: the job exists with that input" \
  test "$(rcli HGET "$(job_key "$OUT")" input | jq -c .)" = '{"b":2}'
OUT=$(echo '{"c":3}' | "$SQ" submit echo - 2>/dev/null)
RC=$?
check_eq "submit from stdin: exit 0" 0 "$RC"
check "submit stdin: the job exists with that input" \
  test "$(rcli HGET "$(job_key "$OUT")" input | jq -c .)" = '{"c":3}'
cli --json submit echo '{"d":4}'
check_eq "submit --json prints the reply" queued "$(jq -r .state <<<"$OUT")"

wait_for 10 test "$(rcli HGET "$(job_key "$id1")" state)" = succeeded
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
  check "the bar shows elapsed and ETA" \
    grep -qE 'elapsed [0-9]+:[0-9]{2}  ETA ([0-9]+[hms][0-9]*[ms]?|--)' "$T/tty.out"
  check "the tty watch ends with the outcome line" grep -q 'succeeded after .* (stage 4/4 summarize)' "$T/tty.out"
  check "the job succeeded" test "$(rcli HGET "$(job_key "$id")" state)" = succeeded
  check "at 80 columns every line fits" \
    test "$(tr '\r' '\n' <"$T/tty.out" | sed 's/\x1b\[K//g' | awk 'length > 79' | wc -l)" = 0

  cli submit demo '{"size":1000000}'
  id=$OUT
  script -qfec "stty cols 120; $SQ watch $id" /dev/null >"$T/tty120.out" 2>&1 </dev/null
  check "at 120 columns the bar shows the stage's message whole" \
    grep -qE '\[stage 2/4 transform\] \[[#-]+\] +[0-9]+%  transformed [0-9]+/1000000  elapsed' "$T/tty120.out"
fi

# --- watch over the event stream (SSE), not polling --------------------------------
# blog4: 4 exec stages of input.sleep s each. The API logs every request it
# answers: the watch must have used GET /v1/jobs/ID/events once and never
# GET /v1/jobs/ID.
cli submit blog4 '{"sleep":0.3}' --id tw-sse
"$SQ" watch tw-sse >"$T/sse.out" 2>&1
RC=$?
t_exit=$(date +%s%3N)
check_eq "watch of a blog4 job: exit 0" 0 "$RC"
stages=$(grep -oE '^stage [1-4]/4 [a-z]+' "$T/sse.out" | uniq | tr '\n' ,)
check_eq "watch shows every stage, in order" "stage 1/4 one,stage 2/4 two,stage 3/4 three,stage 4/4 four," "$stages"
check "watch saw stages 2..4 while they ran (lines with a %)" \
  test "$(grep -cE '^stage [2-4]/4 [a-z]+ +[0-9]+%' "$T/sse.out")" -ge 3
wait_for 5 grep -q 'GET /v1/jobs/tw-sse/events 200' "$T/api.log"
check_eq "watch read one event stream (GET /v1/jobs/tw-sse/events)" 1 \
  "$(grep -c 'GET /v1/jobs/tw-sse/events ' "$T/api.log")"
check_eq "watch never polled GET /v1/jobs/tw-sse" 0 "$(grep -c 'GET /v1/jobs/tw-sse ' "$T/api.log")"
fin=$(date -d "$(rcli HGET "$(job_key tw-sse)" finished_at)" +%s%3N 2>/dev/null)
[ -n "$fin" ] && echo "# watch exited $((t_exit - fin)) ms after the job finished (figure, not asserted)"
cli watch no-such-job
check_eq "watch of an unknown job (404 on the stream): exit 1" 1 "$RC"
check "watch of an unknown job: the API's message" grep -q 'not found' <<<"$ERR"
cli --url "http://127.0.0.1:$(free_port)" watch tw-sse
check_eq "watch with the API not running: exit 3" 3 "$RC"

# --- list --------------------------------------------------------------------------
# idle runs on queue "idle", which no worker serves: these stay queued.
for i in 1 2 3; do
  cli submit idle '{}' --id "tl-idle-$i"
  sleep 0.02 # distinct creation times, so "newest first" is one order
done
cli list --pipeline idle
check_eq "list --pipeline: exit 0" 0 "$RC"
check "list: a header with the columns" grep -qE '^ID +PIPELINE +STATE +STAGE +PROGRESS +AGE$' <<<"$(head -1 <<<"$OUT")"
check_eq "list --pipeline idle: its jobs, newest first" "tl-idle-3 tl-idle-2 tl-idle-1" \
  "$(awk 'NR > 1 { print $1 }' <<<"$OUT" | paste -sd ' ')"
check "list row: id, pipeline, state, stage, progress, age" \
  grep -qE '^tl-idle-3 +idle +queued +-/1 +0% +[0-9]+s$' <<<"$OUT"
cli list
check_eq "list: the newest job first" tl-idle-3 "$(awk 'NR == 2 { print $1 }' <<<"$OUT")"
check "list: a finished blog4 job shows its last stage at 100%" \
  grep -qE '^tw-sse +blog4 +succeeded +4/4 four +100% ' <<<"$OUT"
check "list: a failed demo job is there too" grep -qE ' demo +failed +1/4 generate ' <<<"$OUT"
cli list --state queued --pipeline idle --limit 2
check_eq "list --limit 2: two rows" "tl-idle-3 tl-idle-2" "$(awk 'NR > 1 { print $1 }' <<<"$OUT" | paste -sd ' ')"
check "list --limit: the next cursor on stderr" grep -q '^more: stageq list --cursor ' <<<"$ERR"
cursor=$(sed -n 's/^more: stageq list --cursor //p' <<<"$ERR")
cli list --state queued --pipeline idle --limit 2 --cursor "$cursor"
check_eq "list --cursor: the next page" tl-idle-1 "$(awk 'NR > 1 { print $1 }' <<<"$OUT" | paste -sd ' ')"
cli list --state succeeded
check_eq "list --state succeeded: only succeeded jobs" succeeded "$(awk 'NR > 1 { print $3 }' <<<"$OUT" | sort -u)"
cli --json list --pipeline idle
check_eq "list --json: valid JSON, newest first" "tl-idle-3,tl-idle-2,tl-idle-1" \
  "$(jq -r '[.jobs[].id] | join(",")' <<<"$OUT")"
cli list --all --limit 1 --pipeline=idle --json
check_eq "list --all --json: follows next_cursor to the end" "3 null" \
  "$(jq -r '"\(.jobs | length) \(.next_cursor)"' <<<"$OUT")"
cli list --state bogus
check_eq "list --state bogus: exit 2" 2 "$RC"
check "list --state bogus: says which values are allowed" grep -q "state: 'bogus' is not queued, scheduled, running" <<<"$ERR"
for bad in 0 501 abc 5x -1; do
  cli list --limit "$bad"
  check_eq "list --limit $bad: exit 2" 2 "$RC"
done
check "list --limit: says the range" grep -q 'is not an integer in \[1, 500\]' <<<"$ERR"
cli list --limit
check_eq "list --limit without a value: exit 2" 2 "$RC"
cli list --cursor not-a-cursor
check_eq "list --cursor garbage (the API's 400): exit 2" 2 "$RC"
cli list extra
check_eq "list with a positional: exit 2" 2 "$RC"
cli --url "http://127.0.0.1:$(free_port)" list
check_eq "list with the API not running: exit 3" 3 "$RC"

# --- stats, workers -----------------------------------------------------------------
wait_for 10 bash -c '[ "$("$1" --json stats | jq -r .workers_alive)" = 2 ]' _ "$SQ"
cli --json stats
check_eq "stats: exit 0" 0 "$RC"
check_eq "stats --json: queue idle holds the 3 idle jobs, no worker" "3 0 0 0" \
  "$(jq -r '.queues.idle | "\(.queued) \(.delayed) \(.running) \(.workers)"' <<<"$OUT")"
check_eq "stats --json: 2 workers alive (--concurrency 2)" 2 "$(jq -r .workers_alive <<<"$OUT")"
check_eq "stats --json: both serve queue default" 2 "$(jq -r .queues.default.workers <<<"$OUT")"
check_eq "stats --json: 3 recent jobs queued" 3 "$(jq -r .recent_jobs.by_state.queued <<<"$OUT")"
succ=$(jq -r .recent_jobs.by_state.succeeded <<<"$OUT")
cli stats
check "stats: a header" grep -qE '^QUEUE +QUEUED +DELAYED +RUNNING +WORKERS$' <<<"$OUT"
check "stats: the idle queue's row" grep -qE '^idle +3 +0 +0 +0$' <<<"$OUT"
check "stats: the default queue has 2 workers" grep -qE '^default +[0-9]+ +[0-9]+ +[0-9]+ +2$' <<<"$OUT"
check "stats: workers alive" grep -q '^workers alive: 2$' <<<"$OUT"
check "stats: recent jobs by state" \
  grep -qE "^recent jobs \(last 10000 submitted\): 3 queued, 0 running, $succ succeeded, " <<<"$OUT"
cli stats extra
check_eq "stats with a positional: exit 2" 2 "$RC"
cli --url "http://127.0.0.1:$(free_port)" stats
check_eq "stats with the API not running: exit 3" 3 "$RC"
cli workers
check_eq "workers: exit 0" 0 "$RC"
check_eq "workers: one row per live worker, on queue default" 2 "$(grep -cE '^[^ ]+ +default ' <<<"$OUT")"
cli --json workers
check_eq "workers --json: count" 2 "$(jq -r .count <<<"$OUT")"

# --- watch across API restarts --------------------------------------------------------
# A second API on a fixed port, so a restarted one is at the same URL.
rport=$(free_port)
RURL="http://127.0.0.1:$rport"
start_fixed_api() {
  "${SQ_WRAP[@]}" "$BUILD/stageq-api" --listen "127.0.0.1:$rport" --pipelines "$PIPES" \
    --redis-url "$SQ_REDIS_URL" >>"$T/api2.log" 2>&1 &
  API2_PID=$!
  SQ_PIDS="$SQ_PIDS $API2_PID"
  wait_for $((10 * SQ_SLOW)) curl -sf -o /dev/null "$RURL/healthz"
}
start_fixed_api
cli submit blog4 '{"sleep":1}' --id tw-restart
"$SQ" --url "$RURL" watch tw-restart >"$T/restart.out" 2>"$T/restart.err" &
wpid=$!
wait_for 20 grep -q '^stage 2/4' "$T/restart.out"
stop_pid "$API2_PID" # SIGTERM: the stream ends with event: end {"reason":"shutdown"}
start_fixed_api
wait_for 20 grep -q '^stage 3/4' "$T/restart.out"
kill -KILL "$API2_PID" # the stream breaks without an end
wait "$API2_PID" 2>/dev/null
start_fixed_api
wait "$wpid"
RC=$?
check_eq "watch across two API restarts (TERM, then KILL): exit 0" 0 "$RC"
check "after the restarts the outcome line" grep -q '^succeeded after' <<<"$(tail -1 "$T/restart.out")"
check_eq "after the restarts every stage, in order" "1 2 3 4 " \
  "$(grep -oE '^stage [1-4]/4' "$T/restart.out" | cut -c7 | uniq | tr '\n' ' ')"
check "it reconnected to the event stream (not polling)" \
  test "$(grep -c 'GET /v1/jobs/tw-restart/events ' "$T/api2.log")" -ge 2
check_eq "it did not fall back to polling" 0 "$(grep -c 'GET /v1/jobs/tw-restart ' "$T/api2.log")"

"$SQ" --url "$RURL" watch tl-idle-1 >"$T/restart2.out" 2>&1 &
wpid=$!
wait_for 10 grep -q '^queued' "$T/restart2.out"
stop_pid "$API2_PID"
cli cancel tl-idle-1 # on the suite's API while this one is down
start_fixed_api
wait "$wpid"
RC=$?
check_eq "a job canceled while the API was down: the watch exits 1" 1 "$RC"
check "... and says canceled" grep -q '^canceled after' "$T/restart2.out"

# --- SSE framing, ETA, Last-Event-ID, fallback: a scripted server --------------------
python3 tests/e2e/sse_fake.py "$T/fake.port" "$T/fake.log" >"$T/fake.err" 2>&1 &
SQ_PIDS="$SQ_PIDS $!"
wait_for 10 test -s "$T/fake.port"
FURL="http://127.0.0.1:$(cat "$T/fake.port")"
if command -v script >/dev/null; then
  script -qfec "$SQ --url $FURL watch fake-eta" /dev/null >"$T/fake.out" 2>&1 </dev/null
  RC=$?
  check_eq "scripted stream: exit 0 (succeeded)" 0 "$RC"
  check "CRLF cut across chunks, data: on two lines, a comment: the status shows" \
    grep -qE $'\r\\[stage 2/4 transform\\] \\[[#-]+\\]  50%' "$T/fake.out"
  check "the ETA is the status's eta_s: 80 s shows as ETA 1m20s" grep -q 'ETA 1m20s' "$T/fake.out"
  check "the outcome after the reconnect" grep -q 'succeeded after .* (stage 4/4 summarize)' "$T/fake.out"
  check "a dropped stream is resumed with Last-Event-ID" \
    grep -qx 'GET /v1/jobs/fake-eta/events last-event-id=7' "$T/fake.log"
fi
"$SQ" --url "$FURL" watch fake-gone >"$T/fgone.out" 2>"$T/fgone.err"
RC=$?
check_eq "the job ended while the stream was down: the reconnect gets 204, exit 0" 0 "$RC"
check_eq "... the reconnect carried Last-Event-ID, then one GET of the status" \
  "GET /v1/jobs/fake-gone/events last-event-id=5 GET /v1/jobs/fake-gone last-event-id=" \
  "$(grep -A1 'fake-gone/events last-event-id=5' "$T/fake.log" | paste -sd' ')"
check "... and the outcome is shown" grep -q '^succeeded after' "$T/fgone.out"
"$SQ" --url "$FURL" watch fake-poll >"$T/fpoll.out" 2>"$T/fpoll.err"
RC=$?
check_eq "streams that keep ending: polling gets the failed job, exit 1" 1 "$RC"
check "the fallback is said on stderr" grep -q 'keeps failing; polling instead' "$T/fpoll.err"
check_eq "bounded retries: 9 stream attempts, then GET /v1/jobs/fake-poll" "9 1" \
  "$(grep -c '^GET /v1/jobs/fake-poll/events' "$T/fake.log") $(grep -c '^GET /v1/jobs/fake-poll ' "$T/fake.log")"
check "the failure is shown" grep -q '^failed at stage 3/4 sort .*boom: it broke' "$T/fpoll.out"

# --- watch on a terminal: blog4, every stage drawn ------------------------------------
if command -v script >/dev/null; then
  cli submit blog4 '{"sleep":0.4}' --delay 2 # the watch is drawing before stage 1 starts, even on a loaded machine
  id=$OUT
  script -qfec "$SQ watch $id" /dev/null >"$T/tty4.out" 2>&1 </dev/null
  for s in "1/4 one" "2/4 two" "3/4 three" "4/4 four"; do
    check "tty watch of blog4 draws 'stage $s', a bar and a % after \\r" \
      grep -qE $'\r'"\\[stage $s\\] \\[[#-]+\\] +[0-9]+%  elapsed" "$T/tty4.out"
  done
  check "tty watch of blog4: redrawn in place (no newline before the outcome)" \
    test "$(tr -cd '\n' <"$T/tty4.out" | wc -c)" -le 1
fi

flush_prefix tcli
finish
