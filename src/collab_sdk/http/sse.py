"""``GET /api/collab/events/stream``: a job's or an executor's events as Server-Sent Events.

Backed by ``AsyncCollabClient.watch`` (gapless, in ``seq`` order, RLS applied to the
caller): each event is one message whose ``id`` is its ``seq`` and whose ``data`` is the
event as camelCase JSON, so a browser's ``EventSource`` resumes after a drop by sending
``Last-Event-ID`` and sees every event once. Comment lines keep an idle connection alive
(and let the server notice a client that went away); the stream closes after ``timeout``
seconds (clients reconnect), and a job's stream ends with an ``end`` event after the
job's final event. Each open stream holds one server thread and one LISTEN connection.
"""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import Iterator
from typing import Union

import flask

from collab_sdk.http import wire
from collab_sdk.http.errors import HttpError, failure_for
from collab_sdk.http.pipeline import Call
from collab_sdk.models import JobEvent
from collab_sdk.client.streams import FINAL_EVENT_TYPES, EventStream
from collab_sdk.client.sync import CollabClient

__all__ = ["events_stream", "KEEPALIVE_SECONDS", "DEFAULT_TIMEOUT_SECONDS"]

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE_SECONDS = 15.0
#: How long a stream stays open when the query names no ``timeout``.
DEFAULT_TIMEOUT_SECONDS = 300
_END = "end"
_Item = Union[JobEvent, BaseException, str]


def events_stream(call: Call) -> flask.Response:
    """Validate, check the job is visible (a 404 before any byte is streamed), stream."""
    query: wire.StreamQuery = call.query
    if (query.job_id is None) == (query.executor_id is None):
        raise HttpError(422, "invalid_query", "give exactly one of jobId and executorId")
    since = max(query.since or 0, _last_event_id(call.headers.get("last-event-id")))
    finished = False
    if query.job_id is not None:
        job = call.client.get_job(query.job_id)
        finished = (job.status.value in FINAL_EVENT_TYPES
                    and not call.client.events(job.id, after_seq=since, page_size=1))
    messages = _messages(call.client, query, since, finished,
                         float(query.timeout or DEFAULT_TIMEOUT_SECONDS))
    response = flask.Response(messages, mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # proxies: pass each message on at once
    return response


def _last_event_id(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 19:
        raise HttpError(400, "invalid_last_event_id", "Last-Event-ID must be an event seq")
    return int(value)


def _messages(client: CollabClient, query: wire.StreamQuery, since: int, finished: bool,
              timeout: float) -> Iterator[str]:
    yield "retry: 2000\n\n"
    if finished:
        yield _event(_END, "{}")
        return
    items: queue.SimpleQueue[_Item] = queue.SimpleQueue()
    if query.job_id is not None:
        stream = client.aio.watch_job(query.job_id, since_seq=since)
    else:
        stream = client.aio.watch(executor_id=query.executor_id, since_seq=since)
    pump = client.submit(_pump(stream, items))
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = items.get(timeout=min(KEEPALIVE_SECONDS, left))
            except queue.Empty:
                yield ": keepalive\n\n"
                continue
            if isinstance(item, JobEvent):
                yield f"id: {item.seq}\n" + _event("message", item.model_dump_json(by_alias=True))
            elif isinstance(item, BaseException):
                yield _event("error", json.dumps(failure_for(item).envelope()))
                return
            else:
                yield _event(_END, "{}")
                return
    finally:
        pump.cancel()  # the client went away, or the stream is over


async def _pump(stream: EventStream, items: queue.SimpleQueue[_Item]) -> None:
    try:
        async for event in stream:
            items.put(event)
        items.put(_END)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # sent to the client as an error event
        items.put(exc)
    finally:
        await stream.aclose()


def _event(kind: str, data: str) -> str:
    return ("" if kind == "message" else f"event: {kind}\n") + f"data: {data}\n\n"
