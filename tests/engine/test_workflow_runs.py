"""Workflow runs advancing in SQL: payloads, the diamond under concurrent workers,
fencing, lease expiry, failure, retry from the failed step, idempotent starts, input
checks, the event log replaying to the tables, and a join's parents and cancels racing
side-by-side branches."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest

from collab_sdk.transports.listen import EVENTS_LISTENER_LOCK
from support import Caller
from workflow_support import (DIAMOND, EXECUTOR, chain, claim, complete, drain, in_threads, outcome,
                              published, replay, run, run_events, start, statuses, steps, sqlstate,
                              claim_or_cancel, joins_enqueued_early)


def test_diamond_payloads_and_context(owner: Caller) -> None:
    wf = published(owner, DIAMOND)
    r = start(owner, wf["id"], input={"url": "u"})
    assert (r["status"], r["created"], r["trigger_type"], r["workflow_version"]) == ("running", True, "manual", 1)
    assert statuses(owner, r["id"]) == {"A": "queued", "B": "pending", "C": "pending", "D": "pending"}

    [a] = claim(owner)
    assert a["type"] == "t.step" and a["workflow_run_id"] == uuid.UUID(r["id"]) and a["workflow_step_id"] == "A"
    assert a["payload"] == {"run_id": r["id"], "workflow_id": str(wf["id"]), "step_id": "A",
                            "config": {"n": 1}, "input": {"url": "u"}, "steps": {}}
    assert steps(owner, r["id"])["A"]["status"] == "running" and steps(owner, r["id"])["A"]["attempts"] == 1
    complete(owner, a, result={"a": 1})
    b, c = sorted(claim(owner), key=lambda j: j["workflow_step_id"])
    assert b["payload"]["steps"] == {"A": {"a": 1}} and b["payload"]["config"] == {}
    complete(owner, b, result={"b": 2})
    assert claim(owner) == []  # D waits for C
    assert statuses(owner, r["id"])["D"] == "pending"
    complete(owner, c, result={"c": 3})
    [d] = claim(owner)
    assert d["payload"]["steps"] == {"B": {"b": 2}, "C": {"c": 3}}
    complete(owner, d, result={"d": 4})
    done = run(owner, r["id"])
    assert done["status"] == "succeeded" and done["completed_at"] is not None
    assert done["context"] == {"A": {"a": 1}, "B": {"b": 2}, "C": {"c": 3}, "D": {"d": 4}}
    assert steps(owner, r["id"])["D"]["input"] == {"input": {"url": "u"}, "steps": {"B": {"b": 2}, "C": {"c": 3}}}
    assert {s["status"] for s in steps(owner, r["id"]).values()} == {"succeeded"}


@pytest.mark.slow
def test_200_diamonds_with_8_concurrent_workers(owner: Caller, db_url: str) -> None:
    wf = published(owner, DIAMOND)
    run_ids = [start(owner, wf["id"], input={"i": i})["id"] for i in range(200)]

    def worker(i: int) -> list[tuple[str, str]]:
        me = Caller(db_url)
        done = []
        idle = 0
        try:
            while idle < 20:
                jobs = claim(me, f"w{i}", max_jobs=1 if i % 2 else 5)
                if not jobs:
                    idle += 1
                    continue
                idle = 0
                for job in jobs:
                    complete(me, job, f"w{i}", {"step": job["workflow_step_id"], "worker": i})
                    done.append((str(job["workflow_run_id"]), job["workflow_step_id"]))
        finally:
            me.close()
        return done

    per_worker = in_threads(8, worker)
    counts = Counter(item for done in per_worker for item in done)
    assert len(counts) == 800 and set(counts.values()) == {1}  # every step exactly once
    assert sum(1 for done in per_worker if done) >= 4
    runs = owner.sql("select status, context from collab.workflow_runs")
    assert [r["status"] for r in runs] == ["succeeded"] * 200
    assert all(set(r["context"]) == {"A", "B", "C", "D"} for r in runs)
    per_step = owner.sql("select workflow_run_id, workflow_step_id, count(*) as n from collab.jobs"
                         " group by 1, 2 having count(*) <> 1")
    assert per_step == []  # D (and every step) enqueued exactly once per run
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 800
    assert joins_enqueued_early(owner, "D", ("B", "C")) == []  # D only after both parents
    assert len(run_ids) == 200


def test_fenced_out_late_complete_changes_nothing(owner: Caller) -> None:
    wf = published(owner, chain(("a", "t.step"), ("b", "t.step")))
    r = start(owner, wf["id"])
    [first] = claim(owner, "w1", lease_seconds=1)
    owner.sql("update collab.jobs set next_run_at = now() - interval '1 second' where id = %s", (first["id"],))
    [again] = claim(owner, "w2")  # the expired lease is reclaimed by another worker
    assert again["id"] == first["id"] and again["attempts"] == 2
    assert steps(owner, r["id"])["a"]["attempts"] == 2
    with sqlstate("CL410", "lease lost"):
        complete(owner, first, "w1", {"late": True})
    assert statuses(owner, r["id"]) == {"a": "running", "b": "pending"}
    assert run(owner, r["id"])["context"] == {}
    complete(owner, again, "w2", {"on": "time"})
    assert drain(owner, "w2") == ["b"]
    done = run(owner, r["id"])
    assert done["status"] == "succeeded" and done["context"]["a"] == {"on": "time"}


def test_expired_lease_at_max_attempts_dead_letters_and_fails_the_run(owner: Caller) -> None:
    wf = published(owner, {"nodes": [{"id": "a", "type": "t.step", "data": {"max_attempts": 1}},
                                     {"id": "b", "type": "t.step"}],
                           "edges": [{"id": "e", "source": "a", "target": "b"}]})
    r = start(owner, wf["id"])
    [job] = claim(owner)
    assert job["max_attempts"] == 1
    owner.sql("update collab.jobs set next_run_at = now() - interval '1 second' where id = %s", (job["id"],))
    assert claim(owner, "w2") == []  # the sweep dead-letters it instead
    failed = run(owner, r["id"])
    assert failed["status"] == "failed" and "step a failed: lease of worker w1 expired" in failed["error"]
    assert statuses(owner, r["id"]) == {"a": "failed", "b": "skipped"}


def test_a_retried_job_keeps_its_step_queued_then_running(owner: Caller) -> None:
    wf = published(owner, chain(("a", "t.step")))
    r = start(owner, wf["id"])
    [job] = claim(owner)
    owner.rpc("fail_job_v1", job_id=job["id"], worker_id="w1", error="flaky", retry_delay_seconds=0)
    step = steps(owner, r["id"])["a"]
    assert (step["status"], step["error"]) == ("queued", "flaky")
    assert run(owner, r["id"])["status"] == "running"
    assert drain(owner) == ["a"]
    assert steps(owner, r["id"])["a"]["attempts"] == 2 and run(owner, r["id"])["status"] == "succeeded"


def _failing_run(owner: Caller) -> dict[str, Any]:
    """A -> (B, C) -> D where B fails for good while C is queued."""
    wf = published(owner, DIAMOND)
    r = start(owner, wf["id"])
    [a] = claim(owner)
    complete(owner, a, result={"a": 1})
    jobs = {j["workflow_step_id"]: j for j in owner.sql(
        "select * from collab.jobs where workflow_run_id = %s and workflow_step_id in ('B', 'C')", (r["id"],))}
    owner.sql("update collab.jobs set priority = 1 where id = %s", (jobs["B"]["id"],))
    [b] = claim(owner, max_jobs=1)
    assert b["workflow_step_id"] == "B"
    owner.rpc("fail_job_v1", job_id=b["id"], worker_id="w1", error="boom", retryable=False)
    return {"run": r, "jobs": jobs}


def test_a_dead_lettered_step_fails_the_run_and_cancels_queued_steps(owner: Caller) -> None:
    setup = _failing_run(owner)
    r = run(owner, setup["run"]["id"])
    assert (r["status"], r["error"]) == ("failed", "step B failed: boom")
    assert statuses(owner, r["id"]) == {"A": "succeeded", "B": "failed", "C": "cancelled", "D": "skipped"}
    job_c = owner.sql("select status from collab.jobs where id = %s", (setup["jobs"]["C"]["id"],))[0]
    assert job_c["status"] == "cancelled"
    assert claim(owner) == []
    assert owner.sql("select count(*) as n from collab.job_dead_letters")[0]["n"] == 1
    # The failed and cancelled jobs' own events are not the run's (it logs step_failed and
    # step_cancelled itself): only their queued and claimed rows carry the run and step.
    tagged = owner.sql("select e.event_type, e.run_id is not null as tagged, e.payload ->> 'step_id' as step_id"
                       " from collab.job_events e join collab.jobs j on j.id = e.job_id"
                       " where j.workflow_step_id in ('B', 'C') and j.workflow_run_id = %s order by e.seq", (r["id"],))
    assert [(t["event_type"], t["tagged"], t["step_id"]) for t in tagged] == [
        ("queued", True, "B"), ("queued", True, "C"), ("claimed", True, "B"), ("failed", False, None),
        ("cancelled", False, None)]


def test_a_failed_run_skips_its_pending_steps_in_the_failing_transaction(owner: Caller) -> None:
    """D can never run once B failed: it is skipped (not cancelled, not left pending),
    with a step_skipped event between the stopped steps' events and run_failed."""
    setup = _failing_run(owner)
    run_id, b_job = setup["run"]["id"], setup["jobs"]["B"]["id"]
    d = steps(owner, run_id)["D"]
    assert (d["status"], d["error"], d["job_id"]) == ("skipped", "skipped: the run failed (step B failed: boom)", None)
    assert d["completed_at"] is not None
    stored = owner.sql("select xact_id, event_type, payload ->> 'step_id' as step_id from collab.job_events"
                       " where run_id = %s order by seq", (run_id,))
    tail = [(e["event_type"], e["step_id"]) for e in stored][-4:]
    assert tail == [("step_failed", "B"), ("step_cancelled", "C"), ("step_skipped", "D"), ("run_failed", None)]
    [dead] = owner.sql("select xact_id from collab.job_events where job_id = %s order by seq desc limit 1", (b_job,))
    assert {e["xact_id"] for e in stored[-4:]} == {dead["xact_id"]}, "one transaction with the job's failure"
    events = run_events(owner, run_id)
    [skip] = [e for e in events if e["event_type"] == "step_skipped"]
    assert skip["payload"] == {"run_id": run_id, "step_id": "D", "error": d["error"]}
    assert replay(events) == ("failed", statuses(owner, run_id))
    snap = owner.value("run_snapshot_v1", run_id=run_id)
    assert {s["step_id"]: s["status"] for s in snap["steps"]}["D"] == "skipped"
    assert owner.sql("select count(*) as n from collab.jobs where workflow_step_id = 'D'")[0]["n"] == 0


def test_retry_runs_the_skipped_steps_after_the_retried_step(owner: Caller) -> None:
    wf = published(owner, chain(("a", "t.step"), ("b", "t.step"), ("c", "t.step")))
    run_id = start(owner, wf["id"])["id"]
    [a] = claim(owner)
    owner.rpc("fail_job_v1", job_id=a["id"], worker_id="w1", error="down", retryable=False)
    assert run(owner, run_id)["status"] == "failed"
    assert statuses(owner, run_id) == {"a": "failed", "b": "skipped", "c": "skipped"}
    watched = owner.value("run_snapshot_v1", run_id=run_id)  # a watcher follows from here
    assert [s["status"] for s in watched["steps"]] == ["failed", "skipped", "skipped"]

    retried = owner.one("retry_run_v1", run_id=run_id)
    assert retried["status"] == "running"
    assert statuses(owner, run_id) == {"a": "queued", "b": "pending", "c": "pending"}
    assert all(s["error"] is None and s["completed_at"] is None
               for k, s in steps(owner, run_id).items() if k != "a")
    seen = owner.value("run_events_after_v1", run_id=run_id, after_seq=watched["cursor"])["events"]
    assert [(e["event_type"], e["payload"].get("step_id")) for e in seen] == [
        ("run_retried", None), ("step_pending", "a"), ("step_pending", "b"), ("step_pending", "c"),
        ("run_running", None), ("step_queued", "a")]
    assert {e["payload"]["step_id"]: e["payload"]["previous_status"] for e in seen[1:4]} == \
        {"a": "failed", "b": "skipped", "c": "skipped"}
    assert [x["previous_status"] for x in seen[0]["payload"]["reset"]] == ["failed", "skipped", "skipped"]

    assert drain(owner) == ["a", "b", "c"]  # b and c only after the retried a
    assert run(owner, run_id)["status"] == "succeeded"
    assert replay(run_events(owner, run_id)) == ("succeeded", statuses(owner, run_id))


def test_retry_reruns_only_the_failed_cancelled_and_skipped_steps(owner: Caller) -> None:
    setup = _failing_run(owner)
    run_id = setup["run"]["id"]
    with sqlstate("CL412", "it is failed"):  # a failed run is over: nothing to cancel
        owner.rpc("cancel_run_v1", run_id=run_id)
    retried = owner.one("retry_run_v1", run_id=run_id)
    assert (retried["status"], retried["error"]) == ("running", None)
    assert statuses(owner, run_id) == {"A": "succeeded", "B": "queued", "C": "queued", "D": "pending"}
    with sqlstate("CL412", "cannot retry run"):
        owner.rpc("retry_run_v1", run_id=run_id)
    ran = drain(owner)
    assert sorted(ran) == ["B", "C", "D"]  # A never runs again
    done = run(owner, run_id)
    assert done["status"] == "succeeded" and done["context"]["A"] == {"a": 1}
    counts = owner.sql("select workflow_step_id as s, count(*) as n from collab.jobs where workflow_run_id = %s"
                       " group by 1 order by 1", (run_id,))
    assert [(c["s"], c["n"]) for c in counts] == [("A", 1), ("B", 2), ("C", 2), ("D", 1)]
    [event] = [e for e in run_events(owner, run_id) if e["event_type"] == "run_retried"]
    reset = {x["step_id"]: x["previous_status"] for x in event["payload"]["reset"]}
    assert reset == {"B": "failed", "C": "cancelled", "D": "skipped"}
    assert event["payload"]["previous_error"] == "step B failed: boom"


def test_a_step_job_is_retried_through_its_run_only(owner: Caller) -> None:
    """retry_job_v1 and dlq_retry_v1 of a step's job are refused (a copy would run
    detached from its run); retry_run_v1 re-runs the step and settles its dead letter."""
    setup = _failing_run(owner)
    run_id, b_job = setup["run"]["id"], setup["jobs"]["B"]["id"]
    [letter] = owner.sql("select id from collab.job_dead_letters where job_id = %s", (b_job,))
    with sqlstate("CL412", f"was step B of run {run_id}; retry the run (retry_run_v1)"):
        owner.rpc("dlq_retry_v1", dead_letter_id=letter["id"])
    with sqlstate("CL412", f"it is step B of run {run_id}; retry the run (retry_run_v1)"):
        owner.rpc("retry_job_v1", job_id=b_job)
    assert owner.sql("select count(*) as n from collab.jobs where workflow_run_id is null")[0]["n"] == 0
    assert run(owner, run_id)["status"] == "failed"
    assert owner.sql("select retried_at from collab.job_dead_letters where id = %s", (letter["id"],)) == \
        [{"retried_at": None}]

    owner.rpc("retry_run_v1", run_id=run_id)
    new_b = steps(owner, run_id)["B"]["job_id"]
    assert new_b is not None and new_b != b_job
    settled = owner.sql("select retried_at, retried_job_id from collab.job_dead_letters where id = %s",
                        (letter["id"],))[0]
    assert settled["retried_at"] is not None and settled["retried_job_id"] == new_b
    assert owner.rpc("dlq_retry_v1", dead_letter_id=letter["id"]) == [{"job_id": new_b, "queued": False}]
    assert sorted(drain(owner)) == ["B", "C", "D"]
    assert run(owner, run_id)["status"] == "succeeded"
    assert steps(owner, run_id)["B"]["attempts"] == 2  # the dead job's claim and the new job's


def test_sixteen_concurrent_starts_with_one_key_make_one_run(owner: Caller, db_url: str) -> None:
    wf = published(owner, DIAMOND)

    def go(i: int) -> dict[str, Any]:
        me = Caller(db_url)
        try:
            return start(me, wf["id"], input={"same": True}, idempotency_key="once")
        finally:
            me.close()

    results = in_threads(16, go)
    assert len({r["id"] for r in results}) == 1
    assert sorted(r["created"] for r in results) == [False] * 15 + [True]
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 1
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 1
    with sqlstate("CL409", "with a different input"):
        start(owner, wf["id"], input={"same": False}, idempotency_key="once")
    assert start(owner, wf["id"], input={"same": True}, idempotency_key="twice")["created"] is True


def test_only_published_workflows_start(owner: Caller) -> None:
    wf = owner.one("create_workflow_v1", executor_id=EXECUTOR, name="draft", definition=DIAMOND)
    with sqlstate("CL412", f"cannot start workflow {wf['id']}: it is draft (only published workflows run)"):
        owner.rpc("start_run_v1", workflow_id=wf["id"])
    with sqlstate("CL404", "not found"):
        owner.rpc("start_run_v1", workflow_id=uuid.uuid4())
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 0


def test_input_is_checked_against_the_input_schema(owner: Caller) -> None:
    schema = {"type": "object", "required": ["url"], "additionalProperties": False,
              "properties": {"url": {"type": "string"}, "depth": {"type": "integer"}}}
    wf = published(owner, DIAMOND, input_schema=schema)
    with sqlstate("CL400", 'input: "url" is required') as info:
        owner.rpc("start_run_v1", workflow_id=wf["id"], input={})
    assert info.value.diag.message_detail == '["input: \\"url\\" is required"]'
    with sqlstate("CL400", "input.depth: must be integer (got number)"):
        owner.rpc("start_run_v1", workflow_id=wf["id"], input={"url": "u", "depth": 1.5})
    with sqlstate("CL400", 'input: "x" is not allowed'):
        owner.rpc("start_run_v1", workflow_id=wf["id"], input={"url": "u", "x": 1})
    with sqlstate("CL400", "input.url: must be string (got number)"):
        owner.rpc("start_run_v1", workflow_id=wf["id"], input={"url": 5})
    assert start(owner, wf["id"], input={"url": "u", "depth": 2})["status"] == "running"
    assert owner.sql("select count(*) as n from collab.workflow_runs")[0]["n"] == 1


@pytest.mark.parametrize(("value", "error"), [
    ({"mode": "slow"}, "input.mode: must be one of [\"fast\", \"safe\"]"),
    ({"version": 2}, "input.version: must be 1"),
    ({"depth": 0}, "input.depth: must be at least 1"),
    ({"depth": 11}, "input.depth: must be at most 10"),
    ({"ratio": 0}, "input.ratio: must be more than 0"),
    ({"ratio": 1}, "input.ratio: must be less than 1"),
    ({"name": ""}, "input.name: must have at least 1 characters"),
    ({"name": "abcdé"}, "input.name: must have at most 4 characters"),
    ({"tags": []}, "input.tags: must have at least 1 items"),
    ({"tags": [1, 2, 3]}, "input.tags: must have at most 2 items"),
])
def test_sql_checks_the_stated_schema_keywords_for_every_caller(owner: Caller, value: dict[str, Any],
                                                                 error: str) -> None:
    """Webhooks, schedules and direct RPC calls never pass through the SDK's jsonschema
    check, so SQL holds the stated subset on the input's top-level properties."""
    schema = {"type": "object", "properties": {
        "mode": {"enum": ["fast", "safe"]}, "version": {"const": 1},
        "depth": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "name": {"type": "string", "minLength": 1, "maxLength": 4},
        "tags": {"type": "array", "minItems": 1, "maxItems": 2}}}
    wf = published(owner, DIAMOND, input_schema=schema)
    with sqlstate("CL400", error) as info:
        owner.rpc("start_run_v1", workflow_id=wf["id"], input=value)
    assert info.value.diag.message_detail is not None and len(json.loads(info.value.diag.message_detail)) == 1
    ok = {"mode": "safe", "version": 1, "depth": 10, "ratio": 0.5, "name": "abcd", "tags": ["x", "y"]}
    assert start(owner, wf["id"], input=ok)["status"] == "running"


def test_event_log_replays_to_the_tables(owner: Caller) -> None:
    wf = published(owner, {"nodes": DIAMOND["nodes"] + [{"id": "ok", "type": "approval"}],
                           "edges": DIAMOND["edges"] + [{"id": "dok", "source": "D", "target": "ok"}]})
    finished = start(owner, wf["id"])["id"]
    drain(owner)
    failed = start(owner, wf["id"])["id"]
    [a] = claim(owner)
    owner.rpc("fail_job_v1", job_id=a["id"], worker_id="w1", error="no", retryable=False)
    owner.rpc("retry_run_v1", run_id=failed)
    drain(owner)
    for run_id in (finished, failed):
        events = run_events(owner, run_id)
        assert {e["run_id"] for e in events} == {run_id}
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
        assert replay(events) == (run(owner, run_id)["status"], statuses(owner, run_id))
    assert replay(run_events(owner, failed))[0] == "paused"  # waiting for approval "ok"
    owner.rpc("resume_run_v1", run_id=failed, step_id="ok", data={"yes": 1})
    assert replay(run_events(owner, failed)) == ("succeeded", statuses(owner, failed))


def test_snapshot_then_follow_misses_nothing(owner: Caller) -> None:
    wf = published(owner, DIAMOND)
    run_id = start(owner, wf["id"])["id"]
    [a] = claim(owner)
    snap = owner.value("run_snapshot_v1", run_id=run_id)
    assert snap["run"]["id"] == run_id and [s["step_id"] for s in snap["steps"]] == ["A", "B", "C", "D"]
    assert {s["step_id"]: s["status"] for s in snap["steps"]}["A"] == "running"
    complete(owner, a)
    page = owner.value("run_events_after_v1", run_id=run_id, after_seq=snap["cursor"])
    kinds = [(e["event_type"], e["payload"].get("step_id")) for e in page["events"]]
    assert kinds[:3] == [("step_succeeded", "A"), ("step_queued", "B"), ("step_queued", "C")]
    assert all(e["seq"] > snap["cursor"] for e in page["events"])


def test_a_claim_and_a_scheduled_retry_wake_the_run_watchers(owner: Caller, db_url: str) -> None:
    """step_running and step_queued are the job's own events (job_id = the job), so the
    claim's trigger sends the hint that names the run, while someone listens."""
    wf = published(owner, chain(("a", "t.step")))
    run_id = start(owner, wf["id"])["id"]
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("select pg_advisory_lock_shared(%s)", (EVENTS_LISTENER_LOCK,))
        listener.execute("listen collab_events")
        [job] = claim(owner)
        owner.rpc("fail_job_v1", job_id=job["id"], worker_id="w1", error="again", retry_delay_seconds=0)
        hints = [json.loads(n.payload) for n in listener.notifies(timeout=0.5)]
    for_run = [h for h in hints if h.get("job_id") == run_id]
    assert len(for_run) == 2 and {h["executor_id"] for h in for_run} == {EXECUTOR}
    kinds = [e["event_type"] for e in run_events(owner, run_id)]
    assert kinds[-2:] == ["step_running", "step_queued"]


def test_a_step_jobs_claims_and_retries_carry_its_run_id(owner: Caller) -> None:
    """Realtime's run_id=eq.<run> filter is pushed a step's enqueue, start, retry and
    success: the job's queued, claimed, retry_scheduled and succeeded rows have run_id
    (the first and last are the run's step_queued and step_succeeded); plain jobs' do not."""
    wf = published(owner, chain(("a", "t.step")))
    run_id = start(owner, wf["id"])["id"]
    plain = owner.one("assign_job_v1", type="t.plain", executor_id=EXECUTOR)
    assert plain is not None
    plain_id = plain["job_id"]
    [job] = claim(owner, max_jobs=1)
    owner.rpc("fail_job_v1", job_id=job["id"], worker_id="w1", error="again", retry_delay_seconds=0)
    both = claim(owner)
    assert {j["type"] for j in both} == {"t.step", "t.plain"}  # one statement claims both
    for j in both:
        complete(owner, j)
    rows = owner.sql("select job_id, event_type, run_id, payload ->> 'step_id' as step_id from collab.job_events"
                     " where job_id in (%s, %s) order by seq", (job["id"], plain_id))
    step_rows = [(r["event_type"], r["run_id"], r["step_id"]) for r in rows if r["job_id"] == job["id"]]
    rid = uuid.UUID(run_id)
    assert step_rows == [("queued", rid, "a"), ("claimed", rid, "a"), ("retry_scheduled", rid, "a"),
                         ("claimed", rid, "a"), ("succeeded", rid, "a")]
    assert {(r["run_id"], r["step_id"]) for r in rows if r["job_id"] == plain_id} == {(None, None)}
    kinds = [(e["event_type"], e["payload"].get("attempt")) for e in run_events(owner, run_id)]
    assert kinds == [("run_pending", None), ("step_queued", None), ("run_running", None), ("step_running", 1),
                     ("step_queued", 1), ("step_running", 2), ("step_succeeded", None), ("run_succeeded", None)]


def test_runs_list_filters_and_pages(owner: Caller) -> None:
    wf = published(owner, chain(("a", "t.step")))
    ids = [start(owner, wf["id"])["id"] for _ in range(3)]
    page = owner.value("runs_v1", workflow_id=wf["id"], page_size=2)
    assert [r["id"] for r in page["items"]] == ids[:0:-1] and page["nextCursor"]
    rest = owner.value("runs_v1", workflow_id=wf["id"], page_size=2, cursor=page["nextCursor"])
    assert [r["id"] for r in rest["items"]] == ids[:1]
    assert owner.value("runs_v1", status="succeeded")["count"] == 0
    with sqlstate("CL400", "status must be"):
        owner.rpc("runs_v1", status="done")


def test_plain_jobs_never_enter_the_workflow_trigger(owner: Caller) -> None:
    """The jobs triggers' WHEN clauses keep plain jobs out of PL/pgSQL entirely, and a
    step's claim runs only the row check (no statement trigger: nothing to write)."""
    wf = published(owner, chain(("a", "t.step")))
    functions = ("_jobs_workflow_before_update", "_jobs_workflow_after_update")
    calls = "select " + ", ".join(
        f"coalesce(pg_stat_get_xact_function_calls('collab.{f}'::regproc), 0) as {f}" for f in functions)

    def counted() -> tuple[int, ...]:
        row = owner.conn.execute(calls).fetchone()
        return tuple(row[f] for f in functions)

    with owner.conn.transaction():
        owner.conn.execute("set local track_functions = 'all'")
        owner.conn.execute("select * from collab.assign_job_v1(type => 'plain', executor_id => 'ex')")
        job = owner.conn.execute("select * from collab.claim_jobs_v1(executor_id => 'ex', worker_id => 'w')"
                                 ).fetchone()
        owner.conn.execute("select * from collab.complete_job_v1(job_id => %s, worker_id => 'w')", (job["id"],))
        assert counted() == (0, 0)
        owner.conn.execute("select collab.start_run_v1(workflow_id => %s)", (wf["id"],))
        job = owner.conn.execute("select * from collab.claim_jobs_v1(executor_id => 'ex', worker_id => 'w')"
                                 ).fetchone()
        assert job["workflow_step_id"] == "a"
        assert counted() == (1, 0)
        owner.conn.execute("select * from collab.complete_job_v1(job_id => %s, worker_id => 'w')", (job["id"],))
        assert counted() == (2, 1)


def test_active_step_jobs_are_not_deleted(owner: Caller) -> None:
    wf = published(owner, chain(("a", "t.step")))
    run_id = start(owner, wf["id"])["id"]
    job_id = owner.sql("select id from collab.jobs where workflow_run_id = %s", (run_id,))[0]["id"]
    with sqlstate("CL412", "cancel the run"):
        owner.rpc("delete_job_v1", job_id=job_id)
    owner.rpc("cancel_run_v1", run_id=run_id)
    assert owner.one("delete_job_v1", job_id=job_id)["status"] == "cancelled"
    assert outcome(lambda: owner.rpc("get_job_v1", job_id=job_id)) == "CL404"


# r -> a1 -> a2, r -> b1 -> b2, a2 + b2 -> j: two branches of single-predecessor steps
# finishing side by side, then a join.
TWO_CHAINS = chain(("r", "t.step"), ("a1", "t.step"), ("a2", "t.step"), ("j", "t.step"))
TWO_CHAINS["nodes"] += [{"id": "b1", "type": "t.step", "data": {}}, {"id": "b2", "type": "t.step", "data": {}}]
TWO_CHAINS["edges"] += [{"id": "r-b1", "source": "r", "target": "b1"}, {"id": "b1-b2", "source": "b1", "target": "b2"},
                        {"id": "b2-j", "source": "b2", "target": "j"}]


def _complete_in_open_transaction(conn: psycopg.Connection, job: dict[str, Any]) -> None:
    """Complete ``job`` in ``conn``'s open transaction, as the worker that claimed it."""
    conn.execute("select 1 from collab.complete_job_v1(job_id => %s, worker_id => 'w1', result => '{}')",
                 (job["id"],))


def _jobs_by_step(owner: Caller, run_id: Any) -> dict[str, dict[str, Any]]:
    return {j["workflow_step_id"]: j for j in claim(owner)
            if str(j["workflow_run_id"]) == str(run_id)}


def _two_chains_at_their_first_steps(owner: Caller) -> tuple[Any, dict[str, dict[str, Any]]]:
    """A run of TWO_CHAINS whose r succeeded; (run id, a1's and b1's claimed jobs)."""
    wf = published(owner, TWO_CHAINS)
    run_id = start(owner, wf["id"])["id"]
    complete(owner, claim(owner)[0])  # r
    first = _jobs_by_step(owner, run_id)
    assert sorted(first) == ["a1", "b1"]
    return run_id, first


def test_a_joins_second_parent_waits_for_the_first_ones_commit(owner: Caller, db_url: str) -> None:
    """The run-row lock serialises a join's parents, so exactly one of them sees the
    other succeeded and enqueues the join."""
    run_id, first = _two_chains_at_their_first_steps(owner)
    complete(owner, first["a1"])
    complete(owner, first["b1"])
    second = _jobs_by_step(owner, run_id)
    with psycopg.connect(db_url) as x, psycopg.connect(db_url) as y:
        y.execute("set lock_timeout = '1s'")
        _complete_in_open_transaction(x, second["a2"])
        with sqlstate("55P03"):  # lock_not_available: b2 waits for a2's commit
            _complete_in_open_transaction(y, second["b2"])
        y.rollback()
        x.commit()
    assert statuses(owner, run_id)["j"] == "pending"
    complete(owner, second["b2"])
    assert drain(owner) == ["j"]
    assert run(owner, run_id)["status"] == "succeeded"
    assert owner.sql("select count(*) as n from collab.jobs where workflow_run_id = %s", (run_id,))[0]["n"] == 6


def test_a_cancel_waits_for_a_finishing_step_and_no_successor_survives(owner: Caller, db_url: str) -> None:
    """A cancel waits for a step's finish (both lock the run); the successor that finish
    enqueued is then cancelled with the rest."""
    run_id, first = _two_chains_at_their_first_steps(owner)
    with psycopg.connect(db_url) as x, psycopg.connect(db_url) as z:
        z.execute("set lock_timeout = '1s'")
        _complete_in_open_transaction(x, first["a1"])  # a2 queued, uncommitted
        with sqlstate("55P03"):  # the cancel's exclusive lock waits for it
            z.execute("select 1 from collab.cancel_run_v1(run_id => %s)", (run_id,))
        z.rollback()
        x.commit()
    owner.rpc("cancel_run_v1", run_id=run_id)
    assert statuses(owner, run_id) == {"r": "succeeded", "a1": "succeeded", "b1": "cancelled",
                                       "a2": "cancelled", "b2": "cancelled", "j": "cancelled"}
    assert owner.sql("select workflow_step_id from collab.jobs where workflow_run_id = %s"
                     " and status in ('queued', 'running')", (run_id,)) == []


def test_two_chains_and_a_join_under_8_workers_and_cancels(owner: Caller, db_url: str) -> None:
    """Real threads completing side-by-side branches and a join of the same runs while
    two threads cancel a third of them: no deadlock, every step once, the join once after
    both parents, a cancelled run keeps no live job."""
    wf = published(owner, TWO_CHAINS)
    run_ids = [str(start(owner, wf["id"])["id"]) for _ in range(60)]
    doomed = set(run_ids[::3])

    results = in_threads(10, claim_or_cancel(db_url, doomed, claimers=8))
    assert all(set(r) <= {"ok", "CL410"} for r in results[:8])  # no deadlock (40P01), nothing else
    assert set(results[8] + results[9]) <= {"ok", "CL412"}
    runs = {str(r["id"]): r["status"] for r in owner.sql("select id, status from collab.workflow_runs")}
    assert {runs[r] for r in run_ids if r not in doomed} == {"succeeded"}
    assert {runs[r] for r in doomed} <= {"cancelled", "succeeded"}
    assert owner.sql("select 1 from collab.jobs where status in ('queued', 'running')") == []
    assert owner.sql("select workflow_run_id, workflow_step_id from collab.jobs group by 1, 2"
                     " having count(*) > 1") == []  # every step (the join too) enqueued at most once
    for run_id in run_ids:
        got = statuses(owner, run_id)
        if runs[run_id] == "succeeded":
            assert set(got.values()) == {"succeeded"}
        else:
            assert set(got.values()) <= {"succeeded", "cancelled"} and got["j"] == "cancelled"
    assert joins_enqueued_early(owner, "j", ("a2", "b2")) == []


def test_one_batch_complete_finishes_a_joins_parents_and_other_runs_steps(owner: Caller) -> None:
    """complete_jobs_v1 finishing B and C of one diamond and A of another in one
    statement: the statement trigger settles each run once, with every step the
    statement finished, so D is enqueued exactly once, after both parents, with both
    outputs, and the other run moves on."""
    wf = published(owner, DIAMOND)
    first, second = (start(owner, wf["id"], input={"i": i})["id"] for i in range(2))
    [a1, a2] = sorted(claim(owner), key=lambda j: str(j["workflow_run_id"]) == second)
    complete(owner, a1, result={"a": 1})
    batch = claim(owner) + [a2]
    assert sorted((str(j["workflow_run_id"]), j["workflow_step_id"]) for j in batch) == \
        sorted([(first, "B"), (first, "C"), (second, "A")])
    owner.rpc("complete_jobs_v1", worker_id="w1",
              completions=[{"job_id": str(j["id"]), "result": {j["workflow_step_id"]: str(j["workflow_run_id"])}}
                           for j in batch])
    assert statuses(owner, first) == {"A": "succeeded", "B": "succeeded", "C": "succeeded", "D": "queued"}
    assert statuses(owner, second) == {"A": "succeeded", "B": "queued", "C": "queued", "D": "pending"}
    [d] = owner.sql("select payload from collab.jobs where workflow_run_id = %s and workflow_step_id = 'D'", (first,))
    assert d["payload"]["steps"] == {"B": {"B": first}, "C": {"C": first}}
    kinds = [(e["event_type"], e["payload"].get("step_id")) for e in run_events(owner, first)]
    # B's and C's step_succeeded are their jobs' succeeded rows: in the order the queue
    # logged the statement's jobs (by job id), both before D is queued.
    assert sorted(kinds[-3:-1]) == [("step_succeeded", "B"), ("step_succeeded", "C")]
    assert kinds[-1] == ("step_queued", "D")
    drain(owner)
    for run_id in (first, second):
        assert run(owner, run_id)["status"] == "succeeded"
        assert replay(run_events(owner, run_id)) == ("succeeded", statuses(owner, run_id))


def test_a_batch_with_a_success_and_a_dead_letter_of_one_run_fails_it_once(owner: Caller) -> None:
    """B succeeds and C dead-letters in one statement: the run fails once (step_succeeded
    B, step_failed C, step_skipped D, run_failed), and D is never enqueued."""
    wf = published(owner, DIAMOND)
    run_id = start(owner, wf["id"])["id"]
    [a] = claim(owner)
    complete(owner, a)
    b, c = sorted(claim(owner), key=lambda j: j["workflow_step_id"])
    owner.sql("""update collab.jobs
                    set status = case when id = %(b)s then 'succeeded' else 'failed' end,
                        result = case when id = %(b)s then '{"b": 1}'::jsonb end,
                        last_error = case when id = %(c)s then 'no' end, finished_at = now()
                  where id in (%(b)s, %(c)s)""", {"b": b["id"], "c": c["id"]})
    r = run(owner, run_id)
    assert (r["status"], r["error"]) == ("failed", "step C failed: no")
    assert r["context"] == {"A": {"by": "A"}, "B": {"b": 1}}
    assert statuses(owner, run_id) == {"A": "succeeded", "B": "succeeded", "C": "failed", "D": "skipped"}
    kinds = [e["event_type"] for e in run_events(owner, run_id)]
    assert kinds[-4:] == ["step_succeeded", "step_failed", "step_skipped", "run_failed"]
    assert owner.sql("select count(*) as n from collab.jobs where workflow_step_id = 'D'")[0]["n"] == 0
