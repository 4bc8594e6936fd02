"""Workflow benchmark: diamond runs against plain jobs and the raw-Postgres anchor.

    .venv/bin/python bench/workflows.py [--runs 1000] [--workers 4] [--anchor-seconds 10] [--rounds 3]

On a throw-away PostgreSQL (``engine.bench_server``), in one run:

- plain jobs: 4 x runs no-op jobs drained by ``workers`` processes with single claims
  (``claim_jobs_v1`` of one + ``complete_job_v1``): jobs/s, and its ratio to the anchor;
- workflow steps: ``runs`` runs of the diamond A -> B, A -> C, B+C -> D (4 no-op steps
  each) started, then drained by the same loop: steps/s and runs/s. The step cost
  against a plain job is plain jobs/s ÷ steps/s (target ≤ 1.5);
- the two drains alternate ``rounds`` times (plain, steps, plain, steps, ...) and the
  figures are the medians, so a burst of load on a shared machine lands on both;
- the server's CPU time per plain job and per step over the same drains (every server
  process, exited backends included): the cost that other sessions' load does not blur;
- predecessor -> successor: a chain A -> B with an idle worker LISTENing on
  ``collab_jobs``: the time from A's complete to B's claim, p50/p95 (target p50 ≤ 5 ms).

``--waits``: while each drain runs, a sampler reads the drain's backends' wait events
(``pg_stat_activity`` every 10 ms; ``CPU`` when a backend waits on nothing) and the
figures add each drain kind's five commonest, as shares of its samples: where the time
goes that instruction counts (``workflow_instructions.py``) do not see. A step complete
that enqueues successors sends NOTIFY, whose commit holds the cluster's one notify lock
(``Lock:object`` on ``pg_database`` 0) through its WAL flush.

``--against REV``: a second database of the same server migrated at git revision ``REV``
(as ``workflow_shapes.py --against``) gets the same drains, alternating with this tree's
within each round, and the hand-off, the two alternating in 4 batches: the before/after
figures (``…_before``) share the box's load.

Results go to stdout and bench/results/workflows.json. Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import ROOT, bench_server, drain, enqueue, listen_like_a_worker, run_anchors  # noqa: E402

DIAMOND = {"nodes": [{"id": n, "type": "b.noop", "data": {}} for n in "abcd"],
           "edges": [{"id": "ab", "source": "a", "target": "b"}, {"id": "ac", "source": "a", "target": "c"},
                     {"id": "bd", "source": "b", "target": "d"}, {"id": "cd", "source": "c", "target": "d"}]}
CHAIN = {"nodes": [{"id": "a", "type": "l.first", "data": {}}, {"id": "b", "type": "l.second", "data": {}}],
         "edges": [{"id": "ab", "source": "a", "target": "b"}]}


def published(conn: psycopg.Connection, executor: str, definition: dict[str, object]) -> str:
    """A published workflow of ``executor`` running ``definition``; its id."""
    types = sorted({node["type"] for node in definition["nodes"]})  # type: ignore[index]
    conn.execute("select count(*) from collab.register_step_types_v1(executor_id => %s, step_types => %s)",
                 (executor, Jsonb([{"name": t, "title": t} for t in types])))
    row = conn.execute("select id from collab.create_workflow_v1(executor_id => %s, name => 'bench',"
                       " definition => %s)", (executor, Jsonb(definition))).fetchone()
    assert row is not None
    conn.execute("select 1 from collab.publish_workflow_v1(workflow_id => %s)", (row[0],))
    return str(row[0])


def start_runs(url: str, executor: str, runs: int) -> tuple[str, float]:
    """Publish the diamond and start ``runs`` runs; (workflow id, runs started per second)."""
    with psycopg.connect(url, autocommit=True) as conn:
        workflow = published(conn, executor, DIAMOND)
        start = time.perf_counter()
        for _ in range(runs):
            conn.execute("select collab.start_run_v1(workflow_id => %s)", (workflow,))
        return workflow, runs / (time.perf_counter() - start)


def server_cpu_seconds(url: str) -> float:
    """CPU seconds used so far by the server of ``url``: the postmaster, its live
    children, and (through the postmaster's cutime/cstime) its exited backends."""
    with psycopg.connect(url) as conn:
        row = conn.execute("show data_directory").fetchone()
    assert row is not None
    postmaster = int((Path(row[0]) / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")

    def fields(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    main = fields(postmaster)  # fields[11:15] = utime stime cutime cstime
    total = sum(int(v) for v in main[11:15])
    for child in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += sum(int(v) for v in fields(int(child))[11:13])
    return total / tick


@contextlib.contextmanager
def sampled_waits(url: str, waits: Counter[str] | None) -> Iterator[None]:
    """While the block runs, count the wait events of the database's other active
    backends into ``waits`` every 10 ms (``CPU`` for none); nothing when it is None."""
    if waits is None:
        yield
        return
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.wait(0.01):
                waits.update(w for (w,) in conn.execute(
                    "select coalesce(wait_event_type || ':' || wait_event, 'CPU') from pg_stat_activity"
                    " where datname = current_database() and state = 'active' and pid <> pg_backend_pid()"))

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def measured_drain(url: str, executor: str, jobs: int, workers: int,
                   waits: Counter[str] | None = None) -> tuple[float, float]:
    """(jobs/s, server CPU ms per job) of a single-claim drain of ``executor``; its
    backends' wait events counted into ``waits`` (``sampled_waits``) unless None. The
    tables are vacuumed first, so the drain's own vacuum (``engine.drain``) finds
    nothing to do and the earlier phase's dead rows are not charged to this one."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum (analyze) collab.jobs, collab.job_events, collab.workflow_runs,"
                     " collab.workflow_step_runs")
    before = server_cpu_seconds(url)
    with sampled_waits(url, waits):
        rate = drain(url, executor, jobs, workers, "single")
    time.sleep(0.5)  # the drain's backends have exited and been reaped
    return rate, (server_cpu_seconds(url) - before) * 1000 / jobs


def runs_done(url: str, workflow: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from collab.workflow_runs where workflow_id = %s"
                           " and status = 'succeeded'", (workflow,)).fetchone()
        return int(row[0]) if row else 0


def handoff_latency(url: str, samples: int) -> dict[str, float]:
    """A -> B: complete A, time until an idle LISTENing worker has claimed B."""
    latencies: list[float] = []
    completed_at: list[float] = []
    ready, got = threading.Event(), threading.Event()

    def worker() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            listen_like_a_worker(conn, "lat")
            ready.set()
            while len(latencies) < samples:
                for _ in conn.notifies(timeout=2.0, stop_after=1):
                    break
                row = conn.execute("select id from collab.claim_one_job_v3(executor_id => 'lat',"
                                   " worker_id => 'idle', lease_seconds => 60, type_prefix => 'l.second')").fetchone()
                if row:
                    latencies.append((time.perf_counter() - completed_at[len(latencies)]) * 1000)
                    conn.execute("select 1 from collab.complete_job_v1(job_id => %s, worker_id => 'idle')", (row[0],))
                    got.set()

    with psycopg.connect(url, autocommit=True) as conn:
        workflow = published(conn, "lat", CHAIN)
        thread = threading.Thread(target=worker)
        thread.start()
        ready.wait()
        for _ in range(samples):
            conn.execute("select collab.start_run_v1(workflow_id => %s)", (workflow,))
            first = conn.execute("select id from collab.claim_one_job_v3(executor_id => 'lat', worker_id => 'a',"
                                 " lease_seconds => 60, type_prefix => 'l.first')").fetchone()
            assert first is not None
            time.sleep(0.02)
            got.clear()
            completed_at.append(time.perf_counter())
            conn.execute("select 1 from collab.complete_job_v1(job_id => %s, worker_id => 'a')", (first[0],))
            got.wait(5)
        thread.join()
    q = statistics.quantiles(latencies, n=100)
    return {"p50": q[49], "p95": q[94]}


def drain_round(url: str, tag: str, runs: int, workers: int,
                waits: dict[str, Counter[str]] | None) -> tuple[float, float, float, float, float, float]:
    """One round on ``url``: 4 x ``runs`` plain jobs drained, then ``runs`` diamond runs
    started and drained; (plain jobs/s, CPU ms per plain job, steps/s, CPU ms per step,
    runs drained/s, runs started/s)."""
    steps = 4 * runs
    enqueue(url, f"plain{tag}", steps)
    plain, plain_cpu = measured_drain(url, f"plain{tag}", steps, workers, waits["plain"] if waits else None)
    workflow, started = start_runs(url, f"flow{tag}", runs)
    began = time.perf_counter()
    # A drain worker stops when a claim finds nothing; whoever completes a step claims
    # next, so the successors it enabled are always taken and the drain completes.
    rate, cpu = measured_drain(url, f"flow{tag}", steps, workers, waits["steps"] if waits else None)
    drained = runs / (time.perf_counter() - began)
    assert runs_done(url, workflow) == runs, "not every run succeeded"
    return plain, plain_cpu, rate, cpu, drained, started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--anchor-seconds", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", metavar="REV",
                        help="also drain and time the hand-off on a database migrated at REV")
    parser.add_argument("--waits", action="store_true", help="sample the drains' wait events")
    args = parser.parse_args()
    waits: dict[str, Counter[str]] | None = {"plain": Counter(), "steps": Counter()} if args.waits else None
    steps = 4 * args.runs
    plains, step_rates, starts, drained, plain_cpu, step_cpu = [], [], [], [], [], []
    before: dict[str, list[float]] = {"plain": [], "steps": [], "plain_cpu": [], "step_cpu": []}
    against: dict[str, list[float]] = {}
    with bench_server() as (admin, url):
        anchor = run_anchors(admin, args.anchor_seconds)["claim_complete_jobs_per_s"]
        before_url = None
        if args.against:
            from workflow_shapes import migrated_at  # it imports this module
            before_url = migrated_at(admin, args.against, "before")
        for i in range(args.rounds):
            # With --against, the REV database's drains alternate with this tree's in
            # each round (first on odd rounds), so both see the same load.
            order = [("after", url)] + ([("before", before_url)] if before_url else [])
            for label, db in (order if i % 2 == 0 else order[::-1]):
                got = drain_round(db, f"{label}{i}", args.runs, args.workers, waits if label == "after" else None)
                if label == "before":
                    for key, value in zip(("plain", "plain_cpu", "steps", "step_cpu"), got[:4]):
                        before[key].append(value)
                    continue
                for into, value in zip((plains, plain_cpu, step_rates, step_cpu, drained, starts), got):
                    into.append(value)
        if before_url:
            batches: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            for i in range(4):
                pairs = [("before", before_url), ("after", url)]
                for label, db in (pairs if i % 2 == 0 else pairs[::-1]):
                    batches[label].append(handoff_latency(db, args.samples // 4))
            against = {f"handoff_ms_p50_{label}_per_batch": [b["p50"] for b in got] for label, got in batches.items()}
            against["step_cost_vs_plain_job_per_round_before"] = [
                p / q for p, q in zip(before["plain"], before["steps"])]
            against["step_cpu_vs_plain_job_before"] = [
                statistics.median(before["step_cpu"]) / statistics.median(before["plain_cpu"])]
        latency = handoff_latency(url, args.samples)
    plain, step_rate = statistics.median(plains), statistics.median(step_rates)
    figures = {
        "anchor_claim_complete_jobs_per_s": anchor,
        "plain_jobs_per_s": plain, "plain_vs_anchor": plain / anchor,
        "workflow_steps_per_s": step_rate, "workflow_steps_vs_anchor": step_rate / anchor,
        "runs_started_per_s": statistics.median(starts), "runs_drained_per_s": statistics.median(drained),
        "step_cost_vs_plain_job": plain / step_rate,
        "step_cost_vs_plain_job_per_round": [p / s for p, s in zip(plains, step_rates)],
        "server_cpu_ms_per_plain_job": statistics.median(plain_cpu),
        "server_cpu_ms_per_step": statistics.median(step_cpu),
        "step_cpu_vs_plain_job": statistics.median(step_cpu) / statistics.median(plain_cpu),
        "handoff_ms_p50": latency["p50"], "handoff_ms_p95": latency["p95"],
    }
    if args.against:
        figures.update(against)
    for kind, counted in (waits or {}).items():
        total = sum(counted.values()) or 1
        figures.update({f"waits_{kind}_{w}": n / total for w, n in counted.most_common(5)})
    for name, value in figures.items():
        shown = " ".join(f"{v:.2f}" for v in value) if isinstance(value, list) else f"{value:12.2f}"
        print(f"{name:36s} {shown}")
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "workflows.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
