"""The backend's CPU time per job of the hot RPCs: this tree against a git revision, on one
server, in interleaved rounds.

    .venv/bin/python bench/rpc_cpu.py --before a088566^ [--rounds 16]

On a throw-away server (as ``engine.py``) two databases are migrated: ``before`` by the
revision's own migrations (``git archive``, read-only, as ``http_api.py`` does) and
``after`` by this tree's. One connection to each runs, round after round and in
alternating order, the same operations, and the figure is that connection's backend
on-CPU time (``/proc/<pid>/schedstat``, nanoseconds) per job, and the WAL the server wrote
meanwhile per job (``pg_current_wal_insert_lsn``):

- ``enqueue_batch``: ``assign_jobs_v1`` of 1,000 jobs, 4 calls;
- ``drain_batch``: ``claim_jobs_v1`` (100) + ``complete_jobs_v1`` for the batch, 3,000 jobs;
- ``chain``: ``complete_and_claim_v1``, one call per job, 300 jobs;
- ``enqueue_single``: ``assign_job_v1``, one call per job, 200 jobs.

CPU time, unlike wall-clock throughput, is not what other sessions' load takes away, so
the figure holds on a shared host; it still swings (caches, frequency) by 10-20 % between
rounds, hence many short rounds and the medians (and the ratio of the minima). The CPU
of a WAL flush (the commit's ``fdatasync``) is the backend's own and counted; waiting is
not. Results also go to ``bench/results/rpc_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from engine import ROOT, bench_server
from http_api import export_src, migrate_with

CLAIM = ("select id from collab.claim_jobs_v1(executor_id => 'bench', worker_id => 'w',"
         " lease_seconds => 300, max_jobs => %s)")
BATCH = Jsonb([{"type": "bench.noop", "executor_id": "bench"}] * 1000)


def enqueue_batch(conn: psycopg.Connection, calls: int = 4) -> int:
    for _ in range(calls):
        conn.execute("select count(*) from collab.assign_jobs_v1(jobs => %s)", (BATCH,))
    return calls * 1000


def drain_batch(conn: psycopg.Connection, jobs: int = 3000) -> int:
    done = 0
    while done < jobs and (ids := conn.execute(CLAIM, (100,)).fetchall()):
        conn.execute("select count(*) from collab.complete_jobs_v1(worker_id => 'w', completions => %s)",
                     (Jsonb([{"job_id": str(i)} for (i,) in ids]),))
        done += len(ids)
    return done


def chain(conn: psycopg.Connection, jobs: int = 300) -> int:
    ids, done = conn.execute(CLAIM, (1,)).fetchall(), 0
    while ids and done < jobs:
        ids = conn.execute("select id from collab.complete_and_claim_v1(job_id => %s, worker_id => 'w',"
                           " executor_id => 'bench', lease_seconds => 300)", (ids[0][0],)).fetchall()
        done += 1
    if ids:  # leave nothing running for the next round's drain
        conn.execute("select 1 from collab.complete_job_v1(job_id => %s, worker_id => 'w')", (ids[0][0],))
    return done


def enqueue_single(conn: psycopg.Connection, jobs: int = 200) -> int:
    for _ in range(jobs):
        conn.execute("select * from collab.assign_job_v1(type => 'bench.noop', executor_id => 'single')")
    return jobs


OPS: dict[str, Callable[[psycopg.Connection], int]] = {
    "enqueue_batch": enqueue_batch, "drain_batch": drain_batch, "chain": chain,
    "enqueue_single": enqueue_single}


def backend_cpu_ns(conn: psycopg.Connection) -> int:
    """On-CPU nanoseconds of the connection's backend so far."""
    return int(Path(f"/proc/{conn.info.backend_pid}/schedstat").read_text().split()[0])


def wal_lsn(conn: psycopg.Connection) -> str:
    return conn.execute("select pg_current_wal_insert_lsn()::text").fetchone()[0]


def one_round(conn: psycopg.Connection) -> dict[str, tuple[float, float]]:
    """Every op once (the backlog of the drains is the round's batch enqueue): (backend CPU
    µs, WAL bytes) per job. The WAL figure is the server's, so it also holds whatever a
    background process wrote meanwhile (rarely much: one connection runs at a time)."""
    conn.execute("delete from collab.jobs where status = 'succeeded'")
    conn.execute("vacuum (analyze) collab.jobs, collab.job_events")
    out = {}
    for name, op in OPS.items():
        before, lsn = backend_cpu_ns(conn), wal_lsn(conn)
        jobs = op(conn)
        cpu = (backend_cpu_ns(conn) - before) / jobs / 1000
        wal = conn.execute("select pg_current_wal_insert_lsn() - %s::pg_lsn", (lsn,)).fetchone()[0]
        out[name] = (cpu, float(wal) / jobs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="git revision to compare with")
    ap.add_argument("--rounds", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="collab-rpc-cpu-") as tmp, bench_server() as (admin, _):
        urls = {"before": migrate_with(export_src(args.before, Path(tmp)), admin, "before"),
                "after": migrate_with(ROOT.parent / "src", admin, "after")}
        conns = {side: psycopg.connect(url, autocommit=True) for side, url in urls.items()}
        try:
            for conn in conns.values():  # warm each session's plan caches, untimed
                enqueue_batch(conn, 2), drain_batch(conn, 200), chain(conn, 3), enqueue_single(conn, 3)
            figures: dict[str, dict[str, list[float]]] = {side: {op: [] for op in OPS} for side in conns}
            wal: dict[str, dict[str, list[float]]] = {side: {op: [] for op in OPS} for side in conns}
            for r in range(args.rounds):
                for side in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
                    for op, (cpu, wal_bytes) in one_round(conns[side]).items():
                        figures[side][op].append(cpu)
                        wal[side][op].append(wal_bytes)
        finally:
            for conn in conns.values():
                conn.close()
    print(f"backend CPU per job, µs (median of {args.rounds} rounds); before = {args.before}")
    print(f"{'op':16} {'before':>9} {'after':>9} {'after/before':>13} {'ratio of minima':>16}"
          f" {'WAL B/job before':>17} {'after':>6}")
    for op in OPS:
        b, a = (statistics.median(figures[s][op]) for s in ("before", "after"))
        wb, wa = (statistics.median(wal[s][op]) for s in ("before", "after"))
        print(f"{op:16} {b:9.1f} {a:9.1f} {a / b:13.3f} {min(figures['after'][op]) / min(figures['before'][op]):16.3f}"
              f" {wb:17.0f} {wa:6.0f}")
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "rpc_cpu.json").write_text(json.dumps({"before": args.before, **figures, "wal": wal}, indent=1))


if __name__ == "__main__":
    main()
