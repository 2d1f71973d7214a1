#!/usr/bin/env python3
"""A trivial stage written with @stage: appends a marker to a string (the
marker is the stage's name, from the request or STAGEQ_STAGE)."""
from stageq import current_job, stage


@stage
def transform(value, progress):
    progress(1.0, "appended")
    return value + "+" + (current_job().stage or "?")
