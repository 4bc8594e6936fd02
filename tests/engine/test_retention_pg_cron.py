"""pg_cron applies retention: the documented ``cron.schedule`` line, on PostgreSQL 15 with
pg_cron, runs ``collab_private.apply_retention()`` (a procedure that commits between
batches) and every executor's due jobs and dead letters go.

The case is set up on the suite's shared pg_cron cluster when collection ends
(``support.pg_cron``), so pg_cron's minute boundary usually passes before this test runs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from support import REPO, Caller
from support.pg_cron import PgCron, pg_cron_case
from support.retention import seed_finished

#: Every seeded job is of this type (the cluster is shared with other pg_cron cases).
SEEDED = "select count(*) as n from collab.jobs where type = 't.seed'"
#: A ``cron.job_run_details`` row in one of these statuses is no longer running.
FINISHED = ("succeeded", "failed")


def _documented_schedule() -> str:
    """The ``select cron.schedule(...)`` line of docs/rpc.md's Retention section."""
    text = (REPO / "docs" / "rpc.md").read_text().split("## Retention", 1)[1]
    return next(line for line in text.splitlines() if line.startswith("select cron.schedule("))


def _set_up(owner: Caller) -> dict[str, Any]:
    """Due and kept jobs of two executors, then the documented schedule."""
    seed_finished(owner.conn, due=2500, kept=10)
    seed_finished(owner.conn, executor_id="other", due=30, kept=10)
    kept_dead = owner.sql("select count(*) as n from collab.job_dead_letters d join collab.jobs j"
                          " on j.id = d.job_id where j.payload->>'seed' = 'kept'")[0]["n"]
    owner.sql(_documented_schedule())
    return {"kept_dead": kept_dead}


pg_cron_case("retention", _set_up)


@pytest.mark.slow  # run alone, it waits for pg_cron's next minute boundary
def test_the_documented_pg_cron_job_applies_every_executors_policy(pg_cron: PgCron) -> None:
    kept_dead = pg_cron.cases["retention"]["kept_dead"]
    owner = Caller(pg_cron.url)
    try:
        deadline = time.monotonic() + 130  # pg_cron 1.4 runs jobs on minute boundaries
        while time.monotonic() < deadline:
            left = owner.sql(SEEDED)[0]["n"]
            if left == 20:
                break
            time.sleep(1)
        assert left == 20
        # pg_cron keeps running the jobs each minute: wait out one it may have just started.
        while time.monotonic() < deadline:
            runs = owner.sql("select status, return_message from cron.job_run_details")
            if all(r["status"] in FINISHED for r in runs):
                break
            time.sleep(0.2)
        assert runs and all(r["status"] == "succeeded" for r in runs), runs
        assert owner.sql("select count(*) as n from collab.job_dead_letters")[0]["n"] == kept_dead > 0
        assert {r["executor_id"] for r in owner.sql(
            "select executor_id from collab.retention_state where last_finished_at is not null")} == {"ex", "other"}
    finally:
        owner.close()
