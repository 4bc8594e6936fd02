"""``assert_enqueued``: the assertion a test of code that enqueues jobs wants."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.sync import CollabClient
from collab_sdk.models import Job

__all__ = ["assert_enqueued"]


async def assert_enqueued(client: AsyncCollabClient | CollabClient, *, type: str | None = None,
                          payload: Mapping[str, Any] | None = None, executor_id: str | None = None,
                          status: str | None = "queued", count: int | None = None) -> list[Job]:
    """The jobs matching every filter given — ``type``, ``executor_id``, ``status``
    (default ``queued``; None: any) and ``payload`` (the job's payload contains these
    keys with these values) — newest first. ``AssertionError``, listing what is there,
    when none matches (or not exactly ``count``)."""
    if isinstance(client, CollabClient):
        return await asyncio.wrap_future(client.submit(
            assert_enqueued(client.aio, type=type, payload=payload, executor_id=executor_id, status=status,
                            count=count)))
    seen = [job async for job in client.iter_jobs(executor_id=executor_id, status=status, type=type)]
    wanted = dict(payload or {})
    found = [job for job in seen if all(k in job.payload and job.payload[k] == v for k, v in wanted.items())]
    if (count is None and found) or (count is not None and len(found) == count):
        return found
    filters = ", ".join(f"{name}={value!r}" for name, value in
                        (("type", type), ("executor_id", executor_id), ("status", status), ("payload", payload))
                        if value is not None)
    listed = "\n".join(f"  {j.id} {j.type} [{j.executor_id}] {j.status.value} {j.payload}" for j in seen[:20])
    expected = f"{count} job(s)" if count is not None else "a job"
    raise AssertionError(f"expected {expected} with {filters or 'no filter'}; found {len(found)}. "
                         f"Jobs with the same type/executor/status:\n{listed or '  (none)'}")
