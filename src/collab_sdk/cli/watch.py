"""``collab watch JOB_ID``, and the event printer ``collab jobs --follow`` shares with it.

Both read the gapless event stream (``AsyncCollabClient.watch``): the events already
committed first, then live ones, each once and in ``seq`` order — one line per event,
coloured by event type on a terminal, plain in a pipe, a JSON object per line with
``--json``. ``watch`` ends with the job: exit 0 when it succeeded, 1 when it failed or was
cancelled, 124 when ``--timeout`` passed first.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Coroutine
from typing import Any
from uuid import UUID

import click

from collab_sdk.cli.base import command
from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import STYLES, print_line
from collab_sdk.client.sync import CollabClient
from collab_sdk.exits import ExitStatus
from collab_sdk.models import JobEvent
from collab_sdk.states import WORKER_EVENTS, status_after

__all__ = ["register", "cmd_watch", "follow_events", "format_event", "run_on_loop"]


def register(cli: click.Group) -> None:
    """Add ``collab watch``."""
    cli.add_command(cmd_watch)


def format_event(event: JobEvent, job_type: str | None = None) -> str:
    """One line per event: time, seq, job, (type,) event, detail."""
    detail = json.dumps(event.payload, separators=(",", ":"))
    job = f"{event.job_id}  {job_type:<24} " if job_type else f"{event.job_id}  "
    return f"{event.created_at:%H:%M:%S.%f}"[:-3] + f"  #{event.seq:<7} {job}{event.event_type:<15} {detail[:100]}"


def _print(as_json: bool, event: JobEvent, job_type: str | None = None) -> None:
    if as_json:
        print_line(event.model_dump_json(by_alias=True))
    else:
        print_line(format_event(event, job_type), STYLES.get(event.event_type))


@command("watch", help="a job's events (its log, then live) until it finishes: exit 0 succeeded, "
                       "1 failed or cancelled, 124 --timeout passed")
@client_options
@click.argument("job_id")
@click.option("--since", type=int, default=0, help="only events after this seq")
@click.option("--timeout", type=float, help="give up after this many seconds")
@with_client
def cmd_watch(client: CollabClient, *, job_id: str, since: int, timeout: float | None, as_json: bool) -> int:
    """Print a job's events (its log so far, then live) until it finishes."""
    job = client.get_job(job_id)  # NotFound (exit 3) before anything is printed
    last: list[JobEvent] = []

    async def consume() -> None:
        async for event in client.aio.watch_job(job.id, since_seq=since):
            _print(as_json, event)
            last[:] = [event]

    if not run_on_loop(client, consume(), timeout):
        return ExitStatus.TIMEOUT
    if last and last[0].event_type == "succeeded":
        return ExitStatus.OK
    if last:
        return ExitStatus.ERROR
    final = client.get_job(job.id).status.value  # resumed after the final event
    return ExitStatus.OK if final == "succeeded" else ExitStatus.ERROR


def _status_while(event_type: str) -> str | None:
    """The job status an event shows the job in: the one it leads to, and ``running``
    for the events only a leased worker appends."""
    return "running" if event_type in WORKER_EVENTS else status_after(event_type)


def follow_events(client: CollabClient, *, since: int, executor: str | None = None, status: str | None = None,
                  type: str | None = None, as_json: bool = False) -> None:
    """``collab jobs --follow``: every later event of the jobs the filters select."""
    types: dict[UUID, str] = {}

    async def consume() -> None:
        async for event in client.aio.watch(executor_id=executor, since_seq=since):
            if status and _status_while(event.event_type) != status:
                continue
            if event.job_id not in types:
                types[event.job_id] = (await client.aio.get_job(event.job_id)).type
            if not type or types[event.job_id] == type:
                _print(as_json, event, types[event.job_id])

    run_on_loop(client, consume(), None)


def run_on_loop(client: CollabClient, consume: Coroutine[Any, Any, None], timeout: float | None) -> bool:
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
