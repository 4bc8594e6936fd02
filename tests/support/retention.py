"""Finished jobs in bulk for the retention tests and ``bench/purge.py``: one set-based
INSERT per table (written as the owner, so the statement triggers keep the counts), with
events, dead letters (some pointing at a retried job) and artifacts beside the jobs."""

from __future__ import annotations

from typing import Any, NamedTuple

from support.callers import Caller

import psycopg
from psycopg.rows import dict_row

__all__ = ["Seeded", "seed_finished", "finished_runs", "purge_to_end", "orphans", "orphan_events", "DUE_AGE", "KEPT_AGE"]

#: Due jobs finished this long ago (older than every default retention period) ...
DUE_AGE = "30 days"
#: ... and kept ones this recently (younger than all of them).
KEPT_AGE = "5 seconds"

STATUSES = ("succeeded", "failed", "cancelled")


class Seeded(NamedTuple):
    """What ``seed_finished`` made: counts of due and kept jobs and of their dependants."""

    due: int
    kept: int
    events_per_job: int
    dead_letters: int
    artifacts: int


def seed_finished(conn: psycopg.Connection[Any], *, executor_id: str = "ex", due: int, kept: int,
                  events_per_job: int = 2, artifact_every: int = 50) -> Seeded:
    """``due`` jobs finished ``DUE_AGE`` ago and ``kept`` jobs finished ``KEPT_AGE`` ago,
    cycling through succeeded, failed and cancelled, each with ``events_per_job`` events;
    every failed job has a dead letter (created with its job, so due dead letters go too),
    whose ``retried_job_id`` points at another finished job; every ``artifact_every``-th job
    has an artifact row. Jobs are tagged ``payload.seed = 'due' | 'kept'``."""
    with conn.transaction():
        conn.execute("""
            insert into collab.jobs (type, executor_id, status, payload, attempts, lease_owner,
                                     created_at, started_at, finished_at, next_run_at)
            select 't.seed', %(ex)s, (array['succeeded', 'failed', 'cancelled'])[1 + g %% 3],
                   jsonb_build_object('seed', kind, 'n', g), 1, 'seeder', at, at, at, at
              from (select g, 'due' as kind, now() - %(due_age)s::interval - g * interval '1 ms' as at
                      from generate_series(1, %(due)s) g
                    union all
                    select g, 'kept', now() - %(kept_age)s::interval + g * interval '1 us'
                      from generate_series(1, %(kept)s) g) s
        """, {"ex": executor_id, "due": due, "kept": kept, "due_age": DUE_AGE, "kept_age": KEPT_AGE})
        conn.execute("analyze collab.jobs")  # else the dead letters' join below is planned as a nested loop
        conn.execute("""
            insert into collab.job_events (job_id, executor_id, event_type, payload)
            select j.id, j.executor_id, 'progress', jsonb_build_object('i', i)
              from collab.jobs j cross join generate_series(1, %(n)s) i
             where j.type = 't.seed' and j.executor_id = %(ex)s
        """, {"ex": executor_id, "n": events_per_job})
        dead = conn.execute("""
            with failed as (
              select j.id, j.executor_id, j.finished_at, row_number() over (order by j.id) as r
                from collab.jobs j where j.type = 't.seed' and j.executor_id = %(ex)s and j.status = 'failed'
            ), others as (
              select j.id, row_number() over (order by j.id desc) as r
                from collab.jobs j where j.type = 't.seed' and j.executor_id = %(ex)s and j.status = 'succeeded'
            )
            insert into collab.job_dead_letters (job_id, type, executor_id, payload, max_attempts, attempts,
                                                 reason, created_at, retried_job_id)
            select f.id, 't.seed', f.executor_id, '{}', 1, 1, 'non_retryable', f.finished_at, o.id
              from failed f left join others o on o.r = f.r
        """, {"ex": executor_id}).rowcount
        artifacts = conn.execute("""
            insert into collab.artifacts (job_id, executor_id, path, name, size)
            select j.id, j.executor_id, j.executor_id || '/' || j.id || '/out.txt', 'out.txt', 3
              from collab.jobs j
             where j.type = 't.seed' and j.executor_id = %(ex)s and (j.payload ->> 'n')::int %% %(every)s = 0
        """, {"ex": executor_id, "every": artifact_every}).rowcount
    conn.execute("analyze collab.job_events; analyze collab.job_dead_letters")
    return Seeded(due, kept, events_per_job, dead, artifacts)


ORPHANS = """
select (select count(*) from collab.job_events e
         where e.run_id is null and not exists (select 1 from collab.jobs j where j.id = e.job_id)) as events,
       (select count(*) from collab.artifacts a
         where not exists (select 1 from collab.jobs j where j.id = a.job_id)) as artifacts,
       (select count(*) from collab.job_dead_letters d
         where d.job_id is not null and not exists (select 1 from collab.jobs j where j.id = d.job_id)) as dead_job,
       (select count(*) from collab.job_dead_letters d
         where d.retried_job_id is not null
           and not exists (select 1 from collab.jobs j where j.id = d.retried_job_id)) as dead_retried,
       (select count(*) from collab.artifacts a
         where exists (select 1 from collab.storage_deletions s where s.bucket = a.bucket and s.path = a.path))
         as live_listed
"""


def orphan_events(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """The events counted as orphans by ``orphans``, with what wrote them (for a failure's
    message: which path appended an event to a job the purge had deleted)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("select e.seq, e.job_id, e.event_type, e.payload, e.created_at from collab.job_events e"
                           " where e.run_id is null and not exists (select 1 from collab.jobs j where j.id = e.job_id)"
                           " order by e.seq").fetchall()


def orphans(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows that point at a job that is gone (or a live artifact listed for deletion): all
    zero when nothing is orphaned."""
    with conn.cursor(row_factory=dict_row) as cur:
        return dict(cur.execute(ORPHANS).fetchone() or {})


ONE_STEP = {"nodes": [{"id": "A", "type": "t.step", "data": {}}], "edges": []}


def published_one_step(owner: Caller, executor_id: str = "ex") -> Any:
    """A published one-step workflow of ``executor_id``; its id."""
    owner.rpc("register_step_types_v1", executor_id=executor_id, step_types=[{"name": "t.step", "title": "t"}])
    wf = owner.one("create_workflow_v1", executor_id=executor_id, name="wf", definition=ONE_STEP)
    assert wf is not None and owner.one("publish_workflow_v1", workflow_id=wf["id"]) is not None
    return wf["id"]


def finished_runs(owner: Caller, n: int, executor_id: str = "ex") -> list[Any]:
    """``n`` succeeded runs of a one-step workflow of ``executor_id`` (one step job each,
    run through claim and complete); their ids."""
    wf = published_one_step(owner, executor_id)
    ids = [owner.value("start_run_v1", workflow_id=wf)["run"]["id"] for _ in range(n)]
    while jobs := owner.rpc("claim_jobs_v1", executor_id=executor_id, worker_id="w1", max_jobs=50,
                            lease_seconds=60):
        for job in jobs:
            owner.rpc("complete_job_v1", job_id=job["id"], worker_id="w1", result={})
    return ids


def purge_to_end(caller: Caller, fn: str, also: str, batch_size: int, **kw: Any) -> tuple[int, int, list[int]]:
    """Loop the batched purge ``fn`` with each answer's cursor until done: (the summed
    ``purged``, the summed ``also`` count, ``purged`` per batch)."""
    cursor, purged, other, sizes = None, 0, 0, []
    while True:
        answer = caller.value(fn, batch_size=batch_size, cursor=cursor, **kw)
        purged, other = purged + answer["purged"], other + answer[also]
        sizes.append(answer["purged"])
        if answer["done"]:
            assert answer["cursor"] is None
            return purged, other, sizes
        cursor = answer["cursor"]
