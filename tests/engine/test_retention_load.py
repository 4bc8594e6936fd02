"""The issue's retention scenario: purge a large share of the jobs (with their dead
letters, events and artifacts) while 8 claimers run and a retrier retries jobs and dead
letters. The purge finishes, no claim or retry waits longer than one batch took, only the
due rows go, and nothing is orphaned.

Size: ``COLLAB_PURGE_TEST_JOBS`` jobs (default 100,000, about 20 s; the issue's run is 1,000,000 —
``COLLAB_PURGE_TEST_JOBS=1000000``, by hand), 45 % of them due."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psycopg
import pytest

from support import Caller
from support.retention import orphan_events, orphans, seed_finished

JOBS = int(os.environ.get("COLLAB_PURGE_TEST_JOBS", "100000"))
DUE = JOBS * 45 // 100
QUEUED = 3000
CLAIMERS = 8
BATCH = 1000
#: What a wait may exceed the longest batch by and still count as "one batch": a claim's
#: own time and the scheduling noise of a shared 2-core machine.
SLACK = 0.5


class Timings:
    """The longest call per kind, and how many there were."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.worst: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.worst[kind] = max(self.worst.get(kind, 0.0), seconds)
            self.count[kind] = self.count.get(kind, 0) + 1


def _timed(timings: Timings, kind: str, call: Any) -> Any:
    started = time.monotonic()
    try:
        return call()
    finally:
        timings.add(kind, time.monotonic() - started)


def _claimer(url: str, i: int, stop: threading.Event, timings: Timings) -> None:
    caller = Caller(url)
    caller.conn.execute("set application_name = 'claimer'")
    try:
        while not stop.is_set():
            jobs = _timed(timings, "claim", lambda: caller.rpc(
                "claim_jobs_v2", executor_id="ex", worker_id=f"c{i}", lease_seconds=60, max_jobs=5))
            if not jobs:
                time.sleep(0.01)
                continue
            _timed(timings, "complete", lambda: caller.rpc(
                "complete_jobs_v1", worker_id=f"c{i}",
                completions=[{"job_id": str(j["id"]), "result": {"ok": True}} for j in jobs]))
    finally:
        caller.close()


def _retrier(url: str, targets: list[dict[str, Any]], stop: threading.Event, timings: Timings,
             retried: set[Any]) -> None:
    """Retry due failed jobs (or their dead letters) while the purge runs: each either
    wins (the job is queued again and must stay) or finds it purged (CL404)."""
    caller = Caller(url)
    caller.conn.execute("set application_name = 'retrier'")
    try:
        for n, target in enumerate(targets):
            if stop.is_set():
                return
            try:
                if n % 2:
                    _timed(timings, "retry", lambda: caller.rpc("retry_job_v1", job_id=target["job"]))
                    retried.add(target["job"])
                else:
                    answer = _timed(timings, "dlq_retry", lambda: caller.one(
                        "dlq_retry_v1", dead_letter_id=target["dead"]))
                    retried.add(answer["job_id"])
            except psycopg.Error as exc:
                assert exc.sqlstate == "CL404", exc  # purged first: not found
            time.sleep(0.005)
    finally:
        caller.close()


def _lock_watcher(url: str, stop: threading.Event, waits: dict[str, float]) -> None:
    """Sample pg_stat_activity every 20 ms: the longest stretch each kind of caller (the
    claimers, the retrier) was seen waiting for a lock that the purge's connection holds
    (``pg_blocking_pids``), by application name."""
    since: dict[int, tuple[str, float]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            now = time.monotonic()
            waiting = {pid: name for pid, name in conn.execute(
                "select a.pid, a.application_name from pg_stat_activity a"
                " where a.application_name in ('claimer', 'retrier') and a.wait_event_type = 'Lock'"
                "   and exists (select 1 from pg_stat_activity b where b.pid = any (pg_blocking_pids(a.pid))"
                "                 and b.application_name = 'purger')").fetchall()}
            for pid, name in waiting.items():
                since.setdefault(pid, (name, now))
            for pid in list(since):
                if pid not in waiting:
                    name, began = since.pop(pid)
                    waits[name] = max(waits.get(name, 0.0), now - began)
            time.sleep(0.02)
    for name, began in since.values():
        waits[name] = max(waits.get(name, 0.0), time.monotonic() - began)


@pytest.mark.slow
def test_purge_a_large_share_while_claimers_run(db_url: str, owner: Caller) -> None:
    seeded = seed_finished(owner.conn, due=DUE, kept=JOBS - DUE - QUEUED)
    owner.sql("insert into collab.jobs (type, executor_id) select 't.work', 'ex' from generate_series(1, %s)",
              (QUEUED,))
    owner.sql("update collab.job_dead_letters set retried_job_id = null where job_id in"
              " (select id from collab.jobs where payload->>'seed' = 'due' order by finished_at desc limit 400)")
    due_ids = {r["id"] for r in owner.sql("select id from collab.jobs where payload->>'seed' = 'due'")}
    kept_ids = {r["id"] for r in owner.sql("select id from collab.jobs where payload->>'seed' = 'kept'")}
    due_with_artifacts = {r["job_id"] for r in owner.sql(
        "select a.job_id from collab.artifacts a join collab.jobs j on j.id = a.job_id where j.payload->>'seed' = 'due'")}
    # Failed due jobs spread over the purge's order, whose dead letters point nowhere else.
    targets = owner.sql("select j.id as job, d.id as dead from collab.jobs j join collab.job_dead_letters d"
                        " on d.job_id = j.id where j.payload->>'seed' = 'due' and d.retried_job_id is null"
                        " order by j.finished_at desc limit 200")

    timings, stop, retried, lock_waits = Timings(), threading.Event(), set(), {}
    threads = [threading.Thread(target=_claimer, args=(db_url, i, stop, timings)) for i in range(CLAIMERS)]
    threads.append(threading.Thread(target=_retrier, args=(db_url, targets, stop, timings, retried)))
    threads.append(threading.Thread(target=_lock_watcher, args=(db_url, stop, lock_waits)))
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)  # the claimers are at work before the purge starts
        purger, cursor, purged, batches = Caller(db_url), None, 0, 0
        purger.conn.execute("set application_name = 'purger'")
        started = time.monotonic()
        while True:
            answer = _timed(timings, "batch", lambda: purger.value(
                "purge_jobs_batch_v1", older_than_seconds=3600, executor_id="ex",
                statuses=["succeeded", "failed", "cancelled"], batch_size=BATCH, cursor=cursor))
            purged, batches = purged + answer["purged"], batches + 1
            assert answer["purged"] <= BATCH
            if answer["done"]:
                break
            cursor = answer["cursor"]
        elapsed = time.monotonic() - started
        purger.close()
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(60)

    print(f"\npurged {purged} of {JOBS} jobs in {batches} batches, {elapsed:.1f} s ({purged / elapsed:,.0f} rows/s);"
          f" worst: " + ", ".join(f"{k} {v * 1000:.0f} ms (of {timings.count[k]})" for k, v in
                                  sorted(timings.worst.items()))
          + "; longest wait on the purge's locks: " + ", ".join(f"{k} {v * 1000:.0f} ms"
                                                              for k, v in sorted(lock_waits.items())))
    worst_batch = timings.worst["batch"]
    assert timings.count["claim"] > 100  # the claimers really ran beside the purge
    assert "claimer" not in lock_waits, lock_waits  # a claim never waits for the purge
    assert lock_waits.get("retrier", 0.0) <= worst_batch + 0.1, (lock_waits, worst_batch)
    for kind in ("claim", "complete", "retry", "dlq_retry"):
        assert timings.worst.get(kind, 0.0) <= worst_batch + SLACK, (kind, timings.worst)
    # Only the due rows went: every due job not retried meanwhile, and no other job.
    left = {r["id"] for r in owner.sql("select id from collab.jobs")}
    assert kept_ids <= left
    assert due_ids & left == due_ids & retried  # a due job survives only by being retried first
    assert purged == len(due_ids - retried)
    assert timings.count["complete"] > 10
    # Nothing orphaned; the deleted artifacts' objects are listed for removal.
    assert orphans(owner.conn) == {"events": 0, "artifacts": 0, "dead_job": 0, "dead_retried": 0,
                                   "live_listed": 0}, orphan_events(owner.conn)
    listed = owner.sql("select count(*) as n from collab.storage_deletions")[0]["n"]
    assert listed == len(due_with_artifacts - retried) > 0
    assert seeded.dead_letters == owner.sql("select count(*) as n from collab.job_dead_letters")[0]["n"]
