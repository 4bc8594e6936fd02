"""A worker applies its executor's retention policy (``collab_sdk.worker.retention``): at
start and about once a minute, one worker of the executor at a time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from collab_sdk import AsyncCollabClient
from support import Caller, eventually
from support.retention import seed_finished


def _jobs(owner: Caller) -> int:
    return int(owner.sql("select count(*) as n from collab.jobs")[0]["n"])


async def test_workers_delete_due_jobs_and_dead_letters_once(service: AsyncCollabClient, start_worker: Any,
                                                             owner: Caller, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collab.worker")
    seeded = seed_finished(owner.conn, due=2500, kept=60)
    assert seeded.dead_letters > 0
    for _ in range(3):
        await start_worker(lambda worker: None, concurrency=1)
    await eventually(lambda: _jobs(owner) == 60, timeout=30)
    await eventually(lambda: owner.sql("select last_finished_at from collab.retention_state")[0][
        "last_finished_at"] is not None, timeout=30)
    state = owner.sql("select * from collab.retention_state")[0]
    dead = owner.sql("select count(*) as n from collab.job_dead_letters")[0]["n"]
    assert dead == 20  # those of the kept failed jobs
    assert state["last_purged"] == 2500 + (seeded.dead_letters - 20)
    assert state["lease_owner"] is None and state["next_run_at"] > state["last_finished_at"]
    assert state["last_started_at"] is not None
    # Three workers ran the loop; the lease let one of them do the whole pass. Its line is
    # logged once the answer is read, which can be after the test sees the commit.

    def passes() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("retention: deleted")]

    await eventually(lambda: bool(passes()), timeout=10)
    await asyncio.sleep(0.2)  # room for a second (wrong) pass line to show up
    assert passes() == [f"retention: deleted 2500 job(s) with {2500 * 3} event(s) and {seeded.dead_letters - 20}"
                        " dead letter(s) of ex"]


async def test_retention_false_and_a_disabled_policy_keep_everything(service: AsyncCollabClient,
                                                                     start_worker: Any, owner: Caller) -> None:
    seed_finished(owner.conn, due=10, kept=0)
    await service.set_retention_policy("ex", enabled=False)
    await start_worker(lambda worker: None)
    await start_worker(lambda worker: None, retention=False, executor_id="other")
    await eventually(lambda: bool(owner.sql("select 1 from collab.retention_state where executor_id = 'ex'")),
                     timeout=30)
    assert _jobs(owner) == 10
    assert owner.sql("select executor_id from collab.retention_state") == [{"executor_id": "ex"}]
