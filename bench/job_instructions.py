"""Instructions per plain job's statement (enqueue, claim + complete, complete_and_claim), counted by valgrind.

    .venv/bin/python bench/job_instructions.py --against REV [--jobs 200] [--ballast 2000]

One database is migrated at git revision ``REV`` and made to look worked (``--ballast``
plain jobs enqueued and drained, 4 x 100 diamond steps, as bench/workflow_instructions.py
does), then the measured jobs are queued. A copy of it (``create database ... template``)
gets the migrations this tree has and ``REV`` has not: both databases hold the same rows
and differ by schema only, so the figure is the schema change's alone (two databases
prepared apart differ by the ballast drain's order, up to 25 % on a plain job). Each
figure is one single-user backend under ``valgrind --tool=cachegrind`` (see
workflow_instructions.py): the warm-up, then ``--jobs`` times one statement, less the
warm-up alone. The statements: ``assign_job_v1`` (one job), ``assign_jobs_v1`` of 100
jobs (per job), ``claim_jobs_v1`` +
``complete_job_v1`` (one statement), and ``complete_and_claim_v1`` (completes the running
job, claims the next). Needs ``valgrind``; run by hand.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import enqueue  # noqa: E402
from workflow_instructions import prepare, statements, step  # noqa: E402
from workflow_shapes import migrated_at  # noqa: E402

from collab_sdk.local.embedded import EmbeddedPostgres  # noqa: E402
from collab_sdk.local.migrate import migrate  # noqa: E402

ENQUEUE = "select count(*) from collab.assign_job_v1(type => 't', executor_id => 'enq');\n"
# The running job of executor 'cc' (one claimed before the first), completed; the next claimed.
COMPLETE_AND_CLAIM = ("select count(*) from collab.complete_and_claim_v1(job_id => (select j.id from collab.jobs j"
                      " where j.executor_id = 'cc' and j.status = 'running'), worker_id => 'w', executor_id => 'cc');\n")
BATCH = 100  # jobs of one assign_jobs_v1 call
ENQUEUE_BATCH = (f"select (count(*) = {BATCH})::int from collab.assign_jobs_v1(jobs => (select jsonb_agg("
                 f"jsonb_build_object('type', 't', 'executor_id', 'enqb')) from generate_series(1, {BATCH})));\n")
MEASURED = {"enqueue": ENQUEUE, f"enqueue x{BATCH} (per job)": ENQUEUE_BATCH, "claim + complete": step("plain"), "complete_and_claim": COMPLETE_AND_CLAIM}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="REV", required=True, help="the git revision of the 'before' schema")
    parser.add_argument("--jobs", type=int, default=200, help="measured statements of each kind")
    parser.add_argument("--ballast", type=int, default=300, help="diamonds (and plain jobs x 4) drained first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="collab-instructions-") as tmp:
        snapshot = Path(tmp) / "data"
        server = EmbeddedPostgres(snapshot, settings={"fsync": "off"})
        admin = server.start()
        root = admin.rsplit("/", 1)[0]
        try:
            before = migrated_at(admin, args.against, "before")
            prepare(before, args.jobs // 4, args.ballast)
            enqueue(before, "cc", args.jobs + 2)
            with psycopg.connect(before, autocommit=True) as conn:
                conn.execute("select count(*) from collab.claim_jobs_v1(executor_id => 'cc', worker_id => 'w',"
                             " lease_seconds => 3600, max_jobs => 1)")
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("create database after template before")
            migrate(root + "/after")
            for name in ("before", "after"):
                with psycopg.connect(f"{root}/{name}", autocommit=True) as conn:
                    conn.execute("vacuum analyze")  # retyping a column drops its statistics
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("checkpoint")
        finally:
            server.stop("fast")
        work = Path(tmp) / "run" / "data"
        work.parent.mkdir()
        per: dict[str, dict[str, float]] = {}
        for name in ("before", "after"):
            base = statements(server, snapshot, work, name, None, args.jobs)
            per[name] = {kind: (statements(server, snapshot, work, name, sql, args.jobs) - base) / args.jobs
                         / (BATCH if sql is ENQUEUE_BATCH else 1) for kind, sql in MEASURED.items()}
            print(f"{name:7s}" + ", ".join(f"{kind} {n / 1e6:.3f} M" for kind, n in per[name].items()), flush=True)
    print("after / before: " + ", ".join(f"{kind} {per['after'][kind] / per['before'][kind]:.3f}" for kind in MEASURED))


if __name__ == "__main__":
    main()
