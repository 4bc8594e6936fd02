"""How a ``collab`` command reaches the database — resolved here and nowhere else.

A command given ``--database-url`` talks to that PostgreSQL. Without it,
``database_url`` takes ``COLLAB_DATABASE_URL``, else the embedded server under
``$COLLAB_HOME`` or ``./.collab``; ``client`` asks ``CollabClient.from_env()``, which also
honours ``SUPABASE_URL`` plus a key (see ``collab_sdk.client.config``).
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable
from typing import TypeVar

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.sync import CollabClient

__all__ = ["client_options", "database_url_options", "database_url", "embedded_database_url", "client", "async_client",
           "with_client"]


def client_options() -> argparse.ArgumentParser:
    """The parent parser of every command that works through a client:
    ``--database-url`` and ``--json``."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--database-url", help="PostgreSQL URL (default: from the environment)")
    options.add_argument("--json", action="store_true", help="print JSON for scripts")
    return options


def database_url_options() -> argparse.ArgumentParser:
    """The parent parser of commands that need a PostgreSQL URL: ``--database-url``."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--database-url",
                         help="PostgreSQL URL (default: COLLAB_DATABASE_URL or embedded)")
    return options


def database_url(args: argparse.Namespace, *, migrated: bool = True) -> str:
    """``--database-url``, else ``COLLAB_DATABASE_URL``, else the embedded server's URL
    (started if needed, and migrated unless ``migrated`` is False)."""
    url = getattr(args, "database_url", None) or os.environ.get("COLLAB_DATABASE_URL")
    return str(url) if url else embedded_database_url(migrated=migrated)


def embedded_database_url(*, migrated: bool = True) -> str:
    """The embedded server's URL, started if needed (and migrated unless ``migrated``
    is False)."""
    from collab_sdk.local.home import local_database_url, local_server
    return local_database_url() if migrated else local_server().start()


_Client = TypeVar("_Client", CollabClient, AsyncCollabClient)


def _over(kind: type[_Client], url: str) -> _Client:
    from collab_sdk.client.config import storage_for
    from collab_sdk.transports.postgres import PostgresTransport
    transport = PostgresTransport(url)
    return kind(transport, storage=storage_for(transport))


def client(args: argparse.Namespace) -> CollabClient:
    """The blocking client a command uses: over ``--database-url`` when given, else the
    one the environment asks for (``CollabClient.from_env()``)."""
    if getattr(args, "database_url", None):
        return _over(CollabClient, args.database_url)
    return CollabClient.from_env()


def async_client(url: str) -> AsyncCollabClient:
    """An ``AsyncCollabClient`` over the PostgreSQL at ``url`` (a ``database_url``)."""
    return _over(AsyncCollabClient, url)


def with_client(command: Callable[[argparse.Namespace, CollabClient], int]
                ) -> Callable[[argparse.Namespace], int]:
    """``command`` as a ``run`` default: given the ``client(args)``, closed afterwards."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with client(args) as opened:
            return command(args, opened)
    return run
