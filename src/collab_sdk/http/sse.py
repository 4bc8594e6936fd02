"""``GET /api/collab/events/stream``: a job's or an executor's events as Server-Sent Events.

Backed by ``AsyncCollabClient.watch`` (gapless, in ``seq`` order, RLS applied to the
caller): each event is one message whose ``id`` is its ``seq`` and whose ``data`` is the
event as camelCase JSON, so a browser's ``EventSource`` resumes after a drop by sending
``Last-Event-ID`` and sees every event once. Comment lines keep an idle connection alive
(and let the server notice a client that went away); the stream closes after ``timeout``
seconds (clients reconnect), a job's stream ends with an ``end`` event after the job's
final event, and every stream ends with an ``end`` event when the server shuts down.

A stream is an async generator on the server's event loop — no thread — and wakes on the
runtime's ``EventHub``: every stream of a process shares one LISTEN connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.streams import EventStream
from collab_sdk.http import wire
from collab_sdk.http.errors import HttpError, failure_for
from collab_sdk.http.pipeline import Call, Response
from collab_sdk.http.runtime import Runtime
from collab_sdk.models import JobEvent
from collab_sdk.states import FINAL_EVENT_TYPES

__all__ = ["events_stream", "open_stream", "resume_point", "KEEPALIVE_SECONDS",
           "DEFAULT_TIMEOUT_SECONDS"]

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE_SECONDS = 15.0
#: How long a stream stays open when the query names no ``timeout``.
DEFAULT_TIMEOUT_SECONDS = 300
_END = "end"


async def events_stream(call: Call) -> Response:
    """Validate, check the job is visible (a 404 before any byte is streamed), stream."""
    query: wire.StreamQuery = call.query
    since = resume_point(query, call.headers.get("last-event-id"))
    finished = await _finished(call.client, query, since)
    messages = _messages(call.runtime, call.client, query, since, finished,
                         float(query.timeout or DEFAULT_TIMEOUT_SECONDS))
    return Response(media_type="text/event-stream", stream=messages,
                    headers={"X-Accel-Buffering": "no"})  # proxies: pass each message on


def resume_point(query: wire.StreamQuery, last_event_id: str | None) -> int:
    """The seq to stream after: ``since`` or ``Last-Event-ID``, whichever is later;
    exactly one of ``jobId`` and ``executorId`` must be given."""
    if (query.job_id is None) == (query.executor_id is None):
        raise HttpError(422, "invalid_query", "give exactly one of jobId and executorId")
    return max(query.since or 0, _last_event_id(last_event_id))


async def _finished(client: AsyncCollabClient, query: wire.StreamQuery, since: int) -> bool:
    """For a job: it is visible (else NotFound) and already final with nothing after ``since``."""
    if query.job_id is None:
        return False
    job = await client.get_job(query.job_id)
    return (job.status.value in FINAL_EVENT_TYPES
            and not await client.events(job.id, after_seq=since, page_size=1))


def open_stream(runtime: Runtime, client: AsyncCollabClient, query: wire.StreamQuery,
                since: int) -> EventStream:
    """The caller's event stream for ``query`` after ``since``, woken by the runtime's hub."""
    source = runtime.live_source()
    if query.job_id is not None:
        return client.watch_job(query.job_id, since_seq=since, source=source)
    return client.watch(executor_id=query.executor_id, since_seq=since, source=source)


def _last_event_id(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 19:
        raise HttpError(400, "invalid_last_event_id", "Last-Event-ID must be an event seq")
    return int(value)


async def _messages(runtime: Runtime, client: AsyncCollabClient, query: wire.StreamQuery,
                    since: int, finished: bool, timeout: float) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    if finished:
        yield _event(_END, "{}")
        return
    stream = open_stream(runtime, client, query, since)
    shutdown: asyncio.Future[object] = asyncio.ensure_future(runtime.shutting_down.wait())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending: asyncio.Future[object] | None = None
    ended = False  # a job's final event, or the server shutting down: say ``end``
    try:
        while (left := deadline - loop.time()) > 0:
            if pending is None:
                pending = asyncio.ensure_future(_next(stream))
            done, _ = await asyncio.wait({pending, shutdown}, timeout=min(KEEPALIVE_SECONDS, left),
                                         return_when=asyncio.FIRST_COMPLETED)
            if pending in done:
                item: asyncio.Future[object] = pending
                pending = None
                try:
                    event = item.result()
                    assert isinstance(event, JobEvent)
                except StopAsyncIteration:
                    ended = True
                    break
                except Exception as exc:  # sent to the client as an error event
                    yield _event("error", json.dumps(failure_for(exc).envelope()))
                    return
                yield f"id: {event.seq}\n".encode() + _event("message", event.model_dump_json(by_alias=True))
            elif shutdown in done:
                ended = True
                break
            elif not done:
                yield b": keepalive\n\n"
        if ended:  # a timeout just closes: the client reconnects with Last-Event-ID
            yield _event(_END, "{}")
    finally:
        shutdown.cancel()
        if pending is not None:
            pending.cancel()  # EventStream reads ahead: cancelling a pending read is safe
        await stream.aclose()  # the client went away, or the stream is over


async def _next(stream: EventStream) -> object:
    return await anext(stream)


def _event(kind: str, data: str) -> bytes:
    return (("" if kind == "message" else f"event: {kind}\n") + f"data: {data}\n\n").encode()
