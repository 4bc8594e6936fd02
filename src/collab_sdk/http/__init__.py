"""collab's HTTP surface: the Collab API (``/api/collab``), the serverless functions
(``/functions/v1/<name>``, each also a functions-framework target), OpenAPI and Swagger
UI, and ``collab serve``. Thin: every handler validates, calls the SDK as the caller and
answers camelCase JSON. See docs/http.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collab_sdk.http.app import create_app
    from collab_sdk.http.runtime import Runtime, Settings

__all__ = ["create_app", "Runtime", "Settings"]


def __getattr__(name: str) -> Any:  # lazy, so `python -m collab_sdk.http.<module>` stays clean
    if name == "create_app":
        from collab_sdk.http.app import create_app
        return create_app
    if name in ("Runtime", "Settings"):
        from collab_sdk.http import runtime
        return getattr(runtime, name)
    raise AttributeError(f"module 'collab_sdk.http' has no attribute {name!r}")
