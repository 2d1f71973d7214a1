#!/usr/bin/env python3
"""A stageq exec stage in Python: copy this file and replace the work.

The protocol (docs/stage-protocol.md) in five lines:
  1. the input (the job input, or the previous stage's output) is JSON on stdin;
  2. progress goes to fd $STAGEQ_PROGRESS_FD (3), one JSON line per report:
     {"progress": 0.42, "message": "step 4/10"}  (only when the variable is set,
     so that the script also runs by hand);
  3. the output is one JSON value on stdout (nothing else may go there:
     print logs to stderr, which stageq logs and keeps the tail of);
  4. exit 0 = success, exit 65 = bad input (failed, never retried),
     any other status = failed, retried while the job has attempts left;
  5. STAGEQ_JOB_ID, STAGEQ_STAGE, STAGEQ_STAGE_INDEX, STAGEQ_STAGE_COUNT and
     STAGEQ_ATTEMPT say which job, stage and attempt this is.

This one takes {"n": 1..100 (default 5)} and returns {"n": n, "sum_of_squares": ...},
sleeping 1 s per step so that its progress can be watched. By hand:
  echo '{"n": 3}' | STAGEQ_PROGRESS_FD=3 python3 examples/stages/template.py 3>&2
"""
import json
import os
import sys
import time


def progress(fraction, message):
    fd = os.environ.get("STAGEQ_PROGRESS_FD")
    if fd and fd.isdigit():
        os.write(int(fd), (json.dumps({"progress": fraction, "message": message}) + "\n").encode())


def fail(message):
    print("template: " + message, file=sys.stderr)
    sys.exit(65)  # permanent: running it again would not help


try:
    data = json.load(sys.stdin)
except ValueError as e:
    fail("input is not JSON: %s" % e)
if data is None:
    data = {}
if not isinstance(data, dict):
    fail('input must be an object like {"n": 5}')
n = data.get("n", 5)
if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 100:
    fail("'n' must be an integer from 1 to 100, got %s" % json.dumps(n))

print("job %s, stage %s, attempt %s" % (os.environ.get("STAGEQ_JOB_ID", "?"),
                                        os.environ.get("STAGEQ_STAGE", "?"),
                                        os.environ.get("STAGEQ_ATTEMPT", "?")), file=sys.stderr)
total = 0
for i in range(1, n + 1):
    total += i * i  # the work
    time.sleep(1)
    progress(i / n, "step %d/%d" % (i, n))

json.dump({"n": n, "sum_of_squares": total}, sys.stdout)
print()
