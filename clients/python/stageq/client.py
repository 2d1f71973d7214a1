"""A client of the stageq HTTP API (docs/api.md), on http.client only.

Every method returns the API's JSON decoded; every error answer raises
StageqError with the API's code, message and HTTP status. events() follows a
job over Server-Sent Events and reconnects with Last-Event-ID, which is what
wait() is built on: no polling loop.
"""
import datetime
import http.client
import json
import socket
import time
import urllib.parse

__all__ = ["Client", "StageqError", "FINAL_STATES"]

FINAL_STATES = frozenset(("succeeded", "failed", "canceled"))
STREAM_IDLE_S = 45  # the API sends a ": ping" every 15 s: this much silence is a dead stream


class StageqError(Exception):
    """An error answer of the API, or no answer at all.

    code: the API's error code ("not_found", "unknown_pipeline", ...), or
    "connection_error" when the API could not be reached (status None), or
    "http_error" for an answer that is not the API's JSON (a proxy's page).
    message: the API's message. status: the HTTP status or None. body: the
    decoded error body (or None)."""

    def __init__(self, code, message, status=None, body=None):
        super().__init__("%s%s: %s" % ("" if status is None else "%d " % status, code, message))
        self.code = code
        self.message = message
        self.status = status
        self.body = body


def _quote(job_id):
    return urllib.parse.quote(str(job_id), safe="")


def _sse_events(resp):
    """Yields (event, id, data) of each event of an SSE stream; returns when
    the stream ends. Follows the SSE parsing rules (comments, "field: value"
    with one optional space, data lines joined by newlines)."""
    event, data, eid = "", [], None
    while True:
        raw = resp.readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if line.endswith("\r"):
            line = line[:-1]
        if line == "":
            if data:
                yield event or "message", eid, "\n".join(data)
            event, data, eid = "", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id" and "\0" not in value:
            eid = value


class Client:
    """Client("http://127.0.0.1:8080", token=None, timeout=30).

    url may carry a path prefix (an API behind a reverse proxy); token is sent
    as "Authorization: Bearer <token>"; timeout (seconds) bounds every request
    except the long ones (submit(wait=S), wait(), events()), which set their own.
    """

    def __init__(self, url, token=None, timeout=30):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("url must be http://host[:port][/prefix] or https://..., got %r" % url)
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port
        self._prefix = u.path.rstrip("/")
        self._token = token
        self.timeout = timeout

    # --- plumbing -------------------------------------------------------------------
    def _connect(self, timeout):
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=timeout)

    def _target(self, path, query=None):
        q = {k: v for k, v in (query or {}).items() if v is not None}
        return self._prefix + path + ("?" + urllib.parse.urlencode(q) if q else "")

    def _open(self, method, path, query=None, body=None, headers=None, timeout=None):
        """Sends a request; returns (connection, response) with the body unread.
        StageqError("connection_error") when the API cannot be reached."""
        h = {"Accept": "application/json"}
        if self._token is not None:
            h["Authorization"] = "Bearer " + self._token
        if body is not None:
            body = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = self._connect(self.timeout if timeout is None else timeout)
        try:
            conn.request(method, self._target(path, query), body=body, headers=h)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise StageqError("connection_error", "%s %s: %s" % (method, path, e or type(e).__name__))

    @staticmethod
    def _error(status, data):
        try:
            body = json.loads(data)
            err = body["error"]
            return StageqError(str(err["code"]), str(err["message"]), status, body)
        except (ValueError, KeyError, TypeError):
            text = data.decode("utf-8", "replace").strip()
            return StageqError("http_error", text[:200] or "HTTP %d" % status, status)

    def _call(self, method, path, query=None, body=None, timeout=None):
        conn, resp = self._open(method, path, query, body, timeout=timeout)
        try:
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise StageqError("connection_error", "%s %s: %s" % (method, path, e))
        finally:
            conn.close()
        if resp.status >= 400:
            raise self._error(resp.status, data)
        try:
            return json.loads(data) if data else None
        except ValueError:
            raise StageqError("http_error", "answer is not JSON: %r" % data[:200], resp.status)

    # --- jobs -------------------------------------------------------------------------
    def submit(self, pipeline, input=None, id=None, queue=None, result_ttl_s=None, wait=None,
               delay_s=None, run_at=None):
        """POST /v1/jobs: returns {"id", "status_url", "events_url", "state"}.

        input: any JSON value (None: no input). id: your own job id, which makes
        retrying a submit safe (the same request again answers for the same
        job). wait=S (1..300): hold the answer until the job ends or S seconds
        pass; a job that ended returns its full status (a "state" that is
        final), otherwise the usual answer plus "status".
        delay_s (seconds, a fraction allowed) or run_at (an RFC 3339 string,
        or an aware datetime.datetime), not both: the job is "scheduled" until
        then (the answer has "run_at"), then runs like a queued job."""
        if delay_s is not None and run_at is not None:
            raise ValueError("give delay_s or run_at, not both")
        if isinstance(run_at, datetime.datetime):
            if run_at.tzinfo is None:
                raise ValueError("run_at needs a timezone (an aware datetime)")
            run_at = run_at.isoformat()
        body = {"pipeline": pipeline}
        for k, v in (("input", input), ("id", id), ("queue", queue), ("result_ttl_s", result_ttl_s),
                     ("delay_s", delay_s), ("run_at", run_at)):
            if v is not None:
                body[k] = v
        timeout = None if wait is None else wait + self.timeout
        return self._call("POST", "/v1/jobs", {"wait": wait}, body, timeout)

    def submit_many(self, jobs, batch=100):
        """POST /v1/jobs with arrays of jobs: one request per `batch` jobs
        (1..1000, the API's bound). jobs: an iterable of dicts, each the body
        of one submit ({"pipeline": ..., "input"?, "id"?, "queue"?,
        "result_ttl_s"?, "delay_s"? | "run_at"?}). Returns one answer per job, in order: a dict with
        "status" (202: queued, with "id", "status_url", "events_url" and
        "state"; otherwise "error": {"code", "message"}). A refused job does
        not raise: the others are created all the same (the API creates each
        on its own, not all-or-nothing). Giving each job an id makes retrying
        the whole call safe. Raises StageqError when a whole request fails
        (Redis away: 503, or a bad batch); the jobs of the batches before it
        were submitted."""
        if not 1 <= batch <= 1000:
            raise ValueError("batch must be 1..1000")
        answers, chunk = [], []
        for job in jobs:
            chunk.append(job)
            if len(chunk) == batch:
                answers.extend(self._call("POST", "/v1/jobs", None, chunk)["jobs"])
                chunk = []
        if chunk:
            answers.extend(self._call("POST", "/v1/jobs", None, chunk)["jobs"])
        return answers

    def status(self, job_id):
        """GET /v1/jobs/{id}: the job's full status."""
        return self._call("GET", "/v1/jobs/" + _quote(job_id))

    def cancel(self, job_id):
        """DELETE /v1/jobs/{id}: {"id", "state": "canceled", "previous_state"}.
        StageqError job_finished (409) when it had already ended."""
        return self._call("DELETE", "/v1/jobs/" + _quote(job_id))

    def jobs(self, state=None, pipeline=None, limit=None, cursor=None):
        """GET /v1/jobs: one page, {"jobs": [...], "next_cursor": str or None},
        newest first. A filtered page may hold fewer than limit jobs while
        next_cursor is not None: keep paging (iter_jobs does)."""
        return self._call("GET", "/v1/jobs",
                          {"state": state, "pipeline": pipeline, "limit": limit, "cursor": cursor})

    def iter_jobs(self, state=None, pipeline=None, limit=None):
        """Every listed job, page after page (limit: the page size)."""
        cursor = None
        while True:
            page = self.jobs(state, pipeline, limit, cursor)
            yield from page["jobs"]
            cursor = page.get("next_cursor")
            if cursor is None:
                return

    def pipelines(self):
        return self._call("GET", "/v1/pipelines")

    def stats(self):
        return self._call("GET", "/v1/stats")

    def workers(self):
        return self._call("GET", "/v1/workers")

    # --- watching -----------------------------------------------------------------
    def events(self, job_id, timeout=None, reconnect_s=60):
        """Iterates over the job's statuses as they change (GET
        /v1/jobs/{id}/events), the current one first. It ends after yielding a
        final status (succeeded, failed, canceled). A stream that drops or ends
        early (API restart) is reopened with Last-Event-ID; when the API
        answers that with 204 (the job ended meanwhile), the final status is
        read once and yielded. timeout: TimeoutError after that many seconds
        without a final status. reconnect_s: how long it keeps trying while the
        API is unreachable or answers 503 before it raises that StageqError. An unknown or expired job raises
        StageqError not_found."""
        path = "/v1/jobs/%s/events" % _quote(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        last_id = None
        down_since = None
        delay = 0.0
        while True:
            if delay:
                time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("job %s did not end within %g s" % (job_id, timeout))
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            try:
                conn, resp = self._open("GET", path, headers=headers,
                                        timeout=STREAM_IDLE_S if left is None else min(left, STREAM_IDLE_S))
                if resp.status == 503:  # Redis unreachable, or the API stopping: try again
                    err = self._error(resp.status, resp.read())
                    conn.close()
                    raise err
            except StageqError:
                now = time.monotonic()
                down_since = down_since or now
                if now - down_since >= reconnect_s:
                    raise
                delay = min(max(delay * 2, 0.25), 2.0)
                continue
            down_since = None
            delay = 0.25
            try:
                if resp.status == 204:
                    yield self.status(job_id)
                    return
                if resp.status != 200:
                    raise self._error(resp.status, resp.read())
                for event, eid, data in _sse_events(resp):
                    if eid is not None:
                        last_id = eid
                    if event == "end":
                        # after a final status we have returned already: this is
                        # an expired job or an API shutting down; ask again
                        last_id = last_id or "0"
                        delay = 0.0
                        break
                    if event not in ("status", "message"):
                        continue
                    st = json.loads(data)
                    yield st
                    if st.get("state") in FINAL_STATES:
                        return
            except (socket.timeout, TimeoutError):
                pass  # silent too long, or the deadline: the loop decides
            except (OSError, http.client.HTTPException, ValueError):
                pass  # dropped mid-stream (or a cut line): reconnect
            finally:
                conn.close()
            if last_id is None:
                last_id = "0"  # reconnect as a reconnect: 204 once the job ended

    def wait(self, job_id, timeout=None):
        """The job's final status, once it has ended (followed over its event
        stream, not polled). TimeoutError after timeout seconds."""
        st = None
        for st in self.events(job_id, timeout=timeout):
            pass
        return st
