"""Approval steps (resume exactly once) and cancelling runs."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from support import Caller
from workflow_support import (EXECUTOR, chain, claim, claim_or_cancel, complete, drain, in_threads, outcome,
                              published, run, run_events, start, statuses, steps, sqlstate)

APPROVAL_FLOW = chain(("fetch", "t.step"), ("ok", "approval"), ("send", "t.step"))


def test_approval_pauses_and_sixteen_concurrent_resumes_continue_once(owner: Caller, db_url: str) -> None:
    wf = published(owner, APPROVAL_FLOW)
    run_id = start(owner, wf["id"])["id"]
    assert drain(owner) == ["fetch"]
    assert run(owner, run_id)["status"] == "paused"
    assert statuses(owner, run_id) == {"fetch": "succeeded", "ok": "waiting", "send": "pending"}
    assert owner.sql("select count(*) as n from collab.jobs where workflow_step_id = 'ok'")[0]["n"] == 0

    def resume(i: int) -> str:
        me = Caller(db_url)
        try:
            return outcome(lambda: me.rpc("resume_run_v1", run_id=run_id, step_id="ok", data={"by": i}))
        finally:
            me.close()

    results = Counter(in_threads(16, resume))
    assert results == {"ok": 1, "CL412": 15}
    assert run(owner, run_id)["status"] == "running"
    winner = steps(owner, run_id)["ok"]["output"]
    assert set(winner) == {"by"} and run(owner, run_id)["context"]["ok"] == winner
    [send] = claim(owner)
    assert send["payload"]["steps"] == {"ok": winner}
    assert owner.sql("select count(*) as n from collab.jobs where workflow_step_id = 'send'")[0]["n"] == 1
    complete(owner, send)
    assert run(owner, run_id)["status"] == "succeeded"


def test_resuming_a_step_that_is_not_waiting_is_refused(owner: Caller) -> None:
    wf = published(owner, APPROVAL_FLOW)
    run_id = start(owner, wf["id"])["id"]
    with sqlstate("CL412", f"cannot resume step ok of run {run_id}: it is pending"):
        owner.rpc("resume_run_v1", run_id=run_id, step_id="ok")
    with sqlstate("CL412", "it is queued (only approval steps wait for resume)"):
        owner.rpc("resume_run_v1", run_id=run_id, step_id="fetch")
    with sqlstate("CL404", f"step nope not found in run {run_id}"):
        owner.rpc("resume_run_v1", run_id=run_id, step_id="nope")
    drain(owner)
    with sqlstate("CL400", "data must be a JSON object"):
        owner.rpc("resume_run_v1", run_id=run_id, step_id="ok", data=[1, 2])
    owner.rpc("resume_run_v1", run_id=run_id, step_id="ok")
    with sqlstate("CL412", "it is succeeded"):
        owner.rpc("resume_run_v1", run_id=run_id, step_id="ok")


def test_an_approval_root_pauses_the_run_at_once(owner: Caller) -> None:
    wf = published(owner, chain(("gate", "approval"), ("after", "t.step")))
    r = start(owner, wf["id"])
    assert r["status"] == "paused"
    assert claim(owner) == []


def test_cancel_during_a_running_step(owner: Caller) -> None:
    wf = published(owner, {"nodes": [{"id": "a", "type": "t.step"}, {"id": "b", "type": "t.step"},
                                     {"id": "c", "type": "t.step"}, {"id": "d", "type": "t.step"}],
                           "edges": [{"id": "1", "source": "a", "target": "d"},
                                     {"id": "2", "source": "b", "target": "d"}]})
    run_id = start(owner, wf["id"])["id"]
    owner.sql("update collab.jobs set priority = 1 where workflow_step_id = 'a'")
    [a] = claim(owner, max_jobs=1)  # a runs; b and c stay queued
    assert a["workflow_step_id"] == "a"
    cancelled = owner.one("cancel_run_v1", run_id=run_id, reason="user said stop")
    assert (cancelled["status"], cancelled["error"]) == ("cancelled", "user said stop")
    assert set(statuses(owner, run_id).values()) == {"cancelled"}  # d, never started, too: not skipped
    stopped = {e["payload"]["step_id"]: e["event_type"] for e in run_events(owner, run_id)
               if e["event_type"] in ("step_cancelled", "step_skipped")}
    assert stopped == {"a": "step_cancelled", "b": "step_cancelled", "c": "step_cancelled", "d": "step_cancelled"}
    jobs = {r["workflow_step_id"]: r["status"] for r in
            owner.sql("select workflow_step_id, status from collab.jobs where workflow_run_id = %s", (run_id,))}
    assert jobs == {"a": "cancelled", "b": "cancelled", "c": "cancelled"}  # d was never enqueued
    with sqlstate("CL410", "lease lost"):
        owner.rpc("extend_lease_v1", job_id=a["id"], worker_id="w1")
    with sqlstate("CL410", "lease lost"):
        complete(owner, a)
    assert claim(owner) == []
    with sqlstate("CL412", "cannot cancel run"):
        owner.rpc("cancel_run_v1", run_id=run_id)
    with sqlstate("CL412", "cannot retry run"):
        owner.rpc("retry_run_v1", run_id=run_id)
    assert owner.sql("select count(*) as n from collab.jobs where workflow_step_id = 'd'")[0]["n"] == 0


def test_a_paused_run_cancels_and_its_approval_is_gone(owner: Caller) -> None:
    wf = published(owner, APPROVAL_FLOW)
    run_id = start(owner, wf["id"])["id"]
    drain(owner)
    owner.rpc("cancel_run_v1", run_id=run_id)
    with sqlstate("CL412", "it is cancelled"):
        owner.rpc("resume_run_v1", run_id=run_id, step_id="ok")
    assert statuses(owner, run_id) == {"fetch": "succeeded", "ok": "cancelled", "send": "cancelled"}


def test_a_cancel_racing_a_claim_waits_for_it_then_cancels_the_job(owner: Caller, db_url: str) -> None:
    """A cancel while a claim of the step's job is still open: it waits for the claim (the
    run's claim lock, held to the claim's commit), then cancels the step and the (now
    unlocked) job; the worker is fenced."""
    wf = published(owner, chain(("a", "t.step")))
    run_id = start(owner, wf["id"])["id"]
    worker, canceller = Caller(db_url), Caller(db_url)
    outcome_box: list[str] = []
    try:
        with worker.conn.transaction():
            job = worker.conn.execute("select * from collab.claim_jobs_v1(executor_id => %s, worker_id => 'w9')",
                                      (EXECUTOR,)).fetchone()
            thread = threading.Thread(target=lambda: outcome_box.append(
                outcome(lambda: canceller.rpc("cancel_run_v1", run_id=run_id))))
            thread.start()
            thread.join(0.5)
            assert thread.is_alive()  # the cancel waits for the claim
        thread.join(10)
    finally:
        worker.close()
        canceller.close()
    assert outcome_box == ["ok"]
    assert statuses(owner, run_id) == {"a": "cancelled"}
    assert owner.sql("select status from collab.jobs where id = %s", (job["id"],))[0]["status"] == "cancelled"
    with sqlstate("CL410", "lease lost"):
        owner.rpc("complete_job_v1", job_id=job["id"], worker_id="w9")
    assert run(owner, run_id)["status"] == "cancelled"


@pytest.mark.slow
def test_cancels_racing_claims_and_completes_leave_no_live_job_behind(owner: Caller, db_url: str) -> None:
    """Claims take no run lock and write nothing; a cancel skips the jobs they hold. With
    real threads claiming and completing while others cancel: no deadlock, every
    cancelled run keeps no queued or running job (a job claimed under the cancel is
    cancelled by its claim's check), and its successors never start."""
    wf = published(owner, chain(("a", "t.step"), ("b", "t.step")))
    run_ids = [start(owner, wf["id"])["id"] for _ in range(60)]
    doomed = set(run_ids[::2])

    results = in_threads(6, claim_or_cancel(db_url, doomed, claimers=4))
    cancels = results[4] + results[5]
    assert set(cancels) <= {"ok", "CL412"} and 1 <= cancels["ok"] <= len(doomed)  # a run cancels once
    assert all(set(r) <= {"ok", "CL410"} for r in results[:4])  # no deadlock, nothing else
    runs = {str(r["id"]): r["status"] for r in owner.sql("select id, status from collab.workflow_runs")}
    assert {runs[r] for r in run_ids if r not in doomed} == {"succeeded"}
    assert {runs[r] for r in doomed} <= {"cancelled", "succeeded"}
    live = owner.sql("select workflow_run_id, workflow_step_id, status from collab.jobs"
                     " where status in ('queued', 'running')")
    assert live == []
    for run_id in doomed:
        if runs[run_id] == "cancelled":
            after = owner.sql("select status from collab.jobs where workflow_run_id = %s and workflow_step_id = 'b'",
                              (run_id,))
            # b started only if a had succeeded before the cancel; then it was cancelled too
            assert all(j["status"] in ("cancelled", "succeeded") for j in after)
            assert set(statuses(owner, run_id).values()) <= {"succeeded", "cancelled"}
