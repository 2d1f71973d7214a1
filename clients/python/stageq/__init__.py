"""stageq for Python: write stages (stage, serve, StageError) and drive jobs
through the HTTP API (Client, StageqError). Standard library only.

The client is imported on first use: a stage program, started once per job in
one-shot mode, does not pay for http.client."""
from .stage import Job, StageError, current_job, run, serve, stage

__all__ = ["stage", "serve", "run", "StageError", "Job", "current_job",
           "Client", "StageqError", "FINAL_STATES"]
__version__ = "0.1.0"
_CLIENT_NAMES = ("Client", "StageqError", "FINAL_STATES")


def __getattr__(name):
    if name in _CLIENT_NAMES:
        from . import client
        return getattr(client, name)
    raise AttributeError("module 'stageq' has no attribute %r" % name)
