"""Completing jobs in batches: handlers that finish together share one ``complete_jobs_v1``
(``complete_many_ids``: only the completed jobs' ids come back), or ride along with the
worker's next claim (``complete_and_claim_jobs_v1``: ``take``, then ``delivered`` or
``give_back``).

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

Results still waiting when the claim loop claims (typically those that piled up behind
a batch in flight) go with the claim (``take``): one call and one commit instead of two.
The claim loop answers them from its own answer (``delivered``), or gives them back when
its call failed, and they go out from here as any others (retried, or tried alone when
the batch was refused).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import PayloadTooLarge, ValidationError
from collab_sdk.models import Job

__all__ = ["CompletionBatcher", "Pending", "payload"]

T = TypeVar("T")
Settle = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]
#: A result waiting to be stored: the job, its result, and who waits for the answer.
Pending = tuple[Job, Any, "asyncio.Future[bool | None]"]


class CompletionBatcher:
    """Batches ``complete`` calls of one worker identity. ``carry()``, when given, asks the
    claim loop to take the waiting results with its next claim: True when it will (the
    batcher then leaves them to it)."""

    def __init__(self, client: AsyncCollabClient, worker_id: str, settle: Settle,
                 max_batch: int = 200, carry: Callable[[], bool] | None = None) -> None:
        self.client = client
        self.worker_id = worker_id
        self.settle = settle
        self.max_batch = max_batch
        self.carry = carry or (lambda: False)
        self._pending: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        #: The waiting results are left to the claim loop (until it ``take``s or ``kick``s).
        self._left = False

    async def complete(self, job: Job, result: Any) -> bool | None:
        """True when completed, False when the lease was lost, None to complete it alone."""
        future: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        self._pending.append((job, result, future))
        if self._flusher is None and not self._left:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # let the handlers finishing this turn join in
                if self._pending and self.carry():
                    self._left = True
                    return
                batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                await self._send(batch)
        finally:
            self._flusher = None

    def take(self) -> list[Pending]:
        """The results waiting to be sent (not those in flight), up to a batch, for a
        claim to carry; the caller must hand them to ``delivered`` or ``give_back``."""
        batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
        self.kick()
        return batch

    def kick(self) -> None:
        """Send the waiting results from here unless the claim loop carries them (it
        calls this whenever it will not claim next)."""
        self._left = False
        if self._pending and self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())

    def delivered(self, batch: list[Pending], lost: set[Any]) -> None:
        """A carried batch was sent: every job but those ``lost`` was completed (none
        lost, the usual answer: no id is hashed, ``UUID.__hash__`` being Python code)."""
        _answer(batch, [job.id not in lost for job, _, _ in batch] if lost else [True] * len(batch))

    def give_back(self, batch: list[Pending]) -> None:
        """A carried batch was not sent (the call failed): send it from here, first."""
        self._pending[:0] = batch
        self.kick()

    async def _send(self, batch: list[Pending]) -> None:
        completions = payload(batch)
        try:
            done = await self.settle(f"{len(batch)} completions",
                                     lambda: self.client.complete_many_ids(self.worker_id, completions))
            answers: list[bool | None] = [job.id in (done or ()) for job, _, _ in batch]
        except (ValidationError, PayloadTooLarge):
            answers = [None] * len(batch)
        _answer(batch, answers)


def payload(batch: list[Pending]) -> list[dict[str, Any]]:
    """The ``completions`` argument of ``complete_jobs_v1`` for ``batch``."""
    return [{"job_id": job.id, "result": result, "attempt": job.attempts} for job, result, _ in batch]


def _answer(batch: list[Pending], answers: list[bool | None]) -> None:
    for (_, _, future), answer in zip(batch, answers):
        if not future.done():
            future.set_result(answer)
