"""``collab supabase install|upgrade [--project-dir DIR]``: collab's packaged migrations
copied into a Supabase project's ``supabase/migrations/`` (``collab_sdk.local.install``),
so the project's own ``supabase db push`` applies them next to its migrations."""

from __future__ import annotations

from pathlib import Path

import click

from collab_sdk.cli.base import group
from collab_sdk.cli.output import print_line
from collab_sdk.exits import ExitStatus
from collab_sdk.local.install import InstallReport, install_migrations, upgrade_migrations

__all__ = ["register", "supabase", "cmd_install", "cmd_upgrade"]


@group("supabase", help="collab inside a Supabase project: its migrations in supabase/migrations/")
def supabase() -> None:
    """``collab supabase``."""


def register(cli: click.Group) -> None:
    """Add ``collab supabase install`` and ``supabase upgrade``."""
    cli.add_command(supabase)


def _report(report: InstallReport) -> int:
    for migration in report.copied:
        print_line(f"added {report.directory / migration.filename}")
    print_line(f"{len(report.copied)} migration(s) added, {len(report.unchanged)} already there; "
               "apply them with `supabase db push` (or `collab db migrate --project-dir DIR`)")
    if report.out_of_order:
        print_line(f"note: {len(report.out_of_order)} of them are older than the project's newest "
                   "migration: run `supabase db push --include-all`")
    return ExitStatus.OK


_PROJECT_HELP = "the Supabase project's root (the directory holding supabase/)"


@supabase.command("install", help="copy collab's migrations into <project>/supabase/migrations/ "
                                  "(refuses to overwrite a different file of the same version)")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help=_PROJECT_HELP)
def cmd_install(project_dir: Path) -> int:
    """Copy the packaged migrations the project lacks."""
    return _report(install_migrations(project_dir))


@supabase.command("upgrade", help="add the newer collab migrations to a project that has collab's")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help=_PROJECT_HELP)
def cmd_upgrade(project_dir: Path) -> int:
    """Copy the packaged migrations newer than the project's copy of collab."""
    return _report(upgrade_migrations(project_dir))
