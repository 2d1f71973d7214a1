#!/usr/bin/env bash
# test_blog: the blog's client flow (examples/blog/client.py, unchanged
# requests: {"data": "hello"} to /start_task, then /task_status every few
# tenths of a second) against a live API and worker with the default
# pipeline, "blog": the blog's four stages, each about a second, stage k
# appending " -> processed by stage k" to its input.
source "$(dirname "$0")/lib.sh"
export STAGEQ_PREFIX=tblog
flush_prefix tblog
T=$STAGEQ_TEST_TMP
CLIENT=examples/blog/client.py
start_api api # no --default-pipeline: the blog's routes run "blog"
start_worker w --concurrency 2
R4=" -> processed by stage 1 -> processed by stage 2 -> processed by stage 3 -> processed by stage 4"

# client.py ARGS...: sets OUT and RC.
client() {
  OUT=$(python3 "$CLIENT" --url "$API_URL" --interval 0.1 --timeout 60 "$@" 2>&1)
  RC=$?
}

http GET /v1/pipelines
check_eq "the blog pipeline is built in: 4 builtin stages" \
  "stage1:builtin stage2:builtin stage3:builtin stage4:builtin" \
  "$(jqr '.pipelines[] | select(.name == "blog") | [.stages[] | .name + ":" + .kind] | join(" ")')"

# --- what the blog's client sends: {"data": "hello"} ----------------------------
client --data '"hello"'
printf '%s\n' "$OUT" >"$T/blog-client.out"
check_eq "the client ends with Task Completed (exit 0)" 0 "$RC"
check "POST /start_task answered the blog's message" grep -q '^POST /start_task -> 200 .*"message": "Task started."' "$T/blog-client.out"
stages=$(sed -n 's/^Currently executing stage \([0-9]\)\.$/\1/p' "$T/blog-client.out" | grep -v '^0$' | tr '\n' ' ')
check_eq "the client saw stages 1..4 in order" "1 2 3 4 " "$stages"
check "then Task Completed" grep -qx 'Task Completed' "$T/blog-client.out"
check_eq "the result is the blog's: data processed by the 4 stages" "result: \"hello$R4\"" \
  "$(grep '^result: ' "$T/blog-client.out")"
id=$(sed -n 's/^POST .*"task_id": "\([^"]*\)".*/\1/p' "$T/blog-client.out")
check_eq "the task is a job of the blog pipeline" blog "$(rcli HGET "tblog:{8209}:job:$id" pipeline)"
http GET "/v1/jobs/$id"
check_eq "stage 2's output is stage 1's plus its own" \
  "hello -> processed by stage 1 -> processed by stage 2" "$(jqr '.stages[1].output')"

# --- a client-chosen id, and any JSON data (numbers as sent) -----------------------
client --task-id blog-ex-1 --data '{"n": 9007199254740993, "f": 0.30000000000000004}'
check_eq "POST /start_task/<id>: the client completes" 0 "$RC"
check "its message names the id" grep -q '"Task blog-ex-1 started."' <<<"$OUT"
check_eq "data that is not a string: its JSON text, numbers as sent" \
  "result: \"{\\\"n\\\":9007199254740993,\\\"f\\\":0.30000000000000004}$R4\"" \
  "$(grep '^result: ' <<<"$OUT")"
client --task-id blog-ex-1 --data '"again"'
check_eq "the same id again: the blog's 400, exit 2" 2 "$RC"
check "with the blog's message" grep -q 'Task is already running or completed.' <<<"$OUT"

# --- a blog job stops when canceled -------------------------------------------------
post_json /start_task/blog-cancel '{"data":"x"}'
check "it reaches stage 2" wait_for 30 sh -c "curl -s '$API_URL/v1/jobs/blog-cancel' | jq -e '.stage >= 2' >/dev/null"
http DELETE /v1/jobs/blog-cancel
check_eq "DELETE answers 200" 200 "$HTTP_STATUS"
check "the worker stops it: canceled, no stage 4 output" wait_for 10 sh -c \
  "curl -s '$API_URL/v1/jobs/blog-cancel' | jq -e '.state == \"canceled\" and .stages[3].output == null' >/dev/null"

finish
