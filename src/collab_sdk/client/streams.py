"""Live event streams: every committed ``job_event`` once, in ``seq`` order.

``AsyncCollabClient.watch(...)`` yields the events after ``since_seq`` that are already
committed (the snapshot), then new ones as they commit. Rows always come from
``collab.job_events_after_v1``, which releases an event only when no lower seq can still
appear; the cursor it answers is the resume point, so a dropped connection, a lost or
early notification, or a restart loses nothing and repeats nothing. A live source only
says *when* to read again:

- ``PostgresLiveSource``: ``LISTEN collab_events`` on its own connection (the triggers
  send a few small hints per transaction), reconnecting forever;
- ``RealtimeLiveSource`` (``collab_sdk.transports.supabase.realtime``): Supabase Realtime ``postgres_changes``
  on ``collab.job_events``;
- none: polling every ``poll_interval`` seconds, which is also every source's safety net.

A stream outlives its database's outages: a read that meets an unavailable or contended
database is retried from the cursor after a jittered delay (up to 5 s), and the stream's
``Availability`` (``collab_sdk.availability``) logs one line when the trouble starts and
one when it ends. A read-only database (a failover, a hot standby) still serves the reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from uuid import UUID

from collab_sdk.availability import Availability
from collab_sdk.client.rpc import RpcCore
from collab_sdk.errors import TransportError
from collab_sdk.states import FINAL_EVENT_TYPES, FINAL_RUN_EVENT_TYPES
from collab_sdk.models import EventsPage, Horizon, JobEvent
from collab_sdk.transports.base import EventFilter, HasLiveEvents, LiveSource, Transport
from collab_sdk.timing import Backoff, wait_event


__all__ = ["EventStream", "EventReader",
           "watch_events", "read_settled", "live_source_for", "job_filter"]

log = logging.getLogger("collab.streams")


class EventStream:
    """What ``watch`` returns: an async iterator of ``JobEvent``. A background task reads
    ahead (up to ``buffer`` events), so a pending ``__anext__`` may be cancelled — say by
    ``asyncio.wait_for(anext(stream), 1)`` timing out — without losing an event or
    ending the stream. ``aclose()`` (or leaving ``async with``) stops it and its
    connections; the first contact's errors (``NotFound``…) come from ``__anext__``."""

    def __init__(self, events: AsyncIterator[JobEvent], buffer: int = 1000) -> None:
        self._events = events
        self._queue: asyncio.Queue[JobEvent | BaseException | None] = asyncio.Queue(maxsize=buffer)
        self._task: asyncio.Task[None] | None = None
        self._done: BaseException | None = None

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> JobEvent:
        if self._done is not None:
            raise self._done
        if self._task is None:
            self._task = asyncio.create_task(self._read_ahead())
        item = await self._queue.get()
        if isinstance(item, JobEvent):
            return item
        self._done = item if item is not None else StopAsyncIteration()
        raise self._done

    async def _read_ahead(self) -> None:
        try:
            async for event in self._events:
                await self._queue.put(event)
            await self._queue.put(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the reader by __anext__
            await self._queue.put(exc)

    async def aclose(self) -> None:
        """Stop reading; close the live source and the stream's generator."""
        self._done = StopAsyncIteration()
        while self._task is not None and not self._task.done():
            self._task.cancel()  # again, should something inside have swallowed it
            await asyncio.wait([self._task], timeout=1.0)
        await self._events.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def live_source_for(transport: Transport) -> LiveSource | None:
    """The live source the transport offers (LISTEN, Realtime), else None: polling."""
    return transport.live_source() if isinstance(transport, HasLiveEvents) else None


async def watch_events(rpc: RpcCore, events: EventFilter, *, since_seq: int = 0,
                       until_final: bool = False, poll_interval: float = 1.0,
                       page_size: int = 500, source: LiveSource | None = None) -> AsyncIterator[JobEvent]:
    """The generator behind ``AsyncCollabClient.watch``; see there. The first contact's
    errors are raised (an unreachable database, a foreign schema); later transport
    errors are retried from the cursor."""
    await rpc.connect()
    wake = asyncio.Event()
    wake.set()
    stop = asyncio.Event()
    listening = asyncio.create_task(source.run(events, wake.set, stop)) if source else None
    reader = EventReader(rpc, events, since_seq, page_size)
    try:
        while True:
            wake.clear()
            batch = await reader.next_batch()
            for event in batch:
                yield event
            if until_final and reader.finished():
                return
            if not reader.more:
                await wait_event(wake, reader.wait_time(poll_interval))
    finally:
        stop.set()
        if listening is not None:
            await _stop_source(listening)


class EventReader:
    """Pages through the event log from a cursor, keeping the cursor and the horizon
    (``watch_events`` uses one per stream; ``collab_sdk.http.feeds`` one per shared feed)."""

    def __init__(self, rpc: RpcCore, events: EventFilter, since_seq: int,
                 page_size: int) -> None:
        self.rpc, self.events, self.page_size = rpc, events, page_size
        self.cursor = since_seq
        self.horizon: Horizon | None = None
        self.more = False
        self.last: JobEvent | None = None
        self._backoff = Backoff(first=0.05, cap=5.0)
        #: This reader's view of the database: one log line per change, not per retry.
        self.availability = Availability(log, name="event stream")
        self._settle = Backoff(first=0.005, cap=0.2)

    async def next_batch(self) -> list[JobEvent]:
        """The next released events (maybe none); transport errors are retried."""
        try:
            fresh = await self.fetch()
        except TransportError as exc:
            self.availability.failed(exc)
            await asyncio.sleep(self._backoff.next())
            return []
        self.availability.succeeded(wrote=False)
        self._backoff.reset()
        return fresh

    async def fetch(self) -> list[JobEvent]:
        """One call of ``job_events_after_v1`` (``run_events_after_v1`` for a run) from
        the cursor; moves the cursor."""
        horizon = {"horizon_seq": self.horizon and self.horizon.seq,
                   "horizon_xid": self.horizon and self.horizon.xid}
        if self.events.run_id is not None:
            page = await self.rpc.value(EventsPage, "run_events_after_v1", run_id=self.events.run_id,
                                        after_seq=self.cursor, page_size=self.page_size, **horizon)
        else:
            page = await self.rpc.value(EventsPage, "job_events_after_v1", after_seq=self.cursor,
                                        job_id=self.events.job_id,
                                        executor_id=self.events.executor_id,
                                        page_size=self.page_size, **horizon)
        fresh = [e for e in page.events if e.seq > self.cursor]
        self.cursor = max(self.cursor, page.cursor)
        self.horizon, self.more = page.horizon, page.more
        if fresh:
            self.last = fresh[-1]
        return fresh

    def finished(self) -> bool:
        """The newest event seen ends the job (or run), and nothing is pending behind it."""
        final = FINAL_RUN_EVENT_TYPES if self.events.run_id is not None else FINAL_EVENT_TYPES
        return not self.more and self.last is not None and self.last.event_type in final

    def wait_time(self, poll_interval: float) -> float:
        """How long to wait before reading again: soon while a horizon waits for older
        transactions to end (growing), else until a wake-up or the poll interval."""
        if self.horizon is None:
            self._settle.reset()
            return poll_interval
        return min(self._settle.next(), poll_interval)


async def read_settled(rpc: RpcCore, events: EventFilter,
                       since_seq: int = 0) -> tuple[list[JobEvent], int]:
    """Every event after ``since_seq`` that is settled now, and the seq they reach (the
    point to resume from); errors are raised."""
    reader = EventReader(rpc, events, since_seq, page_size=1000)
    found = await reader.fetch()
    while reader.more:
        found += await reader.fetch()
    return found, reader.cursor


async def _stop_source(listening: asyncio.Task[None]) -> None:
    listening.cancel()
    try:
        await listening
    except asyncio.CancelledError:
        pass
    except Exception:  # a broken source only cost wake-ups; polling carried the stream
        log.exception("event stream: the live source failed")


def job_filter(job_id: UUID | str | None, executor_id: str | None) -> EventFilter:
    """An ``EventFilter`` from the client's arguments."""
    return EventFilter(job_id=str(job_id) if job_id is not None else None, executor_id=executor_id)
