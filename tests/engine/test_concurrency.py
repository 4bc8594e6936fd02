"""Concurrency on a real Postgres: many workers on separate connections at once."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from support import Caller, assign, claim, in_threads, rpc_query, waiting_listener, waiting_sessions

pytestmark = pytest.mark.slow


def _run_threads(count: int, target: Callable[[int, psycopg.Connection], Any], url: str) -> list[Any]:
    """Run ``target(i, conn)`` in ``count`` threads, each with its own connection opened
    before they are released together; their results (the first error re-raised)."""
    connections = [psycopg.connect(url, autocommit=True, row_factory=dict_row) for _ in range(count)]
    try:
        return in_threads(count, lambda i: target(i, connections[i]))
    finally:
        for conn in connections:
            conn.close()


def _call(conn: psycopg.Connection, fn: str, **args: Any) -> list[dict[str, Any]]:
    query, params = rpc_query(conn, fn, args)
    return conn.execute(query, params).fetchall()


def test_eight_workers_drain_2000_jobs_exactly_once(owner: Caller, db_url: str) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t.n", "executor_id": "ex", "payload": {"i": i}}
                                      for i in range(2000)])

    def worker(i: int, conn: psycopg.Connection) -> list[uuid.UUID]:
        done = []
        batch = 1 if i % 2 == 0 else 7  # half claim one at a time, half in batches
        while True:
            jobs = _call(conn, "claim_jobs_v1", executor_id="ex", worker_id=f"w{i}", lease_seconds=300,
                         max_jobs=batch)
            if not jobs:
                return done
            for job in jobs:
                _call(conn, "complete_job_v1", job_id=job["id"], worker_id=f"w{i}", result={"by": i})
                done.append(job["id"])

    per_worker = _run_threads(8, worker, db_url)
    completed = Counter(job_id for done in per_worker for job_id in done)
    assert len(completed) == 2000 and set(completed.values()) == {1}
    assert sum(1 for done in per_worker if done) >= 4  # the work really was shared
    stats = owner.value("stats_v1")
    assert (stats["succeeded"], stats["total"]) == (2000, 2000)
    claims = owner.sql("select job_id, count(*) filter (where event_type = 'claimed') as c,"
                       " count(*) filter (where event_type = 'succeeded') as s"
                       " from collab.job_events group by job_id having count(*) <> 3"
                       " or count(*) filter (where event_type = 'claimed') <> 1")
    assert claims == []  # never claimed twice, never held by two workers
    results = owner.sql("select result ->> 'by' as by, lease_owner from collab.jobs")
    assert all(r["lease_owner"] == f"w{r['by']}" for r in results)


def test_eight_workers_completing_and_claiming_in_one_call_drain_exactly_once(owner: Caller, db_url: str) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t.n", "executor_id": "ex"} for _ in range(1000)])

    def worker(i: int, conn: psycopg.Connection) -> list[uuid.UUID]:
        done: list[uuid.UUID] = []
        rows = _call(conn, "claim_one_job_v3", executor_id="ex", worker_id=f"w{i}", lease_seconds=300)
        while rows:
            done.append(rows[0]["id"])
            rows = _call(conn, "complete_and_claim_v1", job_id=rows[0]["id"], worker_id=f"w{i}",
                         executor_id="ex", result={"by": i}, lease_seconds=300)
        return done

    per_worker = _run_threads(8, worker, db_url)
    completed = Counter(job_id for done in per_worker for job_id in done)
    assert len(completed) == 1000 and set(completed.values()) == {1}
    assert owner.value("stats_v1")["succeeded"] == 1000
    assert owner.sql("select job_id from collab.job_events group by job_id"
                     " having count(*) filter (where event_type = 'claimed') <> 1"
                     " or count(*) filter (where event_type = 'succeeded') <> 1") == []


def test_sixteen_concurrent_assigns_with_one_key_make_one_job(owner: Caller, db_url: str) -> None:
    def assign_once(i: int, conn: psycopg.Connection) -> dict[str, Any]:
        return _call(conn, "assign_job_v1", type="t.k", executor_id="ex", payload={"same": True},
                     idempotency_key="race")[0]

    results = _run_threads(16, assign_once, db_url)
    assert len({r["job_id"] for r in results}) == 1
    assert sum(r["queued"] for r in results) == 1
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 1
    assert owner.sql("select count(*) as n from collab.job_events")[0]["n"] == 1


def test_concurrent_dlq_retries_make_one_job(owner: Caller, db_url: str) -> None:
    job_id = assign(owner, max_attempts=1)
    claim(owner)
    owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error="x")
    dead_id = owner.sql("select id from collab.job_dead_letters")[0]["id"]

    def retry(i: int, conn: psycopg.Connection) -> dict[str, Any]:
        return _call(conn, "dlq_retry_v1", dead_letter_id=dead_id)[0]

    results = _run_threads(8, retry, db_url)
    assert len({r["job_id"] for r in results}) == 1 and sum(r["queued"] for r in results) == 1
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 2


def test_racing_reclaim_of_an_expired_lease_has_one_winner(owner: Caller, db_url: str) -> None:
    job_id = assign(owner, max_attempts=5)
    claim(owner, worker_id="crashed")
    owner.sql("update collab.jobs set next_run_at = now() - interval '1 second' where id = %s", (job_id,))

    def reclaim(i: int, conn: psycopg.Connection) -> list[dict[str, Any]]:
        return _call(conn, "claim_one_job_v3", executor_id="ex", worker_id=f"r{i}", lease_seconds=60)

    winners = [rows[0]["lease_owner"] for rows in _run_threads(8, reclaim, db_url) if rows]
    assert len(winners) == 1
    assert owner.sql("select attempts, lease_owner from collab.jobs") == [{"attempts": 2, "lease_owner": winners[0]}]


def test_one_wakeup_per_statement_not_per_row(owner: Caller, db_url: str) -> None:
    with waiting_listener(db_url, "ex", "other", "future") as listener:
        owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex"} for _ in range(10_000)])
        assign(owner, executor_id="other")
        later = owner.sql("select now() + interval '1 hour' as t")[0]["t"]
        assign(owner, executor_id="future", run_at=later)  # not claimable yet: no wake-up
        got = [n.payload for n in listener.notifies(timeout=1.0)]
    assert got == ["ex", "other"]


def test_wakeup_when_a_job_becomes_claimable_again(owner: Caller, db_url: str) -> None:
    job_id = assign(owner, max_attempts=1)
    claim(owner)
    owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error="x")
    with waiting_listener(db_url, "ex") as listener:
        owner.rpc("retry_job_v1", job_id=job_id)
        assert [n.payload for n in listener.notifies(timeout=1.0)] == ["ex"]


def test_many_executors_in_one_statement_send_one_star(owner: Caller, db_url: str) -> None:
    with waiting_listener(db_url) as listener:  # '*' goes out whoever waits
        owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": f"ex{i}"} for i in range(20)])
        assert [n.payload for n in listener.notifies(timeout=1.0)] == ["*"]


def test_wakeups_go_only_to_executors_a_session_waits_for(owner: Caller, db_url: str) -> None:
    """NOTIFY collab_jobs only while some session waits for the executor
    (wait_for_jobs_v1), and no more once it stops or disconnects; waiting twice is
    waiting once."""
    with waiting_listener(db_url, "ex", "ex") as listener, psycopg.connect(db_url, autocommit=True) as other:
        other.execute("select collab.wait_for_jobs_v1('gone')")
        other.close()  # its session's end releases its wait
        assign(owner, executor_id="ex")
        assign(owner, executor_id="idle")  # nobody waits: no NOTIFY
        assign(owner, executor_id="gone")
        assert [n.payload for n in listener.notifies(timeout=0.5)] == ["ex"]
        listener.execute("select collab.stop_waiting_for_jobs_v1('ex')")
        listener.execute("select collab.stop_waiting_for_jobs_v1('never')")  # a no-op
        assign(owner, executor_id="ex")
        assert [n.payload for n in listener.notifies(timeout=0.5)] == []
        assert listener.execute("select collab.wait_for_jobs_v1('ex')").fetchone() == (True,)
        assign(owner, executor_id="ex")
        assert [n.payload for n in listener.notifies(timeout=0.5)] == ["ex"]
    assert waiting_sessions(db_url) == 0  # nothing held any more


def test_waiting_answers_false_while_a_writer_that_skipped_its_wakeup_is_uncommitted(
        owner: Caller, db_url: str) -> None:
    """A writer made a job claimable while nobody waited (no NOTIFY) and has not
    committed: a worker starting to wait is told to claim again later, not to sleep.
    A writer after the wait notifies; once the first commits, waiting is settled."""
    with psycopg.connect(db_url) as early, waiting_listener(db_url) as listener:
        early.execute("select collab.assign_job_v1(type => 't', executor_id => 'ex')")
        assert listener.execute("select collab.wait_for_jobs_v1('ex')").fetchone() == (False,)
        assert listener.execute("select collab.wait_for_jobs_v1('x2')").fetchone() == (True,)  # other executor
        assign(owner, executor_id="ex")  # after the wait: notified
        assert [n.payload for n in listener.notifies(timeout=0.5)] == ["ex"]
        early.commit()
        assert listener.execute("select collab.wait_for_jobs_v1('ex')").fetchone() == (True,)


def test_wait_for_jobs_needs_an_executor(owner: Caller, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for bad in (None, ""):
            with pytest.raises(psycopg.Error) as caught:
                conn.execute("select collab.wait_for_jobs_v1(%s)", (bad,))
            assert caught.value.sqlstate == "CL400"


def test_no_wakeup_is_lost_around_a_wait(owner: Caller, db_url: str) -> None:
    """A worker's protocol against a writer racing it, 1,000 hand-offs: claim, find
    nothing, wait; not settled: claim again; settled: claim once more, then sleep until
    a NOTIFY. The writer commits a job 0-0.5 ms after the last was claimed and waits for
    it to be claimed: a job that is neither found by a claim nor announced leaves the
    waiter asleep (a 3 s timeout here). Dropping the claim after a settled wait makes some
    runs fail."""
    claimed = threading.Semaphore(0)

    def writer() -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            for n in range(1000):
                time.sleep(random.random() / 2000)
                conn.execute("select collab.assign_job_v1(type => 't', executor_id => 'race')")
                assert claimed.acquire(timeout=10), f"job {n} was never claimed"

    def claim_one(conn: psycopg.Connection) -> bool:
        got = _call(conn, "claim_jobs_v1", executor_id="race", worker_id="w", max_jobs=1)
        if got:
            claimed.release()
        return bool(got)

    def waiter(conn: psycopg.Connection) -> None:
        for _ in range(1000):
            conn.execute("select collab.stop_waiting_for_jobs_v1('race')")  # busy with a job
            while not claim_one(conn):
                list(conn.notifies(timeout=0))  # stale ones would hide a lost wake-up
                if conn.execute("select collab.wait_for_jobs_v1('race')").fetchone() != (True,):
                    continue  # a writer in flight: claim again
                if claim_one(conn):
                    break
                assert list(conn.notifies(timeout=3.0, stop_after=1)), "slept past a job"

    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("listen collab_jobs")
        in_threads(2, lambda i: waiter(conn) if i == 0 else writer())
    assert owner.sql("select count(*) as n from collab.jobs where executor_id = 'race'"
                     " and status = 'running'") == [{"n": 1000}]
