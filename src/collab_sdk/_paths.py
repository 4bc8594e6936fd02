"""Where collab's SQL lives: the repository checkout, or the copy inside the wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent.parent  # src/collab_sdk -> repository root


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"none of {', '.join(map(str, candidates))} exists")


def migrations_dir() -> Path:
    """``supabase/migrations`` of the checkout, else the copy packaged in the wheel."""
    return _first_existing(_REPO / "supabase" / "migrations", _PACKAGE / "_sql" / "migrations")


def compat_sql_path() -> Path:
    """``sql/supabase_compat.sql`` of the checkout, else the packaged copy."""
    return _first_existing(_REPO / "sql" / "supabase_compat.sql", _PACKAGE / "_sql" / "supabase_compat.sql")


def repo_root() -> Path:
    """The repository root (where ``.collab/`` keeps the embedded database)."""
    return _REPO
