"""Supabase's database-linter checks (sql/checks/security_lints.sql) on the migrated
schema, and proof that each check can fail."""

from __future__ import annotations

import re

import pytest

from support import REPO
from support import Caller


def _lints() -> dict[str, str]:
    text = (REPO / "sql" / "checks" / "security_lints.sql").read_text()
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2])}


LINTS = _lints()


def _offenders(owner: Caller, lint: str) -> list[str]:
    return [row["object"] for row in owner.sql(LINTS[lint])]


def test_the_lint_file_holds_every_check() -> None:
    assert len(LINTS) == 11


@pytest.mark.parametrize("lint", sorted(LINTS))
def test_migrated_schema_passes(owner: Caller, lint: str) -> None:
    assert _offenders(owner, lint) == []


# A deliberately bad object per check: the check must report it.
BAD_OBJECTS = {
    "rls_disabled_in_exposed_schema": ("create table collab.bad (id int)", "collab.bad"),
    "policy_exists_rls_disabled": (
        "create table collab.bad (id int); create policy p on collab.bad for select using (true)",
        "collab.bad"),
    "rls_enabled_no_policy": (
        "create table collab.bad (id int); alter table collab.bad enable row level security", "collab.bad"),
    "function_search_path_mutable": (
        "create function collab.bad() returns int language sql as 'select 1'", "collab.bad()"),
    "security_definer_executable_by_anon": (
        "create function collab.bad() returns int language sql security definer set search_path = ''"
        " as 'select 1'; grant execute on function collab.bad() to anon", "collab.bad()"),
    "function_executable_by_public": (
        "create function collab.bad() returns int language sql set search_path = '' as 'select 1';"
        " grant execute on function collab.bad() to public", "collab.bad()"),
    "function_executable_by_anon": (
        "create function collab.bad() returns int language sql set search_path = '' as 'select 1';"
        " grant execute on function collab.bad() to anon", "collab.bad()"),
    "rpc_not_executable_by_api_roles": (
        "create function collab.bad_v1() returns int language sql set search_path = '' as 'select 1';"
        " revoke all on function collab.bad_v1() from public", "collab.bad_v1() by authenticated"),
    "policy_uses_user_metadata": (
        "create policy bad on collab.jobs for select to authenticated"
        " using ((auth.jwt() -> 'user_metadata' ->> 'admin') = 'true')", "collab.jobs bad"),
    "view_without_security_invoker": ("create view collab.bad as select 1 as x", "collab.bad"),
    "table_writable_by_api_users": ("grant update on collab.jobs to authenticated",
                                    "collab.jobs authenticated UPDATE"),
}


def test_every_check_has_a_negative_case() -> None:
    assert set(BAD_OBJECTS) == set(LINTS)


@pytest.mark.parametrize("lint", sorted(BAD_OBJECTS))
def test_each_check_reports_a_bad_object(owner: Caller, lint: str) -> None:
    ddl, offender = BAD_OBJECTS[lint]
    owner.sql(ddl)
    assert offender in _offenders(owner, lint)
