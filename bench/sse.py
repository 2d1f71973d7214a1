#!/usr/bin/env python3
"""sse.py: the SSE client of `make bench` (standard library only).

  sse.py streams HOST PORT IDS_FILE READY_FILE OUT_JSON TIMEOUT_S
      opens one GET /v1/jobs/{id}/events stream per id of IDS_FILE (raw
      sockets, asyncio), writes READY_FILE once every stream has its first
      event (the snapshot), then reads until every stream has ended or
      TIMEOUT_S pass, and writes the latency of every later event.
  sse.py live HOST PORT DURATION_S RATE OUT_JSON
      opens GET /v1/events (every job) and, on a second keep-alive
      connection, submits bench4 jobs at RATE per second for DURATION_S; the
      latency of each event received meanwhile is recorded.

Latency of an event = the time this process received it - the status's
updated_at (the worker's clock when it wrote the change; same machine, same
clock). updated_at has millisecond resolution and is taken just before the
worker's Redis call, so the figure includes that call, the PUBLISH, the
API's HGETALL and its write to the stream. Snapshots (the first event of a
job stream) and events whose updated_at predates the client's start are
not counted.
"""
import asyncio
import json
import sys
import time
from datetime import datetime, timezone


def parse_ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def summary(lat_ms, extra):
    d = {"events": len(lat_ms),
         "p50_ms": pct(lat_ms, 50), "p90_ms": pct(lat_ms, 90), "p99_ms": pct(lat_ms, 99),
         "max_ms": max(lat_ms) if lat_ms else None}
    d.update(extra)
    return d


async def open_stream(host, port, path):
    r, w = await asyncio.open_connection(host, port, limit=1 << 22)
    w.write(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n"
             % (path, host, port)).encode())
    await w.drain()
    status = await r.readline()
    if b" 200 " not in status:
        raise RuntimeError("%s: %s" % (path, status.decode(errors="replace").strip()))
    while (await r.readline()) not in (b"\r\n", b""):
        pass
    return r, w


async def chunks(r):
    """The stream's body (chunked transfer): yields lines."""
    buf = b""
    while True:
        size = await r.readline()
        if not size:
            return
        n = int(size.strip() or b"0", 16)
        if n == 0:
            return
        buf += await r.readexactly(n)
        await r.readexactly(2)
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line


async def events(r):
    """Yields (event, data, receive time) per SSE block."""
    ev, data = None, None
    async for line in chunks(r):
        if line.startswith(b"event: "):
            ev = line[7:].decode()
        elif line.startswith(b"data: "):
            data = line[6:]
        elif line == b"":
            if ev is not None:
                yield ev, data, time.time()
            ev, data = None, None


def latency_of(data, t_recv, t_start):
    try:
        st = json.loads(data)
        u = parse_ts(st["updated_at"])
    except (ValueError, KeyError, TypeError):
        return None
    if u < t_start:
        return None
    return (t_recv - u) * 1000.0


async def one_stream(host, port, jid, ready, lat, t_start, state):
    try:
        r, w = await open_stream(host, port, "/v1/jobs/%s/events" % jid)
    except (OSError, RuntimeError) as e:
        state["failed"] += 1
        state["errors"].append(str(e)[:200])
        ready.set_result(None) if not ready.done() else None
        return
    first = True
    try:
        async for ev, data, t in events(r):
            if first:
                first = False
                ready.set_result(None)
                continue
            if ev == "status":
                x = latency_of(data, t, t_start)
                if x is not None:
                    lat.append(x)
            elif ev == "end":
                break
    finally:
        if not ready.done():
            ready.set_result(None)
        w.close()
    state["ended"] += 1


async def streams(host, port, ids_file, ready_file, out, timeout_s):
    ids = [x.strip() for x in open(ids_file) if x.strip()]
    lat, state = [], {"failed": 0, "ended": 0, "errors": []}
    t_start = time.time()
    loop = asyncio.get_running_loop()
    readies, tasks = [], []
    for i, jid in enumerate(ids):
        f = loop.create_future()
        readies.append(f)
        tasks.append(asyncio.create_task(one_stream(host, port, jid, f, lat, t_start, state)))
        if i % 100 == 99:
            await asyncio.sleep(0.01)  # do not flood the accept backlog
    await asyncio.wait_for(asyncio.gather(*readies), timeout_s)
    with open(ready_file, "w") as f:
        f.write("%d\n" % (len(ids) - state["failed"]))
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for t in pending:
        t.cancel()
    res = summary(lat, {"streams": len(ids), "failed": state["failed"], "ended": state["ended"],
                        "errors": state["errors"][:3]})
    json.dump(res, open(out, "w"))


async def submitter(host, port, duration_s, rate, state):
    r, w = await asyncio.open_connection(host, port)
    body = b'{"pipeline":"bench4","input":{"n":1}}'
    req = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    t0 = time.time()
    i = 0
    while time.time() - t0 < duration_s:
        due = t0 + i / rate
        now = time.time()
        if due > now:
            await asyncio.sleep(due - now)
        w.write(req)
        await w.drain()
        status = await r.readline()
        n = 0
        while True:
            line = await r.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        await r.readexactly(n)
        state["submitted"] += 1
        if b" 202 " not in status:
            state["bad"] += 1
        i += 1
    w.close()


async def live(host, port, duration_s, rate, out):
    lat, state = [], {"submitted": 0, "bad": 0}
    t_start = time.time()
    r, w = await open_stream(host, port, "/v1/events")

    async def reader():
        async for ev, data, t in events(r):
            if ev == "status":
                x = latency_of(data, t, t_start)
                if x is not None:
                    lat.append(x)

    rt = asyncio.create_task(reader())
    await submitter(host, port, duration_s, rate, state)
    await asyncio.sleep(1.0)  # the last jobs' events
    rt.cancel()
    w.close()
    json.dump(summary(lat, {"submitted": state["submitted"], "non202": state["bad"],
                            "rate": rate, "duration_s": duration_s}), open(out, "w"))


def main():
    if len(sys.argv) == 8 and sys.argv[1] == "streams":
        _, _, host, port, ids, ready, out, to = sys.argv
        asyncio.run(streams(host, int(port), ids, ready, out, float(to)))
    elif len(sys.argv) == 7 and sys.argv[1] == "live":
        _, _, host, port, dur, rate, out = sys.argv
        asyncio.run(live(host, int(port), float(dur), float(rate), out))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
