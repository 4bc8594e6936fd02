"""How a ``collab`` command reaches the database — resolved here and nowhere else.

A command given ``--database-url`` talks to that PostgreSQL. Without it,
``database_url`` takes ``COLLAB_DATABASE_URL``, else the embedded server under
``$COLLAB_HOME`` or ``./.collab``; ``client`` asks ``CollabClient.from_env()``, which also
honours ``SUPABASE_URL`` plus a key (see ``collab_sdk.client.config``). A URL that is not
``postgresql://`` is refused at once (``ConfigurationError``, exit 2) naming where it came
from; connecting waits at most ``COLLAB_CONNECT_TIMEOUT`` seconds (exit 69).

``client_options`` and ``database_url_option`` are the Click options of the commands
that need them; ``with_client`` hands a command the opened client.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.config import check_database_url
from collab_sdk.client.sync import CollabClient

__all__ = ["client_options", "database_url_option", "json_option", "database_url",
           "embedded_database_url", "client", "async_client", "with_client"]

F = TypeVar("F", bound=Callable[..., Any])


def database_url_option(command: F) -> F:
    """The ``--database-url URL`` option."""
    return click.option("--database-url", metavar="URL",
                        help="PostgreSQL URL (default: COLLAB_DATABASE_URL, SUPABASE_URL + key, "
                             "else the embedded one)")(command)


def json_option(command: F) -> F:
    """The ``--json`` option (``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")(command)


def client_options(command: F) -> F:
    """The options of every command that works through a client: ``--database-url`` and
    ``--json``."""
    return database_url_option(json_option(command))


def database_url(flag: str | None, *, migrated: bool = True) -> str:
    """``--database-url`` (``flag``), else ``COLLAB_DATABASE_URL``, else the embedded
    server's URL (started if needed, and migrated unless ``migrated`` is False). A given
    URL that is not ``postgresql://`` is a ``ConfigurationError`` naming its source."""
    if flag:
        return check_database_url(flag, "--database-url")
    env = os.environ.get("COLLAB_DATABASE_URL")
    if env:
        return check_database_url(env, "COLLAB_DATABASE_URL")
    return embedded_database_url(migrated=migrated)


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


def client(flag: str | None) -> CollabClient:
    """The blocking client a command uses: over ``--database-url`` (``flag``) when
    given, else the one the environment asks for (``CollabClient.from_env()``)."""
    if flag:
        return _over(CollabClient, check_database_url(flag, "--database-url"))
    return CollabClient.from_env()


def async_client(url: str) -> AsyncCollabClient:
    """An ``AsyncCollabClient`` over the PostgreSQL at ``url`` (a ``database_url``)."""
    return _over(AsyncCollabClient, url)


def with_client(command: Callable[..., int]) -> Callable[..., int]:
    """A Click callback taking ``--database-url`` that calls ``command(client, **rest)``
    with ``client(database_url)``, closed afterwards."""
    @functools.wraps(command)
    def run(database_url: str | None = None, **options: Any) -> int:
        with client(database_url) as opened:
            return command(opened, **options)
    return run
