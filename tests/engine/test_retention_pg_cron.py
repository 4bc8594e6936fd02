"""pg_cron applies retention: the documented ``cron.schedule`` line, on PostgreSQL 15 with
pg_cron, runs ``collab_private.apply_retention()`` (a procedure that commits between
batches) and every executor's due jobs and dead letters go."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate
from support import REPO, Caller
from support.retention import seed_finished

PG15 = Path("/usr/lib/postgresql/15/bin")
PG_CRON = Path("/usr/lib/postgresql/15/lib/pg_cron.so")


def _documented_schedule() -> str:
    """The ``select cron.schedule(...)`` line of docs/rpc.md's Retention section."""
    text = (REPO / "docs" / "rpc.md").read_text().split("## Retention", 1)[1]
    return next(line for line in text.splitlines() if line.startswith("select cron.schedule("))


@pytest.mark.slow
# pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (embedded.py's _system_user
# imports it unguarded; run alone, no earlier import has spent the warning).
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_documented_pg_cron_job_applies_every_executors_policy() -> None:
    if not (PG15 / "postgres").exists() or not PG_CRON.exists():
        pytest.skip(f"needs PostgreSQL 15 at {PG15} with pg_cron ({PG_CRON}); ./dev test installs"
                    " postgresql-15 and postgresql-15-cron with apt")
    # Not under pytest's tmp_path (see test_workflow_triggers: the server runs as its own user).
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="collab-pgcron-")) / "pg15", bin_dir=PG15, settings={
        "fsync": "off", "shared_preload_libraries": "pg_cron", "cron.database_name": "postgres",
        "max_worker_processes": "20"})
    url = server.start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create extension pg_cron")
        migrate(url)
        owner = Caller(url)
        try:
            seed_finished(owner.conn, due=2500, kept=10)
            seed_finished(owner.conn, executor_id="other", due=30, kept=10)
            kept_dead = owner.sql("select count(*) as n from collab.job_dead_letters d join collab.jobs j"
                                  " on j.id = d.job_id where j.payload->>'seed' = 'kept'")[0]["n"]
            owner.sql(_documented_schedule())
            deadline = time.monotonic() + 130  # pg_cron 1.4 runs jobs on minute boundaries
            while time.monotonic() < deadline:
                left = owner.sql("select count(*) as n from collab.jobs")[0]["n"]
                if left == 20:
                    break
                time.sleep(1)
            assert left == 20
            runs = owner.sql("select status, return_message from cron.job_run_details")
            assert runs and all(r["status"] == "succeeded" for r in runs), runs
            assert owner.sql("select count(*) as n from collab.job_dead_letters")[0]["n"] == kept_dead > 0
            assert {r["executor_id"] for r in owner.sql(
                "select executor_id from collab.retention_state where last_finished_at is not null")} == {"ex", "other"}
        finally:
            owner.close()
    finally:
        server.destroy()
