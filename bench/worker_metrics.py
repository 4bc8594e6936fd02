"""Worker metrics benchmark: what recording one job costs ``WorkerMetrics``, this tree
against a revision's ``src/collab_sdk/metrics.py``, in one process.

    .venv/bin/python bench/worker_metrics.py [--before REV] [--rounds 5]

A job is what the worker records for a claimed job that succeeded: ``job_claimed`` and
``job_finished`` with a handler duration. Interleaved rounds of 100,000 jobs (the best of
five repeats each); the medians in µs a job and their ratio. No database: the figure is
the Python the worker's event loop spends on metrics per job (``bench/worker.py
--cpu-before`` measures a whole drain).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from collab_sdk import metrics as current  # noqa: E402


def revision(rev: str, into: Path) -> ModuleType:
    """The revision's ``collab_sdk/metrics.py`` as a module of its own (it imports this tree's models)."""
    path = into / "metrics_before.py"
    path.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/collab_sdk/metrics.py"],
                                    check=True, capture_output=True).stdout)
    spec = importlib.util.spec_from_file_location("metrics_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_job(module: ModuleType, jobs: int = 100_000) -> float:
    """µs a job: one claim and one success with its handler's duration."""
    metrics = module.WorkerMetrics("ex")

    def job() -> None:
        metrics.job_claimed("bench.noop")
        metrics.job_finished("bench.noop", "succeeded", 0.00002)

    job()  # the labelled series exist before timing
    return min(timeit.repeat(job, number=jobs, repeat=5)) / jobs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="HEAD~1", help="the revision to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="collab-metrics-") as tmp:
        trees = {"before": revision(args.before, Path(tmp)), "after": current}
        runs: dict[str, list[float]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name in list(trees) if r % 2 == 0 else list(trees)[::-1]:
                runs[name].append(per_job(trees[name]))
    medians = {name: statistics.median(xs) for name, xs in runs.items()}
    for name, xs in runs.items():
        print(f"{name:>6}: {medians[name]:5.2f} µs/job {[round(x, 2) for x in xs]}")
    print(f"after / before: {medians['after'] / medians['before']:.2f}")


if __name__ == "__main__":
    main()
