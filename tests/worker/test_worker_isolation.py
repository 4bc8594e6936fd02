"""Fault isolation: a crashing or hanging handler harms no other job (real worker
processes, restarted by a supervisor loop, over real PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collab_sdk.exits import ExitStatus
from support import Caller

HERE = Path(__file__).resolve().parent


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Supervisor:
    """Runs ``collab worker fault_app:worker`` and starts it again whenever it exits."""

    def __init__(self, db_url: str, **env: str) -> None:
        self.env = {**os.environ, "COLLAB_DATABASE_URL": db_url, **env}
        self.exits: list[int] = []
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "collab_sdk.cli", "worker", "fault_app:worker",
                                 "--log-level", "warning"], cwd=HERE, env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def tend(self) -> None:
        code = self.proc.poll()
        if code is not None:
            self.exits.append(code)
            self.proc = self._start()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def supervise(db_url: str) -> Iterator[Any]:
    made: list[Supervisor] = []

    def start(**env: str) -> Supervisor:
        made.append(Supervisor(db_url, **env))
        return made[-1]

    yield start
    for sup in made:
        if sup.proc.poll() is None:
            sup.proc.kill()
        sup.proc.wait(timeout=10)


def _enqueue_poison_among(owner: Caller, innocent: int) -> None:
    jobs = [{"type": "app.work", "executor_id": "ex", "max_attempts": 3} for _ in range(innocent)]
    jobs.insert(1, {"type": "app.poison", "executor_id": "ex", "max_attempts": 3})
    owner.rpc("assign_jobs_v1", jobs=jobs)


def _settled(owner: Caller) -> bool:
    rows = owner.sql("select count(*) filter (where status = 'succeeded')::int as ok,"
                     " count(*) filter (where status = 'failed')::int as failed from collab.jobs")
    return rows[0]["ok"] == 40 and rows[0]["failed"] == 1


def _outcome(owner: Caller) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    innocents = owner.sql("select status, attempts, forgiven_attempts from collab.jobs where type = 'app.work'")
    poison = owner.sql("select status, attempts, forgiven_attempts, rescues from collab.jobs"
                       " where type = 'app.poison'")[0]
    dead = owner.sql("select type, reason from collab.job_dead_letters")
    return innocents, poison, dead


@pytest.mark.slow
def test_a_poison_job_dead_letters_and_its_neighbours_pay_nothing(supervise: Any, owner: Caller) -> None:
    """In-process handlers: the poison job kills the worker each time it runs; the
    supervisor restarts it. Reclaimed jobs run alone, and the attempt lost beside the
    poison job is forgiven, so no innocent job is charged for the crash."""
    _enqueue_poison_among(owner, 40)
    sup = supervise(APP_CONCURRENCY="4", APP_LEASE="1")

    def tended() -> bool:
        sup.tend()
        return _settled(owner)

    _wait(tended, 60, "40 successes and one dead letter")
    assert sup.stop() == 0
    innocents, poison, dead = _outcome(owner)
    assert len(innocents) == 40 and all(j["status"] == "succeeded" for j in innocents)
    charged = [j["attempts"] - j["forgiven_attempts"] for j in innocents]
    assert max(charged) <= 2, charged  # the bound; the design gives 1
    assert charged == [1] * 40, charged
    assert dead == [{"type": "app.poison", "reason": "lease_expired"}]
    assert poison["attempts"] - poison["forgiven_attempts"] == 3
    assert sup.exits and all(code != 0 for code in sup.exits), sup.exits  # it did crash


@pytest.mark.slow
def test_with_process_isolation_the_worker_never_dies(supervise: Any, owner: Caller) -> None:
    """isolation='process': the poison job kills its child alone; the worker fails the
    attempt, replaces the child, and the job dead-letters after its attempts."""
    _enqueue_poison_among(owner, 40)
    sup = supervise(APP_CONCURRENCY="4", APP_LEASE="5", APP_ISOLATION="process")

    def hurried() -> bool:  # skip the engine's retry backoff (5 s, then 10 s)
        owner.sql("update collab.jobs set next_run_at = now() where status = 'queued' and type = 'app.poison'")
        return _settled(owner)

    _wait(hurried, 60, "40 successes and one dead letter")
    assert sup.proc.poll() is None and sup.exits == [], "the worker process never died"
    assert sup.stop() == 0
    innocents, poison, dead = _outcome(owner)
    assert [j["attempts"] for j in innocents] == [1] * 40
    assert dead == [{"type": "app.poison", "reason": "max_attempts"}]
    assert poison["attempts"] == 3 and poison["rescues"] == 0
    errors = owner.sql("select last_error from collab.jobs where type = 'app.poison'")[0]["last_error"]
    assert "child process died (exit code 3)" in errors
    pids = owner.sql("select count(distinct result->>'pid')::int as n from collab.jobs where type = 'app.work'")
    assert 1 <= pids[0]["n"] <= 4 + 3, "children are reused, and replaced when one dies"


def test_hung_sync_handlers_never_wedge_the_worker(spawn_fault: Any, owner: Caller) -> None:
    """Two sync handlers that ignore ctx.cancelled time out; later sync jobs still run on
    fresh threads, and the hung jobs are failed (not kept running with their leases)."""
    proc = spawn_fault(APP_CONCURRENCY="2", APP_TIMEOUT="0.5", APP_MAX_ABANDONED="5")
    owner.rpc("assign_jobs_v1", jobs=[{"type": "app.hang", "executor_id": "ex", "max_attempts": 1}] * 2)
    _wait(lambda: owner.sql("select count(*)::int as n from collab.jobs where status = 'failed'")[0]["n"] == 2,
          15, "the hung jobs to time out")
    owner.rpc("assign_jobs_v1", jobs=[{"type": "app.sync", "executor_id": "ex"}] * 6)
    _wait(lambda: owner.sql("select count(*)::int as n from collab.jobs where status = 'succeeded'")[0]["n"] == 6,
          15, "later sync jobs")
    hung = owner.sql("select status, lease_until, last_error from collab.jobs where type = 'app.hang'")
    assert all(j["status"] == "failed" and j["lease_until"] is None and "timed out" in j["last_error"]
               for j in hung)
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert proc.wait(timeout=15) == 0  # the abandoned threads do not hold up the exit
    assert time.monotonic() - started < 5
    stats = owner.sql("select metadata->'stats' as s from collab.worker_heartbeats_v2")[0]["s"]
    assert stats["timeouts"] == 2 and stats["abandoned_threads"] == 2 and stats["succeeded"] == 6


def test_sigterm_with_stuck_threads_exits_75_within_the_drain_timeout(spawn_fault: Any, owner: Caller) -> None:
    proc = spawn_fault(APP_CONCURRENCY="2", APP_DRAIN="1")
    owner.rpc("assign_jobs_v1", jobs=[{"type": "app.hang", "executor_id": "ex"}] * 2)
    _wait(lambda: owner.sql("select count(*)::int as n from collab.jobs where status = 'running'")[0]["n"] == 2,
          15, "two hung handlers")
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert proc.wait(timeout=15) == ExitStatus.DRAIN_TIMEOUT
    assert time.monotonic() - started < 1 + 3
    jobs = owner.sql("select status, last_error from collab.jobs")
    assert all(j["status"] == "queued" and "shut down" in j["last_error"] for j in jobs)


def test_too_many_abandoned_threads_exit_with_stuck(spawn_fault: Any, owner: Caller) -> None:
    proc = spawn_fault(APP_CONCURRENCY="4", APP_TIMEOUT="0.3", APP_MAX_ABANDONED="2")
    owner.rpc("assign_jobs_v1", jobs=[{"type": "app.hang", "executor_id": "ex"}] * 2)
    assert proc.wait(timeout=20) == ExitStatus.STUCK == 70
    output = proc.output()
    assert "hung handler thread(s) abandoned" in output and "exits with 70" in output, output


@pytest.fixture
def spawn_fault(spawn: Any) -> Any:
    """``spawn_fault(APP_…=…)``: a ``collab worker fault_app:worker`` process."""
    return lambda **env: spawn("fault_app:worker", **env)
