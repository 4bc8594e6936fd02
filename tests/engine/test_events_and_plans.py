"""The event log of a job's whole life, and the query plans of the hot paths."""

from __future__ import annotations

import pytest

from support import Caller, assign, claim, make_due


def _log(owner: Caller, job_id: object) -> list[tuple[str, dict]]:
    rows = owner.sql("select event_type, payload from collab.job_events where job_id = %s order by seq", (job_id,))
    return [(r["event_type"], r["payload"]) for r in rows]


def test_full_life_with_backoff_retry(owner: Caller) -> None:
    """assign → claim → fail (retry scheduled) → claim → complete."""
    job_id = assign(owner, type="t.life", max_attempts=3)
    claim(owner, worker_id="w1")
    owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error="flaky")
    make_due(owner, job_id)
    claim(owner, worker_id="w2")
    owner.rpc("complete_job_v1", job_id=job_id, worker_id="w2", result={"ok": True})
    log = _log(owner, job_id)
    assert [e for e, _ in log] == ["queued", "claimed", "retry_scheduled", "claimed", "succeeded"]
    assert log[0][1]["type"] == "t.life"
    assert (log[1][1]["worker_id"], log[1][1]["attempt"]) == ("w1", 1)
    assert (log[2][1]["error"], log[2][1]["attempt"]) == ("flaky", 1)
    assert (log[3][1]["worker_id"], log[3][1]["attempt"]) == ("w2", 2)
    assert log[4][1]["attempt"] == 2


def test_full_life_with_manual_retry(owner: Caller) -> None:
    """assign → claim → fail permanently → retry → claim → complete."""
    job_id = assign(owner, max_attempts=1)
    claim(owner)
    owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error="fatal")
    owner.rpc("retry_job_v1", job_id=job_id)
    claim(owner)
    owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1")
    log = _log(owner, job_id)
    assert [e for e, _ in log] == ["queued", "claimed", "failed", "retried", "claimed", "succeeded"]
    assert log[2][1]["error"] == "fatal" and log[3][1]["previous_status"] == "failed"


def test_events_are_never_written_for_non_transitions(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    for _ in range(3):
        owner.rpc("extend_lease_v1", job_id=job_id, worker_id="w1", lease_seconds=60)
    owner.rpc("worker_heartbeat_v1", worker_id="w1", executor_id="ex")
    assert [e for e, _ in _log(owner, job_id)] == ["queued", "claimed"]


def _plan(owner: Caller, query: str) -> str:
    owner.sql("analyze")
    rows = owner.sql(f"set local enable_seqscan = off; explain {query}")
    return "\n".join(r["QUERY PLAN"] for r in rows)


@pytest.mark.parametrize("query", [
    # the claim's candidate scan
    "select id from collab.jobs j where j.executor_id = 'ex' and j.status in ('queued','running')"
    " and j.next_run_at <= now() order by j.priority desc, j.next_run_at, j.id limit 10 for update skip locked",
    # jobs_recent, per executor and overall, with a cursor
    "select * from collab.jobs j where j.executor_id = 'ex' and j.status <> 'running' and (j.created_at, j.id) <"
    " ('2030-01-01'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid)"
    " order by j.created_at desc, j.id desc limit 21",
    # jobs_recent without an executor: the skip scan's probe for the next executor
    "select j.executor_id from collab.jobs j where j.status <> 'running' and j.executor_id > 'ex1'"
    " order by j.executor_id limit 1",
    # events of a job after a seq; one executor's events after a seq (the primary key, filtered)
    "select * from collab.job_events e where e.job_id = gen_random_uuid() and e.seq > 5 order by e.seq",
    "select * from collab.job_events e where e.executor_id = 'ex' and e.seq > 5 order by e.seq limit 100",
    "select * from collab.job_dead_letters d order by d.created_at desc, d.id desc limit 21",
    "select * from collab.jobs j where j.idempotency_key = 'k' and j.executor_id = 'ex'",
    "select * from collab.worker_heartbeats_v2 w where w.last_seen_at > now() - interval '20 seconds'",
])
def test_hot_queries_have_an_index_path(owner: Caller, query: str) -> None:
    """With sequential scans disabled the planner still picks one if no index serves."""
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": f"ex{i % 5}"} for i in range(2000)])
    plan = _plan(owner, query)
    assert "Seq Scan" not in plan and "Sort" not in plan.split("->")[0], plan


def test_fenced_paths_cannot_take_the_claim_index(owner: Caller) -> None:
    """The claim index is empty whenever the queue is; statistics gathered then make it look
    free. The dead-letter probe and the completes' lookups are written so that its predicate
    (status queued or running) is never implied, so the planner cannot pick it for them."""
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex"} for _ in range(500)])
    for job in owner.rpc("claim_jobs_v1", executor_id="ex", worker_id="w1", max_jobs=1000):
        owner.rpc("complete_job_v1", job_id=job["id"], worker_id="w1")
    owner.conn.execute("vacuum analyze collab.jobs")  # the claim index is empty now
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex"} for _ in range(2000)])
    owner.conn.execute("set enable_seqscan = off")

    def plan(query: str) -> str:  # no ANALYZE here: the point is the stale statistics
        return "\n".join(r["QUERY PLAN"] for r in owner.conn.execute(f"explain {query}").fetchall())

    probe = plan("select 1 from collab.jobs r where r.executor_id = 'ex'"
                 " and r.lease_until < now() and r.attempts >= r.max_attempts")
    assert "jobs_exhausted_idx" in probe, probe
    target = plan("select t.id from collab.jobs t"
                  " where t.id = any (array['01a2065a-0000-7000-8000-000000000001'::uuid]) for update")
    assert "jobs_pkey" in target and "jobs_claim_idx" not in target, target


def test_claims_run_one_generic_plan_of_index_scans(owner: Caller) -> None:
    """The claim statement is planned once per session: its generic plan (LIMIT unknown)
    must still be index scans, never a scan or hash of the whole table."""
    for fn in ("claim_jobs_v1", "complete_jobs_v1"):
        config = owner.sql(f"select proconfig from pg_proc where oid = 'collab.{fn}'::regproc")
        assert "plan_cache_mode=force_generic_plan" in config[0]["proconfig"], fn
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": f"ex{i % 5}"} for i in range(5000)])
    owner.sql("analyze collab.jobs")
    owner.sql("set plan_cache_mode = force_generic_plan")
    owner.sql("""prepare claim_probe(text, int) as
      with picked as materialized (
        select j.id from collab.jobs j
         where j.executor_id = $1 and j.status in ('queued', 'running') and j.next_run_at <= now()
         order by j.priority desc, j.next_run_at, j.id limit $2 for update skip locked
      ), claimed as (
        update collab.jobs j set status = 'running' where j.id = any (array(select p.id from picked p))
        returning j.*)
      select c.* from claimed c
        join unnest(array(select p.id from picked p)) with ordinality as o (id, ord) on o.id = c.id
       order by o.ord""")
    plan = "\n".join(r["QUERY PLAN"] for r in owner.sql("explain execute claim_probe('ex1', 1)"))
    assert "Seq Scan" not in plan and "Hash Join" not in plan.split("CTE claimed")[0], plan
    hashed = [line for line in plan.splitlines() if "->  Hash  " in line]
    assert all("rows=10 " in line for line in hashed), plan  # sized for the array, not the table
    assert "Index Scan using jobs_claim_idx" in plan and "Index Scan using jobs_pkey" in plan, plan
