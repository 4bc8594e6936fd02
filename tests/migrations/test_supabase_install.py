"""collab inside a user's Supabase project: ``collab supabase install`` copies the
packaged migrations into the project, the real supabase CLI (node_modules) pushes them
with the project's own, ``supabase migration list`` and ``collab db migrate
--project-dir`` agree; ``collab db migrate`` refuses, changing nothing, a history it
does not know or one with a gap; a copy of collab vendored in a project applies only
collab's migrations."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from collab_sdk.local.migrate import MigrationRefused, load_migrations, migrate
from collab_sdk.local.paths import compat_sql_path
from support import REPO, empty_database, migration_history, schema_fingerprint

main = importlib.import_module("collab_sdk.cli.main")
CLI = REPO / "node_modules" / ".bin" / "supabase"
OWN = "20240101000000_app_todos.sql"
OWN_SQL = "create table public.todos (id bigint generated always as identity primary key, title text);\n"


def _supabase(project: Path, *args: str) -> str:
    env = {**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}
    done = subprocess.run([str(CLI), "--workdir", str(project), *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Supabase project (``supabase/`` with collab's config.toml) with one migration
    of its own."""
    root = tmp_path / "app"
    (root / "supabase" / "migrations").mkdir(parents=True)
    shutil.copy(REPO / "supabase" / "config.toml", root / "supabase" / "config.toml")
    (root / "supabase" / "migrations" / OWN).write_text(OWN_SQL)
    return root


def _collab(*argv: str) -> int:
    return main.main(list(argv))


def _history(url: str) -> list[tuple[str, str]]:
    return [(version, name) for version, name, _ in migration_history(url)]


def test_install_copies_the_packaged_files_and_is_idempotent(project: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    ours = load_migrations()
    assert _collab("supabase", "install", "--project-dir", str(project)) == 0
    out = capsys.readouterr().out
    assert f"{len(ours)} migration(s) added, 0 already there" in out
    target = project / "supabase" / "migrations"
    assert sorted(p.name for p in target.iterdir()) == sorted([OWN, *(m.filename for m in ours)])
    assert all((target / m.filename).read_bytes() == m.path.read_bytes() for m in ours)
    assert _collab("supabase", "install", "--project-dir", str(project)) == 0
    assert f"0 migration(s) added, {len(ours)} already there" in capsys.readouterr().out
    assert _collab("supabase", "upgrade", "--project-dir", str(project)) == 0


def test_upgrade_adds_the_missing_newer_ones(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _collab("supabase", "upgrade", "--project-dir", str(project)) == 2  # nothing to upgrade
    assert "run `collab supabase install` first" in capsys.readouterr().err
    target = project / "supabase" / "migrations"
    ours = load_migrations()
    for migration in ours[:5]:  # an older collab release: its first five migrations
        shutil.copy(migration.path, target / migration.filename)
    newer = target / "20990101000000_app_later.sql"  # the project moved on since
    newer.write_text("select 1;\n")
    assert _collab("supabase", "upgrade", "--project-dir", str(project)) == 0
    out = capsys.readouterr().out
    assert f"{len(ours) - 5} migration(s) added, 5 already there" in out
    assert "supabase db push --include-all" in out
    assert all((target / m.filename).is_file() for m in ours)


def test_install_refuses_a_different_file_of_the_same_version(project: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    target = project / "supabase" / "migrations"
    first = load_migrations()[0]
    clash = target / f"{first.version}_my_tables.sql"
    clash.write_text("create table public.mine (id int);\n")
    assert _collab("supabase", "install", "--project-dir", str(project)) == 4
    err = capsys.readouterr().err
    assert "refused, nothing was copied" in err and clash.name in err
    assert sorted(p.name for p in target.iterdir()) == sorted([OWN, clash.name])
    clash.unlink()
    edited = target / first.filename  # collab's own file, edited in place
    edited.write_text(first.sql + "\n-- edited\n")
    assert _collab("supabase", "install", "--project-dir", str(project)) == 4
    assert sorted(p.name for p in target.iterdir()) == sorted([OWN, first.filename])


def test_install_needs_a_supabase_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _collab("supabase", "install", "--project-dir", str(tmp_path)) == 2
    assert "is not a Supabase project" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_db_push_after_install_applies_both_and_every_tool_agrees(
        project: Path, server_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not CLI.exists():
        pytest.skip("supabase CLI not installed (node_modules/.bin/supabase); `./dev test` runs npm ci")
    url = empty_database(server_url)
    with psycopg.connect(url, autocommit=True) as conn:  # plain Postgres: Supabase's roles and auth.*
        conn.execute(compat_sql_path().read_text())
    assert _collab("supabase", "install", "--project-dir", str(project)) == 0
    out = _supabase(project, "db", "push", f"--remote={url}?sslmode=disable", "--yes")
    assert f"Applying migration {OWN}" in out
    ours = load_migrations()
    assert _history(url) == [("20240101000000", "app_todos"), *((m.version, m.name) for m in ours)]

    listed = _supabase(project, "migration", "list", f"--remote={url}?sslmode=disable")
    rows = [[cell.strip(" `") for cell in line.split("|")] for line in listed.splitlines() if "|" in line]
    rows = [row for row in rows if re.fullmatch(r"\d{14}", row[0]) or re.fullmatch(r"\d{14}", row[1])]
    assert len(rows) == len(ours) + 1
    assert all(row[0] == row[1] for row in rows), listed  # every local version is on the remote

    capsys.readouterr()
    before = schema_fingerprint(url)
    assert _collab("db", "migrate", "--database-url", url, "--project-dir", str(project)) == 0
    assert "0 migration(s) applied" in capsys.readouterr().out
    assert schema_fingerprint(url) == before
    assert "Applying migration" not in _supabase(project, "db", "push", f"--remote={url}?sslmode=disable",
                                                 "--yes")
    # Without --project-dir, the project's version is unknown to collab: refused, with the flag named.
    assert _collab("db", "migrate", "--database-url", url) == 1
    err = capsys.readouterr().err
    assert "20240101000000" in err and "--project-dir" in err and "nothing was changed" in err


def _migrated_but_the_last(server_url: str) -> str:
    """A database with every collab migration but the newest applied (as an older SDK left it)."""
    url = empty_database(server_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        conn.execute(compat_sql_path().read_text())
        conn.execute("create schema supabase_migrations; create table supabase_migrations.schema_migrations"
                     " (version text primary key, statements text[], name text)")
        for migration in load_migrations()[:-1]:
            conn.execute(migration.sql)
            conn.execute("insert into supabase_migrations.schema_migrations values (%s, %s, %s)",
                         (migration.version, [migration.sql], migration.name))
    return url


def test_migrate_refuses_an_unknown_version_and_changes_nothing(server_url: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = _migrated_but_the_last(server_url)  # the newest collab migration is pending
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into supabase_migrations.schema_migrations (version, name) "
                     "values ('20300101000000', 'someone_elses')")
    before = (schema_fingerprint(url), _history(url))
    with pytest.raises(MigrationRefused) as refused:
        migrate(url)
    assert refused.value.unknown == ["20300101000000"] and refused.value.missing == []
    assert (schema_fingerprint(url), _history(url)) == before
    assert _collab("db", "migrate", "--database-url", url) == 1
    assert "20300101000000" in capsys.readouterr().err
    # A project directory that does not hold that version does not make it known.
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    assert _collab("db", "migrate", "--database-url", url, "--project-dir", str(tmp_path)) == 1
    assert (schema_fingerprint(url), _history(url)) == before
    (tmp_path / "supabase" / "migrations" / "20300101000000_someone_elses.sql").write_text("select 1;\n")
    assert _collab("db", "migrate", "--database-url", url, "--project-dir", str(tmp_path)) == 0
    last = load_migrations()[-1]
    assert f"applied {last.version}_{last.name}" in capsys.readouterr().out
    assert _history(url)[-2:] == [(last.version, last.name), ("20300101000000", "someone_elses")]


def test_migrate_refuses_a_gap_in_collab_history(db_url: str) -> None:
    middle = load_migrations()[3]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("delete from supabase_migrations.schema_migrations where version = %s", (middle.version,))
    before = (schema_fingerprint(db_url), _history(db_url))
    with pytest.raises(MigrationRefused, match="lacks 1 of collab's") as refused:
        migrate(db_url)
    assert refused.value.missing == [middle.version]
    assert (schema_fingerprint(db_url), _history(db_url)) == before
