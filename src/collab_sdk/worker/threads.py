"""Threads for sync handlers: a fresh thread per attempt, and hung ones given up on.

A thread cannot be killed. A pool of ``concurrency`` threads (the first design) was
wedged for good by two handlers that ignored ``ctx.cancelled``: no later sync job ever
started, and ``shutdown(wait=True)`` made SIGTERM wait for ever. So each sync handler
runs on a thread of its own (a daemon: it never holds up the process's exit), and a
handler the worker stops waiting for (timed out, lease lost, aborted by a drain) is
**abandoned**: its result is discarded, its slot goes to the next job at once. Threads
abandoned but still running are counted (``abandoned``); once ``limit`` of them run, the
worker stops claiming and exits with ``ExitStatus.STUCK`` so its supervisor restarts it
(a process is the only thing that frees a stuck thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["HandlerThreads"]


class HandlerThreads:
    """Runs sync handlers on fresh daemon threads and counts the abandoned ones."""

    def __init__(self, limit: int, *, name: str = "collab-handler") -> None:
        #: How many abandoned threads may still run before the worker gives up.
        self.limit = limit
        self.name = name
        self._abandoned: set[threading.Thread] = set()
        self._by_future: dict[asyncio.Future[Any], threading.Thread] = {}
        self._lock = threading.Lock()
        self._count = 0

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """``fn(*args)`` on a new thread, in a copy of the caller's context (as
        ``asyncio.to_thread``: a handler's spans are children of the runner's); a future
        of its result on the running loop."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if not future.done():
                (future.set_result if ok else future.set_exception)(value)

        def body() -> None:
            try:
                outcome: tuple[bool, Any] = (True, context.run(fn, *args))
            except BaseException as exc:  # handed to the awaiting task, never lost
                outcome = (False, exc)
            finally:
                with self._lock:
                    self._abandoned.discard(threading.current_thread())
            if not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(settle, *outcome)
                except RuntimeError:  # the loop closed meanwhile: nobody waits any more
                    pass

        self._count += 1
        thread = threading.Thread(target=body, name=f"{self.name}-{self._count}", daemon=True)
        self._by_future[future] = thread
        future.add_done_callback(self._done)
        thread.start()
        return future

    def _done(self, future: asyncio.Future[Any]) -> None:
        thread = self._by_future.pop(future, None)
        if thread is not None and future.cancelled() and thread.is_alive():
            with self._lock:
                self._abandoned.add(thread)

    def thread_of(self, future: asyncio.Future[Any]) -> threading.Thread | None:
        """The thread running the handler behind ``future`` (None once it is settled)."""
        return self._by_future.get(future)

    def abandon(self, future: asyncio.Future[Any] | None) -> bool:
        """Stop waiting for the handler behind ``future`` (its result is discarded);
        whether its thread was still running (and is now counted as abandoned)."""
        if future is None:
            return False
        thread = self._by_future.get(future)
        if not future.done():
            future.cancel()
        return thread is not None and thread.is_alive()

    @property
    def abandoned(self) -> int:
        """Abandoned threads that are still running."""
        with self._lock:
            self._abandoned = {t for t in self._abandoned if t.is_alive()}
            return len(self._abandoned)

    @property
    def stuck(self) -> bool:
        """Whether ``limit`` abandoned threads (or more) still run: time to restart."""
        return self.abandoned >= self.limit
