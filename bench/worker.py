"""Worker benchmark: end-to-end ``Worker`` throughput and enqueue→handler latency.

    .venv/bin/python bench/worker.py [--jobs 20000] [--concurrency 8,32,100] [--samples 200]

On a throw-away PostgreSQL 16 (as bench/engine.py), in the same run:

- the anchors of ``shared/bench/anchors/run.sh`` (before and after; the median is used);
- the engine's raw batch drain with one process (claim_jobs_v1 of 100 + complete_jobs_v1),
  the figure a worker process should keep at least half of;
- one ``Worker`` process with no-op async handlers, for each concurrency: jobs/s from
  the moment the jobs are enqueued (one batch) until every one has succeeded;
- an idle worker (poll interval 60 s, so only LISTEN can wake it): enqueue one job at a
  time and time until its handler starts (p50/p99).

``--prepare on,off`` runs each concurrency's worker once with prepared RPC statements and
once with ``COLLAB_PREPARE=off``, one after the other (an A/B in the same run);
``--rounds N`` repeats that N times (the median is reported).

``--cpu-before REV`` measures instead what the peer harness's ``drain --variant worker``
runs (``--procs`` worker processes, concurrency 100 by default, no-op handlers, LISTEN),
this tree against revision ``REV`` (``git archive``, read-only; ``none``: this tree
only), in interleaved rounds on one server: 20,000 jobs are enqueued in one transaction
once the workers beat, and the figures are jobs/s from that commit to the last success
and the **CPU time per job of the worker processes** (``/proc``), which other sessions'
load moves far less than wall-clock rates; plus the server's (every child of the
postmaster). Both trees run on this tree's database (the revision's SDK must accept its
schema version). Each round also drains the same number of jobs with the engine's raw
batch RPCs (``claim_jobs_v1`` of 100 + ``complete_jobs_v1``, ``--procs`` processes × one
connection: the harness's ``rpc-batch``), and each tree's figure is also given as a ratio
to that round's raw drain (issue 19's target: >= 0.8). ``--timeline`` also times every
claim call of the workers: the share of each process's drain spent with a call in flight,
the median call, and the median gap between an answer and the next call (that batch's
handlers and bookkeeping).

Results go to stdout and bench/results/worker.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import subprocess
import sys
import tempfile

import psycopg
from psycopg.types.json import Jsonb

from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker.loop import Worker
from engine import bench_server, drain, enqueue, run_anchors
from http_api import export_src

ROOT = Path(__file__).resolve().parent


def _run_worker(url: str, executor: str, concurrency: int, prepare: str) -> None:
    os.environ["COLLAB_PREPARE"] = prepare
    worker = Worker(AsyncCollabClient.from_url(url, max_size=4), executor_id=executor,
                    concurrency=concurrency, heartbeat_interval=0.2, poll_interval=1.0)

    @worker.task("bench.noop")
    async def noop(job: Job, ctx: Any) -> None:
        return None

    worker.run()


def _succeeded(conn: psycopg.Connection[Any], executor: str) -> int:
    row = conn.execute("select count(*) from collab.jobs where executor_id = %s and status = 'succeeded'",
                       (executor,)).fetchone()
    return int(row[0]) if row else 0


def worker_throughput(url: str, jobs: int, concurrency: int, prepare: str = "on") -> float:
    """Jobs/s of one worker process with ``concurrency`` slots, enqueue to last success
    (``prepare``: its ``COLLAB_PREPARE``)."""
    executor = f"w{concurrency}-{prepare}-{uuid.uuid4().hex[:6]}"  # each run its own jobs and heartbeat
    proc = mp.Process(target=_run_worker, args=(url, executor, concurrency, prepare))
    proc.start()
    with psycopg.connect(url, autocommit=True) as conn:
        while not conn.execute("select 1 from collab.worker_heartbeats_v2 where executor_id = %s",
                               (executor,)).fetchone():
            time.sleep(0.05)
        start = time.perf_counter()
        enqueue(url, executor, jobs)
        while _succeeded(conn, executor) < jobs:
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    proc.terminate()
    proc.join()
    return jobs / elapsed


#: One worker process of ``--cpu-before``: argv url executor concurrency (the harness's child).
CPU_CHILD = """
import json, sys, time
from collab_sdk import AsyncCollabClient
from collab_sdk.worker import Worker
url, executor, concurrency, timeline = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
client = AsyncCollabClient.from_url(url, max_size=4)
calls = []  # (sent, answered, results carried, jobs claimed) of every claim call

def timed(name, count):
    real = getattr(client, name)
    async def call(*args, **kwargs):
        sent = time.perf_counter()
        answer = await real(*args, **kwargs)
        calls.append((sent, time.perf_counter(), len(args[2]) if len(args) > 2 else 0, count(answer)))
        return answer
    setattr(client, name, call)

if timeline:
    timed("complete_and_claim_many", lambda batch: len(batch.jobs))
    timed("claim_many", len)
worker = Worker(client, executor_id=executor, concurrency=concurrency,
                heartbeat_interval=1.0, poll_interval=1.0, realtime=False)

@worker.task("bench.noop")
async def noop(job, ctx):
    return None

worker.run()
if timeline:
    with open(timeline, "w") as out:
        json.dump(calls, out)
"""
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) of a process, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _server_cpu(postmaster: int) -> dict[int, float]:
    """CPU seconds of every child of the postmaster (backends and background processes)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent, seconds = _cpu_seconds(int(entry))
            except (OSError, IndexError):
                continue
            if parent == postmaster:
                found[int(entry)] = seconds
    return found


def timeline_figures(paths: list[Path]) -> dict[str, float]:
    """Where each worker process's drain went, from its claim calls (``--timeline``): the
    share of its time with a claim call in flight, the median call and the median gap
    between one answer and the next call (the handlers and bookkeeping of a batch), ms."""
    shares, calls_ms, gaps_ms = [], [], []
    for path in paths:
        calls = sorted(c for c in json.loads(path.read_text()) if c[2] or c[3])
        if len(calls) < 3:
            continue
        shares.append(sum(c[1] - c[0] for c in calls) / (calls[-1][1] - calls[0][0]))
        calls_ms.append(1000 * statistics.median(c[1] - c[0] for c in calls))
        gaps_ms.append(1000 * statistics.median(b[0] - a[1] for a, b in zip(calls, calls[1:])))
    if not shares:
        return {}
    return {"in_call_share": statistics.median(shares), "call_ms": statistics.median(calls_ms),
            "gap_ms": statistics.median(gaps_ms)}


def cpu_drain(url: str, postmaster: int, src: str, jobs: int, procs: int, concurrency: int,
              timeline: Path | None = None) -> dict[str, float]:
    """One drain by ``procs`` worker processes importing ``src``: jobs/s and CPU µs per job
    (and ``timeline_figures`` when ``timeline`` names a directory for the calls)."""
    executor = f"cpu-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": src}
    paths = [timeline / f"{executor}-{i}.json" for i in range(procs)] if timeline else []
    children = [subprocess.Popen([sys.executable, "-c", CPU_CHILD, url, executor, str(concurrency),
                                  str(paths[i]) if paths else ""], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(procs)]
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while _count(conn, "select count(*) from collab.worker_heartbeats_v2 where executor_id = %s",
                         executor) < procs:
                time.sleep(0.05)
            with conn.transaction():
                for start in range(0, jobs, 10_000):
                    batch = [{"type": "bench.noop", "executor_id": executor}] * min(10_000, jobs - start)
                    conn.execute("select count(*) from collab.assign_jobs_v1(jobs => %s)", (Jsonb(batch),))
            workers_before = [_cpu_seconds(c.pid)[1] for c in children]
            server_before, started = _server_cpu(postmaster), time.perf_counter()
            while _count(conn, "select count(*) from collab.jobs where executor_id = %s and status = 'succeeded'",
                         executor) < jobs:
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            workers = sum(_cpu_seconds(c.pid)[1] for c in children) - sum(workers_before)
            server = sum(v - server_before.get(pid, 0.0) for pid, v in _server_cpu(postmaster).items())
            conn.execute("delete from collab.jobs where executor_id = %s", (executor,))
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(30)
    return {"jobs_per_s": jobs / elapsed, "worker_us_per_job": workers / jobs * 1e6,
            "server_us_per_job": server / jobs * 1e6, **timeline_figures(paths)}


def _count(conn: psycopg.Connection[Any], query: str, executor: str) -> int:
    row = conn.execute(query, (executor,)).fetchone()
    return int(row[0]) if row else 0


def cpu_main(before: str, rounds: int, jobs: int, procs: int, concurrency: int, timeline: bool = False) -> None:
    """``--cpu-before``: this tree against ``before``, interleaved; medians printed and saved."""
    with tempfile.TemporaryDirectory(prefix="collab-worker-cpu-") as tmp, bench_server() as (admin, url):
        trees = {"after": str(ROOT.parent / "src")}
        if before != "none":
            trees = {"before": str(export_src(before, Path(tmp))), **trees}
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("select pg_backend_pid()").fetchone()
            postmaster = _cpu_seconds(int(row[0]))[0] if row else 0
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        raw: list[float] = []
        for r in range(rounds):
            executor = f"raw-{uuid.uuid4().hex[:8]}"
            enqueue(url, executor, jobs)
            raw.append(drain(url, executor, jobs, procs, "batch"))
            with psycopg.connect(url, autocommit=True) as conn:  # as cpu_drain: the same table size
                conn.execute("delete from collab.jobs where executor_id = %s", (executor,))
            print("raw batch", round(raw[-1]), "jobs/s", flush=True)
            for name in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
                figures = cpu_drain(url, postmaster, trees[name], jobs, procs, concurrency,
                                    Path(tmp) if timeline else None)
                figures["x_raw_batch"] = figures["jobs_per_s"] / raw[-1]
                runs[name].append(figures)
                print(name, {k: round(v, 2) for k, v in figures.items()}, flush=True)
    medians = {name: {k: statistics.median(x[k] for x in xs) for k in xs[0]} for name, xs in runs.items()}
    print(f"   raw: {statistics.median(raw):8.0f} jobs/s (claim_jobs_v1 of 100 + complete_jobs_v1, {procs} processes)")
    for name, figures in medians.items():
        print(f"{name:>6}: {figures['jobs_per_s']:8.0f} jobs/s ({figures['x_raw_batch']:.2f}x raw), worker "
              f"{figures['worker_us_per_job']:5.1f} µs/job, server {figures['server_us_per_job']:5.1f} µs/job "
              f"(medians of {rounds})" + (f"; {figures['in_call_share']:.0%} of the time in a claim call "
                                          f"({figures['call_ms']:.1f} ms a call, {figures['gap_ms']:.2f} ms between)"
                                          if "in_call_share" in figures else ""))
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "worker_cpu.json").write_text(json.dumps({"runs": runs, "medians": medians, "raw_batch": raw},
                                                                 indent=2))


async def _latency(url: str, samples: int) -> dict[str, float]:
    started: asyncio.Queue[float] = asyncio.Queue()
    worker = Worker(AsyncCollabClient.from_url(url), executor_id="lat", poll_interval=60)

    @worker.task("bench.ping")
    async def ping(job: Job, ctx: Any) -> None:
        started.put_nowait(time.perf_counter())

    running = asyncio.create_task(worker.run_async())
    assert worker.listener is not None
    await worker.listener.connected.wait()
    producer = await psycopg.AsyncConnection.connect(url, autocommit=True)
    latencies = []
    for _ in range(samples):
        await asyncio.sleep(0.02)
        sent = time.perf_counter()
        await producer.execute("select * from collab.assign_job_v1(type => 'bench.ping', executor_id => 'lat')")
        latencies.append((await asyncio.wait_for(started.get(), timeout=10) - sent) * 1000)
    await producer.close()
    worker.request_stop()
    await running
    q = statistics.quantiles(latencies, n=100)
    return {"p50": q[49], "p99": q[98]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", default="8,32,100")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--anchor-seconds", type=int, default=15)
    parser.add_argument("--prepare", default="on", help="COLLAB_PREPARE of the workers, e.g. on,off")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each concurrency's workers")
    parser.add_argument("--cpu-before", metavar="REV",
                        help="only the CPU-per-job drains, this tree against REV (none: this tree)")
    parser.add_argument("--procs", type=int, default=2, help="worker processes of --cpu-before")
    parser.add_argument("--timeline", action="store_true",
                        help="with --cpu-before: time every claim call (share of time in a call, call, gap)")
    args = parser.parse_args()
    if args.cpu_before:
        cpu_main(args.cpu_before, args.rounds, args.jobs, args.procs, int(args.concurrency.split(",")[-1]),
                 args.timeline)
        return
    modes = args.prepare.split(",")
    sweep = [int(c) for c in args.concurrency.split(",")]

    with bench_server() as (admin, url):
        before = run_anchors(admin, args.anchor_seconds)
        enqueue(url, "raw", args.jobs)
        engine_rate = drain(url, "raw", args.jobs, 1, "batch")
        runs: dict[str, list[float]] = {}
        for c in sweep:
            for _ in range(args.rounds):
                for mode in modes:
                    key = f"{c}" + ("" if modes == ["on"] else f" prepare={mode}")
                    runs.setdefault(key, []).append(worker_throughput(url, args.jobs, c, mode))
        rates = {key: statistics.median(values) for key, values in runs.items()}
        latency = asyncio.run(_latency(url, args.samples))
        after = run_anchors(admin, args.anchor_seconds)

    anchor = statistics.median([before["claim_complete_jobs_per_s"], after["claim_complete_jobs_per_s"]])
    report = {"anchors_before": before, "anchors_after": after, "engine_batch_drain_1_process": engine_rate,
              "worker_jobs_per_s": rates, "worker_runs": runs, "latency_ms": latency}
    print(f"claim_complete anchor: {anchor:.0f} jobs/s")
    print(f"engine batch drain, 1 process: {engine_rate:.0f} jobs/s ({engine_rate / anchor:.2f}x anchor)")
    for c, rate in rates.items():
        print(f"worker, concurrency {c:>3}: {rate:8.0f} jobs/s ({rate / anchor:.2f}x anchor, "
              f"{rate / engine_rate:.2f}x engine; target >= 0.5x engine)")
    print(f"idle enqueue->handler start: p50 {latency['p50']:.2f} ms, p99 {latency['p99']:.2f} ms (target p50 <= 5 ms)")
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "worker.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
