"""Where a workflow step's cost goes: diamonds, chains and one-step runs against plain jobs.

    .venv/bin/python bench/workflow_shapes.py [--runs 400] [--workers 4] [--rounds 4] [--against REV]

On a throw-away PostgreSQL (``engine.bench_server``), each round drains, with the same
single-claim loop as ``workflows.py``, 4 x runs plain jobs, then the same number of steps
as 4-step diamonds (B and C contend for the run lock), 4-step chains (one successor per
completion, no step of a run ever meets another) and one-step runs (no successor, every
step ends its run), the shapes' order reversed every other round. It prints each shape's
server CPU ms per step and its ratio to the round's plain job, per round and the median.

``--against REV``: a before/after in one run. A second database of the same server is
migrated with the migrations of git revision ``REV`` (the "before"); every round drains
both databases, in alternating order, and the script also prints each shape's after ÷
before CPU per step, per round and the median. Run by hand; never a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import ROOT, bench_server, enqueue  # noqa: E402
from workflows import DIAMOND, measured_drain, published, runs_done  # noqa: E402

import collab_sdk.local.migrate as migrations  # noqa: E402


def chain(ids: str) -> dict[str, object]:
    """A definition whose no-op steps ``ids`` run one after the other."""
    return {"nodes": [{"id": n, "type": "b.noop", "data": {}} for n in ids],
            "edges": [{"id": f"{s}-{t}", "source": s, "target": t} for s, t in zip(ids, ids[1:])]}


SHAPES = [("diamond", DIAMOND, 4), ("chain4", chain("abcd"), 4), ("single", chain("a"), 1)]


def migrated_at(admin: str, revision: str, name: str) -> str:
    """A new database ``name`` on the server of ``admin`` migrated with the migrations of
    git revision ``revision``; its URL."""
    with tempfile.TemporaryDirectory(prefix="collab-migrations-") as tmp:
        files = subprocess.run(["git", "ls-tree", "--name-only", revision, "supabase/migrations/"],
                               cwd=ROOT.parent, check=True, capture_output=True, text=True).stdout.split()
        for file in files:
            text = subprocess.run(["git", "show", f"{revision}:{file}"], cwd=ROOT.parent, check=True,
                                  capture_output=True, text=True).stdout
            (Path(tmp) / Path(file).name).write_text(text)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        url = admin.rsplit("/", 1)[0] + f"/{name}"
        current = migrations.migrations_dir
        migrations.migrations_dir = lambda: Path(tmp)  # type: ignore[assignment]
        try:
            migrations.migrate(url)
        finally:
            migrations.migrations_dir = current  # type: ignore[assignment]
        return url


def drain_round(url: str, i: int, steps: int, workers: int, cpu: dict[str, list[float]]) -> None:
    """One round on ``url``: plain jobs, then each shape (order reversed on odd rounds)."""
    enqueue(url, f"plain{i}", steps)
    cpu["plain"].append(measured_drain(url, f"plain{i}", steps, workers)[1])
    for name, definition, per_run in (SHAPES if i % 2 == 0 else SHAPES[::-1]):
        runs = steps // per_run
        with psycopg.connect(url, autocommit=True) as conn:
            workflow = published(conn, f"{name}{i}", definition)
            for _ in range(runs):
                conn.execute("select collab.start_run_v1(workflow_id => %s)", (workflow,))
        cpu[name].append(measured_drain(url, f"{name}{i}", steps, workers)[1])
        assert runs_done(url, workflow) == runs, "not every run succeeded"


def report(label: str, cpu: dict[str, list[float]]) -> None:
    for name, values in cpu.items():
        ratios = [v / p for v, p in zip(values, cpu["plain"])]
        print(f"{label}{name:8s} server CPU ms/step {statistics.median(values):.3f}; against a plain job per round "
              + " ".join(f"{r:.2f}" for r in ratios) + f", median {statistics.median(ratios):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=400, help="diamonds' worth of steps per drain")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--against", metavar="REV", help="also drain a database migrated at git revision REV")
    args = parser.parse_args()
    steps = 4 * args.runs
    names = ["plain"] + [s[0] for s in SHAPES]
    with bench_server() as (admin, url):
        databases = {"after " if args.against else "": url}
        if args.against:
            databases = {"before ": migrated_at(admin, args.against, "before"), **databases}
        cpu: dict[str, dict[str, list[float]]] = {label: {name: [] for name in names} for label in databases}
        for i in range(args.rounds):
            order = list(databases.items())
            for label, db in (order if i % 2 == 0 else order[::-1]):
                drain_round(db, i, steps, args.workers, cpu[label])
    for label in databases:
        report(label, cpu[label])
    if args.against:
        for name in names[1:]:
            ratios = [a / b for a, b in zip(cpu["after "][name], cpu["before "][name])]
            print(f"after/before {name:8s} " + " ".join(f"{r:.2f}" for r in ratios)
                  + f", median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
