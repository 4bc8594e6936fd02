"""The migrator: snapshot of the schema, re-runs, concurrent runs, PostgreSQL 15."""

from __future__ import annotations

import difflib
import threading
from pathlib import Path

import psycopg
import pytest

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import load_migrations, migrate, pending_migrations
from support.schema_snapshot import SNAPSHOT, dump_schema
from support import empty_database, migration_history, schema_fingerprint

PG15 = Path("/usr/lib/postgresql/15/bin")


def test_schema_snapshot_matches_the_migrations(db_url: str) -> None:
    actual = dump_schema(db_url)
    expected = SNAPSHOT.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                        "sql/schema.sql", "migrated schema"))
    assert not diff, f"{diff}\nrun: .venv/bin/python tests/support/schema_snapshot.py --write"


def test_history_records_every_migration(db_url: str) -> None:
    expected = [(m.version, m.name) for m in load_migrations()]
    assert [(v, n) for v, n, _ in migration_history(db_url)] == expected
    assert all(count == 1 for _, _, count in migration_history(db_url))
    assert pending_migrations(db_url) == []


def test_migrating_again_is_a_no_op(db_url: str) -> None:
    before = (dump_schema(db_url), migration_history(db_url))
    assert migrate(db_url) == []
    assert (dump_schema(db_url), migration_history(db_url)) == before


def test_concurrent_migrations_apply_each_file_once(server_url: str) -> None:
    url = empty_database(server_url)
    applied: list[list[str]] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        applied.append([m.version for m in migrate(url)])

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_versions = sorted(v for run_versions in applied for v in run_versions)
    assert all_versions == [m.version for m in load_migrations()]
    assert len(applied) == 3


def test_migrations_apply_on_postgresql_15(tmp_path: Path, db_url: str) -> None:
    if not (PG15 / "postgres").exists():
        pytest.skip(f"PostgreSQL 15 is not installed at {PG15}; .ci/run installs it (apt postgresql-15)")
    server = EmbeddedPostgres(tmp_path / "pg15", bin_dir=PG15, settings={"fsync": "off"})
    url = server.start()
    try:
        assert server.version() == "15"
        assert len(migrate(url)) == len(load_migrations())
        assert migrate(url) == []
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("select collab.schema_version()").fetchone() == (4,)
            job_id = conn.execute("select job_id from collab.assign_job_v1(type => 't', executor_id => 'ex')"
                                  ).fetchone()[0]
            conn.execute("select * from collab.claim_one_job_v3(executor_id => 'ex', worker_id => 'w')")
            status = conn.execute("select status from collab.complete_job_v1(job_id => %s, worker_id => 'w')",
                                  (job_id,)).fetchone()
        assert status == ("succeeded",)
        assert schema_fingerprint(url) == schema_fingerprint(db_url)
    finally:
        server.destroy()
