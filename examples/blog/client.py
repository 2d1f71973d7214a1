#!/usr/bin/env python3
"""The client flow of the blog that stageq grew out of ("High-computation
Python programs: monitoring their status", 2024), against stageq's
compatible routes. Python 3 standard library only.

  1. POST /start_task with {"data": ...}   -> {"message": "Task started.", "task_id": ...}
     (or POST /start_task/<task_id>         -> {"message": "Task <task_id> started.", ...})
  2. GET /task_status/<task_id> every 0.5 s, as the blog's task_monitor does,
     printing each new status ("Currently executing stage k.") until
     "Task Completed"
  3. print the result: with the default pipeline ("blog"), the blog's four
     stages applied to data: "<data> -> processed by stage 1 -> ... 4"

Usage: client.py [--url http://127.0.0.1:8080] [--data JSON] [--task-id ID]
                 [--interval 0.5] [--timeout 120] [--token TOKEN]
--data is JSON ('"hello"', '{"rows": 3}'); text that is not JSON is sent as
a string. Exit 0 when the task completed, 1 when it failed or was canceled,
2 on a usage or HTTP error, 3 on timeout.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def call(method, url, body=None, token=None):
    """The decoded JSON answer and HTTP status of one request."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"message": raw.decode(errors="replace")}


def main():
    ap = argparse.ArgumentParser(description="the blog's client flow against stageq")
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--data", default='"hello"')
    ap.add_argument("--task-id", default=None)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--token", default=None)
    args = ap.parse_args()
    try:
        data = json.loads(args.data)
    except ValueError:
        data = args.data
    base = args.url.rstrip("/")

    path = "/start_task" + ("/" + args.task_id if args.task_id else "")
    status, reply = call("POST", base + path, {"data": data}, args.token)
    print("POST %s -> %d %s" % (path, status, json.dumps(reply)), flush=True)
    if status != 200:
        return 2
    task_id = reply.get("task_id") or args.task_id

    last = None
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        status, reply = call("GET", base + "/task_status/" + task_id, token=args.token)
        if status != 200:
            print("GET /task_status/%s -> %d %s" % (task_id, status, json.dumps(reply)))
            return 2
        if reply["status"] != last:
            last = reply["status"]
            print(last, flush=True)
        if last == "Task Completed":
            print("result: " + json.dumps(reply.get("result")), flush=True)
            return 0
        if last in ("Task Failed", "Task Canceled"):
            return 1
        time.sleep(args.interval)
    print("timed out after %g s" % args.timeout)
    return 3


if __name__ == "__main__":
    sys.exit(main())
