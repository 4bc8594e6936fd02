"""complete_and_claim_v1's one-statement path (migration 20261203010000): it must take that
path when it can, and leave the jobs, the events and the answers exactly as the two-call
path (complete_job_v1, then claim_jobs_v2) does."""

from __future__ import annotations

import uuid
from typing import Any

from engine.workflow_support import chain, published, start
from support import Caller, assign, claim, events, expire_lease, job, raises_sqlstate

# what a claim or a complete decides; ids and times differ between two jobs
DECIDED = ("type", "status", "attempts", "lease_owner", "rescues", "forgiven_attempts", "solo",
           "last_error", "result")


def _chain(caller: Caller, **args: Any) -> tuple[list[dict[str, Any]], int]:
    """complete_and_claim_v1 in one transaction with function tracking on: its answer, and
    how many times it fell back to complete_job_v1 (the two-call path)."""
    count = "select coalesce(pg_stat_get_xact_function_calls('collab.complete_job_v1'::regproc), 0) as n"
    with caller.conn.transaction():
        caller.conn.execute("set local track_functions = 'all'")
        before = caller.conn.execute(count).fetchone()["n"]  # pending counts outlive a transaction
        rows = caller.rpc("complete_and_claim_v1", **args)
        fallbacks = caller.conn.execute(count).fetchone()["n"] - before
    return rows, fallbacks


def _decided(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in DECIDED}


def _seqs(owner: Caller, job_id: uuid.UUID) -> list[tuple[str, int]]:
    return [(r["event_type"], r["seq"]) for r in owner.sql(
        "select event_type, seq from collab.job_events where job_id = %s order by seq", (job_id,))]


def test_the_usual_call_is_one_statement_with_both_events_in_order(owner: Caller) -> None:
    first, second = assign(owner), assign(owner)
    claim(owner, worker_id="w1")
    rows, fallbacks = _chain(owner, job_id=first, worker_id="w1", executor_id="ex", result={"ok": 1},
                             attempt=1, lease_seconds=30)
    assert fallbacks == 0
    assert [r["id"] for r in rows] == [second]
    assert (rows[0]["status"], rows[0]["attempts"], rows[0]["lease_owner"]) == ("running", 1, "w1")
    assert 29 <= (rows[0]["lease_until"] - rows[0]["started_at"]).total_seconds() <= 31
    done = job(owner, first)
    assert (done["status"], done["result"], done["lease_owner"]) == ("succeeded", {"ok": 1}, "w1")
    assert done["finished_at"] is not None and done["started_at"] is not None
    assert events(owner, first) == ["queued", "claimed", "succeeded"]
    assert events(owner, second) == ["queued", "claimed"]
    # one statement, one event insert: the complete's event comes before the claim's, as
    # when they were two statements
    assert _seqs(owner, first)[-1][1] < _seqs(owner, second)[-1][1]
    payload = owner.sql("select payload from collab.job_events where job_id = %s and event_type = 'claimed'",
                        (second,))[0]["payload"]
    assert (payload["attempt"], payload["worker_id"], payload["previous_status"]) == (1, "w1", "queued")
    # the counts followed both transitions
    stats = owner.value("stats_v1")
    assert (stats["queued"], stats["running"], stats["succeeded"]) == (0, 1, 1)


def test_an_empty_queue_still_completes_in_one_statement(owner: Caller) -> None:
    only = assign(owner)
    claim(owner, worker_id="w1")
    rows, fallbacks = _chain(owner, job_id=only, worker_id="w1", executor_id="ex")
    assert (rows, fallbacks) == ([], 0)
    assert job(owner, only)["status"] == "succeeded"
    assert events(owner, only) == ["queued", "claimed", "succeeded"]


def test_a_rescue_in_one_statement_is_the_claim_s_rescue(owner: Caller) -> None:
    """An expired lease of a job that ran beside others: the next claim takes it over,
    forgives the lost attempt and says why, in either path alike."""
    for ex in ("ex", "ref"):
        crashed = assign(owner, executor_id=ex, type="t.crashed", priority=5)
        owner.rpc("claim_jobs_v2", executor_id=ex, worker_id="w0", max_jobs=1, alone=False)
        expire_lease(owner, crashed)
    current = assign(owner, executor_id="ex")
    owner.sql("update collab.jobs set status = 'running', lease_owner = 'w1', attempts = 1,"
              " next_run_at = now() + interval '1 minute' where id = %s", (current,))
    rows, fallbacks = _chain(owner, job_id=current, worker_id="w1", executor_id="ex")
    reference = claim(owner, executor_id="ref", worker_id="w1")
    assert fallbacks == 0 and reference is not None
    assert _decided(rows[0]) == _decided(reference)
    assert (rows[0]["rescues"], rows[0]["forgiven_attempts"], rows[0]["attempts"]) == (1, 1, 2)
    assert "attempt not counted" in rows[0]["last_error"]
    assert events(owner, rows[0]["id"]) == ["queued", "claimed", "claimed"]


def test_type_prefix_and_priority_pick_as_the_claim_does(owner: Caller) -> None:
    first = assign(owner, type="a.one")
    assign(owner, type="b.one", priority=9)
    low = assign(owner, type="a.low", priority=-1)
    wanted = assign(owner, type="a.two", priority=3)
    claim(owner, type_prefix="a.")  # the highest a.* job: a.two
    rows, fallbacks = _chain(owner, job_id=wanted, worker_id="w1", executor_id="ex", type_prefix="a.")
    assert fallbacks == 0 and [r["id"] for r in rows] == [first]
    rows, _ = _chain(owner, job_id=first, worker_id="w1", executor_id="ex", type_prefix="a.")
    assert [r["id"] for r in rows] == [low]


def test_everything_else_takes_the_two_call_path(owner: Caller, make_user) -> None:
    first, second = assign(owner), assign(owner)
    claim(owner, worker_id="w1")
    # a lost lease: refused, nothing claimed
    with raises_sqlstate("CL410", "lease lost"):
        owner.rpc("complete_and_claim_v1", job_id=first, worker_id="w2", executor_id="ex")
    assert events(owner, second) == ["queued"]
    # artifacts go through complete_job_v1
    artifacts = [{"name": "out.txt", "path": f"ex/{first}/out.txt"}]
    rows, fallbacks = _chain(owner, job_id=first, worker_id="w1", executor_id="ex", artifacts=artifacts)
    assert fallbacks == 1 and [r["id"] for r in rows] == [second]
    assert owner.sql("select name from collab.artifacts where job_id = %s", (first,)) == [{"name": "out.txt"}]
    # a replay: the complete is a no-op, the claim runs again
    rows, fallbacks = _chain(owner, job_id=first, worker_id="w1", executor_id="ex")
    assert (rows, fallbacks) == ([], 1)
    assert events(owner, first) == ["queued", "claimed", "succeeded"]


def test_an_exhausted_lease_still_goes_to_the_dead_letter_queue(owner: Caller) -> None:
    dead = assign(owner, max_attempts=1, priority=5)
    claim(owner, worker_id="w0")
    expire_lease(owner, dead)
    current = assign(owner)
    owner.sql("update collab.jobs set status = 'running', lease_owner = 'w1', attempts = 1,"
              " next_run_at = now() + interval '1 minute' where id = %s", (current,))
    nxt = assign(owner)
    rows, fallbacks = _chain(owner, job_id=current, worker_id="w1", executor_id="ex")
    assert fallbacks == 1 and [r["id"] for r in rows] == [nxt]
    assert job(owner, dead)["status"] == "failed"
    assert owner.sql("select reason from collab.job_dead_letters where job_id = %s", (dead,)) == [
        {"reason": "lease_expired"}]


def test_members_take_the_one_statement_path_and_others_are_refused(owner: Caller, make_user) -> None:
    worker = make_user({"exec-a": "worker"})
    mine, nxt = assign(owner, executor_id="exec-a"), assign(owner, executor_id="exec-a")
    claim(worker, executor_id="exec-a", worker_id="wa")
    rows, fallbacks = _chain(worker, job_id=mine, worker_id="wa", executor_id="exec-a")
    assert fallbacks == 0 and [r["id"] for r in rows] == [nxt]
    # a worker of exec-b only may neither complete exec-a's job (which it cannot see) nor
    # claim exec-a's next one; claiming on exec-b does not let it complete on exec-a
    other = make_user({"exec-b": "worker"})
    with raises_sqlstate("CL404"):
        other.rpc("complete_and_claim_v1", job_id=nxt, worker_id="wa", executor_id="exec-a")
    assign(owner, executor_id="exec-b")
    with raises_sqlstate("CL404"):
        other.rpc("complete_and_claim_v1", job_id=nxt, worker_id="wa", executor_id="exec-b")
    assert job(owner, nxt)["status"] == "running"
    assert owner.sql("select status from collab.jobs where executor_id = 'exec-b'") == [{"status": "queued"}]
    assert worker.rpc("complete_and_claim_v1", job_id=nxt, worker_id="wa", executor_id="exec-a") == []
    assert job(owner, nxt)["status"] == "succeeded"


def test_a_workflow_step_s_successor_is_claimed_in_the_same_call(owner: Caller) -> None:
    """Completing a step enqueues its successor (a trigger, at the end of the completing
    statement); the chained claim must see it, as when the claim was its own statement."""
    wf = published(owner, chain(("A", "t.step"), ("B", "t.step")))
    start(owner, wf["id"])
    first = claim(owner, worker_id="w1")
    assert first is not None and first["workflow_step_id"] == "A"
    rows, fallbacks = _chain(owner, job_id=first["id"], worker_id="w1", executor_id="ex")
    assert fallbacks == 1 and [r["workflow_step_id"] for r in rows] == ["B"]
    assert (rows[0]["status"], rows[0]["lease_owner"]) == ("running", "w1")
