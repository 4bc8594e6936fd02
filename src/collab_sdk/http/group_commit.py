"""Group commit for ``task.result``: the completions that arrive while one of their lane's
completions is in the database are sent together, in one ``complete_jobs_v1`` call, as
soon as that call returns.

Why: every ``task.result`` is one transaction, and its cost on a busy host is mostly the
commit (a WAL flush) and the call's fixed Postgres work, not the one row it changes. The
server's pool (``COLLAB_POOL_SIZE``, 10 by default for Supabase's connection limits) keeps
at most ten such commits in flight, so 32 HTTP clients completing jobs waited in line for
ten connections while 32 direct-SQL clients kept 32 commits going. A batch of N is one
statement and one commit on one connection. River's batch completer does this for its
workers; unlike it there is no timer: a lane with nothing in flight sends a result at once,
alone, through ``complete_job_v1`` exactly as before, so an idle server's latency is
unchanged, and a batch is only what queued up behind a call that was running anyway.

What keeps each request's answer its own:

- A *lane* is one database identity and one worker: the caller's ``Runtime.reader_key``
  (the trusted client, one role with exactly the same JWT claims, or one forwarded token:
  row-level security and membership checks decide as for each request alone) and the
  ``worker_id`` (``complete_jobs_v1`` takes one). Callers never share a batch.
- Only completions without artifacts join (``complete_jobs_v1`` records none), and each
  request's result only up to ``max_bytes``; fails, artifacts and large results go
  straight to their own call. A job id already in a batch waits for the next one.
- A job whose id the batch returns was committed by it (or had been by this worker: the
  replay rule): 200. A job the batch leaves out — no longer held, an older attempt, an
  unknown id, a job the caller may not act on — was not changed, and its request then
  makes its own ``complete_job_v1`` call, which answers it exactly as before (409
  ``lease_lost``, 404 ``not_found``, 403 …). A batch that fails whole (an element the
  database refuses, a lost connection) leaves every one of its requests to its own call in
  the same way; a batch that had committed before its connection dropped is then answered
  200 by the replay rule, never done twice.
- Bounded: at most ``max_batch`` completions and ``max_bytes`` of result per call, and at
  most ``in_flight`` calls per lane (1: a batch is exactly what waited behind one call).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from collab_sdk.client.async_client import AsyncCollabClient

__all__ = ["GroupCommit", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_BYTES"]

#: The most completions one ``complete_jobs_v1`` call of a lane carries.
DEFAULT_MAX_BATCH = 64
#: The most bytes of results (as the requests' sizes say) one call carries; a request
#: larger than this completes alone.
DEFAULT_MAX_BYTES = 256 * 1024


@dataclass
class _Waiting:
    """A completion queued behind its lane's call; ``answer`` says how it ended: True
    (committed by a batch), False (not completed by one: the request calls alone) or the
    exception of its own call."""

    client: AsyncCollabClient
    job_id: UUID
    result: Any
    attempt: int | None
    size: int
    answer: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class _Lane:
    worker_id: str
    running: int = 0
    waiting: deque[_Waiting] = field(default_factory=deque)


class GroupCommit:
    """The lanes of one process (``Runtime.group_commit``). ``max_batch=1`` turns batching
    off: every completion is its own ``complete_job_v1`` call. ``in_flight``: calls a lane
    may have in the database at once (1: two measured no faster and costlier,
    bench/README.md "Group commit")."""

    def __init__(self, max_batch: int = DEFAULT_MAX_BATCH, max_bytes: int = DEFAULT_MAX_BYTES,
                 in_flight: int = 1) -> None:
        self.max_batch, self.max_bytes, self.in_flight = max(1, max_batch), max_bytes, max(1, in_flight)
        self._lanes: dict[tuple[Hashable, str], _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def queued(self) -> int:
        """How many completions wait behind their lane's call now."""
        return sum(len(lane.waiting) for lane in self._lanes.values())

    @property
    def lanes(self) -> int:
        """How many lanes have a call in flight or completions waiting (idle ones are
        forgotten)."""
        return len(self._lanes)

    async def complete(self, client: AsyncCollabClient, caller: Hashable, job_id: UUID,
                       worker_id: str, *, result: Any = None, attempt: int | None = None,
                       size: int | None = None) -> None:
        """Complete ``job_id`` for ``worker_id`` as ``client`` (whose identity is
        ``caller``): alone when its lane is idle, else in the lane's next batch. Raises
        what ``client.complete_id`` raises for this job alone."""
        if self.max_batch == 1 or size is None or size > self.max_bytes:
            await client.complete_id(job_id, worker_id, result=result, attempt=attempt)
            return
        key = (caller, worker_id)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(worker_id)
        if lane.running < self.in_flight and not lane.waiting:
            lane.running += 1
            try:
                await client.complete_id(job_id, worker_id, result=result, attempt=attempt)
            finally:
                self._release(key, lane)
            return
        waiting = _Waiting(client, job_id, result, attempt, size)
        lane.waiting.append(waiting)
        if not await waiting.answer:
            await client.complete_id(job_id, worker_id, result=result, attempt=attempt)

    def _release(self, key: tuple[Hashable, str], lane: _Lane) -> None:
        """A call of ``lane`` ended: send what waited, or forget the idle lane."""
        lane.running -= 1
        while lane.running < self.in_flight and lane.waiting:
            batch = self._take(lane)
            if not batch:
                break
            lane.running += 1
            task = asyncio.get_running_loop().create_task(self._send(key, lane, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if lane.running == 0 and not lane.waiting and self._lanes.get(key) is lane:
            del self._lanes[key]

    def _take(self, lane: _Lane) -> list[_Waiting]:
        """The next batch: waiting completions in arrival order, each job once, within
        ``max_batch`` and ``max_bytes``; requests that went away are dropped."""
        batch: list[_Waiting] = []
        later: list[_Waiting] = []
        ids: set[UUID] = set()
        size = 0
        while lane.waiting and len(batch) < self.max_batch:
            item = lane.waiting[0]
            if item.answer.done():  # its request was cancelled
                lane.waiting.popleft()
                continue
            if batch and size + item.size > self.max_bytes:
                break
            lane.waiting.popleft()
            if item.job_id in ids:
                later.append(item)
                continue
            ids.add(item.job_id)
            batch.append(item)
            size += item.size
        lane.waiting.extendleft(reversed(later))
        return batch

    async def _send(self, key: tuple[Hashable, str], lane: _Lane, batch: list[_Waiting]) -> None:
        try:
            if len(batch) == 1:
                await self._send_one(lane, batch[0])
                return
            completions = [{"job_id": str(w.job_id), "result": w.result,
                            **({"attempt": w.attempt} if w.attempt is not None else {})}
                           for w in batch]
            try:
                done = await batch[0].client.complete_many_ids(lane.worker_id, completions)
            except Exception:  # noqa: BLE001 - each request then gets its own call's answer
                done = set()
            for w in batch:
                if not w.answer.done():
                    w.answer.set_result(w.job_id in done)
        finally:
            for w in batch:  # cancelled mid-call: each request still gets its own answer
                if not w.answer.done():
                    w.answer.set_result(False)
            self._release(key, lane)

    @staticmethod
    async def _send_one(lane: _Lane, w: _Waiting) -> None:
        try:
            await w.client.complete_id(w.job_id, lane.worker_id, result=w.result, attempt=w.attempt)
        except Exception as exc:  # noqa: BLE001 - raised in the request that sent it
            if not w.answer.done():
                w.answer.set_exception(exc)
            return
        if not w.answer.done():
            w.answer.set_result(True)
