"""Job helpers for SQL-level tests: enqueue, claim, read rows and events, move time."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from support.callers import Caller

__all__ = ["assign", "assign_one_by_one", "claim", "job", "events", "expire_lease", "make_due"]


def assign(caller: Caller, type: str = "t.noop", executor_id: str = "ex", **kw: Any) -> uuid.UUID:
    """Enqueue one job; its id."""
    row = caller.one("assign_job_v1", type=type, executor_id=executor_id, **kw)
    assert row is not None
    return row["job_id"]


def assign_one_by_one(db_url: str, executors: list[str], type: str = "t.one") -> list[str]:
    """One ``assign_job_v1`` statement per entry of ``executors`` (its executor), all in
    one transaction of the database owner (pipelined); the job ids, in order."""
    with psycopg.connect(db_url) as writer, writer.cursor() as cur:
        cur.executemany("select job_id from collab.assign_job_v1(type => %s, executor_id => %s)",
                        [(type, e) for e in executors], returning=True)
        ids = []
        while True:
            row = cur.fetchone()
            assert row is not None
            ids.append(str(row[0]))
            if not cur.nextset():
                return ids


def claim(caller: Caller, executor_id: str = "ex", worker_id: str = "w1", lease_seconds: int = 60,
          **kw: Any) -> dict[str, Any] | None:
    """Claim one job with claim_one_job_v3; the job row or None."""
    return caller.one("claim_one_job_v3", executor_id=executor_id, worker_id=worker_id,
                      lease_seconds=lease_seconds, **kw)


def job(caller: Caller, job_id: uuid.UUID) -> dict[str, Any]:
    """The job row, read directly (no RPC)."""
    rows = caller.sql("select * from collab.jobs where id = %s", (job_id,))
    assert rows, f"job {job_id} not found"
    return rows[0]


def events(caller: Caller, job_id: uuid.UUID) -> list[str]:
    """The job's event types in seq order."""
    rows = caller.sql("select event_type from collab.job_events where job_id = %s order by seq", (job_id,))
    return [r["event_type"] for r in rows]


def expire_lease(caller: Caller, job_id: uuid.UUID) -> None:
    """Move a running job's lease into the past (what waiting for it would do)."""
    caller.sql("update collab.jobs set next_run_at = now() - interval '1 second' where id = %s", (job_id,))


def make_due(caller: Caller, job_id: uuid.UUID) -> None:
    """Make a queued job (e.g. waiting for backoff) due now."""
    caller.sql("update collab.jobs set next_run_at = now() where id = %s and status = 'queued'", (job_id,))
