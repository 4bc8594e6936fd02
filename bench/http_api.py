"""HTTP benchmark: ``collab serve``'s task.assign / task.claim / task.result beside the
same RPCs called directly with psycopg, at several client concurrencies — the server
*before* (the Flask + waitress ``collab serve`` of a git revision) and *after* (this
tree's Starlette + uvicorn one) in the same run — and SSE fan-out to many viewers.

    .venv/bin/python bench/http_api.py [--seconds 10] [--concurrency 1,8,32] [--anchor-seconds 15]
    .venv/bin/python bench/http_api.py --seconds 3 --anchor-seconds 6      # quick: a few minutes
    .venv/bin/python bench/http_api.py --before none --viewers 1000        # after only

On a throw-away PostgreSQL 16 (as bench/engine.py), in the same run:

- the anchors of ``shared/bench/anchors/run.sh`` (before and after; the median is used);
- ``--before REV`` (default: the last revision whose ``collab_sdk/http/app.py`` imports
  Flask): its ``src/`` from ``git archive``, served by its own ``collab serve --threads 16``;
  and this tree's ``python -m collab_sdk.http.serve --workers 1``. Both are subprocesses on
  free ports (API key, rate limit off unless ``--rate-limit``, access logs on);
- for each concurrency and operation, N clients (each with its own keep-alive
  connection, one request at a time) call it in a loop for ``--seconds``: once as direct
  SQL (``assign_job_v1``, ``claim_one_job_v3``, ``complete_job_v1``), once over HTTP
  against each server. By default (``--client loadgen``) the clients of a phase are one
  ``bench/loadgen.py`` process of their own on uvloop: raw HTTP/1.1 over
  ``asyncio.open_connection`` with pre-built request bytes, or one async psycopg
  connection per client for SQL — the same closed loop, so the ratio stays fair, at
  ~50–130 µs of client CPU per request instead of httpx threads' 340–800
  (``--client threads``: the older httpx / psycopg threads in this process). Claims drain
  jobs queued beforehand; results complete jobs claimed beforehand (with ``workerId`` and
  ``attempt``, so the server makes one RPC, as SQL does). A phase ends early if it runs
  out of those jobs;
- ``--viewers N`` (default 1000; 0 skips it): N SSE viewers of one executor's stream on
  the *after* server and on an ASGI *before* server (raw asyncio sockets in this process,
  on uvloop when installed, following from the log's head), then ``--fanout-events``
  single-event commits 0.25 s apart; for each, the time from just before the commit to
  when the last (N-th) viewer has it, and the CPU the server and this process spent per
  event (``--fanout-rounds R``: R runs per server, alternating; p50/p99/max over every
  event of every run, CPU per event the median of the runs). A Flask *before* server cannot hold N streams (one thread each, 16 threads), so
  it has no fan-out figure. ``--workers2`` (default on) adds *after2*: this tree's server
  with ``--workers 2`` (CPU: its whole process tree). ``--unprepared`` adds *unprep*: this
  tree's server with ``COLLAB_PREPARE=off`` (RPC statements never prepared, as behind a
  transaction pooler), run last in each phase sweep. ``--pool N`` adds *pool*: this tree's
  server with ``COLLAB_POOL_SIZE=N`` (the others keep the default 10 connections, which
  caps a server at 10 RPCs in flight where 32 SQL clients have 32). ``--rounds R`` repeats the sweep R
  times, a different kind first each round: every figure is then the median over the
  rounds, and each ratio to SQL the median of the rounds' own ratios. ``--unbatched`` adds
  *unbatch*: this tree's server with ``COLLAB_RESULT_BATCH=off`` (no group commit: every
  ``task.result`` its own ``complete_job_v1``). ``--ops result`` measures only the ops named; ``--variant NAME=VALUE,…`` adds *variant*, this
  tree's server with those environment variables.

Reported: requests/s, p50/p99 latency, each server ÷ SQL, ÷ anchor (``insert1_rows_per_s``
for assign, ``claim_complete_jobs_per_s`` for claim and result), CPU per request of the
client process, the server process and Postgres's client backends (from /proc); fan-out
p50/p99/max and the server's LISTEN connections while the viewers are open. "client" CPU
is the load generator's process (or this process with ``--client threads``), "server"
the server's process tree, "postgres" every client backend (the server's pool, or the
SQL clients' connections). Results go to
stdout and bench/results/http.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from engine import ROOT, bench_server, enqueue, run_anchors
from loadgen import request_body

REPO = ROOT.parent

OPS = ("assign", "claim", "result")
ANCHOR_OF = {"assign": "insert1_rows_per_s", "claim": "claim_complete_jobs_per_s",
             "result": "claim_complete_jobs_per_s"}
# Jobs queued (claim) or claimed (result) per second of a phase: well above what each
# path reaches here. A phase that runs out ends early (its "seconds" says so).
PREFILL_PER_SECOND = {"sql": 8000, "before": 2000, "after": 4000, "after2": 5000, "unprep": 4000, "pool": 5000,
                      "unbatch": 4000, "variant": 4000}
TICK = os.sysconf("SC_CLK_TCK")
# The backends serving clients (SQL clients and the server's pool), not autovacuum & co.
_BACKENDS = "select pid from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()"


class Sql:
    """One psycopg connection calling the RPCs."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)

    def assign(self, executor: str) -> None:
        self.conn.execute("select job_id from collab.assign_job_v1(type => 'bench.noop', executor_id => %s)",
                          (executor,)).fetchone()

    def claim(self, executor: str, worker: str) -> Any:
        row = self.conn.execute("select id from collab.claim_one_job_v3(executor_id => %s, worker_id => %s,"
                                " lease_seconds => 3600)", (executor, worker)).fetchone()
        return row and row[0]

    def result(self, job_id: Any, worker: str) -> None:
        self.conn.execute("select id from collab.complete_job_v1(job_id => %s, worker_id => %s, attempt => 1)",
                          (job_id, worker)).fetchone()

    def close(self) -> None:
        self.conn.close()


class Http:
    """One keep-alive httpx connection to ``collab serve``."""

    def __init__(self, base: str, key: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"x-api-key": key}, timeout=60)
        self.http.get("/api/collab/health")  # connect now, not in the first timed request

    def _post(self, route: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"/api/collab/{route}", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"{route}: {response.status_code} {response.text}")
        return response.json()

    def assign(self, executor: str) -> None:
        self._post("task.assign", request_body("assign", executor, ""))

    def claim(self, executor: str, worker: str) -> Any:
        job = self._post("task.claim", request_body("claim", executor, worker))["job"]
        return job and job["id"]

    def result(self, job_id: Any, worker: str) -> None:
        self._post("task.result", request_body("result", "", worker, str(job_id)))

    def close(self) -> None:
        self.http.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flask_revision() -> str:
    """The last revision whose ``src/collab_sdk/http/app.py`` imports Flask."""
    removed = subprocess.run(["git", "log", "-1", "--format=%H", "-S", "import flask", "--",
                              "src/collab_sdk/http/app.py"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
    with_flask = subprocess.run(["git", "show", f"{removed}:src/collab_sdk/http/app.py"], cwd=REPO,
                                capture_output=True, text=True).stdout
    return removed if "import flask" in with_flask else f"{removed}^"


def export_src(rev: str, into: Path) -> Path:
    """The package and SQL of ``rev`` (read-only: ``git archive``), unpacked under ``into``:
    its ``src/`` (returned), ``supabase/``, ``sql/`` and ``pyproject.toml``, so that its
    migrator finds its own migrations."""
    archive = subprocess.run(["git", "archive", rev, "src", "supabase", "sql", "pyproject.toml"], cwd=REPO,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def migrate_with(src: Path, admin: str, name: str) -> str:
    """A database ``name`` beside ``bench``, migrated by the tree at ``src`` (its schema
    version, which its SDK insists on): its URL."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run([sys.executable, "-c", "import sys; from collab_sdk.local.migrate import migrate; "
                    "migrate(sys.argv[1])", url], env={**os.environ, "PYTHONPATH": str(src)}, check=True,
                   cwd=src.parent)
    return url


@contextlib.contextmanager
def collab_serve(url: str, key: str, tmp: str, rate_limit: str, *, before_src: Path | None = None,
                 threads: int = 16, workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """A server on a free port against ``url``: (base URL, pid). With ``before_src``, that
    tree's own ``collab serve --threads``; else this tree's ``collab_sdk.http.serve``;
    ``extra_env`` on top of its environment (``COLLAB_PREPARE=off`` for *unprep*)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAB_", "SUPABASE_"))}
    env.update(COLLAB_DATABASE_URL=url, COLLAB_API_KEY=key, COLLAB_RATE_LIMIT=rate_limit, COLLAB_HOME=tmp,
               **(extra_env or {}))
    if before_src is not None and "import flask" in (before_src / "collab_sdk/http/app.py").read_text():
        env["PYTHONPATH"] = str(before_src)
        command = [sys.executable, "-c", "import sys; sys.argv[0] = 'collab'; from collab_sdk.cli import main; "
                   "sys.exit(main())", "serve", "--port", str(port), "--threads", str(threads)]
    elif before_src is not None:  # an ASGI revision: its own server, one worker
        env["PYTHONPATH"] = str(before_src)
        command = [sys.executable, "-m", "collab_sdk.http.serve", "--port", str(port), "--workers", "1"]
    else:
        command = [sys.executable, "-m", "collab_sdk.http.serve", "--port", str(port), "--workers", str(workers)]
    base = f"http://127.0.0.1:{port}"
    log_path = Path(tmp) / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/api/collab/health", timeout=1).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("collab serve did not start:\n" + log_path.read_text())
                time.sleep(0.1)
            yield base, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


Processes = dict[str, Callable[[], set[int]]]  # name -> the pids it has now


def _tree(pid: int) -> set[int]:
    """``pid`` and its descendants (uvicorn's workers under its supervisor)."""
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def _cpu_seconds(pid: int) -> float:
    """CPU seconds process ``pid`` has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _cpu(processes: Processes) -> dict[str, dict[int, float]]:
    return {name: {pid: _cpu_seconds(pid) for pid in pids()} for name, pids in processes.items()}


def measure(clients: list[Any], op: Callable[[Any, int], bool], seconds: float,
            processes: Processes) -> dict[str, Any]:
    """Each client in its own thread calls ``op(client, i)`` until it returns False or
    ``seconds`` pass: requests/s, latency, CPU µs per request of each of ``processes``."""
    latencies: list[list[float]] = [[] for _ in clients]
    errors: list[BaseException] = []
    go = threading.Event()
    end = [0.0]

    def loop(i: int) -> None:
        go.wait()
        try:
            while time.perf_counter() < end[0]:
                started = time.perf_counter()
                if not op(clients[i], i):
                    return
                latencies[i].append(time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    before = _cpu(processes)
    start = time.perf_counter()
    end[0] = start + seconds
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    after = _cpu(processes)
    if errors:
        raise errors[0]
    done = [x for lat in latencies for x in lat]
    q = statistics.quantiles(done, n=100)
    return {"requests": len(done), "seconds": elapsed, "per_s": len(done) / elapsed,
            "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "cpu_us_per_request": {name: sum(after[name][pid] - before[name].get(pid, 0.0) for pid in after[name])
                                   / len(done) * 1e6 for name in processes}}


def phase(url: str, connect: Callable[[], Any], kind: str, op: str, concurrency: int, seconds: float,
          processes: Processes, loadgen: tuple[str, str, str] | None = None) -> dict[str, Any]:
    """One operation over one transport (``kind``) at one concurrency, jobs prepared first:
    from ``loadgen.py`` (``loadgen`` = its mode, target and key), else from threads of
    this process calling ``connect()``'s clients."""
    executor = f"{op}-{kind}-{concurrency}-{secrets.token_hex(3)}"
    budget = int(seconds * PREFILL_PER_SECOND[kind])
    if op in ("claim", "result"):
        enqueue(url, executor, budget)
    claimed: Iterator[Any] = iter(())
    if op == "result":
        with psycopg.connect(url, autocommit=True) as conn:
            claimed = iter([row[0] for _ in range(budget // 1000) for row in conn.execute(
                "select id from collab.claim_jobs_v1(executor_id => %s, worker_id => 'pre',"
                " lease_seconds => 3600, max_jobs => 1000)", (executor,)).fetchall()])

    def call(client: Any, i: int) -> bool:
        if op == "assign":
            client.assign(executor)
            return True
        if op == "claim":
            return client.claim(executor, f"w{i}") is not None
        job_id = next(claimed, None)
        if job_id is not None:
            client.result(job_id, "pre")
        return job_id is not None

    if loadgen is not None:
        return measure_loadgen(loadgen, op, executor, concurrency, seconds, list(claimed), processes)
    clients = [connect() for _ in range(concurrency)]
    try:
        return measure(clients, call, seconds, processes)
    finally:
        for client in clients:
            client.close()


def measure_loadgen(loadgen: tuple[str, str, str], op: str, executor: str, concurrency: int,
                    seconds: float, job_ids: list[Any], processes: Processes) -> dict[str, Any]:
    """``op`` from a ``loadgen.py`` process (``loadgen`` = (mode, target, key)) with
    ``concurrency`` connections for ``seconds``: its figures, and the CPU µs per request of
    each of ``processes``, the client being that process (measured between its start
    signal and its answer)."""
    mode, target, key = loadgen
    with tempfile.NamedTemporaryFile("w", suffix=".ids") as ids:
        ids.write("\n".join(str(j) for j in job_ids))
        ids.flush()
        command = [sys.executable, str(ROOT / "loadgen.py"), "--mode", mode, "--target", target, f"--key={key}",  # a key may start with "-"
                   "--op", op, "--executor", executor, "--concurrency", str(concurrency),
                   "--seconds", str(seconds)] + (["--jobs", ids.name] if op == "result" else [])
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"loadgen did not start: {proc.wait()}")
            charged = {**processes, "client": lambda: {proc.pid}}
            before = _cpu(charged)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            after = _cpu(charged)
            if not line:
                raise RuntimeError(f"loadgen failed: exit {proc.wait()}")
            figures: dict[str, Any] = json.loads(line)
            proc.stdin.write("bye\n")
            proc.stdin.flush()
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            proc.wait(timeout=30)
    done = max(1, figures["requests"])
    figures["cpu_us_per_request"] = {name: sum(after[name][pid] - before[name].get(pid, 0.0) for pid in after[name])
                                     / done * 1e6 for name in charged}
    return figures


async def fanout(base: str, key: str, url: str, viewers: int, events: int, server_pid: int) -> dict[str, Any]:
    """``viewers`` SSE viewers of one executor on ``base``; commit → last viewer, per event,
    and the CPU the server and this process spent per event (less noisy than latency on a
    shared host)."""
    executor = f"fanout-{secrets.token_hex(3)}"
    with psycopg.connect(url, autocommit=True) as conn:
        job_id = conn.execute("select job_id from collab.assign_job_v1(type => 'bench.fan', "
                              "executor_id => %s)", (executor,)).fetchone()[0]  # type: ignore[index]
        conn.execute("select collab.claim_one_job_v3(executor_id => %s, worker_id => 'w')", (executor,))
        head_seq = conn.execute("select collab.job_events_head_v1()").fetchone()[0]  # type: ignore[index]
    host, port = base.removeprefix("http://").split(":")
    arrivals: dict[int, list[float]] = {}
    ready = [0]
    head = (f"GET /api/collab/events/stream?executorId={executor}&since={head_seq}&timeout=3600 HTTP/1.1\r\n"
            f"Host: {host}\r\nx-api-key: {key}\r\nAccept: text/event-stream\r\n\r\n").encode()

    async def viewer() -> None:
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 20)
        writer.write(head)
        counted = False
        try:
            while True:
                block = await reader.readuntil(b"\n\n")
                if not counted and b"retry:" in block:
                    counted = True
                    ready[0] += 1
                for line in block.split(b"\n"):
                    if line.startswith(b"id: "):
                        arrivals.setdefault(int(line[4:]), []).append(time.monotonic())
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    tasks = [asyncio.create_task(viewer()) for _ in range(viewers)]
    deadline = time.monotonic() + 120
    while ready[0] < viewers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {ready[0]} of {viewers} viewers connected")
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)  # every stream follows from the log's head: nothing to catch up
    sent: dict[int, float] = {}

    def produce() -> int:
        with psycopg.connect(url, autocommit=True) as conn:
            listening = conn.execute("select count(*) from pg_stat_activity where application_name = "
                                     "'collab-listener' and datname = current_database()").fetchone()[0]  # type: ignore[index]
            for i in range(events):
                started = time.monotonic()
                seq = conn.execute("select seq from collab.append_job_event_v1(job_id => %s, worker_id => 'w', "
                                   "payload => jsonb_build_object('i', %s::int))", (job_id, i)).fetchone()[0]  # type: ignore[index]
                sent[seq] = started
                time.sleep(0.25)
        return int(listening)

    cpu_before = {"server": sum(_cpu_seconds(p) for p in _tree(server_pid)), "client": _cpu_seconds(os.getpid())}
    listening = await asyncio.to_thread(produce)
    deadline = time.monotonic() + 60  # until every viewer has every event, or a minute
    while time.monotonic() < deadline and any(len(arrivals.get(seq, [])) < viewers for seq in sent):
        await asyncio.sleep(0.2)
    cpu_ms_per_event = {"server": (sum(_cpu_seconds(p) for p in _tree(server_pid)) - cpu_before["server"]) / events * 1000,
                        "client": (_cpu_seconds(os.getpid()) - cpu_before["client"]) / events * 1000}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    last = [(max(arrivals[seq]) - at) * 1000 for seq, at in sent.items() if len(arrivals.get(seq, [])) == viewers]
    first = [(min(arrivals[seq]) - at) * 1000 for seq, at in sent.items() if arrivals.get(seq)]
    q = statistics.quantiles(last, n=100) if len(last) > 1 else (last * 99 or [float("nan")] * 99)
    f = statistics.quantiles(first, n=100) if len(first) > 1 else (first * 99 or [float("nan")] * 99)
    return {"viewers": viewers, "ready": ready[0], "events": events, "last_viewer_ms": last,
            "events_every_viewer_got": len(last), "viewers_per_event": statistics.mean(
                len(arrivals.get(seq, [])) for seq in sent),
            "last_viewer_p50_ms": q[49], "last_viewer_p99_ms": q[98],
            "last_viewer_max_ms": max(last, default=float("nan")),
            "first_viewer_p50_ms": f[49], "first_viewer_p99_ms": f[98], "listen_connections": listening,
            "cpu_ms_per_event": cpu_ms_per_event}


def _run_fast(coroutine: Any) -> Any:
    """``asyncio.run`` on uvloop when it is installed: 1,000 viewer sockets cost the bench
    process less, so that the figure is more the server's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="1,8,32", help="client counts ('none': fan-out only)")
    parser.add_argument("--anchor-seconds", type=int, default=15)
    parser.add_argument("--before", default=None, metavar="REV",
                        help="the revision to compare with (default: the last Flask one, found from git; "
                        "an ASGI revision is served by its own python -m collab_sdk.http.serve); 'none' skips it")
    parser.add_argument("--serve-threads", type=int, default=16, help="the before server's --threads")
    parser.add_argument("--viewers", type=int, default=1000, help="SSE fan-out viewers (0: skip)")
    parser.add_argument("--fanout-events", type=int, default=40)
    parser.add_argument("--fanout-rounds", type=int, default=1,
                        help="fan-out runs per server, alternating (latencies pooled, CPU per event the median)")
    parser.add_argument("--rate-limit", default="off", help="COLLAB_RATE_LIMIT for collab serve, e.g. 10000000/60")
    parser.add_argument("--client", choices=("loadgen", "threads"), default="loadgen",
                        help="loadgen: bench/loadgen.py processes (raw HTTP/1.1 or async psycopg on uvloop); "
                        "threads: httpx / psycopg threads in this process (the older, costlier client)")
    parser.add_argument("--workers2", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure this tree's server with --workers 2 ('after2')")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the phase sweep (each kind first in turn): figures are medians, and "
                        "each ratio to SQL the median of the rounds' own ratios")
    parser.add_argument("--pool", type=int, default=0, metavar="N",
                        help="also measure this tree's server with COLLAB_POOL_SIZE=N ('pool'; default servers keep 10)")
    parser.add_argument("--unprepared", action=argparse.BooleanOptionalAction, default=False,
                        help="also measure this tree's server with COLLAB_PREPARE=off ('unprep')")
    parser.add_argument("--unbatched", action=argparse.BooleanOptionalAction, default=False,
                        help="also measure this tree's server with COLLAB_RESULT_BATCH=off ('unbatch': "
                        "every task.result its own call, no group commit)")
    parser.add_argument("--variant", default=None, metavar="NAME=VALUE[,NAME=VALUE]",
                        help="also measure this tree's server with these environment variables ('variant')")
    parser.add_argument("--ops", default=",".join(OPS), help="the operations to measure (default: all)")
    args = parser.parse_args()
    ops = [op for op in args.ops.split(",") if op]
    assert set(ops) <= set(OPS), f"--ops: {args.ops!r}"
    sweep = [] if args.concurrency == "none" else [int(c) for c in args.concurrency.split(",")]
    key = secrets.token_urlsafe(24)
    before_rev = None if args.before == "none" else (args.before or flask_revision())
    if before_rev and args.before is None and not all(importlib.util.find_spec(m) for m in ("flask", "waitress")):
        print(f"  no before server: {before_rev} needs flask and waitress, which the http extra "
              "no longer installs (pip install flask waitress to compare)", flush=True)
        before_rev = None
    kinds = (["sql"] + (["before"] if before_rev else []) + ["after"] + (["after2"] if args.workers2 else [])
             + (["unprep"] if args.unprepared else []) + (["pool"] if args.pool else [])
             + (["unbatch"] if args.unbatched else []) + (["variant"] if args.variant else []))

    figures: dict[str, dict[str, dict[int, dict[str, Any]]]] = {op: {k: {} for k in kinds} for op in ops}
    fan: dict[str, Any] | None = None
    flask_kinds: set[str] = set()
    with bench_server() as (admin, url), tempfile.TemporaryDirectory(prefix="collab-bench-http-") as tmp, \
            contextlib.ExitStack() as servers:
        anchors_before = run_anchors(admin, args.anchor_seconds)
        bases: dict[str, tuple[str, int]] = {
            "after": servers.enter_context(collab_serve(url, key, tmp, args.rate_limit))}
        urls = {"sql": url, "after": url, "after2": url, "unprep": url, "pool": url, "unbatch": url, "variant": url}
        if args.variant:
            variant_env = dict(pair.split("=", 1) for pair in args.variant.split(","))
            bases["variant"] = servers.enter_context(collab_serve(url, key, tmp, args.rate_limit,
                                                                  extra_env=variant_env))
        if args.unbatched:
            bases["unbatch"] = servers.enter_context(collab_serve(url, key, tmp, args.rate_limit,
                                                                  extra_env={"COLLAB_RESULT_BATCH": "off"}))
        if args.pool:
            bases["pool"] = servers.enter_context(collab_serve(url, key, tmp, args.rate_limit,
                                                               extra_env={"COLLAB_POOL_SIZE": str(args.pool)}))
        if args.unprepared:
            bases["unprep"] = servers.enter_context(collab_serve(url, key, tmp, args.rate_limit,
                                                                 extra_env={"COLLAB_PREPARE": "off"}))
        if args.workers2:
            bases["after2"] = servers.enter_context(collab_serve(url, key, tmp, args.rate_limit, workers=2))
        if before_rev:
            src = export_src(before_rev, Path(tmp))
            urls["before"] = migrate_with(src, admin, "bench_before")
            bases["before"] = servers.enter_context(collab_serve(urls["before"], key, tmp, args.rate_limit,
                                                                 before_src=src, threads=args.serve_threads))
            if "import flask" in (src / "collab_sdk/http/app.py").read_text():
                flask_kinds.add("before")  # one thread per stream: no fan-out figure
        monitor = servers.enter_context(psycopg.connect(admin, autocommit=True))
        pids = {name: pid for name, (_, pid) in bases.items()}
        connect: dict[str, Callable[[], Any]] = {"sql": lambda: Sql(url)}
        for name, (base, _) in bases.items():
            connect[name] = (lambda b: lambda: Http(b, key))(base)
        loadgen: dict[str, tuple[str, str, str] | None] = {
            kind: None if args.client == "threads" else
            ("sql", url, "") if kind == "sql" else ("http", bases[kind][0], key) for kind in kinds}
        for op in ops:  # warm up (and check) every path: plans, caches, the servers' pools
            for kind in kinds:
                phase(urls[kind], connect[kind], kind, op, 4, 0.5, _processes(kind, pids, monitor),
                      loadgen[kind])
        rounds: dict[str, dict[str, dict[int, list[dict[str, Any]]]]] = {
            op: {k: {c: [] for c in sweep} for k in kinds} for op in ops}
        for r in range(args.rounds):
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]  # each kind first in turn
            for c in sweep:
                for op in ops:
                    for kind in order:
                        f = phase(urls[kind], connect[kind], kind, op, c, args.seconds,
                                  _processes(kind, pids, monitor), loadgen[kind])
                        rounds[op][kind][c].append(f)
                        short = " (ran out of jobs)" if f["seconds"] < 0.95 * args.seconds else ""
                        print(f"  round {r + 1}: {op:6} {kind:6} c={c:<3} {f['per_s']:7.0f}/s over "
                              f"{f['seconds']:.1f} s{short}", flush=True)
        for op in ops:
            for kind in kinds:
                for c in sweep:
                    figures[op][kind][c] = _median_figures(rounds[op][kind][c], rounds[op]["sql"][c])
        if args.viewers:
            fanned = [k for k in ("before", "after") if k in bases and k not in flask_kinds]
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in fanned}
            for r in range(args.fanout_rounds):
                for kind in fanned[r % len(fanned):] + fanned[:r % len(fanned)]:
                    runs[kind].append(_run_fast(fanout(bases[kind][0], key, urls[kind], args.viewers,
                                                       args.fanout_events, bases[kind][1])))
                    shown = {k: v for k, v in runs[kind][-1].items() if k != "last_viewer_ms"}
                    print(f"  fan-out round {r + 1} {kind}: {shown}", flush=True)
            fan = {kind: _pooled_fanout(found) for kind, found in runs.items()}
        anchors_after = run_anchors(admin, args.anchor_seconds)

    anchor = {k: statistics.median([anchors_before[k], anchors_after[k]]) for k in anchors_before}
    ratios = {op: {c: {**{f"{k}_over_sql": figures[op][k][c]["over_sql"] for k in kinds if k != "sql"},
                       **{f"{k}_over_anchor": figures[op][k][c]["per_s"] / anchor[ANCHOR_OF[op]] for k in kinds}}
                   for c in sweep} for op in ops}
    print(f"\nbefore = {before_rev or '-'}; anchors (median): insert1 {anchor['insert1_rows_per_s']:.0f} rows/s, "
          f"claim_complete {anchor['claim_complete_jobs_per_s']:.0f} jobs/s")
    print(f"{'op':6} {'c':>3} | {'kind':6} {'req/s':>6} {'p50':>6} {'p99':>6} | {'÷sql':>5} {'÷anc':>5} | "
          f"CPU µs/req: client server pg")
    for op in ops:
        for c in sweep:
            for kind in kinds:
                f, r = figures[op][kind][c], ratios[op][c]
                cpu = f["cpu_us_per_request"]
                over_sql = f"{r[f'{kind}_over_sql']:5.2f}" if kind != "sql" else "    -"
                print(f"{op:6} {c:>3} | {kind:6} {f['per_s']:6.0f} {f['p50_ms']:6.2f} {f['p99_ms']:6.2f} | "
                      f"{over_sql} {r[f'{kind}_over_anchor']:5.2f} | {cpu['client']:5.0f} "
                      f"{cpu.get('serve', 0):6.0f} {cpu['postgres']:5.0f}")
    for kind, f in (fan or {}).items():
        print(f"fan-out {kind:6}: {args.viewers} viewers, {f['events']} events: last viewer p50 "
              f"{f['last_viewer_p50_ms']:.1f} / p99 {f['last_viewer_p99_ms']:.1f} / max {f['last_viewer_max_ms']:.1f} ms; "
              f"CPU per event: server {f['cpu_ms_per_event']['server']:.1f} ms; LISTEN connections "
              f"{f['listen_connections']}")
    report = {"args": vars(args), "before_revision": before_rev, "anchors_before": anchors_before,
              "anchors_after": anchors_after, "anchor": anchor, "anchor_of": ANCHOR_OF, "figures": figures,
              "ratios": ratios, "fanout": fan}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "http.json").write_text(json.dumps(report, indent=2))


def _pooled_fanout(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Fan-out rounds of one server: the last viewer's p50/p99/max over every event of every
    round, the median CPU per event, and each round's own figures."""
    last = [ms for run in runs for ms in run["last_viewer_ms"]]
    q = statistics.quantiles(last, n=100) if len(last) > 1 else [float("nan")] * 99
    return {"events": len(last), "last_viewer_p50_ms": q[49], "last_viewer_p99_ms": q[98],
            "last_viewer_max_ms": max(last, default=float("nan")),
            "cpu_ms_per_event": {name: statistics.median(run["cpu_ms_per_event"][name] for run in runs)
                                 for name in runs[0]["cpu_ms_per_event"]},
            "listen_connections": max(run["listen_connections"] for run in runs), "rounds": runs}


def _median_figures(runs: list[dict[str, Any]], sql_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One kind's figures over its rounds: the median of each, and ``over_sql``, the median
    of its rate ÷ direct SQL's in the same round (a round's phases run back to back, so the
    host's load moves them together); ``rounds`` keeps every round's figures."""
    cpu = {name: statistics.median(f["cpu_us_per_request"][name] for f in runs)
           for name in runs[0]["cpu_us_per_request"]}
    return {**{key: statistics.median(f[key] for f in runs) for key in ("requests", "seconds", "per_s", "p50_ms", "p99_ms")},
            "cpu_us_per_request": cpu,
            "over_sql": statistics.median(f["per_s"] / q["per_s"] for f, q in zip(runs, sql_runs)),
            "rounds": runs}


def _processes(kind: str, pids: dict[str, int], monitor: psycopg.Connection[Any]) -> Processes:
    """The processes whose CPU a phase of ``kind`` is charged: client, its server, Postgres."""
    processes: Processes = {"client": lambda: {os.getpid()},
                            "postgres": lambda: {pid for (pid,) in monitor.execute(_BACKENDS)}}
    if kind in pids:
        processes["serve"] = lambda: _tree(pids[kind])
    return processes


if __name__ == "__main__":
    main()
