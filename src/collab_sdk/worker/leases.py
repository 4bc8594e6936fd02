"""Lease extension for every running attempt of one worker, from one loop.

A job's lease is extended a third of a lease after its claim and every third of a lease
after that, for as long as its handler runs. One loop checks the held attempts a few
times per third (no task or timer per job: most jobs end long before their first
extension). An extension that says the lease is gone (cancelled, reclaimed after a
pause, deleted) cancels the handler, whose result the engine would refuse anyway; one
that meets an unavailable, read-only or contended database is retried on the next check
(a quarter of a third of a lease later: never a tight loop) until the lease would have
expired, and then the handler is cancelled too: once the database accepts writes again
another worker may claim the job. Such failures are noted in the worker's
``Availability`` (``collab_sdk.availability``: one log line per change of state, not one
per job).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from collab_sdk.availability import Availability
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import CollabError, LeaseLost, NotFound
from collab_sdk.logs import fields
from collab_sdk.worker.attempt import Attempt

__all__ = ["LeaseKeeper"]

log = logging.getLogger("collab.worker")


class LeaseKeeper:
    """Holds the worker's running attempts and extends their leases (``run`` is one of
    the worker's background loops)."""

    def __init__(self, client: AsyncCollabClient, worker_id: str, lease_seconds: int,
                 count: Callable[[str], None] | None = None,
                 availability: Availability | None = None) -> None:
        self.client, self.worker_id, self.lease_seconds = client, worker_id, lease_seconds
        #: Where failed extensions are noted (the worker's, shared by its loops).
        self.availability = availability or Availability(log, name=worker_id)
        #: Counts ``lease_extensions`` and ``leases_lost`` (the worker's stats and metrics).
        self.count = count or (lambda key: None)
        self.interval = lease_seconds / 3
        # Keyed by the attempt itself: its identity hash is C code, a UUID's is Python
        # (and a held attempt is looked up three times per job).
        self._held: set[Attempt] = set()
        self._extending: dict[Attempt, asyncio.Task[None]] = {}

    def hold(self, attempt: Attempt) -> None:
        """Start keeping ``attempt``'s lease (claimed just now)."""
        attempt.extended_at = time.monotonic()
        self._held.add(attempt)

    def release(self, attempt: Attempt) -> None:
        """Stop keeping it: the handler is done (or the lease is gone)."""
        self._held.discard(attempt)
        extending = self._extending.pop(attempt, None)
        if extending is not None:
            extending.cancel()

    async def run(self) -> None:
        """Check the held attempts four times per third of a lease, forever."""
        try:
            while True:
                await asyncio.sleep(self.interval / 4)
                now = time.monotonic()
                for attempt in list(self._held):
                    if attempt not in self._extending and now - attempt.extended_at >= self.interval:
                        self._extending[attempt] = asyncio.create_task(self._extend(attempt))
        finally:
            for task in self._extending.values():
                task.cancel()

    async def _extend(self, attempt: Attempt) -> None:
        job = attempt.job
        try:
            await self.client.extend_lease(job.id, self.worker_id, lease_seconds=self.lease_seconds,
                                           attempt=job.attempts)
            attempt.extended_at = time.monotonic()
            self.count("lease_extensions")
            self.availability.succeeded()
        except (LeaseLost, NotFound):
            self._lost(attempt, "an extension was refused: the job was cancelled, reclaimed or deleted")
        except CollabError as exc:
            if self.availability.failed(exc) is None:
                log.warning("job %s: could not extend the lease: %s", job.id, exc)
            if time.monotonic() >= attempt.extended_at + self.lease_seconds:
                self._lost(attempt, f"the lease could not be extended before it expired: {exc}")
        finally:
            self._extending.pop(attempt, None)

    def _lost(self, attempt: Attempt, reason: str) -> None:
        job = attempt.job
        log.warning("job.lease_lost", extra=fields(type=job.type, id=str(job.id),
                                                   attempt=job.attempts, reason=reason))
        self.count("leases_lost")
        self._held.discard(attempt)
        attempt.lose()
