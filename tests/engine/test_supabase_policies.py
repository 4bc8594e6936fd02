"""The policies collab ships for Supabase Realtime (realtime.messages) and Storage
(storage.objects), on stand-in schemas shaped like Supabase's (tests/support/
supabase_services.sql) that exist before the migrations run, as on Supabase.

Callers: a worker member of exec-a (who holds the running job's lease), a client member
of exec-a, a worker member of exec-b only (a stranger to exec-a), a user with no
membership, anon and the service role. Realtime is asked exactly what Realtime asks
(``support.supabase.realtime_policies``); Storage runs each request as the caller, so
upload is an INSERT … ON CONFLICT DO UPDATE (``x-upsert``), read and sign a SELECT of
the object, list a SELECT of names under a prefix, remove a DELETE."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from support import Caller, add_members, assign_one_by_one
from support.supabase import Policies, realtime_policies, supabase_db_url, supabase_template_db

__all__ = ["supabase_db_url", "supabase_template_db"]  # fixtures used here

NONE = Policies(False, False, False, False)


@dataclass
class World:
    url: str
    owner: Caller
    users: dict[str, uuid.UUID]
    running: uuid.UUID  # exec-a's job leased by worker w-a
    queued: uuid.UUID  # exec-a's job nobody holds
    other: uuid.UUID  # exec-b's running job
    made: list[Caller] = field(default_factory=list)

    def claims(self, who: str) -> tuple[str, dict[str, Any]]:
        if who in ("anon", "service_role"):
            return who, {"role": who}
        return "authenticated", {"role": "authenticated", "sub": str(self.users[who]), "aud": "authenticated"}

    def realtime(self, who: str, topic: str) -> Policies:
        role, claims = self.claims(who)
        return realtime_policies(self.url, role, claims, topic)

    def caller(self, who: str) -> Caller:
        role, claims = self.claims(who)
        self.made.append(Caller(self.url, role=role, claims=claims))
        return self.made[-1]


@pytest.fixture
def world(supabase_db_url: str) -> Iterator[World]:
    owner = Caller(supabase_db_url)
    users = {name: uuid.uuid4() for name in ("leaseholder", "client", "stranger", "nobody")}
    add_members(owner, users["leaseholder"], {"exec-a": "worker"})
    add_members(owner, users["client"], {"exec-a": "client"})
    add_members(owner, users["stranger"], {"exec-b": "worker"})
    running = owner.one("assign_job_v1", type="t.p", executor_id="exec-a")["job_id"]  # type: ignore[index]
    queued = owner.one("assign_job_v1", type="t.p", executor_id="exec-a")["job_id"]  # type: ignore[index]
    other = owner.one("assign_job_v1", type="t.p", executor_id="exec-b")["job_id"]  # type: ignore[index]
    owner.sql("update collab.jobs set priority = 1 where id in (%s, %s)", (running, other))
    assert owner.one("claim_one_job_v3", executor_id="exec-a", worker_id="w-a")["id"] == running  # type: ignore[index]
    assert owner.one("claim_one_job_v3", executor_id="exec-b", worker_id="w-b")["id"] == other  # type: ignore[index]
    owner.rpc("worker_heartbeat_v1", worker_id="w-a", executor_id="exec-a")
    world = World(supabase_db_url, owner, users, running, queued, other)
    yield world
    for caller in [owner, *world.made]:
        caller.close()


def test_the_migrations_applied_the_policies_where_the_schemas_exist(world: World) -> None:
    rows = world.owner.sql("select schemaname || '.' || tablename || ' ' || policyname || ' ' || cmd as p"
                           " from pg_policies where policyname like 'collab_%' order by 1")
    assert [r["p"] for r in rows] == [
        "realtime.messages collab_topics_read SELECT", "realtime.messages collab_topics_write INSERT",
        "storage.objects collab_artifacts_read SELECT", "storage.objects collab_artifacts_write ALL"]
    assert world.owner.sql("select public from storage.buckets where id = 'artifacts'") == [{"public": False}]


# -- Realtime ------------------------------------------------------------------------


def test_jobs_topic_is_read_by_members_and_written_by_the_running_jobs_workers(world: World) -> None:
    topic = f"jobs:{world.running}"
    assert world.realtime("leaseholder", topic) == Policies(True, False, True, False)
    assert world.realtime("client", topic) == Policies(True, False, False, False)
    assert world.realtime("stranger", topic) == NONE
    assert world.realtime("nobody", topic) == NONE
    assert world.realtime("anon", topic) == NONE
    assert world.realtime("service_role", topic) == Policies(True, True, True, True)
    # Not running: read, but nobody but the service role writes.
    assert world.realtime("leaseholder", f"jobs:{world.queued}") == Policies(True, False, False, False)
    # Another executor's running job: the exec-b worker writes it, exec-a members see nothing.
    assert world.realtime("stranger", f"jobs:{world.other}") == Policies(True, False, True, False)
    assert world.realtime("leaseholder", f"jobs:{world.other}") == NONE


def test_jobs_topic_write_ends_with_the_run(world: World) -> None:
    topic = f"jobs:{world.running}"
    world.owner.rpc("complete_job_v1", job_id=world.running, worker_id="w-a")
    assert world.realtime("leaseholder", topic) == Policies(True, False, False, False)


def test_agents_topic_follows_the_heartbeat_rows_executor(world: World) -> None:
    assert world.realtime("leaseholder", "agents:w-a") == Policies(True, True, True, True)
    assert world.realtime("client", "agents:w-a") == Policies(True, True, False, False)
    assert world.realtime("stranger", "agents:w-a") == NONE
    assert world.realtime("anon", "agents:w-a") == NONE
    assert world.realtime("leaseholder", "agents:w-unknown") == NONE  # no heartbeat row yet


def test_system_events_is_read_by_members_and_written_by_the_service_role(world: World) -> None:
    for member in ("leaseholder", "client", "stranger"):
        assert world.realtime(member, "system:events") == Policies(True, False, False, False)
    assert world.realtime("nobody", "system:events") == NONE
    assert world.realtime("anon", "system:events") == NONE
    assert world.realtime("service_role", "system:events").broadcast_write


def test_queue_topic_is_read_by_the_executors_workers_only(world: World) -> None:
    assert world.realtime("leaseholder", "queue:exec-a") == Policies(True, False, False, False)
    assert world.realtime("client", "queue:exec-a") == NONE
    assert world.realtime("stranger", "queue:exec-a") == NONE
    assert world.realtime("stranger", "queue:exec-b") == Policies(True, False, False, False)


@pytest.mark.parametrize("topic", ["other:x", "jobs:not-a-uuid", "jobs:", "agents:", "queue:", "", "system:other"])
def test_other_and_malformed_topics_grant_nothing_and_raise_nothing(world: World, topic: str) -> None:
    for who in ("leaseholder", "client", "anon"):
        assert world.realtime(who, topic) == NONE


# -- Storage -------------------------------------------------------------------------


def _upload(caller: Caller, name: str, data: str = "x") -> bool:
    try:
        caller.sql("insert into storage.objects (bucket_id, name, owner_id, metadata)"
                   " values ('artifacts', %s, auth.uid()::text, jsonb_build_object('size', length(%s)))"
                   " on conflict (bucket_id, name) do update set metadata = excluded.metadata,"
                   " updated_at = now()", (name, data))
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def _delete(caller: Caller, name: str) -> int:
    return len(caller.sql("delete from storage.objects where bucket_id = 'artifacts' and name = %s"
                          " returning id", (name,)))


def _read(caller: Caller, name: str) -> bool:
    """Download and sign: Storage selects the object as the caller first."""
    return bool(caller.sql("select id from storage.objects where bucket_id = 'artifacts' and name = %s",
                           (name,)))


def _list(caller: Caller, prefix: str = "") -> list[str]:
    return [r["name"] for r in caller.sql(
        "select name from storage.objects where bucket_id = 'artifacts' and starts_with(name, %s)"
        " order by name", (prefix,))]


def test_storage_the_leaseholder_writes_under_its_running_jobs_prefix(world: World) -> None:
    leaseholder, client, stranger, anon = (world.caller(w) for w in ("leaseholder", "client", "stranger", "anon"))
    mine = f"exec-a/{world.running}/out.txt"
    assert _upload(leaseholder, mine)
    assert _upload(leaseholder, mine, "again")  # upsert: the update policy
    assert _upload(leaseholder, f"exec-a/{world.running}/nested/deeper.bin")
    assert not _upload(client, f"exec-a/{world.running}/c.txt")  # a client member
    assert not _upload(stranger, f"exec-a/{world.running}/s.txt")
    assert not _upload(anon, f"exec-a/{world.running}/a.txt")
    assert not _upload(leaseholder, f"exec-a/{world.queued}/q.txt")  # not running
    assert not _upload(leaseholder, f"exec-b/{world.running}/x.txt")  # the job is not exec-b's
    assert not _upload(leaseholder, f"exec-a/{world.other}/x.txt")  # exec-b's job under exec-a
    assert not _upload(leaseholder, f"{world.running}/x.txt")  # no executor prefix
    assert not _upload(leaseholder, "exec-a/loose.txt")
    assert _delete(client, mine) == 0 and _delete(stranger, mine) == 0
    assert _delete(leaseholder, f"exec-a/{world.running}/nested/deeper.bin") == 1
    world.owner.rpc("complete_job_v1", job_id=world.running, worker_id="w-a")
    assert not _upload(leaseholder, mine, "after")  # the run is over
    assert _delete(leaseholder, mine) == 0 and _read(leaseholder, mine)


def test_storage_members_read_and_sign_others_list_nothing(world: World) -> None:
    a_name, b_name = f"exec-a/{world.running}/out.txt", f"exec-b/{world.other}/out.txt"
    assert _upload(world.caller("leaseholder"), a_name)
    assert _upload(world.caller("stranger"), b_name)
    for who, sees in (("leaseholder", [a_name]), ("client", [a_name]), ("stranger", [b_name]),
                      ("nobody", []), ("anon", [])):
        caller = world.caller(who)
        assert _list(caller) == sees, who
        assert _read(caller, a_name) is (a_name in sees)
        assert _read(caller, b_name) is (b_name in sees)
    assert _list(world.caller("service_role")) == sorted([a_name, b_name])


def test_storage_policies_handle_executor_ids_with_slashes(world: World) -> None:
    add_members(world.owner, world.users["leaseholder"], {"team/a": "worker"})
    job_id = world.owner.one("assign_job_v1", type="t.p", executor_id="team/a")["job_id"]  # type: ignore[index]
    world.owner.one("claim_one_job_v3", executor_id="team/a", worker_id="w-t")
    leaseholder, client = world.caller("leaseholder"), world.caller("client")
    assert _upload(leaseholder, f"team/a/{job_id}/x.txt")
    assert not _upload(leaseholder, f"team/{job_id}/x.txt")
    assert _read(leaseholder, f"team/a/{job_id}/x.txt") and not _read(client, f"team/a/{job_id}/x.txt")


# -- Claim broadcasts ----------------------------------------------------------------


def _queue_messages(world: World) -> list[dict[str, Any]]:
    return world.owner.sql("select topic, event, payload - 'id' as payload, private, extension"
                           " from realtime.messages where starts_with(topic, 'queue:') order by inserted_at, topic")


def test_claimable_jobs_send_one_private_broadcast_per_executor_and_statement(world: World) -> None:
    world.owner.sql("delete from realtime.messages")
    world.owner.rpc("assign_jobs_v1", jobs=[{"type": "t.b", "executor_id": e} for e in ("exec-a", "exec-a", "exec-b")])
    assert sorted(_queue_messages(world), key=lambda m: m["topic"]) == [
        {"topic": f"queue:{e}", "event": "jobs.claimable", "payload": {"executorId": e}, "private": True,
         "extension": "broadcast"} for e in ("exec-a", "exec-b")]
    # As a member through the RPC (a definer function): the same broadcast.
    world.owner.sql("delete from realtime.messages")
    worker = world.caller("leaseholder")
    worker.sql("select collab.assign_job_v1(type => 't.b', executor_id => 'exec-a',"
               " run_at => now() + interval '1 hour')")
    assert _queue_messages(world) == []  # not claimable yet: nobody is woken
    worker.rpc("assign_job_v1", type="t.b", executor_id="exec-a")
    assert [m["topic"] for m in _queue_messages(world)] == ["queue:exec-a"]


def test_a_transaction_broadcasts_once_per_executor_however_many_statements(world: World) -> None:
    world.owner.sql("delete from realtime.messages")
    assign_one_by_one(world.url, ["exec-a", "exec-b"] * 500)
    assert sorted(m["topic"] for m in _queue_messages(world)) == ["queue:exec-a", "queue:exec-b"]
    world.owner.sql("delete from realtime.messages")
    assign_one_by_one(world.url, ["exec-a"])  # the next transaction is woken again
    assert [m["topic"] for m in _queue_messages(world)] == ["queue:exec-a"]


def test_a_rolled_back_assign_sends_nothing_and_a_failing_send_fails_nothing(world: World) -> None:
    world.owner.sql("delete from realtime.messages")
    with pytest.raises(psycopg.errors.RaiseException):
        world.owner.sql("select collab.assign_job_v1(type => 't.b', executor_id => 'exec-a');"
                        " do $$ begin raise exception 'abort'; end $$")
    assert _queue_messages(world) == []
    # Realtime's send swallows its own errors (here: messages made unwritable).
    world.owner.sql("alter table realtime.messages add constraint no_queue check (not starts_with(topic, 'queue:'))")
    assert world.owner.one("assign_job_v1", type="t.b", executor_id="exec-a")["queued"]  # type: ignore[index]


def test_without_realtime_the_wake_up_is_notify_only(db_url: str) -> None:
    owner = Caller(db_url)
    try:
        source = owner.sql("select prosrc from pg_proc where oid = 'collab._notify_claimable'::regproc")
        assert "realtime" not in source[0]["prosrc"]
        assert owner.sql("select to_regclass('realtime.messages') as r") == [{"r": None}]
    finally:
        owner.close()
