"""Worker processes under signals and crashes: nothing lost, nothing done twice."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from support import Caller
from support.waiting import wait_for

pytestmark = pytest.mark.slow


def counts(owner: Caller) -> dict[str, int]:
    rows = owner.sql("select status, count(*)::int as n from collab.jobs group by status")
    return {r["status"]: r["n"] for r in rows}


def enqueue(owner: Caller, n: int, **payload: Any) -> None:
    jobs = [{"type": "app.work", "executor_id": "ex", "payload": payload} for _ in range(n)]
    owner.rpc("assign_jobs_v1", jobs=jobs)


def event_counts(owner: Caller, event_type: str) -> list[int]:
    rows = owner.sql("select count(*)::int as n from collab.job_events where event_type = %s"
                     " group by job_id", (event_type,))
    return [r["n"] for r in rows]


def test_processes_drain_2000_jobs_exactly_once(spawn: Any, owner: Caller) -> None:
    enqueue(owner, 2000)
    # Warnings only: 4,000 job lines are nothing this test reads.
    procs = [spawn(APP_CONCURRENCY="4", APP_NAME=f"p{i}", COLLAB_LOG_LEVEL="warning") for i in range(3)]
    wait_for(lambda: counts(owner).get("succeeded", 0) == 2000, timeout=120, what="2000 jobs")
    assert event_counts(owner, "succeeded") == [1] * 2000
    assert event_counts(owner, "claimed") == [1] * 2000
    pids = owner.sql("select count(distinct result->>'pid')::int as n from collab.jobs")[0]["n"]
    assert pids == 3, "every process took part"
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    assert [proc.wait(timeout=30) for proc in procs] == [0, 0, 0]


def test_sigterm_drains_running_jobs_and_claims_no_more(spawn: Any, owner: Caller) -> None:
    proc = spawn(APP_SLEEP="1.5", APP_CONCURRENCY="4")
    enqueue(owner, 4)
    wait_for(lambda: counts(owner).get("running", 0) == 4, what="4 running jobs")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    enqueue(owner, 2, sleep=0)
    started = time.monotonic()
    assert proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 10
    assert counts(owner) == {"succeeded": 4, "queued": 2}
    beat = owner.sql("select status from collab.worker_heartbeats_v2")
    assert [b["status"] for b in beat] == ["stopped"]


def test_drain_timeout_hands_jobs_back(spawn: Any, owner: Caller) -> None:
    proc = spawn(APP_SLEEP="60", APP_DRAIN="1", APP_CONCURRENCY="2")
    enqueue(owner, 2)
    wait_for(lambda: counts(owner).get("running", 0) == 2, what="2 running jobs")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 75
    jobs = owner.sql("select status, attempts, last_error, next_run_at <= now() as due from collab.jobs")
    assert all(j["status"] == "queued" and j["due"] and "shut down" in j["last_error"] for j in jobs)


def test_second_signal_exits_at_once(spawn: Any, owner: Caller) -> None:
    proc = spawn(APP_SLEEP="60", APP_DRAIN="60", APP_CONCURRENCY="1")
    enqueue(owner, 1)
    wait_for(lambda: counts(owner).get("running", 0) == 1, what="a running job")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 130
    assert counts(owner) == {"queued": 1}


def test_sigkill_leases_expire_and_another_worker_finishes(spawn: Any, owner: Caller) -> None:
    first = spawn(APP_SLEEP="60", APP_LEASE="2", APP_CONCURRENCY="6", APP_NAME="same")
    enqueue(owner, 6)
    wait_for(lambda: counts(owner).get("running", 0) == 6, what="6 running jobs")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    rescuer = spawn(APP_SLEEP="0", APP_LEASE="2", APP_NAME="same")
    wait_for(lambda: counts(owner).get("succeeded", 0) == 6, timeout=30, what="recovery")
    jobs = owner.sql("select id, attempts, lease_owner from collab.jobs")
    assert all(j["attempts"] == 2 for j in jobs)
    reclaimed = [line for line in rescuer.output().splitlines() if " job.reclaimed " in line]
    assert sorted(line.split(" id=")[1].split()[0] for line in reclaimed) == sorted(str(j["id"]) for j in jobs)
    assert all(" WARNING " in line and "rescues=1" in line and "lease expired" in line for line in reclaimed)
    assert event_counts(owner, "succeeded") == [1] * 6
    owners = {r["lease_owner"] for r in jobs}
    claimed_by = owner.sql("select distinct payload->>'worker_id' as w from collab.job_events"
                           " where event_type = 'claimed'")
    assert len(owners) == 1 and len({r["w"] for r in claimed_by}) == 2, "same name, fresh lease identity"


def test_zombie_worker_cannot_overwrite_the_new_owner(spawn: Any, owner: Caller) -> None:
    zombie = spawn(APP_SLEEP="3", APP_LEASE="2", APP_CONCURRENCY="1", APP_NAME="zombie")
    enqueue(owner, 1)
    wait_for(lambda: counts(owner).get("running", 0) == 1, what="the zombie's job")
    zombie.send_signal(signal.SIGSTOP)
    time.sleep(2.5)  # its lease expires while it is frozen
    rescuer = spawn(APP_SLEEP="0", APP_LEASE="2", APP_NAME="rescuer")
    wait_for(lambda: counts(owner).get("succeeded", 0) == 1, what="the rescuer's result")
    rescuer.send_signal(signal.SIGTERM)
    assert rescuer.wait(timeout=15) == 0
    result = owner.sql("select result, attempts from collab.jobs")[0]
    zombie.send_signal(signal.SIGCONT)
    # The zombie wakes, its handler finishes or is aborted, its writes are refused: its
    # attempt ends as lost (its exit's last heartbeat carries the stats checked below).
    wait_for(lambda: "outcome=lost" in zombie.output(), timeout=20, what="the zombie's lost attempt")
    zombie.send_signal(signal.SIGTERM)
    zombie.wait(timeout=20)
    output = zombie.output()
    assert owner.sql("select result, attempts from collab.jobs")[0] == result
    assert result["attempts"] == 2 and "rescuer" in result["result"]["worker"]
    assert event_counts(owner, "succeeded") == [1]
    lost = [line for line in output.splitlines() if "outcome=lost" in line]
    assert len(lost) == 1 and "lease" in lost[0], output  # counted and logged once
    stats = owner.sql("select metadata->'stats' as s from collab.worker_heartbeats_v2"
                      " where metadata->>'name' = 'zombie'")[0]["s"]
    assert stats["lost"] == 1 and "succeeded" not in stats, stats
