"""``jobs_bulk_v1`` (retry / cancel / delete of a selection or of a filter, one statement,
refusals counted) and ``jobs_list_after_v1`` (keyset paging in jobs_list_v1's order)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from support import Caller, assign, claim, in_threads, job, raises_sqlstate


def finish(owner: Caller, n: int, outcome: str, executor_id: str = "ex") -> list[uuid.UUID]:
    """Claim ``n`` jobs and complete (``ok``) or fail them for good (``fail``)."""
    ids = []
    for _ in range(n):
        row = claim(owner, executor_id=executor_id)
        assert row is not None
        if outcome == "ok":
            owner.rpc("complete_job_v1", job_id=row["id"], worker_id="w1", result={})
        else:
            owner.rpc("fail_job_v1", job_id=row["id"], worker_id="w1", error="no", retryable=False)
        ids.append(row["id"])
    return ids


def statuses(owner: Caller, executor_id: str = "ex") -> dict[str, int]:
    rows = owner.sql("select status, count(*) as n from collab.jobs where executor_id = %s group by 1",
                     (executor_id,))
    return {r["status"]: r["n"] for r in rows}


def test_retry_of_a_filter_retries_what_it_may_and_counts_the_rest(owner: Caller) -> None:
    for _ in range(7):
        assign(owner)
    failed = finish(owner, 3, "fail")
    finish(owner, 2, "ok")
    claim(owner)  # one running, one queued left
    answer = owner.value("jobs_bulk_v1", action="retry", executor_id="ex")
    assert answer == {"action": "retry", "matched": 7, "done": 5, "refused": 2,
                      "refusedByStatus": {"queued": 1, "running": 1}, "notFound": 0}
    assert statuses(owner) == {"queued": 6, "running": 1}
    assert job(owner, failed[0])["attempts"] == 0
    # Their dead letters are settled, as retry_job_v1 settles one.
    assert owner.sql("select count(*) as n from collab.job_dead_letters where retried_at is null")[0]["n"] == 0
    events = owner.sql("select count(*) as n from collab.job_events where event_type = 'retried'")
    assert events[0]["n"] == 5


def test_cancel_and_delete_of_a_selection_and_of_a_type(owner: Caller) -> None:
    ids = [assign(owner, "t.a") for _ in range(3)] + [assign(owner, "t.b") for _ in range(2)]
    running = claim(owner)
    assert running is not None
    stranger = uuid.uuid4()
    answer = owner.value("jobs_bulk_v1", action="cancel", executor_id="ex",
                         job_ids=[ids[1], ids[2], stranger], reason="not needed")
    assert (answer["done"], answer["refused"], answer["notFound"]) == (2, 0, 1)
    assert job(owner, ids[1])["last_error"] == "not needed"
    answer = owner.value("jobs_bulk_v1", action="delete", executor_id="ex", type="t.a")
    # The running t.a job (the oldest, claimed first) is refused; the two cancelled go.
    assert (answer["done"], answer["refused"], answer["refusedByStatus"]) == (2, 1, {"running": 1})
    assert owner.sql("select count(*) as n from collab.job_events where job_id = %s", (ids[1],))[0]["n"] == 0
    answer = owner.value("jobs_bulk_v1", action="cancel", executor_id="ex", statuses=["queued", "running"])
    assert answer["done"] == 3 and statuses(owner) == {"cancelled": 3}
    nothing = owner.value("jobs_bulk_v1", action="retry", executor_id="other")
    assert nothing["matched"] == 0 and nothing["done"] == 0


def test_bulk_checks_membership_and_input(owner: Caller, make_user: Any) -> None:
    assign(owner, executor_id="a")
    assign(owner, executor_id="b")
    user = make_user({"a": "client"})
    assert user.value("jobs_bulk_v1", action="cancel", executor_id="a")["done"] == 1
    with raises_sqlstate("CL403"):
        user.value("jobs_bulk_v1", action="cancel", executor_id="b")
    assert statuses(owner, "b") == {"queued": 1}
    with raises_sqlstate("CL400", "action"):
        owner.value("jobs_bulk_v1", action="explode", executor_id="a")
    with raises_sqlstate("CL400", "statuses"):
        owner.value("jobs_bulk_v1", action="retry", executor_id="a", statuses=["done"])


def test_a_bulk_cancel_racing_workers_never_cancels_a_finished_job(db_url: str, owner: Caller) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex"} for _ in range(300)])

    def act(i: int) -> Any:
        """Thread 0 cancels everything once; three workers drain meanwhile."""
        with psycopg.connect(db_url, autocommit=True) as conn:
            if i == 0:
                return conn.execute("select collab.jobs_bulk_v1(action => 'cancel', executor_id => 'ex')").fetchone()[0]
            finished = 0
            while rows := conn.execute("select id from collab.claim_jobs_v2(executor_id => 'ex', worker_id => %s,"
                                       " max_jobs => 5)", (f"w{i}",)).fetchall():
                for (job_id,) in rows:
                    try:
                        conn.execute("select 1 from collab.complete_job_v1(job_id => %s, worker_id => %s)",
                                     (job_id, f"w{i}"))
                        finished += 1
                    except psycopg.Error as exc:  # cancelled under the worker: its lease is gone
                        assert exc.sqlstate == "CL410"
            return finished

    cancelled, *finished = in_threads(4, act)
    assert statuses(owner) == {k: v for k, v in (("succeeded", sum(finished)), ("cancelled", cancelled["done"]))
                               if v}
    assert cancelled["done"] + sum(finished) == 300
    assert cancelled["matched"] == cancelled["done"] + cancelled["refused"]


def page_ids(caller: Caller, size: int, **filters: Any) -> list[list[uuid.UUID]]:
    """Every page of jobs_list_after_v1, following the last row of each."""
    pages: list[list[uuid.UUID]] = []
    after: dict[str, Any] = {}
    while True:
        rows = caller.rpc("jobs_list_after_v1", page_size=size, **filters, **after)
        if rows:
            pages.append([r["id"] for r in rows])
        if len(rows) < size:
            return pages
        last = rows[-1]
        after = {"after_priority": last["priority"], "after_created_at": last["created_at"],
                 "after_id": last["id"]}


def test_keyset_pages_cover_the_offset_order_exactly(owner: Caller, make_user: Any) -> None:
    # Ties on priority and on created_at (one batch shares its created_at).
    owner.rpc("assign_jobs_v1", jobs=[{"type": f"t.{i % 2}", "executor_id": "ex", "priority": i % 3}
                                      for i in range(37)])
    for i in range(8):
        assign(owner, "t.0", priority=i % 2)
    finish(owner, 4, "ok")
    finish(owner, 3, "fail")
    assign(owner, executor_id="other")
    member = make_user({"ex": "client"})
    for filters in ({}, {"statuses": ["queued"]}, {"statuses": ["failed", "succeeded"]}, {"type": "t.1"}):
        everything = [r["id"] for r in member.rpc("jobs_list_v1", executor_id="ex", page_size=1000, **filters)]
        pages = page_ids(member, 7, executor_id="ex", **filters)
        assert [i for p in pages for i in p] == everything, filters
        assert all(len(p) == 7 for p in pages[:-1])
    assert len([i for p in page_ids(member, 10) for i in p]) == 45  # RLS: not the other executor's
    with raises_sqlstate("CL400", "together"):
        owner.rpc("jobs_list_after_v1", after_priority=1)


def test_a_deep_keyset_page_is_the_offset_page(owner: Caller) -> None:
    owner.sql("""insert into collab.jobs (type, executor_id, priority, created_at)
                 select 't', 'ex', g % 2, now() - make_interval(secs => g / 3) from generate_series(1, 20000) g""")
    last = owner.sql("select priority, created_at, id from collab.jobs order by priority desc, created_at, id"
                     " offset 15000 limit 1")[0]
    rows = owner.rpc("jobs_list_after_v1", executor_id="ex", statuses=["queued"], page_size=50,
                     after_priority=last["priority"], after_created_at=last["created_at"], after_id=last["id"])
    expected = owner.sql("select id from collab.jobs order by priority desc, created_at, id offset 15001 limit 50")
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
