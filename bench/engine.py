"""Engine benchmark: collab's RPCs against raw-Postgres anchors on the same server.

    .venv/bin/python bench/engine.py [--jobs 50000] [--anchor-seconds 15] [--workers 8]

Starts a throw-away PostgreSQL 16 (durable defaults, fsync on), runs
``shared/bench/anchors/run.sh`` on it before and after collab's figures (the median of
the two is the anchor), and reports each collab figure as a ratio to its anchor:

- enqueue one by one           (assign_job_v1)            vs insert1_rows_per_s
- enqueue in batches of 1,000  (assign_jobs_v1)           vs insert1000_rows_per_s
- drain, single claims         (claim_one_job_v3 + complete_job_v1, N worker processes)
                                                           vs claim_complete_jobs_per_s
- drain, single claims chained (complete_and_claim_v1: one call and commit per job)
                                                           vs claim_complete_jobs_per_s
- drain, batch claims          (claim_jobs_v1 max 100 + complete_jobs_v1 for the batch)
                                                           vs claim_complete_jobs_per_s
- idle enqueue -> claim latency via LISTEN collab_jobs (p50/p95/p99 ms)

Results go to stdout and bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from collab_sdk.local.embedded import EmbeddedPostgres, default_bin_dir
from collab_sdk.local.migrate import migrate

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "anchors" / "run.sh"
ROOT = Path(__file__).resolve().parent
SERVER_SETTINGS = {"max_connections": "100", "shared_buffers": "256MB"}


@contextlib.contextmanager
def bench_server(bin_dir: Path | None = None, settings: dict[str, str] | None = None
                 ) -> Iterator[tuple[str, str]]:
    """A throw-away PostgreSQL (the embedded 16 unless ``bin_dir`` names another; durable
    defaults, or ``settings``) with a migrated database ``bench``: (superuser URL of its
    ``postgres`` database, URL of ``bench``)."""
    with tempfile.TemporaryDirectory(prefix="collab-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", settings=SERVER_SETTINGS if settings is None else settings,
                                  **({} if bin_dir is None else {"bin_dir": bin_dir}))
        admin = server.start()
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("create database bench")
            url = admin.rsplit("/", 1)[0] + "/bench"
            migrate(url)
            yield admin, url
        finally:
            server.stop("immediate")


def run_anchors(url: str, seconds: int) -> dict[str, float]:
    """Run the anchor script against the server of ``url``; {figure: value}."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": port, "PGUSER": "postgres",
           "PATH": f"{default_bin_dir()}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", str(ANCHORS), str(seconds)], env=env, check=True,
                         capture_output=True, text=True).stdout
    figures = {}
    for line in out.splitlines():
        name, _, value = line.rpartition(" ")
        figures[name.split("(")[0]] = float(value)
    return figures


def enqueue(url: str, executor: str, jobs: int) -> None:
    """Queue ``jobs`` no-op jobs for ``executor`` quickly (batches of 10,000; untimed)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, jobs, 10_000):
            batch = [{"type": "bench.noop", "executor_id": executor}] * min(10_000, jobs - start)
            conn.execute("select count(*) from collab.assign_jobs_v1(jobs => %s)", (Jsonb(batch),))


def enqueue_single(url: str, jobs: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        for _ in range(jobs):
            conn.execute("select * from collab.assign_job_v1(type => 'bench.noop', executor_id => 'bench')")
        return jobs / (time.perf_counter() - start)


def enqueue_batches(url: str, jobs: int, batch: int = 1000) -> float:
    rows = Jsonb([{"type": "bench.noop", "executor_id": "bench2"}] * batch)
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        for _ in range(jobs // batch):
            conn.execute("select count(*) from collab.assign_jobs_v1(jobs => %s)", (rows,))
        return (jobs // batch) * batch / (time.perf_counter() - start)


def _drain_worker(url: str, executor: str, worker: str, mode: str, ready: mp.Event, go: mp.Event) -> None:
    """Drain ``executor``: ``single`` (claim_one_job_v3 + complete_job_v1), ``chain``
    (complete_and_claim_v1: the complete and the next claim in one call) or ``batch``
    (claim_jobs_v1 of 100 + complete_jobs_v1 for the batch, one transaction each)."""
    claim = ("select id from collab.claim_jobs_v1(executor_id => %s, worker_id => %s,"
             " lease_seconds => 300, max_jobs => %s)")
    with psycopg.connect(url, autocommit=True) as conn:
        ready.set()
        go.wait()
        ids = conn.execute(claim, (executor, worker, 100 if mode == "batch" else 1)).fetchall()
        while ids:
            if mode == "chain":
                ids = conn.execute("select id from collab.complete_and_claim_v1(job_id => %s, worker_id => %s,"
                                   " executor_id => %s, lease_seconds => 300)", (ids[0][0], worker, executor)).fetchall()
                continue
            if mode == "single":
                conn.execute("select 1 from collab.complete_job_v1(job_id => %s, worker_id => %s)", (ids[0][0], worker))
            else:
                done = Jsonb([{"job_id": str(job_id)} for (job_id,) in ids])
                conn.execute("select count(*) from collab.complete_jobs_v1(worker_id => %s, completions => %s)",
                             (worker, done))
            ids = conn.execute(claim, (executor, worker, 100 if mode == "batch" else 1)).fetchall()


def drain(url: str, executor: str, jobs: int, workers: int, mode: str) -> float:
    """Time ``workers`` processes draining the executor's ``jobs`` queued jobs, from a
    vacuumed table (as the anchor's backlog is), so earlier phases' dead rows and a
    background autovacuum do not land on one figure and not another."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum (analyze) collab.jobs, collab.job_events")
    go = mp.Event()
    readies = [mp.Event() for _ in range(workers)]
    procs = [mp.Process(target=_drain_worker, args=(url, executor, f"{executor}-w{i}", mode, readies[i], go))
             for i in range(workers)]
    for p in procs:
        p.start()
    for r in readies:
        r.wait()
    start = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    with psycopg.connect(url) as conn:
        left = conn.execute("select count(*) from collab.jobs where executor_id = %s and status <> 'succeeded'",
                            (executor,)).fetchone()[0]
    assert left == 0, f"{left} jobs of {executor} not drained"
    return jobs / elapsed


def listen_like_a_worker(conn: psycopg.Connection, executor: str) -> None:
    """LISTEN collab_jobs and wait for ``executor``'s jobs as an idle ``Worker``'s listener
    does (``collab.wait_for_jobs_v1``; a database older than it notifies regardless)."""
    conn.execute("listen collab_jobs")
    if conn.execute("select to_regprocedure('collab.wait_for_jobs_v1(text)') is not null").fetchone()[0]:
        conn.execute("select collab.wait_for_jobs_v1(%s)", (executor,))


def wake_latency(url: str, samples: int) -> dict[str, float]:
    """Idle worker LISTENing; enqueue one job at a time; time until its claim returns."""
    latencies: list[float] = []
    sent: list[float] = []

    def worker() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            listen_like_a_worker(conn, "wake")
            ready.set()
            while len(latencies) < samples:
                for _ in conn.notifies(timeout=2.0, stop_after=1):
                    break
                row = conn.execute("select id from collab.claim_one_job_v3(executor_id => 'wake',"
                                   " worker_id => 'w', lease_seconds => 60)").fetchone()
                if row:
                    latencies.append((time.perf_counter() - sent[len(latencies)]) * 1000)
                    got.set()

    ready, got = threading.Event(), threading.Event()
    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait()
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(samples):
            time.sleep(0.02)
            got.clear()
            sent.append(time.perf_counter())
            conn.execute("select * from collab.assign_job_v1(type => 'w', executor_id => 'wake')")
            got.wait(5)
    thread.join()
    q = statistics.quantiles(latencies, n=100)
    return {"p50": q[49], "p95": q[94], "p99": q[98]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--anchor-seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()

    with bench_server() as (admin, url):
        before = run_anchors(admin, args.anchor_seconds)
        figures = {
            "enqueue_single_jobs_per_s": enqueue_single(url, args.jobs),
            "enqueue_batch1000_jobs_per_s": enqueue_batches(url, args.jobs),
            "drain_single_claim_jobs_per_s": drain(url, "bench", args.jobs, args.workers, "single"),
            "drain_batch_claim_jobs_per_s": drain(url, "bench2", args.jobs, args.workers, "batch"),
        }
        enqueue(url, "bench3", args.jobs)
        figures["drain_complete_and_claim_jobs_per_s"] = drain(url, "bench3", args.jobs, args.workers, "chain")
        latency = wake_latency(url, args.samples)
        after = run_anchors(admin, args.anchor_seconds)

    anchor = {k: statistics.median([before[k], after[k]]) for k in before}
    pairs = [("enqueue_single_jobs_per_s", "insert1_rows_per_s", None),
             ("enqueue_batch1000_jobs_per_s", "insert1000_rows_per_s", 0.5),
             ("drain_single_claim_jobs_per_s", "claim_complete_jobs_per_s", 1.0),
             ("drain_complete_and_claim_jobs_per_s", "claim_complete_jobs_per_s", 1.0),
             ("drain_batch_claim_jobs_per_s", "claim_complete_jobs_per_s", 14.0)]
    report = {"anchors_before": before, "anchors_after": after, "figures": figures, "wake_latency_ms": latency,
              "ratios": {f: figures[f] / anchor[a] for f, a, _ in pairs}}
    print(f"{'figure':34} {'value':>10} {'anchor':>10} {'ratio':>7} {'target':>7}")
    for f, a, target in pairs:
        print(f"{f:34} {figures[f]:10.0f} {anchor[a]:10.0f} {report['ratios'][f]:7.2f} "
              f"{'' if target is None else f'>= {target}':>7}")
    print(f"idle enqueue->claim via LISTEN: p50 {latency['p50']:.2f} ms, p95 {latency['p95']:.2f} ms, "
          f"p99 {latency['p99']:.2f} ms (target p50 <= 3 ms)")
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "latest.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
