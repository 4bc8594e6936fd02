"""What a handler gets besides its job: progress, logs, artifacts, attempt, cancellation.

``JobContext`` is for ``async`` handlers; a sync handler (running in a thread) gets
``SyncJobContext``, whose methods block on the worker's event loop. Every write is fenced
by the worker's lease and the attempt, so a handler that lost its job cannot write to it.
In a worker, ``progress`` and ``log`` wait out an unavailable, read-only or contended
database (the worker's ``Availability``, ``collab_sdk.availability``) rather than raising
into the handler, whose job would then fail and run again: the handler pauses until the
event is stored, or until its lease is lost and it is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from collab_sdk.availability import Availability, retrying
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.models import Artifact, Job, JobEvent

__all__ = ["JobContext", "SyncJobContext"]

R = TypeVar("R")


class _Attempt:
    """What both contexts know: the job, the worker, the attempt and the cancel flag."""

    def __init__(self, job: Job, worker_id: str, cancelled: threading.Event | None = None) -> None:
        self.job = job
        self.worker_id = worker_id
        # Made on first use: most attempts never look (a threading.Event is a lock and a
        # condition, a tenth of a no-op job's cost in the worker).
        self._cancelled = cancelled
        self._logger: logging.Logger | None = None

    @property
    def cancelled(self) -> threading.Event:
        """Set when the job is lost (cancelled, lease stolen) or the worker shuts down."""
        if self._cancelled is None:
            self._cancelled = threading.Event()
        return self._cancelled

    @property
    def logger(self) -> logging.Logger:
        """The logger ``collab.job.<type>``, for the handler's own lines."""
        if self._logger is None:
            self._logger = logging.getLogger(f"collab.job.{self.job.type}")
        return self._logger

    @property
    def attempt(self) -> int:
        """This attempt's number, 1 for the first."""
        return self.job.attempts

    @property
    def is_cancelled(self) -> bool:
        """Whether the handler should stop: its result will be discarded."""
        return self._cancelled is not None and self._cancelled.is_set()


class JobContext(_Attempt):
    """The running attempt of one job, for an ``async`` handler."""

    #: Set by the worker: its events then wait out an outage (see the module doc).
    availability: Availability | None = None

    def __init__(self, client: AsyncCollabClient, job: Job, worker_id: str) -> None:
        super().__init__(job, worker_id)
        self.client = client

    async def progress(self, value: float | None = None, **fields: Any) -> JobEvent:
        """Append a ``progress`` event, e.g. ``await ctx.progress(50, stage="upload")``."""
        payload = {**fields, **({"value": value} if value is not None else {})}
        return await self._event("progress", payload)

    async def log(self, message: str, **fields: Any) -> JobEvent:
        """Append a ``log`` event to the job's history."""
        return await self._event("log", {"message": message, **fields})

    async def _event(self, event_type: str, payload: Mapping[str, Any]) -> JobEvent:
        def write() -> Coroutine[Any, Any, JobEvent]:
            return self.client.progress(self.job.id, self.worker_id, payload,
                                        event_type=event_type, attempt=self.attempt)

        if self.availability is None:
            return await write()
        return await retrying(write, self.availability)

    async def upload_artifact(self, name: str, data: bytes | None = None, *,
                              file: str | Path | None = None, mime: str | None = None) -> Artifact:
        """Store an artifact of this job (fenced by the lease)."""
        return await self.client.upload_artifact(self.job.id, name, data, file=file, mime=mime,
                                                 worker_id=self.worker_id)


class SyncJobContext(_Attempt):
    """``JobContext`` for a sync handler: the same methods, blocking."""

    def __init__(self, context: JobContext, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(context.job, context.worker_id, context.cancelled)
        self._context = context
        self._loop = loop

    def _run(self, coro: Coroutine[Any, Any, R]) -> R:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def progress(self, value: float | None = None, **fields: Any) -> JobEvent:
        """Append a ``progress`` event."""
        return self._run(self._context.progress(value, **fields))

    def log(self, message: str, **fields: Any) -> JobEvent:
        """Append a ``log`` event."""
        return self._run(self._context.log(message, **fields))

    def upload_artifact(self, name: str, data: bytes | None = None, *,
                        file: str | Path | None = None, mime: str | None = None) -> Artifact:
        """Store an artifact of this job (fenced by the lease)."""
        return self._run(self._context.upload_artifact(name, data, file=file, mime=mime))
