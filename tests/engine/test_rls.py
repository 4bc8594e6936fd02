"""Row-level security and caller checks, as PostgREST would call: anon, authenticated
members of an executor, and service_role."""

from __future__ import annotations

import uuid

import pytest

from support import Caller, assign, claim, raises_sqlstate

TABLES = ["jobs", "job_events", "artifacts", "job_dead_letters", "worker_heartbeats_v2", "executor_members"]


def test_anon_reads_nothing_and_calls_nothing(owner: Caller, anon: Caller) -> None:
    assign(owner)
    for table in TABLES:
        with raises_sqlstate("42501", "permission denied"):
            anon.sql(f"select * from collab.{table}")
    with raises_sqlstate("42501", "permission denied for function"):
        anon.rpc("jobs_recent_v1")
    with raises_sqlstate("42501"):
        anon.rpc("assign_job_v1", type="t", executor_id="ex")


def test_service_role_sees_and_does_everything(owner: Caller, service: Caller) -> None:
    assign(owner, executor_id="a")
    assign(service, executor_id="b")
    assert service.value("jobs_recent_v1")["count"] == 2
    assert len(service.sql("select * from collab.jobs")) == 2
    assert claim(service, executor_id="a")["executor_id"] == "a"


def test_member_sees_only_its_executors(owner: Caller, make_user) -> None:
    alice = make_user({"exec-a": "client"})
    mine = assign(alice, executor_id="exec-a")
    theirs = assign(owner, executor_id="exec-b")
    assert [r["id"] for r in alice.sql("select id from collab.jobs")] == [mine]
    assert [i["id"] for i in alice.value("jobs_recent_v1")["items"]] == [str(mine)]
    assert alice.value("stats_v1")["total"] == 1
    assert alice.value("jobs_recent_v1", executor_id="exec-b")["count"] == 0
    for fn in ("get_job_v1", "job_summary_v1", "events_by_job_v1", "artifacts_by_job_v1"):
        with raises_sqlstate("CL404", "not found"):  # no existence leak
            alice.rpc(fn, job_id=theirs)
    assert alice.sql("select count(*) as n from collab.job_events")[0]["n"] == 1


def test_member_cannot_act_on_another_executor(owner: Caller, make_user) -> None:
    bob = make_user({"exec-a": "worker"})
    theirs = assign(owner, executor_id="exec-b")
    with raises_sqlstate("CL403", "not a client or worker or admin of executor exec-b"):
        bob.rpc("assign_job_v1", type="t", executor_id="exec-b")
    with raises_sqlstate("CL403", "exec-b"):
        bob.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "exec-a"},
                                        {"type": "t", "executor_id": "exec-b"}])
    with raises_sqlstate("CL403"):
        claim(bob, executor_id="exec-b", worker_id="bob-w")
    claim(owner, executor_id="exec-b", worker_id="w-b")
    for fn, extra in (("complete_job_v1", {"worker_id": "w-b"}), ("fail_job_v1", {"worker_id": "w-b"}),
                      ("cancel_job_v1", {}), ("delete_job_v1", {}), ("retry_job_v1", {})):
        with raises_sqlstate("CL404", "not found"):
            bob.rpc(fn, job_id=theirs, **extra)
    assert owner.sql("select status, lease_owner from collab.jobs where id = %s", (theirs,)) == [
        {"status": "running", "lease_owner": "w-b"}]
    assert owner.sql("select count(*) as n from collab.jobs where executor_id = 'exec-a'")[0]["n"] == 0


def test_users_cannot_write_tables_directly(owner: Caller, make_user) -> None:
    carol = make_user({"exec-a": "admin", "exec-b": "admin"})
    job_id = assign(carol, executor_id="exec-a")
    with raises_sqlstate("42501", "permission denied"):
        carol.sql("update collab.jobs set executor_id = 'exec-b' where id = %s", (job_id,))
    with raises_sqlstate("42501"):
        carol.sql("insert into collab.jobs (type, executor_id) values ('t', 'exec-a')")
    with raises_sqlstate("42501"):
        carol.sql("delete from collab.job_events")
    with raises_sqlstate("42501"):
        carol.sql("insert into collab.executor_members (executor_id, user_id) values ('exec-z', %s)",
                  (carol.user_id,))


def test_roles_within_an_executor(owner: Caller, make_user) -> None:
    client = make_user({"ex": "client"})
    worker = make_user({"ex": "worker"})
    job_id = assign(client, executor_id="ex")
    with raises_sqlstate("CL403", "not a worker or admin"):
        claim(client, executor_id="ex", worker_id="c1")
    got = claim(worker, executor_id="ex", worker_id="w1")
    assert got["id"] == job_id
    assert worker.one("complete_job_v1", job_id=job_id, worker_id="w1")["status"] == "succeeded"
    with raises_sqlstate("CL403", "not a admin"):
        client.rpc("purge_jobs_v1", executor_id="ex")
    with raises_sqlstate("CL403", "needs the service role"):
        client.rpc("purge_jobs_v1")
    with raises_sqlstate("CL403"):
        worker.rpc("add_executor_member_v1", executor_id="ex", user_id=uuid.uuid4(), role="admin")


def test_a_jwt_role_claim_cannot_lift_an_authenticated_session(db_url: str, owner: Caller) -> None:
    forged = Caller(db_url, role="authenticated", user_id=uuid.uuid4(), claims={"role": "service_role"})
    assign(owner, executor_id="ex")
    with raises_sqlstate("CL403"):
        claim(forged, executor_id="ex", worker_id="f1")
    assert forged.value("jobs_recent_v1")["count"] == 0
    forged.close()


def test_authenticated_without_sub_is_refused(db_url: str) -> None:
    nobody = Caller(db_url, role="authenticated")
    with raises_sqlstate("CL403", "no sub claim"):
        nobody.rpc("assign_job_v1", type="t", executor_id="ex")
    nobody.close()


@pytest.mark.parametrize("role", ["client", "worker", "admin"])
def test_dead_letters_and_heartbeats_are_per_executor(owner: Caller, make_user, role: str) -> None:
    user = make_user({"exec-a": role})
    for executor in ("exec-a", "exec-b"):
        job_id = assign(owner, executor_id=executor)
        claim(owner, executor_id=executor)
        owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", retryable=False)
        owner.rpc("worker_heartbeat_v1", worker_id=f"hb-{executor}", executor_id=executor)
    assert [d["executor_id"] for d in user.value("dlq_list_v1")["items"]] == ["exec-a"]
    assert [w["executor_id"] for w in user.rpc("workers_active_v1")] == ["exec-a"]
    other = owner.sql("select id from collab.job_dead_letters where executor_id = 'exec-b'")[0]["id"]
    with raises_sqlstate("CL404"):
        user.rpc("dlq_retry_v1", dead_letter_id=other)
    if role == "client":
        with raises_sqlstate("CL403"):
            user.rpc("worker_heartbeat_v1", worker_id="hb-x", executor_id="exec-a")
    assert user.value("metrics_overview_v1")["dlq"]["total"] == 1
    counts = user.value("metrics_by_executor_v1")
    assert {c["executorId"] for c in counts["jobs"]} == {"exec-a"}
    assert counts["deadLetters"] == {"exec-a": 1} and counts["activeWorkers"] == {"exec-a": 1}


def test_complete_and_claim_keeps_each_half_s_checks(owner: Caller, make_user) -> None:
    worker = make_user({"exec-a": "worker"})
    mine = assign(owner, executor_id="exec-a")
    assign(owner, executor_id="exec-b")
    claim(worker, executor_id="exec-a", worker_id="wa")
    with raises_sqlstate("CL403", "exec-b"):  # may complete here, may not claim there
        worker.rpc("complete_and_claim_v1", job_id=mine, worker_id="wa", executor_id="exec-b")
    assert owner.sql("select status from collab.jobs order by executor_id") == [
        {"status": "running"}, {"status": "queued"}]
    assert worker.rpc("complete_and_claim_v1", job_id=mine, worker_id="wa", executor_id="exec-a") == []


def test_service_role_may_write_the_tables_directly_and_the_log_follows(service: Caller) -> None:
    """Its grants allow it (PostgREST with the service key, or SQL as service_role); the
    triggers must then still write the events and wake-ups."""
    job_id = service.sql("insert into collab.jobs (type, executor_id) values ('t.direct', 'ex') returning id")[0]["id"]
    service.sql("update collab.jobs set status = 'cancelled' where id = %s", (job_id,))
    service.sql("insert into collab.job_events (job_id, executor_id, event_type) values (%s, 'ex', 'log')", (job_id,))
    assert [r["event_type"] for r in service.sql(
        "select event_type from collab.job_events where job_id = %s order by seq", (job_id,))] == [
        "queued", "cancelled", "log"]


@pytest.mark.parametrize("role", ["client", "worker", "admin"])
def test_only_admins_and_trusted_callers_list_an_executors_members(owner: Caller, make_user, anon: Caller,
                                                                  role: str) -> None:
    user = make_user({"exec-a": role, "exec-b": "admin"})
    colleague = make_user({"exec-a": "client"})
    make_user({"exec-c": "admin"})
    if role != "admin":
        with raises_sqlstate("CL403", "not a admin of executor exec-a"):
            user.rpc("executor_members_v1", executor_id="exec-a")
    else:
        listed = user.rpc("executor_members_v1", executor_id="exec-a")
        assert [(str(m["user_id"]), m["role"]) for m in listed] == [
            (str(user.user_id), "admin"), (str(colleague.user_id), "client")]
    assert [str(m["user_id"]) for m in user.rpc("executor_members_v1", executor_id="exec-b")] == [str(user.user_id)]
    assert len(owner.rpc("executor_members_v1", executor_id="exec-a")) == 2  # trusted: any executor
    with raises_sqlstate("CL403"):
        colleague.rpc("executor_members_v1", executor_id="exec-c")
    with raises_sqlstate("42501"):
        anon.rpc("executor_members_v1", executor_id="exec-a")
