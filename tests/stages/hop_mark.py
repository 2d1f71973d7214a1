#!/usr/bin/env python3
"""hop_mark: a stage for the hop tests. Appends "start|done <job> <stage>
<attempt> <pid> <worker pid>" to $HOP_MARKS (a file) so a test can count the runs of every
stage of every job, sleeps input.sleep[<stage>] seconds in small steps
(reporting progress on fd 3), fails attempt 1 with exit 3 (retryable) when
input.fail names the stage, and prints its input with the stage's name
appended to input.trace: the result shows which stage outputs made it."""
import json
import os
import sys
import time

inp = json.load(sys.stdin)
stage = os.environ["STAGEQ_STAGE"]
job = os.environ["STAGEQ_JOB_ID"]
attempt = os.environ.get("STAGEQ_ATTEMPT", "1")
marks = os.environ.get("HOP_MARKS")


def mark(what):
    if marks:
        with open(marks, "a") as f:
            f.write("%s %s %s %s %d %d\n" % (what, job, stage, attempt, os.getpid(), os.getppid()))


mark("start")
secs = float((inp.get("sleep") or {}).get(stage, 0))
steps = max(1, int(secs * 10))
progress = os.fdopen(3, "w") if os.environ.get("STAGEQ_PROGRESS_FD") == "3" else None
for i in range(steps):
    if secs > 0:
        time.sleep(secs / steps)
    if progress:
        progress.write(json.dumps({"progress": (i + 1) / steps, "message": stage}) + "\n")
        progress.flush()
if inp.get("fail") == stage and attempt == "1":
    print("hop_mark: failing %s on attempt 1 on purpose" % stage, file=sys.stderr)
    sys.exit(3)
mark("done")
inp["trace"] = (inp.get("trace") or []) + [stage]
print(json.dumps(inp))
