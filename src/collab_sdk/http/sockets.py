"""WebSockets: the route type's pipeline and ``WS /api/collab/events/ws``.

``serve_socket(runtime, route, socket)`` is to a ``SocketRoute`` what ``dispatch`` is to a
``Route``, over any ``pipeline.Socket``:

1. **Origin**: a browser's ``Origin`` must be the server's own (a page it served, such as
   the dashboard: the origin's host and port are the ``Host`` header) or one
   ``COLLAB_CORS_ORIGINS`` allows (the development defaults allow localhost); clients that
   send none (servers, CLIs) pass.
2. **Auth**, never with a long-lived secret in the URL, first found wins:
   ``Authorization: Bearer`` / ``x-api-key`` headers (clients that can set headers); a
   ``Sec-WebSocket-Protocol`` offer of ``collab.v1, bearer.<JWT>`` (browsers; the server
   answers ``collab.v1`` and never echoes the token); or, after the handshake, a first
   message ``{"type": "auth", "token": "<JWT>"}`` within ``AUTH_TIMEOUT_SECONDS``. Under
   ``collab dev`` (a ``LoopbackAuthenticator``) a handshake with neither headers nor a token
   offer is the development identity at once, with its loopback checks — so the dashboard
   follows a run there without sign-in. The caller is then counted against the rate limit
   like any request.
3. **Query** validation, then the route's handler with a ``Call`` acting as the caller.

A refusal accepts the handshake and closes at once with ``4000 + the HTTP status`` the
same failure would have over HTTP, and its code as the reason: 4401 for a missing,
expired or forged token (before any event), 4403 for a refused origin, 4404 for a job the
caller cannot see, 4400/4422 for a bad query, 4429 when rate limited.

``events_socket`` (``WS /api/collab/events/ws?jobId=|executorId=&since=``) carries the SSE
endpoint's stream as JSON text messages: first ``{"type": "snapshot", "job", "seq"}`` (the
job, for a job stream; ``seq`` is where events resume), then ``{"type": "event",
"event"}`` for each committed event after ``since``, once and in ``seq`` order (reconnect
with ``since`` = the last ``seq`` seen), and ``{"type": "end", "reason"}`` when a job's
final event has been sent (``final``, close 1000), after the query's ``timeout`` seconds if
it names one (``timeout``, close 1000) or when the server shuts down (``shutdown``, close
1001). The client
may send ``{"type": "ping"}`` at any time and gets ``{"type": "pong"}``; uvicorn pings at
the protocol level too. **Backpressure**: each socket has a bounded outbox
(``COLLAB_WS_BUFFER`` messages, default 256, behind the viewer's own bounded buffer of
``COLLAB_STREAM_BUFFER`` events, ``collab_sdk.http.feeds``); a client that leaves the
outbox full for ``COLLAB_WS_SLOW_SECONDS`` (default 5), or its viewer's buffer without
room for ``COLLAB_STREAM_SLOW_SECONDS``, is dropped with close code ``4009``
(``slow_consumer``): what it had not taken is forgotten, and it reconnects with ``since``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Collection
from typing import Any
from urllib.parse import urlsplit

from collab_sdk.auth.tokens import AuthError, Identity
from collab_sdk.http import wire
from collab_sdk.http.bodies import validate_query
from collab_sdk.http.devauth import LoopbackAuthenticator
from collab_sdk.http.errors import Failure, HttpError, failure_for
from collab_sdk.http.feeds import SlowConsumer, Viewer
from collab_sdk.http.pipeline import Call, Socket, SocketRoute, caller_key, path_value
from collab_sdk.http.runtime import Runtime
from collab_sdk.http.sse import open_stream, resume_point, stream_job

__all__ = ["serve_socket", "events_socket", "relay", "SUBPROTOCOL", "TOKEN_PREFIX",
           "AUTH_TIMEOUT_SECONDS", "CLOSE_SLOW_CONSUMER", "CLOSE_NORMAL", "CLOSE_GOING_AWAY",
           "close_code"]

log = logging.getLogger("collab.http")

#: The subprotocol a browser offers (with ``bearer.<JWT>``) and the server answers.
SUBPROTOCOL = "collab.v1"
#: The prefix of the subprotocol entry that carries the token.
TOKEN_PREFIX = "bearer."
#: How long the server waits for a first ``auth`` message.
AUTH_TIMEOUT_SECONDS = 10.0
#: The close code of a client whose bounded outbox filled (it read too slowly).
CLOSE_SLOW_CONSUMER = 4009
#: The close codes of a finished stream and of a server shutdown.
CLOSE_NORMAL, CLOSE_GOING_AWAY = 1000, 1001
#: How long a dropped slow client gets to take its close frame before the socket is cut.
_DROP_GRACE_SECONDS = 10.0


def close_code(failure: Failure) -> int:
    """The close code of a failure: ``4000 + its HTTP status``."""
    return 4000 + failure.status


async def _refuse(socket: Socket, failure: Failure, accepted: bool,
                  subprotocol: str | None = None) -> None:
    if not accepted:
        await socket.accept(subprotocol)
    await socket.send_text(json.dumps({"type": "error", **failure.envelope()}))
    await socket.close(close_code(failure), failure.code[:120])


async def serve_socket(runtime: Runtime, route: SocketRoute, socket: Socket) -> None:
    """Check the origin, authenticate, validate, and run ``route.handler``; never raises."""
    started = time.perf_counter()
    identity: Identity | None = None
    accepted = False
    offered = socket.subprotocols
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    outcome = "closed"
    try:
        origin = socket.headers.get("origin")
        if origin and not (_same_origin(origin, socket.headers.get("host"))
                           or runtime.settings.allows_origin(origin)):
            raise HttpError(403, "origin_not_allowed", "this origin may not open sockets here")
        token = next((p[len(TOKEN_PREFIX):] for p in offered if p.startswith(TOKEN_PREFIX)), None)
        if "authorization" in socket.headers or "x-api-key" in socket.headers:
            identity = await runtime.authenticator.authenticate_async(socket.headers)
        elif token:
            identity = await runtime.authenticator.verify_token_async(token)
        elif isinstance(runtime.authenticator, LoopbackAuthenticator):
            identity = await runtime.authenticator.authenticate_async(socket.headers)
        await socket.accept(subprotocol)
        accepted = True
        if identity is None:
            identity = await _first_message_auth(runtime, socket)
        await runtime.rate_limiter.hit(caller_key(identity))
        path = {name: path_value(name, value) for name, value in socket.path_params.items()}
        query = validate_query(route.query, socket.query) if route.query else None
        call = Call(runtime, identity, runtime.client_for(identity), query=query, path=path,
                    headers=socket.headers)
        await route.handler(call, socket)
        outcome = "ok"
    except Exception as exc:
        failure = failure_for(exc)
        outcome = failure.code
        if failure.unexpected:
            log.error("socket %s failed: %s", route.name, type(exc).__name__, exc_info=exc)
        try:
            await _refuse(socket, failure, accepted, subprotocol)
        except Exception:  # the client is gone already
            pass
    finally:
        record: dict[str, Any] = {"event": "ws_session", "route": route.name, "outcome": outcome,
                                  "durationMs": round((time.perf_counter() - started) * 1000, 2)}
        if identity is not None:
            record["caller"] = identity.subject or identity.via
        log.info(json.dumps(record))


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether a browser's ``Origin`` is this server's own: its host[:port] is ``Host``."""
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return bool(host) and netloc.lower() == (host or "").lower()


async def _first_message_auth(runtime: Runtime, socket: Socket) -> Identity:
    try:
        text = await asyncio.wait_for(socket.receive_text(), AUTH_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        raise AuthError("missing_credentials", "send {\"type\": \"auth\", \"token\": <JWT>} first") from None
    if text is None:
        raise AuthError("missing_credentials", "the client left before authenticating")
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("type") != "auth" \
            or not isinstance(message.get("token"), str) or not message["token"]:
        raise AuthError("missing_credentials", "the first message must be {\"type\": \"auth\", \"token\": <JWT>}")
    return await runtime.authenticator.verify_token_async(message["token"])


async def events_socket(call: Call, socket: Socket) -> None:
    """``WS /api/collab/events/ws``: snapshot, then each event once in seq order (see the
    module doc)."""
    query: wire.StreamQuery = call.query
    since = resume_point(query, None)
    job = await stream_job(call.client, query)
    snapshot = {"type": "snapshot", "seq": since,
                "job": job.model_dump(mode="json", by_alias=True) if job is not None else None}
    await socket.send_text(json.dumps(snapshot))
    viewer = open_stream(call, query, since)
    try:
        await relay(call.runtime, socket, _event_messages(viewer), query.timeout)
    finally:
        await viewer.aclose()


async def _event_messages(viewer: Viewer) -> AsyncIterator[str]:
    async for item in viewer:
        yield item.ws


async def relay(runtime: Runtime, socket: Socket, messages: AsyncIterator[str],
                timeout: float | None = None) -> None:
    """Send each of ``messages`` (JSON text) through the socket's bounded outbox, answer
    pings, and end as the module doc says: ``end`` ``final`` once ``messages`` is over,
    ``timeout`` after ``timeout`` seconds, ``shutdown`` when the server stops; a client
    that leaves the outbox full is dropped (4009); a client that goes away ends it
    quietly. Every task it starts is done when it returns."""
    outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=runtime.settings.ws_buffer)

    async def pump() -> str:
        async for message in messages:
            try:  # a burst may fill the outbox; a client that never makes room is dropped
                await asyncio.wait_for(outbox.put(message), runtime.settings.ws_slow_seconds)
            except asyncio.TimeoutError:
                raise SlowConsumer() from None
        return "final"

    async def write() -> None:
        while (message := await outbox.get()) is not None:
            await socket.send_text(message)

    async def read() -> None:
        while (text := await socket.receive_text()) is not None:
            if _message_type(text) == "ping" and not outbox.full():
                outbox.put_nowait('{"type": "pong"}')

    tasks: dict[str, asyncio.Future[object]] = {name: asyncio.ensure_future(coro) for name, coro in (
        ("pump", pump()), ("write", write()), ("read", read()),
        ("shutdown", runtime.shutting_down.wait()))}
    if timeout is not None:
        tasks["timeout"] = asyncio.ensure_future(asyncio.sleep(timeout))
    try:
        done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
        if tasks["read"] in done or tasks["write"] in done:
            return  # the client went away (or a send failed): nothing left to tell it
        tasks["pump"].cancel()
        reason = "timeout" if "timeout" in tasks and tasks["timeout"] in done else "shutdown"
        if tasks["pump"] in done:
            exc = tasks["pump"].exception()
            if isinstance(exc, SlowConsumer):
                await _drop(socket, outbox, tasks["write"])
                return
            if exc is not None:
                raise exc
            reason = "final"
        await outbox.put(json.dumps({"type": "end", "reason": reason}))
        await outbox.put(None)
        await asyncio.wait([tasks["write"]], timeout=_DROP_GRACE_SECONDS)
        await socket.close(CLOSE_GOING_AWAY if reason == "shutdown" else CLOSE_NORMAL, reason)
    finally:
        await _cancel_all(tasks.values())


async def _cancel_all(tasks: Collection[asyncio.Future[object]]) -> None:
    """Cancel ``tasks`` and wait until they are done. ``asyncio.wait``, not ``gather``: if
    this task is itself cancelled meanwhile, ``gather`` would raise a child's
    ``CancelledError`` in place of ours, and the canceller (an anyio cancel scope: the
    test client's, Starlette's) would no longer recognise it as its own."""
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: a task that failed as it was cancelled is not logged


async def _drop(socket: Socket, outbox: asyncio.Queue[str | None], writer: asyncio.Future[object]) -> None:
    """Forget what the slow client has not taken, and close with ``CLOSE_SLOW_CONSUMER``
    once its current send completes (or cut it after a grace period)."""
    while not outbox.empty():
        outbox.get_nowait()
    outbox.put_nowait(None)
    await asyncio.wait([writer], timeout=_DROP_GRACE_SECONDS)
    if writer.done():
        await socket.close(CLOSE_SLOW_CONSUMER, "slow_consumer")


def _message_type(text: str) -> str | None:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message.get("type") if isinstance(message, dict) else None

