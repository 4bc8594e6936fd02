"""Fixtures: one real PostgreSQL per test session, a migrated template database, and a
fresh database cloned from it for each test.

Set ``COLLAB_TEST_DATABASE_URL`` (a superuser URL) to use an existing server instead of
the embedded one started here (its password is then a secret no log line may show).

Plugins: ``support.secret_capture`` (no secret or token in any log line of the suite) and
pytest's ``pytester`` (suites run inside a test).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate
from support import Caller, add_members, database_url

pytest_plugins = ["support.secret_capture", "support.pg_cron", "pytester"]

# Fast and disposable: the test cluster may lose data on a crash of the machine.
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
}


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A superuser URL of the test server (its ``postgres`` database)."""
    external = os.environ.get("COLLAB_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="collab-test-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", settings=TEST_SETTINGS)
        server.start()
        try:
            yield server.url()
        finally:
            server.stop("immediate")


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    """Name of a database migrated once, cloned by every test."""
    name = f"collab_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    migrate(database_url(server_url, name))
    yield name
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(server_url: str, template_db: str) -> Iterator[str]:
    """URL of a fresh, migrated database for this test only."""
    name = f"collab_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(template_db)))
    yield database_url(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def owner(db_url: str) -> Iterator[Caller]:
    """The database owner over a direct connection (trusted, like the service role)."""
    caller = Caller(db_url)
    yield caller
    caller.close()


@pytest.fixture
def service(db_url: str) -> Iterator[Caller]:
    """PostgREST's ``service_role``."""
    caller = Caller(db_url, role="service_role")
    yield caller
    caller.close()


@pytest.fixture
def anon(db_url: str) -> Iterator[Caller]:
    """PostgREST's ``anon`` (no JWT)."""
    caller = Caller(db_url, role="anon")
    yield caller
    caller.close()


@pytest.fixture
def make_user(db_url: str, owner: Caller) -> Iterator[object]:
    """``make_user({"exec-a": "worker"})``: an ``authenticated`` caller with memberships."""
    made: list[Caller] = []

    def make(memberships: dict[str, str] | None = None) -> Caller:
        user = Caller(db_url, role="authenticated", user_id=uuid.uuid4())
        add_members(owner, user.user_id, memberships or {})
        made.append(user)
        return user

    yield make
    for user in made:
        user.close()
