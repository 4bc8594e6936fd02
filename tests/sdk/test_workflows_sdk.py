"""``client.workflows`` through both transports: definitions, publish, start with an
idempotency key and an input schema, approval resume, cancel, retry, the run's events
followed live, schedules and webhooks — answers typed, errors from the one tree."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest

from collab_sdk import AsyncCollabClient
from collab_sdk.errors import CollabError, InvalidTransition, NotFound, ValidationError
from collab_sdk.workflows import Flow
from collab_sdk.workflows.models import Run, Started, Workflow

EXECUTOR = "wf"


def approval_flow() -> dict[str, Any]:
    flow = Flow()
    fetch = flow.step("fetch", "t.fetch", url="https://example.com")
    review = flow.step("review", "approval", after=[fetch])
    flow.step("publish", "t.publish", after=[review])
    return flow.definition()


async def published(client: AsyncCollabClient, definition: dict[str, Any],
                    input_schema: dict[str, Any] | None = None) -> Workflow:
    await client.workflows.register_step_types(EXECUTOR, [
        {"name": "t.fetch", "title": "Fetch"}, {"name": "t.publish", "title": "Publish"}])
    draft = await client.workflows.create("approval flow", executor_id=EXECUTOR,
                                          definition=definition, input_schema=input_schema)
    assert draft.status == "draft" and draft.version == 1
    return await client.workflows.publish(draft.id)


async def run_step(client: AsyncCollabClient, type: str, output: Any) -> None:
    job = await client.claim(EXECUTOR, "w1", type_prefix=type)
    assert job is not None and job.type == type
    await client.complete(job.id, "w1", result=output, attempt=job.attempts)


async def test_a_flow_with_an_approval_runs_to_the_end(client: AsyncCollabClient) -> None:
    workflow = await published(client, approval_flow())
    started = await client.workflows.start(workflow.id, input={"n": 1}, idempotency_key="k1")
    assert isinstance(started, Started) and started.created and started.run.status in ("pending", "running")
    again = await client.workflows.start(workflow.id, input={"n": 1}, idempotency_key="k1")
    assert not again.created and again.run.id == started.run.id
    run_id = started.run.id
    await run_step(client, "t.fetch", {"body": "hello"})
    run = await client.workflows.get_run(run_id)
    assert run.status == "paused" and run.context["fetch"] == {"body": "hello"}
    with pytest.raises(InvalidTransition):
        await client.workflows.resume(run_id, "fetch", {})  # not waiting
    resumed = await client.workflows.resume(run_id, "review", {"ok": True})
    assert isinstance(resumed, Run) and resumed.status == "running"
    with pytest.raises(CollabError):
        await client.workflows.resume(run_id, "review", {"ok": True})  # exactly once
    publish_job = await client.claim(EXECUTOR, "w1", type_prefix="t.publish")
    assert publish_job is not None
    assert publish_job.payload["steps"] == {"review": {"ok": True}}
    assert publish_job.payload["input"] == {"n": 1}
    await client.complete(publish_job.id, "w1", result={"url": "u"}, attempt=publish_job.attempts)
    done = await client.workflows.get_run(run_id)
    assert done.status == "succeeded" and set(done.context) == {"fetch", "review", "publish"}
    steps = await client.workflows.steps(run_id)
    assert [s.step_id for s in steps] == ["fetch", "review", "publish"]
    assert all(s.status == "succeeded" for s in steps)
    events = await client.workflows.events(run_id)
    assert events[-1].event_type == "run_succeeded"
    assert [e.seq for e in events] == sorted(e.seq for e in events)


async def test_watch_run_follows_the_run_live_until_it_ends(client: AsyncCollabClient) -> None:
    workflow = await published(client, approval_flow())
    started = await client.workflows.start(workflow.id)
    snapshot = await client.workflows.snapshot(started.run.id)
    assert snapshot.run.id == started.run.id and len(snapshot.steps) == 3
    seen: list[str] = []
    seqs: list[int] = []

    async def follow() -> None:
        async for event in client.workflows.watch_run(started.run.id, since_seq=0, poll_interval=0.2):
            seen.append(event.event_type)
            seqs.append(event.seq)

    watching = asyncio.create_task(follow())
    await run_step(client, "t.fetch", {})
    await client.workflows.resume(started.run.id, "review")
    await run_step(client, "t.publish", {})
    await asyncio.wait_for(watching, 30)
    assert seen[-1] == "run_succeeded" and "step_waiting" in seen
    assert seqs == sorted(set(seqs)), "each event once, in seq order"
    logged = [e.seq for e in await client.workflows.events(started.run.id)]
    assert seqs == logged, "the live stream delivered exactly the run's log"


async def test_bad_input_definitions_and_states_are_refused(client: AsyncCollabClient) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    workflow = await published(client, approval_flow(), input_schema=schema)
    with pytest.raises(ValidationError, match="'n' is a required property"):
        await client.workflows.start(workflow.id, input={})
    with pytest.raises(ValidationError, match="n: 'x' is not of type 'integer'"):
        await client.workflows.start(workflow.id, input={"n": "x"})
    with pytest.raises(CollabError):
        await client.workflows.update(workflow.id, name="frozen")  # published: frozen
    draft = await client.workflows.create("draft", executor_id=EXECUTOR, definition=approval_flow())
    with pytest.raises(CollabError):
        await client.workflows.start(draft.id)  # unpublished
    cyclic = {"nodes": [{"id": "a", "type": "t.fetch", "data": {}}, {"id": "b", "type": "t.fetch", "data": {}}],
              "edges": [{"id": "1", "source": "a", "target": "b"}, {"id": "2", "source": "b", "target": "a"}]}
    verdict = await client.workflows.validate_definition(cyclic, executor_id=EXECUTOR)
    assert not verdict.valid and any("cycle" in e for e in verdict.errors)
    copy = await client.workflows.duplicate(workflow.id)
    assert copy.status == "draft" and copy.version == workflow.version + 1
    with pytest.raises(NotFound):
        await client.workflows.get_run("00000000-0000-0000-0000-000000000000")


async def test_cancel_and_retry_from_the_failed_step(client: AsyncCollabClient) -> None:
    workflow = await published(client, approval_flow())
    run = (await client.workflows.start(workflow.id)).run
    cancelled = await client.workflows.cancel(run.id, reason="no")
    assert cancelled.status == "cancelled"
    assert await client.claim(EXECUTOR, "w1", type_prefix="t.fetch") is None
    other = (await client.workflows.start(workflow.id)).run
    job = await client.claim(EXECUTOR, "w1", type_prefix="t.fetch")
    assert job is not None
    await client.fail(job.id, "w1", error="boom", retryable=False, attempt=job.attempts)
    failed = await client.workflows.get_run(other.id)
    assert failed.status == "failed"
    # the steps after the failed one can never run: skipped (a cancel says cancelled)
    assert [s.status for s in await client.workflows.steps(other.id)] == ["failed", "skipped", "skipped"]
    assert [s.status for s in await client.workflows.steps(run.id)] == ["cancelled"] * 3
    snapshot = await client.workflows.snapshot(other.id)
    assert [s.status for s in snapshot.steps] == ["failed", "skipped", "skipped"]
    logged = [(e.event_type, e.payload.get("step_id")) for e in await client.workflows.events(other.id)]
    assert logged[-3:] == [("step_skipped", "publish"), ("step_skipped", "review"), ("run_failed", None)]
    retried = await client.workflows.retry(other.id)
    assert retried.status in ("running", "pending")
    assert [s.status for s in await client.workflows.steps(other.id)] == ["queued", "pending", "pending"]
    await run_step(client, "t.fetch", {"second": True})
    assert (await client.workflows.get_run(other.id)).status == "paused"


async def test_watchers_see_steps_skipped_by_a_failure_and_reset_by_a_retry(client: AsyncCollabClient) -> None:
    workflow = await published(client, approval_flow())
    run_id = (await client.workflows.start(workflow.id)).run.id

    async def follow(since_seq: int) -> list[tuple[str, Any, int]]:
        return [(e.event_type, e.payload.get("step_id"), e.seq)
                async for e in client.workflows.watch_run(run_id, since_seq=since_seq, poll_interval=0.2)]

    first = asyncio.create_task(follow(0))
    job = await client.claim(EXECUTOR, "w1", type_prefix="t.fetch")
    assert job is not None
    await client.fail(job.id, "w1", error="boom", retryable=False, attempt=job.attempts)
    failed = await asyncio.wait_for(first, 30)  # the failure ends the watch
    assert [e[:2] for e in failed[-4:]] == [("step_failed", "fetch"), ("step_skipped", "publish"),
                                            ("step_skipped", "review"), ("run_failed", None)]

    second = asyncio.create_task(follow(failed[-1][2]))
    await client.workflows.retry(run_id)
    await run_step(client, "t.fetch", {"again": True})
    await client.workflows.resume(run_id, "review", {"ok": True})
    await run_step(client, "t.publish", {})
    retried = [e[:2] for e in await asyncio.wait_for(second, 30)]
    assert retried[:4] == [("run_retried", None), ("step_pending", "fetch"), ("step_pending", "publish"),
                           ("step_pending", "review")]
    assert retried[-1] == ("run_succeeded", None)
    assert retried.index(("step_succeeded", "fetch")) < retried.index(("step_waiting", "review")) \
        < retried.index(("step_queued", "publish"))


async def test_schedules_and_webhooks(client: AsyncCollabClient) -> None:
    workflow = await published(client, approval_flow())
    schedule = await client.workflows.create_schedule(workflow.id, "*/5 * * * *", timezone="Europe/Paris")
    assert schedule.enabled and schedule.timezone == "Europe/Paris"
    assert [s.id for s in await client.workflows.schedules(workflow_id=workflow.id)] == [schedule.id]
    paused = await client.workflows.update_schedule(schedule.id, enabled=False)
    assert not paused.enabled
    assert await client.workflows.fire_due_schedules(executor_id=EXECUTOR) == []
    await client.workflows.delete_schedule(schedule.id)
    secret = await client.workflows.create_webhook_secret(workflow.id)
    assert secret.secret is not None
    info = await client.workflows.webhook_secret(workflow.id)
    assert info.secret is None and info.fingerprint == secret.fingerprint
    body = json.dumps({"event": "push"})
    signature = hmac.new(secret.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    started = await client.workflows.start_from_webhook(workflow.id, body, signature, delivery_id="d1")
    assert started.created and started.run.trigger_type == "webhook" and started.run.input == {"event": "push"}
    replay = await client.workflows.start_from_webhook(workflow.id, body, signature, delivery_id="d1")
    assert replay.run.id == started.run.id and not replay.created
    with pytest.raises(CollabError):
        await client.workflows.start_from_webhook(workflow.id, body, "0" * 64, delivery_id="d2")
    assert await client.workflows.delete_webhook_secret(workflow.id) is True


def test_the_blocking_client_has_every_workflow_method() -> None:
    from collab_sdk.client.sync import Workflows
    from collab_sdk.client.workflows import AsyncWorkflows
    public = {n for n in vars(AsyncWorkflows) if not n.startswith("_")}
    assert public - {"rpc"} <= set(vars(Workflows)), sorted(public - set(vars(Workflows)))
