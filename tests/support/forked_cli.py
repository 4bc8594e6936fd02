"""``collab`` commands as real processes, forked from one that has already imported the CLI.

``python -m collab_sdk.cli`` spends about a second importing collab_sdk before it parses
its arguments (more on a loaded machine), and the CLI tests run about eighty commands.
``run_collab(args)`` instead asks a *zygote* — one ``python`` that imported
``collab_sdk.cli.main`` and nothing else: no thread, no connection, no logging set up —
to ``fork()``; the child gets its own stdin (``/dev/null``), stdout and stderr files, the
caller's environment and working directory, runs ``main(args)`` and leaves through
``sys.exit`` like ``python -m collab_sdk.cli`` (its ``__main__``), so atexit handlers and
finalizers run. Each command is a fresh child of the pristine zygote: nothing a command
does is seen by the next. The answer is a ``subprocess.CompletedProcess`` with the
child's exit status, stdout and stderr, as ``subprocess.run(..., text=True)`` gives.

What it does not prove is the interpreter start and the import itself: tests that are
about those (``__main__``, missing extras, a wheel, worker processes, ``collab watch``)
keep starting ``python -m collab_sdk.cli``.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

__all__ = ["run_collab"]

#: The zygote: one request (JSON) per line on stdin; for each, the child's pid then its
#: exit status, one line each, on stdout — both unbuffered (``os.read``/``os.write``), so
#: a child inherits no read-ahead and no pending output of its parent.
_ZYGOTE = r"""
import json, os, sys
from collab_sdk.cli.main import main

requests = os.fdopen(0, "rb", buffering=0)
while line := requests.readline():
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                                (1, request["stdout"], os.O_WRONLY | os.O_TRUNC),
                                (2, request["stderr"], os.O_WRONLY | os.O_TRUNC)):
            opened = os.open(path, flags)
            os.dup2(opened, fd)
            os.close(opened)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["collab", *request["args"]]
        sys.exit(main(request["args"]))
    os.write(1, f"{pid}\n".encode())
    os.write(1, f"{os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}\n".encode())
"""


class _Zygote:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0)
        assert self.proc.stdout is not None
        self._answers = self.proc.stdout
        self.lock = threading.Lock()

    def _answer(self, timeout: float | None) -> str | None:
        ready, _, _ = select.select([self._answers], [], [], timeout)
        if not ready:
            return None
        line = self._answers.readline()
        assert line, f"the collab zygote died (exit {self.proc.poll()})"
        return line.decode().strip()

    def run(self, args: list[str], timeout: float, env: dict[str, str],
            cwd: str) -> subprocess.CompletedProcess[str]:
        with self.lock, tempfile.TemporaryDirectory(prefix="collab-cli-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            out.touch()
            err.touch()
            request = {"args": args, "stdout": str(out), "stderr": str(err),
                       "cwd": cwd, "env": env}
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            pid = int(self._answer(30) or 0)
            assert pid, "the collab zygote did not fork"
            code = self._answer(timeout)
            if code is None:
                os.kill(pid, signal.SIGKILL)
                self._answer(None)
                raise subprocess.TimeoutExpired(["collab", *args], timeout, out.read_text(),
                                                err.read_text())
            return subprocess.CompletedProcess(["collab", *args], int(code), out.read_text(),
                                               err.read_text())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self._answers.close()


_zygote: _Zygote | None = None


def run_collab(args: list[str], *, timeout: float = 60, env: Mapping[str, str] | None = None,
               cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[str]:
    """``collab *args`` as a forked process (see the module doc) with ``env`` (default: this
    process's environment) in ``cwd`` (default: the current directory), like
    ``subprocess.run``'s; fails with ``subprocess.TimeoutExpired`` (the child killed) after
    ``timeout`` seconds."""
    global _zygote
    if _zygote is None or _zygote.proc.poll() is not None:
        _zygote = _Zygote()
        atexit.register(_zygote.stop)
    return _zygote.run(list(args), timeout, dict(os.environ if env is None else env),
                       os.fspath(os.getcwd() if cwd is None else cwd))
