#!/usr/bin/env bash
# test_http: the HTTP connection itself, over raw sockets. An answer that
# comes from Redis (a status GET) is written at once, and evhttp is told the
# buffer drained (api/reply.c); what the socket does not take goes the usual
# way. So: requests pipelined on one connection (answers made at once and
# answers from Redis, mixed) are answered in order and the connection goes
# on; HTTP/1.0 and Connection: close end it after the answer; an answer far
# larger than the socket's buffers, read slowly, arrives whole, and the
# connection serves the next request; clients that go away before their
# answer cost nothing.
source "$(dirname "$0")/lib.sh"
T=$STAGEQ_TEST_TMP
export STAGEQ_PREFIX=th
flush_prefix th
start_api api

# Three queued jobs (no worker: their status stays queued), one with an input
# of about 900 KB, so that its status is larger than the socket buffers.
for i in 1 2 3; do post_json /v1/jobs "{\"pipeline\":\"echo\",\"id\":\"th-$i\",\"input\":{\"n\":$i}}"; done
check_eq "the jobs are submitted" 202 "$HTTP_STATUS"
python3 -c 'import json; print(json.dumps({"pipeline": "echo", "id": "th-big", "input": {"blob": "x" * 900000}}))' >"$T/big.json"
http POST /v1/jobs -H 'content-type: application/json' --data-binary "@$T/big.json"
check_eq "the job with a 900 KB input is submitted" 202 "$HTTP_STATUS"
curl -s "$API_URL/v1/jobs/th-big" >"$T/big.curl"
check "its status (curl) carries the input" test "$(wc -c <"$T/big.curl")" -gt 900000

PORT=${API_URL##*:}
cat >"$T/raw.py" <<'PY'
import json, socket, sys, time

PORT = int(sys.argv[1])
MODE = sys.argv[2]


def connect(rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", PORT))
    return s


class Reader:
    def __init__(self, s, chunk=65536, pause=0.0):
        self.s, self.buf, self.chunk, self.pause = s, b"", chunk, pause

    def more(self):
        if self.pause:
            time.sleep(self.pause)
        d = self.s.recv(self.chunk)
        if not d:
            raise EOFError
        self.buf += d

    def answer(self, is_head=False):
        """One answer: (status, headers dict, body bytes)."""
        while b"\r\n\r\n" not in self.buf:
            self.more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        h = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            h[k.strip().lower()] = v.strip()
        if is_head or status in (204, 304):
            n = 0
        elif "content-length" in h:
            n = int(h["content-length"])
        else:  # HTTP/1.0 without keep-alive: the body ends with the connection
            try:
                while True:
                    self.more()
            except EOFError:
                pass
            n = len(self.buf)
        while len(self.buf) < n:
            self.more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, h, body

    def closed(self):
        """True when the server closed the connection (nothing more came)."""
        try:
            self.more()
        except EOFError:
            return True
        except OSError:
            return True
        return False


def get(path, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, extra)).encode()


if MODE == "pipeline":
    # 40 requests in one write: status GETs (answered from Redis), unknown
    # ids (404 from Redis), HEADs, bad ids (400 at once), health (at once).
    kinds = []
    reqs = b""
    for i in range(40):
        k = i % 5
        if k == 0:
            reqs += get("/v1/jobs/th-%d" % (i % 3 + 1)); kinds.append(("get", i % 3 + 1))
        elif k == 1:
            reqs += get("/v1/jobs/th-none-%d" % i); kinds.append(("404", i))
        elif k == 2:
            reqs += ("HEAD /v1/jobs/th-2 HTTP/1.1\r\nHost: t\r\n\r\n").encode(); kinds.append(("head", 2))
        elif k == 3:
            reqs += get("/v1/jobs/bad%20id"); kinds.append(("400", i))
        else:
            reqs += get("/healthz"); kinds.append(("health", i))
    s = connect()
    s.sendall(reqs)
    r = Reader(s)
    bad = []
    for kind, arg in kinds:
        st, h, body = r.answer(is_head=(kind == "head"))
        want = {"get": 200, "404": 404, "head": 200, "400": 400, "health": 200}[kind]
        if st != want:
            bad.append("%s: %d" % (kind, st))
        elif kind == "get" and json.loads(body).get("id") != "th-%d" % arg:
            bad.append("get th-%d: id %r" % (arg, json.loads(body).get("id")))
        elif kind == "head" and int(h.get("content-length", "0")) < 50:
            bad.append("head: content-length %r" % h.get("content-length"))
    print("pipelined_bad", len(bad), ";".join(bad[:5]))
    # the connection goes on
    s.sendall(get("/v1/jobs/th-3"))
    st, h, body = r.answer()
    print("after", st, json.loads(body).get("id"))
    s.close()
elif MODE == "http10":
    s = connect()
    s.sendall(b"GET /v1/jobs/th-1 HTTP/1.0\r\n\r\n")
    r = Reader(s)
    st, h, body = r.answer()
    print("http10", st, json.loads(body).get("id"), "closed" if r.closed() else "open",
          "length" if "content-length" in h else "to-close")
elif MODE == "close":
    s = connect()
    s.sendall(get("/v1/jobs/th-2", "Connection: close\r\n"))
    r = Reader(s)
    st, h, body = r.answer()
    print("close", st, json.loads(body).get("id"), "closed" if r.closed() else "open")
elif MODE == "slow":
    # a 4 KB receive buffer, read 16 KB at a time with pauses: the API's
    # socket takes only part of the answer at once
    s = connect(rcvbuf=4096)
    s.sendall(get("/v1/jobs/th-big"))
    r = Reader(s, chunk=16384, pause=0.002)
    st, h, body = r.answer()
    open(sys.argv[3], "wb").write(body)
    r.pause = 0
    s.sendall(get("/v1/jobs/th-1"))
    st2, h2, body2 = r.answer()
    print("slow", st, len(body), "then", st2, json.loads(body2).get("id"))
elif MODE == "stream":
    # a job's stream, chunked (HTTP/1.1) or to the close (HTTP/1.0): its
    # first event (written at once), then the job is canceled on another
    # connection: the canceled status and the end together, the chunked
    # stream's last chunk, and the API closes
    ver, jid = sys.argv[3], sys.argv[4]
    s = connect()
    s.sendall(("GET /v1/jobs/%s/events HTTP/%s\r\nHost: t\r\n\r\n" % (jid, ver)).encode())
    r = Reader(s)
    while b"\r\n\r\n" not in r.buf:
        r.more()
    head, r.buf = r.buf.split(b"\r\n\r\n", 1)
    chunked = b"transfer-encoding: chunked" in head.lower()
    while b"\n\n" not in r.buf:
        r.more()
    first = r.buf
    d = connect()
    d.sendall(("DELETE /v1/jobs/%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % jid).encode())
    st, h, body = Reader(d).answer()
    d.close()
    rest = b""
    try:
        while True:
            r.more()
    except EOFError:
        pass
    raw = first + r.buf
    if chunked:  # decode the chunks; the last one must be 0
        text, ok, buf = b"", False, raw
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            n = int(size_line, 16)
            if n == 0:
                ok = buf == b"\r\n"
                break
            text, buf = text + buf[:n], buf[n + 2:]
        framing = "chunked,last-chunk" if ok else "chunked,bad"
    else:
        text, framing = raw, "to-close"
    events = [b.split(b"\n")[0].decode() for b in text.split(b"\n\n") if b.startswith(b"event:")]
    states = [json.loads(b.split(b"data: ", 1)[1]).get("state") for b in text.split(b"\n\n")
              if b.startswith(b"event: status")]
    names = [e.split(": ")[1] for e in events]
    # a change in between may add a status (the stream's re-read on its subscription)
    print("stream", framing, st, names[0], states[0], "...", " ".join(names[-2:]), states[-1],
          "ends:%d" % names.count("end"))
elif MODE == "gone":
    # 30 clients that send a status GET and reset the connection at once
    import struct
    for i in range(30):
        s = connect()
        s.sendall(get("/v1/jobs/th-%d" % (i % 3 + 1)))
        if i % 2 == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    print("gone 30")
PY

out=$(python3 "$T/raw.py" "$PORT" pipeline 2>&1)
check_eq "40 pipelined requests (from Redis and at once, mixed) are answered in order" \
  "pipelined_bad 0 " "$(echo "$out" | grep '^pipelined_bad')"
check_eq "... and the connection serves the next request" "after 200 th-3" "$(echo "$out" | grep '^after')"
out=$(python3 "$T/raw.py" "$PORT" http10 2>&1)
check_eq "HTTP/1.0 without keep-alive: the answer, to the API's close" "http10 200 th-1 closed to-close" "$out"
out=$(python3 "$T/raw.py" "$PORT" close 2>&1)
check_eq "Connection: close: the answer, then the API closes" "close 200 th-2 closed" "$out"
out=$(python3 "$T/raw.py" "$PORT" slow "$T/big.slow" 2>&1)
check_eq "a 900 KB answer read slowly arrives whole, then the next answer" \
  "slow 200 $(wc -c <"$T/big.curl") then 200 th-1" "$out"
check "... byte for byte what curl got" cmp -s "$T/big.curl" "$T/big.slow"
out=$(python3 "$T/raw.py" "$PORT" stream 1.1 th-3 2>&1)
check_eq "a chunked job stream: its status at once, then canceled and the end, the last chunk, closed" \
  "stream chunked,last-chunk 200 status queued ... status end canceled ends:1" "$out"
out=$(python3 "$T/raw.py" "$PORT" stream 1.0 th-2 2>&1)
check_eq "an HTTP/1.0 job stream: the same, to the API's close" \
  "stream to-close 200 status queued ... status end canceled ends:1" "$out"
out=$(python3 "$T/raw.py" "$PORT" gone 2>&1)
check_eq "30 clients go away before their answer" "gone 30" "$out"
http GET /v1/jobs/th-1
check_eq "... the API answers the next request" "200 th-1" "$HTTP_STATUS $(jqr .id)"
check "... and is still running" kill -0 "$API_PID"

# The same on a keep-alive connection curl reuses: 200 GETs, every answer whole.
urls=()
for i in $(seq 1 200); do urls+=("$API_URL/v1/jobs/th-$((i % 3 + 1))"); done
n=$(curl -s "${urls[@]}" | jq -r .id | grep -c '^th-[123]$')
check_eq "200 GETs on one curl connection: every answer whole" 200 "$n"

finish
