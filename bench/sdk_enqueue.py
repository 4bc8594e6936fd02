"""The SDK's client CPU per job of ``AsyncCollabClient.assign_many`` (batches of 1,000, as
the peer harness's ``enqueue`` leg): this tree against another source tree, on one
throw-away server (``engine.bench_server``), in interleaved rounds.

    .venv/bin/python bench/sdk_enqueue.py [--before-src /tmp/base/src] [--rounds 6]

Each round runs one child process per tree (the other tree through ``PYTHONPATH``), in
alternating order; the child enqueues ``--batches`` batches and reports its own
``time.process_time()`` per job (the client's CPU, which other sessions' load does not
take away, unlike wall-clock time), after two warm-up batches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

from engine import bench_server


async def child(url: str, batches: int) -> None:
    from collab_sdk import AsyncCollabClient
    batch = [{"type": "bench.noop", "executor_id": "bench"}] * 1000
    async with AsyncCollabClient.from_url(url) as client:
        for _ in range(2):
            await client.assign_many(batch)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(batches):
            await client.assign_many(batch)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"cpu_us_per_job": cpu / batches / 1000 * 1e6,
                      "jobs_per_s": batches * 1000 / wall}))


def run(url: str, batches: int, src: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    out = subprocess.run([sys.executable, __file__, "--child", url, "--batches", str(batches)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before-src", help="another tree's src/ to compare with")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.batches))
        return
    trees = {"after": None} | ({"before": args.before_src} if args.before_src else {})
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with bench_server() as (_, url):
        for round_ in range(args.rounds):
            order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for name in order:
                figures[name].append(run(url, args.batches, trees[name]))
    for name, runs in figures.items():
        cpu = statistics.median(r["cpu_us_per_job"] for r in runs)
        rate = statistics.median(r["jobs_per_s"] for r in runs)
        rounds = ", ".join(f"{r['cpu_us_per_job']:.2f}" for r in runs)
        print(f"{name:6s} client CPU {cpu:5.2f} us/job  wall {rate:7.0f} jobs/s (medians of {len(runs)}: [{rounds}])")
    if "before" in figures:
        ratio = statistics.median(r["cpu_us_per_job"] for r in figures["after"]) / \
            statistics.median(r["cpu_us_per_job"] for r in figures["before"])
        print(f"after / before client CPU per job: {ratio:.2f}")


if __name__ == "__main__":
    main()
