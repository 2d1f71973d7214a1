#!/usr/bin/env python3
"""train: stage 3 of the "train" example pipeline.

Fits a linear regression y = b + sum_j w_j * x_j to the standardized CSV that
preprocess wrote, by full-batch gradient descent on the mean squared error,
and reports the loss after every epoch on the progress fd:
    {"progress": 0.1333, "message": "epoch 4/30 loss 0.0123"}

Input (preprocess's output):
    {"dataset": path, "columns": [features..., target], "rows"?: N,
     "stats": {name: {"mean": m, "std": s}, ...},
     "train"?: {"epochs": 1..1000 (30), "learning_rate": (0, 1] (0.1)}}
The "train" settings are those of the job input, carried here by prepare and
preprocess; without them the defaults apply.

Output: the model in the units of the original data (the weights learnt on
standardized features are converted back with "stats"):
    {"weights": [...], "bias": b, "features": [...], "target": "y",
     "loss": final MSE, "epochs": E, "learning_rate": lr, "rows": N,
     "dataset": path, "loss_history": [loss of each epoch]}

Written with the stageq stage helper (clients/python), like prepare.py: it
runs one-shot or as a warm ("serve": true) process alike. Standard library only.
"""
import json
import math
import os
import sys
import time
from array import array
from itertools import repeat
from operator import add, mul, sub

try:
    from stageq import StageError, stage
except ImportError:  # not installed: the package of this repository
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "clients", "python"))
    from stageq import StageError, stage

CHUNK = 65536  # rows per slice of a pass: bounds the memory of temporaries


def fail(msg):
    """Bad input or settings: the job fails at once, not retried."""
    raise StageError("train: " + msg, retryable=False)


def show(v):
    s = json.dumps(v)
    return s if len(s) <= 60 else s[:57] + "..."


def reporter(progress):
    """progress() with the fraction kept in [0, 1] and to 4 decimals."""
    return lambda fraction, message: progress(round(min(max(fraction, 0.0), 1.0), 4), message)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def read_input(data):
    if not isinstance(data, dict):
        fail("input must be a JSON object (preprocess's output), got %s" % show(data))
    path = data.get("dataset")
    if not isinstance(path, str) or not path:
        fail("input has no \"dataset\" string (the path of the standardized CSV)")
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        fail("dataset '%s' is not a readable file" % path)
    columns = data.get("columns")
    if (not isinstance(columns, list) or len(columns) < 2
            or not all(isinstance(c, str) and c for c in columns)
            or len(set(columns)) != len(columns)):
        fail("\"columns\" must list at least one feature and the target, all different, got %s"
             % show(columns))
    stats = data.get("stats")
    if not isinstance(stats, dict):
        fail("\"stats\" must be an object {column: {\"mean\": m, \"std\": s}}")
    for c in columns[:-1]:
        s = stats.get(c)
        if (not isinstance(s, dict) or not is_num(s.get("mean")) or not is_num(s.get("std"))
                or not s["std"] > 0):
            fail("\"stats\".%s must be {\"mean\": number, \"std\": number > 0}, got %s"
                 % (c, show(s)))
    rows = data.get("rows")
    if rows is not None and (not is_int(rows) or rows < 1):
        fail("\"rows\" must be a positive integer, got %s" % show(rows))

    train = data.get("train", {})
    if not isinstance(train, dict):
        fail("\"train\" must be an object like {\"epochs\": 30, \"learning_rate\": 0.1}")
    for k in train:
        if k not in ("epochs", "learning_rate"):
            fail("unknown field '%s' in \"train\" (allowed: epochs, learning_rate)" % k)
    epochs = train.get("epochs", 30)
    if not is_int(epochs) or not 1 <= epochs <= 1000:
        fail("\"train\".epochs must be an integer from 1 to 1000, got %s" % show(epochs))
    lr = train.get("learning_rate", 0.1)
    if not is_num(lr) or not 0 < lr <= 1:
        fail("\"train\".learning_rate must be a number in (0, 1], got %s" % show(lr))
    return path, columns, stats, rows, epochs, lr


def load(path, columns, rows, report):
    """The CSV as one array of doubles per column."""
    k = len(columns)
    cols = [array("d") for _ in range(k)]
    appends = [c.append for c in cols]
    step = max(1, (rows or 0) // 10)
    with open(path) as f:
        header = f.readline().strip().split(",")
        if header != columns:
            fail("dataset '%s' has columns %s, the input says %s" % (path, show(header),
                                                                     show(columns)))
        for lineno, line in enumerate(f, 2):
            fields = line.split(",")
            if len(fields) != k:
                fail("dataset '%s' line %d: %d fields, expected %d" % (path, lineno,
                                                                        len(fields), k))
            try:
                for a, v in zip(appends, fields):
                    a(float(v))
            except ValueError:
                fail("dataset '%s' line %d: not a number" % (path, lineno))
            if rows and (lineno - 1) % step == 0:
                report(0.0, "loading %d/%d rows" % (lineno - 1, rows))
    n = len(cols[0])
    if n == 0:
        fail("dataset '%s' has no data rows" % path)
    if rows and n != rows:
        fail("dataset '%s' has %d rows, the input says %d" % (path, n, rows))
    if not all(math.isfinite(v) for c in cols for v in c):
        fail("dataset '%s' holds a value that is not finite" % path)
    return cols[:-1], cols[-1]


def epoch_pass(X, Y, w, b, on_chunk=None):
    """One pass: the MSE of (w, b) and its gradient."""
    n, k = len(Y), len(X)
    sse, gb, gw = 0.0, 0.0, [0.0] * k
    for start in range(0, n, CHUNK):
        end = min(n, start + CHUNK)
        xs = [x[start:end] for x in X]
        m = end - start
        pred = [b] * m
        for j in range(k):
            pred = list(map(add, pred, map(mul, xs[j], repeat(w[j], m))))
        r = list(map(sub, pred, Y[start:end]))
        sse += sum(map(mul, r, r))
        gb += sum(r)
        for j in range(k):
            gw[j] += sum(map(mul, r, xs[j]))
        if on_chunk is not None:
            on_chunk(end)
    return sse / n, 2.0 * gb / n, [2.0 * g / n for g in gw]


@stage
def train(data, progress):
    path, columns, stats, rows, epochs, lr = read_input(data)
    report = reporter(progress)
    report(0.0, "loading %s" % os.path.basename(path))
    X, Y = load(path, columns, rows, report)
    n, k = len(Y), len(X)
    w, b = [0.0] * k, 0.0
    history = []
    last = [time.monotonic()]

    def mid_epoch(e):
        def on_chunk(done):  # big data sets: also report inside an epoch, at most 2/s
            now = time.monotonic()
            if done < n and now - last[0] >= 0.5:
                last[0] = now
                report((e - 1 + done / n) / epochs,
                       "epoch %d/%d: %d/%d rows" % (e, epochs, done, n))
        return on_chunk

    for e in range(1, epochs + 1):
        loss, gb, gw = epoch_pass(X, Y, w, b, mid_epoch(e))
        if not math.isfinite(loss):
            fail("training diverged at epoch %d (loss %s): lower train.learning_rate (%g)"
                 % (e, loss, lr))
        history.append(float("%.6g" % loss))
        b -= lr * gb
        w = [wj - lr * g for wj, g in zip(w, gw)]
        last[0] = time.monotonic()
        report(e / epochs, "epoch %d/%d loss %.6g" % (e, epochs, loss))
    loss, _, _ = epoch_pass(X, Y, w, b)
    if not math.isfinite(loss):
        fail("training diverged (final loss %s): lower train.learning_rate (%g)" % (loss, lr))

    # Back to the units of the original data: x_std = (x - mean) / std.
    features = columns[:-1]
    sd = [float(stats[c]["std"]) for c in features]
    mean = [float(stats[c]["mean"]) for c in features]
    weights = [wj / s for wj, s in zip(w, sd)]
    bias = b - sum(wj * m / s for wj, m, s in zip(w, mean, sd))
    out = {"weights": weights, "bias": bias, "features": features, "target": columns[-1],
           "loss": loss, "epochs": epochs, "learning_rate": lr, "rows": n, "dataset": path,
           "loss_history": history}
    if not all(math.isfinite(v) for v in weights + [bias]):
        fail("the model has a value that is not finite: lower train.learning_rate")
    return out
