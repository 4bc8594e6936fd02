"""assign_job_v1 / assign_jobs_v1: enqueue, idempotency, validation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from support import Caller, assign, events, job, raises_sqlstate


def test_assign_creates_a_queued_job_with_its_event(owner: Caller) -> None:
    row = owner.one("assign_job_v1", type="browser.run", executor_id="demo",
                    payload={"url": "https://supabase.com"}, priority=5, max_attempts=4)
    assert row["queued"] is True
    j = job(owner, row["job_id"])
    assert (j["status"], j["type"], j["executor_id"], j["payload"], j["priority"], j["max_attempts"],
            j["attempts"]) == ("queued", "browser.run", "demo", {"url": "https://supabase.com"}, 5, 4, 0)
    assert events(owner, row["job_id"]) == ["queued"]


def test_same_idempotency_key_returns_the_existing_job(owner: Caller) -> None:
    first = owner.one("assign_job_v1", type="t.a", executor_id="ex", payload={"n": 1}, idempotency_key="k")
    again = owner.one("assign_job_v1", type="t.a", executor_id="ex", payload={"n": 1}, idempotency_key="k")
    assert again == {"job_id": first["job_id"], "queued": False}
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 1
    assert events(owner, first["job_id"]) == ["queued"]


def test_idempotency_keys_are_per_executor(owner: Caller) -> None:
    a = assign(owner, executor_id="ex-a", idempotency_key="k")
    b = assign(owner, executor_id="ex-b", idempotency_key="k")
    assert a != b


def test_reused_key_with_different_payload_conflicts_and_changes_nothing(owner: Caller) -> None:
    assign(owner, type="t.a", payload={"n": 1}, idempotency_key="k")
    with raises_sqlstate("CL409", "idempotency_key was already used"):
        owner.rpc("assign_job_v1", type="t.a", executor_id="ex", payload={"n": 2}, idempotency_key="k")
    with raises_sqlstate("CL409"):
        owner.rpc("assign_job_v1", type="t.b", executor_id="ex", payload={"n": 1}, idempotency_key="k")
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 1


def test_batch_assign_answers_in_input_order(owner: Caller) -> None:
    existing = assign(owner, type="t.x", idempotency_key="dup")
    rows = owner.rpc("assign_jobs_v1", jobs=[
        {"type": "t.a", "executor_id": "ex"},
        {"type": "t.x", "executor_id": "ex", "idempotency_key": "dup"},
        {"type": "t.b", "executor_id": "ex", "idempotency_key": "new"},
        {"type": "t.b", "executor_id": "ex", "idempotency_key": "new"},
    ])
    assert [r["queued"] for r in rows] == [True, False, True, False]
    assert rows[1]["job_id"] == existing
    assert rows[3]["job_id"] == rows[2]["job_id"]
    assert [job(owner, r["job_id"])["type"] for r in rows] == ["t.a", "t.x", "t.b", "t.b"]


def test_batch_of_many_jobs_writes_one_event_each(owner: Caller) -> None:
    rows = owner.rpc("assign_jobs_v1", jobs=[{"type": "t.n", "executor_id": "ex", "payload": {"i": i}}
                                            for i in range(500)])
    assert len({r["job_id"] for r in rows}) == 500 and all(r["queued"] for r in rows)
    counts = owner.sql("select count(*) as n, count(distinct job_id) as d from collab.job_events")[0]
    assert counts == {"n": 500, "d": 500}


def test_empty_batch_returns_nothing(owner: Caller) -> None:
    assert owner.rpc("assign_jobs_v1", jobs=[]) == []


def test_run_at_schedules_the_job(owner: Caller) -> None:
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    job_id = assign(owner, run_at=later)
    assert abs((job(owner, job_id)["next_run_at"] - later).total_seconds()) < 0.001
    assert owner.rpc("claim_one_job_v3", executor_id="ex", worker_id="w1", lease_seconds=60) == []


@pytest.mark.parametrize(("args", "message"), [
    ({"type": "'\";--"}, "type must be"),
    ({"type": ""}, "type must be"),
    ({"type": "x" * 201}, "type must be"),
    ({"executor_id": "a b"}, "executor_id must be"),
    ({"payload": [1, 2]}, "payload must be a JSON object"),
    ({"idempotency_key": ""}, "idempotency_key must be"),
    ({"idempotency_key": "k" * 256}, "idempotency_key must be"),
    ({"priority": 40000}, "priority must be"),
    ({"max_attempts": 0}, "max_attempts must be"),
    ({"max_attempts": -1}, "max_attempts must be"),
    ({"max_attempts": 1001}, "max_attempts must be"),
    ({"run_at": datetime(9999, 1, 1, tzinfo=timezone.utc)}, "run_at must be between"),
])
def test_bad_input_is_rejected_with_cl400(owner: Caller, args: dict, message: str) -> None:
    full = {"type": "t.ok", "executor_id": "ex", **args}
    with raises_sqlstate("CL400", message):
        owner.rpc("assign_job_v1", **full)
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 0


@pytest.mark.parametrize(("element", "message"), [
    ({"type": "t", "executor_id": "ex", "max_attempts": 2 ** 63}, "max_attempts must be"),
    ({"type": "t", "executor_id": "ex", "max_attempts": 1.5}, "max_attempts must be"),
    ({"type": "t", "executor_id": "ex", "max_attempts": "3"}, "max_attempts must be"),
    ({"type": "t", "executor_id": "ex", "run_at": "garbage"}, "run_at must be"),
    ({"type": "t", "executor_id": "ex", "run_at": 5}, "run_at must be"),
    ({"type": "t"}, "executor_id must be"),
    ("not an object", "must be a JSON object"),
])
def test_bad_batch_element_is_rejected_and_nothing_is_written(owner: Caller, element: object,
                                                              message: str) -> None:
    with raises_sqlstate("CL400", message):
        owner.rpc("assign_jobs_v1", jobs=[{"type": "t.fine", "executor_id": "ex"}, element])
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 0


def test_batch_must_be_an_array(owner: Caller) -> None:
    with raises_sqlstate("CL400", "jobs must be a JSON array"):
        owner.rpc("assign_jobs_v1", jobs={"type": "t"})


def test_oversized_payload_is_cl413(owner: Caller) -> None:
    with raises_sqlstate("CL413", "payload is larger than 1048576 bytes"):
        owner.rpc("assign_job_v1", type="t.big", executor_id="ex", payload={"blob": "x" * 1_048_576})
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 0


def test_schema_version_is_four(owner: Caller) -> None:
    assert owner.value("schema_version") == 4


def test_unknown_executor_is_fine_for_trusted_callers(owner: Caller) -> None:
    assert isinstance(assign(owner, executor_id=f"new-{uuid.uuid4().hex[:6]}"), uuid.UUID)


def _error(owner: Caller, fn: str, **args: Any) -> tuple[str | None, str]:
    """The SQLSTATE and message ``collab.<fn>`` raises for ``args``."""
    with pytest.raises(psycopg.Error) as caught:
        owner.rpc(fn, **args)
    owner.conn.rollback() if owner.conn.info.transaction_status else None
    return caught.value.sqlstate, caught.value.diag.message_primary or ""


@pytest.mark.parametrize("args", [
    {"type": "'\";--"}, {"type": None}, {"type": "x" * 201}, {"executor_id": "a b"}, {"executor_id": None},
    {"payload": [1, 2]}, {"payload": "text"}, {"idempotency_key": ""}, {"idempotency_key": "k" * 256},
    {"priority": 40000}, {"priority": -40000}, {"max_attempts": 0}, {"max_attempts": 1001},
    {"payload": {"blob": "x" * 1_048_576}},
    {"run_at": datetime(9999, 1, 1, tzinfo=timezone.utc)}, {"run_at": datetime(1999, 1, 1, tzinfo=timezone.utc)},
    # several faults: the first in the batch's order is the one reported
    {"type": "", "priority": 40000}, {"priority": 40000, "max_attempts": 0},
    {"max_attempts": 0, "payload": {"blob": "x" * 1_048_576}},
    {"payload": {"blob": "x" * 1_048_576}, "run_at": datetime(1999, 1, 1, tzinfo=timezone.utc)},
])
def test_one_job_fails_as_the_same_element_of_a_batch_does(owner: Caller, args: dict[str, Any]) -> None:
    """assign_job_v1 checks its typed arguments itself: the same SQLSTATE and message,
    fault for fault and in the same order, as assign_jobs_v1 gives for that one job."""
    full = {"type": "t.ok", "executor_id": "ex", **args}
    single = _error(owner, "assign_job_v1", **full)
    batch = _error(owner, "assign_jobs_v1", jobs=[{**full, "run_at": full["run_at"].isoformat()}
                                                 if "run_at" in full else full])
    assert single == batch and single[0] in ("CL400", "CL413"), (single, batch)
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 0


def test_a_replayed_single_job_conflicts_or_answers_as_a_batch_does(owner: Caller) -> None:
    first = owner.one("assign_job_v1", type="t.a", executor_id="ex", payload={"n": 1}, idempotency_key="k")
    assert first is not None and first["queued"]
    again = owner.rpc("assign_jobs_v1", jobs=[{"type": "t.a", "executor_id": "ex", "payload": {"n": 1},
                                               "idempotency_key": "k"}])
    assert again == [{"job_id": first["job_id"], "queued": False}]
    assert _error(owner, "assign_job_v1", type="t.a", executor_id="ex", payload={"n": 2}, idempotency_key="k") \
        == _error(owner, "assign_jobs_v1", jobs=[{"type": "t.a", "executor_id": "ex", "payload": {"n": 2},
                                                  "idempotency_key": "k"}])
    # a JSON null payload is the empty object, as in a batch
    nothing = owner.one("assign_job_v1", type="t.a", executor_id="ex", payload=None, idempotency_key="k2")
    assert nothing is not None and job(owner, nothing["job_id"])["payload"] == {}
    assert owner.one("assign_job_v1", type="t.a", executor_id="ex", payload={}, idempotency_key="k2") == \
        {"job_id": nothing["job_id"], "queued": False}


@pytest.mark.parametrize("keyed", [False, True])
def test_batch_ids_ascend_in_input_order(owner: Caller, keyed: bool) -> None:
    """Ids are time-ordered and count up along a batch, with or without keys."""
    batches = [owner.rpc("assign_jobs_v1", jobs=[
        {"type": "t", "executor_id": "ex", "payload": {"i": i}, **({"idempotency_key": f"{b}-{i}"} if keyed else {})}
        for i in range(300)]) for b in range(3)]
    ids = [r["job_id"] for rows in batches for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == 900 and all(i.version == 7 for i in ids)
    stored = owner.sql("select id, payload ->> 'i' as i from collab.jobs where id = any(%s)", (ids[:300],))
    assert {r["id"]: int(r["i"]) for r in stored} == {job_id: i for i, job_id in enumerate(ids[:300])}
