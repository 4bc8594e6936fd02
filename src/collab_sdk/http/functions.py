"""functions-framework targets: each function is the same route the Collab API serves.

``functions/<name>/main.py`` imports its target from here; deployed, the target builds
the process's ``Runtime.from_env()`` on first use (client, authenticator, settings) and
dispatches every request through the same pipeline as ``collab serve``::

    functions-framework --source functions/dlq-list/main.py --target dlq_list --port 8080
"""

from __future__ import annotations

from collections.abc import Callable

import flask

from collab_sdk.http.pipeline import dispatch
from collab_sdk.http.routes import route_for_function
from collab_sdk.http.runtime import Runtime, shared_runtime

__all__ = ["function_target", "dlq_list", "dlq_retry", "sign_artifact", "jobs_recent",
           "workers_active", "metrics_overview"]

Target = Callable[[flask.Request], flask.Response]


def function_target(name: str, runtime: Callable[[], Runtime] = shared_runtime) -> Target:
    """The functions-framework HTTP target serving function ``name`` (e.g. ``dlq-list``)."""
    route = route_for_function(name)

    def target(request: flask.Request) -> flask.Response:
        return dispatch(runtime(), route, request, {})

    target.__name__ = name.replace("-", "_")
    target.__doc__ = f"functions-framework target of {name}: {route.summary}"
    return target


dlq_list = function_target("dlq-list")
dlq_retry = function_target("dlq-retry")
sign_artifact = function_target("sign-artifact")
jobs_recent = function_target("jobs-recent")
workers_active = function_target("workers-active")
metrics_overview = function_target("metrics-overview")
