"""Whether the claim loop may sleep until a wake-up after a claim that came back short.

The engine sends an executor's wake-ups only while one of its workers waits
(``collab.wait_for_jobs_v1``, held by the worker's LISTEN session): notifying commits
take a cluster-wide lock, and a busy worker claims again when a slot frees anyway. So
the loop tells its wake source when it is busy (a full claim, no free slot) and, when a
claim comes back short, asks it to wait first and claims once more before sleeping: a
job committed between the short claim and the wait is found by that claim, and every
later one is announced. When a writer that skipped its NOTIFY has not committed yet, the
loop claims again after a short pause (2 ms doubling up to the poll interval) instead of
sleeping through to its poll.
"""

from __future__ import annotations

from collab_sdk.timing import Backoff
from collab_sdk.transports.base import WaitsForJobs, WakeSource

__all__ = ["JobWaits"]


class JobWaits:
    """The claim loop's side of the waiting protocol over its wake source (a no-op for a
    source that is not ``WaitsForJobs``: Realtime broadcasts, polling alone)."""

    def __init__(self, source: WakeSource | None, poll_interval: float) -> None:
        self._gate = source if isinstance(source, WaitsForJobs) else None
        self._pause = Backoff(first=0.002, cap=max(0.002, poll_interval))

    def busy(self) -> None:
        """The worker needs no wake-up now: it claims again when a slot frees."""
        if self._gate is not None:
            self._gate.stop_waiting()

    async def settle(self) -> float | None:
        """After a short claim: None when the loop may sleep until a wake-up (or its
        poll), else the seconds to pause before claiming again (0: at once)."""
        if self._gate is None or self._gate.settled:
            self._pause.reset()
            return None
        if await self._gate.wait_for_jobs():
            return 0.0
        return self._pause.next()
