"""Purge benchmark (issue 20, item 3): the batched purge (``purge_jobs_batch_v1`` in a
loop, what ``AsyncCollabClient.purge``, ``collab purge`` and the retention loop run) beside
one plain ``DELETE`` of the same rows (``purge_jobs_v1``: one statement, one transaction),
each while 8 claimers claim and complete queued jobs and a retrier retries due jobs.

    .venv/bin/python bench/purge.py [--jobs 100000,1000000] [--rounds 2] [--batch 1000]

For each size, one database is seeded (45 % of the jobs due: finished 30 days ago, the rest
finished a minute ago, cycling succeeded/failed/cancelled, each with 3 events, a dead
letter per failed job pointing at a retried job, an artifact per 50 jobs: the test's
``support.retention.seed_finished``) plus 20,000 queued jobs, and used as the template of
a fresh copy per run, so both purges delete exactly the same rows. The rounds alternate
the order. Figures per run: rows/s (jobs deleted per second of the purge), the worst and
p99 claim (``claim_jobs_v2``, 5 jobs) and retry (``retry_job_v1``) latency during the
purge, and the same claims' worst and p99 with no purge (measured first in each copy) as
the baseline. Medians over the rounds; results go to stdout and
bench/results/purge.json (not committed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from engine import bench_server

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "tests"))  # the test suite's seeder: one definition of the data
from support.retention import seed_finished  # noqa: E402

CLAIMERS = 8
QUEUED = 20_000
STATUSES = "{succeeded,failed,cancelled}"


class Latencies:
    """Latencies of one kind of call, from threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = {}

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.samples.setdefault(kind, []).append(seconds)

    def summary(self, kind: str) -> dict[str, float]:
        """Worst and p99 in milliseconds, and the count."""
        values = sorted(self.samples.get(kind, [0.0]))
        return {"worst_ms": values[-1] * 1000, "p99_ms": values[int(len(values) * 0.99) - 1] * 1000 if len(
            values) > 1 else values[-1] * 1000, "n": len(values)}


def _timed(lat: Latencies, kind: str, conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    started = time.monotonic()
    try:
        return conn.execute(query, params).fetchall()
    except psycopg.Error:
        return None
    finally:
        lat.add(kind, time.monotonic() - started)


def _claimer(url: str, i: int, stop: threading.Event, lat: Latencies) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            rows = _timed(lat, "claim", conn, "select id from collab.claim_jobs_v2(executor_id => 'ex',"
                          " worker_id => %s, lease_seconds => 60, max_jobs => 5)", (f"c{i}",))
            if rows:
                completions = json.dumps([{"job_id": str(r[0])} for r in rows])
                conn.execute("select count(*) from collab.complete_jobs_v1(worker_id => %s, completions => %s)",
                             (f"c{i}", completions))
            else:
                time.sleep(0.01)


def _retrier(url: str, targets: list[Any], stop: threading.Event, lat: Latencies) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for job_id in targets:
            if stop.is_set():
                return
            _timed(lat, "retry", conn, "select id from collab.retry_job_v1(job_id => %s)", (job_id,))
            time.sleep(0.02)


def _with_load(url: str, work: Any, targets: list[Any]) -> tuple[Any, float, Latencies]:
    """Run ``work()`` while the claimers (and, with ``targets``, the retrier) run; (what
    it returned, seconds it took, latencies)."""
    lat, stop = Latencies(), threading.Event()
    threads = [threading.Thread(target=_claimer, args=(url, i, stop, lat)) for i in range(CLAIMERS)]
    if targets:
        threads.append(threading.Thread(target=_retrier, args=(url, targets, stop, lat)))
    for t in threads:
        t.start()
    time.sleep(0.5)
    started = time.monotonic()
    try:
        answer = work()
    finally:
        elapsed = time.monotonic() - started
        stop.set()
        for t in threads:
            t.join()
    return answer, elapsed, lat


def batched(url: str, batch: int) -> int:
    """The SDK's loop over purge_jobs_batch_v1."""
    purged, cursor = 0, None
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            answer = conn.execute(
                "select collab.purge_jobs_batch_v1(older_than_seconds => 3600, executor_id => 'ex',"
                " statuses => %s, batch_size => %s, cursor => %s)",
                (STATUSES, batch, json.dumps(cursor) if cursor else None)).fetchone()[0]
            purged += answer["purged"]
            if answer["done"]:
                return purged
            cursor = answer["cursor"]


def plain(url: str) -> int:
    """One DELETE of the same rows (purge_jobs_v1)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute("select collab.purge_jobs_v1(older_than_seconds => 3600, executor_id => 'ex',"
                                " statuses => %s)", (STATUSES,)).fetchone()[0])


def seed(url: str, jobs: int) -> None:
    due = jobs * 45 // 100
    with psycopg.connect(url, autocommit=True) as conn:
        seed_finished(conn, due=due, kept=jobs - due)
        conn.execute("insert into collab.jobs (type, executor_id) select 't.work', 'ex'"
                     " from generate_series(1, %s)", (QUEUED,))
        conn.execute("vacuum (analyze) collab.jobs, collab.job_events, collab.job_dead_letters, collab.artifacts")


def one_run(admin: str, template: str, kind: str, batch: int) -> dict[str, Any]:
    """A fresh copy of ``template``; the baseline, then the purge ``kind`` under load."""
    name = f"run_{kind}"
    base = admin.rsplit("/", 1)[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name}")
        conn.execute(f"create database {name} template {template}")
    url = f"{base}/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            targets = [r[0] for r in conn.execute(
                "select id from collab.jobs where status = 'failed' and payload->>'seed' = 'due'"
                " order by random() limit 400").fetchall()]
        _, _, idle = _with_load(url, lambda: time.sleep(5), [])
        purged, elapsed, lat = _with_load(url, lambda: batched(url, batch) if kind == "batched" else plain(url),
                                          targets)
        return {"kind": kind, "purged": purged, "seconds": elapsed, "rows_per_s": purged / elapsed,
                "claim": lat.summary("claim"), "retry": lat.summary("retry"), "idle_claim": idle.summary("claim")}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", default="100000,1000000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with bench_server() as (admin, url):
        for size in [int(s) for s in args.jobs.split(",")]:
            template = f"seeded_{size}"
            started = time.monotonic()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"create database {template} template bench")
            seed(f"{admin.rsplit('/', 1)[0]}/{template}", size)
            print(f"{size:,} jobs seeded in {time.monotonic() - started:.0f} s", flush=True)
            rows: dict[str, list[dict[str, Any]]] = {"batched": [], "plain": []}
            for r in range(args.rounds):
                for kind in (("batched", "plain") if r % 2 == 0 else ("plain", "batched")):
                    one = one_run(admin, template, kind, args.batch)
                    rows[kind].append(one)
                    print(f"  {kind:8} {one['purged']:,} rows in {one['seconds']:.1f} s = {one['rows_per_s']:,.0f}"
                          f" rows/s; claim worst {one['claim']['worst_ms']:.0f} ms p99 {one['claim']['p99_ms']:.0f}"
                          f" ms (n {one['claim']['n']}); retry worst {one['retry']['worst_ms']:.0f} ms"
                          f" (n {one['retry']['n']}); idle claim worst {one['idle_claim']['worst_ms']:.0f} ms"
                          f" p99 {one['idle_claim']['p99_ms']:.0f} ms", flush=True)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"drop database {template}")
            med = {kind: {"rows_per_s": statistics.median(o["rows_per_s"] for o in runs_),
                          "claim_worst_ms": statistics.median(o["claim"]["worst_ms"] for o in runs_),
                          "claim_p99_ms": statistics.median(o["claim"]["p99_ms"] for o in runs_),
                          "retry_worst_ms": statistics.median(o["retry"]["worst_ms"] for o in runs_),
                          "idle_claim_worst_ms": statistics.median(o["idle_claim"]["worst_ms"] for o in runs_),
                          "idle_claim_p99_ms": statistics.median(o["idle_claim"]["p99_ms"] for o in runs_)}
                   for kind, runs_ in rows.items()}
            b, p = med["batched"], med["plain"]
            print(f"{size:,} jobs, medians: throughput batched/plain {b['rows_per_s'] / p['rows_per_s']:.2f};"
                  f" worst claim batched {b['claim_worst_ms']:.0f} ms vs plain {p['claim_worst_ms']:.0f} ms"
                  f" (idle {b['idle_claim_worst_ms']:.0f} ms); worst retry batched {b['retry_worst_ms']:.0f} ms"
                  f" vs plain {p['retry_worst_ms']:.0f} ms", flush=True)
            results[str(size)] = {"runs": rows, "medians": med}
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "purge.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
