"""Idle wake-up over Supabase: enqueue → handler start for a worker on ``SupabaseTransport``,
woken by Realtime broadcasts versus polling, in the same run.

    .venv/bin/python bench/wakeup.py [--samples 30]

On a throw-away PostgreSQL (as bench/engine.py) with the test stand-ins of Supabase: the
Realtime and Storage schemas of ``tests/support/supabase_services.sql`` exist before the
migrations, so ``collab._notify_claimable`` sends ``jobs.claimable`` with
``realtime.send``; the PostgREST stand-in (``tests/support/postgrest_standin.py``, in process
through respx) answers the RPCs and the Realtime stand-in (``tests/sdk/realtime_standin.py``,
a real websocket) relays the broadcasts. One idle worker (service key, concurrency 1):

- **realtime**: the default, woken on the private channel ``queue:<executor>``, polling
  every 30 s as the backstop;
- **polling**: the same worker without a wake-up source (``worker.listener = None``),
  polling every 2 s, what every Supabase worker did before.

Each sample enqueues one job after a random idle gap (0.2-2.2 s, so polling is sampled
over its whole interval) and times from before the ``assign`` call to the handler's start.
The figure is the ratio of the medians (polling / realtime). Results go to stdout and
bench/results/wakeup.json (not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT.parent / "tests"), str(ROOT.parent / "tests" / "sdk")]

from collab_sdk import AsyncCollabClient, Job  # noqa: E402
from collab_sdk.local.embedded import EmbeddedPostgres  # noqa: E402
from collab_sdk.transports.supabase.rpc import SupabaseTransport  # noqa: E402
from collab_sdk.worker.loop import Worker  # noqa: E402
from support.postgrest_standin import SECRET_KEY, PostgrestStandin  # noqa: E402
from realtime_standin import RealtimeStandin  # noqa: E402
from support.supabase import create_supabase_database  # noqa: E402


async def measure(url: str, samples: int, *, woken: bool) -> list[float]:
    """Enqueue → handler start (seconds) for ``samples`` jobs, one at a time, idle between."""
    async with RealtimeStandin(url) as realtime, PostgrestStandin(url, base_url=realtime.url):
        client = AsyncCollabClient(SupabaseTransport(realtime.url, SECRET_KEY))
        worker = Worker(client, executor_id="bench", concurrency=1, realtime=False,
                        heartbeat_interval=5.0, fire_schedules=False,
                        **({} if woken else {"poll_interval": 2.0}))
        if not woken:
            worker.listener = None
        started: asyncio.Queue[float] = asyncio.Queue()

        @worker.task("bench.wake")
        async def wake(job: Job, ctx: Any) -> None:
            started.put_nowait(time.perf_counter())

        running = asyncio.create_task(worker.run_async())
        if woken:
            assert worker.listener is not None
            await asyncio.wait_for(worker.listener.connected.wait(), 10)
        await asyncio.sleep(1.0)
        latencies = []
        async with AsyncCollabClient(SupabaseTransport(realtime.url, SECRET_KEY)) as producer:
            await producer.connect()
            for _ in range(samples):
                await asyncio.sleep(random.uniform(0.2, 2.2))
                sent = time.perf_counter()
                await producer.assign("bench.wake", executor_id="bench")
                latencies.append(await asyncio.wait_for(started.get(), 10) - sent)
        worker.request_stop()
        await asyncio.wait_for(running, 10)
        await client.aclose()
        return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": 1000 * statistics.median(ordered), "p90_ms": 1000 * ordered[int(0.9 * (len(ordered) - 1))],
            "max_ms": 1000 * ordered[-1], "samples": len(ordered)}


async def main(samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="collab-bench-wakeup-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data")
        admin = server.start()
        try:
            url = create_supabase_database(admin, "wakeup")
            results = {"realtime": summary(await measure(url, samples, woken=True)),
                       "polling": summary(await measure(url, samples, woken=False))}
        finally:
            server.stop("immediate")
    results["ratio_p50_polling_over_realtime"] = results["polling"]["p50_ms"] / results["realtime"]["p50_ms"]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    figures = asyncio.run(main(parser.parse_args().samples))
    print(json.dumps(figures, indent=2))
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "wakeup.json").write_text(json.dumps(figures, indent=2))
