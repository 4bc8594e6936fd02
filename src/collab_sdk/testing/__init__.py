"""Testing helpers for applications built on collab — see ``docs/testing.md``.

- ``databases``: ``TestDatabases`` — a throw-away PostgreSQL (the embedded server in a
  temporary directory, or ``COLLAB_TEST_DATABASE_URL``), a template database migrated
  once, and a fresh clone of it per test (``create``/``drop``, milliseconds each).
- ``plugin``: the pytest plugin (registered as ``collab`` through the ``pytest11`` entry
  point, so installing collab-sdk is enough) with the fixtures ``collab_databases``,
  ``collab_database_url``, ``collab_client`` and, with pytest-asyncio, ``collab_async_client``.
- ``drain``: ``await drain(worker)`` runs every due job of the worker's executor with its
  registered handlers, inline, until nothing is due; the ``Outcome`` of each attempt.
- ``assertions``: ``await assert_enqueued(client, type=..., payload=...)``.

May import: ``collab_sdk.client``, ``worker``, ``local`` and ``transports``. Nothing in
collab imports it.
"""

from collab_sdk.testing.assertions import assert_enqueued
from collab_sdk.testing.databases import TestDatabases
from collab_sdk.testing.drain import Outcome, drain

__all__ = ["TestDatabases", "drain", "Outcome", "assert_enqueued"]
