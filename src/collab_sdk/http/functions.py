"""functions-framework targets: each function is the same route the Collab API serves.

Each target is an ``async`` HTTP function registered with ``functions_framework.aio.http``,
so functions-framework (3.9+) serves it in ASGI mode (Starlette under uvicorn) — no flag
needed. ``functions/<name>/main.py`` imports its target from here; deployed, the target
builds the process's ``Runtime.from_env()`` on first use (client, authenticator,
settings) and dispatches every request through the same pipeline as ``collab serve``::

    functions-framework --source functions/dlq-list/main.py --target dlq_list --port 8080
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import functions_framework.aio
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse

from collab_sdk.http.app import core_request, starlette_response
from collab_sdk.http.pipeline import dispatch
from collab_sdk.http.routes import route_for_function
from collab_sdk.http.runtime import Runtime, shared_runtime

__all__ = ["function_target", "dlq_list", "dlq_retry", "sign_artifact", "jobs_recent",
           "workers_active", "metrics_overview"]

Target = Callable[[StarletteRequest], Awaitable[StarletteResponse]]


def function_target(name: str, runtime: Callable[[], Runtime] = shared_runtime) -> Target:
    """The functions-framework ASGI HTTP target serving function ``name`` (``dlq-list`` …)."""
    route = route_for_function(name)

    async def target(request: StarletteRequest) -> StarletteResponse:
        answer = await dispatch(runtime(), route, await core_request(request), {})
        return starlette_response(answer, head=request.method == "HEAD")

    target.__name__ = target.__qualname__ = name.replace("-", "_")
    target.__doc__ = f"functions-framework target of {name}: {route.summary}"
    functions_framework.aio.http(target)  # registers the name as an ASGI target
    return target


dlq_list = function_target("dlq-list")
dlq_retry = function_target("dlq-retry")
sign_artifact = function_target("sign-artifact")
jobs_recent = function_target("jobs-recent")
workers_active = function_target("workers-active")
metrics_overview = function_target("metrics-overview")
