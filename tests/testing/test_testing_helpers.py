"""``collab_sdk.testing`` in collab's own suite: ``drain`` runs a real worker's due jobs
and stops, ``assert_enqueued`` finds jobs or says what is there, ``TestDatabases``
clones a migrated template."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from collab_sdk import AsyncCollabClient, CollabClient, Job, JobContext, PermanentFailure, Retry, Worker
from collab_sdk.testing import TestDatabases, assert_enqueued, drain


@pytest_asyncio.fixture
async def client(db_url: str) -> AsyncIterator[AsyncCollabClient]:
    async with AsyncCollabClient.from_url(db_url) as opened:
        yield opened


def make_worker(client: AsyncCollabClient) -> Worker:
    worker = Worker(client, executor_id="app", concurrency=4, poll_interval=0.2, heartbeat_interval=5)

    @worker.task("email.send")
    async def send(job: Job, ctx: JobContext) -> dict[str, Any]:
        return {"sent_to": job.payload["to"]}

    @worker.task("signup")
    async def signup(job: Job, ctx: JobContext) -> None:  # enqueues a follow-up job
        await client.assign("email.send", executor_id="app", payload={"to": job.payload["email"]})

    @worker.task("flaky")
    def flaky(job: Job, ctx: Any) -> str:  # a sync handler, retried at once
        if ctx.attempt == 1:
            raise Retry("not yet", after=0)
        return "second time lucky"

    @worker.task("doomed")
    async def doomed(job: Job, ctx: JobContext) -> None:
        raise PermanentFailure("no way")

    return worker


async def test_drain_runs_every_due_job_and_the_jobs_they_enqueue(client: AsyncCollabClient) -> None:
    worker = make_worker(client)
    await client.assign("signup", executor_id="app", payload={"email": "a@example.com"})
    await client.assign("flaky", executor_id="app")
    await client.assign("doomed", executor_id="app")
    later = await client.assign("email.send", executor_id="app", payload={"to": "later"},
                                run_at=datetime.now(timezone.utc) + timedelta(hours=1))
    await client.assign("unhandled", executor_id="app")
    await client.assign("email.send", executor_id="elsewhere", payload={"to": "x"})

    outcomes = await drain(worker)

    seen = sorted((o.type, o.event, o.attempt) for o in outcomes)
    assert seen == [("doomed", "failed", 1), ("email.send", "succeeded", 1), ("flaky", "retry_scheduled", 1),
                    ("flaky", "succeeded", 2), ("signup", "succeeded", 1)]
    assert [o.seq for o in outcomes] == sorted(o.seq for o in outcomes)
    sent = next(o for o in outcomes if o.type == "email.send")
    assert sent.succeeded and sent.result == {"sent_to": "a@example.com"}
    assert "no way" in str(next(o for o in outcomes if o.type == "doomed").error)
    assert "not yet" in str(next(o for o in outcomes if o.event == "retry_scheduled").error)
    # Not due, not handled, another executor: left alone.
    assert (await client.get_job(later.job_id)).status.value == "queued"
    await assert_enqueued(client, type="unhandled", executor_id="app")
    await assert_enqueued(client, type="email.send", executor_id="elsewhere", payload={"to": "x"})

    # The same worker drains again: only what is new.
    await client.assign("email.send", executor_id="app", payload={"to": "b@example.com"})
    again = await drain(worker)
    assert [(o.type, o.event, o.result) for o in again] == [("email.send", "succeeded", {"sent_to": "b@example.com"})]
    assert await drain(worker) == []


async def test_drain_gives_up_after_its_timeout(client: AsyncCollabClient) -> None:
    worker = Worker(client, executor_id="app", poll_interval=0.2)

    @worker.task("slow")
    async def slow(job: Job, ctx: JobContext) -> None:
        raise Retry("again", after=0)   # always due again: never drained

    await client.assign("slow", executor_id="app", max_attempts=1000)
    with pytest.raises(TimeoutError):
        await drain(worker, timeout=1.0)


async def test_assert_enqueued_finds_jobs_or_says_what_is_there(client: AsyncCollabClient, db_url: str) -> None:
    await client.assign("email.send", executor_id="app", payload={"to": "a@example.com", "lang": "en"})
    await client.assign("email.send", executor_id="app", payload={"to": "b@example.com"})
    found = await assert_enqueued(client, type="email.send", payload={"to": "a@example.com"})
    assert [job.payload["lang"] for job in found] == ["en"]
    assert len(await assert_enqueued(client, type="email.send", count=2)) == 2
    with pytest.raises(AssertionError, match=r"found 0(.|\n)*b@example.com"):
        await assert_enqueued(client, type="email.send", payload={"to": "c@example.com"})
    with pytest.raises(AssertionError, match="expected 3 job"):
        await assert_enqueued(client, type="email.send", count=3)
    with pytest.raises(AssertionError, match=r"\(none\)"):
        await assert_enqueued(client, type="email.send", status="running")
    with CollabClient.from_url(db_url) as blocking:   # the blocking client works the same
        assert len(await assert_enqueued(blocking, executor_id="app", payload={"to": "b@example.com"})) == 1


def database_names(server_url: str) -> set[str]:
    with psycopg.connect(server_url) as conn:
        return {r[0] for r in conn.execute("select datname from pg_database").fetchall()}


def test_test_databases_clone_a_migrated_template(server_url: str) -> None:
    before = database_names(server_url)
    databases = TestDatabases(server_url).start()
    try:
        first, second = databases.create(), databases.create()
        assert first != second
        with psycopg.connect(first) as conn:
            assert conn.execute("select collab.schema_version()").fetchone()
            conn.execute("insert into collab.executor_members (executor_id, user_id, role) "
                         "values ('x', gen_random_uuid(), 'admin')")
        with psycopg.connect(second) as conn:   # a clone of the template, not of `first`
            assert conn.execute("select count(*) from collab.executor_members").fetchone() == (0,)
        databases.drop(first)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(first, connect_timeout=2).close()
    finally:
        databases.close()
    assert database_names(server_url) == before   # the template and `second` are gone too
