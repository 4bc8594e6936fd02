"""``supabase/config.toml`` as the real supabase CLI (node_modules, pinned in
package.json) reads it: ``supabase migration list`` loads and validates the project's
config before it connects (no Docker needed), so it runs here against a migrated test
database. The file sets what collab relies on: the ``collab`` schema exposed,
``max_rows`` set on purpose (and equal to ``SupabaseTransport``'s default), Postgres 17."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from collab_sdk.transports.supabase.rpc import SupabaseTransport
from support import REPO

CLI = REPO / "node_modules" / ".bin" / "supabase"
CONFIG = REPO / "supabase" / "config.toml"


def _migration_list(workdir: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}
    return subprocess.run([str(CLI), "--workdir", str(workdir), "migration", "list",
                           f"--remote={url}?sslmode=disable"],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def cli() -> Path:
    if not CLI.exists():
        pytest.skip("supabase CLI not installed (node_modules/.bin/supabase); `./dev test` runs npm ci")
    return CLI


def test_the_cli_loads_the_config_without_a_warning(cli: Path, db_url: str) -> None:
    done = _migration_list(REPO, db_url)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "20261122000100" in out  # it got as far as reading the database's history
    assert "config" not in out.lower() and "does not recognize" not in out, out


def test_the_cli_refuses_a_config_it_cannot_parse(cli: Path, db_url: str, tmp_path: Path) -> None:
    """The control: the same command fails on a bad config, so the test above can fail."""
    (tmp_path / "supabase").mkdir()
    shutil.copytree(REPO / "supabase" / "migrations", tmp_path / "supabase" / "migrations")
    text = CONFIG.read_text()
    assert "max_rows = 1000\n" in text
    (tmp_path / "supabase" / "config.toml").write_text(text.replace("max_rows = 1000\n", 'max_rows = "many"\n'))
    done = _migration_list(tmp_path, db_url)
    assert done.returncode != 0 and "max_rows" in done.stdout + done.stderr


def test_the_config_exposes_collab_and_caps_rows_as_the_sdk_expects() -> None:
    config = tomllib.loads(CONFIG.read_text())
    assert "collab" in config["api"]["schemas"]
    assert config["api"]["max_rows"] == SupabaseTransport("http://x", "sb_secret_x").max_rows == 1000
    assert config["db"]["major_version"] == 17
    assert config["storage"]["buckets"]["artifacts"]["public"] is False
