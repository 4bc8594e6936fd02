"""One attempt of one job: validate, run the handler under its lease, settle the result.

While the handler runs, the worker's ``LeaseKeeper`` (``collab_sdk.worker.leases``) extends the
lease every third of it. If an extension says the lease is gone (cancelled, reclaimed
after a pause, deleted), the handler is cancelled and its result discarded: the engine
would refuse it anyway. Once the handler is over nothing cancels the attempt any more:
a lease lost while its result is stored is the engine's refusal, and the outcome is
``lost`` either way. A sync handler runs on a thread of its own (``threads``), an
``isolation="process"`` one in a child process (``processes``). Settling
(complete / fail) is retried through an unavailable, read-only or contended database
(``collab_sdk.availability``) for as long as it lasts: the result waits in memory and is
delivered when the database accepts writes again, fenced as always — if the lease was
lost meanwhile the engine refuses it, and it is dropped and counted
(``results_dropped``). Repeating is safe: the engine answers a replay with the stored
outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from collab_sdk.availability import Availability, retrying
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.worker.attempt import Attempt
from collab_sdk.worker.completions import CompletionBatcher
from collab_sdk.worker.context import SyncJobContext
from collab_sdk.worker.leases import LeaseKeeper
from collab_sdk.errors import CollabError, LeaseLost, PayloadTooLarge, ValidationError
from collab_sdk.models import ClaimedJob, Job
from collab_sdk.tracing import attempt_span, child_span, set_outcome
from collab_sdk.worker.processes import ChildFailed, HandlerDied, ProcessPool
from collab_sdk.worker.tasks import PermanentFailure, Retry, Task
from collab_sdk.worker.threads import HandlerThreads

__all__ = ["JobRunner"]

log = logging.getLogger("collab.worker")
T = TypeVar("T")

SHUTDOWN_ERROR = "worker shut down before the handler finished"
#: How much of a failed handler's traceback the job keeps (``last_error``: its tail).
ERROR_LIMIT = 4000


class JobRunner:
    """Runs attempts for one worker identity."""

    def __init__(self, client: AsyncCollabClient, worker_id: str, lease_seconds: int,
                 threads: HandlerThreads, processes: ProcessPool | None = None,
                 count: Callable[[str], None] | None = None,
                 availability: Availability | None = None,
                 carry: Callable[[], bool] | None = None) -> None:
        self.client = client
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.threads = threads
        #: The child processes of ``isolation="process"`` tasks (None: no such task).
        self.processes = processes
        self.count = count or (lambda key: None)
        #: The worker's view of the database, shared with its other loops.
        self.availability = availability or Availability(log, name=worker_id)
        #: Results are batched; ``carry`` lets the claim loop take them with its claim.
        self.completions = CompletionBatcher(client, worker_id, self._settle, carry=carry)
        #: Extends the leases of running attempts; ``leases.run()`` is a worker loop.
        self.leases = LeaseKeeper(client, worker_id, lease_seconds, self.count, self.availability)

    async def run(self, attempt: Attempt, task: Task) -> str:
        """Run the attempt to its end; the outcome: succeeded, retried, failed, lost or
        aborted. A lost lease is an outcome like the others, whenever it happens: while
        the handler runs (it is cancelled) or while its result is being stored (the engine
        refuses it); ``attempt.lost_reason`` then says which. While OpenTelemetry is
        active (``attempt.traced``) it all runs in the attempt's span (``collab_sdk.tracing``)."""
        if not attempt.traced:  # the claim loop asked tracing once for the whole claim
            return await self._run(attempt, task)
        job = attempt.job
        with attempt_span(type=job.type, job_id=str(job.id), attempt=job.attempts,
                          executor_id=job.executor_id, worker_id=self.worker_id,
                          trace_context=job.trace_context if isinstance(job, ClaimedJob) else None,
                          claim_window=attempt.claim_window) as span:
            outcome = await self._run(attempt, task)
            set_outcome(span, outcome, attempt.lost_reason or None)
            return outcome

    async def _run(self, attempt: Attempt, task: Task) -> str:
        job = attempt.job
        try:
            typed: Job[Any] = job.with_payload(task.payload_model) if task.payload_model else job
        except ValidationError as exc:
            return await self._fail(attempt, exc.message, retryable=False)
        settle = await self._handle(attempt, task, typed)
        # The handler is over: from here on a lost lease no longer cancels this task (it
        # did, and the cancel landed in the middle of storing a fail, uncounted); the
        # engine's fence answers instead.
        return await settle()

    async def _handle(self, attempt: Attempt, task: Task, job: Job[Any]) -> Callable[[], Awaitable[str]]:
        """Run the handler under its lease and timeout; how to settle what it did."""
        began = time.monotonic()
        try:
            # Started in the handler's span: a sync handler's thread copies this context.
            with _span(attempt, f"collab.handler {job.type}"):
                handler = self._start(task, job, attempt)
                self.leases.hold(attempt)
                if task.timeout is None:  # no timeout object to make and enter per job
                    result = await handler
                else:
                    async with asyncio.timeout(task.timeout):
                        result = await handler
            return lambda: self._complete(attempt, result)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            ours = attempt.lease_lost or attempt.aborted
            if ours and current is not None and current.cancelling():
                current.uncancel()  # ours, not the worker's: carry on to settle
            if attempt.lease_lost:
                self._given_up(attempt)
                return lambda: self._lost(attempt, "the lease was lost while the handler ran; it was cancelled")
            if not attempt.aborted:
                raise
            self._given_up(attempt)
            return lambda: self._fail(attempt, SHUTDOWN_ERROR, retry_delay_seconds=0, outcome="aborted")
        except TimeoutError:
            attempt.context.cancelled.set()
            self.count("timeouts")
            gave_up = self._given_up(attempt)
            log.warning("job %s: handler timed out after %ss%s", job.id, task.timeout,
                        "; its thread is abandoned" if gave_up else "")
            return lambda: self._fail(attempt, f"handler timed out after {task.timeout}s")
        except HandlerDied as exc:
            self.count("child_deaths")
            log.error("job %s: %s", job.id, exc)
            died = str(exc)
            return lambda: self._fail(attempt, died)
        except Retry as exc:
            message, after = str(exc), exc.after
            return lambda: self._fail(attempt, message, retry_delay_seconds=after)
        except PermanentFailure as exc:
            reason = f"permanent failure: {exc}"
            return lambda: self._fail(attempt, reason, retryable=False)
        except Exception as exc:
            # The worker logs the whole traceback once the outcome is known; the job keeps its tail.
            attempt.traceback = _describe(exc, limit=None)
            error = attempt.traceback[-ERROR_LIMIT:]
            return lambda: self._fail(attempt, error)
        finally:
            attempt.handler_seconds = time.monotonic() - began
            attempt.handler = None
            self.leases.release(attempt)
            attempt.handler_done()

    def _given_up(self, attempt: Attempt) -> bool:
        """The worker stops waiting for a handler still running on a thread: count it."""
        if attempt.thread is not None and attempt.thread.is_alive():
            self.count("abandoned_threads")
            return True
        return False

    def _start(self, task: Task, job: Job[Any], attempt: Attempt) -> Awaitable[Any]:
        """The handler's awaitable. An async handler runs in this task (no task of its
        own): cancelling ``attempt.handler`` then cancels it here."""
        if task.isolation == "process":
            assert self.processes is not None, "a process task without a process pool"
            attempt.handler = asyncio.current_task()
            return self.processes.run(task, job, attempt.context)
        if task.is_async:
            attempt.handler = asyncio.current_task()
            return cast(Awaitable[Any], task.handler(job, attempt.context))
        loop = asyncio.get_running_loop()
        future = self.threads.run(task.handler, job, SyncJobContext(attempt.context, loop))
        attempt.handler, attempt.thread = future, self.threads.thread_of(future)
        return future

    async def _lost(self, attempt: Attempt, reason: str) -> str:
        attempt.lost_reason = reason
        return "lost"

    async def _complete(self, attempt: Attempt, result: Any) -> str:
        with _span(attempt, "collab.complete"):
            return await self._store(attempt, result)

    async def _store(self, attempt: Attempt, result: Any) -> str:
        job = attempt.job
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        batched = await self.completions.complete(job, result)
        if batched is not None:
            if not batched:  # the engine left it out of the batch: not ours any more
                self.count("results_dropped")
                attempt.lost_reason = "the lease was lost before its result was stored"
            return "succeeded" if batched else "lost"
        try:  # the batch was refused as a whole: this job alone says whether its result is bad
            done = await self._settle(str(job.id), lambda: self.client.complete(
                job.id, self.worker_id, result=result, attempt=job.attempts), attempt)
        except (ValidationError, PayloadTooLarge) as exc:  # not JSON, or over 1 MiB
            return await self._fail(attempt, f"invalid result: {exc.message}", retryable=False)
        return "succeeded" if done else "lost"

    async def _fail(self, attempt: Attempt, error: str, *, retryable: bool = True,
                    retry_delay_seconds: float | None = None, outcome: str | None = None) -> str:
        job = attempt.job
        delay = None if retry_delay_seconds is None else max(0, round(retry_delay_seconds))
        with _span(attempt, "collab.fail", {"collab.retryable": int(retryable)}):
            failed = await self._settle(str(job.id), lambda: self.client.fail(
                job.id, self.worker_id, error=error, retryable=retryable, retry_delay_seconds=delay,
                attempt=job.attempts), attempt)
        if failed is None:
            return "lost"
        return outcome or ("retried" if failed.status.value == "queued" else "failed")

    async def _settle(self, what: str, call: Callable[[], Awaitable[T]],
                      attempt: Attempt | None = None) -> T | None:
        """``call()``, retried with backoff through an unavailable, read-only or contended
        database until it answers (``collab_sdk.availability.retrying``); None when the
        engine refuses it — the lease is lost (counted as ``results_dropped``) or the call
        is not allowed — and ``attempt.lost_reason`` says why. A bad result
        (``ValidationError``, ``PayloadTooLarge``) is raised. ``what`` names it in logs."""
        def lost(reason: str) -> None:
            if attempt is not None:
                attempt.lost_reason = reason

        try:
            return await retrying(call, self.availability)
        except LeaseLost:
            self.count("results_dropped")
            lost("the lease was lost before its result was stored")
            return None
        except (ValidationError, PayloadTooLarge):
            raise  # the result itself is bad: the caller fails the job permanently
        except CollabError as exc:  # e.g. forbidden: the lease expires, another worker retries
            log.error("%s: result not stored: %s", what, exc)
            lost(f"its result was not stored: {exc}")
            return None


#: The span of an attempt that is not traced: one reusable no-op context (two per job).
_NO_SPAN = nullcontext()


def _span(attempt: Attempt, name: str,
          attributes: Mapping[str, str | int] | None = None) -> AbstractContextManager[Any]:
    """``child_span`` while the attempt is traced, else nothing at all."""
    return child_span(name, attributes) if attempt.traced else _NO_SPAN


def _describe(exc: BaseException, limit: int | None = ERROR_LIMIT) -> str:
    """The exception and its traceback (a child process's own traceback for a handler that
    failed there); its last ``limit`` characters, as the job's ``last_error``."""
    text = exc.remote_traceback if isinstance(exc, ChildFailed) else "".join(traceback.format_exception(exc))
    return text if limit is None else text[-limit:]
