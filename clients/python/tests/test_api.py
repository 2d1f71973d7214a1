"""The client and the stage helper against a real stageq-api and worker
(tests/e2e/test_python.sh starts them with tests/e2e/pipelines-python.json
and sets STAGEQ_TEST_API_URL; STAGEQ_TEST_TOKEN_URL and STAGEQ_TEST_TOKEN name
a second API that wants a token). Without them these tests are skipped; the
suite fails on any skip."""
import datetime
import os
import tempfile
import time
import unittest
import uuid

from stageq import FINAL_STATES, Client, StageqError

URL = os.environ.get("STAGEQ_TEST_API_URL")
WAIT_S = 120  # generous bounds: the machine is shared; no test asserts speed


def uid(tag):
    return "py-%s-%s" % (tag, uuid.uuid4().hex[:12])


@unittest.skipUnless(URL, "needs STAGEQ_TEST_API_URL (tests/e2e/test_python.sh sets it)")
class Api(unittest.TestCase):
    """One-shot mode; ApiServe runs every test again on the same stages
    declared "serve": true, which must give the same results."""
    suffix = ""

    def setUp(self):
        self.c = Client(URL)

    def p(self, pipeline):
        return pipeline + self.suffix

    def test_submit_and_wait_long_poll(self):
        st = self.c.submit("echo", {"n": 12345678901234567890, "x": 0.1}, wait=60)
        self.assertEqual(st["state"], "succeeded")
        self.assertEqual(st["result"], {"n": 12345678901234567890, "x": 0.1})

    def test_submit_then_watch_four_python_stages(self):
        job = self.c.submit(self.p("py-markers"), "x", id=uid("markers"))
        self.assertEqual((job["state"], job["status_url"]), ("queued", "/v1/jobs/" + job["id"]))
        seen = list(self.c.events(job["id"], timeout=WAIT_S))
        self.assertEqual(seen[-1]["state"], "succeeded")
        self.assertEqual(seen[-1]["result"], "x+s1+s2+s3+s4")
        self.assertTrue(all(s["state"] not in FINAL_STATES for s in seen[:-1]))
        stages = [s["stage"] for s in seen if s["state"] == "running"]
        self.assertEqual(stages, sorted(stages), "stages only move forward")
        self.assertEqual(self.c.status(job["id"])["result"], "x+s1+s2+s3+s4")

    def test_stray_prints_and_progress(self):
        st = self.c.wait(self.c.submit(self.p("py-append"), {"text": "a", "marker": "b"})["id"], timeout=WAIT_S)
        self.assertEqual(st["state"], "succeeded", st.get("error"))
        self.assertEqual(st["result"], {"text": "ab", "n": 12345678901234567890})
        self.assertEqual(st["stages"][0]["output"], st["result"])

    def test_job_context(self):
        job = self.c.submit(self.p("py-whoami"), None, id=uid("who"))
        st = self.c.wait(job["id"], timeout=WAIT_S)
        want = {"id": job["id"], "pipeline": self.p("py-whoami") if self.suffix else None,
                "stage": "whoami", "stage_index": 1, "stage_count": 1, "attempt": 1}
        self.assertEqual(st["result"]["job"], want)
        self.assertEqual(st["result"]["env"]["STAGEQ_JOB_ID"], job["id"])

    def check_error(self, e, text, retryable):
        """The same failure in both modes: one-shot reports the exit status (65
        when not retryable, else 1) with the message in stderr_tail; serve mode
        the answer's error as it is (code stage_error)."""
        self.assertEqual(e["retryable"], retryable)
        if self.suffix:
            self.assertEqual(e["code"], "stage_error")
            self.assertIn(text, e["message"])
        else:
            self.assertEqual((e["code"], e["exit_status"]), ("exit_status", 1 if retryable else 65))
            self.assertIn(text, e["stderr_tail"])

    def test_permanent_error_is_not_retried(self):
        st = self.c.wait(self.c.submit(self.p("py-permanent"), 7)["id"], timeout=WAIT_S)
        self.assertEqual(st["state"], "failed")
        self.check_error(st["error"], "bad input: 7", False)
        self.assertEqual(len(st["errors"]), 1)

    def test_retryable_errors_are_retried(self):
        for pipeline, text in ((self.p("py-retry"), "try again later"),
                               (self.p("py-crash"), "KeyError: 'no such key'")):
            st = self.c.wait(self.c.submit(pipeline, None)["id"], timeout=WAIT_S)
            self.assertEqual((st["state"], st["attempt"], len(st["errors"])), ("failed", 2, 2))
            for e in st["errors"]:
                self.check_error(e, text, True)

    def test_cancel_stops_the_stage_which_cleans_up(self):
        with tempfile.TemporaryDirectory() as d:
            mark = os.path.join(d, "cleanup")
            job = self.c.submit(self.p("py-sleep"), {"s": 600, "cleanup": mark})
            for st in self.c.events(job["id"], timeout=WAIT_S):
                if st.get("message") == "sleeping":
                    break
            with self.assertRaises(TimeoutError):
                self.c.wait(job["id"], timeout=1)
            got = self.c.cancel(job["id"])
            self.assertEqual((got["state"], got["previous_state"]), ("canceled", "running"))
            self.assertEqual(self.c.wait(job["id"], timeout=WAIT_S)["state"], "canceled")
            end = time.monotonic() + WAIT_S
            while not os.path.exists(mark) and time.monotonic() < end:
                time.sleep(0.1)
            self.assertTrue(os.path.exists(mark), "SIGTERM let the stage's finally block run")
            with self.assertRaises(StageqError) as cm:
                self.c.cancel(job["id"])
            self.assertEqual((cm.exception.status, cm.exception.code), (409, "job_finished"))

    def test_errors(self):
        cases = [(lambda: self.c.status("no-such-job"), 404, "not_found"),
                 (lambda: self.c.submit("no-such-pipeline"), 422, "unknown_pipeline"),
                 (lambda: self.c.status("bad id!"), 400, "invalid_id"),
                 (lambda: self.c.jobs(limit=0), 400, "invalid_request"),
                 (lambda: list(self.c.events("no-such-job")), 404, "not_found")]
        for call, status, code in cases:
            with self.assertRaises(StageqError) as cm:
                call()
            self.assertEqual((cm.exception.status, cm.exception.code), (status, code))
            self.assertTrue(cm.exception.message)
        jid = uid("dup")
        self.c.submit("echo", 1, id=jid)
        self.assertEqual(self.c.submit("echo", 1, id=jid)["id"], jid, "a retried submit is the same job")
        with self.assertRaises(StageqError) as cm:
            self.c.submit("echo", 2, id=jid)
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "duplicate_id"))

    def test_delay_and_run_at(self):
        job = self.c.submit("echo", "later", delay_s=1.5)
        self.assertEqual(job["state"], "scheduled")
        self.assertIn("run_at", job)
        st = self.c.wait(job["id"], timeout=WAIT_S)
        self.assertEqual(st["state"], "succeeded")
        self.assertGreaterEqual(st["started_at"], st["run_at"], "it did not start before its time")
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        job = self.c.submit("echo", "much later", run_at=at)
        st = self.c.status(job["id"])
        self.assertEqual((st["state"], st["started_at"]), ("scheduled", None))
        got = self.c.cancel(job["id"])
        self.assertEqual((got["state"], got["previous_state"]), ("canceled", "scheduled"))
        with self.assertRaises(ValueError):
            self.c.submit("echo", 1, delay_s=1, run_at=at)
        with self.assertRaises(ValueError):
            self.c.submit("echo", 1, run_at=datetime.datetime.now())
        for bad in ({"delay_s": -1}, {"run_at": "tomorrow"}):
            with self.assertRaises(StageqError) as cm:
                self.c.submit("echo", 1, **bad)
            self.assertEqual((cm.exception.status, cm.exception.code), (422, "invalid_field"))

    def test_listing_filters_and_paging(self):
        tag = uuid.uuid4().hex[:8]
        ids = {self.c.submit("echo", i, id="py-list-%s-%d" % (tag, i))["id"]
               for i in range(5)}
        for i in ids:
            self.c.wait(i, timeout=WAIT_S)
        listed = [j["id"] for j in self.c.iter_jobs(pipeline="echo", limit=2)
                  if j["id"].startswith("py-list-" + tag)]
        self.assertEqual(sorted(listed), sorted(ids), "every job exactly once, across pages")
        page = self.c.jobs(state="succeeded", pipeline="echo", limit=2)
        self.assertLessEqual(len(page["jobs"]), 2)
        self.assertIsNotNone(page["next_cursor"])
        self.assertTrue(all(j["state"] == "succeeded" for j in page["jobs"]))

    @unittest.skipUnless(os.environ.get("STAGEQ_TEST_TOKEN_URL"), "needs STAGEQ_TEST_TOKEN_URL")
    def test_bearer_token(self):
        url, token = os.environ["STAGEQ_TEST_TOKEN_URL"], os.environ["STAGEQ_TEST_TOKEN"]
        with self.assertRaises(StageqError) as cm:
            Client(url).stats()
        self.assertEqual((cm.exception.status, cm.exception.code), (401, "unauthorized"))
        c = Client(url, token=token)
        self.assertIn("queues", c.stats())
        st = c.wait(c.submit("echo", "tok")["id"], timeout=WAIT_S)
        self.assertEqual(st["result"], "tok")


    def test_processes(self):
        """One-shot: a new process per job. Serve: the worker's 2 processes keep
        their program, which serves job after job."""
        pids = set()
        for i in range(6):
            st = self.c.wait(self.c.submit(self.p("py-whoami"), None)["id"], timeout=WAIT_S)
            self.assertEqual(st["state"], "succeeded", st.get("error"))
            pids.add(st["result"]["pid"])
        if self.suffix:
            self.assertLessEqual(len(pids), 2, pids)
        else:
            self.assertEqual(len(pids), 6, pids)


@unittest.skipUnless(URL and os.environ.get("STAGEQ_TEST_SERVE"),
                     "needs STAGEQ_TEST_SERVE (the worker runs the -serve pipelines)")
class ApiServe(Api):
    suffix = "-serve"


if __name__ == "__main__":
    unittest.main()
