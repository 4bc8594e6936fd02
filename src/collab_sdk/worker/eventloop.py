"""The event loop a blocking ``Worker.run`` runs on: uvloop's where it is installed,
with the garbage collector's youngest generation made larger for as long as it runs.

uvloop (libuv) schedules callbacks and polls sockets in C; a worker's per-job cost is
mostly such scheduling (a task per attempt, a future per result) and the round trips of
its claims and completions, so it cuts the worker's CPU per job by about a tenth and its
idle wake-up latency too (``bench/README.md``). It is a dependency on Linux and macOS
(``pyproject.toml``); elsewhere, or with ``COLLAB_EVENT_LOOP=asyncio``, the standard
loop runs. ``Worker.run_async`` runs on whatever loop its caller has.

The collector: CPython collects its youngest generation after every 700 new container
objects. A worker allocates a few dozen per job (its task, futures, attempt, context,
the claimed row), and a claimed batch lives for a few of those collections, so its
objects were traversed again and again and promoted to older generations, whose
collections traverse everything the process holds: about a fifth of a no-op job's CPU
(``bench/README.md``, issue 19). With ``GC_THRESHOLD`` (10,000) new objects per
collection almost all of them are freed by reference counting before one runs; the
worker's objects hold no reference cycles per job, so nothing accumulates. The old
thresholds are put back when ``run`` returns. ``COLLAB_GC_THRESHOLD=N`` sets another
threshold, ``0`` keeps Python's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from collab_sdk.errors import ConfigurationError

__all__ = ["GC_THRESHOLD", "gc_threshold", "loop_factory", "run", "young_collections"]

R = TypeVar("R")

#: New container objects between two collections of the youngest generation while a
#: worker runs (Python's default is 700).
GC_THRESHOLD = 10_000


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


def gc_threshold(env: dict[str, str] | None = None) -> int:
    """The youngest generation's threshold a worker runs with: ``COLLAB_GC_THRESHOLD``
    (a whole number; 0 keeps Python's own), else ``GC_THRESHOLD``."""
    raw = (os.environ if env is None else env).get("COLLAB_GC_THRESHOLD", "").strip()
    if not raw:
        return GC_THRESHOLD
    if not raw.isdigit():
        raise ConfigurationError(f"COLLAB_GC_THRESHOLD must be a whole number, not {raw!r}")
    return int(raw)


@contextlib.contextmanager
def young_collections(threshold: int) -> Iterator[None]:
    """Collect the youngest generation every ``threshold`` new objects (0: leave Python's
    setting) inside the block, never more often than Python already does; then restore."""
    before = gc.get_threshold()
    if threshold > before[0]:
        gc.set_threshold(threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run(main: Coroutine[Any, Any, R]) -> R:
    """``asyncio.run(main)`` on the loop ``loop_factory`` picks, with the collector's
    threshold ``gc_threshold`` gives (a malformed one raises before ``main`` starts)."""
    try:
        threshold = gc_threshold()
    except ConfigurationError:
        main.close()
        raise
    with young_collections(threshold), asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
