"""Where collab's SQL lives: the copy packaged in the wheel, else collab's own checkout.

The wheel carries ``supabase/migrations`` and ``sql/supabase_compat.sql`` under
``collab_sdk/local/_sql``. An editable install of the repository has no such copy and
reads the checkout's files — but only when the tree around the package is collab's own
(its ``pyproject.toml`` names ``collab-sdk``): a copy of the package vendored inside a
user's Supabase project must never apply that project's migrations as collab's.
"""

from __future__ import annotations

from pathlib import Path

_LOCAL = Path(__file__).resolve().parent
_PACKAGED = _LOCAL / "_sql"
_CHECKOUT = _LOCAL.parent.parent.parent  # src/collab_sdk/local -> the repository root

__all__ = ["migrations_dir", "compat_sql_path"]


def _sql_root() -> tuple[Path, Path]:
    """(migrations directory, compat SQL file) of the wheel or of collab's checkout."""
    if (_PACKAGED / "migrations").is_dir():
        return _PACKAGED / "migrations", _PACKAGED / "supabase_compat.sql"
    pyproject = _CHECKOUT / "pyproject.toml"
    if pyproject.is_file() and 'name = "collab-sdk"' in pyproject.read_text():
        return _CHECKOUT / "supabase" / "migrations", _CHECKOUT / "sql" / "supabase_compat.sql"
    raise FileNotFoundError(f"collab's SQL is missing: neither {_PACKAGED} nor a collab "
                            f"checkout at {_CHECKOUT}; reinstall collab-sdk")


def migrations_dir() -> Path:
    """The directory of collab's migrations (``supabase/migrations`` of the source)."""
    return _sql_root()[0]


def compat_sql_path() -> Path:
    """``sql/supabase_compat.sql``: what plain PostgreSQL needs to look like Supabase."""
    return _sql_root()[1]
