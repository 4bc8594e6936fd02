"""The async client's happy paths, once per transport, against real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import Forbidden, LeaseLost
from collab_sdk.models import Assigned, JobSpec, JobStatus, Page
from support import Caller, make_due


class Shot(BaseModel):
    url: str


async def test_assign_claim_progress_complete(client: AsyncCollabClient) -> None:
    assigned = await client.assign("browser.screenshot", executor_id="ex",
                                   payload={"url": "https://supabase.com"}, idempotency_key="k1")
    assert isinstance(assigned, Assigned) and assigned.queued

    job = await client.claim("ex", "w1", lease_seconds=30, type_prefix="browser.")
    assert job is not None and job.id == assigned.job_id
    assert job.status is JobStatus.RUNNING and job.attempts == 1 and job.lease_owner == "w1"
    assert job.with_payload(Shot).payload == Shot(url="https://supabase.com")

    event = await client.progress(job.id, "w1", {"pct": 50}, attempt=job.attempts)
    assert event.event_type == "progress" and event.payload["pct"] == 50 and event.job_id == job.id
    extended = await client.extend_lease(job.id, "w1", lease_seconds=120)
    assert extended.lease_until is not None and job.lease_until is not None
    assert extended.lease_until > job.lease_until

    done = await client.complete(job.id, "w1", result={"ok": True}, attempt=1,
                                 artifacts=[{"name": "shot.png", "path": "ex/shot.png", "size": 3}])
    assert done.status is JobStatus.SUCCEEDED and done.result == {"ok": True}
    replay = await client.complete(job.id, "w1", result={"ignored": True}, attempt=1)
    assert replay.result == {"ok": True} and replay.updated_at == done.updated_at

    summary = await client.summary(job.id)
    assert summary.job.id == job.id
    assert [e.event_type for e in summary.events] == ["queued", "claimed", "progress", "succeeded"]
    assert [a.name for a in summary.artifacts] == ["shot.png"]
    assert [a.path for a in await client.artifacts(job.id)] == ["ex/shot.png"]
    after = await client.events(job.id, after_seq=summary.events[1].seq)
    assert [e.event_type for e in after] == ["progress", "succeeded"]
    assert all(isinstance(e.xact_id, str) for e in after)


async def test_idempotent_assign_and_typed_get(client: AsyncCollabClient) -> None:
    first = await client.assign("t.a", executor_id="ex", payload={"url": "u"}, idempotency_key="same")
    again = await client.assign("t.a", executor_id="ex", payload={"url": "u"}, idempotency_key="same")
    assert again == Assigned(job_id=first.job_id, queued=False)
    job = await client.get_job(first.job_id, payload_type=Shot)
    assert job.payload.url == "u"
    plain = await client.get_job(str(first.job_id))
    assert plain.payload == {"url": "u"}


async def test_assign_many_claim_many_complete_many(client: AsyncCollabClient) -> None:
    run_at = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
    answers = await client.assign_many(
        [JobSpec(type="t.batch", executor_id="ex", payload={"i": i}, priority=i) for i in range(5)]
        + [{"type": "t.later", "executor_id": "ex", "run_at": run_at}])
    assert len(answers) == 6 and all(a.queued for a in answers)
    later = await client.get_job(answers[-1].job_id)
    assert later.next_run_at == run_at

    jobs = await client.claim_many("ex", "w1", max_jobs=10, types=["t.batch"])
    assert [j.payload["i"] for j in jobs] == [4, 3, 2, 1, 0]  # priority first
    done = await client.complete_many("w1", [{"job_id": j.id, "result": j.payload} for j in jobs])
    assert sorted(j.id for j in done) == sorted(j.id for j in jobs)
    assert (await client.stats(executor_id="ex")).succeeded == 5
    assert await client.claim("ex", "w1") is None


async def test_complete_many_ids_answers_only_the_completed_ids(client: AsyncCollabClient) -> None:
    await client.assign_many([{"type": "t.ids", "executor_id": "ex", "payload": {"i": i}} for i in range(4)])
    mine = await client.claim_many("ex", "w1", max_jobs=3)
    theirs = await client.claim_many("ex", "w2", max_jobs=1)
    assert len(mine) == 3 and len(theirs) == 1
    done = await client.complete_many_ids("w1", [{"job_id": j.id, "result": {"ok": j.payload["i"]}}
                                                 for j in [*mine, *theirs]])
    assert done == {j.id for j in mine}  # w2's job is not w1's to complete: left out
    stored = await client.get_job(mine[0].id)
    assert stored.status is JobStatus.SUCCEEDED and stored.result == {"ok": mine[0].payload["i"]}
    assert (await client.get_job(theirs[0].id)).status is JobStatus.RUNNING
    assert await client.complete_many_ids("w1", []) == set()


async def test_complete_id_and_fail_id_answer_the_id_and_fence_like_complete_and_fail(
        client: AsyncCollabClient) -> None:
    await client.assign_many([{"type": "t.one_id", "executor_id": "ex"} for _ in range(2)])
    first, second = await client.claim("ex", "w1"), await client.claim("ex", "w1")
    assert first is not None and second is not None
    assert await client.complete_id(first.id, "w1", result={"n": 1}, attempt=1) == first.id
    assert await client.complete_id(first.id, "w1", attempt=1) == first.id  # a replay: the stored job
    stored = await client.get_job(first.id)
    assert stored.status is JobStatus.SUCCEEDED and stored.result == {"n": 1}
    with pytest.raises(LeaseLost):
        await client.complete_id(second.id, "w2", attempt=1)
    assert await client.fail_id(second.id, "w1", error="boom", attempt=1) == second.id
    failed = await client.get_job(second.id)
    assert failed.status is JobStatus.QUEUED and failed.last_error == "boom"


async def test_fail_backoff_dead_letter_and_dlq_retry_once(client: AsyncCollabClient, owner: Caller) -> None:
    assigned = await client.assign("t.flaky", executor_id="ex", max_attempts=2)
    job = await client.claim("ex", "w1")
    assert job is not None
    requeued = await client.fail(job.id, "w1", error="boom", attempt=1)
    assert requeued.status is JobStatus.QUEUED and requeued.last_error == "boom"
    assert requeued.next_run_at is not None and requeued.next_run_at > requeued.updated_at  # type: ignore[operator]

    await client.fail(assigned.job_id, "w1", error="boom", attempt=1)  # replay: same outcome
    assert await client.claim("ex", "w1") is None  # backoff: not due yet
    make_due(owner, assigned.job_id)
    job = await client.claim("ex", "w1")
    assert job is not None and job.attempts == 2
    failed = await client.fail(job.id, "w1", error="boom again", attempt=2)
    assert failed.status is JobStatus.FAILED

    page = await client.dlq_list(executor_id="ex")
    assert page.count == 1 and page.items[0].job_id == job.id and page.items[0].reason == "max_attempts"
    first = await client.dlq_retry(page.items[0].id)
    second = await client.dlq_retry(page.items[0].id)
    assert first.queued and not second.queued and second.job_id == first.job_id
    assert (await client.dlq_list(executor_id="ex", include_retried=False)).count == 0


async def test_cancel_retry_delete_purge(client: AsyncCollabClient) -> None:
    a = (await client.assign("t.m", executor_id="ex")).job_id
    cancelled = await client.cancel(a, reason="not needed")
    assert cancelled.status is JobStatus.CANCELLED and cancelled.last_error == "not needed"
    retried = await client.retry(a)
    assert retried.status is JobStatus.QUEUED and retried.attempts == 0
    job = await client.claim("ex", "w1")
    assert job is not None and job.id == a
    await client.complete(a, "w1")
    assert await client.purge(older_than_seconds=0, executor_id="ex") == 1

    b = (await client.assign("t.m", executor_id="ex")).job_id
    deleted = await client.delete(b)
    assert deleted.id == b
    assert (await client.stats(executor_id="ex")).total == 0


async def test_pages_and_iterator(client: AsyncCollabClient) -> None:
    await client.assign_many([{"type": "t.p", "executor_id": "ex", "payload": {"i": i}} for i in range(23)])
    page = await client.jobs_recent(executor_id="ex", page_size=5)
    assert isinstance(page, Page) and len(page.items) == 5 and page.next_cursor
    seen = [job.id async for job in client.iter_jobs(executor_id="ex", page_size=5)]
    assert len(seen) == 23 == len(set(seen))
    last = await client.jobs_recent(executor_id="ex", page_size=50)
    assert last.next_cursor is None and last.count == 23


async def test_heartbeat_workers_stats_metrics(client: AsyncCollabClient) -> None:
    beat = await client.heartbeat("w1", "ex", status="busy", version="1.2", capacity=4, running=2,
                                  metadata={"host": "h"})
    assert beat.status == "busy" and beat.capacity == 4 and beat.metadata == {"host": "h"}
    active = await client.workers_active(executor_id="ex")
    assert [w.worker_id for w in active] == ["w1"]
    await client.assign("t.s", executor_id="ex")
    stats = await client.stats(executor_id="ex")
    assert stats.queued == stats.pending == stats.total == 1
    metrics = await client.metrics(executor_id="ex")
    assert metrics.by_status.queued == 1 and metrics.active_workers == 1 and metrics.dlq.size == 0
    assert metrics.model_dump()["byStatus"]["pending"] == 1  # camelCase on the wire
    counts = await client.metrics_by_executor()
    assert [(c.executor_id, c.type, c.state, c.count) for c in counts.jobs] == [("ex", "t.s", "queued", 1)]
    assert counts.active_workers == {"ex": 1} and counts.dead_letters == {} and counts.executors() == ["ex"]


async def test_membership_scopes_a_user(connect, member) -> None:  # type: ignore[no-untyped-def]
    service = await connect()
    job_b = (await service.assign("t.x", executor_id="exec-b")).job_id
    user_id = member({"exec-a": "worker"})
    user = await connect(as_="user", user_id=user_id)
    mine = await user.assign("t.x", executor_id="exec-a")
    assert (await user.get_job(mine.job_id)).executor_id == "exec-a"
    assert (await user.jobs_recent()).count == 1
    assert await user.claim("exec-a", "w-user") is not None
    with pytest.raises(Forbidden):
        await user.members("exec-a")  # a worker, not an admin
    assert await service.add_member("exec-a", user_id, "admin") is not None
    assert [(m.user_id, m.role) for m in await user.members("exec-a")] == [(user_id, "admin")]
    assert await service.remove_member("exec-a", user_id) is True
    assert (await user.jobs_recent()).count == 0
    assert (await service.get_job(job_b)).executor_id == "exec-b"


async def test_complete_and_claim_hands_over_the_next_job(client: AsyncCollabClient) -> None:
    first = await client.assign("t.chain", executor_id="ex", payload={"n": 1})
    second = await client.assign("t.chain", executor_id="ex", payload={"n": 2})
    job = await client.claim("ex", "w1")
    assert job is not None and job.id == first.job_id
    nxt = await client.complete_and_claim(job.id, "w1", executor_id="ex", result={"n": 1},
                                          attempt=job.attempts, lease_seconds=30)
    assert nxt is not None and nxt.id == second.job_id and nxt.status is JobStatus.RUNNING
    assert (await client.get_job(first.job_id)).result == {"n": 1}
    assert await client.complete_and_claim(nxt.id, "w1", executor_id="ex") is None
    assert (await client.get_job(second.job_id)).status is JobStatus.SUCCEEDED


async def test_stats_by_type_throughput_and_bulk_actions(client: AsyncCollabClient) -> None:
    await client.assign_many([JobSpec(type="a" if i < 3 else "b", executor_id="ex") for i in range(5)])
    claimed = await client.claim_many("ex", "w1", max_jobs=2)
    await client.complete_many("w1", [{"job_id": job.id, "result": {}} for job in claimed])
    assert (await client.stats(executor_id="ex", type="a")).total == 3
    minutes = await client.throughput(executor_id="ex", minutes=5)
    assert len(minutes) == 5 and sum(m.succeeded for m in minutes) == 2
    retried = await client.jobs_bulk("retry", executor_id="ex", statuses=["succeeded", "queued"])
    assert (retried.done, retried.refused, retried.refused_by_status) == (2, 3, {"queued": 3})
    cancelled = await client.jobs_bulk("cancel", executor_id="ex", job_ids=[claimed[0].id])
    assert cancelled.done == 1 and cancelled.not_found == 0
    assert (await client.stats(executor_id="ex")).cancelled == 1
