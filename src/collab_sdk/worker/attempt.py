"""``Attempt``: one job being run by a worker, the state its parts share.

The claim loop creates it, the runner (``collab_sdk.worker.runner``) runs its handler,
the lease keeper (``collab_sdk.worker.leases``) extends its lease and marks it lost, and
a drain or a forced stop aborts it. Both runner and lease keeper import it from here, so
neither imports the other.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from collab_sdk.models import Job
from collab_sdk.worker.context import JobContext

__all__ = ["Attempt"]


class Attempt:
    """A job being run: its context and handler task, so the worker can abort it."""

    def __init__(self, job: Job, context: JobContext) -> None:
        self.job = job
        self.context = context
        #: What to cancel to stop the handler while it runs (None once it is over).
        self.handler: asyncio.Future[Any] | None = None
        #: The thread of a sync handler, to tell whether it is still running when given up.
        self.thread: threading.Thread | None = None
        self.lease_lost = False
        #: Why the outcome is ``lost`` (logged once, when the attempt ends).
        self.lost_reason = ""
        self.aborted = False
        #: When the claim that handed out the job was sent and answered (``time.time_ns()``),
        #: for the attempt's ``collab.claim`` span.
        self.claim_window: tuple[int, int] | None = None
        #: When the lease was last set (``time.monotonic()``), for ``LeaseKeeper``.
        self.extended_at = 0.0
        #: Called once when the handler is over (its result may still be being stored):
        #: the worker's slot is free for the next job then.
        self.on_handler_done: Callable[[], None] | None = None
        #: When the attempt began (``time.monotonic()``) and how long its handler ran (s).
        self.started_at = time.monotonic()
        self.handler_seconds: float | None = None
        #: The traceback of the exception the handler raised, if any (logged at the end).
        self.traceback = ""
        #: Whether the attempt runs in OpenTelemetry spans (``collab_sdk.tracing``): asked
        #: once per claim, not per job (the answer reads an environment variable).
        self.traced = False

    def handler_done(self) -> None:
        """Tell the worker (once) that the handler no longer needs its slot."""
        callback, self.on_handler_done = self.on_handler_done, None
        if callback is not None:
            callback()

    def abort(self) -> None:
        """Cancel the handler; the job is handed back to the queue (retryable, due now)."""
        self.aborted = True
        self._cancel()

    def lose(self) -> None:
        """The lease is gone (cancelled, reclaimed, deleted): cancel the handler, whose
        result the engine would refuse anyway."""
        self.lease_lost = True
        self._cancel()

    def _cancel(self) -> None:
        self.context.cancelled.set()
        if self.handler is not None:
            self.handler.cancel()
