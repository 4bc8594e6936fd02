"""The event loop a blocking ``Worker.run`` runs on: uvloop's where it is installed.

uvloop (libuv) schedules callbacks and polls sockets in C; a worker's per-job cost is
mostly such scheduling (a task per attempt, a future per result) and the round trips of
its claims and completions, so it cuts the worker's CPU per job by about a tenth and its
idle wake-up latency too (``bench/README.md``). It is a dependency on Linux and macOS
(``pyproject.toml``); elsewhere, or with ``COLLAB_EVENT_LOOP=asyncio``, the standard
loop runs. ``Worker.run_async`` runs on whatever loop its caller has.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

R = TypeVar("R")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop`` when installed and not turned off by
    ``COLLAB_EVENT_LOOP=asyncio``; None for the standard loop."""
    if os.environ.get("COLLAB_EVENT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, R]) -> R:
    """``asyncio.run(main)`` on the loop ``loop_factory`` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
