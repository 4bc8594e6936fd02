"""The kept job counts (migration 20261201053000): ``stats_v1``/``stats_v2``,
``throughput_v1`` and the overview's counts always equal a ``count(*)`` of the table,
after every kind of transition, under concurrent workers and folds, and through RLS."""

from __future__ import annotations

import random
import uuid
from typing import Any

import psycopg

from support import Caller, add_members, assign, claim, expire_lease, in_threads

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
# What the kept counts must equal: the table counted directly, by (executor, type, status).
TRUTH = "select executor_id, type, status, count(*) as n from collab.jobs group by 1, 2, 3"
KEPT = """select executor_id, type, status, sum(n) as n from collab_private._job_counts()
          group by 1, 2, 3 having sum(n) <> 0"""
# Finished jobs by minute, as the throughput buckets hold them.
TRUTH_MINUTES = """select executor_id, status, date_bin('1 minute', finished_at, timestamptz 'epoch') as minute,
                          count(*) as n from collab.jobs
                    where status in ('succeeded', 'failed') and finished_at > now() - interval '2 hours'
                    group by 1, 2, 3"""
KEPT_MINUTES = """select executor_id, status, minute, sum(n) as n from collab_private._job_counts()
                   where status in ('succeeded', 'failed') and minute > now() - interval '2 hours'
                   group by 1, 2, 3 having sum(n) <> 0"""


def as_set(rows: list[dict[str, Any]], *keys: str) -> set[tuple[Any, ...]]:
    return {tuple(r[k] for k in (*keys, "n")) for r in rows}


def assert_exact(owner: Caller) -> None:
    """Kept counts == count(*), by executor, type and status, and by finish minute."""
    assert as_set(owner.sql(KEPT), "executor_id", "type", "status") == \
        as_set(owner.sql(TRUTH), "executor_id", "type", "status")
    assert as_set(owner.sql(KEPT_MINUTES), "executor_id", "status", "minute") == \
        as_set(owner.sql(TRUTH_MINUTES), "executor_id", "status", "minute")
    for ex in {r["executor_id"] for r in owner.sql(TRUTH)}:
        stats = owner.value("stats_v1", executor_id=ex)
        for status in STATUSES:
            truth = owner.sql("select count(*) as n from collab.jobs where executor_id = %s and status = %s",
                              (ex, status))[0]["n"]
            assert stats[status] == truth, (ex, status, stats)
        assert stats["total"] == sum(stats[s] for s in STATUSES)


def fold(owner: Caller) -> int:
    return owner.sql("select collab._fold_job_counts() as moved")[0]["moved"]


def test_every_kind_of_transition_keeps_the_counts_exact(owner: Caller) -> None:
    assert_exact(owner)
    ids = [assign(owner, "t.a", "ex") for _ in range(6)] + [assign(owner, "t.b", "ex2")]
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t.c", "executor_id": "ex"} for _ in range(5)])
    assert_exact(owner)  # enqueue, one and a batch
    done = claim(owner)
    assert done is not None
    assert_exact(owner)  # claim
    owner.rpc("complete_job_v1", job_id=done["id"], worker_id="w1", result={})
    assert_exact(owner)  # complete
    failing = claim(owner)
    assert failing is not None
    owner.rpc("fail_job_v1", job_id=failing["id"], worker_id="w1", error="once", retry_delay_seconds=0)
    assert_exact(owner)  # fail with a retry (running -> queued)
    dead = owner.one("assign_job_v1", type="t.d", executor_id="ex", max_attempts=1)["job_id"]
    owner.sql("update collab.jobs set priority = 100 where id = %s", (dead,))
    row = claim(owner)
    assert row is not None and row["id"] == dead
    owner.rpc("fail_job_v1", job_id=dead, worker_id="w1", error="fatal")
    assert_exact(owner)  # fail for good: the DLQ
    dlq = owner.sql("select id from collab.job_dead_letters where job_id = %s", (dead,))[0]["id"]
    owner.rpc("dlq_retry_v1", dead_letter_id=dlq)
    assert_exact(owner)  # a dead letter's new job
    owner.rpc("retry_job_v1", job_id=done["id"])
    assert_exact(owner)  # retry of a succeeded job
    owner.rpc("cancel_job_v1", job_id=ids[3], reason="no")
    assert_exact(owner)  # cancel
    leased = claim(owner, lease_seconds=60)
    assert leased is not None
    expire_lease(owner, leased["id"])
    owner.rpc("claim_jobs_v2", executor_id="ex", worker_id="w2", max_jobs=5, alone=True)
    assert_exact(owner)  # reclaim of an expired lease (and claims beside it)
    leased2 = claim(owner, executor_id="ex2")
    assert leased2 is not None
    owner.sql("update collab.jobs set max_attempts = attempts where id = %s", (leased2["id"],))
    expire_lease(owner, leased2["id"])
    owner.rpc("claim_jobs_v2", executor_id="ex2", worker_id="w3", max_jobs=1)
    assert_exact(owner)  # an expired lease at max_attempts: dead-lettered by the claim
    owner.rpc("delete_job_v1", job_id=ids[3])  # the cancelled one
    assert_exact(owner)  # delete
    assert fold(owner) > 0
    assert owner.sql("select count(*) as n from collab.job_count_deltas")[0]["n"] == 0
    assert_exact(owner)  # after a fold
    for j in owner.sql("select id from collab.jobs where status = 'running'"):
        owner.rpc("complete_job_v1", job_id=j["id"], worker_id=claim_owner(owner, j["id"]), result={})
    assert owner.value("purge_jobs_v1", executor_id="ex") > 0
    assert_exact(owner)  # purge
    owner.value("jobs_bulk_v1", action="delete", executor_id="ex")
    assert_exact(owner)  # a bulk delete
    owner.sql("truncate collab.jobs cascade")
    assert_exact(owner)
    assert owner.sql("select count(*) as n from collab.job_counts")[0]["n"] == 0


def claim_owner(owner: Caller, job_id: uuid.UUID) -> str:
    return owner.sql("select lease_owner from collab.jobs where id = %s", (job_id,))[0]["lease_owner"]


def test_a_lease_extension_adds_no_delta(owner: Caller) -> None:
    assign(owner)
    row = claim(owner)
    assert row is not None
    fold(owner)
    owner.rpc("extend_lease_v1", job_id=row["id"], worker_id="w1", lease_seconds=120)
    assert owner.sql("select count(*) as n from collab.job_count_deltas")[0]["n"] == 0
    assert_exact(owner)


def test_concurrent_workers_and_folds_keep_the_counts_exact(db_url: str, owner: Caller) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": f"t.{i % 3}", "executor_id": f"ex{i % 2}", "max_attempts": 2}
                                      for i in range(1200)])

    def work(i: int) -> int:
        """Eight workers claim, complete, fail and cancel; two threads fold meanwhile."""
        rng = random.Random(i)
        moves = 0
        with psycopg.connect(db_url, autocommit=True) as conn:
            if i >= 8:
                for _ in range(200):
                    conn.execute("select collab._fold_job_counts()")
                return 0
            for _ in range(400):
                rows = conn.execute("select id from collab.claim_jobs_v2(executor_id => %s, worker_id => %s,"
                                    " lease_seconds => 60, max_jobs => 3)", (f"ex{i % 2}", f"w{i}")).fetchall()
                if not rows:
                    break
                for (job_id,) in rows:
                    pick = rng.random()
                    if pick < 0.6:
                        conn.execute("select 1 from collab.complete_job_v1(job_id => %s, worker_id => %s)",
                                     (job_id, f"w{i}"))
                    elif pick < 0.9:
                        conn.execute("select 1 from collab.fail_job_v1(job_id => %s, worker_id => %s,"
                                     " error => 'x', retry_delay_seconds => 0)", (job_id, f"w{i}"))
                    else:
                        conn.execute("select 1 from collab.cancel_job_v1(job_id => %s)", (job_id,))
                    moves += 1
        return moves

    moves = in_threads(10, work)
    assert sum(moves) >= 1200
    assert owner.sql("select count(*) as n from collab.jobs where status in ('queued', 'running')")[0]["n"] == 0
    assert_exact(owner)
    fold(owner)
    assert_exact(owner)


def test_a_repeatable_read_writer_never_folds(owner: Caller, db_url: str) -> None:
    assign(owner)
    with psycopg.connect(db_url) as conn:
        conn.execute("set transaction isolation level repeatable read")
        assert conn.execute("select collab._fold_job_counts()").fetchone() == (0,)
    assert fold(owner) == 1


def test_members_see_only_their_executors_counts(owner: Caller, make_user: Any) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": ex} for ex in ("a", "a", "b")])
    fold(owner)
    assign(owner, "t", "b")  # one delta not folded yet
    user = make_user({"a": "client"})
    assert user.value("stats_v1", executor_id="a")["queued"] == 2
    assert user.value("stats_v1", executor_id="b")["total"] == 0
    assert user.value("stats_v2")["total"] == 2
    assert owner.value("stats_v2")["total"] == 4
    assert user.value("metrics_overview_v1")["byType"] == {"t": {"queued": 2}}


def test_stats_by_type_and_throughput_by_minute(owner: Caller) -> None:
    for t in ("t.x", "t.x", "t.y"):
        assign(owner, t)
    for outcome in ("ok", "ok", "fail"):
        row = claim(owner)
        assert row is not None
        if outcome == "ok":
            owner.rpc("complete_job_v1", job_id=row["id"], worker_id="w1", result={})
        else:
            owner.rpc("fail_job_v1", job_id=row["id"], worker_id="w1", error="no", retryable=False)
    assert owner.value("stats_v2", executor_id="ex", type="t.x")["total"] == 2
    minutes = owner.rpc("throughput_v1", executor_id="ex", minutes=60)
    assert len(minutes) == 60
    assert [m["minute"] for m in minutes] == sorted(m["minute"] for m in minutes)
    assert (sum(m["succeeded"] for m in minutes), sum(m["failed"] for m in minutes)) == (2, 1)
    now_minute = owner.sql("select date_bin('1 minute', now(), timestamptz 'epoch') as m")[0]["m"]
    assert minutes[-1]["minute"] == now_minute
    overview = owner.value("metrics_overview_v1", executor_id="ex")
    assert overview["finished"]["last60m"] == 3 and overview["byStatus"]["succeeded"] == 2
    # Minutes older than the window roll into '-infinity' on a fold; the totals stay.
    owner.sql("update collab.jobs set finished_at = now() - interval '5 hours' where status = 'succeeded'")
    fold(owner)
    assert owner.sql("select count(*) as n from collab.job_counts where minute > '-infinity'"
                     " and minute < now() - interval '3 hours'")[0]["n"] == 0
    assert sum(m["succeeded"] for m in owner.rpc("throughput_v1", executor_id="ex")) == 0
    assert_exact(owner)
