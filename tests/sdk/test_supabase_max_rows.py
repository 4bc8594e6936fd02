"""PostgREST cuts every function result at ``max_rows`` (1,000 on Supabase unless set),
after the function ran in full: the stand-in does the same, and the client chunks its
batch RPCs (``CapsRows``) so that 5,000 jobs get 5,000 answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import ConfigurationError
from collab_sdk.transports.base import CapsRows
from collab_sdk.transports.postgres import PostgresTransport
from collab_sdk.transports.supabase.rpc import SupabaseTransport
from support.postgrest_standin import SECRET_KEY, SUPABASE_URL, PostgrestStandin
from support import Caller

BATCH = 5000


@pytest.fixture
async def service(postgrest: PostgrestStandin) -> AsyncIterator[AsyncCollabClient]:
    assert postgrest.max_rows == 1000  # the stand-in cuts as Supabase does by default
    async with AsyncCollabClient(SupabaseTransport(SUPABASE_URL, SECRET_KEY)) as client:
        yield client


def specs(n: int, prefix: str = "k") -> list[dict[str, object]]:
    return [{"type": "t.rows", "executor_id": "ex", "payload": {"n": i},
             "idempotency_key": f"{prefix}{i}"} for i in range(n)]


async def test_postgrest_cuts_a_result_past_max_rows_after_running_the_function(
        postgrest: PostgrestStandin, service: AsyncCollabClient, owner: Caller) -> None:
    answer = await service.transport.call("assign_jobs_v1", {"jobs": specs(1500)})
    assert len(answer) == 1000  # what a naive client gets back
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 1500  # all enqueued
    assert postgrest.responses("assign_jobs_v1")[0].headers["content-range"] == "0-999/*"


async def test_assign_many_of_5000_is_sent_in_chunks_and_answers_every_job_in_order(
        postgrest: PostgrestStandin, service: AsyncCollabClient, owner: Caller) -> None:
    assert isinstance(service.transport, CapsRows) and service.max_rows == 1000
    answers = await service.assign_many(specs(BATCH))
    assert len(answers) == BATCH and all(a.queued for a in answers)
    rows = owner.sql("select id, (payload->>'n')::int as n from collab.jobs")
    by_id = {r["id"]: r["n"] for r in rows}
    assert [by_id[a.job_id] for a in answers] == list(range(BATCH))  # input order
    sent = postgrest.rpc_requests("assign_jobs_v1")
    assert len(sent) == BATCH // 1000
    assert [len(json.loads(r.content)['jobs']) for r in sent] == [1000] * 5
    # Again with the same keys: every chunk answers the existing jobs, none is queued twice.
    again = await service.assign_many(specs(BATCH))
    assert [a.job_id for a in again] == [a.job_id for a in answers] and not any(a.queued for a in again)
    assert len(rows) == BATCH


async def test_complete_many_and_claim_many_stay_under_max_rows(
        postgrest: PostgrestStandin, owner: Caller) -> None:
    async with AsyncCollabClient(SupabaseTransport(SUPABASE_URL, SECRET_KEY, max_rows=300)) as client:
        await client.assign_many(specs(700))
        claimed = await client.claim_many("ex", "w1", max_jobs=1000, lease_seconds=600)
        assert len(claimed) == 300  # asked for 1,000: capped, so none is leased unseen
        running = owner.sql("select count(*) as n from collab.jobs where status = 'running'")[0]["n"]
        assert running == 300
        claimed += await client.claim_many("ex", "w1", max_jobs=300, lease_seconds=600)
        claimed += await client.claim_many("ex", "w1", max_jobs=300, lease_seconds=600)
        assert len(claimed) == 700
        done = await client.complete_many("w1", [{"job_id": str(j.id), "result": {"i": i}}
                                                 for i, j in enumerate(claimed)])
        assert len(done) == 700 and {j.status.value for j in done} == {"succeeded"}
        assert len(postgrest.rpc_requests("complete_jobs_v1")) == 3
        assert owner.sql("select count(*) as n from collab.jobs where status = 'succeeded'")[0]["n"] == 700
        await client.assign_many(specs(400, prefix="m"))
        claimed = await client.claim_many("ex", "w1", max_jobs=300, lease_seconds=600)
        claimed += await client.claim_many("ex", "w1", max_jobs=300, lease_seconds=600)
        ids = await client.complete_many_ids("w1", [{"job_id": j.id} for j in claimed])
        assert ids == {j.id for j in claimed} and len(ids) == 400
        asked = postgrest.rpc_requests("complete_jobs_v1")[3:]
        assert len(asked) == 2 and all(r.url.params["select"] == "id" for r in asked)  # ids only


async def test_postgres_has_no_row_cap_and_sends_one_batch(db_url: str) -> None:
    transport = PostgresTransport(db_url, max_size=2)
    assert not isinstance(transport, CapsRows)
    async with AsyncCollabClient(transport) as client:
        assert client.max_rows is None
        assert len(await client.assign_many(specs(1500))) == 1500


def test_max_rows_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_rows"):
        SupabaseTransport(SUPABASE_URL, SECRET_KEY, max_rows=0)
