"""PostgreSQL 15 with pg_cron, for the tests that need pg_cron's own scheduler to run a job
(a pytest plugin, registered from ``tests/conftest.py``).

pg_cron 1.4 (Debian's ``postgresql-15-cron``) starts jobs only on minute boundaries, so a
test that schedules a job and waits for it waits up to a minute. Here one cluster serves
every such case, and it is made when collection ends (about a second: start, ``create
extension pg_cron``, migrate, then every registered case's set-up), so the minute boundary
passes while the rest of the suite runs. A test module registers a case at import::

    pg_cron_case("schedules", set_up)   # set_up(owner: Caller) -> anything

and its test asks for the ``pg_cron`` fixture: ``pg_cron.cases["schedules"]`` is what
``set_up`` returned, ``pg_cron.url`` the cluster (pg_cron's database, ``postgres``),
``pg_cron.migrated_jobs`` the ``cron.job`` rows right after the migration (before any
case scheduled its own). The test then waits for its case's outcome: at once when a
boundary has passed, else until the next one (as when the test runs alone). Cases share
the database, so each one's assertions must be about its own rows.

The cluster is made only when a collected test asks for ``pg_cron``; without PostgreSQL 15
and pg_cron those tests skip, naming the apt packages. It runs jobs in background workers
(``cron.use_background_workers``), where a procedure may still commit between batches.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate
from support.callers import Caller

__all__ = ["PG15", "PG_CRON", "PgCron", "pg_cron_case"]

PG15 = Path("/usr/lib/postgresql/15/bin")
PG_CRON = Path("/usr/lib/postgresql/15/lib/pg_cron.so")
FIXTURE = "pg_cron"

#: Case name -> set-up, in the order the test modules registered them.
_CASES: dict[str, Callable[[Caller], Any]] = {}


def pg_cron_case(name: str, set_up: Callable[[Caller], Any]) -> None:
    """Register a case: ``set_up(owner)`` runs on the shared cluster before any test does."""
    _CASES[name] = set_up


@dataclass
class PgCron:
    """The shared cluster: its URL, ``cron.job`` after migrating, each case's set-up answer."""

    url: str = ""
    migrated_jobs: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[str, Any] = field(default_factory=dict)
    server: EmbeddedPostgres | None = None
    error: BaseException | None = None
    skip: str | None = None

    def make(self) -> None:
        """Start the cluster, migrate, set up every case; a failure is kept for the tests."""
        if not (PG15 / "postgres").exists() or not PG_CRON.exists():
            self.skip = (f"needs PostgreSQL 15 at {PG15} with pg_cron ({PG_CRON}); ./dev test installs"
                         " postgresql-15 and postgresql-15-cron with apt")
            return
        try:
            # Not under pytest's tmp_path: another pytest session resets its permissions to
            # 0700, and the server runs as its own user (pgserver) under root.
            with warnings.catch_warnings():
                # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (embedded.py's
                # _system_user imports it unguarded), and collection runs under "error".
                warnings.simplefilter("ignore", UserWarning)
                self.server = EmbeddedPostgres(
                    Path(tempfile.mkdtemp(prefix="collab-pgcron-")) / "pg15", bin_dir=PG15,
                    settings={"fsync": "off", "shared_preload_libraries": "pg_cron",
                              "cron.database_name": "postgres", "cron.use_background_workers": "on",
                              "max_worker_processes": "20"})
                self.url = self.server.start()
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("create extension pg_cron")
            migrate(self.url)
            owner = Caller(self.url)
            try:
                self.migrated_jobs = owner.sql("select jobname, schedule, command from cron.job")
                for name, set_up in _CASES.items():
                    self.cases[name] = set_up(owner)
            finally:
                owner.close()
        except Exception as error:  # reported by every test that asks for the cluster
            self.error = error

    def destroy(self) -> None:
        if self.server is not None:
            self.server.destroy()
            self.server = None


_STATE = pytest.StashKey[PgCron]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not any(FIXTURE in getattr(item, "fixturenames", ())
                                                    for item in session.items):
        return
    state = session.config.stash[_STATE] = PgCron()
    state.make()


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is not None:
        state.destroy()


@pytest.fixture(scope="session")
def pg_cron(request: pytest.FixtureRequest) -> PgCron:
    """The shared PostgreSQL 15 with pg_cron and every registered case set up on it."""
    state = request.config.stash.get(_STATE, None)
    if state is None:  # asked for without being collected (e.g. through getfixturevalue)
        state = request.config.stash[_STATE] = PgCron()
        state.make()
    if state.skip:
        pytest.skip(state.skip)
    if state.error is not None:
        raise state.error
    return state
