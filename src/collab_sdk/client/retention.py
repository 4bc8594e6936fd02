"""Retention: the batched purges of jobs and of workflow runs (migrations 20261202030100
and 20261205400100), one maintenance pass of an executor's policy, and the removal of
deleted artifacts' Storage objects (docs/rpc.md, "Retention").

Every call here is a loop of short RPCs, each its own transaction, so nothing a worker
or a person does waits on a purge for longer than one batch. Storage objects cannot be
removed from SQL: a deleted artifact row lists its object in ``collab.storage_deletions``
(same transaction), and ``remove_deleted_objects`` removes the listed objects through the
``Storage`` API, then acknowledges them. An object whose removal fails stays listed for
the next call.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from collab_sdk.client.rpc import RpcCore
from collab_sdk.errors import StorageError
from collab_sdk.models import RetentionBatch, StorageDeletion
from collab_sdk.transports.storage import Storage

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_RUN_BATCH_SIZE", "purge_in_batches", "purge_runs_in_batches",
           "apply_retention_pass", "remove_deleted_objects"]

#: Jobs (or dead letters) deleted per transaction: big enough that a million rows take
#: a thousand calls, small enough that a batch holds its row locks for milliseconds.
DEFAULT_BATCH_SIZE = 1000
#: Runs deleted per transaction: a run takes its step runs, jobs and events with it.
DEFAULT_RUN_BATCH_SIZE = 100

log = logging.getLogger("collab.retention")


async def purge_in_batches(rpc: RpcCore, *, older_than_seconds: int | None, executor_id: str | None,
                           statuses: Sequence[str] | None, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Delete the finished jobs ``purge_jobs_v1`` would, one ``purge_jobs_batch_v1``
    transaction per ``batch_size`` jobs; the count deleted."""
    return await _batches(rpc, "purge_jobs_batch_v1", older_than_seconds=older_than_seconds,
                          executor_id=executor_id, statuses=statuses, batch_size=batch_size)


async def purge_runs_in_batches(rpc: RpcCore, *, older_than_seconds: int | None, executor_id: str | None,
                                statuses: Sequence[str] | None, batch_size: int = DEFAULT_RUN_BATCH_SIZE) -> int:
    """Delete finished workflow runs completed longer than the age ago, with their step
    runs, step jobs and events, one ``purge_runs_batch_v1`` transaction per
    ``batch_size`` runs; the count of runs deleted."""
    return await _batches(rpc, "purge_runs_batch_v1", older_than_seconds=older_than_seconds,
                          executor_id=executor_id, statuses=statuses, batch_size=batch_size)


async def _batches(rpc: RpcCore, fn: str, *, statuses: Sequence[str] | None, **args: Any) -> int:
    """Call the batched purge ``fn`` with each answer's cursor until done; the sum of ``purged``."""
    purged, cursor = 0, None
    while True:
        answer: dict[str, Any] = await rpc.call(
            fn, statuses=list(statuses) if statuses is not None else None, cursor=cursor, **args)
        purged += int(answer["purged"])
        if answer["done"]:
            return purged
        cursor = answer["cursor"]


async def apply_retention_pass(rpc: RpcCore, executor_id: str, worker_id: str, *,
                               batch_size: int = DEFAULT_BATCH_SIZE) -> RetentionBatch:
    """Apply the executor's policy batch by batch while this caller holds its lease; the
    totals (``ran`` False: another caller holds it, no pass is due, or it is disabled)."""
    total = RetentionBatch(ran=False, purged=0, events=0, dead_letters=0, done=True)
    while True:
        batch = await rpc.value(RetentionBatch, "apply_retention_v1", executor_id=executor_id,
                                worker_id=worker_id, batch_size=batch_size)
        if not batch.ran:
            return total
        total = RetentionBatch(ran=True, purged=total.purged + batch.purged, events=total.events + batch.events,
                               dead_letters=total.dead_letters + batch.dead_letters, done=batch.done)
        if batch.done:
            return total


async def remove_deleted_objects(rpc: RpcCore, storage: Storage, executor_id: str | None = None,
                                 page_size: int = 100) -> int:
    """Remove the listed Storage objects of deleted artifacts (of one executor, or every
    one: trusted callers) and acknowledge them; the count removed. Stops at the first
    Storage error (logged): those objects stay listed."""
    removed = 0
    while True:
        listed = await rpc.many(StorageDeletion, "storage_deletions_v1", executor_id=executor_id,
                                page_size=page_size)
        if not listed:
            return removed
        by_bucket: dict[str, list[StorageDeletion]] = defaultdict(list)
        for one in listed:
            by_bucket[one.bucket].append(one)
        for bucket, objects in by_bucket.items():
            try:
                await storage.remove(bucket, [o.path for o in objects])
            except StorageError as exc:
                log.warning("deleted artifacts' objects not removed from %s (kept listed): %s", bucket, exc)
                return removed
            removed += await rpc.value(int, "ack_storage_deletions_v1", ids=[o.id for o in objects])
