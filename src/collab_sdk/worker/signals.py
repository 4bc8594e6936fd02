"""Stopping a worker: the first stop request drains, the second forces.

``StopRequests`` counts requests and sets its ``event`` on the worker's event loop, from
any thread or a signal handler; from the second request on it also calls ``on_force``
(the worker aborts every running attempt). ``handling_signals`` routes SIGTERM and SIGINT
to a request while a blocking ``Worker.run`` lasts, then puts the previous handlers back.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["StopRequests", "handling_signals"]

R = TypeVar("R")


class StopRequests:
    """A worker's stop requests (thread- and signal-safe); see the module docstring."""

    def __init__(self, on_force: Callable[[], None]) -> None:
        self.on_force = on_force
        #: Set (on the worker's loop) once a stop is requested.
        self.event = asyncio.Event()
        #: How many stops were requested; more than one forces.
        self.count = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def forced(self) -> bool:
        """Whether a second request came: stop at once."""
        return self.count > 1

    def bind(self) -> asyncio.Event:
        """Deliver requests to the running loop from now on; a fresh ``event``, returned."""
        self._loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        return self.event

    def request(self) -> None:
        """Begin a graceful stop; a second call forces it."""
        self.count += 1
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        self.event.set()
        if self.forced:
            self.on_force()


def handling_signals(request: Callable[[], None], body: Callable[[], R]) -> R:
    """``body()`` with SIGTERM and SIGINT calling ``request`` (in the main thread only:
    elsewhere signals cannot be handled, and ``body`` runs as it is)."""
    if threading.current_thread() is not threading.main_thread():
        return body()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: request())
    try:
        return body()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
