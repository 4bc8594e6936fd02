"""``collab watch JOB_ID`` and ``collab jobs --follow``: events printed as they commit.

Both read the gapless event stream (``AsyncCollabClient.watch``): the events already
committed first, then live ones, each once and in ``seq`` order. ``watch`` ends with the
job: exit 0 when it succeeded, 1 when it failed or was cancelled, 124 when ``--timeout``
passed first.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
from collections.abc import Coroutine
from typing import Any
from uuid import UUID

from collab_sdk.cli.output import ExitStatus
from collab_sdk.models import JobEvent
from collab_sdk.client.sync import CollabClient

__all__ = ["cmd_watch", "follow_events", "format_event", "TIMED_OUT"]

#: ``collab watch --timeout`` passed before the job finished (as timeout(1) exits).
TIMED_OUT = 124
# The job status each event leaves behind, for `jobs --follow --status`.
_STATUS_AFTER = {"queued": "queued", "retry_scheduled": "queued", "retried": "queued",
                 "claimed": "running", "progress": "running", "log": "running",
                 "succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled"}


def format_event(event: JobEvent, job_type: str | None = None) -> str:
    """One line per event: time, seq, job, (type,) event, detail."""
    detail = json.dumps(event.payload, separators=(",", ":"))
    job = f"{event.job_id}  {job_type:<24} " if job_type else f"{event.job_id}  "
    return f"{event.created_at:%H:%M:%S.%f}"[:-3] + f"  #{event.seq:<7} {job}{event.event_type:<15} {detail[:100]}"


def _print(args: argparse.Namespace, event: JobEvent, job_type: str | None = None) -> None:
    if args.json:
        print(event.model_dump_json(by_alias=True), flush=True)
    else:
        print(format_event(event, job_type), flush=True)


def cmd_watch(args: argparse.Namespace, client: CollabClient) -> int:
    """Print a job's events (its log so far, then live) until it finishes."""
    job = client.get_job(args.job_id)  # NotFound (exit 3) before anything is printed
    last: list[JobEvent] = []

    async def consume() -> None:
        async for event in client.aio.watch_job(job.id, since_seq=args.since):
            _print(args, event)
            last[:] = [event]

    if not _run(client, consume(), args.timeout):
        return TIMED_OUT
    if last and last[0].event_type == "succeeded":
        return ExitStatus.OK
    if last:
        return ExitStatus.ERROR
    final = client.get_job(job.id).status.value  # resumed after the final event
    return ExitStatus.OK if final == "succeeded" else ExitStatus.ERROR


def follow_events(args: argparse.Namespace, client: CollabClient, since: int) -> None:
    """``collab jobs --follow``: every later event of the jobs the filters select."""
    types: dict[UUID, str] = {}

    async def consume() -> None:
        async for event in client.aio.watch(executor_id=args.executor, since_seq=since):
            if args.status and _STATUS_AFTER.get(event.event_type) != args.status:
                continue
            if event.job_id not in types:
                types[event.job_id] = (await client.aio.get_job(event.job_id)).type
            if not args.type or types[event.job_id] == args.type:
                _print(args, event, types[event.job_id])

    _run(client, consume(), None)


def _run(client: CollabClient, consume: Coroutine[Any, Any, None], timeout: float | None) -> bool:
    """Run ``consume`` on the client's loop; False when ``timeout`` passed first. Ctrl-C
    and timeouts cancel it, so the stream's connections close."""
    future = client.submit(consume)
    try:
        future.result(timeout=timeout)
        return True
    except concurrent.futures.TimeoutError:
        return False
    finally:
        future.cancel()
