"""Which transport the environment asks for.

In order of precedence:

1. ``COLLAB_DATABASE_URL`` — a ``postgresql://`` URL: ``PostgresTransport`` (trusted).
2. ``SUPABASE_URL`` plus a key — ``SupabaseTransport``. Keys, first found wins:
   ``SUPABASE_SECRET_KEY`` (``sb_secret_…``), ``SUPABASE_SERVICE_ROLE_KEY`` (legacy JWT),
   ``SUPABASE_PUBLISHABLE_KEY`` (``sb_publishable_…``), ``SUPABASE_ANON_KEY`` (legacy).
   A publishable/anon key acts as ``anon`` until given a user session
   (``SUPABASE_ACCESS_TOKEN``, a user's JWT, is used when set).
3. Neither — the embedded PostgreSQL under ``$COLLAB_HOME`` or ``./.collab``,
   started and migrated on first use.

``COLLAB_POOL_SIZE`` (default 10) is the largest number of connections a ``PostgresTransport``
opens: a ``collab serve`` process runs at most that many RPCs at once.

A database URL must be a ``postgres://`` or ``postgresql://`` URL (``check_database_url``):
anything else — text that is no URL, a Supabase project URL (``https://<ref>.supabase.co``)
— is a ``ConfigurationError`` at once, naming the variable to use instead.

Artifacts go to Supabase Storage with the Supabase transport, otherwise to
``LocalStorage`` in ``$COLLAB_STORAGE_DIR`` (default ``<home>/storage``) with URLs signed
for ``$COLLAB_PUBLIC_URL`` (default ``http://127.0.0.1:3100``, where ``collab serve``
listens).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from collab_sdk.local.home import collab_home
from collab_sdk.errors import ConfigurationError
from collab_sdk.local.storage import LocalStorage
from collab_sdk.transports.storage import Storage
from collab_sdk.transports.base import HasStorage, Transport

__all__ = ["transport_from_env", "storage_for", "check_database_url", "pool_size", "SUPABASE_KEY_VARIABLES"]

#: Key variables read with ``SUPABASE_URL``, most privileged first.
SUPABASE_KEY_VARIABLES = ("SUPABASE_SECRET_KEY", "SUPABASE_SERVICE_ROLE_KEY",
                          "SUPABASE_PUBLISHABLE_KEY", "SUPABASE_ANON_KEY")


def check_database_url(url: str, source: str = "COLLAB_DATABASE_URL") -> str:
    """``url`` when it is a ``postgres://``/``postgresql://`` URL with a host; else a
    ``ConfigurationError`` naming ``source`` (the variable or flag it came from) and, for
    a Supabase project URL, the variable that takes one. Never echoes a password."""
    text = url.strip()
    parts = urlsplit(text) if "://" in text else None
    if parts is not None and parts.scheme in ("postgres", "postgresql"):
        return text
    if parts is not None and parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        supabase = host.endswith((".supabase.co", ".supabase.in")) or host in ("localhost", "127.0.0.1")
        what = "a Supabase project URL" if supabase else "an HTTP URL"
        raise ConfigurationError(
            f"{source} must be a PostgreSQL URL (postgresql://…), not {what} ({parts.scheme}://{host}): "
            "use SUPABASE_URL with a key for the Supabase API, or the project's Postgres "
            "connection string (Project Settings → Database) as " + source)
    shown = f"a {parts.scheme}:// URL" if parts is not None and parts.scheme else "text that is no URL"
    raise ConfigurationError(f"{source} must be a PostgreSQL URL "
                             f"(postgresql://user:password@host:5432/dbname), not {shown}")


def pool_size(env: Mapping[str, str]) -> int:
    """``COLLAB_POOL_SIZE`` of ``env`` (a whole number ≥ 1), else 10."""
    raw = (env.get("COLLAB_POOL_SIZE") or "").strip()
    if not raw:
        return 10
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"COLLAB_POOL_SIZE must be a whole number of connections, at least 1, not {raw!r}")
    return int(raw)


def transport_from_env(env: Mapping[str, str] | None = None) -> Transport:
    """The transport ``env`` (default ``os.environ``) configures; see the module doc."""
    env = os.environ if env is None else env
    if env.get("COLLAB_DATABASE_URL"):
        from collab_sdk.transports.postgres import PostgresTransport
        return PostgresTransport(check_database_url(env["COLLAB_DATABASE_URL"]), max_size=pool_size(env))
    if env.get("SUPABASE_URL"):
        key = next((env[name] for name in SUPABASE_KEY_VARIABLES if env.get(name)), None)
        if key is None:
            raise ConfigurationError("SUPABASE_URL is set but no key is: set one of "
                                     + ", ".join(SUPABASE_KEY_VARIABLES))
        from collab_sdk.transports.supabase.rpc import SupabaseTransport
        return SupabaseTransport(env["SUPABASE_URL"], key,
                                 access_token=env.get("SUPABASE_ACCESS_TOKEN") or None)
    from collab_sdk.local.home import local_database_url
    from collab_sdk.transports.postgres import PostgresTransport
    return PostgresTransport(local_database_url(collab_home(env)), max_size=pool_size(env))



def storage_for(transport: Transport, env: Mapping[str, str] | None = None) -> Storage:
    """The artifact storage that goes with ``transport`` (see the module doc)."""
    env = os.environ if env is None else env
    if isinstance(transport, HasStorage):
        return transport.storage()
    root = Path(env["COLLAB_STORAGE_DIR"]) if env.get("COLLAB_STORAGE_DIR") else collab_home(env) / "storage"
    return LocalStorage(root, base_url=env.get("COLLAB_PUBLIC_URL") or "http://127.0.0.1:3100")
