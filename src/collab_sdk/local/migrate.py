"""Apply collab's schema to a PostgreSQL database.

``migrate(url)`` first applies ``sql/supabase_compat.sql`` (roles, ``auth.*`` helpers
and the Realtime publication, each only where Supabase's own are missing), then each
pending migration packaged with the SDK (``collab_sdk.local.paths``: the wheel's copy,
never a directory found relative to the working directory or the package), in version
order, one transaction per file. Applied versions are recorded in
``supabase_migrations.schema_migrations`` with the columns the supabase CLI uses, so
``collab db migrate``, ``supabase migration up`` and ``supabase db push`` agree on what
is applied and either can continue where the other stopped.
Re-running is a no-op; concurrent runs serialise on an advisory lock.

Before applying anything the history is checked (``check_history``), and the migrator
refuses — changing nothing, ``MigrationRefused`` — when it

- holds versions that are not collab's: another tool manages this database's schema
  (the migrations of the Supabase project collab was installed into with ``collab
  supabase install``). They are accepted only when they are that project's own: pass
  ``project_migrations=<project>/supabase/migrations`` (``collab db migrate --project-dir
  <project>``) and each unknown version must be a file there;
- lacks collab versions older than the newest collab version it holds: applying them
  now would run them out of order, on a schema that already moved past them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from collab_sdk.errors import SchemaMismatch
from collab_sdk.local.paths import compat_sql_path, migrations_dir

__all__ = ["Migration", "MigrationRefused", "migrate", "pending_migrations", "load_migrations",
           "check_history"]

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

#: How many versions a refusal lists before it says "and N more".
_SHOWN = 5


class MigrationRefused(SchemaMismatch):
    """The database's migration history does not fit collab's migrations; nothing was
    applied. ``unknown``: versions it holds that are neither collab's nor the project's;
    ``missing``: collab versions it lacks below the newest collab version it holds."""

    def __init__(self, message: str, *, unknown: list[str], missing: list[str]) -> None:
        super().__init__(message)
        self.unknown = unknown
        self.missing = missing


@dataclass(frozen=True)
class Migration:
    """One migration file: ``<version>_<name>.sql``."""

    version: str
    name: str
    path: Path

    @property
    def filename(self) -> str:
        """``<version>_<name>.sql``."""
        return self.path.name

    @property
    def sql(self) -> str:
        """The file's SQL."""
        return self.path.read_text(encoding="utf-8")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """The migration files of ``directory`` (default: collab's own, packaged with the
    SDK), in version order."""
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


def _listed(versions: list[str]) -> str:
    shown = ", ".join(versions[:_SHOWN])
    return shown + (f" and {len(versions) - _SHOWN} more" if len(versions) > _SHOWN else "")


def check_history(applied: set[str], *, project_migrations: Path | None = None) -> None:
    """Raise ``MigrationRefused`` unless a history of ``applied`` versions fits collab's
    migrations (see the module doc); ``project_migrations`` is the directory of the
    project's own migrations, whose versions may be in the history too."""
    ours = [m.version for m in load_migrations()]
    project = {m.version for m in load_migrations(project_migrations)} if project_migrations else set()
    unknown = sorted(applied - set(ours) - project)
    newest = max((v for v in ours if v in applied), default=None)
    missing = [v for v in ours if newest is not None and v < newest and v not in applied]
    problems = []
    if unknown:
        where = (f"nor in {project_migrations}" if project_migrations
                 else "(if they are your Supabase project's own migrations, pass "
                      "--project-dir <the project's root>)")
        problems.append(f"the database's migration history holds {len(unknown)} version(s) that are "
                        f"not collab's {where}: {_listed(unknown)}")
    if missing:
        problems.append(f"it lacks {len(missing)} of collab's migration(s) older than its newest "
                        f"collab version {newest}: {_listed(missing)} (applied out of order they "
                        "would run on a schema that moved past them)")
    if problems:
        raise MigrationRefused("collab db migrate refused, nothing was changed: " + "; ".join(problems)
                               + ". Apply migrations with the tool that manages this database "
                                 "(`supabase db push` after `collab supabase upgrade`)",
                               unknown=unknown, missing=missing)


def pending_migrations(url: str) -> list[Migration]:
    """Migrations not yet recorded as applied in the database at ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()
        if not (exists and exists[0]):
            return load_migrations()
        applied = _applied_versions(conn)
    return [m for m in load_migrations() if m.version not in applied]


def migrate(url: str, *, project_migrations: Path | None = None) -> list[Migration]:
    """Bring the database at ``url`` up to date with collab's packaged migrations; return
    those applied now. Raises ``MigrationRefused`` (having changed nothing) when the
    history does not fit them; ``project_migrations``: see ``check_history``."""
    applied_now: list[Migration] = []
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("set client_min_messages = warning")
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations')"
                                  " is not null").fetchone()
            if exists and exists[0]:
                check_history(_applied_versions(conn), project_migrations=project_migrations)
            conn.execute(compat_sql_path().read_text(encoding="utf-8"))
            conn.execute(_HISTORY_DDL)
        for migration in load_migrations():
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
