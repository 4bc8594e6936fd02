"""One request, start to finish, for the Collab API and the functions alike — with no
web framework: the adapters (``collab_sdk.http.app`` for ``collab serve``,
``collab_sdk.http.functions`` for functions-framework) turn their framework's request into
a ``Request`` and this module's ``Response`` back into theirs.

``await dispatch(runtime, route, request, path_args)`` gives the request an id
(``X-Request-Id`` echoed or made), answers CORS preflights, authenticates the caller,
counts it against its rate limit, reads and validates the body / query / path, awaits
the route's ``async`` handler with a ``Call`` (whose client is the caller's
``AsyncCollabClient``: no thread, no loop hop) and turns its answer (a pydantic model, or a
ready ``Response`` such as a stream) into camelCase JSON. Every failure becomes the error
envelope (``collab_sdk.http.errors``). Each request leaves one JSON access-log line on the
``collab.http`` logger; credentials are never logged.

``SocketRoute`` is the WebSocket route type: ``await serve_socket(runtime, route, socket)``
checks the origin and authenticates (see ``collab_sdk.http.sockets``) over any ``Socket``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from pydantic import BaseModel

from collab_sdk.auth.tokens import Identity
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.http.bodies import read_json, validate_body, validate_query
from collab_sdk.http.errors import Failure, HttpError, failure_for

if TYPE_CHECKING:
    from collab_sdk.http.runtime import Runtime

__all__ = ["Request", "Response", "Route", "RouteTable", "SocketRoute", "Socket", "Call", "dispatch", "json_response", "error_response", "request_id_of",
           "finish", "path_value", "caller_key", "CUT_GRACE_SECONDS"]

log = logging.getLogger("collab.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: How long a dropped stream's client gets to take what was sent before it is cut.
CUT_GRACE_SECONDS = 5.0
_CORS_HEADERS = ("Authorization, Content-Type, X-Api-Key, X-Idempotency-Key, X-Request-Id, "
                 "X-Collab-Signature, X-Collab-Delivery")


@dataclass
class Request:
    """What the pipeline needs of a request: lower-case ``headers``, the query string as
    lists of values, and ``read_body(limit)`` answering at most ``limit + 1`` bytes."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, list[str]]
    read_body: Callable[[int], Awaitable[bytes]]


@dataclass
class Response:
    """An answer: ``body`` bytes, or ``stream`` (an async iterator of chunks) for SSE."""

    status: int = 200
    body: bytes = b""
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None
    #: For a stream: set once its client is dropped (a slow consumer). The stream still
    #: yields its last chunks; a write the client leaves blocked for ``CUT_GRACE_SECONDS``
    #: more ends the response there (the adapter closes the connection).
    dropped: asyncio.Event | None = None


@dataclass
class Call:
    """What a handler gets: the caller's client, the validated inputs, the runtime."""

    runtime: Runtime
    identity: Identity | None
    client: AsyncCollabClient
    body: Any = None
    query: Any = None
    path: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The request body as sent, for a ``raw_body`` route (a signed webhook delivery).
    raw: bytes | None = None


#: A handler answers a model (sent as JSON) or a ready ``Response`` (a stream).
Handler = Callable[[Call], Awaitable["BaseModel | Response"]]


@dataclass(frozen=True)
class Route:
    """One operation: served at its table's prefix + ``path`` and, with ``function``, as
    that functions-framework target (``/functions/v1/<function>`` under ``collab serve``)."""

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
    #: Hand the handler the body's bytes unparsed (``Call.raw``): the route checks them.
    raw_body: bool = False
    #: The route answers 201 when it made the resource (200 when a key named an old one).
    creates: bool = False


class Socket(Protocol):
    """A WebSocket, whatever serves it: the adapter implements these."""

    headers: Mapping[str, str]
    query: Mapping[str, list[str]]
    #: The subprotocols the client offered (``Sec-WebSocket-Protocol``), in order.
    subprotocols: list[str]
    #: The route's path arguments (``/runs/<run_id>``: ``{"run_id": ...}``).
    path_params: Mapping[str, str]

    async def accept(self, subprotocol: str | None = None) -> None:
        """Complete the handshake, choosing ``subprotocol`` (one the client offered)."""
        ...

    async def receive_text(self) -> str | None:
        """The next text message, or None once the client has gone."""
        ...

    async def send_text(self, text: str) -> None:
        """Send one text message (waits while the client does not read)."""
        ...

    async def close(self, code: int, reason: str = "") -> None:
        """Close with ``code``; harmless when already closed."""
        ...


#: A socket handler serves an accepted, authenticated socket until it ends.
SocketHandler = Callable[[Call, Socket], Awaitable[None]]


@dataclass(frozen=True)
class SocketRoute:
    """A WebSocket operation at its table's prefix + ``path``; its path arguments and
    query are validated like a route's, and the caller authenticates as
    ``collab_sdk.http.sockets`` describes."""

    name: str
    path: str
    handler: SocketHandler
    summary: str
    query: type[BaseModel] | None = None


@dataclass(frozen=True)
class RouteTable:
    """One API: its routes and WebSocket routes, served under ``prefix``; ``tag`` names
    it in the OpenAPI document."""

    tag: str
    prefix: str
    routes: tuple[Route, ...]
    sockets: tuple[SocketRoute, ...] = ()


def request_id_of(headers: Mapping[str, str]) -> str:
    """The caller's ``X-Request-Id`` when it is sane, else a fresh one."""
    given = headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


async def dispatch(runtime: Runtime, route: Route, request: Request,
                   path_args: Mapping[str, Any]) -> Response:
    """Serve ``request`` with ``route``; never raises."""
    started = time.perf_counter()
    request_id = request_id_of(request.headers)
    identity: Identity | None = None
    failure: Failure | None = None
    if request.method == "OPTIONS":
        response = Response(status=204, media_type="")
        if runtime.settings.allows_origin(request.headers.get("origin")):
            response.headers["Access-Control-Allow-Methods"] = f"{route.method}, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
    elif request.method != route.method and not (request.method == "HEAD" and route.method == "GET"):
        failure = Failure(405, "method_not_allowed", f"use {route.method}",
                          {"Allow": f"{route.method}, OPTIONS"})
        response = error_response(failure)
    else:
        try:
            identity = await _authenticate(runtime, route, request)
            call = await _prepare(runtime, route, request, path_args, identity)
            answer = await route.handler(call)
            response = answer if isinstance(answer, Response) else json_response(answer)
        except Exception as exc:  # every failure answers the envelope
            failure = failure_for(exc)
            if failure.unexpected:
                log.error("request %s failed: %s", request_id, type(exc).__name__, exc_info=exc)
            response = error_response(failure)
    finish(runtime, request.headers, response, request_id)
    _access_log(request, route.name, response, request_id, identity, failure, started)
    return response


async def _authenticate(runtime: Runtime, route: Route, request: Request) -> Identity | None:
    if not route.auth:
        return None
    identity = await runtime.authenticator.authenticate_async(request.headers)
    await runtime.rate_limiter.hit(caller_key(identity))
    return identity


def caller_key(identity: Identity) -> str:
    """The rate limiter's key for a caller."""
    return f"sub:{identity.subject}" if identity.subject else f"{identity.via}:{identity.role}"


async def _prepare(runtime: Runtime, route: Route, request: Request, path_args: Mapping[str, Any],
                   identity: Identity | None) -> Call:
    path = {name: path_value(name, value) for name, value in path_args.items()}
    query = validate_query(route.query, request.query) if route.query else None
    body = raw = None
    if route.raw_body:
        raw = await _read_body(request, runtime.settings.max_body_bytes)
    elif route.body is not None:
        value = read_json(await _read_body(request, runtime.settings.max_body_bytes),
                          request.headers.get("content-type"), required=route.body_required)
        body = validate_body(route.body, value)
    client = runtime.client_for(identity) if identity is not None else runtime.client
    return Call(runtime, identity, client, body, query, path, request.headers, raw)


def path_value(name: str, value: Any) -> Any:
    """A path argument: ``*_id`` must be a UUID (400 ``invalid_id``)."""
    if name.endswith("_id"):
        try:
            return UUID(str(value))
        except ValueError:
            raise HttpError(400, "invalid_id", f"{name} must be a UUID") from None
    return value


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HttpError(413, "body_too_large", f"the request body is larger than {limit} bytes")
    raw = await request.read_body(limit)
    if len(raw) > limit:
        raise HttpError(413, "body_too_large", f"the request body is larger than {limit} bytes")
    return raw


def json_response(model: BaseModel, status: int = 200) -> Response:
    """``model`` as camelCase JSON."""
    return Response(status, model.model_dump_json(by_alias=True).encode())


def error_response(failure: Failure) -> Response:
    """The error envelope of ``failure``, with its headers."""
    return Response(failure.status, json.dumps(failure.envelope()).encode(),
                    headers=dict(failure.headers))


def finish(runtime: Runtime, headers: Mapping[str, str], response: Response, request_id: str) -> None:
    """The headers every answer carries: the request id, no caching, nosniff, CORS."""
    response.headers["X-Request-Id"] = request_id
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    origin = headers.get("origin")
    if runtime.settings.allows_origin(origin):
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
        response.headers["Vary"] = "Origin"
        if runtime.settings.allows_credentials(origin):
            response.headers["Access-Control-Allow-Credentials"] = "true"


def _access_log(request: Request, route: str, response: Response, request_id: str,
                identity: Identity | None, failure: Failure | None, started: float) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    record: dict[str, Any] = {
        "event": "http_request", "requestId": request_id, "route": route,
        "method": request.method, "path": request.path, "status": response.status,
        "durationMs": round((time.perf_counter() - started) * 1000, 2),
    }
    if identity is not None:
        record["caller"] = identity.subject or identity.via
    if failure is not None:
        record["error"] = failure.code
    log.info(json.dumps(record))
