"""A real worker process through a read-only database and through injected serialization
failures and deadlocks: it never exits, keeps its finished results in memory and delivers
them once writes are accepted, runs no job twice, logs one line per change of state, and
resumes by itself.

The read-only window is ``COLLAB_TEST_READ_ONLY_SECONDS`` long (default 4 s; the issue's
20 s with ``COLLAB_TEST_READ_ONLY_SECONDS=20``): the behaviour is the same, only the
wait is longer. Handlers sleep 1 s, so the ones running when the window opens finish
inside it, and their results must wait for it to close.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from collab_sdk.errors import TRANSIENT_RETRIES
from support import Caller
from support.faults import inject_transient, injected, read_only
from support.processes import LoggedProcess
from support.waiting import wait_for

pytestmark = pytest.mark.slow
WINDOW = float(os.environ.get("COLLAB_TEST_READ_ONLY_SECONDS", "4"))
JOBS = 24
#: Injected faults: three whole calls' worth of the transport's own retries, so the first
#: claims (the only updates of ``collab.jobs`` before a job runs) fail through to the
#: worker's retry with backoff three times (0.1 + 0.2 + 0.4 s; 40 faults took ~20 s of it).
FAULTS = 3 * (TRANSIENT_RETRIES + 1)


def _assign(owner: Caller, n: int, sleep: float) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "app.work", "executor_id": "ex", "payload": {"sleep": sleep}}
                                      for _ in range(n)])


def _count(owner: Caller, status: str) -> int:
    return int(owner.sql("select count(*) as n from collab.jobs where status = %s", (status,))[0]["n"])


def _lines(proc: LoggedProcess) -> list[dict[str, Any]]:
    lines = []
    for text in proc.output().splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines


def _events(proc: LoggedProcess, prefix: str) -> list[str]:
    return [line["event"] for line in _lines(proc) if str(line.get("event", "")).startswith(prefix)]


def _assert_each_job_ran_once(owner: Caller, n: int) -> None:
    rows = owner.sql("select j.attempts, j.status, (select count(*) from collab.job_events e "
                     "where e.job_id = j.id and e.event_type = 'claimed') as claims from collab.jobs j")
    assert len(rows) == n
    assert {(r["status"], r["attempts"], r["claims"]) for r in rows} == {("succeeded", 1, 1)}, rows


def _stop(proc: LoggedProcess) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_a_read_only_database_is_waited_out(db_url: str, owner: Caller,
                                            spawn: Callable[..., LoggedProcess]) -> None:
    _assign(owner, JOBS, sleep=1.0)
    proc = spawn(APP_CONCURRENCY="8", APP_LEASE="60", COLLAB_LOG_FORMAT="json")
    wait_for(lambda: _count(owner, "running") >= 4 and _count(owner, "succeeded") >= 1, what="jobs running")
    with read_only(db_url, terminate=False):
        running_then = _count(owner, "running")  # reads work on a read-only database
        deadline = time.monotonic() + WINDOW
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.output()[-3000:]
            time.sleep(0.2)
        # The handlers running when the window opened are done, their results not stored.
        assert _count(owner, "running") == running_then >= 4
    wait_for(lambda: _count(owner, "succeeded") == JOBS, timeout=60, what="every job succeeded")
    assert proc.poll() is None
    _assert_each_job_ran_once(owner, JOBS)
    finished = [line for line in _lines(proc) if line.get("event") == "job.finished"]
    held = [line for line in finished if line["duration_ms"] - line["handler_ms"] >= WINDOW * 500]
    assert len(held) >= 4, "results finished inside the window were kept until it closed"
    assert {line["outcome"] for line in finished} == {"succeeded"}
    assert _events(proc, "database.") == ["database.read_only", "database.writable"]
    assert _stop(proc) == 0


def test_a_failover_into_a_read_only_database_is_waited_out(db_url: str, owner: Caller,
                                                            spawn: Callable[..., LoggedProcess]) -> None:
    """Every session ends (as in a failover) and the pools reconnect to a read-only server."""
    _assign(owner, JOBS, sleep=1.0)
    proc = spawn(APP_CONCURRENCY="8", APP_LEASE="60", COLLAB_LOG_FORMAT="json")
    wait_for(lambda: _count(owner, "running") >= 4, what="jobs running")
    with read_only(db_url, terminate=True):
        owner.close()  # its session was ended too
        owner = Caller(db_url)
        deadline = time.monotonic() + WINDOW
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.output()[-3000:]
            time.sleep(0.2)
    try:
        wait_for(lambda: _count(owner, "succeeded") == JOBS, timeout=60, what="every job succeeded")
        assert proc.poll() is None
        _assert_each_job_ran_once(owner, JOBS)
        states = _events(proc, "database.")
        # A dropped connection may be seen first (unavailable), then the read-only server.
        assert "database.read_only" in states and states[-1] in ("database.writable", "database.reachable")
        assert len(states) <= 4, states
        assert _events(proc, "listen.") == ["listen.lost", "listen.reconnected"]
        assert _stop(proc) == 0
    finally:
        owner.close()


def test_serialization_failures_and_deadlocks_are_retried(db_url: str, owner: Caller,
                                                           spawn: Callable[..., LoggedProcess]) -> None:
    inject_transient(db_url, FAULTS)  # more than the transport's own retries of any one call
    _assign(owner, JOBS, sleep=0.05)
    proc = spawn(APP_CONCURRENCY="4", COLLAB_LOG_FORMAT="json")
    wait_for(lambda: _count(owner, "succeeded") == JOBS, timeout=60, what="every job succeeded")
    assert injected(db_url) > FAULTS  # every fault was raised, and calls went on after them
    assert proc.poll() is None
    _assert_each_job_ran_once(owner, JOBS)
    assert 1 <= len(_events(proc, "database.transient")) <= 2  # at most one line per 10 s
    assert _events(proc, "database.unavailable") == _events(proc, "database.read_only") == []
    assert _stop(proc) == 0
