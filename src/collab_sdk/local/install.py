"""Put collab's migrations into a user's Supabase project (``collab supabase install``
and ``collab supabase upgrade``).

Supabase projects keep their schema in ``supabase/migrations/``, and ``supabase db
push`` refuses a database whose history holds versions that directory lacks. So collab,
like any extension installed this way, copies its packaged migration files there —
names and versions unchanged — and the project's own tool applies them next to the
project's migrations; ``supabase migration list`` and ``collab db migrate --project-dir``
then agree with the database.

- ``install_migrations(project)`` copies every packaged migration the project lacks
  (the first install, or again later: files already there and identical are left alone);
- ``upgrade_migrations(project)`` does the same for a project that already has collab's
  migrations, and refuses one that has none (run ``install`` first).

Both refuse — copying nothing, ``InstallRefused`` — when a file of the same version but
different content or name is there: that version belongs to something else, or is a
collab migration edited in place. ``InstallReport.out_of_order`` lists the copied
versions older than the project's newest migration, which ``supabase db push`` applies
only with ``--include-all``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from collab_sdk.errors import Conflict, ConfigurationError
from collab_sdk.local.migrate import Migration, load_migrations

__all__ = ["InstallReport", "InstallRefused", "install_migrations", "upgrade_migrations",
           "project_migrations_dir"]


class InstallRefused(Conflict):
    """A project's migration of the same version as one of collab's differs from it;
    nothing was copied. ``clashes`` names the project's files."""

    def __init__(self, message: str, *, clashes: list[Path]) -> None:
        super().__init__(message)
        self.clashes = clashes


@dataclass
class InstallReport:
    """What an install or upgrade did: the files it ``copied`` (in version order), the
    ``unchanged`` collab files already there, and the copied versions that are older than
    the project's newest migration (``out_of_order``: ``supabase db push --include-all``)."""

    directory: Path
    copied: list[Migration] = field(default_factory=list)
    unchanged: list[Migration] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)


def project_migrations_dir(project_dir: Path) -> Path:
    """``<project_dir>/supabase/migrations`` of a Supabase project (one whose
    ``supabase/`` directory exists: ``supabase init`` made it); else ``ConfigurationError``."""
    supabase = Path(project_dir) / "supabase"
    if not supabase.is_dir():
        raise ConfigurationError(f"{Path(project_dir).resolve()} is not a Supabase project (no supabase/ "
                                 "directory): run `supabase init` there or pass --project-dir")
    return supabase / "migrations"


def install_migrations(project_dir: Path) -> InstallReport:
    """Copy collab's packaged migrations missing from the project (see the module doc)."""
    return _copy(project_migrations_dir(project_dir), require_installed=False)


def upgrade_migrations(project_dir: Path) -> InstallReport:
    """Copy the packaged migrations a project that has collab's lacks (see the module doc)."""
    return _copy(project_migrations_dir(project_dir), require_installed=True)


def _copy(target: Path, *, require_installed: bool) -> InstallReport:
    ours = load_migrations()
    theirs = {m.version: m for m in load_migrations(target)} if target.is_dir() else {}
    report = InstallReport(target)
    clashes: list[Path] = []
    for migration in ours:
        present = theirs.get(migration.version)
        if present is None:
            continue
        if present.name != migration.name or present.path.read_bytes() != migration.path.read_bytes():
            clashes.append(present.path)
        else:
            report.unchanged.append(migration)
    if clashes:
        raise InstallRefused(
            f"refused, nothing was copied: {len(clashes)} file(s) in {target} have the version of one of "
            f"collab's migrations but not its content: {', '.join(p.name for p in clashes)} (rename your "
            "migration to a new version with `supabase migration new`, or restore collab's file)",
            clashes=clashes)
    if require_installed and not report.unchanged:
        raise ConfigurationError(f"collab's migrations are not installed in {target}: "
                                 "run `collab supabase install` first")
    newest = max(theirs, default=None)
    target.mkdir(parents=True, exist_ok=True)
    for migration in ours:
        if migration.version in theirs:
            continue
        shutil.copyfile(migration.path, target / migration.filename)
        report.copied.append(migration)
        if newest is not None and migration.version < newest:
            report.out_of_order.append(migration.version)
    return report
