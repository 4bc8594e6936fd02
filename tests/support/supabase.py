"""Databases that have Supabase Realtime's and Storage's schemas (the test-only
``supabase_services.sql``) *before* collab's migrations run, so the migrations that
apply only where those schemas exist (policies on realtime.messages and storage.objects,
the artifacts bucket, claim broadcasts) apply here as on Supabase.

``realtime_policies`` runs Realtime's own authorization checks of a topic for a caller.

Import the fixtures into a test module: ``from support.supabase import supabase_db_url,
supabase_template_db``. ``supabase_db_url`` is a fresh clone per test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from collab_sdk.local.migrate import migrate
from collab_sdk.local.paths import compat_sql_path
from support.callers import database_url

__all__ = ["SERVICES_SQL", "create_supabase_database", "supabase_template_db", "supabase_db_url",
           "Policies", "realtime_policies"]

SERVICES_SQL = Path(__file__).with_name("supabase_services.sql")


def create_supabase_database(server_url: str, name: str) -> str:
    """Create ``name`` with the Supabase look-alike, the services' schemas and collab's
    migrations, in that order; its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = database_url(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(compat_sql_path().read_text(encoding="utf-8"))
        conn.execute(SERVICES_SQL.read_text(encoding="utf-8"))
    migrate(url)
    return url


def _drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def supabase_template_db(server_url: str) -> Iterator[str]:
    """Name of a database migrated once over the services' schemas, cloned per test."""
    name = f"collab_sbtemplate_{uuid.uuid4().hex[:8]}"
    create_supabase_database(server_url, name)
    yield name
    _drop(server_url, name)


@pytest.fixture
def supabase_db_url(server_url: str, supabase_template_db: str) -> Iterator[str]:
    """URL of a fresh clone of ``supabase_template_db`` for this test only."""
    name = f"collab_sbtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(supabase_template_db)))
    yield database_url(server_url, name)
    _drop(server_url, name)


@dataclass(frozen=True)
class Policies:
    """What Realtime decides for a caller on a topic (``Realtime.Tenants.Authorization``)."""

    broadcast_read: bool
    presence_read: bool
    broadcast_write: bool
    presence_write: bool

    @property
    def can_join_private(self) -> bool:
        """A private channel is joined only with a passing read of either kind."""
        return self.broadcast_read or self.presence_read


def _as_caller(cur: psycopg.Cursor[Any], role: str, claims: dict[str, Any], topic: str) -> None:
    cur.execute("select set_config('role', %s, true), set_config('realtime.topic', %s, true),"
                " set_config('request.jwt.claims', %s, true)", (role, topic, json.dumps(claims)))


def realtime_policies(url: str, role: str, claims: dict[str, Any], topic: str) -> Policies:
    """Realtime's checks of ``topic`` for this caller, as Realtime runs them: **read**,
    probe rows of both extensions inserted by the owner, then selected as the caller;
    **write**, an insert of each extension as the caller (a savepoint each; denied by
    RLS is ``insufficient_privilege``). Everything is rolled back."""
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute("insert into realtime.messages (topic, extension) values (%s, 'broadcast'),"
                        " (%s, 'presence') returning id, extension", (topic, topic))
            probes = {extension: id for id, extension in cur.fetchall()}
            _as_caller(cur, role, claims, topic)
            cur.execute("select extension from realtime.messages where topic = %s and id = any(%s)",
                        (topic, list(probes.values())))
            read = {extension for (extension,) in cur.fetchall()}
        conn.rollback()
        write: dict[str, bool] = {}
        with conn.cursor() as cur:
            _as_caller(cur, role, claims, topic)
            for extension in ("broadcast", "presence"):
                try:
                    with conn.transaction():
                        cur.execute("insert into realtime.messages (topic, extension) values (%s, %s)",
                                    (topic, extension))
                    write[extension] = True
                except psycopg.errors.InsufficientPrivilege:
                    write[extension] = False
        conn.rollback()
    return Policies("broadcast" in read, "presence" in read, write["broadcast"], write["presence"])
