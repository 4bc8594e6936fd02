"""The Data API serves every function of the exposed schema that the caller may execute:
``anon`` and ``authenticated`` may execute exactly the RPCs documented in docs/rpc.md,
and no internal helper (those the invoker reads need live in ``collab_private``, which is
not exposed)."""

from __future__ import annotations

import re

from support import REPO, Caller

EXECUTABLE = """
select p.proname as name, p.oid::regprocedure::text as signature, r.rolname as role
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 cross join (values ('anon'), ('authenticated')) as r (rolname)
 where n.nspname = 'collab' and p.prokind = 'f'
   and has_function_privilege(r.rolname, p.oid, 'EXECUTE')
"""


def documented_rpcs() -> set[str]:
    """Every function name docs/rpc.md writes in code (`name(` or `name`)."""
    text = (REPO / "docs" / "rpc.md").read_text()
    return set(re.findall(r"`([a-z][a-z0-9_]*)(?:\(|`)", text))


def offenders(owner: Caller) -> list[str]:
    """Functions of ``collab`` that anon or authenticated may execute but are no documented RPC."""
    documented = documented_rpcs()
    return sorted(f"{row['signature']} by {row['role']}" for row in owner.sql(EXECUTABLE)
                  if row["name"] not in documented or row["role"] == "anon")


def test_only_documented_rpcs_are_executable_by_api_roles(owner: Caller) -> None:
    assert offenders(owner) == [], ("revoke EXECUTE (or move the helper to collab_private), "
                                    "or document the RPC in docs/rpc.md")


def test_every_documented_rpc_is_executable_by_authenticated(owner: Caller) -> None:
    existing = {row["name"] for row in owner.sql(EXECUTABLE) if row["role"] == "authenticated"}
    defined = {row["name"] for row in owner.sql(
        "select p.proname as name from pg_proc p where p.pronamespace = 'collab'::regnamespace")}
    missing = sorted((documented_rpcs() & defined) - existing)
    assert missing == []


def test_the_invoker_reads_work_for_a_member_without_helper_grants(make_user: object, owner: Caller) -> None:
    user = make_user({"ex": "client"})  # type: ignore[operator]
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex"} for _ in range(3)])
    page = user.value("jobs_recent_v1", executor_id="ex", page_size=2)
    assert page["count"] == 2 and page["nextCursor"]
    assert user.value("jobs_recent_v1", executor_id="ex", cursor=page["nextCursor"])["count"] == 1
    job = page["items"][0]["id"]
    assert str(user.rpc("get_job_v1", job_id=job)[0]["id"]) == job
    assert user.value("job_events_after_v1", job_id=job)["events"]
    assert user.value("dlq_list_v1", executor_id="ex")["count"] == 0


def test_the_lint_catches_a_helper_granted_to_authenticated(owner: Caller) -> None:
    owner.sql("create function collab._leaky() returns int language sql set search_path = '' as 'select 1';"
              " grant execute on function collab._leaky() to authenticated")
    assert "collab._leaky() by authenticated" in offenders(owner)
