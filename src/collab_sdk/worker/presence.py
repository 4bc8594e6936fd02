"""A worker on Supabase Realtime: presence and broadcasts, best effort.

The channels of the seeds' taxonomy (private channels, joined with the transport's key
and user token; ``collab.job_events`` stays the transactional record, these are for
dashboards and routing). Realtime admits each join and each write by the RLS policies on
``realtime.messages`` that collab's migrations ship
(``20261201010000_collab_realtime_policies.sql``):

- ``agents:{agentId}`` — presence under the key ``agentId`` with ``{agentId, executorId,
  status, version, lastSeenAt, running, capacity}``, the values of the worker's
  heartbeat row (``agentId`` is the worker id; ``lastSeenAt`` the row's ``last_seen_at``
  when the presence was last tracked); broadcasts ``agent.status`` (the same payload,
  with a fresh ``lastSeenAt``) and ``worker.metrics`` (``{agentId, executorId, running,
  capacity, stats, at}``) at every heartbeat.
- ``jobs:{jobId}`` — broadcasts ``job.claimed``, ``job.started``, ``job.progress``
  (``seq`` and ``payload`` of the progress event), ``job.succeeded`` and ``job.failed``
  (``outcome``: failed, retried or aborted), each with ``{jobId, executorId, agentId,
  type, attempt, at}``. A job whose lease was lost gets no final broadcast.
- ``system:events`` — ``agent.started`` and ``agent.stopped``, only from a worker using
  the secret key (the topic is written by the service role only; a member worker's
  start and stop show as its presence on ``agents:{agentId}`` instead).

A member worker (publishable key and a user token) may write ``agents:`` of its own
heartbeat row and ``jobs:`` of running jobs of executors where it is a worker or admin
member; Realtime checks the write at the first message of each channel and keeps the
answer for the channel's life, so a job's final broadcast after its complete goes out.

Presence is tracked only when it changes, and at most once per ``PRESENCE_INTERVAL``
(10 s) per topic: Realtime lets one client send about 5 presence updates (track or
untrack) per 30 s and closes the channel past that (``ClientPresenceRateLimitReached``),
while a worker heartbeats every 5 s. A change counts when any field but ``lastSeenAt``
differs (the heartbeat row and ``agent.status`` carry the fresh time; presence itself
says the worker is connected). A change inside the interval is sent when it ends, with
the latest state (coalesced); so is the re-track after a (re)join. That is at most 3
tracks per 30 s, plus the last one (``stopped``) sent at once on close: within the limit
even when they fall in one window. Heartbeat rows and broadcasts keep their own cadence.

``RealtimePublisher`` sends from a queue in its own task, so the worker never waits for
Realtime: a message that cannot be sent is dropped (at most ``max_pending`` wait), the
failure is logged about once a second at most, and nothing is raised to the worker.
After a rejoin the last presence is tracked again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from realtime import AsyncRealtimeChannel, AsyncRealtimeClient, RealtimeSubscribeStates

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.worker.context import JobContext
from collab_sdk.models import Job, JobEvent
from collab_sdk.transports.supabase.realtime import channel_options, drop_channel
from collab_sdk.transports.supabase.session import SupabaseSession, close_realtime
from collab_sdk.timing import Backoff

__all__ = ["RealtimePublisher", "WorkerPresence", "agent_topic", "job_topic", "SYSTEM_TOPIC",
           "PRESENCE_FIELDS", "PRESENCE_INTERVAL"]

SYSTEM_TOPIC = "system:events"
#: The keys of an agent's presence (and ``agent.status``) payload.
PRESENCE_FIELDS = ("agentId", "executorId", "status", "version", "lastSeenAt", "running", "capacity")
#: The fewest seconds between two presence tracks of a topic: Realtime closes a channel
#: whose client sends more than 5 presence updates in 30 s (see the module docstring).
PRESENCE_INTERVAL = 10.0
#: Final outcomes of ``JobRunner.run`` and the broadcast each gets.
_SETTLED = {"succeeded": "succeeded", "failed": "failed", "retried": "failed", "aborted": "failed"}
log = logging.getLogger("collab.worker")


def agent_topic(agent_id: str) -> str:
    """``agents:{agentId}``."""
    return f"agents:{agent_id}"


def job_topic(job_id: UUID | str) -> str:
    """``jobs:{jobId}``."""
    return f"jobs:{job_id}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass(frozen=True)
class _Item:
    topic: str
    kind: str  # "broadcast", "track" or "leave"
    event: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


class RealtimePublisher:
    """Broadcasts and presence through a transport's Realtime client, sent in order from
    a bounded queue by a background task; channels are joined on first use."""

    def __init__(self, session: SupabaseSession, *, log_gate: Backoff | None = None,
                 max_pending: int = 1000, timeout: float = 3.0,
                 track_interval: float = PRESENCE_INTERVAL) -> None:
        self.session = session
        self.max_pending, self.timeout = max_pending, timeout
        #: The fewest seconds between two tracks of a topic (``PRESENCE_INTERVAL``).
        self.track_interval = track_interval
        self._tracked_at: dict[str, float] = {}  # topic → when its last track was queued
        self._deferred: dict[str, asyncio.TimerHandle] = {}  # topic → its paced track
        self._log_gate = log_gate or Backoff()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._channels: dict[str, AsyncRealtimeChannel] = {}
        self._presence: dict[str, tuple[str, dict[str, Any]]] = {}  # topic → (key, last state)
        self._joins: dict[str, int] = {}
        self._realtime: AsyncRealtimeClient | None = None
        self._task: asyncio.Task[None] | None = None
        #: Counters: messages sent, dropped (queue full) and failed.
        self.sent = self.dropped = self.failed = 0

    def start(self) -> None:
        """Start sending (in the running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def broadcast(self, topic: str, event: str, payload: Mapping[str, Any]) -> None:
        """Queue a broadcast of ``event`` on ``topic``."""
        self._put(_Item(topic, "broadcast", event, dict(payload)))

    def track(self, topic: str, key: str, state: Mapping[str, Any]) -> None:
        """Track ``state`` as the presence ``key`` on ``topic``: queued now, or, within
        ``track_interval`` of the topic's last track, when the interval ends (with the
        latest state given by then)."""
        self._presence[topic] = (key, dict(state))
        self._pace_track(topic)

    def leave(self, topic: str) -> None:
        """Queue leaving ``topic`` (after what was queued for it)."""
        deferred = self._deferred.pop(topic, None)
        if deferred is not None:
            deferred.cancel()
        self._put(_Item(topic, "leave"))

    def _pace_track(self, topic: str) -> None:
        if topic in self._deferred:  # the paced track will send the latest state
            return
        wait = self._tracked_at.get(topic, -math.inf) + self.track_interval - time.monotonic()
        if wait <= 0:
            self._queue_track(topic)
        else:
            self._deferred[topic] = asyncio.get_running_loop().call_later(wait, self._queue_track, topic)

    def _queue_track(self, topic: str) -> None:
        self._deferred.pop(topic, None)
        if topic in self._presence:
            key, state = self._presence[topic]
            self._tracked_at[topic] = time.monotonic()
            self._put(_Item(topic, "track", key, dict(state)))

    def _put(self, item: _Item) -> None:
        if self._queue.qsize() >= self.max_pending:
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
        self._queue.put_nowait(item)

    async def aclose(self, timeout: float = 2.0) -> None:
        """Send what is queued (a paced track at once: the socket closes next), up to
        ``timeout`` seconds; leave every channel and close the socket if nothing else
        uses it."""
        for topic, deferred in list(self._deferred.items()):
            deferred.cancel()
            self._queue_track(topic)
        if self._task is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._queue.join()
            except TimeoutError:
                pass
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._realtime is not None:
            for channel in self._channels.values():
                await drop_channel(self._realtime, channel)
            self._channels.clear()
            await close_realtime(self._realtime, if_idle=True)

    async def _run(self) -> None:
        backoff = Backoff()
        while True:
            item = await self._queue.get()
            try:
                async with asyncio.timeout(self.timeout):
                    await self._send(item)
                self.sent += 1
                backoff.reset()
            except Exception as exc:  # noqa: BLE001 - Realtime is best effort
                self.failed += 1
                if self._log_gate.should_log():
                    log.warning("Realtime: %s %s on %s not sent: %s", item.kind, item.event,
                                item.topic, str(exc) or type(exc).__name__)
                await self._forget(item.topic)
                await asyncio.sleep(backoff.next())
            finally:
                self._queue.task_done()

    async def _send(self, item: _Item) -> None:
        if item.kind == "leave":
            self._presence.pop(item.topic, None)
            return await self._forget(item.topic)
        key = self._presence.get(item.topic, (None, None))[0]
        channel = await self._channel(item.topic, key, tracking=item.kind == "track")
        if item.kind == "track":
            await channel.track(item.payload)
        else:
            await channel.send_broadcast(item.event, item.payload)

    async def _channel(self, topic: str, presence_key: str | None, *,
                       tracking: bool) -> AsyncRealtimeChannel:
        """The joined channel of ``topic``, joining (again) when needed; a fresh join
        for anything but a track has the topic's presence tracked again (paced)."""
        channel = self._channels.get(topic)
        if channel is not None and channel.is_joined:
            return channel
        await self._forget(topic)
        self._realtime = realtime = await self.session.realtime()
        channel = self._channels[topic] = realtime.channel(topic, channel_options(presence_key))
        self._joins[topic] = 0
        await channel.subscribe(lambda state, _error: self._on_state(topic, state))
        if not channel.is_joined:
            raise ConnectionError(f"could not join {topic}")
        if not tracking and topic in self._presence:  # a new channel holds no presence
            self._pace_track(topic)
        return channel

    def _on_state(self, topic: str, state: RealtimeSubscribeStates) -> None:
        if state is RealtimeSubscribeStates.SUBSCRIBED:
            self._joins[topic] = self._joins.get(topic, 0) + 1
            if self._joins[topic] > 1 and topic in self._presence:  # rejoined: presence was lost
                self._pace_track(topic)

    async def _forget(self, topic: str) -> None:
        channel = self._channels.pop(topic, None)
        self._joins.pop(topic, None)
        if channel is not None and self._realtime is not None:
            await drop_channel(self._realtime, channel)


class WorkerPresence:
    """What a ``Worker`` publishes on Realtime; see the module docstring."""

    def __init__(self, session: SupabaseSession, *, agent_id: str, executor_id: str,
                 version: str | None = None, log_gate: Backoff | None = None,
                 track_interval: float = PRESENCE_INTERVAL) -> None:
        self.publisher = RealtimePublisher(session, log_gate=log_gate, track_interval=track_interval)
        self._tracked: dict[str, Any] | None = None  # the last tracked state but lastSeenAt
        self.agent_id, self.executor_id, self.version = agent_id, executor_id, version
        self.topic = agent_topic(agent_id)
        #: Whether ``agent.started``/``agent.stopped`` go on ``system:events`` (written by
        #: the service role only: Realtime would drop a member's without a word).
        self.announces = session.trusted

    def start(self) -> None:
        """Start publishing; announce ``agent.started`` on ``system:events``."""
        self.publisher.start()
        self._announce("agent.started")

    def heartbeat(self, *, status: str, running: int, capacity: int, stats: Mapping[str, int],
                  last_seen_at: datetime | None = None) -> None:
        """Track the presence when it changed (paced, see the module docstring) and
        broadcast ``agent.status`` and ``worker.metrics``."""
        state = {"agentId": self.agent_id, "executorId": self.executor_id, "status": status,
                 "version": self.version, "lastSeenAt": (last_seen_at.isoformat() if last_seen_at
                                                         else _now()),
                 "running": running, "capacity": capacity}
        essential = {k: v for k, v in state.items() if k != "lastSeenAt"}
        if essential != self._tracked:
            self._tracked = essential
            self.publisher.track(self.topic, self.agent_id, state)
        self.publisher.broadcast(self.topic, "agent.status", state)
        self.publisher.broadcast(self.topic, "worker.metrics", {
            "agentId": self.agent_id, "executorId": self.executor_id, "running": running,
            "capacity": capacity, "stats": dict(stats), "at": _now()})

    def job(self, job: Job, stage: str, **fields: Any) -> None:
        """Broadcast ``job.<stage>`` on ``jobs:{jobId}``."""
        self.publisher.broadcast(job_topic(job.id), f"job.{stage}", {
            "jobId": str(job.id), "executorId": job.executor_id, "agentId": self.agent_id,
            "type": job.type, "attempt": job.attempts, "at": _now(), **fields})

    def settled(self, job: Job, outcome: str) -> None:
        """Broadcast the attempt's end (not for a lost lease), then leave ``jobs:{jobId}``."""
        if outcome in _SETTLED:
            self.job(job, _SETTLED[outcome], outcome=outcome)
        self.publisher.leave(job_topic(job.id))

    def context(self, client: AsyncCollabClient, job: Job, worker_id: str) -> JobContext:
        """A ``JobContext`` whose ``progress`` also broadcasts ``job.progress``."""
        return _BroadcastingContext(client, job, worker_id, self)

    async def aclose(self) -> None:
        """Announce ``agent.stopped``, send what is queued and leave every channel."""
        self._announce("agent.stopped")
        await self.publisher.aclose()

    def _announce(self, event: str) -> None:
        if not self.announces:
            return
        self.publisher.broadcast(SYSTEM_TOPIC, event, {
            "agentId": self.agent_id, "executorId": self.executor_id, "version": self.version,
            "at": _now()})


class _BroadcastingContext(JobContext):
    """``JobContext`` that broadcasts each stored progress event."""

    def __init__(self, client: AsyncCollabClient, job: Job, worker_id: str,
                 presence: WorkerPresence) -> None:
        super().__init__(client, job, worker_id)
        self._presence = presence

    async def progress(self, value: float | None = None, **fields: Any) -> JobEvent:
        """Append a ``progress`` event, then broadcast it as ``job.progress``."""
        event = await super().progress(value, **fields)
        self._presence.job(self.job, "progress", seq=event.seq, payload=event.payload)
        return event
