"""Small asyncio helpers every loop of collab shares: jittered backoff with a log
throttle, and a cancellation-safe wait for an event. Imports nothing of collab."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

__all__ = ["Backoff", "wait_event"]


class Backoff:
    """Jittered exponential delays (``first`` doubling to ``cap``) and a log throttle."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self.delay = first
        self._last_log = 0.0

    def next(self) -> float:
        """The next delay to sleep, with up to 50% downward jitter."""
        delay = self.delay * random.uniform(0.5, 1.0)
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        """Back to the first delay after a success."""
        self.delay = self.first

    def should_log(self) -> bool:
        """True at most once a second, so an outage does not flood the log."""
        now = time.monotonic()
        if now - self._last_log >= 1.0:
            self._last_log = now
            return True
        return False


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; whether it was set.
    (``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` can swallow a
    cancellation that arrives as the event is set, leaving its task running.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()
