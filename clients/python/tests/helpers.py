"""Shared by the package's tests: run a stage program as the worker would."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "programs")
PKG = os.path.dirname(HERE)
# The shell puts the progress pipe on fd 3, exactly where the worker puts it.
ON_FD3 = ["sh", "-c", 'fd=$1; shift; exec "$@" 3>&"$fd"', "sh"]


def stage_env(**extra):
    env = dict(os.environ)
    if not os.environ.get("STAGEQ_TEST_INSTALLED"):  # else: test the installed package
        env["PYTHONPATH"] = PKG + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("STAGEQ_SERVE", "STAGEQ_STAGE", "STAGEQ_JOB_ID", "STAGEQ_PROGRESS_FD"):
        env.pop(k, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Program:
    """A stage program started with a progress pipe on fd 3."""

    def __init__(self, script, progress=True, **env):
        self.fd3_r = None
        argv = [sys.executable, os.path.join(PROGRAMS, script)]
        pass_fds = ()
        if progress:
            self.fd3_r, w = os.pipe()
            argv = ON_FD3 + [str(w)] + argv
            pass_fds = (w,)
            env.setdefault("STAGEQ_PROGRESS_FD", 3)
        # bufsize=0: select() on stdout then sees every answer line not read yet
        self.proc = subprocess.Popen(argv, bufsize=0, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, pass_fds=pass_fds,
                                     env=stage_env(**env))
        if progress:
            os.close(w)

    def progress_lines(self):
        """Every progress line, once the program (and so fd 3) is closed."""
        with os.fdopen(self.fd3_r, "rb") as f:
            self.fd3_r = None
            return [json.loads(x) for x in f.read().splitlines()]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f and not f.closed:
                f.close()
        if self.fd3_r is not None:
            os.close(self.fd3_r)
            self.fd3_r = None


def one_shot(script, stage, value, raw=None, **env):
    """Runs a program once in one-shot mode: (rc, stdout, stderr, progress lines)."""
    p = Program(script, STAGEQ_STAGE=stage, STAGEQ_JOB_ID="job-1", **env)
    try:
        data = raw if raw is not None else json.dumps(value).encode()
        out, err = p.proc.communicate(data, timeout=60)
        return p.proc.returncode, out.decode(), err.decode(), p.progress_lines()
    finally:
        p.close()
