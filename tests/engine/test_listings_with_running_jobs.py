"""The listings read two parts since migration ``20261204000000`` (the listing indexes
leave running jobs out; ``jobs_running_idx`` holds them): every listing, for every
filter, must still answer exactly what one query over the whole table answers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from support import Caller

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


@pytest.fixture
def mixed(owner: Caller) -> Caller:
    """Two executors, every status, ties on priority and on created_at (a batch shares it)."""
    for ex in ("ex", "other"):
        owner.rpc("assign_jobs_v1", jobs=[{"type": f"t.{i % 2}", "executor_id": ex, "priority": i % 3}
                                          for i in range(60)])
        owner.sql("update collab.jobs set created_at = created_at - make_interval(secs => priority)"
                  " where executor_id = %s and priority = 2", (ex,))
        jobs = owner.rpc("claim_jobs_v1", executor_id=ex, worker_id="w1", max_jobs=40)
        for n, row in enumerate(jobs[:24]):
            if n % 3 == 0:
                owner.rpc("complete_job_v1", job_id=row["id"], worker_id="w1")
            elif n % 3 == 1:
                owner.rpc("fail_job_v1", job_id=row["id"], worker_id="w1", error="no", retryable=False)
            else:
                owner.rpc("cancel_job_v1", job_id=row["id"])
    counts = {r["status"] for r in owner.sql("select distinct status from collab.jobs")}
    assert counts == set(STATUSES)
    return owner


def _expected(owner: Caller, order: str, executor_id: str | None, statuses: list[str] | None,
              type: str | None) -> list[uuid.UUID]:
    rows = owner.sql(f"""select id from collab.jobs
                          where (%(ex)s::text is null or executor_id = %(ex)s)
                            and (%(st)s::text[] is null or status = any (%(st)s))
                            and (%(ty)s::text is null or type = %(ty)s)
                          order by {order}""", {"ex": executor_id, "st": statuses, "ty": type})
    return [r["id"] for r in rows]


FILTERS: list[dict[str, Any]] = [
    {}, {"executor_id": "ex"}, {"type": "t.1"}, {"executor_id": "ex", "type": "t.0"},
    *({"executor_id": "ex", "statuses": [s]} for s in STATUSES),
    {"statuses": ["running"]}, {"executor_id": "ex", "statuses": ["queued", "running"]},
    {"executor_id": "ex", "statuses": ["running", "failed", "cancelled"]}, {"statuses": ["succeeded", "queued"]},
]


@pytest.mark.parametrize("filters", [f for f in FILTERS if len(f.get("statuses", ())) <= 1])  # one status
def test_recent_pages_are_the_whole_tables_newest_first(mixed: Caller, filters: dict[str, Any]) -> None:
    statuses = filters.get("statuses")
    args = {k: v for k, v in filters.items() if k != "statuses"}
    if statuses:
        args["status"] = statuses[0]
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = mixed.value("jobs_recent_v1", page_size=7, cursor=cursor, **args)
        seen += [uuid.UUID(r["id"]) for r in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == _expected(mixed, "created_at desc, id desc", filters.get("executor_id"), statuses,
                             filters.get("type"))


@pytest.mark.parametrize("filters", FILTERS)
def test_priority_listings_are_the_whole_tables_in_queue_order(mixed: Caller, filters: dict[str, Any]) -> None:
    expected = _expected(mixed, "priority desc, created_at, id", filters.get("executor_id"),
                         filters.get("statuses"), filters.get("type"))
    assert [r["id"] for r in mixed.rpc("jobs_list_v1", page_size=1000, **filters)] == expected
    offsets = [r["id"] for o in range(0, len(expected), 9)
               for r in mixed.rpc("jobs_list_v1", page_size=9, page_offset=o, **filters)]
    assert offsets == expected
    keyset: list[uuid.UUID] = []
    after: dict[str, Any] = {}
    while rows := mixed.rpc("jobs_list_after_v1", page_size=9, **filters, **after):
        keyset += [r["id"] for r in rows]
        last = rows[-1]
        after = {"after_priority": last["priority"], "after_created_at": last["created_at"],
                 "after_id": last["id"]}
    assert keyset == expected


@pytest.mark.parametrize("statuses", [None, ["running"], ["queued", "running"], ["succeeded", "cancelled"]])
def test_a_bulk_selection_holds_running_jobs_too(mixed: Caller, statuses: list[str] | None) -> None:
    rows = mixed.sql("select id, status from collab._bulk_match('ex', null, %s, null)", (statuses,))
    matching = _expected(mixed, "id", "ex", statuses, None)
    assert sorted(r["id"] for r in rows) == matching
    picked = _expected(mixed, "id", "ex", ["running", "queued"], None)[::7]
    rows = mixed.sql("select id from collab._bulk_match('ex', %s, %s, null)", (picked, statuses))
    assert sorted(r["id"] for r in rows) == [i for i in picked if i in matching]


def test_the_all_executor_recent_listing_is_the_callers_executors(mixed: Caller, make_user: Any) -> None:
    """Under row-level security the executors are the caller's memberships; the service
    role (who bypasses it) gets every executor's jobs, as the owner does."""
    def all_pages(caller: Caller) -> list[uuid.UUID]:
        seen: list[uuid.UUID] = []
        cursor = None
        while True:
            page = caller.value("jobs_recent_v1", page_size=13, cursor=cursor)
            seen += [uuid.UUID(r["id"]) for r in page["items"]]
            if (cursor := page["nextCursor"]) is None:
                return seen
    member = make_user({"ex": "client"})
    assert all_pages(member) == _expected(mixed, "created_at desc, id desc", "ex", None, None)
    assert all_pages(make_user({})) == []
    everything = _expected(mixed, "created_at desc, id desc", None, None, None)
    assert all_pages(mixed) == everything
    service = Caller(mixed.url, role="service_role")
    try:
        assert all_pages(service) == everything
    finally:
        service.close()
