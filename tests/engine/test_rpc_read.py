"""Listings and reads: jobs_recent pagination, job/summary/events/artifacts, stats, metrics."""

from __future__ import annotations

import uuid

import pytest

from support import Caller, assign, claim, raises_sqlstate


def _jobs_with_shared_timestamps(owner: Caller, count: int, executor_id: str = "verify-demo") -> list[str]:
    """`count` jobs in groups of up to 4 sharing one created_at (ties for the cursor)."""
    ids = [str(assign(owner, executor_id=executor_id)) for _ in range(count)]
    owner.sql("update collab.jobs set created_at = '2026-01-01T00:00:00Z'::timestamptz"
              " + ((row_number - 1) / 4) * interval '1 second'"
              " from (select id as jid, row_number() over (order by id) from collab.jobs) r"
              " where id = r.jid")
    return ids


def test_paging_23_jobs_with_ties_sees_each_exactly_once(owner: Caller) -> None:
    ids = _jobs_with_shared_timestamps(owner, 23)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = owner.value("jobs_recent_v1", executor_id="verify-demo", page_size=5, cursor=cursor)
        assert page["count"] == len(page["items"]) <= 5
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == 23 and sorted(seen) == sorted(ids)
    created = [owner.sql("select created_at from collab.jobs where id = %s", (i,))[0]["created_at"] for i in seen]
    assert created == sorted(created, reverse=True)


def test_bare_iso_cursor_means_older_than_that_instant(owner: Caller) -> None:
    _jobs_with_shared_timestamps(owner, 8)  # two timestamps, 4 jobs each
    page = owner.value("jobs_recent_v1", cursor="2026-01-01T00:00:01Z")
    assert page["count"] == 4
    assert {item["created_at"][:19] for item in page["items"]} == {"2026-01-01T00:00:00"}


@pytest.mark.parametrize("cursor", ["null", "yesterday-ish", "2026-13-45T00:00:00Z~not-a-uuid"])
def test_bad_cursor_is_cl400(owner: Caller, cursor: str) -> None:
    with raises_sqlstate("CL400", "invalid cursor"):
        owner.rpc("jobs_recent_v1", cursor=cursor)


def test_jobs_recent_filters(owner: Caller) -> None:
    a = assign(owner, type="t.a", executor_id="e1")
    assign(owner, type="t.b", executor_id="e1")
    assign(owner, type="t.a", executor_id="e2")
    claim(owner, executor_id="e1")
    assert [i["id"] for i in owner.value("jobs_recent_v1", executor_id="e1", status="running")["items"]] == [str(a)]
    assert owner.value("jobs_recent_v1", type="t.a")["count"] == 2
    with raises_sqlstate("CL400", "status must be"):
        owner.rpc("jobs_recent_v1", status="pending")
    with raises_sqlstate("CL400", "page_size"):
        owner.rpc("jobs_recent_v1", page_size=0)


def test_get_job_summary_events_and_artifacts(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    owner.rpc("append_job_event_v1", job_id=job_id, worker_id="w1", payload={"pct": 10})
    owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={"ok": 1},
              artifacts=[{"name": "a.txt", "path": "ex/a.txt"}])
    assert owner.one("get_job_v1", job_id=job_id)["status"] == "succeeded"
    summary = owner.value("job_summary_v1", job_id=job_id)
    assert summary["job"]["id"] == str(job_id)
    assert [e["event_type"] for e in summary["events"]] == ["queued", "claimed", "progress", "succeeded"]
    assert [a["name"] for a in summary["artifacts"]] == ["a.txt"]
    all_events = owner.rpc("events_by_job_v1", job_id=job_id)
    after = owner.rpc("events_by_job_v1", job_id=job_id, after_seq=all_events[1]["seq"])
    assert [e["event_type"] for e in after] == ["progress", "succeeded"]
    assert len(owner.rpc("events_by_job_v1", job_id=job_id, page_size=1)) == 1


@pytest.mark.parametrize("fn", ["get_job_v1", "job_summary_v1", "events_by_job_v1", "artifacts_by_job_v1"])
def test_reads_of_an_unknown_job_are_cl404(owner: Caller, fn: str) -> None:
    with raises_sqlstate("CL404", "not found"):
        owner.rpc(fn, job_id=uuid.uuid4())


def test_stats_counts_by_status_with_seed_names(owner: Caller) -> None:
    for _ in range(3):
        assign(owner)
    claim(owner)
    done = claim(owner)["id"]
    owner.rpc("complete_job_v1", job_id=done, worker_id="w1")
    stats = owner.value("stats_v1")
    assert stats == {"queued": 1, "running": 1, "succeeded": 1, "failed": 0, "cancelled": 0, "total": 3,
                     "pending": 1, "claimed": 1, "completed": 1}
    assert owner.value("stats_v1", executor_id="nobody")["total"] == 0


def test_metrics_overview(owner: Caller) -> None:
    for t in ("t.a", "t.a", "t.b"):
        assign(owner, type=t)
    for _ in range(2):
        j = claim(owner)
        owner.rpc("complete_job_v1", job_id=j["id"], worker_id="w1")
    j = claim(owner)
    owner.rpc("fail_job_v1", job_id=j["id"], worker_id="w1", error="x", retryable=False)
    owner.rpc("worker_heartbeat_v1", worker_id="w1", executor_id="ex")
    m = owner.value("metrics_overview_v1")
    assert m["byStatus"]["succeeded"] == 2 and m["byStatus"]["failed"] == 1
    assert m["byType"] == {"t.a": {"succeeded": 2}, "t.b": {"failed": 1}}
    assert m["finished"] == {"last1m": 3, "last5m": 3, "last60m": 3}
    assert m["dlq"] == {"size": 1, "total": 1} and m["activeWorkers"] == 1
    assert m["queueWaitMs"]["p50"] >= 0 and m["runTimeMs"]["p95"] >= m["runTimeMs"]["p50"] >= 0


def test_metrics_by_executor_counts_each_executor_apart(owner: Caller) -> None:
    assert owner.value("metrics_by_executor_v1")["jobs"] == []
    for executor, n in (("ex-a", 3), ("ex-b", 1)):
        for _ in range(n):
            assign(owner, type="t.a", executor_id=executor)
    assign(owner, type="t.b", executor_id="ex-b")
    j = claim(owner, executor_id="ex-a")
    owner.rpc("fail_job_v1", job_id=j["id"], worker_id="w1", error="x", retryable=False)
    owner.rpc("worker_heartbeat_v1", worker_id="w2", executor_id="ex-b")
    m = owner.value("metrics_by_executor_v1")
    assert m["jobs"] == [
        {"executorId": "ex-a", "type": "t.a", "state": "failed", "count": 1},
        {"executorId": "ex-a", "type": "t.a", "state": "queued", "count": 2},
        {"executorId": "ex-b", "type": "t.a", "state": "queued", "count": 1},
        {"executorId": "ex-b", "type": "t.b", "state": "queued", "count": 1}]
    assert m["deadLetters"] == {"ex-a": 1} and m["activeWorkers"] == {"ex-b": 1}
    assert m["generatedAt"]
