"""Where a workflow step's time and WAL go, statement by statement, against a plain job.

    .venv/bin/python bench/workflow_profile.py [--runs 200] [--top 25] [--against REV]

On a throw-away PostgreSQL 15 of the system (``/usr/lib/postgresql/15``, which ships
``pg_stat_statements``), with ``pg_stat_statements.track = all`` and
``track_functions = all``: one connection drains 4 x runs plain jobs, then the steps of
``runs`` diamonds, with the single-claim loop of ``workflows.py``. For each drain it
prints that backend's CPU per job, the statements (nested ones too) by time with their
calls, WAL records and bytes per job, the rows inserted/updated/HOT-updated per job by
table, and the functions' total and self time per job. ``--against REV`` does the same
first on a database of the same server migrated at git revision ``REV``. The timings
carry the instrumentation's overhead; the WAL and row counts do not. Run by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import bench_server, enqueue  # noqa: E402
from workflow_shapes import migrated_at  # noqa: E402
from workflows import DIAMOND, published  # noqa: E402


PG15 = Path("/usr/lib/postgresql/15/bin")
STATEMENTS = """
select toplevel, calls, total_exec_time, plans, total_plan_time, wal_records, wal_bytes,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 100)
  from pg_stat_statements where query not like '%%pg_stat%%' order by total_exec_time + total_plan_time desc limit %s"""
TABLES = "select relname, n_tup_ins, n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where schemaname = 'collab'"
FUNCTIONS = """
select funcname, calls, total_time, self_time from pg_stat_user_functions
 where schemaname like 'collab%%' order by total_time desc limit %s"""


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_one(conn: psycopg.Connection, executor: str) -> int:
    claim = ("select id from collab.claim_jobs_v1(executor_id => %s, worker_id => 'w',"
             " lease_seconds => 300, max_jobs => 1)")
    done = 0
    ids = conn.execute(claim, (executor,)).fetchall()
    while ids:
        conn.execute("select 1 from collab.complete_job_v1(job_id => %s, worker_id => 'w')", (ids[0][0],))
        done += 1
        ids = conn.execute(claim, (executor,)).fetchall()
    return done


def profile(url: str, label: str, runs: int, top: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create extension if not exists pg_stat_statements")
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        cpu = {}
        for kind in ("plain", "diamond"):
            executor = f"{kind}-profile"
            if kind == "plain":
                enqueue(url, executor, 4 * runs)
            else:
                workflow = published(conn, executor, DIAMOND)
                for _ in range(runs):
                    conn.execute("select collab.start_run_v1(workflow_id => %s)", (workflow,))
            conn.execute("vacuum (analyze) collab.jobs, collab.job_events, collab.workflow_runs,"
                         " collab.workflow_step_runs")
            # This backend's pending counts (the runs' starts) reach the shared stats now,
            # before the reset, not at its next flush inside the drain.
            conn.execute("select pg_stat_force_next_flush()")
            conn.execute("select pg_stat_statements_reset()")
            conn.execute("select pg_stat_reset()")
            tables = {r[0]: r[1:] for r in conn.execute(TABLES)}
            start = backend_cpu(pid)
            n = drain_one(conn, executor)
            cpu[kind] = (backend_cpu(pid) - start) * 1e6 / n
            print(f"{label}{kind}: {n} jobs, backend CPU {cpu[kind]:.0f} us/job")
            for toplevel, calls, ms, plans, plan_ms, records, size, query in conn.execute(STATEMENTS % top):
                print(f"  {'T' if toplevel else ' '} {calls / n:5.2f}x {ms * 1000 / n:7.1f} us"
                      f" plans {plans / n:4.2f}x {plan_ms * 1000 / n:6.1f} us"
                      f"  WAL {float(records) / n:5.2f} rec {float(size) / n:6.0f} B | {query}")
            time.sleep(0.7)  # the backend's table and function counts are flushed
            conn.execute("select pg_stat_clear_snapshot()")
            for name, *after in conn.execute(TABLES):
                per = [(a - b) / n for a, b in zip(after, tables.get(name, (0, 0, 0)))]
                if any(per):
                    print(f"  table {name:22s} ins {per[0]:.2f} upd {per[1]:.2f} hot {per[2]:.2f}")
            for name, calls, total, own in conn.execute(FUNCTIONS % top):
                print(f"  fn {name:32s} {calls / n:5.2f}x total {total * 1000 / n:7.1f} us self {own * 1000 / n:7.1f} us")
        print(f"{label}step CPU / plain job CPU {cpu['diamond'] / cpu['plain']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--against", metavar="REV", help="first profile a database migrated at git revision REV")
    args = parser.parse_args()
    settings = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all",
                "pg_stat_statements.track_planning": "on",
                "track_functions": "all", "shared_buffers": "256MB"}
    with bench_server(PG15, settings) as (admin, url):
        if args.against:
            profile(migrated_at(admin, args.against, "before"), "before ", args.runs, args.top)
        profile(url, "after " if args.against else "", args.runs, args.top)

if __name__ == "__main__":
    main()
