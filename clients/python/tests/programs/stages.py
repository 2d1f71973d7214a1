#!/usr/bin/env python3
"""Test stages for the helper: one program serving several stages, through
stageq.serve(), in whichever mode the worker (or a test) runs it."""
import os
import sys
import time

from stageq import StageError, current_job, serve


def append(value, progress):
    """{"text": s, "marker": m} -> {"text": s + m}, printing noise on stdout
    three ways on the way: none of it may reach the answer."""
    print("stray print from append")
    sys.stdout.write("stray write\n")
    os.write(1, b"stray os.write on fd 1\n")
    progress(0.5, "half way")
    return {"text": value["text"] + value["marker"], "n": 12345678901234567890}


def fail_permanent(value, progress):
    raise StageError("bad input: %r" % (value,), retryable=False)


def fail_retry(value, progress):
    raise StageError("try again later")


def crash(value, progress):
    return {}["no such key"]


def sleep(value, progress):
    """Sleeps value["s"] seconds; writes value["cleanup"] (a path) on the way out."""
    try:
        progress(0.1, "sleeping")
        time.sleep(value["s"])
        return "slept"
    finally:
        with open(value["cleanup"], "w") as f:
            f.write("cleaned up\n")


def whoami(value, progress):
    return {"job": current_job()._asdict(), "pid": os.getpid(),
            "env": {k: os.environ.get(k) for k in ("STAGEQ_JOB_ID", "STAGEQ_STAGE",
                                                     "STAGEQ_STAGE_INDEX", "STAGEQ_ATTEMPT")}}


def read_stdin(value, progress):
    """What the stage itself finds on stdin: nothing, in both modes."""
    return {"sys.stdin": sys.stdin.read(), "fd 0": os.read(0, 100).decode()}


def nan(value, progress):
    return float("nan")


def progress_edge(value, progress):
    progress(1.5)           # clamped to 1
    progress(-1, "x" * 1000)  # clamped to 0, message cut to 255 bytes
    progress(float("nan"))  # dropped
    return None


serve({"append": append, "fail_permanent": fail_permanent, "fail_retry": fail_retry,
       "crash": crash, "sleep": sleep, "whoami": whoami, "nan": nan, "read_stdin": read_stdin,
       "progress_edge": progress_edge})
