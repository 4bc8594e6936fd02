"""``collab db migrate|url|start|stop``: the database's schema, and the embedded server
under ``$COLLAB_HOME`` or ``./.collab`` (which keeps its port across a stop and start, so
``db url`` prints the same URL, and running servers and workers reconnect to it)."""

from __future__ import annotations

from pathlib import Path

import click

from collab_sdk.cli.base import group
from collab_sdk.cli import connect
from collab_sdk.cli.connect import database_url_option, embedded_database_url
from collab_sdk.cli.output import print_line
from collab_sdk.exits import ExitStatus

__all__ = ["register", "db", "cmd_migrate", "cmd_url", "cmd_start", "cmd_stop"]


@group("db", help="database commands")
def db() -> None:
    """``collab db``."""


def register(cli: click.Group) -> None:
    """Add ``collab db migrate``, ``db url``, ``db start`` and ``db stop``."""
    cli.add_command(db)


@db.command("migrate", help="apply collab's pending migrations (those packaged with the SDK); refuses, "
                            "changing nothing, when the database's history holds versions it does not know")
@database_url_option
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="the Supabase project collab is installed into: the versions of its "
                   "supabase/migrations/ may be in the history too (they are not applied)")
def cmd_migrate(database_url: str | None, project_dir: Path | None) -> int:
    """Apply ``sql/`` where needed and every pending migration; print what was applied."""
    from collab_sdk.local.install import project_migrations_dir
    from collab_sdk.local.migrate import migrate
    project = project_migrations_dir(project_dir) if project_dir is not None else None
    applied = migrate(connect.database_url(database_url, migrated=False), project_migrations=project)
    for migration in applied:
        print_line(f"applied {migration.version}_{migration.name}")
    print_line(f"{len(applied)} migration(s) applied; schema is up to date")
    return ExitStatus.OK



@db.command("url", help="start the embedded Postgres (on its recorded port) and print its URL")
def cmd_url() -> int:
    """Start the embedded server if needed, migrate it, print its URL."""
    print_line(embedded_database_url())
    return ExitStatus.OK


@db.command("start", help="start the embedded Postgres (on its recorded port, migrated); "
                          "print its URL")
def cmd_start() -> int:
    """``db url`` under the name an operator looks for after ``db stop``."""
    print_line(embedded_database_url())
    return ExitStatus.OK


@db.command("stop", help="stop the embedded Postgres")
def cmd_stop() -> int:
    """Stop the embedded server."""
    from collab_sdk.local.home import local_server
    local_server().stop()
    return ExitStatus.OK
