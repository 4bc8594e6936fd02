"""The ASGI app (Starlette): the Collab API under ``/api/collab``, every function under
``/functions/v1/<name>``, the WebSocket routes, ``/docs.json`` and ``/docs`` (Swagger UI
from the packaged ``swagger-ui-py`` assets, no CDN), the dashboard at ``/dashboard``
(``collab_sdk.http.dashboard``), and — in embedded mode — the signed
artifact downloads ``/storage/v1/object/sign/<bucket>/<path>?token=`` that
``sign-artifact`` issues.

A thin adapter: each route of ``collab_sdk.http.routes`` becomes a Starlette route whose
endpoint turns the Starlette request into a ``pipeline.Request``, awaits
``pipeline.dispatch`` on the server's loop and sends the ``pipeline.Response`` back;
WebSockets go through ``pipeline.Socket`` the same way. ``create_app(runtime)`` builds it;
its lifespan connects the runtime's client on startup and closes it on shutdown (where it
first tells open streams to end). ``collab_sdk.http.serve`` runs it under uvicorn.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import re
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from types import FrameType
from urllib.parse import parse_qsl
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse, Response as StarletteResponse, StreamingResponse
from starlette.routing import BaseRoute, Route as StarletteRoute, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from collab_sdk.errors import CollabError, ValidationError
from collab_sdk.http.dashboard import dashboard_routes
from collab_sdk.http.errors import Failure, failure_for
from collab_sdk.http.openapi import openapi_document
from collab_sdk.http.pipeline import (CUT_GRACE_SECONDS, Request, Response, Route, SocketRoute,
                                      dispatch, error_response, finish, request_id_of)
from collab_sdk.http.routes import FUNCTIONS_PREFIX, TABLES
from collab_sdk.http.runtime import Runtime
from collab_sdk.http.sockets import serve_socket
from collab_sdk.local.storage import verify_signed_url_token
from collab_sdk.transports.storage import check_object_path

__all__ = ["create_app", "CollabApp", "swagger_ui_dir", "core_request", "starlette_response", "starlette_path",
           "StarletteSocket"]

log = logging.getLogger("collab.http")

_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>collab API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/docs/assets/init.js"></script>
</body></html>
"""
_DOCS_INIT = """window.ui = SwaggerUIBundle({url: "/docs.json", dom_id: "#swagger-ui",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"});
"""
_ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
           "favicon-32x32.png", "favicon-16x16.png"}
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]  # 405s are the pipeline's
_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def swagger_ui_dir() -> Path | None:
    """The packaged Swagger UI assets (``swagger-ui-py``), or None when not installed."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(list(spec.submodule_search_locations)[0]) / "static"
    return static if (static / "swagger-ui-bundle.js").is_file() else None


@lru_cache(maxsize=1)
def _openapi_json() -> bytes:
    return json.dumps(openapi_document()).encode()


def starlette_path(path: str) -> str:
    """A route table path (``/job/<job_id>``) in Starlette's syntax (``/job/{job_id}``)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)


async def core_request(request: StarletteRequest) -> Request:
    """The pipeline's view of a Starlette request, read from its ASGI scope (Starlette's
    URL and header objects cost more than the rest of a small request's handling)."""
    scope = request.scope
    query: dict[str, list[str]] = {}
    if raw_query := scope.get("query_string"):
        for name, value in parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True):
            query.setdefault(name, []).append(value)

    async def read_body(limit: int) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
        return b"".join(chunks)

    return Request(scope["method"], scope["path"],
                   {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
                   query, read_body)


class _DroppableStream(StreamingResponse):
    """A streamed answer whose client may be dropped (``Response.dropped``): from then on a
    write the client leaves blocked for ``CUT_GRACE_SECONDS`` ends the response, and
    uvicorn closes the connection, instead of waiting for a reader that never comes."""

    def __init__(self, response: Response, dropped: asyncio.Event) -> None:
        assert response.stream is not None
        super().__init__(response.stream, status_code=response.status, headers=response.headers,
                         media_type=response.media_type or None)
        self.dropped = dropped

    async def stream_response(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as deadline:
                def arm(waited: asyncio.Future[Any]) -> None:
                    if not waited.cancelled():
                        deadline.reschedule(loop.time() + CUT_GRACE_SECONDS)

                watch = asyncio.ensure_future(self.dropped.wait())
                watch.add_done_callback(arm)
                try:
                    await super().stream_response(send)
                finally:
                    watch.cancel()
        except TimeoutError:
            log.info(json.dumps({"event": "stream_cut", "reason": "slow_consumer"}))
            closing = getattr(self.body_iterator, "aclose", None)
            if closing is not None:
                await closing()  # its cleanup (leaving the feed) runs now, not at GC


def starlette_response(response: Response, *, head: bool = False) -> StarletteResponse:
    """A pipeline ``Response`` as a Starlette one (streamed for SSE; no body for HEAD)."""
    media = response.media_type or None
    if response.stream is not None and not head:
        if response.dropped is not None:
            return _DroppableStream(response, response.dropped)
        return StreamingResponse(response.stream, status_code=response.status,
                                 headers=response.headers, media_type=media)
    return StarletteResponse(b"" if head else response.body, status_code=response.status,
                             headers=response.headers, media_type=media)


#: A route table path's Starlette endpoint.
Endpoint = Callable[[StarletteRequest], Awaitable[StarletteResponse]]


def _endpoint(runtime: Runtime, routes: list[Route]) -> Endpoint:
    by_method = {r.method: r for r in routes}
    allow = ", ".join(sorted(by_method) + ["OPTIONS"])

    async def endpoint(request: StarletteRequest) -> StarletteResponse:
        method = request.method
        route = by_method.get("GET" if method == "HEAD" else method) or \
            (routes[0] if method == "OPTIONS" or len(routes) == 1 else None)
        if route is None:
            failure = Failure(405, "method_not_allowed", f"use {allow.replace(', OPTIONS', '')}",
                              {"Allow": allow})
            answer = error_response(failure)
            finish(runtime, _lower(request.headers), answer, request_id_of(_lower(request.headers)))
            return starlette_response(answer)
        answer = await dispatch(runtime, route, await core_request(request), request.path_params)
        if answer.status == 405 and len(routes) > 1:
            answer.headers["Allow"] = allow
        if method == "OPTIONS" and "Access-Control-Allow-Methods" in answer.headers:
            answer.headers["Access-Control-Allow-Methods"] = allow  # every method of the path
        return starlette_response(answer, head=method == "HEAD")

    return endpoint


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class StarletteSocket:
    """``pipeline.Socket`` over a Starlette ``WebSocket``."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.headers: Mapping[str, str] = _lower(websocket.headers)
        query: dict[str, list[str]] = {}
        for name, value in websocket.query_params.multi_items():
            query.setdefault(name, []).append(value)
        self.query: Mapping[str, list[str]] = query
        offered = websocket.headers.get("sec-websocket-protocol", "")
        self.subprotocols = [p.strip() for p in offered.split(",") if p.strip()]
        self.path_params: Mapping[str, str] = {k: str(v) for k, v in websocket.path_params.items()}

    async def accept(self, subprotocol: str | None = None) -> None:
        """Complete the handshake."""
        await self.websocket.accept(subprotocol=subprotocol)

    async def receive_text(self) -> str | None:
        """The next text message; None once the client has gone."""
        try:
            message = await self.websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            text = message["bytes"].decode("utf-8", "replace")
        return str(text or "")

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        await self.websocket.send_text(text)

    async def close(self, code: int, reason: str = "") -> None:
        """Close with ``code`` unless already closed."""
        if self.websocket.application_state == WebSocketState.DISCONNECTED:
            return
        try:
            await self.websocket.close(code, reason)
        except RuntimeError:  # the client closed first
            pass


#: How long a shutdown signal waits for open WebSockets to close before the server hears it.
SOCKETS_CLOSE_SECONDS = 2.0


class _OpenSockets:
    """How many WebSockets this app is serving, and an event set whenever there are none."""

    def __init__(self) -> None:
        self.count = 0
        self.none = asyncio.Event()
        self.none.set()

    def opened(self) -> None:
        self.count += 1
        self.none.clear()

    def closed(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.none.set()


def _socket_endpoint(runtime: Runtime, route: SocketRoute,
                     sockets: _OpenSockets) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(websocket: WebSocket) -> None:
        sockets.opened()
        try:
            await serve_socket(runtime, route, StarletteSocket(websocket))
        finally:
            sockets.closed()

    return endpoint


def create_app(runtime: Runtime, *, handle_signals: bool = False) -> CollabApp:
    """The ASGI app serving every route with ``runtime`` (which its lifespan closes).
    ``handle_signals``: on SIGTERM/SIGINT, tell open streams to end at once, before the
    server waits for its connections to close (``collab serve``)."""
    groups: dict[str, list[Route]] = {}
    for table in TABLES:
        for route in table.routes:
            if route.path is not None:
                groups.setdefault(table.prefix + starlette_path(route.path), []).append(route)
            if route.function is not None:
                groups.setdefault(f"{FUNCTIONS_PREFIX}/{route.function}", []).append(route)
    endpoints = {path: _endpoint(runtime, group) for path, group in groups.items()}
    sockets = _OpenSockets()
    routes: list[BaseRoute] = [StarletteRoute(path, endpoint, methods=_METHODS)
                               for path, endpoint in endpoints.items()]
    routes += [WebSocketRoute(table.prefix + starlette_path(s.path), _socket_endpoint(runtime, s, sockets))
               for table in TABLES for s in table.sockets]

    async def docs_json(request: StarletteRequest) -> StarletteResponse:
        return _finished(runtime, request, Response(body=_openapi_json()))

    async def docs(request: StarletteRequest) -> StarletteResponse:
        if swagger_ui_dir() is None:
            return _finished(runtime, request, error_response(
                Failure(503, "docs_unavailable", "swagger-ui-py is not installed")))
        return _finished(runtime, request, Response(body=_DOCS_HTML.encode(), media_type="text/html"))

    async def docs_asset(request: StarletteRequest) -> StarletteResponse:
        name = request.path_params["name"]
        if name == "init.js":
            return StarletteResponse(_DOCS_INIT, media_type="text/javascript")
        folder = swagger_ui_dir()
        if folder is None or name not in _ASSETS:
            return _finished(runtime, request, error_response(Failure(404, "not_found", "no such asset")))
        return FileResponse(folder / name, headers={"Cache-Control": "public, max-age=3600"})

    async def signed_download(request: StarletteRequest) -> StarletteResponse:
        return _signed_download(runtime, request)

    routes += [StarletteRoute("/docs.json", docs_json, methods=["GET"]),
               StarletteRoute("/docs", docs, methods=["GET"]),
               StarletteRoute("/docs/assets/{name}", docs_asset, methods=["GET"]),
               StarletteRoute("/storage/v1/object/sign/{bucket}/{path:path}", signed_download,
                              methods=["GET"])]
    routes += dashboard_routes(runtime)

    async def http_error(request: StarletteRequest, exc: Exception) -> StarletteResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        allow = {"Allow": headers["Allow"]} if "Allow" in headers else {}
        return _finished(runtime, request, error_response(
            Failure(status, _CODES.get(status, "http_error"), str(detail), allow)))

    async def unexpected(request: StarletteRequest, exc: Exception) -> StarletteResponse:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return _finished(runtime, request, error_response(failure_for(exc)))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.client.connect()  # fail fast on an unreachable database or a foreign schema
        restore = _chain_signals(runtime, sockets) if handle_signals else None
        try:
            yield
        finally:
            runtime.shutting_down.set()
            if restore is not None:
                restore()
            await runtime.aclose()

    return CollabApp(Starlette(routes=routes, lifespan=lifespan,
                               exception_handlers={HTTPException: http_error, Exception: unexpected}),
                     {path: endpoint for path, endpoint in endpoints.items() if "{" not in path})


class CollabApp:
    """The ASGI app ``create_app`` returns: an HTTP request for a path without parameters
    (``/api/collab/task.claim``…) goes straight to its pipeline endpoint, found in a dict;
    everything else — paths with parameters, WebSockets, the lifespan, the docs, the
    dashboard — to the Starlette app (``starlette``). Starlette's router tries its routes'
    patterns in turn and wraps every call in its middleware: for a small request, about as
    much work as the pipeline itself."""

    def __init__(self, starlette: Starlette, endpoints: Mapping[str, Endpoint]) -> None:
        self.starlette = starlette
        self.endpoints = dict(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None:
                response = await endpoint(StarletteRequest(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


def _chain_signals(runtime: Runtime, sockets: _OpenSockets) -> Callable[[], None] | None:
    """Put a SIGTERM/SIGINT handler in front of the server's own (uvicorn installs its
    handlers before the lifespan starts) that sets ``runtime.shutting_down`` on the loop,
    and passes the signal on once every WebSocket has closed (at most
    ``SOCKETS_CLOSE_SECONDS`` later): uvicorn's shutdown closes the sockets still open
    with 1012 at once, before their own ``end`` message and close 1001 could go out. A
    second signal goes straight to the server (uvicorn's forced exit)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    passing: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references to tasks

    async def pass_on(then: Callable[[int, FrameType | None], Any], signum: int,
                      frame: FrameType | None) -> None:
        runtime.shutting_down.set()
        try:
            await asyncio.wait_for(sockets.none.wait(), SOCKETS_CLOSE_SECONDS)
        except asyncio.TimeoutError:
            pass
        then(signum, frame)

    def handler(signum: int, frame: FrameType | None) -> None:
        then = previous.get(signal.Signals(signum))
        if not callable(then):
            loop.call_soon_threadsafe(runtime.shutting_down.set)
        elif runtime.shutting_down.is_set():
            then(signum, frame)
        else:
            loop.call_soon_threadsafe(lambda: passing.add(loop.create_task(pass_on(then, signum, frame))))

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _finished(runtime: Runtime, request: StarletteRequest, response: Response) -> StarletteResponse:
    headers = _lower(request.headers)
    finish(runtime, headers, response, request_id_of(headers))
    return starlette_response(response, head=request.method == "HEAD")


def _signed_download(runtime: Runtime, request: StarletteRequest) -> StarletteResponse:
    """Serve an object of the embedded storage if the URL's token signs it and is live."""
    bucket, path = request.path_params["bucket"], request.path_params["path"]
    storage = runtime.local_storage
    if storage is None:
        return _finished(runtime, request, error_response(
            Failure(404, "not_found", "no embedded storage here")))
    token = request.query_params.get("token", "")
    try:
        check_object_path(bucket, path)
        verify_signed_url_token(storage.secret, bucket, path, token)
        target = storage.object_file(bucket, path)
    except CollabError as exc:
        bad_path = isinstance(exc, ValidationError)
        status, code = (400, "invalid_path") if bad_path else (403, "invalid_signature")
        return _finished(runtime, request, error_response(Failure(status, code, exc.message)))
    if not target.is_file():
        return _finished(runtime, request, error_response(Failure(404, "not_found", "no such object")))
    return FileResponse(target, headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Request-Id": request_id_of(_lower(request.headers))})

