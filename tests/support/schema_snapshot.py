"""``sql/schema.sql``: a normalised ``pg_dump --schema-only`` of the migrated schema.

    .venv/bin/python tests/support/schema_snapshot.py --write   # regenerate after a migration

A test compares the committed snapshot with a dump of the migrated test database, so
every schema change shows up in review as a diff of this file.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg


from collab_sdk.local.embedded import EmbeddedPostgres, default_bin_dir
from collab_sdk.local.migrate import migrate

SNAPSHOT = Path(__file__).resolve().parents[2] / "sql" / "schema.sql"
_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config.*|\\(un)?restrict .*)$")


def dump_schema(url: str) -> str:
    """Schema ``collab`` of the database at ``url``, normalised (no versions, SETs,
    comments or blank-line runs), privileges included."""
    out = subprocess.run([str(default_bin_dir() / "pg_dump"), "--schema-only", "--no-owner",
                          "--schema=collab", url], check=True, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if not _NOISE.match(line)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def write_snapshot() -> None:
    """Migrate a scratch database on a throw-away server and write its dump."""
    with tempfile.TemporaryDirectory(prefix="collab-snapshot-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", settings={"fsync": "off"})
        url = server.start()
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("create database snapshot")
            db = url.rsplit("/", 1)[0] + "/snapshot"
            migrate(db)
            SNAPSHOT.write_text(dump_schema(db))
        finally:
            server.stop("immediate")
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    write_snapshot()
