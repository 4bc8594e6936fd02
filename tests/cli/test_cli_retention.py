"""``collab retention show|set|apply|purge-runs`` and ``collab purge --batch-size`` against a real
database, as processes."""

from __future__ import annotations

from support import Caller
from support.retention import finished_runs, published_one_step, seed_finished
from test_cli_commands import collab as run, collab_json as ok


def test_show_set_and_apply_the_policy(db_url: str, owner: Caller) -> None:
    shown = ok(db_url, "retention", "show", "ex")
    assert (shown["succeededSeconds"], shown["failedSeconds"], shown["isDefault"]) == (86400, 604800, True)
    changed = ok(db_url, "retention", "set", "ex", "--failed", "forever", "--dead-letters", "forever",
                 "--cancelled", "60")
    assert (changed["failedSeconds"], changed["deadLetterSeconds"], changed["cancelledSeconds"],
            changed["succeededSeconds"]) == (None, None, 60, 86400)
    human = run(db_url, "retention", "show", "ex")
    assert human.returncode == 0 and "forever" in human.stdout, human.stderr
    bad = run(db_url, "retention", "set", "ex", "--failed", "soon")
    assert bad.returncode == 2 and "'forever'" in bad.stderr
    seed_finished(owner.conn, due=30, kept=3)
    done = ok(db_url, "retention", "apply", "ex", "--batch-size", "4")
    assert (done["ran"], done["purged"], done["deadLetters"]) == (True, 20, 0)  # failed ones kept forever
    again = run(db_url, "retention", "apply", "ex")
    assert again.returncode == 0 and "not run" in again.stdout


def test_purge_in_batches(db_url: str, owner: Caller) -> None:
    seed_finished(owner.conn, due=21, kept=2)
    assert ok(db_url, "purge", "--status", "succeeded", "--status", "failed", "--status", "cancelled",
              "--older-than", "3600", "--batch-size", "5") == {"purged": 21}
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 2


def test_purge_runs_deletes_the_finished_runs_of_the_executor(db_url: str, owner: Caller) -> None:
    finished_runs(owner, 3)
    live = owner.value("start_run_v1", workflow_id=published_one_step(owner))["run"]["id"]
    assert ok(db_url, "retention", "purge-runs", "ex", "--batch-size", "2") == {"purged": 3}
    assert [r["id"] for r in owner.sql("select id::text from collab.workflow_runs")] == [str(live)]
    human = run(db_url, "retention", "purge-runs", "ex", "--status", "failed")
    assert human.returncode == 0 and "deleted 0 workflow run(s)" in human.stdout, human.stderr
