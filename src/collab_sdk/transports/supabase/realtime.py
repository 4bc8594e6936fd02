"""Supabase Realtime as the live source of ``watch`` over a ``SupabaseTransport``, and
as the wake-up source of its workers (``RealtimeClaimWaker``, at the end).

``RealtimeLiveSource`` subscribes to ``postgres_changes`` INSERTs on ``collab.job_events``
through the transport's ``SupabaseSession`` (``await session.realtime()``),
filtered by ``job_id=eq.<id>`` or ``executor_id=eq.<id>`` (nothing when following every
visible event). Realtime reads each new row as the subscriber (the user's JWT, set with
``realtime.set_auth``), so RLS decides who is told about what.

A push is only a hint: the stream reads ``collab.job_events_after_v1`` again, from its
own cursor. So the source wakes the stream on every (re)subscribe, since changes made
while it was away were never pushed, and on every pushed row that concerns it. After a
channel error, a close, a join timeout or a dropped socket it leaves the channel and
subscribes again on a fresh one, backing off (jittered, 0.1 s doubling to 5 s) and
logging about once a second at most. Polling stays the stream's safety net.

Every collab channel is **private** (``config.private``): Realtime admits a join only
when the RLS policies on ``realtime.messages`` that collab's migrations ship let the
caller read the topic, so it works on projects that turn public channels off. Channels
are left with realtime-py's public API only (``remove_channel``); nothing here touches
its timers, pushes or channel table.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from realtime import (AsyncRealtimeChannel, AsyncRealtimeClient, RealtimeChannelOptions,
                      RealtimePostgresChangesListenEvent, RealtimeSubscribeStates)

from collab_sdk.timing import Backoff, wait_event
from collab_sdk.transports.base import EventFilter
from collab_sdk.transports.supabase.session import SupabaseSession, close_realtime

__all__ = ["RealtimeLiveSource", "RealtimeClaimWaker", "changes_filter", "concerns", "drop_channel",
           "channel_options", "queue_topic", "EVENTS_SCHEMA", "EVENTS_TABLE", "CLAIMABLE_EVENT"]

EVENTS_SCHEMA = "collab"
EVENTS_TABLE = "job_events"
#: The event the database broadcasts on ``queue:{executorId}`` when jobs become claimable.
CLAIMABLE_EVENT = "jobs.claimable"
#: How long leaving a channel or closing the socket may take before it is abandoned.
_LEAVE_TIMEOUT = 2.0
log = logging.getLogger("collab.realtime")


def channel_options(presence_key: str | None = None) -> RealtimeChannelOptions:
    """Private-channel options; presence enabled under ``presence_key`` when given."""
    return {"config": {"broadcast": {"ack": False, "self": False},
                       "presence": {"key": presence_key or "", "enabled": presence_key is not None},
                       "private": True}}


def changes_filter(events: EventFilter) -> str | None:
    """The Realtime ``filter`` of a stream: its run, job or executor, else none."""
    if events.run_id is not None:
        return f"run_id=eq.{events.run_id}"
    if events.job_id is not None:
        return f"job_id=eq.{events.job_id}"
    if events.executor_id is not None:
        return f"executor_id=eq.{events.executor_id}"
    return None


def concerns(events: EventFilter, payload: Any) -> bool:
    """Whether a ``postgres_changes`` payload is a well-formed INSERT into
    ``collab.job_events`` of a row this stream follows."""
    try:
        data = payload["data"]
        record = data["record"]
        if (data["schema"], data["table"], data["type"]) != (EVENTS_SCHEMA, EVENTS_TABLE, "INSERT"):
            return False
    except (KeyError, TypeError):
        return False
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
        return False
    wanted = (("job_id", events.job_id), ("executor_id", events.executor_id),
              ("run_id", events.run_id))
    return all(record.get(column) == value for column, value in wanted if value is not None)


async def drop_channel(realtime: AsyncRealtimeClient, channel: AsyncRealtimeChannel) -> None:
    """Leave ``channel`` and forget it (``realtime.remove_channel``: the channel stops
    rejoining at once, and the socket closes when it was the last); never raises."""
    try:
        async with asyncio.timeout(_LEAVE_TIMEOUT):
            await realtime.remove_channel(channel)
    except Exception as exc:  # noqa: BLE001 - the socket is going away anyway
        log.debug("leaving %s: %s", channel.topic, str(exc) or type(exc).__name__)


class _ChannelLost(Exception):
    """The channel left the SUBSCRIBED state."""


class _Resubscribing:
    """One private channel kept subscribed: join, tell ``_subscribed`` on each
    SUBSCRIBED, and after any failure leave it and join a fresh one (jittered backoff,
    warnings about once a second at most); never raises."""

    #: What the warnings call the subscription.
    what = "Realtime channel"

    def __init__(self, session: SupabaseSession, *, backoff_first: float = 0.1,
                 backoff_cap: float = 5.0, log_gate: Backoff | None = None) -> None:
        self.session = session
        self._backoff = Backoff(first=backoff_first, cap=backoff_cap)
        self._log_gate = log_gate or Backoff()
        #: (Re)subscriptions so far, for tests and logs.
        self.subscriptions = 0
        #: The channel of the current subscription, if any.
        self.channel: AsyncRealtimeChannel | None = None
        #: Set while the channel is subscribed.
        self.connected = asyncio.Event()

    def _topic(self) -> str:
        raise NotImplementedError

    def _configure(self, channel: AsyncRealtimeChannel) -> None:
        """Register the channel's callbacks before it is joined."""

    def _subscribed(self) -> None:
        """Called on each SUBSCRIBED (the first and every rejoin)."""

    async def _keep(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._subscription(stop)
            except Exception as exc:  # noqa: BLE001 - a wake-up source never raises
                if self._log_gate.should_log():
                    log.warning("%s lost (%s); resubscribing", self.what, str(exc) or type(exc).__name__)
            if not stop.is_set():
                await wait_event(stop, self._backoff.next())

    async def _subscription(self, stop: asyncio.Event) -> None:
        """One channel's life, until it fails or ``stop`` is set."""
        realtime = await self.session.realtime()
        states: asyncio.Queue[RealtimeSubscribeStates] = asyncio.Queue()
        channel = realtime.channel(self._topic(), channel_options())
        self._configure(channel)
        self.channel = channel
        try:
            await channel.subscribe(lambda state, _error: states.put_nowait(state))
            while True:
                state = await _next_state(states, stop)
                if state is None:
                    return
                if state is not RealtimeSubscribeStates.SUBSCRIBED:
                    raise _ChannelLost(f"channel {state.value}")
                self.subscriptions += 1
                self._backoff.reset()
                self.connected.set()
                self._subscribed()
        finally:
            self.connected.clear()
            self.channel = None
            await drop_channel(realtime, channel)
            if stop.is_set():
                await close_realtime(realtime, if_idle=True)


class RealtimeLiveSource(_Resubscribing):
    """``postgres_changes`` on ``collab.job_events`` through the transport's Realtime
    client; see the module docstring."""

    what = f"Realtime subscription to {EVENTS_SCHEMA}.{EVENTS_TABLE}"

    def __init__(self, session: SupabaseSession, *, backoff_first: float = 0.1,
                 backoff_cap: float = 5.0) -> None:
        super().__init__(session, backoff_first=backoff_first, backoff_cap=backoff_cap)
        #: Counters for tests and logs: rows that woke the stream, pushes ignored
        #: (malformed, or not this stream's).
        self.changes = 0
        self.ignored = 0
        self._events = EventFilter()
        self._wake: Callable[[], None] = lambda: None

    async def run(self, events: EventFilter, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Subscribe until ``stop`` is set, subscribing again after any failure."""
        self._events, self._wake = events, wake
        await self._keep(stop)

    def _topic(self) -> str:
        # A fresh topic per attempt: a late reply or close for an old one cannot reach it.
        return f"collab:{EVENTS_TABLE}:{secrets.token_hex(6)}"

    def _configure(self, channel: AsyncRealtimeChannel) -> None:
        channel.on_postgres_changes(RealtimePostgresChangesListenEvent.Insert, self._on_change,
                                    table=EVENTS_TABLE, schema=EVENTS_SCHEMA,
                                    filter=changes_filter(self._events))

    def _subscribed(self) -> None:
        self._wake()  # whatever committed while we were not subscribed

    def _on_change(self, payload: Any) -> None:
        # Runs inside realtime-py's receive loop: it must never raise.
        try:
            relevant = concerns(self._events, payload)
        except Exception:  # noqa: BLE001 - a hostile payload costs a hint, nothing more
            relevant = False
        if relevant:
            self.changes += 1
            self._wake()
        else:
            self.ignored += 1


def queue_topic(executor_id: str) -> str:
    """``queue:{executorId}``: where the database broadcasts ``jobs.claimable``."""
    return f"queue:{executor_id}"


class RealtimeClaimWaker(_Resubscribing):
    """A worker's wake-ups over Realtime (``WakesClaims``): the private channel
    ``queue:{executorId}``, where ``collab._notify_claimable`` broadcasts
    ``jobs.claimable`` (``realtime.send``, after commit) whenever jobs of the executor
    become claimable. ``on_wake`` is called on each such broadcast, on every
    (re)subscribe (what was enqueued meanwhile was never pushed), and every
    ``backstop`` seconds while the channel is not subscribed, so a worker that polls
    rarely because it is woken is never slower than polling when Realtime is down."""

    what = "Realtime claim wake-ups"

    def __init__(self, session: SupabaseSession, executor_id: str, on_wake: Callable[[], None], *,
                 backstop: float = 2.0, log_gate: Backoff | None = None,
                 backoff_first: float = 0.1, backoff_cap: float = 5.0) -> None:
        super().__init__(session, backoff_first=backoff_first, backoff_cap=backoff_cap,
                         log_gate=log_gate)
        self.executor_id, self.on_wake, self.backstop = executor_id, on_wake, backstop
        #: Broadcasts that woke the worker, and those ignored (another event or executor).
        self.wakeups = 0
        self.ignored = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Stay subscribed until ``stop`` is set, polling on the backstop meanwhile."""
        backstop = asyncio.create_task(self._backstop(stop))
        try:
            await self._keep(stop)
        finally:
            backstop.cancel()
            await asyncio.gather(backstop, return_exceptions=True)

    async def _backstop(self, stop: asyncio.Event) -> None:
        while not await wait_event(stop, self.backstop):
            if not self.connected.is_set():
                self.on_wake()

    def _topic(self) -> str:
        return queue_topic(self.executor_id)

    def _configure(self, channel: AsyncRealtimeChannel) -> None:
        channel.on_broadcast(CLAIMABLE_EVENT, self._on_broadcast)

    def _subscribed(self) -> None:
        self.on_wake()

    def _on_broadcast(self, message: Any) -> None:
        # Runs inside realtime-py's receive loop: it must never raise.
        try:
            payload = message.get("payload") or {}
            relevant = payload.get("executorId") == self.executor_id
        except Exception:  # noqa: BLE001 - a malformed message is only not a wake-up
            relevant = False
        if relevant:
            self.wakeups += 1
            self.on_wake()
        else:
            self.ignored += 1


async def _next_state(states: asyncio.Queue[RealtimeSubscribeStates],
                      stop: asyncio.Event) -> RealtimeSubscribeStates | None:
    """The channel's next state, or None once ``stop`` is set."""
    getting = asyncio.ensure_future(states.get())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([getting, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not getting.done():
            getting.cancel()
    return None if stop.is_set() or not getting.done() else getting.result()
