#!/usr/bin/env python3
"""sse_fake: a scripted stand-in for stageq-api's event stream, for test_cli.

    sse_fake.py PORT_FILE LOG_FILE

Listens on a free loopback port (written to PORT_FILE) and logs one line per
request to LOG_FILE: "METHOD PATH last-event-id=VALUE". Jobs:

  fake-eta   1st stream: a comment, a running status (eta_s 80) whose JSON is
             split over two data: lines, with CRLF line ends cut across
             chunks, id 7; then the connection drops (no final chunk).
             2nd stream: the succeeded status, then event: end.
  fake-poll  every stream: a 200 that ends at once with no event, so the
             watch falls back to polling GET /v1/jobs/fake-poll (failed).
  fake-gone  1st stream: a running status, id 5, then the connection drops.
             2nd stream: 204, as the API answers a reconnect once the job
             has ended; GET /v1/jobs/fake-gone gives its final status
             (succeeded).
"""
import http.server
import json
import socketserver
import sys
import time

port_file, log_file = sys.argv[1], sys.argv[2]
streams = {}


def status(state, stage, name, progress, eta):
    return {"id": "fake", "pipeline": "demo", "state": state, "stage": stage,
            "stage_name": name, "stage_count": 4, "progress": progress,
            "overall_progress": (stage - 1 + progress) / 4, "message": "",
            "attempt": 1, "max_attempts": 1, "eta_s": eta, "stage_eta_s": eta,
            "stages": [{"name": n} for n in ("generate", "transform", "sort", "summarize")],
            "error": {"code": "boom", "message": "it broke", "stage": name} if state == "failed" else None}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        with open(log_file, "a") as f:
            f.write("GET %s last-event-id=%s\n" % (self.path, self.headers.get("Last-Event-ID", "")))
        n = streams[self.path] = streams.get(self.path, 0) + 1
        final = {"/v1/jobs/fake-poll": ("failed", 3, "sort", 0.5, None),
                 "/v1/jobs/fake-gone": ("succeeded", 4, "summarize", 1, 0)}
        if self.path in final:
            body = json.dumps(status(*final[self.path])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not self.path.endswith("/events"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/v1/jobs/fake-gone/events" and n > 1:
            self.send_response(204)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.path == "/v1/jobs/fake-eta/events" and n == 1:
            st = json.dumps(status("running", 2, "transform", 0.5, 80))
            cut = st.index('"stage"')
            self.chunk(": hello\r\n\r\nevent: status\r")
            time.sleep(0.2)
            self.chunk("\nid: 7\r\ndata: " + st[:cut] + "\r\ndata:" + st[cut:] + "\r")
            time.sleep(0.2)
            self.chunk("\n\r\n")
            time.sleep(1.5)
            self.close_connection = True  # dropped: no final chunk
            return
        if self.path == "/v1/jobs/fake-gone/events":
            st = json.dumps(status("running", 2, "transform", 0.5, 80))
            self.chunk("event: status\nid: 5\ndata: %s\n\n" % st)
            time.sleep(0.3)
            self.close_connection = True  # dropped: no final chunk
            return
        if self.path == "/v1/jobs/fake-eta/events":
            st = json.dumps(status("succeeded", 4, "summarize", 1, 0))
            self.chunk("event: status\nid: 8\ndata: %s\n\nevent: end\ndata: {\"id\":\"fake-eta\"}\n\n" % st)
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = S(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
