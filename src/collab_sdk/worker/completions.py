"""Completing jobs in batches: handlers that finish together share one ``complete_jobs_v1``
(``complete_many_ids``: only the completed jobs' ids come back).

A handler's result waits for at most one event-loop turn plus the batch in flight: when
nothing is being sent, a result goes out on the next turn (alone, if nothing else
finished); while a batch is in flight, results pile up and go together in the next.
Under load a worker thus pays one round trip for many jobs, idle it adds no delay.
``complete_jobs_v1`` leaves out jobs the worker no longer holds, so each job learns
whether it was completed. A batch the engine rejects as a whole (a result that is not
JSON or too large) is answered with "try alone", so only the bad job fails.

While the database is unavailable or read-only the batch in flight is retried with
backoff (the runner's ``settle``, ``collab_sdk.availability``) and later results wait in
memory behind it; once writes are accepted they go out, in batches, each fenced by the
engine: a job whose lease was lost meanwhile is left out, and its result dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import PayloadTooLarge, ValidationError
from collab_sdk.models import Job

__all__ = ["CompletionBatcher"]

T = TypeVar("T")
Settle = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


class CompletionBatcher:
    """Batches ``complete`` calls of one worker identity."""

    def __init__(self, client: AsyncCollabClient, worker_id: str, settle: Settle,
                 max_batch: int = 200) -> None:
        self.client = client
        self.worker_id = worker_id
        self.settle = settle
        self.max_batch = max_batch
        self._pending: list[tuple[Job, Any, asyncio.Future[bool | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def complete(self, job: Job, result: Any) -> bool | None:
        """True when completed, False when the lease was lost, None to complete it alone."""
        future: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        self._pending.append((job, result, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # let the handlers finishing this turn join in
                batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                await self._send(batch)
        finally:
            self._flusher = None

    async def _send(self, batch: list[tuple[Job, Any, asyncio.Future[bool | None]]]) -> None:
        completions = [{"job_id": job.id, "result": result, "attempt": job.attempts}
                       for job, result, _ in batch]
        try:
            done = await self.settle(f"{len(batch)} completions",
                                     lambda: self.client.complete_many_ids(self.worker_id, completions))
            answers: list[bool | None] = [job.id in (done or ()) for job, _, _ in batch]
        except (ValidationError, PayloadTooLarge):
            answers = [None] * len(batch)
        for (_, _, future), answer in zip(batch, answers):
            if not future.done():
                future.set_result(answer)
