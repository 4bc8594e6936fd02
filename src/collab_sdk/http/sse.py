"""``GET /api/collab/events/stream``: a job's or an executor's events as Server-Sent Events.

Backed by ``AsyncCollabClient.watch`` (gapless, in ``seq`` order, RLS applied to the
caller): each event is one message whose ``id`` is its ``seq`` and whose ``data`` is the
event as camelCase JSON, so a browser's ``EventSource`` resumes after a drop by sending
``Last-Event-ID`` and sees every event once. Comment lines keep an idle connection alive
(and let the server notice a client that went away); the stream closes after ``timeout``
seconds (clients reconnect), a job's stream ends with an ``end`` event after the job's
final event, and every stream ends with an ``end`` event when the server shuts down.

A stream is an async generator on the server's event loop — no thread — and one viewer of
the runtime's shared feeds (``collab_sdk.http.feeds``): the streams of one caller identity
and filter share one reader, woken by the ``EventHub`` (every stream of a process shares
one LISTEN connection), and each event is serialized once for all of them. A client that
reads too slowly — it leaves ``COLLAB_STREAM_BUFFER`` events untaken for
``COLLAB_STREAM_SLOW_SECONDS`` — gets ``event: dropped`` with ``{"reason":
"slow_consumer"}`` and the stream closes; it reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.streams import job_filter
from collab_sdk.errors import NotFound
from collab_sdk.models import Job
from collab_sdk.http import wire
from collab_sdk.http.errors import HttpError, failure_for
from collab_sdk.http.feeds import FeedKey, SlowConsumer, Viewer
from collab_sdk.http.pipeline import Call, Response
from collab_sdk.states import FINAL_EVENT_TYPES
from collab_sdk.transports.base import EventFilter

__all__ = ["events_stream", "stream_job", "open_stream", "open_viewer", "resume_point", "KEEPALIVE_SECONDS",
           "DEFAULT_TIMEOUT_SECONDS", "DROPPED"]

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE_SECONDS = 15.0
#: How long a stream stays open when the query names no ``timeout``.
DEFAULT_TIMEOUT_SECONDS = 300
_END = "end"
#: The event that ends the stream of a client dropped as a slow consumer (it reconnects
#: with ``Last-Event-ID``).
DROPPED = "dropped"


async def events_stream(call: Call) -> Response:
    """Validate, check the job is visible (a 404 before any byte is streamed), stream."""
    query: wire.StreamQuery = call.query
    since = resume_point(query, call.headers.get("last-event-id"))
    finished = await _finished(call.client, query, since)
    dropped = asyncio.Event()
    messages = _messages(call, query, since, finished, float(query.timeout or DEFAULT_TIMEOUT_SECONDS),
                         dropped)
    return Response(media_type="text/event-stream", stream=messages, dropped=dropped,
                    headers={"X-Accel-Buffering": "no"})  # proxies: pass each message on


def resume_point(query: wire.StreamQuery, last_event_id: str | None) -> int:
    """The seq to stream after: ``since`` or ``Last-Event-ID``, whichever is later."""
    return max(query.since or 0, _last_event_id(last_event_id))


async def stream_job(client: AsyncCollabClient, query: wire.StreamQuery) -> Job | None:
    """The job a stream follows (None for an executor's or every visible event): visible
    to the caller and of ``executorId`` when both are given, else NotFound."""
    if query.job_id is None:
        return None
    job = await client.get_job(query.job_id)
    if query.executor_id is not None and job.executor_id != query.executor_id:
        raise NotFound(f"no job {job.id} in executor {query.executor_id}", code="CL404")
    return job


async def _finished(client: AsyncCollabClient, query: wire.StreamQuery, since: int) -> bool:
    """For a job: it is already final with nothing after ``since``."""
    job = await stream_job(client, query)
    if job is None:
        return False
    return (job.status.value in FINAL_EVENT_TYPES
            and not await client.events(job.id, after_seq=since, page_size=1))


def open_stream(call: Call, query: wire.StreamQuery, since: int,
                on_drop: Callable[[], None] | None = None) -> Viewer:
    """The caller's view of ``query``'s events after ``since``: one of the viewers of the
    runtime's shared feed for this caller's identity and filter (``collab_sdk.http.feeds``)."""
    return open_viewer(call, job_filter(query.job_id, query.executor_id), since,
                       until_final=query.job_id is not None, on_drop=on_drop)


def open_viewer(call: Call, events: EventFilter, since: int, *, until_final: bool,
                on_drop: Callable[[], None] | None = None) -> Viewer:
    """A viewer of ``events`` after ``since`` on the runtime's shared feed for the caller's
    identity and ``events`` (``until_final``: it ends after the job's or run's final event)."""
    key = FeedKey(call.runtime.reader_key(call.identity) if call.identity is not None else "trusted", events)
    return call.runtime.feeds.open(key, call.client, since, until_final=until_final, on_drop=on_drop)


def _last_event_id(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 19:
        raise HttpError(400, "invalid_last_event_id", "Last-Event-ID must be an event seq")
    return int(value)


async def _messages(call: Call, query: wire.StreamQuery, since: int, finished: bool,
                    timeout: float, dropped: asyncio.Event) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"
    if finished:
        yield _event(_END, "{}")
        return
    shutting_down = call.runtime.shutting_down
    viewer = open_stream(call, query, since, on_drop=dropped.set)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet_since = loop.time()
    try:
        while (left := deadline - loop.time()) > 0 and not shutting_down.is_set():
            try:
                item = await viewer.next(min(KEEPALIVE_SECONDS, left))
            except StopAsyncIteration:  # the job's final event was sent
                break
            except SlowConsumer:
                yield _event(DROPPED, json.dumps({"reason": "slow_consumer"}))
                return
            except Exception as exc:  # sent to the client as an error event
                yield _event("error", json.dumps(failure_for(exc).envelope()))
                return
            if item is not None:
                yield item.sse
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                yield b": keepalive\n\n"
                quiet_since = loop.time()
        else:
            if not shutting_down.is_set():
                return  # the timeout just closes: the client reconnects with Last-Event-ID
        yield _event(_END, "{}")
    finally:
        await viewer.aclose()  # the client went away, or the stream is over


def _event(kind: str, data: str) -> bytes:
    return (("" if kind == "message" else f"event: {kind}\n") + f"data: {data}\n\n").encode()
