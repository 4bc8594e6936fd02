"""Bad input through the client: each raises the documented exception, clearly, and the
job is unchanged. Runs once per transport."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import (CollabError, Conflict, Forbidden, InvalidTransition, LeaseLost,
                               NotFound, PayloadTooLarge, SchemaMismatch, Unauthorized,
                               ValidationError)
from collab_sdk.models import Job
from support import Caller, expire_lease


async def _running(client: AsyncCollabClient) -> Job:
    await client.assign("t.e", executor_id="ex")
    job = await client.claim("ex", "w1")
    assert job is not None
    return job


async def _unchanged(client: AsyncCollabClient, before: Job) -> None:
    after = await client.get_job(before.id)
    assert after.model_dump(exclude={"lease_until", "next_run_at"}) == before.model_dump(
        exclude={"lease_until", "next_run_at"})
    assert [e.event_type for e in await client.events(before.id)] == ["queued", "claimed"]


async def test_malformed_and_unknown_ids(client: AsyncCollabClient) -> None:
    with pytest.raises(ValidationError) as bad:
        await client.get_job("not-a-uuid")
    assert bad.value.code == "22P02" and "uuid" in bad.value.message
    with pytest.raises(NotFound) as missing:
        await client.cancel(uuid.uuid4())
    assert missing.value.code == "CL404" and isinstance(missing.value, NotFound)


@pytest.mark.parametrize("kwargs, error, text", [
    ({"type": "bad type!"}, ValidationError, "type"),
    ({"priority": "high"}, ValidationError, "integer"),
    ({"max_attempts": 0}, ValidationError, "max_attempts"),
    ({"payload": {"blob": "x" * 1_100_000}}, PayloadTooLarge, "payload"),
])
async def test_bad_assign_is_rejected_and_enqueues_nothing(client: AsyncCollabClient, kwargs: dict[str, Any],
                                                           error: type[CollabError], text: str) -> None:
    args: dict[str, Any] = {"type": "t.ok", "executor_id": "ex", **kwargs}
    with pytest.raises(error) as raised:
        await client.assign(args.pop("type"), **args)
    assert text in str(raised.value)
    assert (await client.stats(executor_id="ex")).total == 0


async def test_unserialisable_argument_is_a_validation_error(client: AsyncCollabClient) -> None:
    with pytest.raises(ValidationError, match="JSON"):
        await client.assign("t.ok", executor_id="ex", payload={"when": object()})


async def test_wrong_worker_and_expired_lease_are_lease_lost(client: AsyncCollabClient, owner: Caller) -> None:
    job = await _running(client)
    with pytest.raises(LeaseLost) as lost:
        await client.complete(job.id, "someone-else", result={})
    assert isinstance(lost.value, Conflict) and lost.value.code == "CL410"
    await _unchanged(client, job)

    expire_lease(owner, job.id)
    for call in (client.complete(job.id, "w1"), client.fail(job.id, "w1", error="x"),
                 client.extend_lease(job.id, "w1"), client.progress(job.id, "w1", {"p": 1})):
        with pytest.raises(LeaseLost):
            await call
    await _unchanged(client, job)


async def test_invalid_transition_and_conflict(client: AsyncCollabClient) -> None:
    job = await _running(client)
    await client.complete(job.id, "w1")
    with pytest.raises(InvalidTransition, match="succeeded"):
        await client.cancel(job.id)
    await client.assign("t.k", executor_id="ex", payload={"a": 1}, idempotency_key="k")
    with pytest.raises(Conflict) as conflict:
        await client.assign("t.k", executor_id="ex", payload={"a": 2}, idempotency_key="k")
    assert conflict.value.code == "CL409"


async def test_anon_and_non_members(connect: Any, member: Any) -> None:
    service = await connect()
    job_id = (await service.assign("t.x", executor_id="exec-b")).job_id
    anon = await connect(as_="anon")
    with pytest.raises(Unauthorized) as denied:
        await anon.assign("t.x", executor_id="exec-b")
    assert denied.value.code == "42501"

    client_only = await connect(as_="user", user_id=member({"exec-b": "client"}))
    with pytest.raises(Forbidden):
        await client_only.claim("exec-b", "w-x")
    outsider = await connect(as_="user", user_id=member({"exec-a": "admin"}))
    with pytest.raises(NotFound):
        await outsider.get_job(job_id)
    with pytest.raises(Forbidden):
        await outsider.assign("t.x", executor_id="exec-b")
    assert (await service.get_job(job_id)).status.value == "queued"


async def test_schema_version_is_checked_on_connect(connect: Any, owner: Caller) -> None:
    owner.sql("create or replace function collab.schema_version() returns integer"
              " language sql immutable as 'select 99'")
    client = await connect()
    with pytest.raises(SchemaMismatch) as mismatch:
        await client.stats()
    assert "version 99" in str(mismatch.value) and "version 2" in str(mismatch.value)
