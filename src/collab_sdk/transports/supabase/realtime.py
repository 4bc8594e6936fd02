"""Supabase Realtime as the live source of ``watch`` over a ``SupabaseTransport``.

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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from realtime import (AsyncRealtimeChannel, AsyncRealtimeClient, ChannelStates,
                      RealtimeChannelOptions, RealtimePostgresChangesListenEvent,
                      RealtimeSubscribeStates)

from collab_sdk.timing import Backoff, wait_event
from collab_sdk.transports.base import EventFilter
from collab_sdk.transports.supabase.session import SupabaseSession, close_realtime

__all__ = ["RealtimeLiveSource", "changes_filter", "concerns", "drop_channel",
           "channel_options", "EVENTS_SCHEMA", "EVENTS_TABLE"]

EVENTS_SCHEMA = "collab"
EVENTS_TABLE = "job_events"
#: How long leaving a channel or closing the socket may take before it is abandoned.
_LEAVE_TIMEOUT = 2.0
log = logging.getLogger("collab.realtime")


def channel_options(presence_key: str | None = None) -> RealtimeChannelOptions:
    """Public-channel options; presence enabled under ``presence_key`` when given."""
    return {"config": {"broadcast": {"ack": False, "self": False},
                       "presence": {"key": presence_key or "", "enabled": presence_key is not None},
                       "private": False}}


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
    """Leave ``channel`` (when the socket is up) and forget it, so the client never
    rejoins it; never raises."""
    channel.rejoin_timer.reset()
    try:
        if realtime.is_connected and (channel.is_joined or channel.is_joining):
            async with asyncio.timeout(_LEAVE_TIMEOUT):
                await channel.unsubscribe()
    except Exception as exc:  # the socket is going away anyway
        log.debug("leaving %s: %s", channel.topic, exc)
    finally:
        channel.join_push.destroy()
        channel.state = ChannelStates.CLOSED
        if realtime.channels.get(channel.topic) is channel:
            del realtime.channels[channel.topic]


class _ChannelLost(Exception):
    """The channel left the SUBSCRIBED state."""


class RealtimeLiveSource:
    """``postgres_changes`` on ``collab.job_events`` through the transport's Realtime
    client; see the module docstring."""

    def __init__(self, session: SupabaseSession, *, backoff_first: float = 0.1,
                 backoff_cap: float = 5.0) -> None:
        self.session = session
        self._backoff = Backoff(first=backoff_first, cap=backoff_cap)
        self._log_gate = Backoff()
        #: Counters for tests and logs: (re)subscriptions, rows that woke the stream,
        #: pushes ignored (malformed, or not this stream's).
        self.subscriptions = 0
        self.changes = 0
        self.ignored = 0
        #: The channel of the current subscription, if any.
        self.channel: AsyncRealtimeChannel | None = None

    async def run(self, events: EventFilter, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Subscribe until ``stop`` is set, subscribing again after any failure."""
        while not stop.is_set():
            try:
                await self._subscription(events, wake, stop)
            except Exception as exc:  # noqa: BLE001 - a live source never raises
                if self._log_gate.should_log():
                    log.warning("Realtime subscription to %s.%s lost (%s); resubscribing",
                                EVENTS_SCHEMA, EVENTS_TABLE, str(exc) or type(exc).__name__)
            if not stop.is_set():
                await wait_event(stop, self._backoff.next())

    async def _subscription(self, events: EventFilter, wake: Callable[[], None],
                            stop: asyncio.Event) -> None:
        """One channel's life: join, wake on SUBSCRIBED and on pushes, until it fails."""
        realtime = await self.session.realtime()
        states: asyncio.Queue[RealtimeSubscribeStates] = asyncio.Queue()
        # A fresh topic per attempt: a late reply or close for an old one cannot reach it.
        channel = realtime.channel(f"collab:{EVENTS_TABLE}:{secrets.token_hex(6)}", channel_options())
        channel.on_postgres_changes(RealtimePostgresChangesListenEvent.Insert,
                                    lambda payload: self._on_change(events, wake, payload),
                                    table=EVENTS_TABLE, schema=EVENTS_SCHEMA, filter=changes_filter(events))
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
                wake()  # whatever committed while we were not subscribed
        finally:
            self.channel = None
            await drop_channel(realtime, channel)
            if stop.is_set():
                await close_realtime(realtime, if_idle=True)

    def _on_change(self, events: EventFilter, wake: Callable[[], None], payload: Any) -> None:
        # Runs inside realtime-py's receive loop: it must never raise.
        try:
            relevant = concerns(events, payload)
        except Exception:  # noqa: BLE001 - a hostile payload costs a hint, nothing more
            relevant = False
        if relevant:
            self.changes += 1
            wake()
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
