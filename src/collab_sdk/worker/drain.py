"""The attempts a worker has in flight, and draining them when it stops.

A drain lets running handlers finish for up to the drain timeout, then aborts the rest:
each is failed retryably and due at once, so another worker takes it. An error or a
second stop request aborts them all without waiting.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from collab_sdk.logs import fields
from collab_sdk.worker.attempt import Attempt

__all__ = ["InFlight"]

log = logging.getLogger("collab.worker")

#: How long aborted attempts get to hand their jobs back once the drain is over.
HAND_BACK_SECONDS = 10


class InFlight:
    """A worker's attempts in flight, by job id, each with the task running it (from claim
    until its result is stored)."""

    def __init__(self) -> None:
        self._by_job: dict[Any, tuple[Attempt, asyncio.Task[str]]] = {}

    def __len__(self) -> int:
        return len(self._by_job)

    def add(self, attempt: Attempt, running: asyncio.Task[str]) -> None:
        """Track ``attempt``, run by ``running``."""
        self._by_job[attempt.job.id] = (attempt, running)

    def pop(self, job_id: Any) -> Attempt | None:
        """Stop tracking the attempt of ``job_id`` (its task is done); the attempt, if any."""
        attempt, _ = self._by_job.pop(job_id, (None, None))
        return attempt

    def abort_all(self) -> None:
        """Cancel every handler; their jobs are handed back."""
        for attempt, _ in self._by_job.values():
            attempt.abort()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the attempts to end, then abort the rest and give them
        a moment to hand their jobs back; whether any had to be aborted."""
        pending = [running for _, running in self._by_job.values()]
        if pending:
            log.info("worker.draining", extra=fields(running=len(pending), timeout_s=timeout))
            await asyncio.wait(pending, timeout=timeout)
        leftover = list(self._by_job.values())
        if leftover:
            log.warning("worker.drain_timeout", extra=fields(
                aborted=len(leftover), jobs=[str(a.job.id) for a, _ in leftover],
                reason="still running when the drain ended: handed back to the queue"))
        for attempt, _ in leftover:
            attempt.abort()
        if leftover:
            await asyncio.wait([running for _, running in leftover], timeout=HAND_BACK_SECONDS)
        return bool(leftover)
