"""collab's pytest plugin: a migrated throw-away database per test, and clients on it.

Installed with collab-sdk and loaded by pytest through the ``pytest11`` entry point
``collab`` (``-p no:collab`` turns it off). Nothing starts until a test asks for a
fixture:

- ``collab_databases`` (session): the ``TestDatabases`` — the embedded server in a
  temporary directory, or ``COLLAB_TEST_DATABASE_URL``, with a template migrated once.
- ``collab_database_url``: the URL of a fresh migrated database for this test only.
- ``collab_client``: a blocking ``CollabClient`` on it (artifacts go to a temporary
  directory), closed after the test.
- ``collab_async_client``: an ``AsyncCollabClient`` on it, for ``async def`` tests —
  defined when pytest-asyncio is installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.sync import CollabClient
from collab_sdk.local.storage import LocalStorage
from collab_sdk.testing.databases import TestDatabases
from collab_sdk.transports.postgres import PostgresTransport

__all__ = ["collab_databases", "collab_database_url", "collab_client", "collab_async_client"]


@pytest.fixture(scope="session")
def collab_databases() -> Iterator[TestDatabases]:
    """The test session's server and migrated template (see ``TestDatabases``)."""
    databases = TestDatabases().start()
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def collab_database_url(collab_databases: TestDatabases) -> Iterator[str]:
    """The URL of a fresh, migrated database for this test only (dropped afterwards)."""
    url = collab_databases.create()
    try:
        yield url
    finally:
        collab_databases.drop(url)


def _storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "collab-storage")


@pytest.fixture
def collab_client(collab_database_url: str, tmp_path: Path) -> Iterator[CollabClient]:
    """A blocking ``CollabClient`` on ``collab_database_url``."""
    with CollabClient(PostgresTransport(collab_database_url), storage=_storage(tmp_path)) as client:
        yield client


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the async fixture needs pytest-asyncio
    collab_async_client = None
else:
    @pytest_asyncio.fixture
    async def collab_async_client(collab_database_url: str, tmp_path: Path) -> AsyncIterator[AsyncCollabClient]:
        """An ``AsyncCollabClient`` on ``collab_database_url``, in the test's event loop."""
        async with AsyncCollabClient(PostgresTransport(collab_database_url), storage=_storage(tmp_path)) as client:
            yield client
