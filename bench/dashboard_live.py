"""Commit → dashboard update latency with 50 open dashboards on one ``collab serve``.

    .venv/bin/python bench/dashboard_live.py [--dashboards 50] [--commits 100] [--interval 0.2]

On a throw-away PostgreSQL 16 (as bench/engine.py) and one ``collab serve`` process, in
the same run:

- ``--dashboards`` clients subscribe as the dashboard page does: each holds
  ``GET /api/collab/events/stream?executorId=`` (Server-Sent Events, a member's JWT in
  ``Authorization``), and on events refreshes as the page does — one refresh at a time,
  events during it make one more after it — reading the counts (``GET /api/jobs/stats``,
  ``--refresh stats``) or what dashboard.js's refresh reads (``--refresh page``: the
  counts, the filtered list and the sections the events touched — here, enqueues: the
  pending list —, and the overview's three reads at most every 3 s);
- a producer commits one enqueue (``assign_job_v1``, autocommit) every ``--interval``
  seconds and notes the time its commit returned;
- per dashboard and commit: *event* = the event's arrival − the commit, *update* = the end
  of the first refresh begun after the event − the commit. p50/p99 over every pair, beside the
  same producer's commit → LISTEN wake-up latency on a bare psycopg connection (the
  anchor: what any notification-driven page could do at best on this machine).

Results go to stdout and bench/results/dashboard_live.json (not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from collab_sdk.auth.tokens import mint_token
from engine import bench_server

ROOT = Path(__file__).resolve().parent
SECRET = "bench-secret-of-at-least-thirty-two-characters!"
EXECUTOR = "dash"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "n": len(ordered)}


def start_serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COLLAB_DATABASE_URL": url, "COLLAB_JWT_MODE": "local", "SUPABASE_JWT_SECRET": SECRET,
           "COLLAB_RATE_LIMIT": "off", "COLLAB_QUEUE_EXECUTOR": EXECUTOR, "COLLAB_LOG_FORMAT": "json",
           "COLLAB_STORAGE_DIR": str(log.parent / "storage")}
    proc = subprocess.Popen([sys.executable, "-m", "collab_sdk.cli.main", "serve", "--port", str(port)],
                            env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/collab/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


OVERVIEW_S = 3.0  # dashboard.js's OVERVIEW_MS
#: dashboard.js's TOUCHES: the sections an event's transition can change.
TOUCHES = {"queued": ["pending"], "claimed": ["claimed", "pending"], "succeeded": ["claimed", "completed"],
           "failed": ["claimed", "failed", "dlq"], "retry_scheduled": ["claimed", "pending"],
           "cancelled": ["pending", "claimed", "failed"], "retried": ["pending", "completed", "failed", "dlq"]}
SECTIONS = {"claimed": 50, "pending": 50, "completed": 20, "failed": 20}


def page_reads(refresh: str, overview: bool, touched: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """What one refresh reads: the counts only, or what dashboard.js's refresh reads (the
    counts, the filtered list and the sections the events touched; the overview's three
    reads when ``overview``: at most every OVERVIEW_S)."""
    ex = {"executorId": EXECUTOR}
    if refresh == "stats":
        return [("/api/jobs/stats", ex)]
    reads = [("/api/jobs/stats", ex), ("/api/jobs", {**ex, "limit": 50}),
             *(("/api/jobs", {**ex, "status": s, "limit": n}) for s, n in SECTIONS.items() if s in touched)]
    if "dlq" in touched:
        reads.append(("/api/collab/dlq", {**ex, "limit": 50, "includeRetried": "false"}))
    if overview:
        reads += [("/api/collab/workers/active", ex), ("/api/collab/metrics/overview", ex),
                  ("/api/collab/metrics/throughput", {**ex, "minutes": 60})]
    return reads


async def dashboard(http: httpx.AsyncClient, token: str, since: int, committed: dict[str, float],
                    events: list[float], updates: list[float], refresh: str, ready: asyncio.Event) -> None:
    """One page: follow the executor's stream; on events, refresh as the page does (one
    refresh at a time; events during one make one more after it)."""
    auth = {"Authorization": f"Bearer {token}"}
    waiting: list[str] = []  # jobs whose events arrived since the last refresh began
    touched: set[str] = set()
    refreshing: list[asyncio.Task[None]] = []
    overview_at = [0.0]

    async def refresh_loop() -> None:
        while waiting:
            batch, parts = waiting[:], set(touched)
            waiting.clear()
            touched.clear()
            overview = time.perf_counter() - overview_at[0] >= OVERVIEW_S
            if overview:
                overview_at[0] = time.perf_counter()
            answers = await asyncio.gather(*(http.get(path, params=params, headers=auth)
                                             for path, params in page_reads(refresh, overview, parts)))
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
            done = time.perf_counter()
            updates.extend(done - committed[j] for j in batch)
        refreshing.clear()

    params = {"executorId": EXECUTOR, "since": since, "timeout": 300}
    try:
        await follow(http, auth, params, committed, events, waiting, touched, refreshing, refresh_loop, ready)
    finally:
        for task in refreshing:
            task.cancel()


async def follow(http: httpx.AsyncClient, auth: dict[str, str], params: dict[str, Any], committed: dict[str, float],
                 events: list[float], waiting: list[str], touched: set[str], refreshing: list[asyncio.Task[None]],
                 refresh_loop: Any, ready: asyncio.Event) -> None:
    """Read the stream; note each event and start a refresh unless one is running."""
    async with http.stream("GET", "/api/collab/events/stream", params=params,
                           headers={**auth, "Accept": "text/event-stream"}) as response:
        assert response.status_code == 200, await response.aread()
        ready.set()
        buffer = ""
        async for chunk in response.aiter_text():
            buffer += chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                data = "".join(line[5:].strip() for line in block.split("\n") if line.startswith("data:"))
                event = json.loads(data) if data else {}
                job_id = event.get("jobId")
                if job_id not in committed:
                    continue
                touched.update(TOUCHES.get(event.get("eventType"), []))
                events.append(time.perf_counter() - committed[job_id])
                waiting.append(job_id)
                if not refreshing:
                    refreshing.append(asyncio.create_task(refresh_loop()))


def produce(url: str, commits: int, interval: float, committed: dict[str, float]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(commits):
            started = time.perf_counter()
            row = conn.execute("select job_id from collab.assign_job_v1(type => 'bench.dash', executor_id => %s)",
                               (EXECUTOR,)).fetchone()
            assert row is not None
            committed[str(row[0])] = time.perf_counter()
            time.sleep(max(0.0, interval - (time.perf_counter() - started)))


def listen_anchor(url: str, commits: int, interval: float) -> dict[str, float]:
    """Commit → NOTIFY delivered to a bare LISTEN connection (psycopg), same cadence."""
    samples: list[float] = []
    sent: dict[str, float] = {}
    done = threading.Event()

    def listen() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("listen bench_anchor")
            listening.set()
            for note in conn.notifies(stop_after=commits):
                samples.append(time.perf_counter() - sent[note.payload])
        done.set()

    listening = threading.Event()
    thread = threading.Thread(target=listen)
    thread.start()
    listening.wait()
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(commits):
            key = str(i)
            with conn.transaction():
                conn.execute("select pg_notify('bench_anchor', %s)", (key,))
                sent[key] = time.perf_counter()  # just before the commit: an upper bound of the anchor
            time.sleep(interval)
    done.wait(30)
    thread.join(5)
    return percentiles(samples)


async def run(url: str, base: str, dashboards: int, commits: int, interval: float,
              refresh: str) -> dict[str, Any]:
    user = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into collab.executor_members (executor_id, user_id, role) values (%s, %s, 'admin')",
                     (EXECUTOR, user))
        head = conn.execute("select collab.job_events_head_v1()").fetchone()[0]
    token = mint_token(SECRET, sub=str(user), expires_in=3600)
    committed: dict[str, float] = {}
    events: list[float] = []
    updates: list[float] = []
    limits = httpx.Limits(max_connections=dashboards * 2 + 10, max_keepalive_connections=dashboards * 2)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        readies = [asyncio.Event() for _ in range(dashboards)]
        tasks = [asyncio.create_task(dashboard(http, token, head, committed, events, updates, refresh, readies[i]))
                 for i in range(dashboards)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
        await asyncio.to_thread(produce, url, commits, interval, committed)
        deadline = time.monotonic() + 30
        while len(updates) < dashboards * commits and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"event_ms": percentiles([s * 1000 for s in events]),
            "update_ms": percentiles([s * 1000 for s in updates]),
            "expected_pairs": dashboards * commits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--refresh", choices=("stats", "page"), default="stats",
                        help="what a dashboard reads on events: the counts, or all the page reads")
    args = parser.parse_args()
    with bench_server() as (_admin, url), tempfile.TemporaryDirectory(prefix="collab-bench-live-") as tmp:
        port = free_port()
        proc = start_serve(url, port, Path(tmp) / "serve.log")
        try:
            anchor = listen_anchor(url, args.commits, args.interval)
            anchor = {k: v * 1000 if k != "n" else v for k, v in anchor.items()}
            figures = asyncio.run(run(url, f"http://127.0.0.1:{port}", args.dashboards, args.commits, args.interval,
                                      args.refresh))
        finally:
            proc.terminate()
            proc.wait(15)
    report = {"listen_anchor_ms": anchor, **figures, "dashboards": args.dashboards, "commits": args.commits,
              "interval_s": args.interval, "refresh": args.refresh}
    e, u = figures["event_ms"], figures["update_ms"]
    print(f"LISTEN anchor: p50 {anchor['p50']:.2f} ms, p99 {anchor['p99']:.2f} ms")
    print(f"{args.dashboards} dashboards x {args.commits} commits every {args.interval} s, refresh {args.refresh}"
          f" ({e['n']} of {figures['expected_pairs']} seen):"
          f" event p50 {e['p50']:.1f} ms, p99 {e['p99']:.1f} ms; counts updated p50 {u['p50']:.1f} ms,"
          f" p99 {u['p99']:.1f} ms")
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "dashboard_live.json").write_text(json.dumps(report, indent=2))


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (closed again before the server binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
