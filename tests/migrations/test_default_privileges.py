"""Default privileges that hold: a function created after migrating, by the role that
migrated, is executable by neither ``anon`` nor ``authenticated`` unless granted, in the
exposed schema and the internal one (20261202021000_collab_default_privileges.sql). A
per-schema ``revoke ... from public`` cannot do this (it only takes back per-schema
grants); the probes prove the global default does."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from collab_sdk.local.paths import compat_sql_path
from support import REPO, Caller, database_url

API_ROLES = ("anon", "authenticated")
SCHEMAS = ("collab", "collab_private")


def _probe(owner: Caller, schema: str) -> str:
    """A new function in ``schema``, created as the migration owner; its signature."""
    name = f"{schema}.probe_{uuid.uuid4().hex[:8]}()"
    owner.sql(f"create function {name} returns int language sql set search_path = '' as 'select 1'")
    return name


def _executable_by(owner: Caller, function: str) -> list[str]:
    return [role for role in (*API_ROLES, "public")
            if owner.sql("select has_function_privilege(%s, %s::regprocedure, 'execute') as ok",
                         (role, function))[0]["ok"]]


def test_the_migrations_ran_as_the_owner_of_their_functions(owner: Caller) -> None:
    """The probes below are created by the role that migrated (the default privileges
    belong to the creating role)."""
    rows = owner.sql("select distinct pg_get_userbyid(p.proowner) as owner from pg_proc p"
                     " where p.pronamespace in ('collab'::regnamespace, 'collab_private'::regnamespace)")
    assert rows == owner.sql("select current_user::text as owner")


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_new_function_is_not_executable_by_api_roles(owner: Caller, schema: str) -> None:
    probe = _probe(owner, schema)
    assert _executable_by(owner, probe) == []
    owner.sql(f"grant execute on function {probe} to authenticated")  # an explicit grant still works
    assert _executable_by(owner, probe) == ["authenticated"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_probe_can_fail(owner: Caller, schema: str) -> None:
    """Without the migration's global default (PostgreSQL's own: PUBLIC executes every
    new function), the same probe is executable by both API roles."""
    owner.sql("alter default privileges grant execute on functions to public")  # back to PostgreSQL's default
    assert _executable_by(owner, _probe(owner, schema)) == [*API_ROLES, "public"]


def test_an_api_role_calling_a_probe_is_refused(owner: Caller, anon: Caller) -> None:
    probe = _probe(owner, "collab")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        anon.sql(f"select {probe}")


def test_the_projects_public_schema_keeps_postgresqls_default(owner: Caller) -> None:
    """The global revoke would reach every schema; ``public`` gets PUBLIC back."""
    assert _executable_by(owner, _probe(owner, "public")) == [*API_ROLES, "public"]


def test_the_look_alikes_auth_helpers_stay_executable_when_made_after_migrating(owner: Caller) -> None:
    """sql/supabase_compat.sql runs before every ``collab db migrate``: a helper it
    creates on a database already migrated must still be callable by the API roles."""
    owner.sql("drop function auth.role()")
    owner.sql(compat_sql_path().read_text())
    assert _executable_by(owner, "auth.role()") == [*API_ROLES, "public"]


def test_a_migrator_that_may_not_act_for_postgres_changes_only_its_own(server_url: str) -> None:
    """As on Supabase, where the migrating ``postgres`` is no member of ``supabase_admin``:
    the migration says so in a NOTICE and sets the defaults of the roles it may."""
    name = f"collab_defaults_{uuid.uuid4().hex[:8]}"
    migrator = f"migrator_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login").format(sql.Identifier(migrator)))
        admin.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(name), sql.Identifier(migrator)))
    url = database_url(server_url, name)
    try:
        migration = next(p for p in (REPO / "supabase" / "migrations").iterdir() if "default_privileges" in p.name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(migrator)))
            notices: list[str] = []
            conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
            conn.execute(migration.read_text())
            conn.execute("create schema probes")
            conn.execute("create function probes.f() returns int language sql as 'select 1'")
            ok = conn.execute("select has_function_privilege('public', 'probes.f()'::regprocedure, 'execute')")
            assert ok.fetchone() == (False,)
        assert any("default privileges of role postgres stay as they are" in n for n in notices), notices
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(migrator)))

