"""Where a workflow step's cost goes: diamonds, chains and one-step runs against plain jobs.

    .venv/bin/python bench/workflow_shapes.py [--runs 400] [--workers 4] [--rounds 4]

On a throw-away PostgreSQL (``engine.bench_server``), each round drains, with the same
single-claim loop as ``workflows.py``, 4 x runs plain jobs, then the same number of steps
as 4-step diamonds (B and C contend for the run lock), 4-step chains (one successor per
completion, no step of a run ever meets another) and one-step runs (no successor, every
step ends its run), the shapes' order reversed every other round. It prints each shape's
server CPU ms per step and its ratio to the round's plain job, per round and the median.
Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import bench_server, enqueue  # noqa: E402
from workflows import DIAMOND, measured_drain, published, runs_done  # noqa: E402


def chain(ids: str) -> dict[str, object]:
    """A definition whose no-op steps ``ids`` run one after the other."""
    return {"nodes": [{"id": n, "type": "b.noop", "data": {}} for n in ids],
            "edges": [{"id": f"{s}-{t}", "source": s, "target": t} for s, t in zip(ids, ids[1:])]}


SHAPES = [("diamond", DIAMOND, 4), ("chain4", chain("abcd"), 4), ("single", chain("a"), 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=400, help="diamonds' worth of steps per drain")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    steps = 4 * args.runs
    cpu: dict[str, list[float]] = {name: [] for name in ["plain"] + [s[0] for s in SHAPES]}
    with bench_server() as (_, url):
        for i in range(args.rounds):
            enqueue(url, f"plain{i}", steps)
            cpu["plain"].append(measured_drain(url, f"plain{i}", steps, args.workers)[1])
            for name, definition, per_run in (SHAPES if i % 2 == 0 else SHAPES[::-1]):
                runs = steps // per_run
                with psycopg.connect(url, autocommit=True) as conn:
                    workflow = published(conn, f"{name}{i}", definition)
                    for _ in range(runs):
                        conn.execute("select collab.start_run_v1(workflow_id => %s)", (workflow,))
                cpu[name].append(measured_drain(url, f"{name}{i}", steps, args.workers)[1])
                assert runs_done(url, workflow) == runs, "not every run succeeded"
    for name, values in cpu.items():
        ratios = [v / p for v, p in zip(values, cpu["plain"])]
        print(f"{name:8s} server CPU ms/step {statistics.median(values):.3f}; against a plain job per round "
              + " ".join(f"{r:.2f}" for r in ratios) + f", median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
