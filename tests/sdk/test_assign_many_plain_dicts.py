"""``assign_many`` sends well-formed plain dicts without building a ``JobSpec`` each: what
reaches the engine, and every error, must be what the model path gives for the same job.

Each case goes in twice through a real database: as the plain dict (the fast path when
its values have the exact types) and as a read-only mapping of the same keys (never a
plain dict, so always through ``JobSpec``); a bad job must raise what ``JobSpec``'s
validation raises for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any
from uuid import UUID

import pytest

from collab_sdk import AsyncCollabClient
from collab_sdk.client.rpc import parse_input
from collab_sdk.errors import ValidationError
from collab_sdk.models import Job, JobSpec

LATER = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0).astimezone(
    timezone(timedelta(hours=-9)))  # an offset the engine is sent in UTC

GOOD: list[dict[str, Any]] = [
    {"type": "t.plain", "executor_id": "ex"},
    {"type": "t.plain", "executor_id": "ex", "payload": {"n": 1, "when": LATER, "id": UUID(int=7),
                                                         "nested": {"xs": (1, 2)}}},
    {"type": "t.plain", "executor_id": "ex", "priority": 5, "max_attempts": 2, "idempotency_key": None},
    {"type": "t.plain", "executor_id": "ex", "priority": None, "max_attempts": None},
    {"type": "t.plain", "executor_id": "ex", "priority": True},        # bool: the model makes it 1
    {"type": "t.plain", "executor_id": "ex", "priority": "3"},         # lax int, through the model
    {"type": "t.plain", "executorId": "ex", "maxAttempts": 4},         # camelCase, through the model
    {"type": "t.plain", "executor_id": "ex", "unknown": "ignored"},    # extra key, ignored
    {"type": "t.plain", "executor_id": "ex", "run_at": LATER},
    {"type": "t.plain", "executor_id": "ex", "run_at": None},
]

BAD: list[dict[str, Any]] = [
    {"type": "t.bad"},
    {"type": 1, "executor_id": "ex"},
    {"type": "t.bad", "executor_id": "ex", "payload": None},
    {"type": "t.bad", "executor_id": "ex", "payload": [1]},
    {"type": "t.bad", "executor_id": "ex", "payload": {1: "int key"}},
    {"type": "t.bad", "executor_id": "ex", "priority": "high"},
    {"type": "t.bad", "executor_id": "ex", "priority": 1.5},
    {"type": "t.bad", "executor_id": "ex", "idempotency_key": 5},
]

FIELDS = ("type", "executor_id", "payload", "priority", "max_attempts", "next_run_at", "status")


def _stored(job: Job) -> dict[str, Any]:
    return {name: getattr(job, name) for name in FIELDS}


@pytest.mark.parametrize("job", GOOD)
async def test_a_plain_dict_enqueues_what_the_model_path_enqueues(client: AsyncCollabClient,
                                                                  job: dict[str, Any]) -> None:
    plain, modelled = await client.assign_many([job, MappingProxyType(job)])
    assert plain.queued and modelled.queued and plain.job_id != modelled.job_id
    stored = [await client.get_job(plain.job_id), await client.get_job(modelled.job_id)]
    first, second = _stored(stored[0]), _stored(stored[1])
    if job.get("run_at") is None:  # due now: the two clocks differ by the call's duration
        first.pop("next_run_at"), second.pop("next_run_at")
    assert first == second
    assert stored[0].payload == stored[1].payload


@pytest.mark.parametrize("job", BAD)
async def test_a_bad_plain_dict_fails_as_the_model_path_does(client: AsyncCollabClient,
                                                            job: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as plain:
        await client.assign_many([{"type": "t.ok", "executor_id": "ex"}, job])
    with pytest.raises(ValidationError) as modelled:  # what assign_many raised before the fast path
        parse_input(JobSpec, job)
    assert plain.value.code == modelled.value.code == "CL400"
    assert str(plain.value) == str(modelled.value)
    assert (await client.stats(executor_id="ex")).total == 0  # nothing of the batch went in


async def test_an_idempotent_plain_dict_finds_the_modelled_job(client: AsyncCollabClient) -> None:
    job = {"type": "t.once", "executor_id": "ex", "idempotency_key": "k", "payload": {"a": 1}}
    first, again = await client.assign_many([MappingProxyType(job), job])
    assert first.queued and not again.queued and again.job_id == first.job_id


async def test_answers_keep_input_order_across_both_paths(client: AsyncCollabClient) -> None:
    jobs = [{"type": "t.order", "executor_id": "ex", "payload": {"i": i}} if i % 3
            else MappingProxyType({"type": "t.order", "executorId": "ex", "payload": {"i": i}})
            for i in range(30)]
    answers = await client.assign_many(jobs)
    assert [(await client.get_job(a.job_id)).payload["i"] for a in answers] == list(range(30))


async def test_a_payload_json_cannot_hold_is_a_validation_error_both_ways(client: AsyncCollabClient) -> None:
    """A value JSON cannot hold fails as ``assign`` fails: CL400, whether the job came as a
    plain dict or as a ``JobSpec`` (whose dump raised pydantic's own error before)."""
    bad = {"type": "t", "executor_id": "ex", "payload": {"x": object()}}
    for job in (bad, JobSpec(**bad)):
        with pytest.raises(ValidationError) as info:
            await client.assign_many([job])
        assert info.value.code == "CL400" and "JSON" in str(info.value)


async def test_a_plain_dict_is_sent_as_it_is_and_left_unchanged(client: AsyncCollabClient) -> None:
    """The fast path sends the caller's own dicts (no copy): they come back untouched, and
    a JSON null or a missing key is the default, as the model path leaves it out."""
    jobs = [{"type": "t.same", "executor_id": "ex", "idempotency_key": None, "priority": None},
            {"type": "t.same", "executor_id": "ex"}]
    before = [dict(job) for job in jobs]
    answers = await client.assign_many(jobs)
    assert jobs == before
    stored = [await client.get_job(a.job_id) for a in answers]
    assert [(s.payload, s.priority, s.max_attempts) for s in stored] == [({}, 0, 3), ({}, 0, 3)]


async def test_a_float_json_has_no_token_for_is_refused_not_nulled(client: AsyncCollabClient) -> None:
    """NaN in a plain dict's payload is written as the token ``json.dumps`` writes, which
    the engine refuses (it is not JSON): a ``ValidationError``, never a silent null."""
    with pytest.raises(ValidationError):
        await client.assign_many([{"type": "t", "executor_id": "ex", "payload": {"x": float("nan")}}])
    assert (await client.stats(executor_id="ex")).total == 0
