"""One request, start to finish, for the Collab API and the functions alike.

``dispatch(runtime, route, request, path_args)`` gives the request an id (``X-Request-Id``
echoed or made), answers CORS preflights, authenticates the caller, counts it against
its rate limit, reads and validates the body / query / path, calls the route's handler
with a ``Call`` and turns its answer (a pydantic model) into camelCase JSON. Every
failure becomes the error envelope (``collab_sdk.http.errors``). Each request leaves one
JSON access-log line on the ``collab.http`` logger; credentials are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import flask
from pydantic import BaseModel

from collab_sdk.auth.tokens import Identity
from collab_sdk.http.bodies import read_json, validate_body, validate_query
from collab_sdk.http.errors import Failure, HttpError, failure_for
from collab_sdk.http.runtime import Runtime
from collab_sdk.client.sync import CollabClient

__all__ = ["Route", "Call", "dispatch", "json_response", "error_response", "request_id_of"]

log = logging.getLogger("collab.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CORS_HEADERS = "Authorization, Content-Type, X-Api-Key, X-Idempotency-Key, X-Request-Id"


@dataclass
class Call:
    """What a handler gets: the caller's client, the validated inputs, the runtime."""

    runtime: Runtime
    identity: Identity | None
    client: CollabClient
    body: Any = None
    query: Any = None
    path: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


#: A handler answers a model (sent as JSON) or, for a stream, a ready ``flask.Response``.
Handler = Callable[[Call], "BaseModel | flask.Response"]


@dataclass(frozen=True)
class Route:
    """One operation: served at ``/api/collab<path>`` and, with ``function``, as that
    functions-framework target (``/functions/v1/<function>`` under ``collab serve``)."""

    name: str
    method: str
    path: str | None
    handler: Handler
    response: Any
    summary: str
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    function: str | None = None
    auth: bool = True
    errors: tuple[int, ...] = ()
    #: The 200 answer's media type (``text/event-stream`` for a stream).
    media_type: str = "application/json"


def request_id_of(request: flask.Request) -> str:
    given = request.headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def dispatch(runtime: Runtime, route: Route, request: flask.Request,
             path_args: dict[str, Any]) -> flask.Response:
    """Serve ``request`` with ``route``; never raises."""
    started = time.perf_counter()
    request_id = request_id_of(request)
    identity: Identity | None = None
    failure: Failure | None = None
    if request.method == "OPTIONS":
        response = flask.Response(status=204)
        if runtime.settings.allows_origin(request.headers.get("Origin")):
            response.headers["Access-Control-Allow-Methods"] = f"{route.method}, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
    elif request.method != route.method and not (request.method == "HEAD" and route.method == "GET"):
        failure = Failure(405, "method_not_allowed", f"use {route.method}",
                          {"Allow": f"{route.method}, OPTIONS"})
        response = error_response(failure)
    else:
        try:
            identity = _authenticate(runtime, route, request)
            call = _prepare(runtime, route, request, path_args, identity)
            answer = route.handler(call)
            response = answer if isinstance(answer, flask.Response) else json_response(answer)
        except Exception as exc:  # every failure answers the envelope
            failure = failure_for(exc)
            if failure.unexpected:
                log.error("request %s failed: %s", request_id, type(exc).__name__, exc_info=exc)
            response = error_response(failure)
    _finish(runtime, request, response, request_id)
    _access_log(request, route, response, request_id, identity, failure, started)
    return response


def _authenticate(runtime: Runtime, route: Route, request: flask.Request) -> Identity | None:
    if not route.auth:
        return None
    identity = runtime.authenticator.authenticate(dict(request.headers))
    runtime.rate_limiter.hit(_caller_key(identity))
    return identity


def _caller_key(identity: Identity) -> str:
    return f"sub:{identity.subject}" if identity.subject else f"{identity.via}:{identity.role}"


def _prepare(runtime: Runtime, route: Route, request: flask.Request, path_args: dict[str, Any],
             identity: Identity | None) -> Call:
    path = {name: _path_value(name, value) for name, value in path_args.items()}
    query = validate_query(route.query, request.args.to_dict(flat=False)) if route.query else None
    body = None
    if route.body is not None:
        raw = _read_body(request, runtime.settings.max_body_bytes)
        value = read_json(raw, request.headers.get("Content-Type"), required=route.body_required)
        body = validate_body(route.body, value)
    client = runtime.client_for(identity) if identity is not None else runtime.client
    return Call(runtime, identity, client, body, query, path,
                {k.lower(): v for k, v in request.headers.items()})


def _path_value(name: str, value: Any) -> Any:
    if name.endswith("_id"):
        try:
            return UUID(str(value))
        except ValueError:
            raise HttpError(400, "invalid_id", f"{name} must be a UUID") from None
    return value


def _read_body(request: flask.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise HttpError(413, "body_too_large", f"the request body is larger than {limit} bytes")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise HttpError(413, "body_too_large", f"the request body is larger than {limit} bytes")
    return raw


def json_response(model: BaseModel, status: int = 200) -> flask.Response:
    """``model`` as camelCase JSON."""
    return flask.Response(model.model_dump_json(by_alias=True), status=status,
                          mimetype="application/json")


def error_response(failure: Failure) -> flask.Response:
    response = flask.Response(json.dumps(failure.envelope()), status=failure.status,
                              mimetype="application/json")
    response.headers.update(failure.headers)
    return response


def _finish(runtime: Runtime, request: flask.Request, response: flask.Response,
            request_id: str) -> None:
    response.headers["X-Request-Id"] = request_id
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    origin = request.headers.get("Origin")
    if runtime.settings.allows_origin(origin):
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
        response.headers.add("Vary", "Origin")


def _access_log(request: flask.Request, route: Route, response: flask.Response, request_id: str,
                identity: Identity | None, failure: Failure | None, started: float) -> None:
    record: dict[str, Any] = {
        "event": "http_request", "requestId": request_id, "route": route.name,
        "method": request.method, "path": request.path, "status": response.status_code,
        "durationMs": round((time.perf_counter() - started) * 1000, 2),
    }
    if identity is not None:
        record["caller"] = identity.subject or identity.via
    if failure is not None:
        record["error"] = failure.code
    log.info(json.dumps(record))
