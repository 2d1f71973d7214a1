#!/usr/bin/env python3
# append.py: the bench's trivial Python stage: appends "<stage>;" to the
# string "s" of its input. Written with the plain stage protocol (standard
# library only), for both modes: one-shot (JSON on stdin, JSON on stdout) and
# warm (STAGEQ_SERVE=1: one request line in, one answer line out, per job,
# answers on a private copy of stdout). BENCH_START_SLEEP=S: sleep S s at
# start (a program that loads a model).
import json, os, sys, time

time.sleep(float(os.environ.get("BENCH_START_SLEEP", "0")))


def append(inp, stage):
    out = dict(inp)
    out["s"] = inp.get("s", "") + stage + ";"
    return out


if os.environ.get("STAGEQ_SERVE") == "1":
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        req = json.loads(line)
        answers.write(json.dumps({"output": append(req["input"], req["stage"])}) + "\n")
        answers.flush()
else:
    json.dump(append(json.load(sys.stdin), os.environ["STAGEQ_STAGE"]), sys.stdout)
