#!/usr/bin/env bash
# test_serve: warm stage programs ("serve": true) end to end. Conformance: the
# same stage programs (tests/stages/dual.py and dual.sh) give the same
# results, progress and errors one-shot and warm. Faults: crash mid-job, exit
# between jobs, garbage / two lines / a huge line, stray prints, timeout and
# cancel, max_jobs and max_rss_mb recycling, a slow start paid once per worker
# process, one process for two stages, and no program left behind after
# SIGTERM of the worker or SIGKILL of its child (checked in the process table).
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=sv
flush_prefix sv
P=tests/e2e/pipelines-serve.json
# Every program this suite starts carries this mark in its environment.
export SERVE_TEST_MARK="$STAGEQ_TEST_TMP"
export DUAL_START_LOG="$STAGEQ_TEST_TMP/starts.log"
: >"$DUAL_START_LOG"
start_api api --pipelines "$P"
start_worker worker --pipelines "$P" --concurrency 2 --kill-grace-ms 500
MAIN_PID=$WORKER_PID
# the faults are checked by pid: one worker process, so one program per pipeline
start_worker oneworker --pipelines "$P" --concurrency 1 --queue one --kill-grace-ms 500
ONE_PID=$WORKER_PID

# suite_pids PATTERN: pids of the processes of this suite (they carry its mark
# in their environment) whose command line matches PATTERN.
suite_pids() {
  local p
  for p in $(grep -lsz "^SERVE_TEST_MARK=$SERVE_TEST_MARK\$" /proc/[0-9]*/environ 2>/dev/null |
    cut -d/ -f3); do
    pid_running "$p" && grep -qa "$1" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
  done
}
program_pids() { suite_pids tests/stages/dual; }
state_of() { rcli HGET "sv:{8209}:job:$1" state; }
is_final() { case "$(state_of "$1")" in succeeded | failed | canceled) return 0 ;; esac; return 1; }
is_running() { [ "$(state_of "$1")" = running ]; }
submit() { # pipeline input [queue] → JOB
  post_json /v1/jobs "{\"pipeline\":\"$1\",\"input\":$2}"
  JOB=$(jqr .id)
}
run_job() { # pipeline input → status in HTTP_BODY
  submit "$1" "$2"
  poll 90 is_final "$JOB" || not_ok "$1 job $2 did not finish"
  http GET "/v1/jobs/$JOB"
}
# the pid of the program that ran the last stage of the job in HTTP_BODY
last_pid() { jqr '.result.pids[-1]'; }
gone() { ! pid_running "$1"; }

# --- conformance: one-shot and warm give the same answers ----------------------
for mode in once warm; do
  run_job "$mode" '{"s":">","n":[1,2.50]}'
  eval "plain_$mode=\$(jqr '[.state, .result.s, (.result.n | tostring)] | join(\" \")')"
  eval "pids_$mode=\$(jqr '.result.pids | map(tostring) | join(\" \")')"

  # progress lines: polled from the job while it runs (each is held 0.7 s)
  submit "$mode" '{"do":{"a":"progress","b":"progress"}}'
  msgs=""
  for i in $(seq 1 1200); do
    m=$(rcli HGET "sv:{8209}:job:$JOB" message)
    case " $msgs " in *" ${m// /_} "*) ;; *) [ -n "$m" ] && msgs="$msgs ${m// /_}" ;; esac
    is_final "$JOB" && break
    sleep 0.05
  done
  eval "progress_$mode=\"\$msgs\""

  run_job "$mode" '{"do":{"b":"permanent"}}'
  eval "perm_$mode=\$(jqr '[.state, .attempt, .error.stage, .error.retryable] | map(tostring) | join(\" \")')"
  eval "perm_tail_$mode=\$(jqr '.error.stderr_tail | contains(\"bad input for b\")')"

  run_job "$mode" '{"do":{"a":"fail"}}'
  eval "fail_$mode=\$(jqr '[.state, .attempt, .error.stage, .error.retryable, (.errors | length)] | map(tostring) | join(\" \")')"

  run_job "$mode" '{"do":{"a":"crash1"}}'
  eval "crash_$mode=\$(jqr '[.state, .attempt, .errors[0].code, .errors[0].exit_status, (.errors[0].stderr_tail | contains(\"about to crash in a\"))] | map(tostring) | join(\" \")')"
  eval "crash_pids_$mode=\$(jqr '.result.pids[0]')"

  run_job "sh_$mode" '{"x":[1,2.50,1e400],"t":"a b"}'
  eval "sh_$mode=\$(jqr '[.state, (.result | tojson)] | join(\" \")')"
  eval "sh_raw_$mode=\$(rcli HGET sv:{8209}:job:\$JOB result)"
  run_job "sh_$mode" '{"refuse":1}'
  eval "sh_err_$mode=\$(jqr '[.state, .error.retryable, .attempt] | map(tostring) | join(\" \")')"
done
check_eq "conformance: same result one-shot and warm (numbers as written)" "$plain_once" "$plain_warm"
check_eq "conformance: the result is right" "succeeded >a;b; [1,2.5]" "$plain_warm"
check_eq "conformance: same progress messages" "$progress_once" "$progress_warm"
check_eq "conformance: the progress messages of both stages are seen" " half_a done_a half_b done_b" \
  "$progress_warm"
check_eq "conformance: a permanent error is permanent in both" "$perm_once" "$perm_warm"
check_eq "conformance: permanent error fails at once, in its stage" "failed 1 b false" "$perm_warm"
check_eq "conformance: its stderr tail is kept in both" "true true" "$perm_tail_once $perm_tail_warm"
check_eq "conformance: a retryable error is retried in both" "$fail_once" "$fail_warm"
check_eq "conformance: retried up to max_attempts" "failed 2 a true 2" "$fail_warm"
check_eq "conformance: a crash mid-job is the same failure in both" "$crash_once" "$crash_warm"
check_eq "conformance: crash → exit status and stderr tail, retried, succeeds" \
  "succeeded 2 exit_status 3 true" "$crash_warm"
check_eq "conformance: shell stage, same result" "$sh_once" "$sh_warm"
check_eq "conformance: shell stage output kept as written" '{"wrapped":{"x":[1,2.50,1e400],"t":"a b"},"by":"sh"}' "$sh_raw_warm"
check_eq "conformance: shell stage, same permanent error" "$sh_err_once" "$sh_err_warm"
set -- $pids_once
check "one-shot: each stage is a new process" test "$1" != "$2"
set -- $pids_warm
check "shared process: two stages with the same argv use one pid" test "$1" = "$2"

# --- faults -------------------------------------------------------------------------
# fault ACTION: runs a job of the fault pipeline between two plain ones; sets
# BEFORE, AFTER (pids) and leaves the fault job's status in FAULT.
fault() {
  run_job fault '{"s":""}'
  BEFORE=$(last_pid)
  run_job fault "{\"do\":{\"a\":\"$1\"}}"
  FAULT=$HTTP_BODY
  run_job fault '{"s":""}'
  AFTER=$(last_pid)
}
fq() { printf '%s' "$FAULT" | jq -r "$@"; }

fault crash
check_eq "crash mid-job: the attempt fails with its exit status" "failed exit_status 3" \
  "$(fq '[.state, .error.code, .error.exit_status] | map(tostring) | join(" ")')"
check "crash mid-job: the next job gets a new process" test "$BEFORE" != "$AFTER"
check "crash mid-job: the old one is gone" gone "$BEFORE"

fault exit_after
check_eq "exit between jobs: the job it answered succeeded" "succeeded" "$(fq .state)"
check_eq "exit between jobs: the next job succeeds on a new process" "succeeded" "$(jqr .state)"
check "exit between jobs: a new pid" test "$BEFORE" != "$AFTER"

for a in garbage two_lines bad_shape; do
  fault "$a"
  check_eq "$a on stdout: invalid_output" "failed invalid_output" "$(fq '[.state, .error.code] | join(" ")')"
  check "$a on stdout: the program is restarted for the next job" test "$BEFORE" != "$AFTER"
  check "$a on stdout: the old one is gone" gone "$BEFORE"
done

fault huge
check_eq "a 17 MiB answer line: output_too_large" "failed output_too_large" \
  "$(fq '[.state, .error.code] | join(" ")')"
check "a huge line: the program is restarted" test "$BEFORE" != "$AFTER"

fault noisy
check_eq "a stray print() does not break the stream" "succeeded" "$(fq .state)"
check "a stray print() keeps the process" test "$BEFORE" = "$AFTER"
check "the stray print went to the log as stderr" grep -q "a library chatting on stdout" \
  "$STAGEQ_TEST_TMP/oneworker.log"

# timeout: attempt 1 sleeps past timeout_s, attempt 2 (a new process) answers
run_job tmo '{"s":""}'
# the first job may time out while python3 starts on a loaded machine: retried
BEFORE=$(last_pid)
run_job tmo '{"do":{"a":"sleep1:60"}}'
check_eq "timeout: attempt 1 times out, attempt 2 succeeds" "succeeded 2 timeout" \
  "$(jqr '[.state, .attempt, .errors[0].code] | map(tostring) | join(" ")')"
check "timeout: the timed-out process was killed" gone "$BEFORE"
check "timeout: attempt 2 ran on a new process" test "$(last_pid)" != "$BEFORE"

# cancel
run_job fault '{"s":""}'
BEFORE=$(last_pid)
submit fault '{"do":{"a":"sleep:60"}}'
poll 30 is_running "$JOB" || not_ok "sleeping job never ran"
sleep 0.5
http DELETE "/v1/jobs/$JOB"
poll 30 is_final "$JOB"
check_eq "cancel of a running warm job" "canceled" "$(state_of "$JOB")"
check "cancel: the process group is killed" poll 10 gone "$BEFORE"
run_job fault '{"s":""}'
check "cancel: the next job gets a new process" test "$(last_pid)" != "$BEFORE"

# max_jobs 2 and max_rss_mb 60: counted in pids
pids=""
for i in 1 2 3 4 5 6; do
  run_job recycle '{"s":""}'
  pids="$pids $(last_pid)"
done
# each worker process recycles its own program after 2 jobs
check "max_jobs 2: no pid ran more than 2 jobs" test \
  "$(tr ' ' '\n' <<<"$pids" | grep . | sort | uniq -c | awk '$1 > 2' | wc -l)" -eq 0
check "max_jobs 2: six jobs used at least three processes" test \
  "$(tr ' ' '\n' <<<"$pids" | grep . | sort -u | wc -l)" -ge 3
run_job rss '{"s":""}'
small=$(last_pid)
run_job rss '{"do":{"a":"alloc:120"}}'
big=$(last_pid)
check "max_rss_mb: above it, the program is recycled after the job" poll 10 gone "$big"
run_job rss '{"s":""}'
check "max_rss_mb: the next job runs on a new process" test "$(last_pid)" != "$big"

# --- a program slow to start: once per worker process, not once per job -----------
: >"$DUAL_START_LOG"
start_worker slowworker --pipelines "$P" --concurrency 1 --queue slow --kill-grace-ms 500
SLOW_PID=$WORKER_PID
t0=$(date +%s%N)
for i in 1 2 3 4 5 6; do run_job slow '{"s":""}'; done
t1=$(date +%s%N)
check_eq "slow start: six jobs, one start" "1" "$(grep -c . "$DUAL_START_LOG")"
check_eq "slow start: the jobs succeeded" "succeeded" "$(jqr .state)"
echo "# six jobs of a stage with a 1 s start: $(((t1 - t0) / 1000000)) ms"

# --- stopping: SIGTERM, and SIGKILL of a worker child (PDEATHSIG) ---------------------
run_job warm '{"s":""}'
warm_pid=$(last_pid)
check "a warm program is running" pid_running "$warm_pid"
child=$(awk '/^PPid:/ {print $2}' "/proc/$warm_pid/status")
kill -KILL "$child"
check "SIGKILL of its worker child: the program dies too" poll 10 gone "$warm_pid"
run_job warm '{"s":""}'
check_eq "the respawned child serves again" "succeeded" "$(jqr .state)"
progs=$(program_pids)
check "warm programs are running before SIGTERM" test -n "$progs"
rcs=""
for w in "$SLOW_PID" "$ONE_PID" "$MAIN_PID"; do
  stop_pid "$w" 20
  rcs="$rcs$STOP_RC"
done
check_eq "SIGTERM: the workers exit 0" "000" "$rcs"
check "SIGTERM: no program left behind" poll 10 test -z "$(program_pids)"
check "SIGTERM: no worker process left behind" poll 10 test -z "$(suite_pids stageq-worker)"
check "SIGTERM: the warm programs exit 0 when their stdin closes" \
  grep -q "warm program [0-9]* ended (status 0)" "$STAGEQ_TEST_TMP/slowworker.log"

finish
