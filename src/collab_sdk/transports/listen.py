"""Wake-ups: ``LISTEN`` on a dedicated connection, reconnecting forever.

Workers listen on ``collab_jobs`` (payload: an executor id, or ``*``); event streams on
``collab_events`` (a small JSON hint). A notification is a hint; polling stays the
guarantee. After every (re)connect the listener wakes the worker once, since
notifications sent while it was away are lost. Reconnects back off with jitter, up to
5 s, forever; the log has one WARNING line when the connection is lost and one INFO line
when it is back (failed reconnects between them are DEBUG). A read-only database (a
failover, maintenance, a hot standby) still lets it LISTEN and take its advisory lock.
LISTEN needs a session: a direct connection or a session-mode pooler, not Supavisor's
transaction mode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import psycopg

from collab_sdk.logs import fields
from collab_sdk.timing import Backoff, wait_event
from collab_sdk.transports.base import EventFilter

__all__ = ["Listener", "PostgresLiveSource", "CHANNEL", "EVENTS_CHANNEL", "EVENTS_LISTENER_LOCK", "APPLICATION_NAME",
           "for_executor"]

#: Notified when jobs of an executor become claimable.
CHANNEL = "collab_jobs"
#: Notified by transactions that write job_events, a few times each at most (while a
#: listener holds the lock below).
EVENTS_CHANNEL = "collab_events"
#: The advisory lock key an ``EVENTS_CHANNEL`` listener holds shared for as long as it
#: listens: the triggers send event notifications only while someone holds it.
EVENTS_LISTENER_LOCK = 6176005410530163403
#: ``pg_stat_activity.application_name`` of the LISTEN connection.
APPLICATION_NAME = "collab-listener"
log = logging.getLogger("collab.worker")


def for_executor(executor_id: str) -> Callable[[str], bool]:
    """The ``collab_jobs`` filter of a worker: its executor's notifications, and ``*``."""
    return lambda payload: payload in (executor_id, "*")


class Listener:
    """Calls ``on_wake`` for each notification on ``channel`` that ``accept`` takes,
    and once after every (re)connect."""

    def __init__(self, url: str, accept: Callable[[str], bool], on_wake: Callable[[], None],
                 log_gate: Backoff | None = None, *, channel: str = CHANNEL) -> None:
        self.url = url
        # Kept for the ``Listens`` signature: the lost / reconnected lines need no gate.
        self.log_gate = log_gate or Backoff()
        #: When the connection was lost (``time.monotonic()``), None while connected.
        self.lost_at: float | None = None
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
                if self.lost_at is None:
                    self.lost_at = time.monotonic()
                    log.warning("listen.lost", extra=fields(
                        channel=self.channel, error=" ".join(str(exc).split()),
                        reason="the LISTEN connection failed; reconnecting with backoff (polling meanwhile)"))
                else:
                    log.debug("LISTEN %s: reconnect failed: %s", self.channel, exc)
                await wait_event(stop, backoff.next())

    async def _listen(self, stop: asyncio.Event, backoff: Backoff) -> None:
        async with await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, application_name=APPLICATION_NAME,
                prepare_threshold=None) as conn:  # never prepared: safe behind any pooler
            if self.channel == EVENTS_CHANNEL:  # ask the triggers to notify (see the constant)
                await conn.execute("select pg_advisory_lock_shared(%s)", (EVENTS_LISTENER_LOCK,))
            await conn.execute(f"listen {self.channel}")
            self.connected.set()
            backoff.reset()
            if self.lost_at is not None:
                log.info("listen.reconnected", extra=fields(
                    channel=self.channel, seconds=round(time.monotonic() - self.lost_at, 1)))
                self.lost_at = None
            self.on_wake()  # anything sent while we were not listening
            while not stop.is_set():
                async for note in conn.notifies(timeout=1.0):
                    if self.accept(note.payload):
                        self.notifications += 1
                        self.on_wake()
                # The timeout passed quietly: make sure the connection is still alive.
                await conn.execute("select 1")


class PostgresLiveSource:
    """``LISTEN collab_events`` on a dedicated connection to ``url``: the live source of
    event streams over ``PostgresTransport``."""

    def __init__(self, url: str) -> None:
        self.url = url
        #: The listener of the current ``run`` (tests look at its connection).
        self.listener: Listener | None = None

    async def run(self, events: EventFilter, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting after any failure."""
        self.listener = Listener(self.url, events.matches_hint, wake, channel=EVENTS_CHANNEL)
        await self.listener.run(stop)
