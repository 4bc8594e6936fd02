"""One attempt of one job: validate, run the handler under its lease, settle the result.

While the handler runs, the worker's ``LeaseKeeper`` (``collab_sdk.worker.leases``) extends the
lease every third of it. If an extension says the lease is gone (cancelled, reclaimed
after a pause, deleted), the handler is cancelled and its result discarded: the engine
would refuse it anyway. Settling
(complete / fail) is retried on transport errors until the lease would have expired —
safe, because the engine answers a replay with the stored outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.worker.attempt import Attempt
from collab_sdk.worker.completions import CompletionBatcher
from collab_sdk.worker.context import SyncJobContext
from collab_sdk.worker.leases import LeaseKeeper
from collab_sdk.errors import (CollabError, LeaseLost, PayloadTooLarge, TransportError,
                               ValidationError)
from collab_sdk.models import Job
from collab_sdk.worker.tasks import PermanentFailure, Retry, Task

__all__ = ["JobRunner"]

log = logging.getLogger("collab.worker")
T = TypeVar("T")

SHUTDOWN_ERROR = "worker shut down before the handler finished"


class JobRunner:
    """Runs attempts for one worker identity."""

    def __init__(self, client: AsyncCollabClient, worker_id: str, lease_seconds: int,
                 threads: ThreadPoolExecutor) -> None:
        self.client = client
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.threads = threads
        self.completions = CompletionBatcher(client, worker_id, self._settle)
        #: Extends the leases of running attempts; ``leases.run()`` is a worker loop.
        self.leases = LeaseKeeper(client, worker_id, lease_seconds)

    async def run(self, attempt: Attempt, task: Task) -> str:
        """Run the attempt to its end; the outcome: succeeded, retried, failed, lost or aborted."""
        job = attempt.job
        try:
            typed: Job[Any] = job.with_payload(task.payload_model) if task.payload_model else job
        except ValidationError as exc:
            return await self._fail(job, exc.message, retryable=False)
        handler = self._start(task, typed, attempt)
        self.leases.hold(attempt)
        try:
            async with asyncio.timeout(task.timeout):
                result = await handler
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and attempt.handler is current:
                current.uncancel()  # ours, not the worker's: carry on to settle
            if attempt.lease_lost:
                log.warning("job %s: lease lost, handler cancelled, result discarded", job.id)
                return "lost"
            if not attempt.aborted:
                raise
            return await self._fail(job, SHUTDOWN_ERROR, retry_delay_seconds=0, outcome="aborted")
        except TimeoutError:
            attempt.context.cancelled.set()
            return await self._fail(job, f"handler timed out after {task.timeout}s")
        except Retry as exc:
            return await self._fail(job, str(exc), retry_delay_seconds=exc.after)
        except PermanentFailure as exc:
            return await self._fail(job, f"permanent failure: {exc}", retryable=False)
        except Exception as exc:
            return await self._fail(job, _describe(exc))
        finally:
            self.leases.release(attempt)
            attempt.handler_done()
        return await self._complete(job, result)

    def _start(self, task: Task, job: Job[Any], attempt: Attempt) -> Awaitable[Any]:
        """The handler's awaitable. An async handler runs in this task (no task of its
        own): cancelling ``attempt.handler`` then cancels it here."""
        if task.is_async:
            attempt.handler = asyncio.current_task()
            return cast(Awaitable[Any], task.handler(job, attempt.context))
        loop = asyncio.get_running_loop()
        attempt.handler = loop.run_in_executor(self.threads, task.handler, job,
                                               SyncJobContext(attempt.context, loop))
        return attempt.handler

    async def _complete(self, job: Job, result: Any) -> str:
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        batched = await self.completions.complete(job, result)
        if batched is not None:
            if not batched:
                log.warning("job %s: lease lost before its result was stored; discarded", job.id)
            return "succeeded" if batched else "lost"
        try:  # the batch was refused as a whole: this job alone says whether its result is bad
            done = await self._settle(str(job.id), lambda: self.client.complete(
                job.id, self.worker_id, result=result, attempt=job.attempts))
        except (ValidationError, PayloadTooLarge) as exc:  # not JSON, or over 1 MiB
            return await self._fail(job, f"invalid result: {exc.message}", retryable=False)
        return "succeeded" if done else "lost"

    async def _fail(self, job: Job, error: str, *, retryable: bool = True,
                    retry_delay_seconds: float | None = None, outcome: str | None = None) -> str:
        delay = None if retry_delay_seconds is None else max(0, round(retry_delay_seconds))
        failed = await self._settle(str(job.id), lambda: self.client.fail(
            job.id, self.worker_id, error=error, retryable=retryable, retry_delay_seconds=delay,
            attempt=job.attempts))
        if failed is None:
            return "lost"
        return outcome or ("retried" if failed.status.value == "queued" else "failed")

    async def _settle(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """``call()``, retried on transport errors while the lease may still be ours;
        None when the lease is lost or the call cannot be made. ``what`` names it in logs."""
        deadline, delay = time.monotonic() + self.lease_seconds, 0.1
        while True:
            try:
                return await call()
            except LeaseLost:
                log.warning("job %s: lease lost before its result was stored; discarded", what)
                return None
            except (ValidationError, PayloadTooLarge):
                raise  # the result itself is bad: the caller fails the job permanently
            except TransportError as exc:
                if time.monotonic() >= deadline:
                    log.error("%s: result not stored, database unreachable: %s", what, exc)
                    return None
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 5.0)
            except CollabError as exc:  # e.g. forbidden: the lease expires, another worker retries
                log.error("%s: result not stored: %s", what, exc)
                return None


def _describe(exc: BaseException) -> str:
    """The exception and the tail of its traceback, as the job's ``last_error``."""
    text = "".join(traceback.format_exception(exc))
    return text[-4000:]
