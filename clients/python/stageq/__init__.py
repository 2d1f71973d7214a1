"""stageq for Python: write stages (stage, serve, StageError) and drive jobs
through the HTTP API (Client, StageqError). Standard library only."""
from .stage import Job, StageError, current_job, run, serve, stage
from .client import Client, StageqError, FINAL_STATES

__all__ = ["stage", "serve", "run", "StageError", "Job", "current_job",
           "Client", "StageqError", "FINAL_STATES"]
__version__ = "0.1.0"
