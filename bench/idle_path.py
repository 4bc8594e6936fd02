"""Idle wake-up, hop by hop: enqueue → handler start of an idle ``Worker`` woken by
``LISTEN collab_jobs``, this tree against another revision in alternating rounds.

    .venv/bin/python bench/idle_path.py [--before REV] [--rounds 4] [--samples 60]
    .venv/bin/python bench/idle_path.py --single [--before REV] [--rounds 4] [--calls 2000]

The shape is the peer harness's ``latency`` leg (``/work/shared/bench/peers/bench_collab.py``):
one process, one event loop, the producer and the worker (poll 60 s) beside each other, one
``assign`` after a random 20-220 ms idle gap. Each tree runs in its own child process
(``PYTHONPATH`` = its ``src``) against its own database, migrated by that tree, on one
throw-away durable PostgreSQL (fsync and ``synchronous_commit`` on). The child stamps every
hop with ``time.perf_counter_ns`` (by wrapping the listener's ``on_wake`` and the claim loop's
``_claim`` on the instance, so both trees are timed the same way):

- ``assign``: before the call → its answer (the enqueue's round trip and durable commit);
- ``notify``: before the call → the listener hands the notification on;
- ``handoff``: the listener's hand-on → the claim call starts;
- ``claim``: the claim call (its round trip and durable commit);
- ``start``: the claim's answer → the handler starts;
- ``total``: before the call → handler start (the harness's figure).

Per round and tree the p50 of each hop; the summary is the median over rounds and the ratio
after / before of the medians. ``--single`` times the harness's ``enqueue_single`` leg instead
(``client.assign`` in a loop from one client): calls/s and the client's CPU per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from engine import bench_server  # noqa: E402
from http_api import export_src, migrate_with  # noqa: E402

HOPS = ("assign", "notify", "handoff", "claim", "start", "total")

#: The child: argv url samples; prints one JSON line {hop: [ms, ...]}.
LATENCY_CHILD = r'''
import asyncio, json, random, sys, time
from collab_sdk import AsyncCollabClient, Job
from collab_sdk.worker import Worker

url, samples = sys.argv[1], int(sys.argv[2])
now = time.perf_counter_ns

async def main():
    stamps = {}
    started = asyncio.Queue()
    worker = Worker(AsyncCollabClient.from_url(url), executor_id="lat", poll_interval=60, realtime=False)

    @worker.task("bench.ping")
    async def ping(job: Job, ctx) -> None:
        started.put_nowait(now())

    on_wake, claim = worker.listener.on_wake, worker._claim

    def woken():
        stamps.setdefault("notify", now())
        on_wake()

    async def timed_claim(*args, **kwargs):
        sent = now()
        jobs = await claim(*args, **kwargs)
        if jobs:
            stamps["claim_sent"], stamps["claim_done"] = sent, now()
        return jobs

    worker.listener.on_wake, worker._claim = woken, timed_claim
    running = asyncio.create_task(worker.run_async())
    await asyncio.wait_for(worker.listener.connected.wait(), 20)
    await asyncio.sleep(0.5)
    hops = {h: [] for h in ("assign", "notify", "handoff", "claim", "start", "total")}
    async with AsyncCollabClient.from_url(url) as producer:
        for _ in range(5):  # warm both sides' statements
            await producer.assign("bench.ping", executor_id="lat")
            await asyncio.wait_for(started.get(), 10)
        for _ in range(samples):
            await asyncio.sleep(random.uniform(0.02, 0.22))
            stamps.clear()
            sent = now()
            await producer.assign("bench.ping", executor_id="lat")
            answered = now()
            begun = await asyncio.wait_for(started.get(), 10)
            if "notify" not in stamps or "claim_sent" not in stamps:
                continue  # woken by a poll or a freed slot: not the path timed here
            ms = lambda a, b: (b - a) / 1e6
            hops["assign"].append(ms(sent, answered))
            hops["notify"].append(ms(sent, stamps["notify"]))
            hops["handoff"].append(ms(stamps["notify"], stamps["claim_sent"]))
            hops["claim"].append(ms(stamps["claim_sent"], stamps["claim_done"]))
            hops["start"].append(ms(stamps["claim_done"], begun))
            hops["total"].append(ms(sent, begun))
    worker.request_stop()
    await asyncio.wait_for(running, 30)
    print(json.dumps(hops))

asyncio.run(main())
'''

#: The child of ``--single``: argv url calls; prints {"calls_per_s", "cpu_us_per_call"}.
SINGLE_CHILD = r'''
import asyncio, json, sys, time
from collab_sdk import AsyncCollabClient

url, calls = sys.argv[1], int(sys.argv[2])

async def main():
    async with AsyncCollabClient.from_url(url) as client:
        for _ in range(50):
            await client.assign("bench.noop", executor_id="single")
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            await client.assign("bench.noop", executor_id="single")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"calls_per_s": calls / wall, "cpu_us_per_call": cpu / calls * 1e6}))

asyncio.run(main())
'''


def run_child(code: str, src: Path, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter importing the package at ``src``; its JSON line."""
    out = subprocess.run([sys.executable, "-c", code, *args], env={**os.environ, "PYTHONPATH": str(src)},
                         capture_output=True, text=True, check=True, cwd=src.parent).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="HEAD", help="the revision to compare with (default HEAD)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--samples", type=int, default=60, help="wake-ups a round and tree")
    parser.add_argument("--single", action="store_true", help="time single enqueue instead")
    parser.add_argument("--calls", type=int, default=2000, help="assign calls a round and tree (--single)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="collab-idle-") as tmp, bench_server() as (admin, _):
        trees = {"before": export_src(args.before, Path(tmp)), "after": ROOT.parent / "src"}
        urls = {name: migrate_with(src, admin, f"idle_{name}") for name, src in trees.items()}
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
                if args.single:
                    figures = run_child(SINGLE_CHILD, trees[name], urls[name], str(args.calls))
                else:
                    hops = run_child(LATENCY_CHILD, trees[name], urls[name], str(args.samples))
                    figures = {h: statistics.median(v) for h, v in hops.items() if v}
                    figures["samples"] = len(hops["total"])
                rounds[name].append(figures)
                print(r, name, {k: round(v, 3) for k, v in figures.items()}, flush=True)
        summary = {name: {k: statistics.median(f[k] for f in runs) for k in runs[0]} for name, runs in rounds.items()}
        for name, figures in summary.items():
            print(name, {k: round(v, 3) for k, v in figures.items()})
        print("after / before", {k: round(summary["after"][k] / summary["before"][k], 3)
                                 for k in summary["after"] if summary["before"].get(k)})


if __name__ == "__main__":
    main()
