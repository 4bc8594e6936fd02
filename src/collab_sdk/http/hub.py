"""One LISTEN connection for every open stream of a process: a fan-out hub.

``EventHub`` is a ``LiveSource`` (``collab_sdk.transports.base``) that every SSE and
WebSocket stream of ``collab serve`` passes to ``AsyncCollabClient.watch(source=hub)``.
While at least one stream is subscribed, it runs one ``Listener``
(``collab_sdk.transports.listen``, ``LISTEN collab_events``, application name
``collab-listener``) and routes each notification's hint (``{executor_id, job_id}``: the job
null when a statement touched several of the executor's jobs or the transaction more than
4, both null past 8 executors) to the streams it may concern, indexed by
job and by executor: a hint for job J wakes J's streams and its executor's, not the other
999 (a workflow run's stream is indexed as the job its events name: the run id). After every (re)connect it wakes every stream, since notifications sent while it was
away are lost. A wake-up only tells a stream's reader to read ``job_events_after_v1`` from
its own ``seq`` again, as the caller (RLS applies): the catch-up by seq, with the reader's
periodic poll, stays the guarantee; a lost or early hint costs latency, never an event.

With the last subscriber gone the listener stops (and releases the advisory lock that
makes the triggers notify). Over a transport without ``LISTEN`` (Supabase's HTTP API) the
runtime uses no hub: each stream falls back to the transport's own live source.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from collab_sdk.transports.base import EventFilter, Listens, WakeSource
from collab_sdk.transports.listen import EVENTS_CHANNEL

__all__ = ["EventHub"]

log = logging.getLogger("collab.http")


@dataclass(eq=False)
class _Subscriber:
    events: EventFilter
    wake: Callable[[], None]
    woken: int = field(default=0)

    @property
    def job(self) -> str | None:
        """The job id its hints name: a workflow run's events carry ``job_id`` = the run id."""
        return self.events.job_id or self.events.run_id


class EventHub:
    """A ``LiveSource`` shared by many streams over one ``LISTEN`` connection of
    ``transport``. ``run`` subscribes a stream until its ``stop`` is set (or it is
    cancelled); ``aclose`` stops the listener for good."""

    def __init__(self, transport: Listens) -> None:
        self._transport = transport
        self._by_job: dict[str, set[_Subscriber]] = {}
        self._by_executor: dict[str, set[_Subscriber]] = {}
        self._jobs: set[_Subscriber] = set()  # every job stream (hints naming no job)
        self._executors: set[_Subscriber] = set()  # every executor stream
        self._everything: set[_Subscriber] = set()  # streams of all visible events
        self._count = 0
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._draining: set[asyncio.Task[None]] = set()  # stopped listeners still closing
        #: The current listener (tests read its connection state).
        self.listener: WakeSource | None = None
        #: Notifications received, for tests and stats.
        self.notifications = 0

    @property
    def subscribers(self) -> int:
        """How many streams are subscribed now."""
        return self._count

    async def run(self, events: EventFilter, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Wake ``wake`` for changes matching ``events`` until ``stop`` is set."""
        subscriber = _Subscriber(events, wake)
        self._add(subscriber)
        try:
            await stop.wait()
        finally:
            self._remove(subscriber)

    def _add(self, sub: _Subscriber) -> None:
        if sub.job is not None:
            self._by_job.setdefault(sub.job, set()).add(sub)
            self._jobs.add(sub)
        elif sub.events.executor_id is not None:
            self._by_executor.setdefault(sub.events.executor_id, set()).add(sub)
            self._executors.add(sub)
        else:
            self._everything.add(sub)
        self._count += 1
        if self._task is None and not self._closed:
            self._start()
        elif self.listener is not None and self.listener.connected.is_set():
            sub.wake()  # the listener is up: read once, in case it started before us

    def _remove(self, sub: _Subscriber) -> None:
        for index, key in ((self._by_job, sub.job),
                           (self._by_executor, sub.events.executor_id)):
            if key is not None and key in index:
                index[key].discard(sub)
                if not index[key]:
                    del index[key]
        self._jobs.discard(sub)
        self._executors.discard(sub)
        self._everything.discard(sub)
        self._count -= 1
        if self._count == 0:
            self._halt()

    def _start(self) -> None:
        stop = asyncio.Event()
        listener = self._transport.listener(EVENTS_CHANNEL, self._route, self._wake_all)
        self._stop, self.listener = stop, listener
        self._task = asyncio.create_task(listener.run(stop), name="collab-event-hub")

    def _halt(self) -> None:
        if self._stop is not None:
            self._stop.set()  # the listener's loop sees it within a second and disconnects
        if self._task is not None and not self._task.done():
            self._draining.add(self._task)
            self._task.add_done_callback(self._draining.discard)
        self._stop, self._task, self.listener = None, None, None

    def _route(self, payload: str) -> bool:
        """The listener's filter, used as the fan-out: wake the streams a hint concerns.
        Answers False: the listener's own wake-up is only for (re)connects."""
        self.notifications += 1
        try:
            hint = json.loads(payload)
            job, executor = hint.get("job_id"), hint.get("executor_id")
        except (ValueError, AttributeError):
            job = executor = None
            hint = None
        if hint is None:
            self._wake_all()
            return False
        woken: set[_Subscriber] = set(self._everything)
        woken |= self._by_job.get(job, set()) if job is not None else self._jobs
        woken |= self._by_executor.get(executor, set()) if executor is not None else self._executors
        for sub in woken:
            sub.wake()
        return False

    def _wake_all(self) -> None:
        for group in (self._jobs, self._executors, self._everything):
            for sub in group:
                sub.wake()

    async def aclose(self) -> None:
        """Stop the listener; later subscribers get no wake-ups (they poll)."""
        self._closed = True
        self._halt()
        for task in list(self._draining):
            try:
                await asyncio.wait_for(task, timeout=5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:  # a broken listener must not break shutdown
                log.exception("event hub: the listener failed")
