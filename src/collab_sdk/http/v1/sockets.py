"""``WS /ws/runs/{run_id}`` (D9): a run's snapshot first, then each later event once.

The socket authenticates as every collab socket does (``collab_sdk.http.sockets``: a
header, a ``Sec-WebSocket-Protocol`` offer of ``collab.v1, bearer.<JWT>`` or a first
``{"type": "auth", "token"}`` message; 4401 before anything is sent), then:

1. ``{"type": "snapshot", "step_statuses": {step_id: status}, "run": {...}, "steps":
   [...], "seq": N}`` from ``run_snapshot_v1``: committed state, and every event up to
   ``seq`` is already reflected in it (a run the caller cannot see closes 4404);
2. ``{"type": "event", "seq", "run_id", "event_type", "step_id", "payload",
   "created_at"}`` for each event after ``seq``, once and in seq order — the gapless run
   stream (``watch_run(since_seq=seq)``), so an event committed while the snapshot was
   built is either in it or sent, never both, never lost;
3. after the run's final event (``run_succeeded``/``run_failed``/``run_cancelled``),
   ``{"type": "end", "reason": "final"}`` and close 1000 (``timeout`` when the query's
   ``timeout`` seconds pass, ``shutdown`` with 1001 when the server stops).

A reconnect gets a fresh snapshot of the state then (``since`` is not needed: the
snapshot is current). Pings, the bounded outbox and the 4009 slow-consumer drop are
``collab_sdk.http.sockets.relay``'s. After the snapshot the socket is one viewer of the
runtime's shared feeds (``collab_sdk.http.feeds``): every socket on one run with the same
caller identity shares one reader (one ``run_events_after_v1`` per wake-up, each event
serialized once), each keeps its own cursor from its own snapshot's ``seq``, and a viewer
that leaves ``COLLAB_STREAM_BUFFER`` events untaken for ``COLLAB_STREAM_SLOW_SECONDS`` is
dropped with 4009 too. The feed wakes on the process's one LISTEN connection
(``EventHub``), routed by run id: no LISTEN per socket. Run sockets count in
``collab_http_open_streams``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from collab_sdk.http.feeds import Viewer
from collab_sdk.http.pipeline import Call, Socket
from collab_sdk.http.sockets import relay
from collab_sdk.http.sse import open_viewer
from collab_sdk.http.v1 import models as m
from collab_sdk.models import JobEvent
from collab_sdk.states import FINAL_RUN_STATUSES
from collab_sdk.transports.base import EventFilter

__all__ = ["RunStreamQuery", "run_socket", "snapshot_message", "event_message"]


class RunStreamQuery(BaseModel):
    """``WS /ws/runs/{run_id}?timeout=``: close after ``timeout`` seconds (default: when
    the run finishes)."""

    model_config = ConfigDict(extra="forbid")

    timeout: float | None = Field(default=None, gt=0, le=86400)


async def snapshot_message(call: Call, run_id: UUID) -> m.SnapshotMessage:
    """The snapshot message of a run as the caller sees it now."""
    snap = await call.client.workflows.snapshot(run_id)
    return m.SnapshotMessage(step_statuses={s.step_id: s.status for s in snap.steps},
                             run=m.RunResponse.of(snap.run),
                             steps=[m.StepRunResponse.of(s) for s in snap.steps], seq=snap.cursor)


def event_message(event: JobEvent) -> str:
    """A run event as the socket's ``{"type": "event", ...}`` message (made once per event
    for every viewer of a feed: ``SharedEvent.rendered``)."""
    return m.EventMessage.of(event).model_dump_json()


async def _nothing() -> AsyncIterator[str]:
    return
    yield  # an async generator that ends at once


async def _event_messages(viewer: Viewer) -> AsyncIterator[str]:
    async for item in viewer:
        yield item.rendered(event_message)


async def run_socket(call: Call, socket: Socket) -> None:
    """Snapshot, then each event once in seq order, then ``end`` (see the module doc)."""
    run_id: UUID = call.path["run_id"]
    query: RunStreamQuery = call.query
    snapshot = await snapshot_message(call, run_id)
    await socket.send_text(snapshot.model_dump_json())
    if snapshot.run.status in FINAL_RUN_STATUSES:  # its final event is in the snapshot
        await relay(call.runtime, socket, _nothing(), query.timeout)
        return
    viewer = open_viewer(call, EventFilter(run_id=str(run_id)), snapshot.seq, until_final=True)
    try:
        await relay(call.runtime, socket, _event_messages(viewer), query.timeout)
    finally:
        await viewer.aclose()
