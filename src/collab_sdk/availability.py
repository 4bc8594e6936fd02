"""How collab's loops live through a database that is down, read-only or contended.

One policy for every place a worker or a stream talks to the database (the claim loop,
completes and fails, lease extensions, heartbeats, LISTEN, event streams): an error whose
``retry_kind`` (``collab_sdk.errors``) is ``unavailable``, ``read_only`` or ``transient`` is
retried after a jittered, capped delay (``collab_sdk.timing.Backoff``), never in a tight
loop and never by giving up; any other error is the caller's.

``Availability`` is the database's state as one process's loops see it — ``available``,
``unavailable`` or ``read_only`` — shared by all of them, so an outage is logged once, not
once per loop: one WARNING line when the state changes (``database.read_only``,
``database.unavailable``), one INFO line when it is over (``database.writable``,
``database.reachable``: after how long). Transient errors are no state: they are
counted (``transient``) and logged at most once per ``TRANSIENT_LOG_SECONDS``.

    availability = Availability(logging.getLogger("collab.worker"))
    rows = await retrying(lambda: client.claim_many(...), availability, stop=stop)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from collab_sdk.errors import retry_kind
from collab_sdk.logs import fields
from collab_sdk.timing import Backoff, wait_event

__all__ = ["Availability", "retrying", "AVAILABLE", "UNAVAILABLE", "READ_ONLY",
           "TRANSIENT_LOG_SECONDS"]

AVAILABLE, UNAVAILABLE, READ_ONLY = "available", "unavailable", "read_only"
#: At most one log line about transient errors this often (a burst of deadlocks is one line).
TRANSIENT_LOG_SECONDS = 10.0

T = TypeVar("T")

#: The line logged on entering each state, and on leaving it for ``available``.
_ENTER = {UNAVAILABLE: "database.unavailable", READ_ONLY: "database.read_only"}
_LEAVE = {UNAVAILABLE: "database.reachable", READ_ONLY: "database.writable"}
_ENTER_WORDS = {UNAVAILABLE: "the database is unavailable; retrying with backoff",
                READ_ONLY: "the database is read-only; writes are retried with backoff, "
                           "finished results are kept until it accepts them"}
_LEAVE_WORDS = {UNAVAILABLE: "the database is reachable again", READ_ONLY: "the database accepts writes again"}


class Availability:
    """The database's state as one process's loops see it; see the module doc."""

    def __init__(self, logger: logging.Logger, *, name: str = "") -> None:
        self.log = logger
        #: Who is talking (a worker id, a stream): a field of every line.
        self.name = name
        self.state = AVAILABLE
        #: When the state last changed (``time.monotonic()``).
        self.since = time.monotonic()
        #: Transient errors met (each one retried), and state changes, for stats and tests.
        self.transient = 0
        self.changes = 0
        self._transient_logged = -TRANSIENT_LOG_SECONDS

    def failed(self, exc: BaseException) -> str | None:
        """Note a failed call: its ``retry_kind`` (None: not retryable, nothing noted).
        Logs when the state changes (and a transient error now and then)."""
        kind = retry_kind(exc)
        if kind == "transient":
            self.transient += 1
            now = time.monotonic()
            if now - self._transient_logged >= TRANSIENT_LOG_SECONDS:
                self._transient_logged = now
                self.log.warning("database.transient", extra=fields(
                    **self._who(), code=getattr(exc, "code", None), error=str(exc),
                    reason="a serialization failure, deadlock or lock timeout; the call is retried"))
        elif kind is not None and kind != self.state:
            # A read-only database that then refuses connections is unavailable; one that
            # answers reads again while still refusing writes stays read-only (``succeeded``).
            self._change(kind, error=str(exc), code=getattr(exc, "code", None))
        return kind

    def succeeded(self, *, wrote: bool = True) -> None:
        """Note a call that worked: the database is available again, unless it was read-only
        and this call only read (``wrote=False``)."""
        if self.state == AVAILABLE or (self.state == READ_ONLY and not wrote):
            return
        self._change(AVAILABLE)

    def _change(self, state: str, **extra: object) -> None:
        before, seconds = self.state, round(time.monotonic() - self.since, 1)
        self.state, self.since = state, time.monotonic()
        self.changes += 1
        if state == AVAILABLE:
            self.log.info(_LEAVE[before], extra=fields(**self._who(), seconds=seconds,
                                                       reason=_LEAVE_WORDS[before]))
        else:
            self.log.warning(_ENTER[state], extra=fields(**self._who(), reason=_ENTER_WORDS[state],
                                                         **{k: v for k, v in extra.items() if v is not None}))

    def _who(self) -> dict[str, str]:
        return {"who": self.name} if self.name else {}


async def retrying(call: Callable[[], Awaitable[T]], availability: Availability, *,
                   backoff: Backoff | None = None, stop: asyncio.Event | None = None,
                   attempts: int | None = None, wrote: bool = True) -> T:
    """``await call()``, again after each retryable error (``retry_kind``) with a jittered
    delay from ``backoff`` (default 0.1 s doubling to 5 s), until it works. Raises any other
    error at once; the last retryable one when ``attempts`` calls were made, or when
    ``stop`` is set while waiting. ``wrote``: the call writes (see ``Availability.succeeded``)."""
    backoff = backoff or Backoff()
    made = 0
    while True:
        made += 1
        try:
            result = await call()
        except Exception as exc:
            if availability.failed(exc) is None or (attempts is not None and made >= attempts):
                raise
            if stop is None:
                await asyncio.sleep(backoff.next())
            elif await wait_event(stop, backoff.next()):
                raise
            continue
        availability.succeeded(wrote=wrote)
        backoff.reset()
        return result
