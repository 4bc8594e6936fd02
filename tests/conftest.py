"""Fixtures: one real PostgreSQL per test session, a migrated template database, and a
fresh database cloned from it for each test (``Clones``).

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


class Clones:
    """Databases cloned from the template: ``take()`` makes one, ``give_back(name)`` drops
    it. Made in the foreground, between tests: a clone made while a test runs is a
    transaction of the cluster, and the event log's horizon (``job_events_after_v1``)
    rightly waits for every older transaction of the cluster to end, so a background
    clone made such tests wait or fail.

    The cloning connection is immune to the read-only fault (``support.faults``: a
    cluster-wide ``default_transaction_read_only``), which may be on while it works."""

    def __init__(self, server_url: str, template: str) -> None:
        self.server_url, self.template = server_url, template
        with psycopg.connect(server_url) as conn:
            version = conn.info.server_version
        # FILE_COPY (the only way before 15) copies the template's files; 15's default,
        # WAL_LOG, writes all of it to the WAL, and made the suite's short tests ~15 %
        # slower here (same-run A/B, tests/engine/test_rpc_assign.py and
        # test_workflow_definitions.py). Its two checkpoints cost little with fsync off.
        self._strategy = sql.SQL(" strategy file_copy" if version >= 150000 else "")

    def _execute(self, statement: sql.Composable) -> None:
        with psycopg.connect(self.server_url, autocommit=True, application_name="collab-test-clones",
                             options="-c default_transaction_read_only=off") as conn:
            conn.execute(statement)

    def take(self) -> str:
        """A fresh clone's name (yours to ``give_back``)."""
        name = f"collab_test_{uuid.uuid4().hex[:12]}"
        self._execute(sql.SQL("create database {} template {}{}").format(
            sql.Identifier(name), sql.Identifier(self.template), self._strategy))
        return name

    def give_back(self, name: str) -> None:
        self._execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def clones(server_url: str, template_db: str) -> Iterator[Clones]:
    yield Clones(server_url, template_db)


@pytest.fixture
def db_url(server_url: str, clones: Clones) -> Iterator[str]:
    """URL of a fresh, migrated database for this test only."""
    name = clones.take()
    yield database_url(server_url, name)
    clones.give_back(name)


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
