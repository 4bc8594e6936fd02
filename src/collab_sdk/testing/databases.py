"""``TestDatabases``: a migrated throw-away database per test, cloned from a template.

Migrating takes about a second; ``CREATE DATABASE … TEMPLATE`` takes milliseconds. So the
server and one migrated template are made once per test session, and every test gets a
clone of its own, dropped afterwards. The server is the embedded PostgreSQL (the
``pgserver`` wheel) in a temporary directory, tuned for throw-away data (``fsync`` off),
unless ``COLLAB_TEST_DATABASE_URL`` names an existing server (a superuser URL: it needs
``CREATE DATABASE``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate

__all__ = ["TestDatabases", "FAST_SETTINGS"]

#: Server settings for data nobody needs after the test run.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                 "max_connections": "200"}


class TestDatabases:
    """A server, a migrated template and fresh clones of it.

    ``TestDatabases()`` uses ``COLLAB_TEST_DATABASE_URL`` when set, else starts the
    embedded server (in ``start``); ``create()`` returns the URL of a new migrated
    database, ``drop(url)`` removes it, ``close()`` drops the template and stops a server
    it started, after dropping every database ``create`` made that is still there."""

    __test__ = False  # not a test class, whatever pytest's collection thinks of the name

    def __init__(self, server_url: str | None = None) -> None:
        self.server_url = server_url or os.environ.get("COLLAB_TEST_DATABASE_URL") or None
        self.template: str | None = None
        self._server: EmbeddedPostgres | None = None
        self._directory: Path | None = None
        self._created: set[str] = set()

    def start(self) -> TestDatabases:
        """Start the server if there is none, and migrate the template once."""
        if self.server_url is None:
            self._directory = Path(tempfile.mkdtemp(prefix="collab-testing-"))
            self._server = EmbeddedPostgres(self._directory / "data", settings=FAST_SETTINGS)
            self.server_url = self._server.start()
        if self.template is None:
            name = f"collab_template_{uuid.uuid4().hex[:8]}"
            self._execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            migrate(self.url_of(name))
            self.template = name
        return self

    def url_of(self, dbname: str) -> str:
        """The server's URL with ``dbname`` as its database."""
        if self.server_url is None:
            raise RuntimeError("TestDatabases.start() has not run")
        if "://" in self.server_url:
            return _with_dbname(self.server_url, dbname)
        return make_conninfo(self.server_url, dbname=dbname)  # a key=value connection string

    def create(self) -> str:
        """A new database cloned from the migrated template; its URL."""
        self.start()
        name = f"collab_test_{uuid.uuid4().hex[:12]}"
        assert self.template is not None
        self._execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                       sql.Identifier(self.template)))
        self._created.add(name)
        return self.url_of(name)

    def drop(self, url: str) -> None:
        """Drop the database ``create`` returned (closing its connections)."""
        name = conninfo_to_dict(url).get("dbname")
        if name:
            self._drop(str(name))

    def _drop(self, name: str) -> None:
        self._execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        self._created.discard(name)

    def close(self) -> None:
        """Drop the template; stop and delete a server this object started."""
        if self.server_url is not None:
            for name in sorted(self._created):
                self._drop(name)
            if self.template is not None:
                self._drop(self.template)
        self.template = None
        if self._server is not None:
            self._server.stop("immediate")
            self._server = None
            self.server_url = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def _execute(self, statement: sql.Composed) -> None:
        assert self.server_url is not None
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(statement)


def _with_dbname(url: str, dbname: str) -> str:
    """``url`` (``postgresql://…/<db>?…``) naming ``dbname`` instead."""
    head, _, query = url.partition("?")
    scheme, _, rest = head.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{dbname}" + (f"?{query}" if query else "")
