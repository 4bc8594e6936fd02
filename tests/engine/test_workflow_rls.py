"""Row-level security and caller checks for workflows: a member of executor A cannot see,
start, resume, cancel or retry B's workflows and runs; anon gets nothing."""

from __future__ import annotations

from support import Caller
from workflow_support import DIAMOND, chain, outcome, published, start, sqlstate

TABLES = ["workflows", "workflow_runs", "workflow_step_runs", "workflow_schedules", "step_types",
          "workflow_webhook_secrets"]


def test_anon_sees_and_calls_nothing(owner: Caller, anon: Caller) -> None:
    wf = published(owner, DIAMOND)
    run_id = start(owner, wf["id"])["id"]
    for table in TABLES:
        with sqlstate("42501", "permission denied"):
            anon.sql(f"select * from collab.{table}")
    for fn, args in [("get_workflow_v1", {"workflow_id": wf["id"]}), ("start_run_v1", {"workflow_id": wf["id"]}),
                     ("get_run_v1", {"run_id": run_id}), ("step_types_v1", {}),
                     ("webhook_start_run_v1", {"workflow_id": wf["id"], "body": "{}", "signature": "x"}),
                     ("fire_due_schedules_v1", {})]:
        with sqlstate("42501", "permission denied for function"):
            anon.rpc(fn, **args)


def test_a_member_of_a_cannot_touch_b(owner: Caller, make_user) -> None:
    alice = make_user({"exec-a": "admin"})
    mine = published(owner, chain(("a", "t.step")), executor_id="exec-a")
    theirs = published(owner, chain(("x", "approval"), ("y", "t.step")), executor_id="exec-b")
    my_run = start(alice, mine["id"])["id"]
    their_run = start(owner, theirs["id"])["id"]
    assert [w["id"] for w in alice.sql("select id from collab.workflows")] == [mine["id"]]
    assert [r["id"] for r in alice.value("runs_v1")["items"]] == [my_run]
    assert {s["executor_id"] for s in alice.sql("select * from collab.workflow_step_runs")} == {"exec-a"}
    assert {s["executor_id"] for s in alice.rpc("step_types_v1")} == {"*", "exec-a"}
    assert alice.value("workflows_v1", executor_id="exec-b")["count"] == 0
    assert alice.sql("select count(*) as n from collab.job_events where run_id = %s", (their_run,))[0]["n"] == 0
    not_found = [
        lambda: alice.rpc("get_workflow_v1", workflow_id=theirs["id"]),
        lambda: alice.rpc("validate_workflow_v1", workflow_id=theirs["id"]),
        lambda: alice.rpc("start_run_v1", workflow_id=theirs["id"]),
        lambda: alice.rpc("update_workflow_v1", workflow_id=theirs["id"], name="mine"),
        lambda: alice.rpc("duplicate_workflow_v1", workflow_id=theirs["id"]),
        lambda: alice.rpc("create_schedule_v1", workflow_id=theirs["id"], cron="* * * * *"),
        lambda: alice.rpc("create_webhook_secret_v1", workflow_id=theirs["id"]),
        lambda: alice.rpc("get_run_v1", run_id=their_run),
        lambda: alice.rpc("run_steps_v1", run_id=their_run),
        lambda: alice.rpc("run_snapshot_v1", run_id=their_run),
        lambda: alice.rpc("run_events_after_v1", run_id=their_run),
        lambda: alice.rpc("resume_run_v1", run_id=their_run, step_id="x"),
        lambda: alice.rpc("cancel_run_v1", run_id=their_run),
        lambda: alice.rpc("retry_run_v1", run_id=their_run),
    ]
    assert [outcome(call) for call in not_found] == ["CL404"] * len(not_found)
    with sqlstate("CL403", "not allowed"):
        alice.rpc("create_workflow_v1", executor_id="exec-b", name="sneaky")
    with sqlstate("CL403", "not allowed"):
        alice.rpc("register_step_types_v1", executor_id="exec-b", step_types=[{"name": "evil"}])
    with sqlstate("CL403", "not allowed"):
        alice.rpc("validate_definition_v1", executor_id="exec-b", definition=DIAMOND)
    assert owner.one("get_run_v1", run_id=their_run)["status"] == "paused"  # untouched
    assert alice.one("cancel_run_v1", run_id=my_run)["status"] == "cancelled"


def test_roles_within_an_executor(owner: Caller, make_user) -> None:
    client = make_user({"ex": "client"})
    worker = make_user({"ex": "worker"})
    wf = published(owner, chain(("a", "t.step")))
    assert outcome(lambda: worker.rpc("create_workflow_v1", executor_id="ex", name="w")) == "CL403"
    assert outcome(lambda: worker.rpc("publish_workflow_v1", workflow_id=wf["id"])) == "CL403"
    assert outcome(lambda: client.rpc("register_step_types_v1", executor_id="ex",
                                      step_types=[{"name": "t.x"}])) == "CL403"
    assert start(client, wf["id"])["status"] == "running"
    assert len(worker.rpc("register_step_types_v1", executor_id="ex", step_types=[{"name": "t.x"}])) == 1
