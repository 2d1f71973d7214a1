#!/usr/bin/env python3
"""sse.py: the SSE client of `make bench` (standard library only, Linux).

  sse.py streams HOST PORT RPORT CHANNEL IDS_FILE READY_FILE OUT_JSON TIMEOUT_S
      opens one GET /v1/jobs/{id}/events stream per id of IDS_FILE, writes
      READY_FILE once every stream has its first event (the snapshot), then
      reads until every stream has ended or TIMEOUT_S pass.
  sse.py live HOST PORT RPORT CHANNEL DURATION_S RATE OUT_JSON
      opens GET /v1/events (every job) and, on a second keep-alive
      connection, submits bench4 jobs at RATE per second for DURATION_S.

The clocks. Every socket of this client asks the kernel for receive
timestamps (SO_TIMESTAMPNS): the time the bytes reached the socket, whenever
this (Python) process gets to read them, so its own delays under load are
not in the figures. Both modes also SUBSCRIBE to CHANNEL (the events
channel, on the Redis at 127.0.0.1:RPORT) from a child process that does
nothing else, as the API does: Redis writes a job's PUBLISH to every
subscriber in the same turn of its loop, right after the script that changed
the job, so its receive time there is when the change was in Redis (no
MONITOR). Per event (a stream's first one, the snapshot, is not counted):

  total       the event received (kernel) - the status's updated_at: the
              change, as its writer stamped it, to the client's socket. The
              figure the goals are about. updated_at is milliseconds,
              truncated: this overstates by 0..1 ms.
  delivery    the event received - the PUBLISH of the change it carries
              received: the API's part (its subscriber, the HGETALL, the
              status written to the stream)
  write       PUBLISH - updated_at: the writer's part (its call, Redis's
              queue; ms resolution), for the worker's changes
  client_lag  the event received (kernel) -> parsed here: this client's own
              delay, left out of the others
  age         parsed here - updated_at: the figure before the kernel clock
  submit      live: the POST written -> the queued event received, both on
              this process's clock

The change an event carries is found from its status: the job's first
PUBLISH when it is queued (the submit; live mode), its last one when it is
final (the end), its start when it runs stage 1, stage k's start when every
stage of the job was published on its own (else the event is "unmatched").
Two limits, counted in the output: an event whose PUBLISH was received after
it ("early": Redis wrote the reply of a read already in flight before the
PUBLISH to the other subscribers, or the subscriber was starved and the
kernel merged unread messages, which then carry the latest one's time);
and events received together carry the last one's time (an overstatement).
SSE_RAW=FILE also writes every event and PUBLISH time there (for analysis).
"""
import asyncio
import errno
import json
import multiprocessing
import os
import socket
import struct
import sys
import select
import time
from datetime import datetime, timezone

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
FINAL = ("succeeded", "failed", "canceled")
NSTAGES = 4  # bench4


def parse_ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def dist(xs, name, d):
    d[name + "_p50_ms"] = pct(xs, 50)
    d[name + "_p90_ms"] = pct(xs, 90)
    d[name + "_p99_ms"] = pct(xs, 99)
    d[name + "_max_ms"] = max(xs) if xs else None


class Reader:
    """A non-blocking socket read with kernel receive timestamps: on_data(bytes,
    t_kernel, t_here) for every read (t_kernel: the last segment's arrival)."""

    def __init__(self, loop, sock, on_data, on_eof, size=65536):
        self.loop, self.sock, self.on_data, self.on_eof, self.size = loop, sock, on_data, on_eof, size
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self.readable)

    def readable(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(self.size, 256)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return
                data, anc = b"", []
            now = time.time()
            if not data:
                self.close()
                self.on_eof()
                return
            self.on_data(data, kernel_time(anc, now), now)
            if len(data) < self.size:
                return

    def close(self):
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None


class Subscriber:
    """SUBSCRIBE channel in a child process of its own, which does nothing
    else, so that it reads each of Redis's writes before the next one comes:
    the kernel merges data that waits unread, and the merged bytes carry the
    latest arrival's timestamp. pubs() (once, at the end): id -> the kernel
    receive times of its PUBLISHes."""

    def __init__(self, rport, channel):
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.get_context("fork").Process(
            target=Subscriber.run, args=(rport, channel, child), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(10) or self.conn.recv() != "ready":
            raise RuntimeError("the subscriber did not start")

    def pubs(self):
        self.conn.send("stop")
        p = self.conn.recv()
        self.proc.join()
        return p

    @staticmethod
    def run(rport, channel, conn):
        s = socket.create_connection(("127.0.0.1", rport))
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        c = channel.encode()
        s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(c), c))
        pubs, buf, is_ready = {}, b"", False
        poll = select.poll()
        poll.register(s.fileno(), select.POLLIN)
        poll.register(conn.fileno(), select.POLLIN)
        while True:
            fds = [fd for fd, _ in poll.poll()]
            if s.fileno() in fds:
                data, anc, _, _ = s.recvmsg(65536, 256)
                if not data:
                    break
                tk = kernel_time(anc, time.time())
                buf += data
                pos = 0
                while True:
                    m, pos = resp_array(buf, pos)
                    if m is None:
                        break
                    if m[0] == b"message":
                        pubs.setdefault(m[2].decode(), []).append(tk)
                    elif m[0] == b"subscribe" and not is_ready:
                        is_ready = True
                        conn.send("ready")
                buf = buf[pos:]
            if conn.fileno() in fds:
                break
        conn.recv()
        conn.send(pubs)


def kernel_time(anc, default):
    """The SO_TIMESTAMPNS time of a recvmsg's ancillary data."""
    for lvl, typ, c in anc:
        if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(c) >= 16:
            s, ns = struct.unpack("qq", c[:16])
            return s + ns / 1e9
    return default


def resp_array(b, pos):
    """(one RESP array of bulk strings or integers at b[pos:], the offset
    after it), or (None, pos) when it is not all there."""
    if b[pos:pos + 1] != b"*":
        return None, pos
    e = b.find(b"\r\n", pos)
    if e < 0:
        return None, pos
    n, at, out = int(b[pos + 1:e]), e + 2, []
    for _ in range(n):
        e = b.find(b"\r\n", at)
        if e < 0:
            return None, pos
        if b[at:at + 1] == b":":
            out.append(b[at + 1:e])
            at = e + 2
            continue
        ln = int(b[at + 1:e])
        if len(b) < e + 2 + ln + 2:
            return None, pos
        out.append(b[e + 2:e + 2 + ln])
        at = e + 2 + ln + 2
    return out, at


class Stream:
    """GET path as SSE: on_event(event, data, t_kernel, t_here) per block."""

    def __init__(self, loop, host, port, path, on_event, on_end):
        self.loop, self.on_event, self.on_end = loop, on_event, on_end
        self.head, self.body, self.lines = None, b"", b""
        self.headers = loop.create_future()
        self.ev, self.data = None, None
        s = socket.create_connection((host, port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n"
                   % (path, host, port)).encode())
        self.r = Reader(loop, s, self.got, self.eof)

    def eof(self):
        if not self.headers.done():
            self.headers.set_exception(RuntimeError("closed before the headers"))
        self.on_end(self)

    def close(self):
        self.r.close()

    def got(self, data, tk, now):
        if self.head is None:
            self.body += data
            i = self.body.find(b"\r\n\r\n")
            if i < 0:
                return
            self.head, data, self.body = self.body[:i], self.body[i + 4:], b""
            if b" 200 " not in self.head.split(b"\r\n", 1)[0]:
                self.headers.set_exception(RuntimeError(self.head.split(b"\r\n", 1)[0].decode()))
                self.close()
                return
            self.headers.set_result(None)
        self.body += data
        # chunked transfer: size line, data, CRLF
        while True:
            e = self.body.find(b"\r\n")
            if e < 0:
                return
            n = int(self.body[:e].strip() or b"0", 16)
            if n == 0:
                self.close()
                self.on_end(self)
                return
            if len(self.body) < e + 2 + n + 2:
                return
            self.lines += self.body[e + 2:e + 2 + n]
            self.body = self.body[e + 2 + n + 2:]
            while b"\n" in self.lines:
                line, self.lines = self.lines.split(b"\n", 1)
                if line.startswith(b"event: "):
                    self.ev = line[7:].decode()
                elif line.startswith(b"data: "):
                    self.data = line[6:]
                elif line == b"":
                    if self.ev is not None:
                        self.on_event(self, self.ev, self.data, tk, now)
                    self.ev, self.data = None, None


class Tally:
    """The events received, matched with the PUBLISHes at the end."""

    def __init__(self, t_start):
        self.t_start = t_start
        self.raw, self.events = [], []  # (id, state, stage, updated_at, t_kernel, t_here)

    def add(self, data, tk, now):
        self.raw.append((data, tk, now))  # parsed at the end: a light client meanwhile

    def parse(self):
        for data, tk, now in self.raw:
            try:
                st = json.loads(data)
                u = parse_ts(st["updated_at"])
                self.events.append((st["id"], st.get("state"), int(st.get("stage") or 0), u, tk,
                                    now))
            except (ValueError, KeyError, TypeError):
                pass
        self.raw = []

    def result(self, pubs, submitted_at, base):
        """base: the publishes of a job before its first running event seen
        by the subscriber (1 when it saw the submit, else 0)."""
        self.parse()
        lat, lag, age, wr, sub, tot = [], [], [], [], [], []
        unmatched = early = 0
        for jid, state, stage, u, tk, now in self.events:
            if u < self.t_start:
                continue
            lag.append((now - tk) * 1000.0)
            age.append((now - u) * 1000.0)
            tot.append((tk - u) * 1000.0)
            ps = pubs.get(jid, [])
            i = None
            if state == "queued" and stage == 0 and base == 1:
                i = 0
            elif state in FINAL:
                i = len(ps) - 1
            elif state == "running" and stage == 1:
                i = base
            elif state == "running" and len(ps) == base + NSTAGES + 1:
                i = base + stage - 1
            if i is None or i < 0 or i >= len(ps):
                unmatched += 1
                continue
            early += tk < ps[i]  # kept: the noise they are (see above)
            lat.append((tk - ps[i]) * 1000.0)
            if state != "queued":
                wr.append((ps[i] - u) * 1000.0)
            elif jid in submitted_at:
                sub.append((tk - submitted_at[jid]) * 1000.0)
        d = {"events": len(tot), "matched": len(lat), "unmatched": unmatched, "early": early}
        dist(lat, "delivery", d)
        dist(tot, "total", d)
        dist(lag, "client_lag", d)
        dist(age, "age", d)
        dist(wr, "write", d)
        dist(sub, "submit", d)
        d["publishes"] = sum(len(v) for v in pubs.values())
        if os.environ.get("SSE_RAW"):
            json.dump({"events": self.events, "pubs": pubs, "submitted": submitted_at},
                      open(os.environ["SSE_RAW"], "w"))
        return d


def ended_count(state):
    state["ended"] += 1
    if state["ended"] + state["failed"] >= state["n"] and not state["all_ended"].done():
        state["all_ended"].set_result(None)


async def streams(host, port, sub, ids_file, ready_file, out, timeout_s):
    loop = asyncio.get_running_loop()
    ids = [x.strip() for x in open(ids_file) if x.strip()]
    t_start = time.time()
    tally = Tally(t_start)
    state = {"failed": 0, "ended": 0, "errors": [], "n": len(ids), "all_ended": loop.create_future()}
    firsts = {}

    def on_event(st, ev, data, tk, now):
        if not firsts[st].done():
            firsts[st].set_result(None)  # the snapshot
            return
        if ev == "status":
            tally.add(data, tk, now)

    def on_end(st):
        if not firsts[st].done():
            firsts[st].set_result(None)
        ended_count(state)

    opened = []
    for i, jid in enumerate(ids):
        try:
            st = Stream(loop, host, port, "/v1/jobs/%s/events" % jid, on_event, on_end)
        except OSError as e:
            state["failed"] += 1
            state["errors"].append(str(e)[:200])
            continue
        firsts[st] = loop.create_future()
        opened.append(st)
        if i % 100 == 99:
            await asyncio.sleep(0.01)  # do not flood the accept backlog
    for st in opened:
        try:
            await asyncio.wait_for(st.headers, timeout_s)
        except (RuntimeError, asyncio.TimeoutError) as e:
            state["failed"] += 1
            state["errors"].append(str(e)[:200])
            st.close()
            firsts[st].set_result(None)
    await asyncio.wait_for(asyncio.gather(*firsts.values()), timeout_s)
    with open(ready_file, "w") as f:
        f.write("%d\n" % (len(ids) - state["failed"]))
    if state["failed"] >= len(ids):
        state["all_ended"].set_result(None)
    try:
        await asyncio.wait_for(asyncio.shield(state["all_ended"]), timeout_s)
    except asyncio.TimeoutError:
        pass
    for st in opened:
        st.close()
    res = tally.result(sub.pubs(), {}, 0)
    res.update({"streams": len(ids), "failed": state["failed"], "ended": state["ended"],
                "errors": state["errors"][:3]})
    json.dump(res, open(out, "w"))


async def submitter(host, port, duration_s, rate, state, submitted_at):
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
        t_sent = time.time()
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
        answer = await r.readexactly(n)
        state["submitted"] += 1
        if b" 202 " not in status:
            state["bad"] += 1
        else:
            try:
                submitted_at[json.loads(answer)["id"]] = t_sent
            except (ValueError, KeyError):
                state["bad"] += 1
        i += 1
    w.close()


async def live(host, port, sub, duration_s, rate, out):
    loop = asyncio.get_running_loop()
    state, submitted_at = {"submitted": 0, "bad": 0}, {}
    t_start = time.time()
    tally = Tally(t_start)

    def on_event(_, ev, data, tk, now):
        if ev == "status":
            tally.add(data, tk, now)

    st = Stream(loop, host, port, "/v1/events", on_event, lambda _: None)
    await asyncio.wait_for(st.headers, 10)  # started once the API is subscribed
    await submitter(host, port, duration_s, rate, state, submitted_at)
    await asyncio.sleep(1.0)  # the last jobs' events
    st.close()
    res = tally.result(sub.pubs(), submitted_at, 1)
    res.update({"submitted": state["submitted"], "non202": state["bad"], "rate": rate,
                "duration_s": duration_s})
    json.dump(res, open(out, "w"))


def main():
    a = sys.argv
    if len(a) == 10 and a[1] == "streams":
        sub = Subscriber(int(a[4]), a[5])  # forked before the loop starts
        asyncio.run(streams(a[2], int(a[3]), sub, a[6], a[7], a[8], float(a[9])))
    elif len(a) == 9 and a[1] == "live":
        sub = Subscriber(int(a[4]), a[5])
        asyncio.run(live(a[2], int(a[3]), sub, float(a[6]), float(a[7]), a[8]))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
