"""Real ``collab`` processes (``serve``, ``worker``) whose output goes to a file, and a
free port for one to serve on.

A file, not a pipe: a pipe nobody reads fills up and blocks the process (a worker writes
two lines a job). ``LoggedProcess.stop()`` ends the process and hands its output to the
suite's secret capture (``support.secret_capture.check_output``).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from support.secret_capture import check_output

__all__ = ["LoggedProcess", "free_port"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (for a process to serve on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoggedProcess(subprocess.Popen[bytes]):
    """``subprocess.Popen(argv, **options)`` with stdout and stderr appended to ``log``."""

    def __init__(self, argv: Sequence[str], log: Path, **options: Any) -> None:
        self.log = Path(log)
        self._out = open(self.log, "ab")
        try:
            super().__init__(list(argv), stdout=self._out, stderr=subprocess.STDOUT, **options)
        except BaseException:
            self._out.close()
            raise

    def output(self) -> str:
        """Everything the process wrote so far."""
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self, *, graceful: bool = False, timeout: float = 20) -> int:
        """End the process if it runs (SIGTERM when ``graceful``, else SIGKILL; SIGKILL after
        ``timeout`` seconds anyway), close its log and check its output for secrets;
        the exit status."""
        if self.poll() is None:
            self.terminate() if graceful else self.kill()
            try:
                self.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.wait()
        if not self._out.closed:
            self._out.close()
            check_output(self.output(), f"`{' '.join(map(str, self.args))}`")
        return int(self.returncode)
