"""The real supabase CLI (npm package, pinned in package.json) applies
supabase/migrations/ to a fresh database, and the result equals what `collab db migrate`
produces; each tool then sees the other's work as up to date."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from collab_sdk.local.paths import compat_sql_path
from support import REPO
from collab_sdk.local.migrate import load_migrations, migrate
from support import empty_database, migration_history, schema_fingerprint

CLI = REPO / "node_modules" / ".bin" / "supabase"

def _supabase_migration_up(url: str) -> str:
    env = {**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}
    done = subprocess.run([str(CLI), "migration", "up", f"--remote={url}?sslmode=disable", "--yes"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def cli() -> Path:
    if not CLI.exists():
        pytest.skip("supabase CLI not installed (node_modules/.bin/supabase); `./dev test` runs npm ci")
    return CLI


def test_cli_and_collab_migrate_build_the_same_schema(cli: Path, server_url: str) -> None:
    by_cli = empty_database(server_url)
    with psycopg.connect(by_cli, autocommit=True) as conn:  # plain Postgres needs the look-alike first
        conn.execute(compat_sql_path().read_text())
    out = _supabase_migration_up(by_cli)
    assert "Applying migration 20261122000100_collab_tables.sql" in out

    by_collab = empty_database(server_url)
    migrate(by_collab)

    schema = schema_fingerprint(by_collab)
    assert len(schema) > 150 and any(line.startswith('policy jobs') for line in schema)
    assert schema_fingerprint(by_cli) == schema
    expected = [(m.version, m.name) for m in load_migrations()]
    assert [h[:2] for h in migration_history(by_cli)] == [h[:2] for h in migration_history(by_collab)] == expected


def test_each_tool_continues_after_the_other(cli: Path, server_url: str) -> None:
    by_cli = empty_database(server_url)
    with psycopg.connect(by_cli, autocommit=True) as conn:
        conn.execute(compat_sql_path().read_text())
    _supabase_migration_up(by_cli)
    assert migrate(by_cli) == []

    by_collab = empty_database(server_url)
    migrate(by_collab)
    assert "Applying migration" not in _supabase_migration_up(by_collab)
