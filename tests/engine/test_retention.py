"""Retention (migration 20261202030100): the batched purge, the per-executor policy and its
lease, dead letters' own retention, and the Storage objects listed for deletion."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from support import Caller, raises_sqlstate
from support.retention import purge_to_end, orphans, seed_finished

ALL = ["succeeded", "failed", "cancelled"]


def _purge(caller: Caller, batch_size: int, **kw: Any) -> tuple[int, int, list[int]]:
    """Loop purge_jobs_batch_v1 to the end: (jobs, events, per batch)."""
    return purge_to_end(caller, "purge_jobs_batch_v1", "events", batch_size, **kw)


def _count(owner: Caller, query: str) -> int:
    return owner.sql(f"select count(*) as n from {query}")[0]["n"]


def test_the_batches_delete_exactly_the_due_jobs_with_their_events(owner: Caller) -> None:
    seed_finished(owner.conn, due=250, kept=40)
    seed_finished(owner.conn, executor_id="other", due=30, kept=0)
    due_events = _count(owner, "collab.job_events e join collab.jobs j on j.id = e.job_id"
                               " where j.executor_id = 'ex' and j.payload->>'seed' = 'due'")
    jobs, events, sizes = _purge(owner, 100, older_than_seconds=3600, executor_id="ex", statuses=ALL)
    assert (jobs, events) == (250, due_events) and due_events >= 500
    assert sizes == [100, 100, 50]
    assert _count(owner, "collab.jobs where executor_id = 'ex'") == 40
    assert _count(owner, "collab.jobs where payload->>'seed' = 'due' and executor_id = 'ex'") == 0
    assert _count(owner, "collab.jobs where executor_id = 'other'") == 30  # another executor's stay
    assert orphans(owner.conn) == {"events": 0, "artifacts": 0, "dead_job": 0, "dead_retried": 0,
                                   "live_listed": 0}


def test_statuses_and_age_choose_the_rows_as_purge_jobs_v1_does(owner: Caller) -> None:
    seed_finished(owner.conn, due=30, kept=30)
    assert _purge(owner, 7, older_than_seconds=3600)[0] == 10  # succeeded only, by default
    assert _purge(owner, 7, older_than_seconds=0, statuses=["cancelled"])[0] == 20  # due and kept
    assert sorted(r["status"] for r in owner.sql("select distinct status from collab.jobs")) == [
        "failed", "succeeded"]
    with raises_sqlstate("CL400", "statuses must be"):
        owner.rpc("purge_jobs_batch_v1", statuses=["running"])
    with raises_sqlstate("CL400", "batch_size"):
        owner.rpc("purge_jobs_batch_v1", batch_size=0)
    with raises_sqlstate("CL400", "invalid cursor"):
        owner.rpc("purge_jobs_batch_v1", cursor={"finishedAt": "yesterday-ish", "id": "x"})


def test_jobs_finished_in_one_statement_are_paged_by_id_within_their_instant(owner: Caller) -> None:
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex"} for _ in range(25)])
    owner.rpc("jobs_bulk_v1", action="cancel", executor_id="ex")  # 25 jobs, one finished_at
    assert len({r["f"] for r in owner.sql("select distinct finished_at as f from collab.jobs")}) == 1
    assert _purge(owner, 10, statuses=["cancelled"], executor_id="ex") == (25, 50, [10, 10, 5])


def test_a_locked_job_is_passed_over_not_waited_for(db_url: str, owner: Caller) -> None:
    seed_finished(owner.conn, due=20, kept=0)
    held = owner.sql("select id from collab.jobs order by finished_at limit 1")[0]["id"]
    with psycopg.connect(db_url) as other:
        other.execute("select 1 from collab.jobs where id = %s for update", (held,))
        started = time.monotonic()
        assert _purge(owner, 8, statuses=ALL, older_than_seconds=60)[0] == 19
        assert time.monotonic() - started < 5
    assert [r["id"] for r in owner.sql("select id from collab.jobs")] == [held]


def test_retries_wait_only_for_the_batch_that_holds_their_rows(db_url: str, owner: Caller) -> None:
    seed_finished(owner.conn, due=60, kept=0)
    oldest, newest = (owner.sql(f"select j.id as job, d.id as dead from collab.jobs j join collab.job_dead_letters d"
                                f" on d.job_id = j.id order by j.finished_at {order} limit 1")[0]
                      for order in ("asc", "desc"))
    owner.sql("update collab.job_dead_letters set retried_job_id = null where id = %s", (newest["dead"],))
    with psycopg.connect(db_url) as purger:  # one batch, not committed yet
        answer = purger.execute("select collab.purge_jobs_batch_v1(older_than_seconds => 60,"
                                " statuses => '{succeeded,failed,cancelled}', batch_size => 10)").fetchone()[0]
        assert answer["purged"] == 10
        started = time.monotonic()  # a job and a dead letter outside the batch: no wait
        owner.rpc("dlq_retry_v1", dead_letter_id=newest["dead"])
        owner.rpc("retry_job_v1", job_id=newest["job"])
        assert time.monotonic() - started < 2
        waited: list[float] = []

        def retry_oldest() -> None:  # in the batch: it waits for the batch's commit, then is gone
            began, retrier = time.monotonic(), Caller(db_url)
            try:
                with raises_sqlstate("CL404", "not found"):
                    retrier.rpc("retry_job_v1", job_id=oldest["job"])
                waited.append(time.monotonic() - began)
            finally:
                retrier.close()

        thread = threading.Thread(target=retry_oldest)
        thread.start()
        time.sleep(0.5)
        purger.commit()
        thread.join(10)
    assert len(waited) == 1 and 0.4 < waited[0] < 5
    assert owner.sql("select status from collab.jobs where id = %s", (newest["job"],))[0]["status"] == "queued"


def _one_dead_job(owner: Caller) -> dict[str, Any]:
    """Seed three due jobs; the failed one's id and its dead letter's (``job``, ``dead``)."""
    seed_finished(owner.conn, due=3, kept=0)
    return owner.sql("select j.id as job, d.id as dead from collab.jobs j join collab.job_dead_letters d"
                     " on d.job_id = j.id")[0]


def test_a_retry_and_a_purge_of_its_job_leave_no_orphan_event(db_url: str, owner: Caller) -> None:
    """dlq_retry_v1 appends a `retried` event to the original job: a purge deleting that
    job at the same time must delete the event too (once left behind as an orphan)."""
    target = _one_dead_job(owner)
    answers: list[dict[str, Any]] = []
    with psycopg.connect(db_url) as retrier:  # the retry's transaction is open: its event is not committed
        retrier.execute("select collab.dlq_retry_v1(%s)", (target["dead"],))

        def purge_the_failed() -> None:
            purger = Caller(db_url)
            try:
                answers.append(purger.value("purge_jobs_batch_v1", older_than_seconds=60,
                                            statuses=["failed"], batch_size=10))
            finally:
                purger.close()

        thread = threading.Thread(target=purge_the_failed)
        thread.start()
        thread.join(0.5)  # the old code blocked here on the dead letter, the job already deleted
        retrier.commit()
        thread.join(10)
    assert orphans(owner.conn)["events"] == 0  # the old code left the `retried` event here
    assert len(answers) == 1 and answers[0]["purged"] == 0  # the retry held the job: skipped, not waited for
    assert [r["event_type"] for r in owner.sql("select event_type from collab.job_events where job_id = %s"
                                               " order by seq", (target["job"],))][-1] == "retried"
    assert _purge(owner, 10, older_than_seconds=60, statuses=["failed"])[0] == 1  # now it goes, event and all
    assert owner.sql("select 1 from collab.jobs where id = %s", (target["job"],)) == []
    assert orphans(owner.conn)["events"] == 0


def test_a_retry_that_waited_for_a_purge_of_its_job_appends_no_event(db_url: str, owner: Caller) -> None:
    target = _one_dead_job(owner)
    answers: list[Any] = []
    with psycopg.connect(db_url) as purger:  # the purge's batch holds the job, not committed yet
        assert purger.execute("select collab.purge_jobs_batch_v1(older_than_seconds => 60,"
                              " statuses => '{failed}', batch_size => 10)").fetchone()[0]["purged"] == 1

        def retry() -> None:
            retrier = Caller(db_url)
            try:
                answers.append(retrier.sql("select * from collab.dlq_retry_v1(%s)", (target["dead"],)))
            finally:
                retrier.close()

        thread = threading.Thread(target=retry)
        thread.start()
        thread.join(0.5)
        assert answers == []  # waits for the purge's commit
        purger.commit()
        thread.join(10)
    assert len(answers) == 1 and answers[0][0]["queued"] is True  # the dead letter is still retried
    assert owner.sql("select job_id from collab.job_dead_letters where id = %s", (target["dead"],)) == [
        {"job_id": None}]
    assert orphans(owner.conn) == {"events": 0, "artifacts": 0, "dead_job": 0, "dead_retried": 0,
                                   "live_listed": 0}


def test_a_job_of_a_live_workflow_run_is_kept(owner: Caller) -> None:
    seed_finished(owner.conn, due=6, kept=0)
    workflow = owner.sql("insert into collab.workflows (executor_id, name, definition) values"
                         " ('ex', 'wf', '{}') returning id")[0]["id"]
    run = owner.sql("insert into collab.workflow_runs (workflow_id, workflow_version, executor_id, status)"
                    " values (%s, 1, 'ex', 'running') returning id", (workflow,))[0]["id"]
    owner.sql("update collab.jobs set workflow_run_id = %s where id in"
              " (select id from collab.jobs order by finished_at limit 2)", (run,))
    assert _purge(owner, 100, statuses=ALL, older_than_seconds=60)[0] == 4
    owner.sql("update collab.workflow_runs set status = 'succeeded' where id = %s", (run,))
    assert _purge(owner, 100, statuses=ALL, older_than_seconds=60)[0] == 2


def test_deleted_artifacts_are_listed_for_storage_deletion(owner: Caller) -> None:
    seeded = seed_finished(owner.conn, due=100, kept=100, artifact_every=10)
    assert seeded.artifacts == 20
    _purge(owner, 30, statuses=ALL, older_than_seconds=60)
    listed = owner.rpc("storage_deletions_v1", executor_id="ex", page_size=1000)
    assert len(listed) == 10 and {r["bucket"] for r in listed} == {"artifacts"}
    assert all(r["path"].startswith("ex/") for r in listed)
    live = {r["path"] for r in owner.sql("select path from collab.artifacts")}
    assert len(live) == 10 and not live & {r["path"] for r in listed}
    job_id = owner.sql("select job_id from collab.artifacts limit 1")[0]["job_id"]
    owner.rpc("delete_job_v1", job_id=job_id)  # one job's delete lists its objects too
    assert len(owner.rpc("storage_deletions_v1", executor_id="ex")) == 11
    assert owner.value("ack_storage_deletions_v1", ids=[r["id"] for r in listed]) == 10
    assert len(owner.rpc("storage_deletions_v1")) == 1


def test_the_default_policy_and_changing_it(owner: Caller, make_user: Any) -> None:
    policy = owner.value("retention_policy_v1", executor_id="ex")
    assert policy == {"executorId": "ex", "succeededSeconds": 86400, "failedSeconds": 604800,
                      "cancelledSeconds": 86400, "deadLetterSeconds": 604800, "enabled": True,
                      "isDefault": True, "updatedAt": None}
    changed = owner.value("set_retention_policy_v1", executor_id="ex",
                          policy={"succeededSeconds": 60, "failedSeconds": None})
    assert (changed["succeededSeconds"], changed["failedSeconds"], changed["cancelledSeconds"],
            changed["isDefault"]) == (60, None, 86400, False)
    again = owner.value("set_retention_policy_v1", executor_id="ex", policy={"enabled": False})
    assert (again["succeededSeconds"], again["failedSeconds"], again["enabled"]) == (60, None, False)
    for bad, message in [({"succeededSeconds": -1}, "succeededSeconds must be"),
                         ({"failedSeconds": 1.5}, "failedSeconds must be"),
                         ({"enabled": "yes"}, "enabled must be"), ({"keep": 1}, "unknown policy field"),
                         ([], "policy must be a JSON object")]:
        with raises_sqlstate("CL400", message):
            owner.rpc("set_retention_policy_v1", executor_id="ex", policy=bad)
    admin, client, stranger = make_user({"ex": "admin"}), make_user({"ex": "client"}), make_user({})
    assert admin.value("set_retention_policy_v1", executor_id="ex", policy={"enabled": True})["enabled"]
    assert client.value("retention_policy_v1", executor_id="ex")["succeededSeconds"] == 60
    assert len(client.sql("select * from collab.retention_policies")) == 1
    assert stranger.sql("select * from collab.retention_policies") == []
    with raises_sqlstate("CL403", "not allowed"):
        client.rpc("set_retention_policy_v1", executor_id="ex", policy={"enabled": False})
    with raises_sqlstate("CL403", "not allowed"):
        stranger.rpc("retention_policy_v1", executor_id="ex")
    with raises_sqlstate("CL403", "not allowed"):
        client.rpc("apply_retention_v1", executor_id="ex", worker_id="w")
    with raises_sqlstate("CL403", "not allowed"):
        client.rpc("purge_jobs_batch_v1", executor_id="ex")
    with raises_sqlstate("CL403", "needs the service role"):
        admin.rpc("purge_jobs_batch_v1")
    with raises_sqlstate("CL403", "needs the service role"):
        admin.rpc("storage_deletions_v1")


def _apply(caller: Caller, worker: str, **kw: Any) -> list[dict[str, Any]]:
    """apply_retention_v1 until it does not run or its pass is done: every answer."""
    answers = []
    while True:
        answers.append(caller.value("apply_retention_v1", executor_id="ex", worker_id=worker, **kw))
        if not answers[-1]["ran"] or answers[-1]["done"]:
            return answers


def test_apply_retention_follows_the_policy_per_status_and_for_dead_letters(owner: Caller) -> None:
    seed_finished(owner.conn, due=90, kept=30)  # due: 30 days old; dead letters of failed jobs too
    owner.sql("update collab.jobs set finished_at = now() - interval '3 days' where payload->>'seed' = 'kept'")
    owner.sql("update collab.job_dead_letters set created_at = now() - interval '3 days' where job_id in"
              " (select id from collab.jobs where payload->>'seed' = 'kept')")
    # Defaults: succeeded and cancelled older than 24 h go (all 60 + 20 of the 3-day-old),
    # failed only past 7 days (30), dead letters past 7 days (30).
    answers = _apply(owner, "w1", batch_size=25)
    assert all(a["ran"] for a in answers) and answers[-1]["done"]
    assert sum(a["purged"] for a in answers) == 60 + 30 + 20
    assert sum(a["deadLetters"] for a in answers) == 30
    assert max(a["purged"] + a["deadLetters"] for a in answers) <= 25
    assert sorted(r["status"] for r in owner.sql("select status from collab.jobs")) == ["failed"] * 10
    assert _count(owner, "collab.job_dead_letters") == 10
    state = owner.sql("select * from collab.retention_state")[0]
    assert state["lease_owner"] is None and state["last_purged"] == 140 and state["next_run_at"] > state[
        "last_finished_at"]
    # The next pass is not due yet, for any caller ...
    assert _apply(owner, "w2") == [{"ran": False, "purged": 0, "events": 0, "deadLetters": 0, "done": True}]
    # ... until the policy changes.
    owner.rpc("set_retention_policy_v1", executor_id="ex", policy={"failedSeconds": 3600, "deadLetterSeconds": None})
    answers = _apply(owner, "w2")
    assert sum(a["purged"] for a in answers) == 10 and sum(a["deadLetters"] for a in answers) == 0
    assert _count(owner, "collab.job_dead_letters") == 10  # kept forever now, their jobs gone
    assert orphans(owner.conn)["dead_job"] == 0


def test_one_caller_at_a_time_holds_an_executors_retention(owner: Caller) -> None:
    seed_finished(owner.conn, due=50, kept=0)
    first = owner.value("apply_retention_v1", executor_id="ex", worker_id="w1", batch_size=10)
    assert first["ran"] and first["purged"] == 10 and not first["done"]
    other = owner.value("apply_retention_v1", executor_id="ex", worker_id="w2", batch_size=10)
    assert not other["ran"]  # w1 holds the lease
    owner.sql("update collab.retention_state set lease_until = now() - interval '1 s'")  # w1 died
    rest = _apply(owner, "w2", batch_size=10)
    assert sum(a["purged"] for a in rest) == 40 and rest[-1]["done"]  # w2 went on from w1's cursor
    assert _count(owner, "collab.jobs") == 0


def test_the_lease_holder_waits_out_a_caller_checking_the_lease(db_url: str, owner: Caller) -> None:
    """Another caller holds the state row a moment to see the lease is taken; the holder's
    next batch waits for it instead of skipping (which ended the pass until the lease
    expired, a minute later)."""
    seed_finished(owner.conn, due=30, kept=0)
    assert owner.value("apply_retention_v1", executor_id="ex", worker_id="w1", batch_size=10)["ran"]
    answers: list[dict[str, Any]] = []
    with psycopg.connect(db_url) as checking:  # a transaction holding the row, as a caller does
        checking.execute("select 1 from collab.retention_state where executor_id = 'ex' for update")
        def next_batch() -> None:
            me = Caller(db_url)
            try:
                answers.append(me.value("apply_retention_v1", executor_id="ex", worker_id="w1", batch_size=10))
            finally:
                me.close()

        holder = threading.Thread(target=next_batch)
        holder.start()
        time.sleep(0.3)
        assert not answers  # waiting, not answered "skipped"
    holder.join(10)
    assert answers and answers[0]["ran"] and answers[0]["purged"] == 10


def test_concurrent_callers_never_wait_for_each_other(db_url: str, owner: Caller) -> None:
    seed_finished(owner.conn, due=400, kept=0)
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def caller(i: int) -> None:
        me = Caller(db_url)
        try:
            for _ in range(200):
                answer = me.value("apply_retention_v1", executor_id="ex", worker_id=f"w{i}", batch_size=20)
                with lock:
                    answers.append({**answer, "worker": i})
                if answer["ran"] and answer["done"]:
                    return
        finally:
            me.close()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ran = [a for a in answers if a["ran"]]
    assert sum(a["purged"] for a in ran) == 400 and _count(owner, "collab.jobs") == 0
    assert len({a["worker"] for a in ran if a["purged"]}) == 1  # one lease holder did the pass


def test_a_disabled_policy_deletes_nothing(owner: Caller) -> None:
    seed_finished(owner.conn, due=10, kept=0)
    owner.rpc("set_retention_policy_v1", executor_id="ex", policy={"enabled": False})
    assert not owner.value("apply_retention_v1", executor_id="ex", worker_id="w1")["ran"]
    assert _count(owner, "collab.jobs") == 10


@pytest.mark.parametrize("args, message", [
    ({"batch_size": 0}, "batch_size"), ({"lease_seconds": 0}, "lease_seconds"),
    ({"interval_seconds": 0}, "interval_seconds"), ({"worker_id": ""}, "worker_id")])
def test_apply_retention_checks_its_arguments(owner: Caller, args: dict[str, Any], message: str) -> None:
    with raises_sqlstate("CL400", message):
        owner.rpc("apply_retention_v1", **{"executor_id": "ex", "worker_id": "w", **args})


def test_the_pg_cron_procedure_applies_every_executors_policy(db_url: str, owner: Caller) -> None:
    seed_finished(owner.conn, due=30, kept=3)
    seed_finished(owner.conn, executor_id="other", due=12, kept=3)
    owner.rpc("set_retention_policy_v1", executor_id="other", policy={"succeededSeconds": None})
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("call collab_private.apply_retention(batch_size => 5)")
    assert _count(owner, "collab.jobs where executor_id = 'ex'") == 3
    assert _count(owner, "collab.jobs where executor_id = 'other'") == 3 + 4  # succeeded kept forever
    assert {r["executor_id"] for r in owner.sql("select executor_id from collab.retention_state"
                                                " where last_finished_at is not null")} == {"ex", "other"}


def test_a_finished_runs_log_outlives_its_purged_step_jobs(owner: Caller) -> None:
    """Migration 20261203040000: a purge takes a finished run's step jobs and their own
    events, but the run's log (its step jobs' run-tagged events) reads exactly as before,
    and still replays to the statuses the tables hold."""
    from workflow_support import DIAMOND, drain, published, replay, run, run_events, start, statuses
    wf = published(owner, DIAMOND)
    run_id = start(owner, wf["id"])["id"]
    drain(owner, results=lambda job: {"step": job["workflow_step_id"]})
    assert run(owner, run_id)["status"] == "succeeded"
    before = run_events(owner, run_id)
    assert {e["event_type"] for e in before} >= {"step_queued", "step_running", "step_succeeded"}
    step_jobs = _count(owner, f"collab.jobs where workflow_run_id = '{run_id}'")
    assert step_jobs == 4

    purged, events, _ = _purge(owner, 100, statuses=ALL, older_than_seconds=0)
    assert (purged, events) == (4, 0)  # every event of these jobs is one of the run's
    assert _count(owner, f"collab.jobs where workflow_run_id = '{run_id}'") == 0
    after = run_events(owner, run_id)
    assert after == before
    assert replay(after) == ("succeeded", statuses(owner, run_id))
    assert {e["payload"]["output"]["step"] for e in after if e["event_type"] == "step_succeeded"} == set("ABCD")
