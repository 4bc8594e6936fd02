"""``collab db stop`` + ``collab db start`` under a running ``collab serve`` and a running
worker process, on the embedded server of a ``COLLAB_HOME`` of the test's own: the server
comes back on the port recorded under its home, ``serve`` answers an enqueue with 200 again
and the first enqueue after the restart answers 200 (no pooled connection that the old
server closed is lent); the worker — woken by LISTEN alone (its poll interval is longer
than the wait) — runs a job enqueued after the restart within a bounded wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from http_support import API_KEY, start_server
from support import REPO
from support.processes import LoggedProcess

WORKER_APPS = REPO / "tests" / "worker"
KEY = {"x-api-key": API_KEY}
#: How long serve and the worker may take to notice the server is back.
RECOVERY_SECONDS = 20.0


def collab(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAB_", "SUPABASE_"))}
    return subprocess.run([sys.executable, "-m", "collab_sdk.cli", *args], capture_output=True, text=True,
                          timeout=180, env={**env, "COLLAB_HOME": str(home)})


def until(check: Callable[[], object], what: str, timeout: float = RECOVERY_SECONDS) -> object:
    """``check()``'s first truthy answer (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = check()
        except httpx.HTTPError:
            answer = None
        if answer:
            return answer
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(0.2)


@pytest.mark.slow  # three processes and two server starts: 10-25 s on the shared machine
def test_serve_and_a_worker_keep_working_across_db_stop_and_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    started = collab("db", "url", home=home)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    # A short wait for a connection while the server is down: the 503 comes after it.
    env = {**os.environ, "COLLAB_DATABASE_URL": url, "APP_POLL": "120", "COLLAB_CONNECT_TIMEOUT": "1"}
    worker = LoggedProcess([sys.executable, "-m", "collab_sdk.cli", "worker", "worker_app:worker"],
                           tmp_path / "worker.log", cwd=WORKER_APPS, env=env)
    try:
        with start_server(url, tmp_path, COLLAB_API_KEY=API_KEY, COLLAB_REQUIRE_JWT="0",
                          COLLAB_CONNECT_TIMEOUT="1") as server:
            def enqueue() -> str | None:
                answer = httpx.post(f"{server.base}/api/collab/task.assign", headers=KEY, timeout=5,
                                    json={"type": "app.echo", "executorId": "ex"})
                return str(answer.json()["jobId"]) if answer.status_code == 200 else None

            def succeeded(job_id: str) -> bool:
                answer = httpx.get(f"{server.base}/api/collab/job/{job_id}", headers=KEY, timeout=5)
                return answer.status_code == 200 and answer.json()["job"]["status"] == "succeeded"

            before = enqueue()
            assert before is not None
            until(lambda: succeeded(before), "the worker runs a job before the restart")

            assert collab("db", "stop", home=home).returncode == 0
            down = httpx.post(f"{server.base}/api/collab/task.assign", headers=KEY, timeout=10,
                              json={"type": "app.echo", "executorId": "ex"})
            assert down.status_code == 503, down.text
            assert worker.poll() is None, worker.output()  # the worker waits, it does not exit

            again = collab("db", "start", home=home)
            assert again.returncode == 0 and again.stdout.strip() == url, (url, again.stdout, again.stderr)
            # The first request after the restart: serve lends no connection the old server
            # closed (each would be one 503), it opens a new one.
            after = enqueue()
            assert after is not None, server.log.read_text()[-3000:]
            until(lambda: succeeded(after), "the worker runs a job enqueued after the restart")
        assert worker.stop(graceful=True) == 0, worker.output()
    finally:
        worker.stop()
        collab("db", "stop", home=home)
