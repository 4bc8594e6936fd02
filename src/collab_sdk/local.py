"""The embedded default: a PostgreSQL under ``.collab/`` started and migrated on use."""

from __future__ import annotations

from pathlib import Path

from collab_sdk.config import collab_home
from collab_sdk.embedded import EmbeddedPostgres
from collab_sdk.migrate import migrate

__all__ = ["local_server", "local_database_url"]


def local_server(home: Path | None = None) -> EmbeddedPostgres:
    """The embedded server in ``home`` (default ``$COLLAB_HOME`` or ``<repo>/.collab``)."""
    return EmbeddedPostgres((home or collab_home()) / "pgdata")


def local_database_url(home: Path | None = None) -> str:
    """Start the embedded server if needed, migrate it, and return its URL."""
    url = local_server(home).start()
    migrate(url)
    return url
