"""Wake-ups: ``LISTEN`` on a dedicated connection, reconnecting forever.

Workers listen on ``collab_jobs`` (payload: an executor id, or ``*``); event streams on
``collab_events`` (a small JSON hint). A notification is a hint; polling stays the
guarantee. After every (re)connect the listener wakes the worker once, since
notifications sent while it was away are lost. Reconnects back off with jitter, up to
5 s, and log at most about once a second. LISTEN needs a session: a direct connection or
a session-mode pooler, not Supavisor's transaction mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

import psycopg

__all__ = ["Listener", "Backoff", "CHANNEL", "EVENTS_CHANNEL", "EVENTS_LISTENER_LOCK",
           "APPLICATION_NAME", "for_executor", "wait_event"]

#: Notified when jobs of an executor become claimable.
CHANNEL = "collab_jobs"
#: Notified once per statement that writes job_events (while a listener holds the lock below).
EVENTS_CHANNEL = "collab_events"
#: The advisory lock key an ``EVENTS_CHANNEL`` listener holds shared for as long as it
#: listens: the triggers send event notifications only while someone holds it.
EVENTS_LISTENER_LOCK = 6176005410530163403
#: ``pg_stat_activity.application_name`` of the LISTEN connection.
APPLICATION_NAME = "collab-listener"
log = logging.getLogger("collab.worker")


class Backoff:
    """Jittered exponential delays (``first`` doubling to ``cap``) and a log throttle."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self.delay = first
        self._last_log = 0.0

    def next(self) -> float:
        """The next delay to sleep, with up to 50% downward jitter."""
        delay = self.delay * random.uniform(0.5, 1.0)
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        """Back to the first delay after a success."""
        self.delay = self.first

    def should_log(self) -> bool:
        """True at most once a second, so an outage does not flood the log."""
        now = time.monotonic()
        if now - self._last_log >= 1.0:
            self._last_log = now
            return True
        return False


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; whether it was set.
    (``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` can swallow a
    cancellation that arrives as the event is set, leaving its task running.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()


def for_executor(executor_id: str) -> Callable[[str], bool]:
    """The ``collab_jobs`` filter of a worker: its executor's notifications, and ``*``."""
    return lambda payload: payload in (executor_id, "*")


class Listener:
    """Calls ``on_wake`` for each notification on ``channel`` that ``accept`` takes,
    and once after every (re)connect."""

    def __init__(self, url: str, accept: Callable[[str], bool], on_wake: Callable[[], None],
                 log_gate: Backoff | None = None, *, channel: str = CHANNEL) -> None:
        self.url = url
        self.log_gate = log_gate or Backoff()
        self.accept = accept
        self.on_wake = on_wake
        self.channel = channel
        self.connected = asyncio.Event()
        #: Notifications that woke the worker, for tests and stats.
        self.notifications = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting after any failure."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                await self._listen(stop, backoff)
            except psycopg.Error as exc:
                self.connected.clear()
                if self.log_gate.should_log():
                    log.warning("LISTEN connection lost (%s); reconnecting", exc)
                await wait_event(stop, backoff.next())

    async def _listen(self, stop: asyncio.Event, backoff: Backoff) -> None:
        async with await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, application_name=APPLICATION_NAME) as conn:
            if self.channel == EVENTS_CHANNEL:  # ask the triggers to notify (see the constant)
                await conn.execute("select pg_advisory_lock_shared(%s)", (EVENTS_LISTENER_LOCK,))
            await conn.execute(f"listen {self.channel}")
            self.connected.set()
            backoff.reset()
            self.on_wake()  # anything sent while we were not listening
            while not stop.is_set():
                async for note in conn.notifies(timeout=1.0):
                    if self.accept(note.payload):
                        self.notifications += 1
                        self.on_wake()
                # The timeout passed quietly: make sure the connection is still alive.
                await conn.execute("select 1")
