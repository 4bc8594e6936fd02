"""HTTP benchmark: ``collab serve``'s task.assign / task.claim / task.result beside the
same RPCs called directly with psycopg, at several client concurrencies.

    .venv/bin/python bench/http_api.py [--seconds 10] [--concurrency 1,8,32] [--anchor-seconds 15]
    .venv/bin/python bench/http_api.py --seconds 3 --anchor-seconds 6      # quick: about 2 minutes

On a throw-away PostgreSQL 16 (as bench/engine.py), in the same run:

- the anchors of ``shared/bench/anchors/run.sh`` (before and after; the median is used);
- ``collab serve`` as a subprocess on a free port (API key, rate limit off unless
  ``--rate-limit``, default threads and access logs);
- for each concurrency and operation, N client threads (each with its own keep-alive
  connection) call it in a loop for ``--seconds``: once as direct SQL
  (``assign_job_v1``, ``claim_one_job_v3``, ``complete_job_v1``), once over HTTP with
  httpx. Claims drain jobs queued beforehand; results complete jobs claimed beforehand
  (with ``workerId`` and ``attempt``, so the server makes one RPC, as SQL does). A phase
  ends early if it runs out of those jobs.

Reported: requests/s, p50/p99 latency, HTTP ÷ SQL, ÷ anchor (``insert1_rows_per_s`` for
assign, ``claim_complete_jobs_per_s`` for claim and result), and CPU per request of the
client process, the ``collab serve`` process and Postgres's client backends (from /proc).
Results go to stdout and bench/results/http.json.
"""

from __future__ import annotations

import argparse
import contextlib
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

OPS = ("assign", "claim", "result")
ANCHOR_OF = {"assign": "insert1_rows_per_s", "claim": "claim_complete_jobs_per_s",
             "result": "claim_complete_jobs_per_s"}
# Jobs queued (claim) or claimed (result) per second of a phase: well above what each
# path reaches here. A phase that runs out ends early (its "seconds" says so).
PREFILL_PER_SECOND = {"sql": 8000, "http": 2000}
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
        self._post("task.assign", {"type": "bench.noop", "executorId": executor})

    def claim(self, executor: str, worker: str) -> Any:
        job = self._post("task.claim", {"executorId": executor, "workerId": worker, "leaseSeconds": 3600})["job"]
        return job and job["id"]

    def result(self, job_id: Any, worker: str) -> None:
        self._post("task.result", {"jobId": str(job_id), "ok": True, "workerId": worker, "attempt": 1})

    def close(self) -> None:
        self.http.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def collab_serve(url: str, key: str, tmp: str, threads: int, rate_limit: str) -> Iterator[tuple[str, int]]:
    """``collab serve`` on a free port against ``url``: (base URL, pid)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAB_", "SUPABASE_"))}
    env.update(COLLAB_DATABASE_URL=url, COLLAB_API_KEY=key, COLLAB_RATE_LIMIT=rate_limit, COLLAB_HOME=tmp)
    base = f"http://127.0.0.1:{port}"
    with open(Path(tmp) / "serve.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "collab_sdk.cli.main", "serve", "--port", str(port),
                                 "--threads", str(threads)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/api/collab/health", timeout=1).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("collab serve did not start:\n" + (Path(tmp) / "serve.log").read_text())
                time.sleep(0.1)
            yield base, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


Processes = dict[str, Callable[[], set[int]]]  # name -> the pids it has now


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
          processes: Processes) -> dict[str, Any]:
    """One operation over one transport (``kind``) at one concurrency, jobs prepared first."""
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

    clients = [connect() for _ in range(concurrency)]
    try:
        return measure(clients, call, seconds, processes)
    finally:
        for client in clients:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--anchor-seconds", type=int, default=15)
    parser.add_argument("--serve-threads", type=int, default=16, help="collab serve --threads (its default)")
    parser.add_argument("--rate-limit", default="off", help="COLLAB_RATE_LIMIT for collab serve, e.g. 10000000/60")
    args = parser.parse_args()
    sweep = [int(c) for c in args.concurrency.split(",")]
    key = secrets.token_urlsafe(24)

    figures: dict[str, dict[str, dict[int, dict[str, Any]]]] = {op: {"sql": {}, "http": {}} for op in OPS}
    with bench_server() as (admin, url), tempfile.TemporaryDirectory(prefix="collab-bench-http-") as tmp:
        before = run_anchors(admin, args.anchor_seconds)
        with collab_serve(url, key, tmp, args.serve_threads, args.rate_limit) as (base, serve_pid), \
                psycopg.connect(url, autocommit=True) as monitor:
            processes: Processes = {"client": lambda: {os.getpid()}, "serve": lambda: {serve_pid},
                                    "postgres": lambda: {pid for (pid,) in monitor.execute(_BACKENDS)}}
            connect = {"sql": lambda: Sql(url), "http": lambda: Http(base, key)}
            for op in OPS:  # warm up (and check) both paths: plans, caches, the server's pool
                for kind in connect:
                    phase(url, connect[kind], kind, op, 4, 0.5, processes)
            for c in sweep:
                for op in OPS:
                    for kind in connect:
                        figures[op][kind][c] = phase(url, connect[kind], kind, op, c, args.seconds, processes)
                        f = figures[op][kind][c]
                        short = " (ran out of jobs)" if f["seconds"] < 0.95 * args.seconds else ""
                        print(f"  {op:6} {kind:4} c={c:<3} {f['per_s']:7.0f}/s over {f['seconds']:.1f} s{short}",
                              flush=True)
        after = run_anchors(admin, args.anchor_seconds)

    anchor = {k: statistics.median([before[k], after[k]]) for k in before}
    ratios = {op: {c: {"http_over_sql": figures[op]["http"][c]["per_s"] / figures[op]["sql"][c]["per_s"],
                       "sql_over_anchor": figures[op]["sql"][c]["per_s"] / anchor[ANCHOR_OF[op]],
                       "http_over_anchor": figures[op]["http"][c]["per_s"] / anchor[ANCHOR_OF[op]]}
                   for c in sweep} for op in OPS}
    print(f"\nanchors (median): insert1 {anchor['insert1_rows_per_s']:.0f} rows/s, "
          f"claim_complete {anchor['claim_complete_jobs_per_s']:.0f} jobs/s")
    print(f"{'op':6} {'c':>3} | {'sql/s':>6} {'p50':>6} {'p99':>6} | {'http/s':>6} {'p50':>6} {'p99':>6} | "
          f"{'http÷sql':>8} {'sql÷anc':>7} {'http÷anc':>8} | CPU µs/req http: client serve pg; sql: client pg")
    for op in OPS:
        for c in sweep:
            s, h, r = figures[op]["sql"][c], figures[op]["http"][c], ratios[op][c]
            hc, sc = h["cpu_us_per_request"], s["cpu_us_per_request"]
            print(f"{op:6} {c:>3} | {s['per_s']:6.0f} {s['p50_ms']:6.2f} {s['p99_ms']:6.2f} | "
                  f"{h['per_s']:6.0f} {h['p50_ms']:6.2f} {h['p99_ms']:6.2f} | {r['http_over_sql']:8.2f} "
                  f"{r['sql_over_anchor']:7.2f} {r['http_over_anchor']:8.2f} | {hc['client']:5.0f} "
                  f"{hc['serve']:5.0f} {hc['postgres']:5.0f}; {sc['client']:4.0f} {sc['postgres']:5.0f}")
    report = {"args": vars(args), "anchors_before": before, "anchors_after": after, "anchor": anchor,
              "anchor_of": ANCHOR_OF, "figures": figures, "ratios": ratios}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "http.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
