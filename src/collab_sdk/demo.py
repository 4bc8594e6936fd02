"""``collab demo``: the queue end to end on a real Postgres, in a few seconds.

Enqueues jobs of three kinds, runs a minimal worker loop over the RPCs (claim in
batches, complete or fail), and prints each job's event log: ``demo.ok`` succeeds,
``demo.flaky`` fails once and is retried, ``demo.doomed`` fails permanently and lands
in the dead-letter queue.
"""

from __future__ import annotations

import time
import uuid

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

__all__ = ["run_demo"]

_KINDS = ("demo.ok", "demo.flaky", "demo.doomed")


def _enqueue(conn: psycopg.Connection, executor: str, count: int) -> None:
    jobs = [{"type": _KINDS[i % 3], "executor_id": executor, "payload": {"n": i}} for i in range(count)]
    conn.execute("select * from collab.assign_jobs_v1(jobs => %s)", (Jsonb(jobs),))
    print(f"enqueued {count} jobs on executor {executor}")


def _handle(conn: psycopg.Connection, job: dict, worker: str) -> None:
    args = {"job_id": job["id"], "worker_id": worker}
    if job["type"] == "demo.ok" or (job["type"] == "demo.flaky" and job["attempts"] > 1):
        conn.execute("select * from collab.complete_job_v1(job_id => %(job_id)s, worker_id => %(worker_id)s,"
                     " result => %(result)s)", {**args, "result": Jsonb({"ok": True})})
    else:
        conn.execute("select * from collab.fail_job_v1(job_id => %(job_id)s, worker_id => %(worker_id)s,"
                     " error => %(error)s, retryable => %(retryable)s, retry_delay_seconds => 0)",
                     {**args, "error": f"{job['type']} failed on attempt {job['attempts']}",
                      "retryable": job["type"] == "demo.flaky"})


def _work(conn: psycopg.Connection, executor: str, worker: str) -> int:
    """Claim and handle until the executor has nothing due; return jobs handled."""
    handled = 0
    while True:
        jobs = conn.execute("select * from collab.claim_jobs_v1(executor_id => %s, worker_id => %s,"
                            " lease_seconds => 30, max_jobs => 10)", (executor, worker)).fetchall()
        if not jobs:
            return handled
        for job in jobs:
            _handle(conn, job, worker)
            handled += 1


def _print_events(conn: psycopg.Connection, executor: str) -> None:
    rows = conn.execute("select e.seq, e.job_id, j.type, e.event_type, e.payload from collab.job_events e"
                        " join collab.jobs j on j.id = e.job_id where e.executor_id = %s"
                        " order by e.job_id, e.seq", (executor,)).fetchall()
    current = None
    for row in rows:
        if row["job_id"] != current:
            current = row["job_id"]
            print(f"\njob {current} ({row['type']})")
        detail = row["payload"].get("error") or row["payload"].get("worker_id") or ""
        print(f"  #{row['seq']:<5} {row['event_type']:<16} {detail}")


def run_demo(url: str, *, jobs: int = 5) -> int:
    """Run the demo against the migrated database at ``url``; return the exit code."""
    executor = f"demo-{uuid.uuid4().hex[:6]}"
    worker = f"demo-worker-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        _enqueue(conn, executor, jobs)
        started = time.perf_counter()
        handled = _work(conn, executor, worker)
        print(f"worker {worker} handled {handled} claims in {time.perf_counter() - started:.3f}s")
        _print_events(conn, executor)
        stats = conn.execute("select collab.stats_v1(executor_id => %s) as s", (executor,)).fetchone()["s"]
        dlq = conn.execute("select collab.dlq_list_v1(executor_id => %s) as d", (executor,)).fetchone()["d"]
    print(f"\nstats: {stats}")
    print(f"dead letters: {dlq['count']}")
    return 0
