"""purge_runs_batch_v1 (migration 20261205400100): finished workflow runs go in batches
with their step runs, step jobs and events; live runs, young runs, held runs and other
executors' runs stay."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from support import Caller, raises_sqlstate
from support.retention import purge_to_end, finished_runs, orphans, published_one_step

ALL = ["succeeded", "failed", "cancelled"]


def _purge(caller: Caller, batch_size: int, **kw: Any) -> tuple[int, int, list[int]]:
    """Loop purge_runs_batch_v1 to the end: (runs, jobs, per batch)."""
    return purge_to_end(caller, "purge_runs_batch_v1", "jobs", batch_size, **kw)


def _left(owner: Caller, run_ids: list[Any]) -> dict[str, int]:
    """Rows of these runs still there, per table."""
    return owner.sql("""
        select (select count(*) from collab.workflow_runs where id = any (%(ids)s)) as runs,
               (select count(*) from collab.workflow_step_runs where run_id = any (%(ids)s)) as steps,
               (select count(*) from collab.jobs where workflow_run_id = any (%(ids)s)) as jobs,
               (select count(*) from collab.job_events where run_id = any (%(ids)s)) as events
    """, {"ids": run_ids})[0]


def test_finished_runs_go_in_batches_with_their_steps_jobs_and_events(owner: Caller) -> None:
    old = finished_runs(owner, 5)
    owner.sql("update collab.workflow_runs set completed_at = now() - interval '2 days' where id = any (%s)", (old,))
    young = finished_runs(owner, 2)
    live = owner.value("start_run_v1", workflow_id=published_one_step(owner))["run"]["id"]  # its step is queued
    assert _left(owner, old)["jobs"] == 5 and _left(owner, old)["events"] > 5
    assert _purge(owner, 2, older_than_seconds=86400, executor_id="ex") == (5, 5, [2, 2, 1])
    assert _left(owner, old) == {"runs": 0, "steps": 0, "jobs": 0, "events": 0}
    assert _left(owner, young)["runs"] == 2 and _left(owner, young)["jobs"] == 2
    assert _left(owner, [live])["runs"] == 1
    assert _purge(owner, 100, older_than_seconds=0, statuses=["failed"]) == (0, 0, [0])  # none failed
    assert _purge(owner, 100, older_than_seconds=0)[0] == 2  # the young ones; never the live one
    assert _left(owner, [live])["runs"] == 1
    assert orphans(owner.conn)["events"] == 0


def test_a_run_whose_job_is_held_is_passed_over_not_waited_for(db_url: str, owner: Caller) -> None:
    held_run, other = finished_runs(owner, 2)
    job = owner.sql("select id from collab.jobs where workflow_run_id = %s limit 1", (held_run,))[0]["id"]
    with psycopg.connect(db_url) as holder:
        holder.execute("select 1 from collab.jobs where id = %s for update", (job,))
        assert _purge(owner, 10, older_than_seconds=0) == (1, 1, [1])
    assert _left(owner, [other])["runs"] == 0 and _left(owner, [held_run])["runs"] == 1
    assert _purge(owner, 10, older_than_seconds=0) == (1, 1, [1])  # released: now it goes
    assert orphans(owner.conn)["events"] == 0


def test_concurrent_purges_delete_each_run_once(db_url: str, owner: Caller) -> None:
    ids = finished_runs(owner, 12)
    totals: list[tuple[int, int, list[int]]] = []

    def purger() -> None:
        me = Caller(db_url)
        try:
            totals.append(_purge(me, 3, older_than_seconds=0))
        finally:
            me.close()

    threads = [threading.Thread(target=purger) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    leftover = _purge(owner, 100, older_than_seconds=0)[0]  # runs every caller skipped as locked
    assert sum(t[0] for t in totals) + leftover == 12 and sum(t[1] for t in totals) <= 12
    assert _left(owner, ids) == {"runs": 0, "steps": 0, "jobs": 0, "events": 0}


def test_an_admin_of_one_executor_cannot_purge_anothers_runs(owner: Caller, make_user: Any) -> None:
    mine, theirs = finished_runs(owner, 1), finished_runs(owner, 1, executor_id="other")
    admin, client = make_user({"ex": "admin"}), make_user({"ex": "client", "other": "client"})
    with raises_sqlstate("CL403"):
        admin.rpc("purge_runs_batch_v1", executor_id="other")
    with raises_sqlstate("CL403", "service role"):
        admin.rpc("purge_runs_batch_v1")  # every executor: trusted callers only
    with raises_sqlstate("CL403"):
        client.rpc("purge_runs_batch_v1", executor_id="ex")  # needs the admin role
    assert admin.value("purge_runs_batch_v1", executor_id="ex")["purged"] == 1
    assert _left(owner, mine)["runs"] == 0 and _left(owner, theirs)["runs"] == 1
    for bad, message in [({"statuses": ["running"]}, "statuses must be"), ({"batch_size": 0}, "batch_size"),
                         ({"cursor": {"completedAt": "soon", "id": "x"}}, "invalid cursor")]:
        with raises_sqlstate("CL400", message):
            owner.rpc("purge_runs_batch_v1", **bad)
