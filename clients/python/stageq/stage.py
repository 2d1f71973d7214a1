"""The stage helper: one Python function, run by a stageq worker in either mode.

One-shot mode (the default): the worker starts the program once per stage run;
the input JSON is on stdin, the output JSON goes to stdout, exit 65 means
"do not retry". Serve mode (STAGEQ_SERVE=1, a stage declared "serve": true):
the program stays up and answers one request line per job on stdin with one
answer line, {"output": ...} or {"error": {...}}. docs/stage-protocol.md
specifies both; this module never lets a stray print reach the answer stream.
"""
import json
import os
import signal
import sys
import traceback
from collections import namedtuple

__all__ = ["stage", "serve", "run", "StageError", "Job", "current_job"]

EXIT_PERMANENT = 65  # EX_DATAERR: the worker fails the job without retrying
EXIT_RETRYABLE = 1
MESSAGE_MAX_BYTES = 255  # the worker cuts a progress message there anyway

Job = namedtuple("Job", "id pipeline stage stage_index stage_count attempt")
Job.__doc__ = """The job a stage function is running for (fields None when unknown)."""

_job = None  # the Job of the request being served, or None outside one


class StageError(Exception):
    """Raise it to fail the stage with a clear message.

    retryable=True (the default): the job runs again while attempts remain.
    retryable=False: the job fails at once (bad input, bad settings).
    """

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.message = str(message)
        self.retryable = bool(retryable)


class _Terminated(BaseException):
    """Raised by the SIGTERM handler, so that finally blocks and with
    statements run; a BaseException, so `except Exception` does not eat it."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _int_env(name):
    v = os.environ.get(name, "")
    return int(v) if v.isdigit() else None


def current_job():
    """The Job being run: from the request line in serve mode, from the
    STAGEQ_* environment variables in one-shot mode (pipeline is None there:
    one-shot mode does not pass it)."""
    if _job is not None:
        return _job
    return Job(os.environ.get("STAGEQ_JOB_ID"), None, os.environ.get("STAGEQ_STAGE"),
               _int_env("STAGEQ_STAGE_INDEX"), _int_env("STAGEQ_STAGE_COUNT"),
               _int_env("STAGEQ_ATTEMPT"))


def _cut_utf8(text, limit):
    b = text.encode("utf-8", "replace")
    if len(b) <= limit:
        return text
    return b[:limit].decode("utf-8", "ignore")


class _Progress:
    """progress(fraction, message=None): one line on the progress fd. A no-op
    when STAGEQ_PROGRESS_FD is unset (run by hand); never fails the stage."""

    def __init__(self):
        fd = os.environ.get("STAGEQ_PROGRESS_FD", "")
        self.fd = int(fd) if fd.isdigit() else None

    def __call__(self, fraction, message=None):
        if self.fd is None:
            return
        try:
            f = float(fraction)
        except (TypeError, ValueError):
            raise TypeError("progress: fraction must be a number, got %r" % (fraction,))
        if f != f:  # NaN: nothing to report
            return
        line = {"progress": min(max(f, 0.0), 1.0)}
        if message is not None:
            line["message"] = _cut_utf8(str(message), MESSAGE_MAX_BYTES)
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
        try:
            os.write(self.fd, data)  # < PIPE_BUF: one atomic write
        except OSError:
            pass  # progress is best effort


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _private_stdout():
    """Moves the real stdout to a private fd and points fd 1 and sys.stdout at
    stderr, so that prints (ours or a library's) can never corrupt an answer."""
    sys.stdout.flush()
    out = os.dup(1)
    os.set_inheritable(out, False)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _private_stdin():
    """Serve mode: moves the request stream to a private fd and gives fd 0 and
    sys.stdin /dev/null, so that neither the stage nor a child process it
    starts can read (and so swallow) the next requests."""
    fd = os.dup(0)
    os.set_inheritable(fd, False)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull)
    return os.fdopen(fd, "rb")


def _encode(value):
    """Compact JSON text of an output; ValueError for NaN/Infinity, TypeError
    for what JSON cannot hold."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _pick(handlers, name):
    if callable(handlers):
        return handlers
    fn = handlers.get(name)
    if fn is None:
        raise StageError("this program serves no stage named %r (it serves: %s)"
                         % (name, ", ".join(sorted(handlers))), retryable=False)
    return fn


def _fail_text(exc):
    if isinstance(exc, StageError):
        return exc.message, exc.retryable
    return "%s: %s" % (type(exc).__name__, exc), True


def _call(handlers, name, value, progress):
    """Runs one job. Returns (output JSON text, None) or (None, (message,
    retryable)); the traceback of an unexpected exception goes to stderr."""
    try:
        fn = _pick(handlers, name)
        return _encode(fn(value, progress)), None
    except StageError as e:
        print("%s" % e.message, file=sys.stderr)
        return None, _fail_text(e)
    except Exception as e:  # noqa: BLE001 (any bug of the stage: retryable)
        traceback.print_exc(file=sys.stderr)
        return None, _fail_text(e)
    finally:
        sys.stderr.flush()


def _die_by_sigterm():
    """Ends the process the way SIGTERM does by default, after the cleanup
    the _Terminated exception allowed."""
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(128 + signal.SIGTERM)  # not reached


def _one_shot(handlers, out_fd):
    name = os.environ.get("STAGEQ_STAGE")
    data = sys.stdin.buffer.read()
    try:
        value = json.loads(data) if data.strip() else None
    except ValueError as e:
        print("stage input is not valid JSON: %s" % e, file=sys.stderr)
        return EXIT_PERMANENT
    if not callable(handlers) and name is None:
        print("STAGEQ_STAGE is not set: cannot tell which of %s to run"
              % ", ".join(sorted(handlers)), file=sys.stderr)
        return EXIT_PERMANENT
    text, err = _call(handlers, name, value, _Progress())
    if err is not None:
        return EXIT_RETRYABLE if err[1] else EXIT_PERMANENT
    _write_all(out_fd, (text + "\n").encode())
    return 0


def _request_job(req):
    def num(k):
        v = req.get(k)
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    return Job(req.get("job"), req.get("pipeline"), req.get("stage"),
               num("stage_index"), num("stage_count"), num("attempt"))


_JOB_ENV = (("STAGEQ_JOB_ID", "id"), ("STAGEQ_STAGE", "stage"),
            ("STAGEQ_STAGE_INDEX", "stage_index"), ("STAGEQ_STAGE_COUNT", "stage_count"),
            ("STAGEQ_ATTEMPT", "attempt"))


def _set_job(job):
    """Makes the request's job current, also in the environment one-shot
    stages read, so the same code runs in both modes (only the variables that
    changed are written: putenv is most of the cost of a small job)."""
    global _job
    _job = job
    for var, field in _JOB_ENV:
        v = getattr(job, field)
        v = None if v is None else str(v)
        if os.environ.get(var) != v:
            if v is None:
                del os.environ[var]
            else:
                os.environ[var] = v


def _serve_loop(handlers, out_fd):
    progress = _Progress()
    requests = _private_stdin()
    while True:
        line = requests.readline()
        if not line:
            return 0  # the worker closed stdin: stop cleanly
        try:
            req = json.loads(line)
            if not isinstance(req, dict) or not isinstance(req.get("stage"), str):
                raise ValueError("not an object with a \"stage\" string")
        except ValueError as e:
            print("bad request line: %s" % e, file=sys.stderr)
            answer = {"error": {"message": "bad request line: %s" % e, "retryable": True}}
            _write_all(out_fd, (_encode(answer) + "\n").encode())
            continue
        _set_job(_request_job(req))
        text, err = _call(handlers, req["stage"], req.get("input"), progress)
        if err is None:
            answer = '{"output":' + text + "}\n"
        else:
            answer = _encode({"error": {"message": err[0], "retryable": err[1]}}) + "\n"
        _write_all(out_fd, answer.encode())


def run(handlers):
    """Runs stage functions as this program's stage and exits; never returns.

    handlers: one function (it serves every stage it is declared for) or a
    dict {stage name: function}. Each function is called as
    fn(input, progress) and returns the output (anything json.dumps takes).
    STAGEQ_SERVE=1 in the environment selects serve mode; otherwise one-shot
    mode runs the function of STAGEQ_STAGE once.
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    out_fd = _private_stdout()
    try:
        if os.environ.get("STAGEQ_SERVE") == "1":
            rc = _serve_loop(handlers, out_fd)
        else:
            rc = _one_shot(handlers, out_fd)
    except _Terminated:
        print("stage: terminated by SIGTERM", file=sys.stderr)
        _die_by_sigterm()
    sys.stderr.flush()
    sys.exit(rc)


def serve(handlers):
    """serve({"prepare": f, "train": g}): one program for several stages, in
    either mode (the name is the request's stage, or STAGEQ_STAGE)."""
    run(dict(handlers))


def stage(fn):
    """Decorator: @stage on def transform(input, progress). When the function
    is defined in the program being run (its module is __main__), the
    decorator runs it as the stage and exits: put it last in the file.
    Imported from elsewhere, it returns the function unchanged (for tests, or
    to list it in serve())."""
    if getattr(fn, "__module__", None) == "__main__":
        run(fn)
    return fn
