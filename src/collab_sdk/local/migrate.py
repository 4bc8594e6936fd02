"""Apply collab's schema to a PostgreSQL database.

``migrate(url)`` first applies ``sql/supabase_compat.sql`` (roles, ``auth.*`` helpers
and the Realtime publication, each only where Supabase's own are missing), then each
pending file of ``supabase/migrations/`` in version order, one transaction per file.
Applied versions are recorded in ``supabase_migrations.schema_migrations`` with the
columns the supabase CLI uses, so ``collab db migrate`` and ``supabase migration up``
agree on what is applied and either can continue where the other stopped.
Re-running is a no-op; concurrent runs serialise on an advisory lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from collab_sdk.local.paths import compat_sql_path, migrations_dir

__all__ = ["Migration", "migrate", "pending_migrations", "load_migrations"]

# Any constant will do: it only has to be the same for every collab migrator.
_LOCK_KEY = 0x636F6C6C6162  # "collab"

_NAME = re.compile(r"^(\d+)_(.+)\.sql$")

# The supabase CLI's history table (created by the CLI the same way when it runs first).
_HISTORY_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text not null primary key,
  statements text[],
  name text
);
"""


@dataclass(frozen=True)
class Migration:
    """One migration file: ``<version>_<name>.sql``."""

    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """The migration files of ``directory`` (default: collab's own), in version order."""
    found = []
    for path in sorted((directory or migrations_dir()).glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name must be <version>_<name>.sql: {path.name}")
        found.append(Migration(match.group(1), match.group(2), path))
    return found


def _applied_versions(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("select version from supabase_migrations.schema_migrations").fetchall()
    return {row[0] for row in rows}


def pending_migrations(url: str) -> list[Migration]:
    """Migrations not yet recorded as applied in the database at ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()
        if not (exists and exists[0]):
            return load_migrations()
        applied = _applied_versions(conn)
    return [m for m in load_migrations() if m.version not in applied]


def migrate(url: str, *, directory: Path | None = None) -> list[Migration]:
    """Bring the database at ``url`` up to date; return the migrations applied now."""
    applied_now: list[Migration] = []
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("set client_min_messages = warning")
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(compat_sql_path().read_text(encoding="utf-8"))
            conn.execute(_HISTORY_DDL)
        for migration in load_migrations(directory):
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                if migration.version in _applied_versions(conn):
                    continue
                conn.execute(migration.sql)
                conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, name, statements)"
                    " values (%s, %s, %s)",
                    (migration.version, migration.name, [migration.sql]),
                )
            applied_now.append(migration)
    return applied_now
