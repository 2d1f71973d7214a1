#!/usr/bin/env python3
# ok_double: a well-behaved stage. Reads {"n": N} on stdin, reports progress
# three times on fd 3 (STAGEQ_PROGRESS_FD), prints {"n": 2N} on stdout.
import json, os, sys

n = json.load(sys.stdin)["n"]
fd = int(os.environ.get("STAGEQ_PROGRESS_FD", "3"))
for i, msg in enumerate(["reading", "doubling", "writing"], 1):
    os.write(fd, (json.dumps({"progress": i / 3, "message": msg}) + "\n").encode())
print(json.dumps({"n": 2 * n}))
