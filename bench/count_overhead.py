"""What the kept job counts cost the queue's writers (migration 20261201053000): drain
throughput with the count triggers enabled and disabled, alternately, on one server in
one run, with engine.py's drain (N worker processes, single claims + complete_job_v1,
and batch claims of 100 + complete_jobs_v1).

    .venv/bin/python bench/count_overhead.py [--jobs 20000] [--workers 8] [--rounds 3]

Each round enqueues ``--jobs`` jobs (batches of 1,000) and drains them once with the
triggers off and once on (the order alternates per round, so a warming or filling server
favours neither); the figure is the median of each side and the ratio on/off. Enqueue
throughput (batches of 1,000) is measured the same way.

The machine is shared and wall-clock drains swing by more than the cost looked for, so
the run also measures it from inside the server, which noise cannot fake: with
``track_functions = 'pl'``, the time spent in the count trigger (``_jobs_count_changes``,
folds included) as a share of the time spent in the RPCs that fired it (claims,
completes, enqueues: their ``total_time`` includes their statements' triggers), over
the "on" drains; and the server's CPU seconds per drained job, on and off: the
postmaster's reaped children's CPU (``/proc/<postmaster>/stat`` cutime + cstime) across
each drain, whose worker connections' backends exit when it ends. Results go to stdout and bench/results/count_overhead.json (not
committed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from engine import bench_server, drain

ROOT = Path(__file__).resolve().parent
TRIGGERS = ("jobs_count_insert", "jobs_count_update", "jobs_count_delete")


def set_counts(url: str, on: bool) -> None:
    """Enable or disable the count triggers (the 'before' of this work is 'off')."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name in TRIGGERS:
            conn.execute(f"alter table collab.jobs {'enable' if on else 'disable'} trigger {name}")


TICK = os.sysconf("SC_CLK_TCK")


def postmaster_pid(url: str) -> int:
    """The postmaster: the parent of a backend."""
    with psycopg.connect(url) as conn:
        backend = conn.execute("select pg_backend_pid()").fetchone()[0]
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


def reaped_cpu_seconds(pid: int) -> float:
    """CPU seconds of the exited children ``pid`` has waited for (cutime + cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / TICK


RPCS = ("claim_one_job_v3", "complete_job_v1", "claim_jobs_v1", "complete_jobs_v1", "assign_jobs_v1")


def function_ms(url: str) -> dict[str, float]:
    """Total ms per function since the last reset (pg_stat_user_functions)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        rows = conn.execute("select funcname, total_time from pg_stat_user_functions"
                            " where schemaname = 'collab'").fetchall()
    return {name: ms for name, ms in rows}


def reset_function_stats(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_stat_reset()")


def enqueue(url: str, executor: str, jobs: int) -> float:
    """Enqueue ``jobs`` in batches of 1,000; jobs per second."""
    batch = [{"type": "bench.noop", "executor_id": executor, "payload": {"i": i}} for i in range(1000)]
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for _ in range(jobs // 1000):
            conn.execute("select count(*) from collab.assign_jobs_v1(jobs => %s)", (Jsonb(batch),))
        return (jobs // 1000) * 1000 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, dict[str, list[float]]] = {
        mode: {"on": [], "off": []} for mode in ("enqueue_batch1000", "drain_single", "drain_batch",
                                                 "cpu_us_per_job_single", "cpu_us_per_job_batch")}
    trigger_ms = rpc_ms = fold_ms = events_ms = 0.0
    with bench_server() as (_admin, url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("alter database bench set track_functions = 'pl'")
        postmaster = postmaster_pid(url)
        n = 0
        for r in range(args.rounds):
            for on in ((False, True) if r % 2 == 0 else (True, False)):
                side = "on" if on else "off"
                set_counts(url, on)
                for mode in ("single", "batch"):
                    n += 1
                    executor = f"bench-{n}"
                    reset_function_stats(url)
                    figures["enqueue_batch1000"][side].append(enqueue(url, executor, args.jobs))
                    time.sleep(0.5)  # the enqueue's backend is reaped before the window opens
                    cpu = reaped_cpu_seconds(postmaster)
                    figures[f"drain_{mode}"][side].append(drain(url, executor, args.jobs, args.workers, mode))
                    time.sleep(0.5)  # and the drain's backends before it closes
                    figures[f"cpu_us_per_job_{mode}"][side].append(
                        (reaped_cpu_seconds(postmaster) - cpu) / args.jobs * 1e6)
                    if on:
                        time.sleep(0.6)  # the backends' function stats reach the collector
                        ms = function_ms(url)
                        trigger_ms += ms.get("_jobs_count_changes", 0.0)
                        fold_ms += ms.get("_fold_job_counts", 0.0)
                        events_ms += ms.get("_jobs_after_update", 0.0) + ms.get("_jobs_after_insert", 0.0)
                        rpc_ms += sum(ms.get(f, 0.0) for f in RPCS)
                    print(f"round {r} counts {side:3} {mode:6}: enqueue {figures['enqueue_batch1000'][side][-1]:8.0f}/s,"
                          f" drain {figures[f'drain_{mode}'][side][-1]:8.0f} jobs/s", flush=True)
    report: dict[str, object] = {}
    for name, sides in figures.items():
        on, off = statistics.median(sides["on"]), statistics.median(sides["off"])
        report[name] = {"on": on, "off": off, "ratio_on_off": on / off, "samples": sides}
        print(f"{name:22} off {off:9.1f}  on {on:9.1f}  on/off {on / off:.3f}")
    share = trigger_ms / rpc_ms if rpc_ms else float("nan")
    report["trigger_share_of_rpc_time"] = {"trigger_ms": trigger_ms, "fold_ms": fold_ms, "rpc_ms": rpc_ms,
                                           "share": share, "event_log_triggers_ms": events_ms}
    print(f"count trigger: {trigger_ms:.0f} ms (folds {fold_ms:.0f} ms) of {rpc_ms:.0f} ms in the RPCs"
          f" that fired it ({share:.1%}); for comparison, the event log's triggers: {events_ms:.0f} ms"
          f" ({events_ms / rpc_ms:.1%})")
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "count_overhead.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
