"""Helpers for the workflow engine's SQL tests (tests/engine/test_workflow_*.py)."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from support import Caller, in_threads

EXECUTOR = "ex"

# A -> B, A -> C, B + C -> D
DIAMOND = {
    "nodes": [{"id": "A", "type": "t.step", "data": {"config": {"n": 1}}},
              {"id": "B", "type": "t.step", "data": {}},
              {"id": "C", "type": "t.step", "data": {}},
              {"id": "D", "type": "t.step", "data": {}}],
    "edges": [{"id": "ab", "source": "A", "target": "B"}, {"id": "ac", "source": "A", "target": "C"},
              {"id": "bd", "source": "B", "target": "D"}, {"id": "cd", "source": "C", "target": "D"}],
}


def chain(*nodes: tuple[str, str]) -> dict[str, Any]:
    """A definition whose nodes ``(id, type)`` run one after the other."""
    return {"nodes": [{"id": i, "type": t, "data": {}} for i, t in nodes],
            "edges": [{"id": f"{a[0]}-{b[0]}", "source": a[0], "target": b[0]} for a, b in zip(nodes, nodes[1:])]}


@contextlib.contextmanager
def sqlstate(code: str, match: str = "") -> Iterator[pytest.ExceptionInfo[psycopg.Error]]:
    """Expect a database error with SQLSTATE ``code`` whose message contains ``match``."""
    with pytest.raises(psycopg.Error) as info:
        yield info
    assert info.value.sqlstate == code, f"expected {code}, got {info.value.sqlstate}: {info.value}"
    assert match in str(info.value), f"{match!r} not in {info.value}"


def register(caller: Caller, *names: str, executor_id: str = EXECUTOR) -> None:
    caller.rpc("register_step_types_v1", executor_id=executor_id,
               step_types=[{"name": n, "title": n} for n in names])


def published(caller: Caller, definition: dict[str, Any], executor_id: str = EXECUTOR,
              types: tuple[str, ...] = ("t.step",), **kw: Any) -> dict[str, Any]:
    """Register ``types``, create the workflow and publish it; the workflow row."""
    register(caller, *types, executor_id=executor_id)
    wf = caller.one("create_workflow_v1", executor_id=executor_id, name="wf", definition=definition, **kw)
    assert wf is not None
    row = caller.one("publish_workflow_v1", workflow_id=wf["id"])
    assert row is not None and row["status"] == "published"
    return row


def start(caller: Caller, workflow_id: uuid.UUID, **kw: Any) -> dict[str, Any]:
    """Start a run; the run (as JSON) with ``created``."""
    out = caller.value("start_run_v1", workflow_id=workflow_id, **kw)
    return {**out["run"], "created": out["created"]}


def steps(caller: Caller, run_id: Any) -> dict[str, dict[str, Any]]:
    """The run's step rows by step id."""
    return {s["step_id"]: s for s in caller.rpc("run_steps_v1", run_id=run_id)}


def statuses(caller: Caller, run_id: Any) -> dict[str, str]:
    return {k: v["status"] for k, v in steps(caller, run_id).items()}


def run(caller: Caller, run_id: Any) -> dict[str, Any]:
    row = caller.one("get_run_v1", run_id=run_id)
    assert row is not None
    return row


def claim(caller: Caller, worker_id: str = "w1", max_jobs: int = 10, lease_seconds: int = 60,
          executor_id: str = EXECUTOR) -> list[dict[str, Any]]:
    return caller.rpc("claim_jobs_v1", executor_id=executor_id, worker_id=worker_id, max_jobs=max_jobs,
                      lease_seconds=lease_seconds)


def complete(caller: Caller, job: dict[str, Any], worker_id: str = "w1", result: Any = None) -> dict[str, Any]:
    row = caller.one("complete_job_v1", job_id=job["id"], worker_id=worker_id,
                     result=result if result is not None else {"by": job["workflow_step_id"]})
    assert row is not None
    return row


def drain(caller: Caller, worker_id: str = "w1", results: Callable[[dict[str, Any]], Any] | None = None) -> list[str]:
    """Claim and complete until nothing is due; the step ids completed, in order."""
    done = []
    while jobs := claim(caller, worker_id):
        for job in jobs:
            complete(caller, job, worker_id, results(job) if results else None)
            done.append(job["workflow_step_id"])
    return done


def run_events(caller: Caller, run_id: Any) -> list[dict[str, Any]]:
    """Every event of the run, through run_events_after_v1's pages."""
    out: list[dict[str, Any]] = []
    cursor, horizon = 0, None
    for _ in range(100):
        page = caller.value("run_events_after_v1", run_id=run_id, after_seq=cursor,
                            horizon_seq=horizon and horizon["seq"], horizon_xid=horizon and horizon["xid"])
        out += page["events"]
        cursor, horizon = page["cursor"], page["horizon"]
        if not page["more"] and horizon is None:
            return out
    raise AssertionError("the run's events never settled")


def replay(events: list[dict[str, Any]]) -> tuple[str | None, dict[str, str]]:
    """(run status, step statuses) that a run's events lead to."""
    status: str | None = None
    step_status: dict[str, str] = {}
    for e in events:
        kind = e["event_type"]
        if kind == "run_pending":
            step_status = {s: "pending" for s in e["payload"]["steps"]}
        if kind.startswith("run_") and kind != "run_retried":
            status = kind.removeprefix("run_")
        elif kind.startswith("step_"):
            step_status[e["payload"]["step_id"]] = kind.removeprefix("step_")
    return status, step_status


def outcome(call: Callable[[], Any]) -> str:
    """'ok', or the SQLSTATE of the database error ``call`` raised."""
    try:
        call()
    except psycopg.Error as exc:
        return exc.sqlstate or "error"
    return "ok"


def joins_enqueued_early(caller: Caller, join: str, parents: tuple[str, ...]) -> list[dict[str, Any]]:
    """Runs whose ``join`` step was queued before one of its ``parents`` succeeded (event
    seqs are drawn in order under the run lock; timestamps are transaction start times,
    so they cannot say)."""
    return caller.sql("""select d.workflow_run_id
                           from collab.jobs d
                           join collab.job_events dq on dq.job_id = d.id and dq.event_type = 'queued'
                           join collab.jobs p on p.workflow_run_id = d.workflow_run_id
                                             and p.workflow_step_id = any (%s)
                           join collab.job_events ps on ps.job_id = p.id and ps.event_type = 'succeeded'
                          where d.workflow_step_id = %s and dq.seq < ps.seq""", (list(parents), join))


def claim_or_cancel(db_url: str, doomed: set[str], claimers: int) -> Callable[[int], Counter[str]]:
    """A thread body for ``in_threads(claimers + 2, ...)``: threads below ``claimers``
    claim and complete until nothing has been due ten times; the last two cancel the
    ``doomed`` runs, one from each end. Each returns its outcomes ('ok' or SQLSTATE)."""
    def work(i: int) -> Counter[str]:
        me = Caller(db_url)
        seen: Counter[str] = Counter()
        try:
            if i >= claimers:
                for run_id in (sorted(doomed) if i == claimers else sorted(doomed, reverse=True)):
                    seen[outcome(lambda: me.rpc("cancel_run_v1", run_id=run_id))] += 1
                return seen
            idle = 0
            while idle < 10:
                jobs = claim(me, f"w{i}", max_jobs=2)
                idle = 0 if jobs else idle + 1
                for job in jobs:
                    seen[outcome(lambda: complete(me, job, f"w{i}"))] += 1
        finally:
            me.close()
        return seen
    return work
