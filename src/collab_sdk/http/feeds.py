"""Shared event feeds: one ``job_events_after_v1`` read per subscription, however many
viewers follow it.

A subscription key is (the identity a read runs as, the ``EventFilter``): RLS decides
what a caller sees, so viewers share a reader only when their reads would run with the
same claims (``Runtime.reader_key``). ``SharedFeeds.open(key, client, events, since)``
answers a ``Viewer``; the viewers of one key share one ``_Feed``: one task, one
subscription to the live source (the ``EventHub``), one ``EventReader`` and its cursor.
On each wake-up the feed reads once and hands the batch to every viewer, each event
serialized once (``SharedEvent``: its JSON, its SSE message and its WebSocket messages are
made on first use and then shared). The SSE endpoint, the events socket and the workflow
run socket (``WS /ws/runs/{run_id}``, an ``EventFilter(run_id=...)`` read with
``run_events_after_v1``) all follow feeds.

Every viewer keeps its own cursor, so the stream stays what ``watch`` promises — every
committed event once, in seq order, resumable by ``since``:

- a viewer that starts behind the feed (an older ``since``), or before any feed exists,
  **catches up on its own** (its own ``EventReader``, reading a page only when it has
  taken the previous one), and joins the feed once its cursor has reached the feed's — or
  starts the feed at its cursor when there is none; from then on it takes the feed's
  events with a seq above its own cursor (a viewer that read ahead drops the repeats);
- the feed's reader keeps the periodic catch-up by seq (a read every ``poll_interval``
  without a wake-up, the horizon's quick re-reads), so a lost hint costs latency only.

**Slow consumers.** Each viewer holds at most ``buffer`` events it has not taken, and the
feed never waits for one: a viewer whose buffer cannot take the feed's next batch leaves
the feed and catches up on its own again, from its own cursor and at its own pace (so a
slow reader never holds back the others, and costs its own reads only while behind). A
viewer with events for its consumer (buffered, or behind the feed) whose consumer has not
asked for one for ``slow_seconds`` — it is stuck writing to a client that does not
read — is dropped: its
buffer is forgotten and its next read raises ``SlowConsumer`` (SSE ends with a
``dropped`` event, a WebSocket closes 4009); it reconnects from the last seq it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.streams import EventReader
from collab_sdk.models import JobEvent
from collab_sdk.timing import wait_event
from collab_sdk.transports.base import EventFilter, LiveSource

__all__ = ["SharedFeeds", "Viewer", "SharedEvent", "SlowConsumer", "FeedKey", "PAGE_SIZE"]

log = logging.getLogger("collab.http")

#: Events per read of a feed (and of a viewer catching up).
PAGE_SIZE = 500
#: How often viewers' ``next`` timeouts and stalls are checked (their resolution).
TICK_SECONDS = 0.5


class SlowConsumer(Exception):
    """The viewer left its bounded buffer full too long and was dropped."""


@dataclass(frozen=True)
class FeedKey:
    """Who reads (``Runtime.reader_key`` of the caller) and what."""

    reader: str
    events: EventFilter


class SharedEvent:
    """A committed event and its wire forms, each made once and shared by every viewer."""

    __slots__ = ("event", "_json", "_sse", "_ws", "_forms")

    def __init__(self, event: JobEvent) -> None:
        self.event = event
        self._json: str | None = None
        self._sse: bytes | None = None
        self._ws: str | None = None
        self._forms: dict[Callable[[JobEvent], str], str] | None = None

    @property
    def seq(self) -> int:
        """The event's seq."""
        return self.event.seq

    @property
    def json(self) -> str:
        """The event as camelCase JSON."""
        if self._json is None:
            self._json = self.event.model_dump_json(by_alias=True)
        return self._json

    @property
    def sse(self) -> bytes:
        """The event as one Server-Sent Events message (``id`` = its seq)."""
        if self._sse is None:
            self._sse = f"id: {self.event.seq}\ndata: {self.json}\n\n".encode()
        return self._sse

    @property
    def ws(self) -> str:
        """The event as the events socket's ``{"type": "event"}`` message."""
        if self._ws is None:
            self._ws = '{"type": "event", "event": ' + self.json + "}"
        return self._ws

    def rendered(self, render: Callable[[JobEvent], str]) -> str:
        """``render(event)``, computed once per ``render`` function and shared (e.g. the
        run socket's ``{"type": "event", "seq", ...}`` message)."""
        if self._forms is None:
            self._forms = {}
        text = self._forms.get(render)
        if text is None:
            text = self._forms[render] = render(self.event)
        return text


class SharedFeeds:
    """Every feed of a process. ``source_for(client)`` gives a new feed its live source
    (the hub, or the client's transport's own; None: polling); ``shutting_down``, once
    set, wakes every viewer (their ``next`` answers None) so that streams can end."""

    def __init__(self, source_for: Callable[[AsyncCollabClient], LiveSource | None],
                 shutting_down: asyncio.Event, *, buffer: int = 1000, slow_seconds: float = 5.0,
                 poll_interval: float = 1.0) -> None:
        self._source_for = source_for
        self._shutting_down = shutting_down
        self.buffer = max(1, buffer)
        self.page_size = min(PAGE_SIZE, self.buffer)
        self.slow_seconds, self.poll_interval = slow_seconds, poll_interval
        self._feeds: dict[FeedKey, _Feed] = {}
        self._viewers: set[Viewer] = set()
        self._shutdown_watch: asyncio.Future[Any] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        #: Viewers dropped as slow consumers so far (stats, tests).
        self.dropped = 0

    @property
    def feeds(self) -> int:
        """How many shared readers run now."""
        return len(self._feeds)

    @property
    def viewers(self) -> int:
        """How many viewers are open now."""
        return len(self._viewers)

    def open(self, key: FeedKey, client: AsyncCollabClient, since: int, *,
             until_final: bool = False, on_drop: Callable[[], None] | None = None) -> Viewer:
        """A viewer of ``key``'s events after ``since``, read as ``client``; ``until_final``:
        it ends after a job's final event (as ``watch_job``); ``on_drop`` is called if it
        is dropped as a slow consumer."""
        if self._shutdown_watch is None:
            self._shutdown_watch = asyncio.ensure_future(self._shutting_down.wait())
            self._shutdown_watch.add_done_callback(self._on_shutdown)
        viewer = Viewer(self, key, client, since, until_final, on_drop)
        self._viewers.add(viewer)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="collab-feed-sweeper")
        return viewer

    async def _sweep(self) -> None:
        """Every ``TICK_SECONDS``: wake the viewers whose ``next`` timeout has passed (one
        timer for all of them, not one per wait), and drop the viewers that took nothing
        for ``slow_seconds``."""
        loop = asyncio.get_running_loop()
        while self._viewers:
            await asyncio.sleep(TICK_SECONDS)
            now = loop.time()
            for viewer in list(self._viewers):
                if viewer.stalled(now, self.slow_seconds):
                    log.info('{"event": "slow_consumer", "dropped": 1}')
                    self.dropped += 1
                    viewer.drop()
                elif viewer.wake_at <= now:
                    viewer.ready.set()

    def _on_shutdown(self, watch: asyncio.Future[Any]) -> None:
        if not watch.cancelled():
            self._wake_all()

    def _wake_all(self) -> None:
        for viewer in self._viewers:
            viewer.ready.set()

    def _feed_of(self, key: FeedKey) -> _Feed | None:
        return self._feeds.get(key)

    def _start_feed(self, viewer: Viewer, reader: EventReader) -> _Feed:
        feed = _Feed(self, viewer.key, viewer.client, reader)
        self._feeds[viewer.key] = feed
        return feed

    def _closed(self, viewer: Viewer) -> None:
        self._viewers.discard(viewer)
        if viewer.feed is not None:
            self._leave(viewer.feed, viewer)
        if not self._viewers and self._shutdown_watch is not None:
            self._shutdown_watch.cancel()  # no task outlives the last viewer (the next opens one)
            self._shutdown_watch = None

    def _leave(self, feed: _Feed, viewer: Viewer) -> None:
        """``viewer`` leaves ``feed``; the last one out stops it."""
        feed.viewers.discard(viewer)
        viewer.feed = None
        if not feed.viewers:
            if self._feeds.get(feed.key) is feed:
                del self._feeds[feed.key]
            feed.stop()

    async def aclose(self) -> None:
        """Stop every feed (their viewers get nothing more) and wait for their tasks."""
        feeds = list(self._feeds.values())
        self._feeds.clear()
        for feed in feeds:
            feed.stop()
        await asyncio.gather(*(f.task for f in feeds if f.task is not None), return_exceptions=True)
        for task in (self._shutdown_watch, self._sweeper):
            if task is not None:
                task.cancel()


class Viewer:
    """One stream's view of a feed: ``await next(timeout)`` answers its next event, or
    None when ``timeout`` passes (to within ``TICK_SECONDS``; or the server is shutting
    down) first; raises
    ``StopAsyncIteration`` after a job's final event (``until_final``), ``SlowConsumer``
    once dropped, or the feed's failure. Also an async iterator. ``aclose()`` leaves."""

    def __init__(self, feeds: SharedFeeds, key: FeedKey, client: AsyncCollabClient, since: int,
                 until_final: bool, on_drop: Callable[[], None] | None = None) -> None:
        self.feeds, self.key, self.client = feeds, key, client
        self._on_drop = on_drop
        self.cursor = since
        self.until_final = until_final
        self.ready = asyncio.Event()
        self.feed: _Feed | None = None
        self._queue: deque[SharedEvent] = deque()
        self._reader: EventReader | None = EventReader(client.rpc, key.events, since, feeds.page_size)
        self._end: BaseException | None = None  # raised once the queue is empty
        self._waiting = False  # its consumer is inside next()
        self.wake_at = math.inf  # when its pending next() times out
        self._asked_at = asyncio.get_running_loop().time()  # when its consumer last left next()

    def __aiter__(self) -> Viewer:
        return self

    async def __anext__(self) -> SharedEvent:
        while (item := await self.next(None)) is None:
            pass
        return item

    def stalled(self, now: float, slow_seconds: float) -> bool:
        """Whether it has events for its consumer (buffered, or it is behind the feed) and
        the consumer has not asked for one for ``slow_seconds`` (it is blocked writing to
        a client that does not read)."""
        return self._end is None and not self._waiting and (bool(self._queue) or self.feed is None) \
            and now - self._asked_at > slow_seconds

    async def next(self, timeout: float | None) -> SharedEvent | None:
        """The next event (see the class doc)."""
        self._waiting = True
        try:
            return await self._next(timeout)
        finally:
            self._waiting = False
            self._asked_at = asyncio.get_running_loop().time()

    async def _next(self, timeout: float | None) -> SharedEvent | None:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._end is not None:
                raise self._end
            if self.feed is None:
                await self._catch_up()
                continue
            if timeout is not None and self.feeds._shutting_down.is_set():
                return None
            self.ready.clear()
            self.wake_at = math.inf if timeout is None else asyncio.get_running_loop().time() + timeout
            await self.ready.wait()  # set by the feed, a drop, shutdown or the sweeper's tick
            if not self._queue and self._end is None:
                if timeout is None:
                    continue  # iterating: the consumer watches for shutdown itself
                return None  # timed out (to within a tick), or shutting down

    async def _catch_up(self) -> None:
        """Read one page on its own, or join the feed once level with it."""
        assert self._reader is not None
        feed = self.feeds._feed_of(self.key)
        if feed is not None and self.cursor >= feed.reader.cursor:
            self._join(feed)
            return
        batch = await self._reader.next_batch()
        self._take([SharedEvent(e) for e in batch], False)
        self.cursor = max(self.cursor, self._reader.cursor)
        if self.until_final and self._reader.finished():
            self._end = StopAsyncIteration()
            return
        if self._reader.more or self._queue:
            return  # take this page first
        feed = self.feeds._feed_of(self.key)  # it may have started meanwhile
        if feed is None:
            self._join(self.feeds._start_feed(self, self._reader))
        elif self.cursor >= feed.reader.cursor:
            self._join(feed)
        else:  # behind a feed, nothing released for us yet: the horizon settles soon
            await asyncio.sleep(self._reader.wait_time(self.feeds.poll_interval))

    def _join(self, feed: _Feed) -> None:
        self.feed = feed
        self._reader = None
        feed.viewers.add(self)

    def _take(self, batch: list[SharedEvent], finished: bool) -> None:
        if batch and batch[0].seq <= self.cursor:
            batch = [e for e in batch if e.seq > self.cursor]
        if batch:
            self._queue.extend(batch)
            self.cursor = batch[-1].seq
        if finished and self.until_final:
            self._end = StopAsyncIteration()

    def deliver(self, feed: _Feed, batch: list[SharedEvent], finished: bool) -> None:
        """The feed's read (``finished``: it ended the job): taken, or — when its buffer
        has no room for it — the viewer leaves the feed and reads on its own again."""
        if batch and len(self._queue) + len(batch) > self.feeds.buffer and batch[-1].seq > self.cursor:
            self.feeds._leave(feed, self)
            self._reader = EventReader(self.client.rpc, self.key.events, self.cursor,
                                       self.feeds.page_size)
            return
        self._take(batch, finished)
        self.cursor = max(self.cursor, feed.reader.cursor)
        if self._queue or self._end is not None:
            self.ready.set()

    def drop(self) -> None:
        """Forget what it has not taken; its next read raises ``SlowConsumer``."""
        self._queue.clear()
        self._end = SlowConsumer()
        if self.feed is not None:
            self.feeds._leave(self.feed, self)
        self.ready.set()
        if self._on_drop is not None:
            self._on_drop()

    def fail(self, exc: BaseException) -> None:
        """The feed failed: the viewer raises ``exc`` once it has taken what it has."""
        self._end = exc
        self.ready.set()

    async def aclose(self) -> None:
        """Leave the feed (the last viewer stops it)."""
        self.feeds._closed(self)
        self._end = self._end or StopAsyncIteration()


class _Feed:
    """One key's reader: reads on each wake-up (and every ``poll_interval``) and hands
    each batch to its viewers."""

    def __init__(self, feeds: SharedFeeds, key: FeedKey, client: AsyncCollabClient,
                 reader: EventReader) -> None:
        self.feeds, self.key, self.reader = feeds, key, reader
        self.viewers: set[Viewer] = set()
        self.wake = asyncio.Event()
        self._stop = asyncio.Event()
        source = feeds._source_for(client)
        self._listening = (asyncio.ensure_future(source.run(key.events, self.wake.set, self._stop))
                           if source is not None else None)
        self.task: asyncio.Task[None] | None = asyncio.create_task(self._run(), name="collab-feed")

    def stop(self) -> None:
        """Stop reading and listening."""
        self._stop.set()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        if self._listening is not None:
            self._listening.cancel()

    async def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.wake.clear()
                batch = await self.reader.next_batch()
                shared = [SharedEvent(e) for e in batch]
                finished = self.reader.finished()
                for viewer in list(self.viewers):
                    viewer.deliver(self, shared, finished)
                if not self.reader.more and not self._stop.is_set():
                    await wait_event(self.wake, self.reader.wait_time(self.feeds.poll_interval))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. a foreign schema: every viewer gets the error
            log.error("event feed failed: %s", type(exc).__name__, exc_info=exc)
            for viewer in list(self.viewers):
                viewer.fail(exc)
        finally:
            if self._listening is not None:
                self._listening.cancel()
                with contextlib.suppress(BaseException):
                    await self._listening
