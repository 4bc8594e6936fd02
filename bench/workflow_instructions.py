"""Instructions per plain job and per diamond step, counted by valgrind: a figure the box's load does not move.

    .venv/bin/python bench/workflow_instructions.py [--runs 50] [--ballast 500] [--against REV]

On a throw-away PostgreSQL (the embedded 16, fsync off), one database migrated with this
tree (and, with ``--against REV``, one migrated at git revision ``REV``): ``--ballast``
diamond runs and as many plain jobs' worth are started and drained first (so the tables,
their statistics and the planner's choices are those of a database that has worked),
then ``--runs`` diamonds and 4 x runs plain jobs are queued and the server is stopped.
Each measurement copies that data directory and runs one single-user backend
(``postgres --single``) under ``valgrind --tool=cachegrind``: a warm-up (20 plain jobs and
20 steps of other executors: caches, compiled functions, plans) and then either nothing,
the plain jobs or the diamonds' steps, one ``claim_jobs_v1`` + ``complete_job_v1``
statement (one transaction) each, with ``setseed`` fixed. The instructions per job are
(total - warm-up only) / jobs. It prints them per database and the step ÷ plain job and
after ÷ before ratios. User-space instructions only (no kernel time, no fsync, no lock
waits): the CPU work of the SQL paths, the same on a quiet and a loaded box (runs agree
within about 3 %: the ballast drain's order varies). Needs ``valgrind``; run by hand.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import drain, enqueue  # noqa: E402
from workflow_shapes import migrated_at  # noqa: E402
from workflows import DIAMOND, published  # noqa: E402

from collab_sdk.local.embedded import EmbeddedPostgres  # noqa: E402
from collab_sdk.local.migrate import migrate  # noqa: E402

WARM = 5  # diamonds (and 4 x WARM plain jobs) of the warm-up


def prepare(db: str, runs: int, ballast: int) -> None:
    """Ballast started and drained, then the measured diamonds and plain jobs queued."""
    with psycopg.connect(db, autocommit=True) as conn:
        workflow = published(conn, "ballast", DIAMOND)
        for _ in range(ballast):
            conn.execute("select collab.start_run_v1(workflow_id => %s)", (workflow,))
        drain(db, "ballast", 4 * ballast, 2, "single")
        enqueue(db, "ballast-p", 4 * ballast)
        drain(db, "ballast-p", 4 * ballast, 2, "single")
        for executor, n in (("warm", WARM), ("diamond", runs)):
            workflow = published(conn, executor, DIAMOND)
            for _ in range(n):
                conn.execute("select collab.start_run_v1(workflow_id => %s)", (workflow,))
        enqueue(db, "warm-p", 4 * WARM)
        enqueue(db, "plain", 4 * runs)
        conn.execute("vacuum analyze")
        conn.execute("checkpoint")


def step(executor: str) -> str:
    """One claim and its complete, one statement and one transaction."""
    return ("select (select count(*) from collab.complete_job_v1(job_id => j.id, worker_id => 'w'))"
            f" from collab.claim_jobs_v1(executor_id => '{executor}', worker_id => 'w', lease_seconds => 300,"
            " max_jobs => 1) j;\n")


def instructions(server: EmbeddedPostgres, snapshot: Path, work: Path, dbname: str,
                 measured: str | None, jobs: int) -> int:
    """User-space instructions of one single-user backend: the warm-up, then ``jobs``
    claim + complete of executor ``measured`` (none: the warm-up alone)."""
    return statements(server, snapshot, work, dbname, None if measured is None else step(measured), jobs)


def statements(server: EmbeddedPostgres, snapshot: Path, work: Path, dbname: str,
               statement: str | None, jobs: int) -> int:
    """User-space instructions of one single-user backend: the warm-up, then ``statement``
    (one line of SQL whose answer is the single value 1) ``jobs`` times (none: the warm-up
    alone)."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(snapshot, work, symlinks=True)
    (work / "postmaster.pid").unlink(missing_ok=True)
    owner = snapshot.stat().st_uid  # the OS user the server runs as (not root)
    user = pwd.getpwuid(owner).pw_name if owner != os.geteuid() else None
    if user is not None:
        subprocess.run(["chown", "-R", f"{user}:{user}", str(work), str(work.parent)], check=True)
    script = "select setseed(0.5);\n" + step("warm-p") * (4 * WARM) + step("warm") * (4 * WARM)
    if statement is not None:
        script += statement * jobs
    out = work.parent / "cachegrind.out"
    proc = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
                           str(server.bin_dir / "postgres"), "--single", "-D", str(work), "-c", "fsync=off",
                           "-c", "autovacuum=off", dbname],
                          input=script, capture_output=True, text=True, user=user, cwd="/", check=True)
    assert "ERROR" not in proc.stderr, proc.stderr[-2000:]
    done = proc.stdout.count('= "1"')
    assert done == 8 * WARM + (jobs if statement else 0), f"{done} statements answered 1"
    found = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    assert found is not None, proc.stderr[-2000:]
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50, help="measured diamonds (and 4 x runs plain jobs)")
    parser.add_argument("--ballast", type=int, default=500, help="diamonds (and plain jobs x 4) drained first")
    parser.add_argument("--against", metavar="REV", help="also measure a database migrated at git revision REV")
    args = parser.parse_args()
    jobs = 4 * args.runs
    with tempfile.TemporaryDirectory(prefix="collab-instructions-") as tmp:
        snapshot = Path(tmp) / "data"
        server = EmbeddedPostgres(snapshot, settings={"fsync": "off"})
        admin = server.start()
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("create database bench")
            databases = {"after" if args.against else "this tree": ("bench", admin.rsplit("/", 1)[0] + "/bench")}
            migrate(databases[next(iter(databases))][1])
            if args.against:
                databases = {"before": ("before", migrated_at(admin, args.against, "before")), **databases}
            for _, url in databases.values():
                prepare(url, args.runs, args.ballast)
        finally:
            server.stop("fast")
        work = Path(tmp) / "run" / "data"
        work.parent.mkdir()
        per_job: dict[str, dict[str, float]] = {}
        for label, (dbname, _) in databases.items():
            base = instructions(server, snapshot, work, dbname, None, jobs)
            per_job[label] = {kind: (instructions(server, snapshot, work, dbname, executor, jobs) - base) / jobs
                              for kind, executor in (("plain", "plain"), ("step", "diamond"))}
            got = per_job[label]
            print(f"{label:10s} plain job {got['plain'] / 1e6:.3f} M instructions, diamond step "
                  f"{got['step'] / 1e6:.3f} M; step / plain job {got['step'] / got['plain']:.3f}", flush=True)
    if args.against:
        before, after = per_job["before"], per_job["after"]
        print(f"after / before: plain job {after['plain'] / before['plain']:.3f}, step {after['step'] / before['step']:.3f}")


if __name__ == "__main__":
    main()
