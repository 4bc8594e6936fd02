"""Worker logs from real processes: a line per job start and finish, the whole traceback
of a failed handler, lease loss and the drain, JSON or key=value — and no secret, token or
password in any line, whatever the handler's exception says."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collab_sdk import CollabClient
from support import Caller
from support.waiting import wait_for
from support.processes import LoggedProcess
from support.secret_capture import find_secret, register_secret

HERE = Path(__file__).resolve().parent
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsb2ctdGVzdCJ9.c2lnbmVkLWJ5LXRoZS10ZXN0"
SERVICE_KEY = "sb_secret_log-test-service-key-0123456789"
JWT_SECRET = "log-test-jwt-secret-0123456789abcdef0123456789"
PASSWORD = "hunter2-log-test-password"
register_secret(TOKEN, SERVICE_KEY, JWT_SECRET, PASSWORD)


def with_password(url: str) -> str:
    """``url`` with a password the (trusting) test server ignores."""
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def assert_no_secrets(output: str) -> None:
    assert find_secret(output) is None, find_secret(output)  # these four and any token


@pytest.fixture
def run_worker(db_url: str, tmp_path: Path) -> Iterator[Callable[..., LoggedProcess]]:
    procs: list[LoggedProcess] = []

    def start(**env: str) -> LoggedProcess:
        full = {**os.environ, "COLLAB_DATABASE_URL": with_password(db_url), "APP_TOKEN": TOKEN,
                "APP_KEY": SERVICE_KEY, "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
                "SUPABASE_JWT_SECRET": JWT_SECRET, **env}
        proc = LoggedProcess([sys.executable, "-m", "collab_sdk.cli", "worker", "logs_app:worker"],
                             tmp_path / f"worker-{len(procs)}.log", cwd=HERE, env=full)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop(timeout=10)


def output_of(proc: LoggedProcess) -> str:
    return proc.output()


def status(owner: Caller, job_id: str) -> str:
    return str(owner.sql("select status from collab.jobs where id = %s", (job_id,))[0]["status"])


def test_json_lines_per_job_traceback_lease_loss_and_no_secrets(run_worker: Any, owner: Caller,
                                                                 db_url: str) -> None:
    proc = run_worker(COLLAB_LOG_FORMAT="json", APP_LEASE="3")
    with CollabClient.from_url(db_url) as client:
        ok = str(client.assign("log.ok", executor_id="ex").job_id)
        boom = str(client.assign("log.boom", executor_id="ex", max_attempts=1).job_id)
        hold = str(client.assign("log.hold", executor_id="ex").job_id)
        wait_for(lambda: status(owner, hold) == "running", what="the held job")
        client.cancel(hold, reason="taken away")
        wait_for(lambda: status(owner, boom) == "failed" and status(owner, ok) == "succeeded",
                 what="ok and boom")
        wait_for(lambda: '"job.lease_lost"' in output_of(proc), what="the lease loss")
    wait_for(lambda: '"outcome": "lost"' in output_of(proc), what="the lost outcome")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    output = output_of(proc)
    lines = [json.loads(line) for line in output.splitlines()]  # every line is JSON
    finished = {line["id"]: line for line in lines if line["event"] == "job.finished"}
    started = {line["id"] for line in lines if line["event"] == "job.started"}
    assert {ok, boom, hold} <= started
    assert finished[ok]["outcome"] == "succeeded" and finished[ok]["level"] == "INFO"
    assert finished[ok]["type"] == "log.ok" and finished[ok]["attempt"] == 1
    assert finished[ok]["duration_ms"] >= 0
    failed = finished[boom]
    assert failed["outcome"] == "failed" and failed["level"] == "ERROR"
    assert "Traceback (most recent call last)" in failed["exc"] and "in _deep" in failed["exc"]
    assert "Bearer ***" in failed["exc"] and "postgres:***@" in failed["exc"]
    lost = [line for line in lines if line.get("outcome") == "lost"]
    assert len(lost) == 1 and lost[0]["id"] == hold and "lease" in lost[0]["reason"], lost
    assert [line["id"] for line in lines if line["event"] == "job.lease_lost"] == [hold]
    assert [line["event"] for line in lines][-1] == "worker.stopped"
    assert not [line for line in lines if line["level"] == "ERROR" and line.get("id") != boom]
    # The job keeps the traceback's tail, unredacted rows being the database's business.
    last_error = owner.sql("select last_error from collab.jobs where id = %s", (boom,))[0]["last_error"]
    assert "Traceback (most recent call last)" in last_error and "RuntimeError" in last_error
    event = owner.sql("select payload from collab.job_events where job_id = %s and event_type = 'failed'",
                      (boom,))[0]["payload"]
    assert "Traceback (most recent call last)" in event["error"] and event["error"] == last_error[:2000]
    assert_no_secrets(output)


def test_key_value_lines_and_a_clean_stop_with_the_blocking_client(run_worker: Any, owner: Caller,
                                                                   db_url: str) -> None:
    proc = run_worker(APP_BLOCKING="1")
    with CollabClient.from_url(db_url) as client:
        job = str(client.assign("log.sync", executor_id="ex", payload={"sleep": 0.2}).job_id)
        wait_for(lambda: status(owner, job) == "succeeded", what="the sync job")
    wait_for(lambda: "job.finished" in output_of(proc), what="the finish line")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    output = output_of(proc)
    finished = [line for line in output.splitlines() if " job.finished " in line]
    assert len(finished) == 1 and f"id={job}" in finished[0] and "outcome=succeeded" in finished[0]
    assert "type=log.sync" in finished[0] and "attempt=1" in finished[0] and "duration_ms=" in finished[0]
    assert " ERROR " not in output and "Task was destroyed" not in output, output
    assert_no_secrets(output)


@pytest.mark.parametrize("blocking", ["0", "1"])
def test_second_signal_exits_at_once_with_a_sync_handler_running(run_worker: Any, owner: Caller,
                                                                 db_url: str, blocking: str) -> None:
    proc = run_worker(APP_BLOCKING=blocking)
    with CollabClient.from_url(db_url) as client:
        job = str(client.assign("log.sync", executor_id="ex", payload={"sleep": 60}).job_id)
        wait_for(lambda: status(owner, job) == "running", what="the sync job")
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "worker.draining" in output_of(proc), what="the drain")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert time.monotonic() - started < 3, "the second signal did not stop it at once"
    assert status(owner, job) == "queued"  # handed back
    output = output_of(proc)
    assert "outcome=aborted" in output and "Task was destroyed" not in output, output
