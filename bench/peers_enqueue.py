"""The peer harness's enqueue legs with CPU accounting: this tree against another source
tree and Graphile Worker, in interleaved rounds on the harness's own PostgreSQL 15.

    .venv/bin/python bench/peers_enqueue.py --before-src /tmp/base/src [--rounds 4]
        [--peers ../shared/bench/peers] [--seconds 8]

The harness (`../shared/bench/peers/`, see `peers.md`) is copied to a temporary directory,
its peers installed there (its `install.sh`) and its cluster started (`pg_setup.sh`, on
`QB_PORT`/`QB_BASE` of this script's own, default 55462 and /tmp/collab-peers-enqueue).
Each round runs the `insert1_1client` and `insert1000_1client` pgbench anchors, then
collab's `enqueue` leg for this tree and the other (alternating which goes first) and
Graphile Worker's, each on a fresh database: 20,000 jobs in batches of 1,000, then 1,000
single enqueues, as separate legs. Beside each leg's rate (÷ the round's anchor) it
reports the client's CPU per job, measured inside the leg around its loop (the copies of
`bench_collab.py` and `bench_graphile.mjs` are patched to report it), and the server's:
the on-CPU time of every process of the cluster over the leg (`/proc/<pid>/schedstat`,
and the postmaster's reaped children for backends that exited; autovacuum is off, so
one leg's tables are not vacuumed on the next leg's time). On a shared host the rates
swing 2-4x between rounds; the CPU figures hold better (the server's still includes the
WAL writer and checkpoints).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "bench" / "peers"
JOBS, SINGLE = 20_000, 1_000

# The copies' edits: collab's migrator moved (as peers.md says), and each leg reports its
# own CPU around its loop. Each edit must apply exactly once.
PATCHES = {
    "bench_collab.py": [
        ("from collab_sdk.migrate import migrate", "from collab_sdk.local.migrate import migrate"),
        ("        t0 = time.perf_counter()\n        done = 0",
         "        t0, c0 = time.perf_counter(), time.process_time()\n        done = 0"),
        ('        emit(metric="enqueue_batch", jobs=n, batch=batch, seconds=dt, jobs_per_s=n / dt)',
         '        emit(metric="enqueue_batch", jobs=n, batch=batch, seconds=dt, jobs_per_s=n / dt if n else 0,\n'
         '             cpu_s=time.process_time() - c0)'),
        ("        t0 = time.perf_counter()\n        for _ in range(single_n):",
         "        t0, c0 = time.perf_counter(), time.process_time()\n        for _ in range(single_n):"),
        ('        emit(metric="enqueue_single", jobs=single_n, seconds=dt, jobs_per_s=single_n / dt)',
         '        emit(metric="enqueue_single", jobs=single_n, seconds=dt, jobs_per_s=single_n / dt,\n'
         '             cpu_s=time.process_time() - c0)'),
    ],
    "bench_graphile.mjs": [
        ("    let t0 = performance.now();\n", "    let t0 = performance.now(), c0 = process.cpuUsage();\n"),
        ("jobs_per_s: A.n / dt });", "jobs_per_s: A.n / dt, cpu_s: cpu(c0) });"),
        ("      t0 = performance.now();\n", "      t0 = performance.now(); c0 = process.cpuUsage();\n"),
        ("jobs_per_s: A.singleN / dt });", "jobs_per_s: A.singleN / dt, cpu_s: cpu(c0) });"),
        ("async function enqueue() {",
         "const cpu = (c0) => { const u = process.cpuUsage(c0); return (u.user + u.system) / 1e6; };\n"
         "async function enqueue() {"),
    ],
}


def patch(directory: Path) -> None:
    """Apply ``PATCHES`` to the harness copy in ``directory``."""
    for name, edits in PATCHES.items():
        path = directory / name
        text = path.read_text()
        for old, new in edits:
            if text.count(old) != 1:
                raise SystemExit(f"{name}: the harness changed, cannot patch {old!r}")
            text = text.replace(old, new)
        path.write_text(text)


class Harness:
    """The harness copy and its cluster."""

    def __init__(self, directory: Path, port: str, base: str) -> None:
        self.dir, self.base = directory, base
        self.env = {**os.environ, "QB_PORT": port, "QB_BASE": base, "PGHOST": "127.0.0.1", "PGPORT": port,
                    "PGUSER": "postgres"}
        self.port = port

    def run(self, *cmd: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(cmd, env=env or self.env, cwd=self.dir, capture_output=True, text=True, timeout=900)
        if done.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def server_cpu(self) -> float:
        """Seconds on CPU of the cluster's processes so far (live ones by schedstat,
        exited backends by the postmaster's reaped-children times)."""
        postmaster = int(Path(f"{self.base}/pgdata/postmaster.pid").read_text().split()[0])
        stat = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(stat[13]) + int(stat[14])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        for pid in [postmaster, *map(int, children)]:
            try:
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
            except OSError:  # exited meanwhile: counted with the reaped children next time
                pass
        return total

    def leg(self, cmd: list[str], env: dict[str, str], metric: str) -> tuple[dict[str, Any], float]:
        """One leg's RESULT of ``metric`` and the server's CPU seconds over it."""
        self.run("psql", "-qAtX", "-d", "postgres", "-c", "checkpoint")
        before = self.server_cpu()
        out = self.run(*cmd, env=env)
        server = self.server_cpu() - before
        results = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
        return next(r for r in results if r["metric"] == metric), server

    def anchor(self, name: str, script: str, seconds: str) -> dict[str, float]:
        self.run("psql", "-qAtX", "-d", "postgres", "-c", "checkpoint")
        before = self.server_cpu()
        out = self.run("pgbench", "-n", "-c", "1", "-j", "1", "-T", seconds, "-f", script, "pgbench")
        server = self.server_cpu() - before
        rows = float(next(line for line in out.splitlines() if line.startswith("tps = ")).split()[2])
        rows *= 1000 if "1000" in name else 1
        return {"rows_per_s": rows, "server_us": server / (rows * float(seconds)) * 1e6}


def measure(harness: Harness, trees: dict[str, str], rounds: int, seconds: str) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    for round_ in range(1, rounds + 1):
        harness.run("psql", "-qAtX", "-d", "pgbench", "-f", "sql/queue_schema.sql")
        anchors = {name: harness.anchor(name, f"sql/pgbench_{name.split('_')[0]}.sql", seconds)
                   for name in ("insert1_1client", "insert1000_1client")}
        order = list(trees) if round_ % 2 else list(reversed(trees))
        for system in [*order, "graphile"]:
            if system == "graphile":
                env, cmd = harness.env, ["node", "bench_graphile.mjs", "enqueue"]
                harness.run("dropdb", "--if-exists", "graphile")
                harness.run("createdb", "graphile")
                harness.run("node", "bench_graphile.mjs", "setup")
            else:
                db = f"collab_{system}"
                env = {**harness.env, "QB_DSN_COLLAB": f"postgresql://postgres@127.0.0.1:{harness.port}/{db}",
                       "PYTHONPATH": trees[system]}
                cmd = [sys.executable, "bench_collab.py", "enqueue"]
                harness.run("dropdb", "--if-exists", db)
                harness.run("createdb", db)
                harness.run(sys.executable, "bench_collab.py", "setup", env=env)
            for metric, args, jobs, anchor in (
                    ("enqueue_batch", ["--n", str(JOBS), "--batch", "1000", "--single-n", "0"], JOBS,
                     "insert1000_1client"),
                    ("enqueue_single", ["--n", "0", "--single-n", str(SINGLE)], SINGLE, "insert1_1client")):
                result, server = harness.leg(cmd + args, env, metric)
                figure = {"round": round_, "system": system, "metric": metric,
                          "ratio": result["jobs_per_s"] / anchors[anchor]["rows_per_s"],
                          "jobs_per_s": result["jobs_per_s"], "client_us": result["cpu_s"] / jobs * 1e6,
                          "server_us": server / jobs * 1e6, "anchor_server_us": anchors[anchor]["server_us"]}
                figures.append(figure)
                print(json.dumps(figure), flush=True)
    return figures


def report(figures: list[dict[str, Any]]) -> None:
    legs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in figures:
        legs[(f["metric"], f["system"])].append(f)
    for (metric, system), runs in sorted(legs.items()):
        def med(key: str) -> float:
            return statistics.median(r[key] for r in runs)
        rounds = ", ".join(f"{r['ratio']:.3f}" for r in runs)
        print(f"{metric:15s} {system:9s} ÷ anchor {med('ratio'):.3f} [{rounds}]  client {med('client_us'):7.1f}"
              f"  server {med('server_us'):7.1f} µs a job  (anchor's server {med('anchor_server_us'):.1f})")
    for metric in ("enqueue_batch", "enqueue_single"):
        by_round: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
        for f in figures:
            if f["metric"] == metric:
                by_round[f["round"]][f["system"]] = f
        for a, b in (("after", "before"), ("after", "graphile"), ("before", "graphile")):
            pairs = [(d[a], d[b]) for d in by_round.values() if a in d and b in d]
            if not pairs:
                continue
            rate = statistics.median(x["jobs_per_s"] / y["jobs_per_s"] for x, y in pairs)
            cpu = statistics.median((x["client_us"] + x["server_us"]) / (y["client_us"] + y["server_us"])
                                    for x, y in pairs)
            print(f"{metric:15s} {a} ÷ {b}: rate {rate:.3f}, client + server CPU a job {cpu:.3f} (same rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-src", required=True, help="another tree's src/ to compare with")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", default="8", help="each pgbench anchor's duration")
    parser.add_argument("--peers", type=Path, default=PEERS, help="the harness to copy")
    parser.add_argument("--port", default=os.environ.get("QB_PORT", "55462"))
    parser.add_argument("--base", default=os.environ.get("QB_BASE", "/tmp/collab-peers-enqueue"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="collab-peers-") as tmp:
        os.chmod(tmp, 0o755)  # pg_setup.sh runs initdb and psql as the postgres user, here
        directory = Path(tmp) / "peers"
        shutil.copytree(args.peers, directory, ignore=shutil.ignore_patterns("logs", ".venv"))
        patch(directory)
        harness = Harness(directory, args.port, args.base)
        harness.run("./install.sh")
        harness.run("./pg_setup.sh", "start")
        # A leg's fresh tables would be vacuumed on a later leg's time: no autovacuum here.
        harness.run("psql", "-qAtX", "-d", "postgres", "-c", "alter system set autovacuum = off",
                    "-c", "select pg_reload_conf()")
        try:
            figures = measure(harness, {"after": "", "before": args.before_src}, args.rounds, args.seconds)
        finally:
            harness.run("./pg_setup.sh", "stop")
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "peers_enqueue.json").write_text(json.dumps(figures, indent=1))
    report(figures)


if __name__ == "__main__":
    main()
