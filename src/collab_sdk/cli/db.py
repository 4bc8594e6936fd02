"""``collab db migrate|url|stop``: the database's schema, and the embedded server under
``$COLLAB_HOME`` or ``./.collab``."""

from __future__ import annotations

import argparse

from collab_sdk.cli.connect import database_url, database_url_options, embedded_database_url
from collab_sdk.exits import ExitStatus

__all__ = ["register", "cmd_migrate", "cmd_url", "cmd_stop"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``collab db migrate``, ``db url`` and ``db stop``."""
    db = commands.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    db.add_parser("migrate", parents=[database_url_options()],
                  help="apply sql/ and pending migrations").set_defaults(run=cmd_migrate)
    db.add_parser("url", help="start the embedded Postgres and print its URL").set_defaults(run=cmd_url)
    db.add_parser("stop", help="stop the embedded Postgres").set_defaults(run=cmd_stop)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply ``sql/`` where needed and every pending migration; print what was applied."""
    from collab_sdk.local.migrate import migrate
    applied = migrate(database_url(args, migrated=False))
    for migration in applied:
        print(f"applied {migration.version}_{migration.name}")
    print(f"{len(applied)} migration(s) applied; schema is up to date")
    return ExitStatus.OK


def cmd_url(args: argparse.Namespace) -> int:
    """Start the embedded server if needed, migrate it, print its URL."""
    print(embedded_database_url())
    return ExitStatus.OK


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the embedded server."""
    from collab_sdk.local.home import local_server
    local_server().stop()
    return ExitStatus.OK
