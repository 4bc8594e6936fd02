"""The peer harness's ``rpc-chain`` drain, this tree's schema against revision ``REV``'s, in one run.

    .venv/bin/python bench/chain_drain.py REV [JOBS] [ROUNDS]

One throw-away server (fsync and synchronous_commit on) holds a database migrated at
``REV`` and one migrated with this tree. Each round enqueues ``JOBS`` plain jobs (3000) into
each in turn (order alternating) and drains them as /work/shared/bench/peers/bench_collab.py's
``rpc-chain`` leg does: 2 processes x 4 connections, each looping ``complete_and_claim_v1``
(one call and commit per job). Prints jobs/s and the server's CPU per job (every child of
the postmaster) per round, and the medians' ratios after / before. Run by hand.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import enqueue  # noqa: E402
from workflow_shapes import migrated_at  # noqa: E402
from workflows import server_cpu_seconds  # noqa: E402

from collab_sdk.local.embedded import EmbeddedPostgres  # noqa: E402
from collab_sdk.local.migrate import migrate  # noqa: E402


def loop(url: str, wid: str) -> None:
    """One connection: claim one job, then complete_and_claim_v1 until the queue is empty."""
    with psycopg.connect(url, autocommit=True) as c:
        ids = c.execute("select id from collab.claim_jobs_v1(executor_id => 'bench', worker_id => %s,"
                        " lease_seconds => 300, max_jobs => 1)", (wid,)).fetchall()
        while ids:
            ids = c.execute("select id from collab.complete_and_claim_v1(job_id => %s, worker_id => %s,"
                            " executor_id => 'bench', lease_seconds => 300)", (ids[0][0], wid)).fetchall()


def proc(url: str, p: int, conns: int) -> None:
    """One process of ``conns`` looping connections."""
    ts = [threading.Thread(target=loop, args=(url, f"w{p}-{i}")) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def drain(url: str, n: int) -> tuple[float, float]:
    """Enqueue ``n`` jobs and drain them: jobs/s and server CPU µs per job."""
    enqueue(url, "bench", n)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("vacuum (analyze) collab.jobs, collab.job_events")
    cpu0 = server_cpu_seconds(url)
    t0 = time.perf_counter()
    ps = [mp.Process(target=proc, args=(url, p, 4)) for p in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    dt = time.perf_counter() - t0
    cpu = server_cpu_seconds(url) - cpu0
    with psycopg.connect(url) as c:
        row = c.execute("select count(*) from collab.jobs where executor_id = 'bench' and status <> 'succeeded'").fetchone()
    assert row is not None and row[0] == 0, row
    return n / dt, cpu / n * 1e6


def main() -> None:
    rev = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data")
        admin = server.start()
        try:
            urls = {"before": migrated_at(admin, rev, "before")}
            with psycopg.connect(admin, autocommit=True) as c:
                c.execute("create database after")
            urls["after"] = admin.rsplit("/", 1)[0] + "/after"
            migrate(urls["after"])
            with psycopg.connect(admin) as c:
                print(c.execute("select current_setting('fsync'), current_setting('synchronous_commit')").fetchone())
            res: dict[str, list[tuple[float, float]]] = {k: [] for k in urls}
            for r in range(rounds):
                for k in (("before", "after") if r % 2 == 0 else ("after", "before")):
                    res[k].append(drain(urls[k], n))
                    print(r, k, "%.0f jobs/s, %.1f us server CPU/job" % res[k][-1], flush=True)
            for i, what in enumerate(("jobs/s", "server CPU us/job")):
                b = statistics.median(x[i] for x in res["before"]); a = statistics.median(x[i] for x in res["after"])
                print(f"{what}: before {b:.1f} after {a:.1f} after/before {a/b:.3f}")
        finally:
            server.stop("fast")


if __name__ == "__main__":
    main()
