"""``collab_sdk.states`` against the migrated database: the status CHECK constraint, the
event types the triggers and ``append_job_event_v1`` write, and the status each event
leaves a job in, driven through every transition the engine has."""

from __future__ import annotations

import re

from collab_sdk import states
from collab_sdk.models import JobStatus
from support import Caller, assign, claim, expire_lease, make_due


def _check_values(owner: Caller, column: str, table: str = "collab.jobs") -> set[str]:
    """The values a CHECK allows in ``table.column``: the table's, or the column's domain's."""
    rows = owner.sql("select pg_get_constraintdef(c.oid) as def, c.contypid <> 0 as of_domain"
                     " from pg_constraint c where c.contype = 'c'"
                     " and (c.conrelid = %(t)s::regclass or c.contypid = (select a.atttypid from pg_attribute a"
                     " where a.attrelid = %(t)s::regclass and a.attname = %(c)s))", {"t": table, "c": column})
    for row in rows:
        named = "VALUE" if row["of_domain"] else column
        if re.search(rf"\({named}\b", row["def"]) and "ANY" in row["def"]:
            return set(re.findall(r"'(\w+)'::text", row["def"]))
    raise AssertionError(f"no CHECK constraint on {table}.{column}")


def _trigger_event_types(owner: Caller) -> set[str]:
    found: set[str] = set()
    for fn in ("_jobs_after_insert", "_jobs_after_update"):
        source = owner.sql("select pg_get_functiondef(p.oid) as src from pg_proc p "
                           "where p.pronamespace = 'collab'::regnamespace and p.proname = %s", (fn,))
        assert source, fn
        found |= set(re.findall(r"then '(\w+)'", source[0]["src"]))
        found |= set(re.findall(r"select n\.id, n\.executor_id, '(\w+)'", source[0]["src"]))
    return found


def test_job_statuses_are_the_check_constraint(owner: Caller) -> None:
    assert _check_values(owner, "status") == states.JOB_STATUSES == {s.value for s in JobStatus}
    assert states.FINAL_JOB_STATUSES == {s.value for s in JobStatus if s.is_final}


def test_transition_events_are_what_the_triggers_write(owner: Caller) -> None:
    assert _trigger_event_types(owner) == states.TRANSITION_EVENTS


def test_worker_events_are_what_append_accepts(owner: Caller) -> None:
    source = owner.sql("select pg_get_functiondef('collab.append_job_event_v1'::regproc) as src")[0]["src"]
    allowed = re.search(r"event_type not in \(([^)]*)\)", source)
    assert allowed is not None
    assert set(re.findall(r"'(\w+)'", allowed.group(1))) == states.WORKER_EVENTS


def _last_event_matches_status(owner: Caller, job_id: object) -> str:
    row = owner.sql("select j.status, e.event_type from collab.jobs j join lateral ("
                    " select event_type from collab.job_events where job_id = j.id order by seq desc limit 1"
                    ") e on true where j.id = %s", (job_id,))[0]
    assert states.status_after(row["event_type"]) == row["status"], row
    return str(row["event_type"])


def test_each_event_leads_to_the_status_the_mirror_says(owner: Caller) -> None:
    seen: set[str] = set()
    # queued -> claimed -> retry_scheduled -> claimed -> succeeded -> retried
    job = assign(owner, max_attempts=3)
    seen.add(_last_event_matches_status(owner, job))
    claim(owner)
    seen.add(_last_event_matches_status(owner, job))
    owner.rpc("fail_job_v1", job_id=job, worker_id="w1", error="boom")
    seen.add(_last_event_matches_status(owner, job))
    make_due(owner, job)
    claim(owner)
    owner.rpc("complete_job_v1", job_id=job, worker_id="w1", result={"ok": True})
    seen.add(_last_event_matches_status(owner, job))
    owner.rpc("retry_job_v1", job_id=job)
    seen.add(_last_event_matches_status(owner, job))
    # cancelled; failed (an expired lease on the last attempt dead-letters it)
    owner.rpc("cancel_job_v1", job_id=job)
    seen.add(_last_event_matches_status(owner, job))
    doomed = assign(owner, executor_id="ex2", max_attempts=1)
    claim(owner, executor_id="ex2")
    expire_lease(owner, doomed)
    claim(owner, executor_id="ex2")
    seen.add(_last_event_matches_status(owner, doomed))
    assert seen == states.TRANSITION_EVENTS
    # a worker event changes no status
    progress = assign(owner, executor_id="ex3")
    claim(owner, executor_id="ex3")
    owner.rpc("append_job_event_v1", job_id=progress, worker_id="w1", payload={"pct": 5})
    row = owner.sql("select status from collab.jobs where id = %s", (progress,))[0]
    assert row["status"] == "running" and states.status_after("progress") is None


def test_workflow_words_are_the_check_constraints(owner: Caller) -> None:
    assert _check_values(owner, "status", "collab.workflows") == states.WORKFLOW_STATUSES
    assert _check_values(owner, "status", "collab.workflow_runs") == states.RUN_STATUSES
    assert _check_values(owner, "trigger_type", "collab.workflow_runs") == states.TRIGGER_TYPES
    assert _check_values(owner, "status", "collab.workflow_step_runs") == states.STEP_STATUSES
    assert _check_values(owner, "kind", "collab.step_types") == states.STEP_KINDS
    assert states.FINAL_RUN_STATUSES < states.RUN_STATUSES
    assert states.DONE_STEP_STATUSES < states.STEP_STATUSES


def test_run_and_step_events_lead_to_the_statuses_the_tables_hold(owner: Caller) -> None:
    owner.rpc("register_step_types_v1", executor_id="ex", step_types=[{"name": "t.a", "title": "A"}])
    definition = {"nodes": [{"id": "a", "type": "t.a", "data": {}}, {"id": "ok", "type": "approval", "data": {}}],
                  "edges": [{"id": "e", "source": "a", "target": "ok"}]}
    workflow = owner.one("create_workflow_v1", executor_id="ex", name="w", definition=definition)
    assert workflow is not None
    owner.rpc("publish_workflow_v1", workflow_id=workflow["id"])
    run_id = owner.value("start_run_v1", workflow_id=workflow["id"])["run"]["id"]
    claimed = claim(owner)
    assert claimed is not None
    owner.rpc("complete_job_v1", job_id=claimed["id"], worker_id="w1", result={"x": 1})
    owner.rpc("resume_run_v1", run_id=run_id, step_id="ok", data={})
    # Read as watchers do: a step job's claimed row carries the run's id too (for Realtime),
    # and the reader turns it into the step's step_running.
    events = owner.value("run_events_after_v1", run_id=run_id)["events"]
    types = {e["event_type"] for e in events}
    assert types <= states.RUN_EVENT_TYPES | states.STEP_EVENT_TYPES, types
    last_step: dict[str, str] = {}
    for event in events:
        if event["event_type"].startswith("step_"):
            last_step[event["payload"]["step_id"]] = event["event_type"].removeprefix("step_")
    steps = {r["step_id"]: r["status"] for r in owner.sql(
        "select step_id, status from collab.workflow_step_runs where run_id = %s", (run_id,))}
    assert last_step == steps == {"a": "succeeded", "ok": "succeeded"}
    run_events = [e["event_type"] for e in events if e["event_type"].startswith("run_")]
    status = owner.sql("select status from collab.workflow_runs where id = %s", (run_id,))[0]["status"]
    assert run_events[-1] == f"run_{status}" == "run_succeeded"
    assert "run_paused" in run_events
