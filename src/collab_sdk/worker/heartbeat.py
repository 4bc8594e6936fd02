"""Heartbeats: a worker's row in ``worker_heartbeats_v2``, every ``interval`` seconds.

Each beat sends ``status`` (``idle``/``busy``; ``stopped`` on exit), ``capacity``,
``running``, ``version`` and metadata (host, pid, types, counters), and feeds the same
values to Realtime presence when the worker publishes it. A failed beat never stops the
worker: an unavailable or read-only database is noted in the worker's ``Availability``
(one log line per change of state, ``collab_sdk.availability``) and the next beat comes
an interval later; any other error is logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from collab_sdk.availability import Availability
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import CollabError
from collab_sdk.timing import wait_event
from collab_sdk.worker.tasks import TaskRegistry

if TYPE_CHECKING:
    from collab_sdk.worker.presence import WorkerPresence

__all__ = ["Heartbeat"]

log = logging.getLogger("collab.worker")


class Heartbeat:
    """One worker's heartbeats; ``run`` is one of its background loops."""

    def __init__(self, client: AsyncCollabClient, *, worker_id: str, executor_id: str, name: str,
                 version: str | None, capacity: int, tasks: TaskRegistry, stats: dict[str, int],
                 running: Callable[[], int], presence: WorkerPresence | None,
                 availability: Availability) -> None:
        self.client, self.worker_id, self.executor_id = client, worker_id, executor_id
        self.name, self.version, self.capacity = name, version, capacity
        self.tasks, self.stats, self.running, self.presence = tasks, stats, running, presence
        self.availability = availability

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Beat every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            await self.beat("busy" if self.running() else "idle")
            await wait_event(stop, interval)

    async def beat(self, status: str) -> None:
        """Send one heartbeat (and the same values to presence); never raises on an outage."""
        running, last_seen_at = self.running(), None
        try:
            beat = await self.client.heartbeat(
                self.worker_id, self.executor_id, status=status, version=self.version,
                capacity=self.capacity, running=running,
                metadata={"name": self.name, "pid": os.getpid(), "host": socket.gethostname(),
                          "types": sorted(self.tasks.by_type), "prefixes": sorted(self.tasks.by_prefix),
                          "stats": self.stats})
            last_seen_at = beat.last_seen_at
            self.availability.succeeded()
        except CollabError as exc:
            if self.availability.failed(exc) is None:
                log.warning("heartbeat failed: %s", exc)
        if self.presence is not None:  # the same values as the heartbeat row
            self.presence.heartbeat(status=status, running=running, capacity=self.capacity,
                                    stats=self.stats, last_seen_at=last_seen_at)
