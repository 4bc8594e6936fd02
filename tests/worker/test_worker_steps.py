"""``@worker.step``: workflow steps run by workers — the catalog entry registered at
start, typed config and input, a diamond's steps each run once with the join after both
parents, a bad config failing the step for good, a retried run re-running only its failed and
skipped steps (handler calls counted), and a worker killed inside a step."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from collab_sdk import AsyncCollabClient
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from collab_sdk.worker.steps import Step
from collab_sdk.worker.tasks import Retry
from collab_sdk.workflows import Flow
from support import Caller, eventually


class Greeting(BaseModel):
    greeting: str


class Who(BaseModel):
    who: str


async def registered(client: AsyncCollabClient, name: str) -> None:
    async def present() -> bool:
        return any(s.name == name for s in await client.workflows.step_types(executor_id="ex"))
    await eventually(present, timeout=20)


def diamond() -> dict[str, Any]:
    flow = Flow()
    a = flow.step("a", "t.step", greeting="hi")
    b = flow.step("b", "t.step", after=[a], greeting="b")
    c = flow.step("c", "t.step", after=[a], greeting="c")
    flow.step("d", "t.join", after=[b, c])
    return flow.definition()


async def _publish(client: AsyncCollabClient, definition: dict[str, Any], **schema: Any) -> Any:
    draft = await client.workflows.create("diamond", executor_id="ex", definition=definition, **schema)
    return await client.workflows.publish(draft.id)


async def test_steps_register_in_the_catalog_and_a_diamond_runs_each_step_once(
        start_worker: Any, service: AsyncCollabClient) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    joins: list[dict[str, Any]] = []

    def register(worker: Worker) -> None:
        @worker.step("t.step", title="Greet", config_model=Greeting, input_model=Who)
        async def greet(step: Step[Greeting, Who], ctx: JobContext) -> dict[str, str]:
            calls[(step.run_id, step.step_id)] += 1
            return {"said": f"{step.config.greeting} {step.input.who}"}

        @worker.step("t.join", title="Join")
        def join(step: Step[dict[str, Any], dict[str, Any]], ctx: Any) -> dict[str, Any]:  # sync
            calls[(step.run_id, step.step_id)] += 1
            joins.append(dict(step.steps))
            return {"parents": sorted(step.steps)}

    workers = [await start_worker(register, concurrency=4) for _ in range(3)]
    await registered(service, "t.join")
    catalog = {s.name: s for s in await service.workflows.step_types(executor_id="ex")}
    assert catalog["t.step"].title == "Greet" and catalog["t.step"].config_schema is not None
    assert catalog["t.step"].config_schema["properties"]["greeting"]["type"] == "string"
    workflow = await _publish(service, diamond())
    runs = [(await service.workflows.start(workflow.id, input={"who": f"r{i}"})).run.id for i in range(30)]

    async def all_done() -> bool:
        statuses = [(await service.workflows.get_run(r)).status for r in runs]
        return statuses == ["succeeded"] * len(runs)
    await eventually(all_done, timeout=60)
    assert len(calls) == 30 * 4 and set(calls.values()) == {1}
    assert all(set(j) == {"b", "c"} for j in joins) and len(joins) == 30
    run = await service.workflows.get_run(runs[0])
    assert run.context["b"] == {"said": "b r0"} and run.context["d"] == {"parents": ["b", "c"]}
    assert sum(w.stats.get("succeeded", 0) for w in workers) == 120


async def test_a_config_that_does_not_validate_fails_the_step_for_good(
        start_worker: Any, service: AsyncCollabClient) -> None:
    def register(worker: Worker) -> None:
        @worker.step("t.step", title="Greet", config_model=Greeting)
        async def greet(step: Step[Greeting, Any], ctx: JobContext) -> None:
            raise AssertionError("never called")

    await start_worker(register)
    flow = Flow()
    flow.step("a", "t.step", greeting=42)
    await registered(service, "t.step")
    workflow = await _publish(service, flow.definition())
    run_id = (await service.workflows.start(workflow.id)).run.id

    async def failed() -> bool:
        return (await service.workflows.get_run(run_id)).status == "failed"
    await eventually(failed, timeout=20)
    step = (await service.workflows.steps(run_id))[0]
    assert step.status == "failed" and step.attempts == 1 and "greeting" in (step.error or "")


async def test_cancelling_a_run_aborts_its_running_step_and_starts_no_successor(
        start_worker: Any, service: AsyncCollabClient) -> None:
    started, aborted = asyncio.Event(), asyncio.Event()
    calls: Counter[str] = Counter()

    def register(worker: Worker) -> None:
        @worker.step("t.wait", title="Wait")
        async def wait(step: Step[dict[str, Any], dict[str, Any]], ctx: JobContext) -> dict[str, Any]:
            calls[step.step_id] += 1
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                aborted.set()
                raise
            return {"waited": True}

    worker = await start_worker(register, lease_seconds=3)
    await registered(service, "t.wait")
    flow = Flow()
    first = flow.step("first", "t.wait")
    flow.step("second", "t.wait", after=[first])
    workflow = await _publish(service, flow.definition())
    run_id = (await service.workflows.start(workflow.id)).run.id
    await asyncio.wait_for(started.wait(), timeout=20)
    assert [s.status for s in await service.workflows.steps(run_id)] == ["running", "pending"]
    cancelled = await service.workflows.cancel(run_id, reason="stop")
    assert cancelled.status == "cancelled"
    # The worker learns it at its next lease extension (a third of the lease) and aborts
    # the handler, as on any lost lease.
    await asyncio.wait_for(aborted.wait(), timeout=10)

    async def settled() -> bool:
        return worker.stats.get("lost", 0) == 1
    await eventually(settled, timeout=10)
    await asyncio.sleep(1.0)  # time for a successor to be (wrongly) claimed
    assert calls == {"first": 1}
    assert [s.status for s in await service.workflows.steps(run_id)] == ["cancelled", "cancelled"]
    jobs = await service.jobs_recent(executor_id="ex", type="t.wait")
    assert [j.status for j in jobs.items] == ["cancelled"]


async def test_retrying_a_failed_run_reruns_only_its_failed_and_skipped_steps(
        start_worker: Any, service: AsyncCollabClient, tmp_path: Path) -> None:
    # a -> b -> c, a -> s, s + c -> d. b fails both attempts of its budget only after its
    # sibling s has succeeded, so the failure finds a and s succeeded, c and d skipped.
    calls_file = tmp_path / "calls"

    def calls() -> Counter[str]:
        """Handler calls per step, from the lines the handlers appended."""
        return Counter(calls_file.read_text().split()) if calls_file.exists() else Counter()

    async def sibling_succeeded(run_id: str) -> bool:
        return {s.step_id: s.status for s in await service.workflows.steps(run_id)}["s"] == "succeeded"

    def register(worker: Worker) -> None:
        @worker.step("t.count", title="Count")
        async def count(step: Step[dict[str, Any], dict[str, Any]], ctx: JobContext) -> dict[str, Any]:
            with calls_file.open("a") as out:
                out.write(f"{step.step_id}\n")
            if calls()[step.step_id] <= step.config.get("fail_first", 0):
                await eventually(lambda: sibling_succeeded(step.run_id), timeout=20)
                raise Retry(f"planned failure {calls()[step.step_id]}", after=0)
            return {"step": step.step_id, "parents": sorted(step.steps)}

    await start_worker(register, concurrency=4)
    await registered(service, "t.count")
    flow = Flow()
    a = flow.step("a", "t.count")
    b = flow.step("b", "t.count", after=[a], fail_first=2, max_attempts=2)
    s = flow.step("s", "t.count", after=[a])
    c = flow.step("c", "t.count", after=[b])
    flow.step("d", "t.count", after=[s, c])
    workflow = await _publish(service, flow.definition())
    run_id = (await service.workflows.start(workflow.id)).run.id

    async def status(wanted: str) -> bool:
        return (await service.workflows.get_run(run_id)).status == wanted
    await eventually(lambda: status("failed"), timeout=30)
    assert calls() == {"a": 1, "b": 2, "s": 1}
    assert {x.step_id: x.status for x in await service.workflows.steps(run_id)} == \
        {"a": "succeeded", "b": "failed", "s": "succeeded", "c": "skipped", "d": "skipped"}

    retried = await service.workflows.retry(run_id)
    assert retried.status == "running"
    await eventually(lambda: status("succeeded"), timeout=30)
    await asyncio.sleep(0.5)  # time for a step to be (wrongly) run again
    assert calls() == {"a": 1, "b": 3, "s": 1, "c": 1, "d": 1}, "b's two failed attempts and its re-run"
    steps = {x.step_id: x for x in await service.workflows.steps(run_id)}
    assert {k: x.status for k, x in steps.items()} == dict.fromkeys("abscd", "succeeded")
    assert steps["b"].attempts == 3 and steps["a"].attempts == 1 and steps["s"].attempts == 1
    run = await service.workflows.get_run(run_id)
    assert run.context["d"] == {"step": "d", "parents": ["c", "s"]}
    assert run.context["s"] == {"step": "s", "parents": ["a"]}, "s kept its output from before the retry"
    events = await service.workflows.events(run_id)
    [retry_event] = [e for e in events if e.event_type == "run_retried"]
    assert {x["step_id"]: x["previous_status"] for x in retry_event.payload["reset"]} == \
        {"b": "failed", "c": "skipped", "d": "skipped"}
    assert "planned failure 2" in retry_event.payload["previous_error"]
    resets = [e.payload["step_id"] for e in events if e.event_type == "step_pending" and e.seq > retry_event.seq]
    assert sorted(resets) == ["b", "c", "d"]


async def test_three_workers_and_a_direct_call_fire_a_due_schedule_once(
        start_worker: Any, service: AsyncCollabClient, owner: Caller) -> None:
    flow = Flow()
    flow.step("gate", "approval")
    workflow = await _publish(service, flow.definition())
    schedule = await service.workflows.create_schedule(workflow.id, "* * * * *", input={"from": "cron"})
    owner.sql("update collab.workflow_schedules set next_fire_at = date_trunc('minute', now()) - interval '1 minute'"
              " where id = %s", (schedule.id,))
    # Every worker fires its executor's due schedules as it starts; the direct call races them.
    workers = await asyncio.gather(*(start_worker(lambda w: None) for _ in range(3)))
    direct = await service.workflows.fire_due_schedules(executor_id="ex")

    async def fired() -> bool:
        return bool(owner.sql("select 1 from collab.workflow_schedules where id = %s and last_run_id is not null",
                              (schedule.id,)))
    await eventually(fired, timeout=10)
    await asyncio.sleep(1.0)  # every worker's first firing has run
    runs = owner.sql("select trigger_type, input, schedule_id from collab.workflow_runs")
    assert [(r["trigger_type"], r["input"], str(r["schedule_id"])) for r in runs] == \
        [("schedule", {"from": "cron"}, str(schedule.id))]
    assert [one.created for one in direct] in ([], [True], [False]) and len(workers) == 3


@pytest.mark.slow
def test_a_worker_killed_inside_a_step_loses_nothing(spawn: Any, owner: Caller, db_url: str) -> None:
    first = spawn(APP_LEASE="2", APP_CONCURRENCY="1")

    async def scenario() -> tuple[Any, list[Any]]:
        async with AsyncCollabClient.from_url(db_url) as client:
            return await killed_and_recovered(client)

    async def killed_and_recovered(client: AsyncCollabClient) -> tuple[Any, list[Any]]:
        await registered(client, "wf.sleep")
        flow = Flow()
        slow = flow.step("slow", "wf.sleep", seconds=30)
        flow.step("after", "wf.sleep", after=[slow], seconds=0)
        draft = await client.workflows.create("kill", executor_id="ex", definition=flow.definition())
        await client.workflows.publish(draft.id)
        run_id = (await client.workflows.start(draft.id)).run.id

        async def running() -> bool:
            return (await client.workflows.steps(run_id))[0].status == "running"
        await eventually(running, timeout=20)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # A fresh worker reclaims the step after its lease; this time it is quick.
        owner.sql("update collab.workflow_step_runs set config = '{\"seconds\": 0}' where run_id = %s", (run_id,))
        owner.sql("update collab.jobs set payload = jsonb_set(payload, '{config,seconds}', '0') "
                  "where workflow_run_id = %s", (run_id,))
        second = spawn(APP_LEASE="2", APP_CONCURRENCY="2")
        try:
            async def succeeded() -> bool:
                return (await client.workflows.get_run(run_id)).status == "succeeded"
            await eventually(succeeded, timeout=40)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
        return await client.workflows.get_run(run_id), await client.workflows.steps(run_id)

    started = time.monotonic()
    run, steps = asyncio.run(scenario())
    assert run.status == "succeeded" and [s.status for s in steps] == ["succeeded", "succeeded"]
    assert steps[0].attempts == 2, "the killed attempt and the one that finished"
    assert time.monotonic() - started < 60
