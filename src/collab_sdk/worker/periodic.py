"""Periodic jobs: ``Worker.periodic(cron, type, payload)`` enqueues ``type`` at each tick.

Workers also fire their executor's due **workflow schedules** about once a minute
(``fire_schedules``: ``fire_due_schedules_v1``, which makes at most one run per schedule
and tick however many workers, and pg_cron, call it).

Every worker runs the tick loop of every periodic job, and each tick is enqueued with
the idempotency key ``periodic:<type>:<tick>``, so one tick makes one job however many
workers run, with ``<tick>`` the tick's instant in UTC (ISO 8601) whatever the time zone
the cron expression is read in (``collab_sdk.worker.cron``). A tick that meets an
unavailable or read-only database is retried with backoff until it is enqueued (late
rather than lost: its key keeps it one job), noted in the worker's ``Availability``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime, timezone
from typing import Any, NamedTuple

from collab_sdk.availability import Availability, retrying
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import CollabError
from collab_sdk.timing import wait_event
from collab_sdk.worker.cron import Cron

__all__ = ["PeriodicJob", "Periodic", "tick_key", "fire_schedules", "SCHEDULE_INTERVAL"]

#: How often a worker fires its executor's due workflow schedules (seconds).
SCHEDULE_INTERVAL = 60.0

log = logging.getLogger("collab.worker")


class PeriodicJob(NamedTuple):
    """A job type to enqueue at each tick of ``cron``, with this payload."""

    cron: Cron
    type: str
    payload: dict[str, Any]


def tick_key(type: str, tick: datetime) -> str:
    """The idempotency key of ``type``'s job for ``tick``: ``periodic:<type>:<tick in UTC>``."""
    return f"periodic:{type}:{tick.astimezone(timezone.utc).isoformat()}"


class Periodic:
    """One worker's periodic jobs and their tick loops."""

    def __init__(self, client: AsyncCollabClient, executor_id: str,
                 availability: Availability | None = None) -> None:
        self.client, self.executor_id = client, executor_id
        #: Where failed ticks are noted (the worker's, shared by its loops).
        self.availability = availability or Availability(log)
        self.jobs: list[PeriodicJob] = []

    def add(self, cron: str, type: str, payload: dict[str, Any] | None = None, *,
            timezone: str | None = None) -> None:
        """Enqueue ``type`` at each tick of ``cron`` read in ``timezone`` (default UTC);
        parsed now, so a bad expression or zone raises here."""
        self.jobs.append(PeriodicJob(Cron(cron, timezone=timezone), type, dict(payload or {})))

    def loops(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """One tick loop per periodic job, each ending when ``stop`` is set."""
        return [self.run(job, stop) for job in self.jobs]

    async def run(self, job: PeriodicJob, stop: asyncio.Event) -> None:
        """Enqueue ``job`` at each of its ticks until ``stop`` is set."""
        while not stop.is_set():
            tick = job.cron.next_after(datetime.now(timezone.utc))
            delay = (tick - datetime.now(timezone.utc)).total_seconds()
            if await wait_event(stop, max(delay, 0)):
                return
            try:
                await retrying(lambda: self.enqueue_tick(tick, job.type, job.payload),
                               self.availability, stop=stop)
            except CollabError as exc:
                log.warning("periodic %s at %s not enqueued: %s", job.type, tick.isoformat(), exc)

    async def enqueue_tick(self, tick: datetime, type: str, payload: dict[str, Any]) -> bool:
        """Enqueue the periodic job of ``tick``; False when another worker already did."""
        assigned = await self.client.assign(type, executor_id=self.executor_id, payload=payload,
                                            idempotency_key=tick_key(type, tick))
        return assigned.queued


async def fire_schedules(client: AsyncCollabClient, executor_id: str, stop: asyncio.Event,
                         interval: float = SCHEDULE_INTERVAL) -> None:
    """Fire the executor's due workflow schedules now and every ``interval`` seconds
    until ``stop`` is set; failures are logged, never raised."""
    while not stop.is_set():
        try:
            fired = await client.workflows.fire_due_schedules(executor_id=executor_id)
            for one in fired:
                if one.created:
                    log.info("schedule %s fired for %s: run %s", one.schedule_id,
                             one.tick.isoformat(), one.run_id)
        except CollabError as exc:
            log.warning("workflow schedules not fired: %s", exc)
        if await wait_event(stop, interval):
            return
