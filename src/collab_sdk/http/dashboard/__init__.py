"""The operator's dashboard at ``/dashboard``: plain HTML, CSS and JavaScript shipped in
this package (``static/``: nothing from a CDN, no Node toolchain), served by ``collab
serve`` and ``collab dev``.

The page reads the seed Worker Queue API (``/api/jobs``: counts and the seed's sections)
and the Collab API (``/api/collab``: metrics, dead letters, workers, a job's summary,
signed artifact links) with ``fetch``, sending the operator's JWT (pasted in the page,
kept in ``sessionStorage``) as ``Authorization`` — so RLS shows it exactly what the token
may see — or nothing under ``collab dev`` (``collab_sdk.http.devauth``). It stays live
from the executor's gapless event stream (``GET /api/collab/events/stream``, read with
``fetch`` so the token travels in a header), never from a polling loop: it takes the log's
head (``GET /dashboard/api/events/head``) *before* loading, streams every event after it,
and refreshes what an event touches; after a drop it reconnects with ``Last-Event-ID`` =
the last seq seen, so nothing committed during the gap is missed.

``dashboard_routes(runtime)`` are the page's Starlette routes (``app.create_app`` adds
them); ``DASHBOARD_API`` is the one route of its own (the head seq), a ``RouteTable``
like every API's.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import TYPE_CHECKING

from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.routing import BaseRoute, Route as StarletteRoute

from collab_sdk.http.devauth import LoopbackAuthenticator
from collab_sdk.http.jobs_api import QueueSettings
from collab_sdk.http.pipeline import Call, Route, RouteTable, finish, request_id_of
from collab_sdk.http.wire import Body

if TYPE_CHECKING:
    from collab_sdk.http.runtime import Runtime

__all__ = ["DASHBOARD_PATH", "DASHBOARD_API", "ASSETS", "HeadAnswer", "events_head",
           "dashboard_routes", "asset_bytes"]

DASHBOARD_PATH = "/dashboard"
#: The files of ``static/`` the page may load, with their media types.
ASSETS = {"dashboard.js": "text/javascript", "workflows.js": "text/javascript",
          "dashboard.css": "text/css", "favicon.svg": "image/svg+xml"}
#: Scripts and styles from this server only; fetches to it only; never framed.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


class HeadAnswer(Body):
    """`{ seq }`: follow the event log from here to see every later event."""

    seq: int


async def events_head(call: Call) -> HeadAnswer:
    """`GET /dashboard/api/events/head`: the log's head seq (``events_head``)."""
    return HeadAnswer(seq=await call.client.events_head())


#: The dashboard's own API route.
DASHBOARD_API = RouteTable("dashboard", f"{DASHBOARD_PATH}/api", (
    Route("dashboard.head", "GET", "/events/head", events_head, HeadAnswer,
          "The event log's head seq: load, then stream `events/stream?since=<seq>`"),))


def asset_bytes(name: str) -> bytes:
    """The packaged file ``static/<name>``."""
    return files(__package__).joinpath("static", name).read_bytes()


def dashboard_routes(runtime: Runtime) -> list[BaseRoute]:
    """``/dashboard`` (the page), ``/dashboard/config.json`` and ``/dashboard/assets/<name>``."""

    def answer(request: StarletteRequest, body: bytes, media: str, status: int = 200) -> StarletteResponse:
        from collab_sdk.http.pipeline import Response
        headers = {k.lower(): v for k, v in request.headers.items()}
        response = Response(status, body, media)
        finish(runtime, headers, response, request_id_of(headers))
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return StarletteResponse(b"" if request.method == "HEAD" else response.body,
                                 status_code=status, headers=response.headers, media_type=media)

    async def page(request: StarletteRequest) -> StarletteResponse:
        return answer(request, asset_bytes("index.html"), "text/html; charset=utf-8")

    async def config(request: StarletteRequest) -> StarletteResponse:
        queue = QueueSettings.from_env()
        body = {"executorId": queue.executor_id, "jobType": queue.job_type,
                "devIdentity": isinstance(runtime.authenticator, LoopbackAuthenticator)}
        return answer(request, json.dumps(body).encode(), "application/json")

    async def asset(request: StarletteRequest) -> StarletteResponse:
        name = request.path_params["name"]
        if name not in ASSETS:
            body = json.dumps({"error": {"code": "not_found", "message": "no such asset"}}).encode()
            return answer(request, body, "application/json", 404)
        return answer(request, asset_bytes(name), ASSETS[name])

    return [StarletteRoute(DASHBOARD_PATH, page, methods=["GET", "HEAD"]),
            StarletteRoute(f"{DASHBOARD_PATH}/", page, methods=["GET", "HEAD"]),
            StarletteRoute(f"{DASHBOARD_PATH}/config.json", config, methods=["GET", "HEAD"]),
            StarletteRoute(f"{DASHBOARD_PATH}/assets/{{name}}", asset, methods=["GET", "HEAD"])]
