#!/usr/bin/env python3
"""prepare: stage 1 of the "train" example pipeline.

Writes a synthetic regression data set as CSV into the job's work directory
    ${STAGEQ_EXAMPLE_DIR:-/tmp/stageq-examples}/$STAGEQ_JOB_ID/data.csv
with columns x1, x2, x3, y where
    x1 ~ U(0, 10), x2 ~ N(5, 2), x3 ~ U(-1, 1)
    y  = 3*x1 - 2*x2 + 0.5*x3 + 1 + noise * N(0, 1)

Input (the job input; every field optional, unknown fields are refused):
    {"rows": 1..5000000 (20000), "seed": integer (1), "noise": 0..100 (0.1),
     "train": {"epochs": 1..1000 (30), "learning_rate": (0, 1] (0.1)}}
Output:
    {"dataset": path, "rows": N, "columns": ["x1","x2","x3","y"], "seed": S,
     "noise": σ, "train": {"epochs": E, "learning_rate": lr}}
"train" is not used here: it is checked, completed with its defaults and
carried on, so that the train stage (two stages later) gets the job's settings.

Written with the stageq stage helper (clients/python): it reads the input,
writes the output and the progress lines, and turns StageError(...,
retryable=False) into a permanent failure (exit 65 in one-shot mode), in
either mode of docs/stage-protocol.md. Standard library only.
"""
import json
import math
import os
import random
import re
import sys

try:
    from stageq import StageError, current_job, stage
except ImportError:  # not installed: the package of this repository
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "clients", "python"))
    from stageq import StageError, current_job, stage

ROWS_MAX = 5000000
COLUMNS = ["x1", "x2", "x3", "y"]
TRUE_WEIGHTS = [3.0, -2.0, 0.5]
TRUE_BIAS = 1.0


def fail(msg):
    """Bad input: the job fails at once, not retried."""
    raise StageError("prepare: " + msg, retryable=False)


def show(v):
    """A value as JSON, cut short for an error message."""
    s = json.dumps(v)
    return s if len(s) <= 60 else s[:57] + "..."


def work_dir():
    """The job's work directory, created if needed."""
    job = current_job().id or ""
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", job) or job in (".", ".."):
        fail("STAGEQ_JOB_ID must be set to a job id of [A-Za-z0-9._:-] "
             "(stageq sets it; by hand: STAGEQ_JOB_ID=t1 python3 prepare.py)")
    d = os.path.join(os.environ.get("STAGEQ_EXAMPLE_DIR") or "/tmp/stageq-examples", job)
    os.makedirs(d, exist_ok=True)
    return d


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        return False


def check_fields(obj, allowed, where):
    for k in obj:
        if k not in allowed:
            fail("unknown field '%s' in %s (allowed: %s)" % (k, where, ", ".join(allowed)))


def read_input(data):
    if data is None:
        data = {}  # a job submitted without "input"
    if not isinstance(data, dict):
        fail("input must be a JSON object like {\"rows\": 20000}, got %s" % show(data))
    check_fields(data, ["rows", "seed", "noise", "train"], "the input")

    rows = data.get("rows", 20000)
    if not is_int(rows) or not 1 <= rows <= ROWS_MAX:
        fail("'rows' must be an integer from 1 to %d, got %s" % (ROWS_MAX, show(rows)))
    seed = data.get("seed", 1)
    if not is_int(seed):
        fail("'seed' must be an integer, got %s" % show(seed))
    noise = data.get("noise", 0.1)
    if not is_num(noise) or not 0 <= noise <= 100:
        fail("'noise' must be a number from 0 to 100, got %s" % show(noise))

    train = data.get("train", {})
    if not isinstance(train, dict):
        fail("'train' must be an object like {\"epochs\": 30, \"learning_rate\": 0.1}")
    check_fields(train, ["epochs", "learning_rate"], "'train'")
    epochs = train.get("epochs", 30)
    if not is_int(epochs) or not 1 <= epochs <= 1000:
        fail("'train.epochs' must be an integer from 1 to 1000, got %s" % show(epochs))
    lr = train.get("learning_rate", 0.1)
    if not is_num(lr) or not 0 < lr <= 1:
        fail("'train.learning_rate' must be a number in (0, 1], got %s" % show(lr))
    return rows, seed, noise, {"epochs": epochs, "learning_rate": lr}


@stage
def prepare(data, progress):
    rows, seed, noise, train = read_input(data)
    d = work_dir()
    path = os.path.join(d, "data.csv")
    tmp = path + ".tmp"
    rng = random.Random(seed)
    uniform, gauss = rng.uniform, rng.gauss
    w1, w2, w3 = TRUE_WEIGHTS
    step = max(1, rows // 20)  # about 20 progress reports
    progress(0.0, "generating %d rows (seed %d, noise %g)" % (rows, seed, noise))
    with open(tmp, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        done = 0
        while done < rows:
            n = min(step, rows - done)
            lines = []
            for _ in range(n):
                x1 = uniform(0.0, 10.0)
                x2 = gauss(5.0, 2.0)
                x3 = uniform(-1.0, 1.0)
                y = w1 * x1 + w2 * x2 + w3 * x3 + TRUE_BIAS + noise * gauss(0.0, 1.0)
                lines.append("%.6f,%.6f,%.6f,%.6f\n" % (x1, x2, x3, y))
            f.writelines(lines)
            done += n
            progress(round(done / rows, 4), "generated %d/%d rows" % (done, rows))
    os.replace(tmp, path)  # a retried attempt never sees half a file
    return {"dataset": path, "rows": rows, "columns": COLUMNS, "seed": seed,
            "noise": noise, "train": train}
