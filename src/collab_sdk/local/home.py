"""The embedded default's home: ``$COLLAB_HOME``, else ``.collab`` in the working
directory — never inside the installed package. It holds the database (``pgdata/``), the
port it last listened on (``port``: reused at the next start while free, so its URL stays
the same across ``collab db stop`` and a restart) and ``LocalStorage``'s files
(``storage/``). ``local_database_url`` starts the server if
needed and migrates it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate

__all__ = ["collab_home", "local_server", "local_database_url"]


def collab_home(env: Mapping[str, str] | None = None) -> Path:
    """``$COLLAB_HOME``, or ``.collab`` in the current working directory."""
    env = os.environ if env is None else env
    return Path(env["COLLAB_HOME"]) if env.get("COLLAB_HOME") else Path.cwd() / ".collab"


def local_server(home: Path | None = None) -> EmbeddedPostgres:
    """The embedded server in ``home`` (default: ``collab_home()``)."""
    home = home or collab_home()
    return EmbeddedPostgres(home / "pgdata", port_file=home / "port")


def local_database_url(home: Path | None = None) -> str:
    """Start the embedded server if needed, migrate it, and return its URL."""
    url = local_server(home).start()
    migrate(url)
    return url
