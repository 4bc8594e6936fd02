"""Event-stream benchmark: commit → consumer latency over LISTEN, and a consumer's rate.

    .venv/bin/python bench/streams.py [--seconds 5] [--rates 10,100,1000] [--backlog 50000]

On a throw-away PostgreSQL 16 (as bench/engine.py), in the same run:

- the anchors of ``shared/bench/anchors/run.sh`` (before and after; the median is used);
- latency: producer threads append ``progress`` events to one running job at a fixed
  rate, each carrying ``time.time()`` taken just before its (autocommitted) call; one
  ``client.watch(executor_id=...)`` consumer (LISTEN source) notes when each arrives.
  p50/p99 of arrival − send, per rate;
- catch-up: ``--backlog`` events written in batches, then one consumer reads them all
  from seq 0 (events/s), next to the anchor's single-row insert rate;
- live: four producer threads appending as fast as they can while one consumer follows;
  the consumer's events/s and how long after the producers stop its last event arrives.

Results go to stdout and bench/results/streams.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from collab_sdk import AsyncCollabClient
from engine import bench_server, run_anchors

ROOT = Path(__file__).resolve().parent
APPEND = "select collab.append_job_event_v1(job_id => %s, worker_id => 'bench', payload => %s)"


def running_job(url: str, executor: str) -> str:
    """One job of ``executor``, claimed by worker ``bench`` for an hour."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select collab.assign_job_v1(type => 'bench.stream', executor_id => %s)", (executor,))
        row = conn.execute("select id from collab.claim_one_job_v3(executor_id => %s, worker_id => 'bench',"
                           " lease_seconds => 3600)", (executor,)).fetchone()
    assert row is not None
    return str(row[0])


def produce(url: str, job_id: str, rate: float | None, seconds: float, threads: int = 4) -> int:
    """Append events from ``threads`` connections for ``seconds``: paced at ``rate`` per
    second in all, or as fast as possible (``rate`` None). The number appended."""
    start = time.perf_counter()
    counter = iter(range(10**9))
    lock = threading.Lock()
    made = [0]

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                with lock:
                    i = next(counter)
                due = start + i / rate if rate else time.perf_counter()
                if due - start >= seconds:
                    return
                time.sleep(max(0.0, due - time.perf_counter()))
                conn.execute(APPEND, (job_id, Jsonb({"t": time.time()})))
                with lock:
                    made[0] += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return made[0]


async def follow(url: str, executor: str, since: int, until: threading.Event,
                 arrivals: list[tuple[float, dict[str, Any]]]) -> None:
    """One consumer: note (arrival time, payload) of each event until ``until`` is set
    and nothing more comes for half a second."""
    async with AsyncCollabClient.from_url(url, max_size=2) as client:
        stream = client.watch(executor_id=executor, since_seq=since, poll_interval=1.0)
        while True:
            try:
                event = await asyncio.wait_for(anext(stream), 0.5)
            except TimeoutError:
                if until.is_set():
                    await stream.aclose()  # type: ignore[attr-defined]
                    return
                continue
            arrivals.append((time.time(), event.payload))


def consumer_thread(url: str, executor: str, since: int, until: threading.Event,
                    arrivals: list[tuple[float, dict[str, Any]]]) -> threading.Thread:
    thread = threading.Thread(target=lambda: asyncio.run(follow(url, executor, since, until, arrivals)))
    thread.start()
    time.sleep(1.0)  # connected and listening
    return thread


def head(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("select collab.job_events_head_v1()").fetchone()
    return int(row[0]) if row else 0


def latency(url: str, rate: float, seconds: float) -> dict[str, float]:
    """p50/p99 commit → consumer latency (ms) at ``rate`` events/s."""
    executor = f"lat{int(rate)}"
    job_id = running_job(url, executor)
    until, arrivals = threading.Event(), []
    consumer = consumer_thread(url, executor, head(url), until, arrivals)
    sent = produce(url, job_id, rate, seconds)
    until.set()
    consumer.join()
    waits = sorted((at - p["t"]) * 1000 for at, p in arrivals if "t" in p)
    assert len(waits) == sent, (len(waits), sent)
    return {"rate": rate, "events": sent, "p50_ms": statistics.median(waits),
            "p99_ms": waits[min(len(waits) - 1, int(len(waits) * 0.99))]}


def catch_up(url: str, backlog: int) -> float:
    """Events/s one consumer reads from a backlog of ``backlog`` committed events."""
    executor = "backlog"
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(0, backlog, 10_000):
            batch = [{"type": "bench.backlog", "executor_id": executor}] * min(10_000, backlog - start)
            conn.execute("select count(*) from collab.assign_jobs_v1(jobs => %s)", (Jsonb(batch),))

    async def read_all() -> float:
        async with AsyncCollabClient.from_url(url, max_size=2) as client:
            started, n = time.perf_counter(), 0
            async for _ in client.watch(executor_id=executor, source=False):
                n += 1
                if n == backlog:
                    return backlog / (time.perf_counter() - started)
        raise AssertionError("stream ended")
    return asyncio.run(read_all())


def live(url: str, seconds: float) -> dict[str, float]:
    """A consumer following four unpaced producers: its events/s and final lag."""
    executor = "live"
    job_id = running_job(url, executor)
    until, arrivals = threading.Event(), []
    consumer = consumer_thread(url, executor, head(url), until, arrivals)
    started = time.time()
    sent = produce(url, job_id, None, seconds)
    stopped = time.time()
    until.set()
    consumer.join()
    last = max(at for at, _ in arrivals)
    return {"events": sent, "received": len(arrivals), "produced_per_s": sent / (stopped - started),
            "consumed_per_s": len(arrivals) / (max(last, stopped) - started),
            "lag_after_stop_ms": max(0.0, last - stopped) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="10,100,1000")
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--anchor-seconds", type=int, default=8)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with bench_server() as (_, url):
        before = run_anchors(url, args.anchor_seconds)
        results["latency"] = [latency(url, float(r), args.seconds) for r in args.rates.split(",")]
        results["catch_up_per_s"] = catch_up(url, args.backlog)
        results["live"] = live(url, args.seconds)
        after = run_anchors(url, args.anchor_seconds)
    anchors = {k: statistics.median([before[k], after[k]]) for k in before}
    results["anchors"] = anchors
    insert1 = anchors.get("insert1_rows_per_s", 0.0)
    results["ratios"] = {
        "catch_up_vs_insert1000": results["catch_up_per_s"] / anchors.get("insert1000_rows_per_s", 1.0),
        "live_consumed_vs_insert1": results["live"]["consumed_per_s"] / insert1 if insert1 else None,
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "streams.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
