#!/usr/bin/env python3
# env_dump: prints what the runner gave it: STAGEQ_* variables, cwd, a custom
# variable and its arguments.
import json, os, sys

e = os.environ.get
print(json.dumps({"job": e("STAGEQ_JOB_ID"), "stage": e("STAGEQ_STAGE"),
                  "index": e("STAGEQ_STAGE_INDEX"), "count": e("STAGEQ_STAGE_COUNT"),
                  "attempt": e("STAGEQ_ATTEMPT"), "progress_fd": e("STAGEQ_PROGRESS_FD"),
                  "cwd": os.getcwd(), "custom": e("MY_VAR"), "argv": sys.argv[1:]}))
