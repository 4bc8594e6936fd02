"""``Lane``: one pooled connection kept by one caller between its calls.

A pool lends its idle connections first-in-first-out (psycopg_pool has no other order),
so once it has grown past one connection — a heartbeat overlapping a claim is enough — a
caller that calls again and again (a worker's claim loop) lands on a different backend
each time, and each backend's caches (the prepared claim's plan, catalog and relation
caches, the buffers it just touched) are cold for it. A lane checks one connection out
and keeps it: the claim loop's calls all run on one backend (bench/README.md, "Sticky
claim connection": the 2×100 drain ~1.1× faster, less server CPU per job).

A lane lends its connection to one call at a time (a lock; concurrent callers queue).
It gives the connection back to the pool, and takes a fresh one on the next call, when:
the connection is closed or broken, the server has closed it while it sat in the lane
(``usable`` says no: the lane is not in the pool, so the pool's own check of lent
connections never sees it), a call left it inside a transaction or mid-query (an error,
a cancellation), or the lane is closed. A closed lane still works, lending a pooled
connection per call, so a caller that outlives it is never stranded.

It holds a connection only where the pool has room for another: on a pool of one
connection it lends per call, like the pool (the completions, heartbeats and lease
extensions of the same process need a connection too).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from psycopg.pq import TransactionStatus

__all__ = ["Lane", "LANE_MIN_POOL"]

#: The smallest pool a lane keeps a connection of: one for the lane, one for the rest.
LANE_MIN_POOL = 2


class Lane:
    """One connection of a pool, kept between calls (see the module doc).

    ``checkout`` lends a connection of the pool, ``checkin`` takes one back (the pool
    replaces it if it is closed or broken), ``usable`` tells whether a connection kept
    idle in the lane can still be used (the server has not closed it). ``hold`` False
    (a pool too small to spare a connection) lends one per call instead."""

    def __init__(self, checkout: Callable[[], Awaitable[Any]], checkin: Callable[[Any], Awaitable[None]],
                 usable: Callable[[Any], bool], *, hold: bool = True) -> None:
        self._checkout = checkout
        self._checkin = checkin
        self._usable = usable
        self._hold = hold
        self._lock = asyncio.Lock()
        self._conn: Any = None
        #: Connections this lane checked out in all (1 while nothing went wrong).
        self.checkouts = 0

    @property
    def holding(self) -> bool:
        """Whether the lane keeps a connection right now (it holds one between calls)."""
        return self._conn is not None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """The lane's connection for one call (``async with lane.connection() as conn``)."""
        async with self._lock:
            conn = self._conn
            if conn is not None and not (self._usable(conn) and not conn.broken):
                self._conn = None
                await self._release(conn)
                conn = None
            if conn is None:
                conn = await self._checkout()
                self.checkouts += 1
            try:
                yield conn
            finally:
                if self._hold and not conn.closed and not conn.broken and \
                        conn.info.transaction_status == TransactionStatus.IDLE:
                    self._conn = conn
                else:  # closed, broken or left mid-transaction: the pool sorts it out
                    self._conn = None
                    await self._release(conn)

    async def aclose(self) -> None:
        """Give the connection back to the pool; later calls lend one per call. Waits for a
        call in flight on the lane to end. Calling it twice is harmless."""
        async with self._lock:
            self._hold = False
            conn, self._conn = self._conn, None
            if conn is not None:
                await self._release(conn)

    async def _release(self, conn: Any) -> None:
        """``checkin``, closing a connection the server already closed first (so the pool
        drops it rather than lending it again)."""
        if not conn.closed and not self._usable(conn):
            await conn.close()
        await self._checkin(conn)
