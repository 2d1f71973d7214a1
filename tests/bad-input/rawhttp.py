#!/usr/bin/env python3
"""rawhttp.py: HTTP requests curl will not send, over a plain socket.

    rawhttp.py PORT SCENARIO METHOD PATH [options]

Prints the final status code (3 digits; "000" when the server closed or went
quiet without answering) and, like curl -D/-o, writes the response headers
and body to files. Scenarios (SCENARIO[:ARG]):

  plain          METHOD PATH HTTP/1.1 + Host + headers + Content-Length + body
  http10         HTTP/1.0, no Host header at all
  line           ARG (printf-style escapes) is the whole request, sent as is
  short-body     Content-Length says ARG bytes more than the body sent; then
                 the client closes its side (shutdown) and waits for an answer
  chunked        body sent with Transfer-Encoding: chunked, chunks of ARG bytes
  chunked-bad    Transfer-Encoding: chunked with a chunk-size line that is not hex
  expect100      Expect: 100-continue; body only after "100 Continue" arrives
                 (prints "100+STATUS" when the interim answer came first)
  trickle        body one byte per 100 ms for ARG seconds, then the rest
  hold           opens ARG connections, sends half a request line on each and
                 keeps them open until the --ready file is removed (or 60 s)
Options: -H 'Name: value' (repeatable), --body FILE, -D FILE, -o FILE,
         --ready FILE (hold), --timeout S (default 10), --next FILE: writes
         what the connection does after the response: "closed", "more" (more
         bytes came: a body read as another request) or "open" (quiet for 2 s).
Standard library only.
"""
import os
import socket
import sys
import time


def parse_args(argv):
    if len(argv) < 5:
        sys.exit(__doc__)
    opts = {"port": int(argv[1]), "scenario": argv[2], "method": argv[3], "path": argv[4],
            "headers": [], "body": b"", "D": None, "o": None, "ready": None, "timeout": 10.0,
            "next": None}
    i = 5
    while i < len(argv):
        a = argv[i]
        v = argv[i + 1] if i + 1 < len(argv) else sys.exit("missing value for " + a)
        if a == "-H":
            opts["headers"].append(v)
        elif a == "--body":
            with open(v, "rb") as f:
                opts["body"] = f.read()
        elif a == "-D":
            opts["D"] = v
        elif a == "-o":
            opts["o"] = v
        elif a == "--ready":
            opts["ready"] = v
        elif a == "--timeout":
            opts["timeout"] = float(v)
        elif a == "--next":
            opts["next"] = v
        else:
            sys.exit("unknown option " + a)
        i += 2
    name, _, arg = opts["scenario"].partition(":")
    opts["scenario"], opts["arg"] = name, arg
    return opts


def unescape(text):
    """printf-style escapes (\\r \\n \\t \\0 \\xHH \\\\) to bytes."""
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def head_bytes(o, version="HTTP/1.1", host=True, extra=()):
    lines = ["%s %s %s" % (o["method"], o["path"], version)]
    if host:
        lines.append("Host: 127.0.0.1:%d" % o["port"])
    lines += o["headers"]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Reader:
    """Reads HTTP responses from a socket, tolerating resets and timeouts."""

    def __init__(self, sock, deadline):
        self.sock, self.buf, self.eof, self.deadline = sock, b"", False, deadline

    def fill(self):
        if self.eof:
            return False
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.eof = True
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ConnectionError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def until(self, marker):
        while marker not in self.buf:
            if not self.fill():
                return None
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            if not self.fill():
                break
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        while self.fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def response(self, method):
        """(status, header bytes, body bytes) of the next response, or None."""
        head = self.until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ")[1])
        except (IndexError, ValueError):
            return (0, head, b"")
        hdrs = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if status < 200 or method == "HEAD" or status in (204, 304):
            return (status, head, b"")
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size_line = self.until(b"\r\n")
                if size_line is None:
                    break
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.until(b"\r\n")
                    break
                body += self.exactly(size)
                self.exactly(2)
            return (status, head, body)
        if "content-length" in hdrs:
            return (status, head, self.exactly(int(hdrs["content-length"])))
        return (status, head, self.rest())


def send_all(sock, data):
    """False when the server closed on us (it may still have answered)."""
    try:
        sock.sendall(data)
        return True
    except (ConnectionError, OSError):
        return False


def connect(o):
    return socket.create_connection(("127.0.0.1", o["port"]), timeout=o["timeout"])


def hold(o):
    n = int(o["arg"] or "20")
    socks = []
    for _ in range(n):
        s = connect(o)
        send_all(s, ("%s /heal" % o["method"]).encode())  # half a request line
        socks.append(s)
    ready = o["ready"]
    with open(ready, "w") as f:
        f.write("%d\n" % n)
    end = time.monotonic() + 60
    while os.path.exists(ready) and time.monotonic() < end:
        time.sleep(0.05)
    # still open and unanswered (the server waits for the rest of the line)?
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(1)  # b"" (closed) or data (answered): not waiting any more
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.close()
    print(alive)


def main():
    o = parse_args(sys.argv)
    if o["scenario"] == "hold":
        hold(o)
        return
    sc, arg, body, method = o["scenario"], o["arg"], o["body"], o["method"]
    sock = connect(o)
    deadline = time.monotonic() + o["timeout"]
    rd = Reader(sock, deadline)
    prefix = ""
    if sc == "plain":
        send_all(sock, head_bytes(o, extra=["Content-Length: %d" % len(body)]) + body)
    elif sc == "http10":
        send_all(sock, head_bytes(o, "HTTP/1.0", host=False,
                                  extra=["Content-Length: %d" % len(body)] if body else []) + body)
    elif sc == "line":
        send_all(sock, unescape(arg))
    elif sc == "short-body":
        send_all(sock, head_bytes(o, extra=["Content-Length: %d" % (len(body) + int(arg))]) + body)
        sock.shutdown(socket.SHUT_WR)
    elif sc == "chunked":
        size = int(arg or "1000")
        send_all(sock, head_bytes(o, extra=["Transfer-Encoding: chunked"]))
        for i in range(0, len(body), size):
            part = body[i:i + size]
            if not send_all(sock, b"%x\r\n%s\r\n" % (len(part), part)):
                break
        else:
            send_all(sock, b"0\r\n\r\n")
    elif sc == "chunked-bad":
        send_all(sock, head_bytes(o, extra=["Transfer-Encoding: chunked"]) + b"zz\r\n" + body +
                 b"\r\n0\r\n\r\n")
    elif sc == "expect100":
        send_all(sock, head_bytes(o, extra=["Content-Length: %d" % len(body),
                                            "Expect: 100-continue"]))
        first = rd.response(method)
        if first is not None and first[0] == 100:
            prefix = "100+"
            send_all(sock, body)
        elif first is not None:
            return report(o, first, "")
    elif sc == "trickle":
        secs = float(arg or "2")
        send_all(sock, head_bytes(o, extra=["Content-Length: %d" % len(body)]))
        n = min(int(secs * 10), len(body))
        for i in range(n):
            send_all(sock, body[i:i + 1])
            time.sleep(0.1)
        send_all(sock, body[n:])
        rd.deadline = time.monotonic() + o["timeout"]
    else:
        sys.exit("unknown scenario " + sc)
    report(o, rd.response(method), prefix)
    if o["next"]:
        with open(o["next"], "w") as f:
            f.write(after(rd) + "\n")


def after(rd):
    """What the connection does once a response was read (see --next)."""
    if rd.buf:
        return "more"
    rd.sock.settimeout(2.0)
    try:
        return "more" if rd.sock.recv(1) else "closed"
    except socket.timeout:
        return "open"
    except OSError:
        return "closed"


def report(o, resp, prefix):
    status, head, body = resp if resp is not None else (0, b"", b"")
    if o["D"]:
        with open(o["D"], "wb") as f:
            f.write(head)
    if o["o"]:
        with open(o["o"], "wb") as f:
            f.write(body)
    print("%s%03d" % (prefix, status))


if __name__ == "__main__":
    main()
