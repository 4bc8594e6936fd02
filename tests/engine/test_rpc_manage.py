"""cancel, retry, delete, purge, the dead-letter queue, heartbeats."""

from __future__ import annotations

import uuid

import pytest

from support import Caller, assign, claim, events, job, raises_sqlstate


def _dead_letter(owner: Caller, **kw: object) -> tuple[uuid.UUID, uuid.UUID]:
    """A job failed permanently; (job id, dead letter id)."""
    job_id = assign(owner, **kw)
    claim(owner)
    owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error="fatal", retryable=False)
    dead = owner.sql("select id from collab.job_dead_letters where job_id = %s", (job_id,))
    return job_id, dead[0]["id"]


def test_cancel_queued_and_running_jobs(owner: Caller) -> None:
    queued = assign(owner)
    running = assign(owner)
    claim(owner)  # takes `queued` (oldest)
    owner.rpc("cancel_job_v1", job_id=running, reason="no longer needed")
    owner.rpc("cancel_job_v1", job_id=queued)
    assert job(owner, queued)["status"] == job(owner, running)["status"] == "cancelled"
    with raises_sqlstate("CL410", "is cancelled"):
        owner.rpc("complete_job_v1", job_id=queued, worker_id="w1")
    with raises_sqlstate("CL412", "cannot cancel job"):
        owner.rpc("cancel_job_v1", job_id=queued)
    assert events(owner, queued) == ["queued", "claimed", "cancelled"]


def test_retry_resets_a_finished_job(owner: Caller) -> None:
    job_id, _ = _dead_letter(owner)
    row = owner.one("retry_job_v1", job_id=job_id)
    assert (row["status"], row["attempts"], row["lease_owner"], row["finished_at"]) == ("queued", 0, None, None)
    assert claim(owner, worker_id="w9")["id"] == job_id
    with raises_sqlstate("CL412", "cannot retry job"):
        owner.rpc("retry_job_v1", job_id=job_id)
    assert events(owner, job_id) == ["queued", "claimed", "failed", "retried", "claimed"]


def test_retry_of_succeeded_job_and_unknown_job(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={"r": 1})
    assert owner.one("retry_job_v1", job_id=job_id)["result"] is None
    with raises_sqlstate("CL404"):
        owner.rpc("retry_job_v1", job_id=uuid.uuid4())


def test_delete_removes_job_with_events_but_not_a_running_one(owner: Caller) -> None:
    running = assign(owner)
    claim(owner)
    done = assign(owner)
    owner.rpc("cancel_job_v1", job_id=done)
    with raises_sqlstate("CL412", "it is running"):
        owner.rpc("delete_job_v1", job_id=running)
    assert owner.one("delete_job_v1", job_id=done)["id"] == done
    assert owner.sql("select count(*) as n from collab.job_events where job_id = %s", (done,))[0]["n"] == 0
    with raises_sqlstate("CL404"):
        owner.rpc("delete_job_v1", job_id=done)


def test_purge_deletes_finished_jobs_older_than_the_age(owner: Caller) -> None:
    ids = [assign(owner) for _ in range(3)]
    for job_id in ids[:2]:
        claim(owner)
        owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1")
    owner.sql("update collab.jobs set finished_at = now() - interval '2 hours' where id = %s", (ids[0],))
    assert owner.value("purge_jobs_v1", older_than_seconds=3600) == 1
    assert owner.value("purge_jobs_v1") == 1
    assert [r["id"] for r in owner.sql("select id from collab.jobs")] == [ids[2]]
    with raises_sqlstate("CL400", "statuses must be"):
        owner.rpc("purge_jobs_v1", statuses=["running"])
    with raises_sqlstate("CL400", "older_than_seconds"):
        owner.rpc("purge_jobs_v1", older_than_seconds=-1)


def test_dlq_retry_makes_one_new_job_however_often_it_is_called(owner: Caller) -> None:
    job_id, dead_id = _dead_letter(owner, payload={"p": 7}, priority=3)
    first = owner.one("dlq_retry_v1", dead_letter_id=dead_id)
    second = owner.one("dlq_retry_v1", dead_letter_id=dead_id)
    assert first["queued"] is True and second == {"job_id": first["job_id"], "queued": False}
    new = job(owner, first["job_id"])
    assert (new["payload"], new["priority"], new["status"], new["attempts"]) == ({"p": 7}, 3, "queued", 0)
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 2
    assert events(owner, job_id)[-1] == "retried"
    with raises_sqlstate("CL404", "dead letter"):
        owner.rpc("dlq_retry_v1", dead_letter_id=uuid.uuid4())


def test_dlq_list_pages_newest_first(owner: Caller) -> None:
    dead = [_dead_letter(owner)[1] for _ in range(5)]
    owner.rpc("dlq_retry_v1", dead_letter_id=dead[0])
    page = owner.value("dlq_list_v1", page_size=3)
    assert page["count"] == 3 and page["nextCursor"]
    rest = owner.value("dlq_list_v1", page_size=3, cursor=page["nextCursor"])
    assert rest["count"] == 2 and rest["nextCursor"] is None
    seen = [uuid.UUID(d["id"]) for d in page["items"] + rest["items"]]
    assert sorted(seen) == sorted(dead) and len(set(seen)) == 5
    open_only = owner.value("dlq_list_v1", include_retried=False)
    assert str(dead[0]) not in {d["id"] for d in open_only["items"]} and open_only["count"] == 4


def test_heartbeat_upserts_and_active_workers(owner: Caller) -> None:
    owner.rpc("worker_heartbeat_v1", worker_id="w1", executor_id="ex", status="busy", version="1.0",
              capacity=8, running=3, metadata={"host": "a"})
    owner.rpc("worker_heartbeat_v1", worker_id="w2", executor_id="ex", status="idle")
    row = owner.one("worker_heartbeat_v1", worker_id="w1", executor_id="ex", status="busy", running=4)
    assert (row["running"], row["capacity"]) == (4, 1)
    owner.sql("update collab.worker_heartbeats_v2 set last_seen_at = now() - interval '30 seconds'"
              " where worker_id = 'w2'")
    assert [w["worker_id"] for w in owner.rpc("workers_active_v1")] == ["w1"]
    assert {w["worker_id"] for w in owner.rpc("workers_active_v1", within_seconds=60)} == {"w1", "w2"}
    owner.rpc("worker_heartbeat_v1", worker_id="w1", executor_id="ex", status="stopped")
    assert owner.rpc("workers_active_v1") == []


@pytest.mark.parametrize(("args", "code", "message"), [
    ({"status": "Bad Status"}, "CL400", "status must be"),
    ({"capacity": -1}, "CL400", "capacity must be"),
    ({"metadata": [1]}, "CL400", "metadata must be a JSON object"),
    ({"worker_id": "w 1"}, "CL400", "worker_id must be"),
    ({"executor_id": "other"}, "CL409", "registered to another executor"),
])
def test_heartbeat_rejects_bad_input(owner: Caller, args: dict, code: str, message: str) -> None:
    owner.rpc("worker_heartbeat_v1", worker_id="w1", executor_id="ex")
    with raises_sqlstate(code, message):
        owner.rpc("worker_heartbeat_v1", **{"worker_id": "w1", "executor_id": "ex", **args})


def test_purge_also_deletes_the_jobs_events(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1")
    kept = assign(owner)
    assert owner.value("purge_jobs_v1") == 1
    rows = owner.sql("select distinct job_id from collab.job_events")
    assert [r["job_id"] for r in rows] == [kept]


def test_retry_settles_the_dead_letter_so_dlq_retry_makes_no_copy(owner: Caller) -> None:
    job_id, dead_id = _dead_letter(owner)
    owner.rpc("retry_job_v1", job_id=job_id)
    again = owner.one("dlq_retry_v1", dead_letter_id=dead_id)
    assert again == {"job_id": job_id, "queued": False}
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 1
