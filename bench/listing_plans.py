"""The plans and times of the listing RPCs on a large table, as they run inside their
functions (``auto_explain`` with nested statements; the system PostgreSQL 15 has the
module, the embedded 16 not).

    .venv/bin/python bench/listing_plans.py [--jobs 200000]
    PYTHONPATH=/tmp/base/src .venv/bin/python bench/listing_plans.py   # another tree's

A throw-away PostgreSQL 15 server, migrated by the ``collab_sdk`` on the path; ``--jobs``
jobs over five executors (two priorities, three types), 1,000 claimed per executor of
which 900 completed; then each listing once, with its plan (``EXPLAIN ANALYZE`` without
timing) and its wall-clock time (one call: read it as an order of magnitude).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate

PG15 = Path("/usr/lib/postgresql/15/bin")
CALLS = [
    "select collab.jobs_recent_v1()",
    "select collab.jobs_recent_v1(executor_id => 'ex1')",
    "select collab.jobs_recent_v1(executor_id => 'ex1', status => 'running')",
    "select collab.jobs_recent_v1(executor_id => 'ex1', status => 'succeeded')",
    "select collab.jobs_recent_v1(status => 'queued')",
    "select count(*) from collab.jobs_list_v1(executor_id => 'ex1', statuses => '{queued}')",
    "select count(*) from collab.jobs_list_v1(executor_id => 'ex1', statuses => '{running}')",
    "select count(*) from collab.jobs_list_v1(executor_id => 'ex1')",
    "select count(*) from collab.jobs_list_v1(executor_id => 'ex1', statuses => '{failed,cancelled}')",
    "select count(*) from collab.jobs_list_after_v1(executor_id => 'ex1')",
    "select count(*) from collab.jobs_list_after_v1(executor_id => 'ex1', statuses => '{queued,running}',"
    " after_priority => 1, after_created_at => now(), after_id => gen_random_uuid())",
    "select count(*) from collab._bulk_match('ex1', null, '{queued,running}', null)",
]


def fill(conn: psycopg.Connection, jobs: int) -> None:
    batch = Jsonb([{"type": f"t{i % 3}", "executor_id": f"ex{i % 5}", "priority": i % 2} for i in range(1000)])
    for _ in range(jobs // 1000):
        conn.execute("select count(*) from collab.assign_jobs_v1(jobs => %s)", (batch,))
    for e in range(5):
        ids = [r[0] for r in conn.execute(
            "select id from collab.claim_jobs_v1(executor_id => %s, worker_id => 'w', max_jobs => 1000)",
            (f"ex{e}",))]
        conn.execute("select count(*) from collab.complete_jobs_v1(worker_id => 'w', completions => %s)",
                     (Jsonb([{"job_id": str(i)} for i in ids[:900]]),))
    conn.execute("vacuum analyze collab.jobs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="collab-listing-plans-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", bin_dir=PG15, settings={"fsync": "off"})
        url = server.start()
        try:
            migrate(url)
            with psycopg.connect(url, autocommit=True) as conn:
                fill(conn, args.jobs)
                plans: list[str] = []
                conn.add_notice_handler(lambda d: plans.append(d.message_primary or ""))
                conn.execute("load 'auto_explain'")
                for name, value in (("auto_explain.log_min_duration", "0"), ("auto_explain.log_analyze", "on"),
                                    ("auto_explain.log_timing", "off"),
                                    ("auto_explain.log_nested_statements", "on"), ("client_min_messages", "log")):
                    conn.execute("select set_config(%s, %s, false)", (name, value))
                for call in CALLS:
                    plans.clear()
                    start = time.perf_counter()
                    conn.execute(call).fetchall()
                    print(f"=== {call}: {(time.perf_counter() - start) * 1000:.1f} ms")
                    print("\n".join(p.split("\n", 2)[-1] for p in plans if "collab.jobs" in p))
        finally:
            server.stop("immediate")


if __name__ == "__main__":
    main()
