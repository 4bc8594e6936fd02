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

The engine sends ``collab_jobs`` only while a worker of the executor says it waits
(``collab.wait_for_jobs_v1``, a shared advisory lock its LISTEN session holds): a
commit that notifies takes a cluster-wide lock, so busy workers are not woken for
nothing. A worker's listener takes and releases that lock when the worker asks
(``wait_for_jobs`` / ``stop_waiting``), and again after a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import psycopg
from psycopg import errors

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
                 log_gate: Backoff | None = None, *, channel: str = CHANNEL,
                 waits_for: str | None = None) -> None:
        self.url = url
        #: The executor whose wake-ups this session asks for while its worker waits
        #: (``wait_for_jobs``); None: a listener that never waits (events, tests).
        self.waits_for = waits_for
        self._settled = False
        #: False once the database turned out to lack ``wait_for_jobs_v1`` (an older
        #: schema, which notifies whether anyone waits or not).
        self.gated = True
        self._want_waiting = False
        self._holding = False
        self._asks: list[asyncio.Future[bool]] = []
        self._asked = asyncio.Event()
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
        try:
            while not stop.is_set():
                try:
                    await self._listen(stop, backoff)
                except psycopg.Error as exc:
                    self.connected.clear()
                    self._lost_session()
                    if self.lost_at is None:
                        self.lost_at = time.monotonic()
                        log.warning("listen.lost", extra=fields(
                            channel=self.channel, error=" ".join(str(exc).split()),
                            reason="the LISTEN connection failed; reconnecting with backoff (polling meanwhile)"))
                    else:
                        log.debug("LISTEN %s: reconnect failed: %s", self.channel, exc)
                    await wait_event(stop, backoff.next())
        finally:
            self.connected.clear()  # a stopped listener takes no more asks ...
            self._lost_session()  # ... and answers the ones it has

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
            await self._answer_asks(conn)  # waiting again, before the wake-up below claims
            self.on_wake()  # anything sent while we were not listening
            while not stop.is_set():
                if not await self._notifications(conn):
                    await self._answer_asks(conn)
                    continue
                # A second passed quietly: make sure the connection is still alive.
                await conn.execute("select 1")

    @property
    def settled(self) -> bool:
        """Whether a claim made now sees every job that no NOTIFY will announce: the
        session holds the executor's waiting lock and, when it last checked, no writer
        that skipped its NOTIFY was uncommitted (always, where nothing gates wake-ups)."""
        return self._settled or self.waits_for is None or not self.gated

    async def wait_for_jobs(self) -> bool:
        """The worker waits for jobs: have the session hold the executor's waiting lock
        (from now on the engine notifies) and check for writers that skipped their
        NOTIFY and have not committed. True: a claim made after this returns sees every
        job that no wake-up will announce. False (such a writer, or not connected): claim
        again shortly. True at once where nothing gates the wake-ups."""
        if self.waits_for is None or not self.gated:
            return True
        if not self.connected.is_set():
            return False
        self._want_waiting = True
        ask: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._asks.append(ask)
        self._asked.set()
        return await ask

    def stop_waiting(self) -> None:
        """The worker is busy (its claims come back full, or no slot is free): the
        session releases the waiting lock at its next turn. Until then a wake-up it
        gets is only one more than needed."""
        if self._want_waiting:
            self._want_waiting = False
            self._settled = False
            self._asked.set()

    async def _notifications(self, conn: psycopg.AsyncConnection) -> bool:
        """Wake the worker for each notification until a second passes without one
        (True) or the worker asks to wait or stop waiting (False)."""
        reading = asyncio.ensure_future(self._deliver(conn))
        asked = asyncio.ensure_future(self._asked.wait())
        try:
            await asyncio.wait({reading, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
            if not reading.done():
                # Safe between notifications: the connection is idle, and psycopg keeps
                # what arrives meanwhile for the next notifies().
                reading.cancel()
                await asyncio.wait({reading})
        return False if reading.cancelled() else reading.result()

    async def _deliver(self, conn: psycopg.AsyncConnection) -> bool:
        async for note in conn.notifies(timeout=1.0):
            if self.accept(note.payload):
                self.notifications += 1
                self.on_wake()
        return True

    async def _answer_asks(self, conn: psycopg.AsyncConnection) -> None:
        """Take or release the waiting lock as the worker last asked; answer its asks."""
        self._asked.clear()
        if self._want_waiting and (self._asks or not self._holding):
            try:
                cur = await conn.execute("select collab.wait_for_jobs_v1(%s)", (self.waits_for,))
                row = await cur.fetchone()
                # The worker may have stopped waiting meanwhile: then nothing is settled
                # (the next turn releases the lock).
                self._holding, self._settled = True, bool(row and row[0]) and self._want_waiting
            except errors.UndefinedFunction:
                self.gated, self._settled = False, True
        elif not self._want_waiting and self._holding:
            await conn.execute("select collab.stop_waiting_for_jobs_v1(%s)", (self.waits_for,))
            self._holding = self._settled = False
        asks, self._asks = self._asks, []
        for ask in asks:
            if not ask.done():
                ask.set_result(self._settled and self._want_waiting)

    def _lost_session(self) -> None:
        """The connection is gone, and with it the lock: nothing is settled any more."""
        self._holding = self._settled = False
        asks, self._asks = self._asks, []
        for ask in asks:
            if not ask.done():
                ask.set_result(False)


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
