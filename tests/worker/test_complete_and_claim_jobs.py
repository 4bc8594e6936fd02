"""``complete_and_claim_jobs_v1`` / ``complete_and_claim_many``: a batch complete and the
next batch claim in one call and one transaction, answered as one JSON object."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from collab_sdk import AsyncCollabClient
from collab_sdk.client.async_client import _ClaimedBatchAnswer
from collab_sdk.client.rpc import parse_answer, parse_answer_json
from collab_sdk.errors import ValidationError
from collab_sdk.transports.base import Transport
from support.callers import Caller, raises_sqlstate


def _assign(owner: Caller, n: int, executor_id: str = "ex") -> list[Any]:
    return [owner.one("assign_job_v1", type="t", executor_id=executor_id)["job_id"] for _ in range(n)]


def _status(owner: Caller, job_id: Any) -> str:
    return owner.sql("select status from collab.jobs where id = %s", (job_id,))[0]["status"]


def _events(owner: Caller, job_id: Any) -> list[str]:
    return [r["event_type"] for r in owner.sql(
        "select event_type from collab.job_events where job_id = %s order by seq", (job_id,))]


async def test_it_completes_the_batch_then_claims_the_next_in_one_call(
        owner: Caller, service: AsyncCollabClient) -> None:
    ids = _assign(owner, 5)
    first = await service.complete_and_claim_many("ex", "w1", max_jobs=3)
    assert first.lost == set() and [j.id for j in first.jobs] == ids[:3]
    assert all(j.status.value == "running" and j.lease_owner == "w1" and j.solo is False and j.attempts == 1
               for j in first.jobs)

    second = await service.complete_and_claim_many(
        "ex", "w1", [{"job_id": j.id, "result": {"n": i}, "attempt": 1} for i, j in enumerate(first.jobs)],
        max_jobs=10)
    assert second.lost == set() and [j.id for j in second.jobs] == ids[3:]
    assert [(await service.get_job(i)).result for i in ids[:3]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert _events(owner, ids[0]) == ["queued", "claimed", "succeeded"]  # one event per transition

    last = await service.complete_and_claim_many("ex", "w1", [{"job_id": j.id} for j in second.jobs], max_jobs=0)
    assert last == (set(), []) and {_status(owner, i) for i in ids} == {"succeeded"}


async def test_completions_it_does_not_hold_are_named_lost_and_the_rest_completed(
        owner: Caller, service: AsyncCollabClient) -> None:
    ids = _assign(owner, 3)
    mine = (await service.complete_and_claim_many("ex", "w1", max_jobs=2)).jobs
    theirs = (await service.complete_and_claim_many("ex", "w2", max_jobs=1)).jobs
    stranger = uuid.uuid4()
    answer = await service.complete_and_claim_many(
        "ex", "w1", [{"job_id": mine[0].id}, {"job_id": theirs[0].id}, {"job_id": mine[1].id, "attempt": 2},
                     {"job_id": stranger}], max_jobs=0)
    # Another worker's job, a stale attempt and an unknown id are left out, not raised.
    assert answer.lost == {theirs[0].id, mine[1].id, stranger} and answer.jobs == []
    assert [_status(owner, i) for i in ids] == ["succeeded", "running", "running"]
    replay = await service.complete_and_claim_many("ex", "w1", [{"job_id": mine[0].id}], max_jobs=0)
    assert replay.lost == set()  # a replay by the same worker is the stored outcome


async def test_a_bad_result_rolls_back_the_completions_and_claims_nothing(
        owner: Caller, service: AsyncCollabClient) -> None:
    ids = _assign(owner, 2)
    held = (await service.complete_and_claim_many("ex", "w1", max_jobs=1)).jobs
    with pytest.raises(ValidationError, match="attempt"):
        await service.complete_and_claim_many("ex", "w1", [{"job_id": held[0].id, "attempt": 0}], max_jobs=5)
    assert [_status(owner, i) for i in ids] == ["running", "queued"]
    with raises_sqlstate("CL400", "max_jobs"):
        owner.rpc("complete_and_claim_jobs_v1", executor_id="ex", worker_id="w1", max_jobs=-1)


class _Decoding:
    """A transport that is only a ``Transport`` (no ``AnswersJsonText``): the client
    decodes the answer and validates the objects, as over ``SupabaseTransport``."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    async def call(self, fn: str, args: Any, columns: Any = None) -> Any:
        return await self.inner.call(fn, args, columns)

    async def aclose(self) -> None:
        pass


async def test_the_answer_read_from_its_text_is_the_decoded_answer(
        owner: Caller, service: AsyncCollabClient) -> None:
    payload = {"s": "é😀\n\"\\", "big": 12345678901234567890123, "f": 1.5e-300, "x": 0.1,
               "l": [1, None, True, {"a": []}], "e": {}}
    ids = [owner.one("assign_job_v1", type="t", executor_id="ex", payload=payload)["job_id"] for _ in range(4)]
    owner.sql("update collab.jobs set last_error = 'boom é', result = '{\"r\": [1.25]}' where id = %s", (ids[0],))
    fn, args = "complete_and_claim_jobs_v1", {"executor_id": "ex", "worker_id": "w1", "max_jobs": 2}
    text = await service.transport.call_text(fn, args)  # type: ignore[attr-defined]
    assert isinstance(text, str)
    read = parse_answer_json(_ClaimedBatchAnswer, text, fn)
    assert read == parse_answer(_ClaimedBatchAnswer, json.loads(text), fn)
    assert [j.id for j in read["jobs"]] == ids[:2] and read["jobs"][0].payload == payload
    assert read["jobs"][0].last_error == "boom é" and read["jobs"][0].result == {"r": [1.25]}
    # The client reads the same models over a transport that can only decode.
    decoded = AsyncCollabClient(_Decoding(service.transport))
    rest = await decoded.complete_and_claim_many("ex", "w1", [{"job_id": i} for i in ids[:2]], max_jobs=5)
    assert rest.lost == set() and [j.id for j in rest.jobs] == ids[2:] and rest.jobs[0].payload == payload
    assert type(rest.jobs[0]) is type(read["jobs"][0])


@pytest.mark.parametrize("result", [float("nan"), object(), "\ud800"])
async def test_a_result_json_cannot_hold_is_a_validation_error_and_changes_nothing(
        owner: Caller, service: AsyncCollabClient, result: Any) -> None:
    ids = _assign(owner, 2)
    held = (await service.complete_and_claim_many("ex", "w1", max_jobs=1)).jobs
    with pytest.raises(ValidationError):
        await service.complete_and_claim_many("ex", "w1", [{"job_id": held[0].id, "result": result}], max_jobs=5)
    assert [_status(owner, i) for i in ids] == ["running", "queued"]


async def test_crash_isolation_as_claim_jobs_v2(owner: Caller, service: AsyncCollabClient) -> None:
    ids = _assign(owner, 3)
    owner.sql("update collab.jobs set status = 'running', attempts = 1, lease_owner = 'dead',"
              " next_run_at = now() - interval '1 second' where id = %s", (ids[1],))
    owner.sql("update collab.jobs set next_run_at = now() - interval '1 minute' where id = %s", (ids[0],))
    busy = await service.complete_and_claim_many("ex", "w1", max_jobs=3, alone=False)
    assert [j.id for j in busy.jobs] == [ids[0]]  # a busy worker stops before the suspect
    idle = await service.complete_and_claim_many("ex", "w2", max_jobs=3, alone=True)
    assert [(j.id, j.solo, j.rescues) for j in idle.jobs] == [(ids[1], True, 1)]


def test_callers_need_to_be_workers_of_the_executor(owner: Caller, make_user: Any) -> None:
    _assign(owner, 1)
    viewer = make_user({"ex": "client"})
    with raises_sqlstate("CL403"):
        viewer.rpc("complete_and_claim_jobs_v1", executor_id="ex", worker_id="w1", max_jobs=1)
    worker = make_user({"ex": "worker"})
    answer = worker.value("complete_and_claim_jobs_v1", executor_id="ex", worker_id="w1", max_jobs=1)
    assert answer["lost"] == [] and len(answer["jobs"]) == 1



def _counting(client: AsyncCollabClient, name: str, at: int, calls: list[int]) -> None:
    """Count the completions (positional argument ``at``) each call of ``client.<name>``
    sends; the real call runs."""
    real = getattr(client, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        completions = list(args[at])
        calls.append(len(completions))
        return await real(*args[:at], completions, *args[at + 1:], **kwargs)

    setattr(client, name, counted)


def _counting_claims(client: AsyncCollabClient, calls: list[int]) -> None:
    """``_counting`` of ``complete_and_claim_many`` on the client of the claim loop's
    lane (``client.lane()``: its claims go through that one)."""
    real = client.lane

    @asynccontextmanager
    async def lane() -> AsyncIterator[AsyncCollabClient]:
        async with real() as claims:
            _counting(claims, "complete_and_claim_many", 2, calls)
            yield claims

    setattr(client, "lane", lane)


async def test_the_worker_s_claims_carry_its_results(owner: Caller, service: AsyncCollabClient,
                                                   start_worker: Any) -> None:
    carried: list[int] = []
    alone: list[int] = []

    def register(worker: Any) -> None:
        _counting_claims(worker.client, carried)
        _counting(worker.client, "complete_many_ids", 1, alone)

        @worker.task("t")
        async def noop(job: Any, ctx: Any) -> int:
            return ctx.attempt

    await service.assign_many([{"type": "t", "executor_id": "ex"}] * 600)
    worker = await start_worker(register, concurrency=50)
    await asyncio.wait_for(_until(lambda: worker.stats.get("succeeded", 0) == 600), 60)
    assert {_status(owner, r["id"]) for r in owner.sql("select id from collab.jobs")} == {"succeeded"}
    # Nearly every result went with a claim: about one call per batch, not two.
    assert sum(carried) + sum(alone) == 600 and sum(carried) >= 500, (carried, alone)
    assert len(carried) + len(alone) < 600 / 50 * 2


async def test_a_database_without_the_function_is_drained_by_claim_many(
        owner: Caller, service: AsyncCollabClient, start_worker: Any) -> None:
    owner.sql("drop function collab.complete_and_claim_jobs_v1")

    def register(worker: Any) -> None:
        @worker.task("t")
        async def noop(job: Any, ctx: Any) -> None:
            return None

    await service.assign_many([{"type": "t", "executor_id": "ex"}] * 120)
    worker = await start_worker(register, concurrency=50)
    await asyncio.wait_for(_until(lambda: worker.stats.get("succeeded", 0) == 120), 60)
    assert worker.stats.get("claim_errors", 0) == 0 and worker.stats.get("claimed") == 120


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.05)
