"""Which transport the environment asks for.

In order of precedence:

1. ``COLLAB_DATABASE_URL`` — a ``postgresql://`` URL: ``PostgresTransport`` (trusted).
2. ``SUPABASE_URL`` plus a key — ``SupabaseTransport``. Keys, first found wins:
   ``SUPABASE_SECRET_KEY`` (``sb_secret_…``), ``SUPABASE_SERVICE_ROLE_KEY`` (legacy JWT),
   ``SUPABASE_PUBLISHABLE_KEY`` (``sb_publishable_…``), ``SUPABASE_ANON_KEY`` (legacy).
   A publishable/anon key acts as ``anon`` until given a user session
   (``SUPABASE_ACCESS_TOKEN``, a user's JWT, is used when set).
3. Neither — the embedded PostgreSQL under ``$COLLAB_HOME`` or ``<repo>/.collab``,
   started and migrated on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from collab_sdk.errors import ValidationError
from collab_sdk.transport import Transport

__all__ = ["transport_from_env", "SUPABASE_KEY_VARIABLES"]

#: Key variables read with ``SUPABASE_URL``, most privileged first.
SUPABASE_KEY_VARIABLES = ("SUPABASE_SECRET_KEY", "SUPABASE_SERVICE_ROLE_KEY",
                          "SUPABASE_PUBLISHABLE_KEY", "SUPABASE_ANON_KEY")


def transport_from_env(env: Mapping[str, str] | None = None) -> Transport:
    """The transport ``env`` (default ``os.environ``) configures; see the module doc."""
    env = os.environ if env is None else env
    if env.get("COLLAB_DATABASE_URL"):
        from collab_sdk.postgres import PostgresTransport
        return PostgresTransport(env["COLLAB_DATABASE_URL"])
    if env.get("SUPABASE_URL"):
        key = next((env[name] for name in SUPABASE_KEY_VARIABLES if env.get(name)), None)
        if key is None:
            raise ValidationError("SUPABASE_URL is set but no key is: set one of "
                                  + ", ".join(SUPABASE_KEY_VARIABLES), code="CL400")
        from collab_sdk.supabase_transport import SupabaseTransport
        return SupabaseTransport(env["SUPABASE_URL"], key,
                                 access_token=env.get("SUPABASE_ACCESS_TOKEN") or None)
    from collab_sdk.local import local_database_url
    from collab_sdk.postgres import PostgresTransport
    return PostgresTransport(local_database_url())
