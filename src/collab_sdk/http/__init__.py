"""collab's HTTP surface: the Collab API (``/api/collab``), the serverless functions
(``/functions/v1/<name>``, each also a functions-framework target), OpenAPI and Swagger
UI, and ``collab serve``. Thin: every handler validates, calls the SDK as the caller and
answers camelCase JSON. See docs/http.md.
"""

from __future__ import annotations

from collab_sdk.http.app import create_app
from collab_sdk.http.runtime import Runtime, Settings

__all__ = ["create_app", "Runtime", "Settings"]
