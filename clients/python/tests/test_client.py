"""The client against a scripted HTTP server: SSE parsing, reconnects with
Last-Event-ID, the 204 that ends a stream, error mapping. The real API is
tested in test_api.py."""
import http.server
import json
import threading
import unittest

from stageq import Client, StageqError


def status(state, progress=0.0):
    return {"id": "j", "state": state, "progress": progress}


class Fake(http.server.BaseHTTPRequestHandler):
    """Routes by path; every request is logged in server.log as (method,
    path, Last-Event-ID, Authorization)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, chunks, close_early=False):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for c in chunks:
            c = c.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            self.wfile.flush()
        if not close_early:
            self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def do_GET(self):
        srv = self.server
        srv.log.append(("GET", self.path, self.headers.get("Last-Event-ID"),
                        self.headers.get("Authorization")))
        n = sum(1 for e in srv.log if e[1] == self.path)
        if self.path == "/v1/jobs/drop/events":
            if n == 1:  # a status split over two data lines and CRLF line ends, then a cut
                self.stream([": hi\r\n", "event: status\r\nid: 7\r\ndata: {\"id\":\"j\",\r\n",
                             "data: \"state\":\"running\",\"progress\":0.5}\r\n\r\n"], close_early=True)
            else:
                self.stream(["event: status\nid: 8\ndata: %s\n\n" % json.dumps(status("succeeded", 1)),
                             "event: end\ndata: {\"id\":\"j\"}\n\n"])
        elif self.path == "/v1/jobs/gone/events":
            if n == 1:
                self.stream(["event: status\nid: 5\ndata: %s\n\n" % json.dumps(status("running"))])
            else:
                self.send(204, b"")
        elif self.path == "/v1/jobs/gone":
            self.send(200, status("failed", 0.3))
        elif self.path == "/v1/jobs/busy/events":
            if n == 1:
                self.send(503, {"error": {"code": "redis_unavailable", "message": "try later"}})
            else:
                self.stream(["event: status\nid: 1\ndata: %s\n\n" % json.dumps(status("canceled"))])
        elif self.path == "/v1/jobs/html":
            self.send(400, b"<html>Bad Request</html>", "text/html")
        else:
            self.send(404, {"error": {"code": "not_found", "message": "no such thing"}})


class FakeServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
        cls.srv.log = []
        cls.thread = threading.Thread(target=cls.srv.serve_forever, daemon=True)
        cls.thread.start()
        cls.url = "http://127.0.0.1:%d" % cls.srv.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()
        cls.srv.server_close()

    def test_a_dropped_stream_reconnects_with_last_event_id(self):
        got = list(Client(self.url, token="t0k").events("drop", timeout=30))
        self.assertEqual(got, [status("running", 0.5), status("succeeded", 1)])
        log = [e for e in self.srv.log if e[1] == "/v1/jobs/drop/events"]
        self.assertEqual([e[2] for e in log], [None, "7"])
        self.assertEqual({e[3] for e in log}, {"Bearer t0k"})

    def test_a_204_ends_the_stream_with_the_final_status(self):
        c = Client(self.url)
        self.assertEqual(c.wait("gone", timeout=30), status("failed", 0.3))
        log = [e for e in self.srv.log if e[1] == "/v1/jobs/gone/events"]
        self.assertEqual([e[2] for e in log], [None, "5"])

    def test_a_503_is_tried_again(self):
        self.assertEqual(Client(self.url).wait("busy", timeout=30), status("canceled"))
        self.assertEqual(len([e for e in self.srv.log if e[1] == "/v1/jobs/busy/events"]), 2)

    def test_api_errors_carry_code_message_status(self):
        with self.assertRaises(StageqError) as cm:
            Client(self.url).status("missing")
        e = cm.exception
        self.assertEqual((e.code, e.message, e.status), ("not_found", "no such thing", 404))
        with self.assertRaises(StageqError) as cm:
            list(Client(self.url).events("missing"))
        self.assertEqual(cm.exception.status, 404)

    def test_an_answer_that_is_not_the_apis_json(self):
        with self.assertRaises(StageqError) as cm:
            Client(self.url).status("html")
        self.assertEqual((cm.exception.code, cm.exception.status), ("http_error", 400))
        self.assertIn("Bad Request", cm.exception.message)

    def test_unreachable(self):
        port = self.srv.server_address[1]
        s = http.server.HTTPServer(("127.0.0.1", 0), Fake)
        dead = "http://127.0.0.1:%d" % s.server_address[1]
        s.server_close()
        self.assertNotEqual(port, 0)
        with self.assertRaises(StageqError) as cm:
            Client(dead, timeout=5).status("x")
        self.assertEqual((cm.exception.code, cm.exception.status), ("connection_error", None))
        with self.assertRaises(StageqError) as cm:
            list(Client(dead).events("x", reconnect_s=1))
        self.assertEqual(cm.exception.code, "connection_error")

    def test_bad_url(self):
        with self.assertRaises(ValueError):
            Client("127.0.0.1:8080")


if __name__ == "__main__":
    unittest.main()
