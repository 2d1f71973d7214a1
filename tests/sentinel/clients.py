#!/usr/bin/env python3
"""clients.py: the HTTP clients of the failover scenarios (tests/sentinel/run.sh),
python3 standard library only.

  clients.py submit API PIPELINE ID_PREFIX FIRST LAST RATE THREADS OUT_DIR INPUT_JSON [HOLD_AT HOLD_FILE]
      A steady submitter: job i (FIRST..LAST) is sent at t0 + (i - FIRST) / RATE
      by one of THREADS threads (jobs from HOLD_AT on wait until HOLD_FILE exists,
      at most 300 s, and the pace goes on from there), as POST /v1/jobs with the client id
      ID_PREFIX-i. A 503 or a failed connection is sent again with the same id
      (every 0.2 s, for up to 120 s): a submit is idempotent by its id. Appends
      one line per id to OUT_DIR/acked (the answer was 202), OUT_DIR/conflict
      (409: an earlier try of this id wrote the job, but its answer was not a
      202) or OUT_DIR/gaveup. Prints one JSON summary line at the end.

  clients.py watch API IDS_FILE OUT_FILE TIMEOUT_S READY_FILE
      One SSE client per job id of IDS_FILE on GET /v1/jobs/{id}/events (one
      thread each, no reconnect): reads events until `event: end` or the end
      of the stream, and writes one JSON line per stream to OUT_FILE: id, last
      state seen, events, how it ended ("end", "eof", "timeout", "error", or
      "http NNN"). Writes the number of streams open to READY_FILE once each
      has received its first status.

Never asserts anything: run.sh reads the files and counts.
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

FINAL = ("succeeded", "failed", "canceled")


def host_port(api):
    u = urllib.parse.urlsplit(api)
    return u.hostname, u.port


def append(path, line):
    # one write(2) per line on an O_APPEND descriptor: lines of several threads never mix
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def submit(args):
    api, pipeline, prefix, first, last, rate, threads, out, input_json = args[:9]
    first, last, rate, threads = int(first), int(last), float(rate), int(threads)
    hold_at, hold_file = (int(args[9]), args[10]) if len(args) == 11 else (last + 1, None)
    host, port = host_port(api)
    base_input = json.loads(input_json)
    lock = threading.Lock()
    state = {"next": first, "sent": 0, "503": 0, "conn_err": 0, "other": {}}
    t0 = time.monotonic()
    held = {"t0": None}
    hold_lock = threading.Lock()  # not lock: the other threads go on counting

    def start_of(i):
        # the pace of the jobs after the hold starts again when it is released
        if i < hold_at:
            return t0 + (i - first) / rate
        with hold_lock:
            if held["t0"] is None:
                deadline = time.monotonic() + 300
                while not os.path.exists(hold_file) and time.monotonic() < deadline:
                    time.sleep(0.02)
                held["t0"] = time.monotonic()
            return held["t0"] + (i - hold_at) / rate

    def take():
        with lock:
            i = state["next"]
            if i > last:
                return None
            state["next"] = i + 1
            return i

    def count(key):
        with lock:
            state[key] += 1

    def one(i):
        jid = "%s-%d" % (prefix, i)
        inp = dict(base_input)
        inp["i"] = i
        body = json.dumps({"pipeline": pipeline, "id": jid, "input": inp})
        deadline = time.monotonic() + 120
        while True:
            status = None
            try:
                c = http.client.HTTPConnection(host, port, timeout=30)
                c.request("POST", "/v1/jobs", body, {"content-type": "application/json"})
                r = c.getresponse()
                r.read()
                status = r.status
                c.close()
            except (OSError, http.client.HTTPException):
                count("conn_err")
            count("sent")
            if status == 202:
                append(os.path.join(out, "acked"), jid)
                return
            if status == 409:
                append(os.path.join(out, "conflict"), jid)
                return
            if status == 503:
                count("503")
            elif status is not None:
                with lock:
                    state["other"][str(status)] = state["other"].get(str(status), 0) + 1
            if time.monotonic() > deadline:
                append(os.path.join(out, "gaveup"), "%s %s" % (jid, status))
                return
            time.sleep(0.2)

    def run():
        while True:
            i = take()
            if i is None:
                return
            wait = start_of(i) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            one(i)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps({"requests": state["sent"], "answered_503": state["503"],
                      "connection_errors": state["conn_err"], "other": state["other"],
                      "seconds": round(time.monotonic() - t0, 1)}))


def watch(args):
    api, ids_file, out, timeout_s, ready = args
    timeout_s = float(timeout_s)
    host, port = host_port(api)
    ids = [x.strip() for x in open(ids_file, encoding="utf-8") if x.strip()]
    lock = threading.Lock()
    opened = [0]

    def mark_open():
        with lock:
            opened[0] += 1
            n = opened[0]
        if n == len(ids):
            with open(ready + ".tmp", "w", encoding="utf-8") as fh:
                fh.write("%d\n" % n)
            os.rename(ready + ".tmp", ready)

    def one(jid):
        res = {"id": jid, "state": None, "events": 0, "ended": "error"}
        first = True
        deadline = time.monotonic() + timeout_s
        try:
            c = http.client.HTTPConnection(host, port, timeout=timeout_s)
            c.request("GET", "/v1/jobs/%s/events" % jid, headers={"accept": "text/event-stream"})
            r = c.getresponse()
            if r.status != 200:
                res["ended"] = "http %d" % r.status
                mark_open()
                return res
            event, data = "message", []
            while True:
                if time.monotonic() > deadline:
                    res["ended"] = "timeout"
                    break
                line = r.fp.readline()
                if not line:
                    res["ended"] = "eof"
                    break
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if data and event == "status":
                        try:
                            st = json.loads("\n".join(data)).get("state")
                        except ValueError:
                            st = "unparsable"
                        res["state"] = st
                        res["events"] += 1
                        if first:
                            first = False
                            mark_open()
                    elif event == "end":
                        res["ended"] = "end"
                        break
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
        except OSError as e:
            res["ended"] = "timeout" if "timed out" in str(e) else "error: %s" % e
        except http.client.HTTPException as e:
            res["ended"] = "error: %s" % type(e).__name__
        if first:
            mark_open()
        return res

    def run(jid):
        append(out, json.dumps(one(jid)))

    ts = [threading.Thread(target=run, args=(j,)) for j in ids]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "submit" and len(args) in (9, 11):
        submit(args)
    elif cmd == "watch" and len(args) == 5:
        watch(args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
