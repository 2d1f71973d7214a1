#!/usr/bin/env python3
# dual: one stage program for both modes of the stage protocol, written with
# the plain protocol (no helper package). One-shot: input JSON on stdin,
# output on stdout, exit 65 = permanent error. Warm ("serve": true, env
# STAGEQ_SERVE=1): one request line per job on stdin, one answer line on a
# private copy of stdout (fd 1 then points at stderr, so stray prints cannot
# break the stream), until EOF.
#
# Input: {"s": "text", "do": {"<stage>": "action", ...}}. Output: the input
# with "s" + "<stage>;" and this process's pid appended to "pids". Actions
# (for the stage they name): progress (two progress lines, a pause before
# and after each), fail (a retryable error), permanent (a permanent error), crash
# (stderr line, then exit 3 mid-job), crash1 (crash on attempt 1 only), noisy
# (a print() to stdout before answering), sleep:S, sleep1:S (on attempt 1
# only), alloc:MB (keep MB MiB),
# exit_after (answer, then exit 0); and, warm mode only: garbage (a non-JSON
# answer), two_lines, huge (a 17 MiB line), bad_shape ({"result": 1}),
# late_line (answer, then 0.2 s later a line nobody asked for).
# Env DUAL_START_SLEEP=S: sleep S s when the process starts (a model to
# load); DUAL_START_LOG=FILE: append a line to FILE at each start.
import json, os, sys, time

PROGRESS_FD = int(os.environ.get("STAGEQ_PROGRESS_FD", "3"))
KEEP = []


class Failure(Exception):
    def __init__(self, message, retryable):
        super().__init__(message)
        self.retryable = retryable


def progress(fraction, message):
    os.write(PROGRESS_FD, (json.dumps({"progress": fraction, "message": message}) + "\n").encode())


def work(inp, stage, attempt):
    action = (inp.get("do") or {}).get(stage, "")
    if action == "progress":
        time.sleep(0.7)
        progress(0.5, "half " + stage)
        time.sleep(0.7)
        progress(1.0, "done " + stage)
        time.sleep(0.7)
    elif action == "fail":
        sys.stderr.write("trouble in " + stage + "\n")
        raise Failure("stage " + stage + " failed", True)
    elif action == "permanent":
        sys.stderr.write("bad input for " + stage + "\n")
        raise Failure("stage " + stage + " refuses this input", False)
    elif action == "crash" or (action == "crash1" and attempt == 1):
        sys.stderr.write("about to crash in " + stage + "\n")
        sys.stderr.flush()
        os._exit(3)
    elif action == "noisy":
        print("a library chatting on stdout")
        sys.stdout.flush()
    elif action.startswith("sleep:"):
        time.sleep(float(action[6:]))
    elif action.startswith("sleep1:") and attempt == 1:
        time.sleep(float(action[7:]))
    elif action.startswith("alloc:"):
        KEEP.append(bytearray(int(action[6:]) * 1024 * 1024))
    out = dict(inp)
    out["s"] = inp.get("s", "") + stage + ";"
    out["pids"] = inp.get("pids", []) + [os.getpid()]
    return out, action


def one_shot():
    stage = os.environ["STAGEQ_STAGE"]
    attempt = int(os.environ["STAGEQ_ATTEMPT"])
    try:
        out, _ = work(json.load(sys.stdin), stage, attempt)
    except Failure as e:
        sys.stderr.write(str(e) + "\n")
        sys.exit(1 if e.retryable else 65)
    print(json.dumps(out))


def serve():
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stray prints now go to stderr
    sys.stdout = sys.stderr
    for line in sys.stdin:
        req = json.loads(line)
        action = ""
        try:
            out, action = work(req["input"], req["stage"], req["attempt"])
            answer = json.dumps({"output": out})
        except Failure as e:
            answer = json.dumps({"error": {"message": str(e), "retryable": e.retryable}})
        if action == "garbage":
            answer = "this is not json"
        elif action == "two_lines":
            answer = answer + "\n" + answer
        elif action == "huge":
            answer = '{"output":"' + "x" * (17 * 1024 * 1024) + '"}'
        elif action == "bad_shape":
            answer = '{"result": 1}'
        answers.write(answer + "\n")
        answers.flush()
        if action == "exit_after":
            sys.exit(0)
        if action == "late_line":
            time.sleep(0.2)
            answers.write("a line nobody asked for\n")
            answers.flush()


if os.environ.get("DUAL_START_LOG"):
    with open(os.environ["DUAL_START_LOG"], "a") as log:
        log.write("%d\n" % os.getpid())
time.sleep(float(os.environ.get("DUAL_START_SLEEP", "0")))
if os.environ.get("STAGEQ_SERVE") == "1":
    serve()
else:
    one_shot()
