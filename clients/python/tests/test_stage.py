"""The stage helper in both modes, driven like the worker drives it: a real
child process with stdin, stdout, stderr and a progress pipe on fd 3."""
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from helpers import Program, one_shot, stage_env

DEADLINE_S = 30  # generous: the machine may be busy; nothing here asserts speed


class OneShot(unittest.TestCase):
    def test_output_is_the_only_thing_on_stdout(self):
        rc, out, err, prog = one_shot("stages.py", "append", {"text": "a", "marker": "+b"})
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"text": "a+b", "n": 12345678901234567890})
        self.assertEqual(out.count("\n"), 1)
        for noise in ("stray print from append", "stray write", "stray os.write on fd 1"):
            self.assertIn(noise, err)
        self.assertEqual(prog, [{"progress": 0.5, "message": "half way"}])

    def test_failures_exit_65_or_1_with_the_reason_on_stderr(self):
        cases = [  # stage, input bytes, exit status, text on stderr
            ("fail_permanent", b"7", 65, "bad input: 7"),
            ("fail_retry", b"null", 1, "try again later"),
            ("crash", b"null", 1, "KeyError: 'no such key'"),   # with its traceback
            ("nan", b"null", 1, "ValueError"),                   # output JSON cannot hold
            ("append", b"{nope", 65, "not valid JSON"),
            ("nope", b"null", 65, "serves no stage named 'nope'")]
        for stage, raw, rc_want, text in cases:
            with self.subTest(stage=stage):
                rc, out, err, _ = one_shot("stages.py", stage, None, raw=raw)
                self.assertEqual((rc, out), (rc_want, ""))
                self.assertIn(text, err)
                self.assertEqual("Traceback" in err, stage in ("crash", "nan"))

    def test_job_context_from_the_environment(self):
        rc, out, err, _ = one_shot("stages.py", "whoami", None, STAGEQ_STAGE_INDEX=2,
                                   STAGEQ_STAGE_COUNT=4, STAGEQ_ATTEMPT=3)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["job"], {"id": "job-1", "pipeline": None, "stage": "whoami",
                                                  "stage_index": 2, "stage_count": 4, "attempt": 3})

    def test_stdin_is_consumed_before_the_stage_runs(self):
        rc, out, err, _ = one_shot("stages.py", "read_stdin", 1)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"sys.stdin": "", "fd 0": ""})

    def test_progress_is_clamped_and_cut(self):
        rc, out, err, prog = one_shot("stages.py", "progress_edge", None)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), None)
        self.assertEqual(prog, [{"progress": 1.0}, {"progress": 0.0, "message": "x" * 255}])

    def test_no_progress_fd_is_fine(self):
        p = Program("stages.py", progress=False, STAGEQ_STAGE="append")
        try:
            out, err = p.proc.communicate(b'{"text":"a","marker":"b"}', timeout=60)
            self.assertEqual(p.proc.returncode, 0, err)
            self.assertEqual(json.loads(out)["text"], "ab")
        finally:
            p.close()

    def test_a_stage_does_not_load_the_client(self):
        """A one-shot program starts once per job: http.client (3/4 of the
        package's import time) is loaded only when the client is used."""
        code = ("import sys, stageq; a = 'http.client' in sys.modules; "
                "stageq.Client; print(a, 'http.client' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], env=stage_env(), capture_output=True,
                             check=True, timeout=60).stdout
        self.assertEqual(out.split(), [b"False", b"True"])

    def test_decorator_runs_the_function_of_main(self):
        rc, out, err, prog = one_shot("marker.py", "s1", "x")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), "x+s1")
        self.assertEqual(prog, [{"progress": 1.0, "message": "appended"}])

    def test_sigterm_exits_promptly_after_cleanup(self):
        with tempfile.TemporaryDirectory() as d:
            mark = os.path.join(d, "cleanup")
            p = Program("stages.py", STAGEQ_STAGE="sleep")
            try:
                p.proc.stdin.write(json.dumps({"s": 600, "cleanup": mark}).encode())
                p.proc.stdin.close()
                self.assertEqual(_read_progress_line(p)["message"], "sleeping")
                p.proc.send_signal(signal.SIGTERM)
                p.proc.wait(timeout=DEADLINE_S)
                self.assertEqual(p.proc.returncode, -signal.SIGTERM)
                self.assertTrue(os.path.exists(mark), "the finally block ran")
                self.assertEqual(p.proc.stdout.read(), b"")
            finally:
                p.close()


def _read_progress_line(p):
    buf = b""
    end = time.monotonic() + DEADLINE_S
    while not buf.endswith(b"\n"):
        r, _, _ = select.select([p.fd3_r], [], [], max(0, end - time.monotonic()))
        if not r:
            raise AssertionError("no progress line within %d s" % DEADLINE_S)
        c = os.read(p.fd3_r, 1)
        if not c:
            raise AssertionError("fd 3 closed")
        buf += c
    return json.loads(buf)


def _request(job, stage, value, **extra):
    req = {"job": job, "pipeline": "p", "stage": stage, "stage_index": 1, "stage_count": 2,
           "attempt": 1, "input": value}
    req.update(extra)
    return json.dumps(req, separators=(",", ":")).encode() + b"\n"


class Serve(unittest.TestCase):
    """A fake driver: request lines in, one answer line out per request."""

    def setUp(self):
        self.p = Program("stages.py", STAGEQ_SERVE=1)

    def tearDown(self):
        self.p.close()

    def ask(self, stage, value, job="j1", **extra):
        self.p.proc.stdin.write(_request(job, stage, value, **extra))
        self.p.proc.stdin.flush()
        r, _, _ = select.select([self.p.proc.stdout], [], [], DEADLINE_S)
        self.assertTrue(r, "no answer within %d s" % DEADLINE_S)
        line = self.p.proc.stdout.readline()
        self.assertTrue(line.endswith(b"\n"), line)
        return json.loads(line)

    def test_many_jobs_one_process_answers_only_on_stdout(self):
        a = self.ask("append", {"text": "a", "marker": "1"}, job="j1")
        b = self.ask("append", {"text": "b", "marker": "2"}, job="j2")
        self.assertEqual(a, {"output": {"text": "a1", "n": 12345678901234567890}})
        self.assertEqual(b, {"output": {"text": "b2", "n": 12345678901234567890}})
        self.p.proc.stdin.close()
        self.assertEqual(self.p.proc.wait(timeout=DEADLINE_S), 0, "exit 0 on EOF")
        self.assertEqual(self.p.proc.stdout.read(), b"", "nothing but the two answers")
        err = self.p.proc.stderr.read().decode()
        self.assertEqual(err.count("stray print from append"), 2)
        self.assertEqual(self.p.progress_lines(),
                         [{"progress": 0.5, "message": "half way"}] * 2)

    def test_errors_are_answers_and_the_process_goes_on(self):
        self.assertEqual(self.ask("fail_permanent", 7),
                         {"error": {"message": "bad input: 7", "retryable": False}})
        self.assertEqual(self.ask("fail_retry", None),
                         {"error": {"message": "try again later", "retryable": True}})
        self.assertEqual(self.ask("crash", None),
                         {"error": {"message": "KeyError: 'no such key'", "retryable": True}})
        nan = self.ask("nan", None)
        self.assertTrue(nan["error"]["retryable"])
        self.assertIn("ValueError", nan["error"]["message"])
        unknown = self.ask("nope", None)
        self.assertFalse(unknown["error"]["retryable"])
        self.assertIn("serves no stage named 'nope'", unknown["error"]["message"])
        self.assertEqual(self.ask("append", {"text": "still", "marker": " up"})["output"]["text"],
                         "still up")
        self.p.proc.stdin.close()
        self.assertEqual(self.p.proc.wait(timeout=DEADLINE_S), 0)
        self.assertIn("Traceback", self.p.proc.stderr.read().decode())

    def test_the_request_is_the_job_context(self):
        got = self.ask("whoami", None, job="job-77", stage_index=2, attempt=3)
        self.assertEqual(got["output"]["job"], {"id": "job-77", "pipeline": "p", "stage": "whoami",
                                                "stage_index": 2, "stage_count": 2, "attempt": 3})
        self.assertEqual(got["output"]["env"], {"STAGEQ_JOB_ID": "job-77", "STAGEQ_STAGE": "whoami",
                                                "STAGEQ_STAGE_INDEX": "2", "STAGEQ_ATTEMPT": "3"})

    def test_the_stage_cannot_read_the_requests(self):
        self.p.proc.stdin.write(_request("j1", "read_stdin", None) + _request("j2", "whoami", None))
        self.p.proc.stdin.flush()
        answers = []
        for _ in range(2):
            r, _, _ = select.select([self.p.proc.stdout], [], [], DEADLINE_S)
            self.assertTrue(r, "no answer within %d s" % DEADLINE_S)
            answers.append(json.loads(self.p.proc.stdout.readline()))
        self.assertEqual(answers[0], {"output": {"sys.stdin": "", "fd 0": ""}})
        self.assertEqual(answers[1]["output"]["job"]["id"], "j2")

    def test_a_bad_request_line_gets_an_error_answer(self):
        self.p.proc.stdin.write(b"not json\n")
        self.p.proc.stdin.flush()
        got = json.loads(self.p.proc.stdout.readline())
        self.assertTrue(got["error"]["retryable"])
        self.assertIn("bad request line", got["error"]["message"])
        self.assertEqual(self.ask("append", {"text": "a", "marker": "b"})["output"]["text"], "ab")

    def test_sigterm_mid_job_exits_promptly_after_cleanup(self):
        with tempfile.TemporaryDirectory() as d:
            mark = os.path.join(d, "cleanup")
            self.p.proc.stdin.write(_request("j1", "sleep", {"s": 600, "cleanup": mark}))
            self.p.proc.stdin.flush()
            self.assertEqual(_read_progress_line(self.p)["message"], "sleeping")
            self.p.proc.send_signal(signal.SIGTERM)
            self.p.proc.wait(timeout=DEADLINE_S)
            self.assertEqual(self.p.proc.returncode, -signal.SIGTERM)
            self.assertTrue(os.path.exists(mark), "the finally block ran")
            self.assertEqual(self.p.proc.stdout.read(), b"", "no half answer")

    def test_sigterm_between_jobs_exits_promptly(self):
        self.assertEqual(self.ask("append", {"text": "a", "marker": "b"})["output"]["text"], "ab")
        self.p.proc.send_signal(signal.SIGTERM)
        self.p.proc.wait(timeout=DEADLINE_S)
        self.assertEqual(self.p.proc.returncode, -signal.SIGTERM)

    def test_decorated_function_serves_any_stage_name(self):
        self.p.close()
        self.p = Program("marker.py", STAGEQ_SERVE=1)
        self.assertEqual(self.ask("first", "x"), {"output": "x+first"})
        self.assertEqual(self.ask("second", "y"), {"output": "y+second"})


if __name__ == "__main__":
    unittest.main()
