"""The embedded default: a PostgreSQL under ``.collab/`` started and migrated on use."""

from __future__ import annotations

import os
from pathlib import Path

from collab_sdk._paths import repo_root
from collab_sdk.embedded import EmbeddedPostgres
from collab_sdk.migrate import migrate

__all__ = ["local_server", "local_database_url"]


def local_server(home: Path | None = None) -> EmbeddedPostgres:
    """The embedded server in ``home`` (default ``$COLLAB_HOME`` or ``<repo>/.collab``)."""
    base = home or Path(os.environ.get("COLLAB_HOME") or repo_root() / ".collab")
    return EmbeddedPostgres(base / "pgdata")


def local_database_url(home: Path | None = None) -> str:
    """Start the embedded server if needed, migrate it, and return its URL."""
    url = local_server(home).start()
    migrate(url)
    return url
