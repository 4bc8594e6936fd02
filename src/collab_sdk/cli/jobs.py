"""``collab assign``, ``jobs``, ``job``, ``stats``, ``cancel``, ``retry`` and ``purge``:
enqueue jobs, read them back and manage them, each through the client
``collab_sdk.cli.connect`` opens."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import click

from collab_sdk.cli.base import Choice, command
from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import (JOB_COLUMNS, job_rows, print_assigned, print_block, print_json,
                                   print_line, print_table)
from collab_sdk.cli.watch import follow_events
from collab_sdk.client.sync import CollabClient
from collab_sdk.errors import ValidationError
from collab_sdk.exits import ExitStatus
from collab_sdk.models import Job, JobSummary
from collab_sdk.states import FINAL_JOB_STATUSES, JOB_STATUSES

__all__ = ["register", "cmd_assign", "cmd_jobs", "cmd_job", "cmd_stats", "cmd_cancel", "cmd_retry",
           "cmd_purge", "run_at_from"]


def register(cli: click.Group) -> None:
    """Add ``collab assign``, ``jobs``, ``job``, ``stats``, ``cancel``, ``retry`` and ``purge``."""
    for each in (cmd_assign, cmd_jobs, cmd_job, cmd_stats, cmd_cancel, cmd_retry, cmd_purge):
        cli.add_command(each)


def run_at_from(run_at: str | None, delay: float | None, *, now: datetime | None = None) -> datetime | None:
    """When a job is due: ``--run-at`` (ISO 8601; without an offset it is UTC) or
    ``--delay`` seconds from ``now``; None for "now". Both, or a malformed time, is a
    ``ValidationError``."""
    if run_at is not None and delay is not None:
        raise ValidationError("give --run-at or --delay, not both", code="CL400")
    if delay is not None:
        if delay < 0:
            raise ValidationError("--delay must not be negative", code="CL400")
        return (now or datetime.now(timezone.utc)) + timedelta(seconds=delay)
    if run_at is None:
        return None
    try:
        when = datetime.fromisoformat(run_at.replace("Z", "+00:00") if run_at.endswith("Z") else run_at)
    except ValueError as exc:
        raise ValidationError(f"--run-at is not an ISO 8601 time: {exc}", code="CL400") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


@command("assign", help="enqueue a job")
@client_options
@click.argument("type")
@click.option("--executor", required=True)
@click.option("--payload", default="{}", help="JSON object (default {})")
@click.option("--idempotency-key")
@click.option("--priority", type=int)
@click.option("--max-attempts", type=int)
@click.option("--run-at", metavar="ISO", help="due at this time (ISO 8601; UTC unless it has an offset)")
@click.option("--delay", type=float, metavar="SECONDS", help="due this many seconds from now")
@with_client
def cmd_assign(client: CollabClient, *, type: str, executor: str, payload: str, idempotency_key: str | None,
               priority: int | None, max_attempts: int | None, run_at: str | None, delay: float | None,
               as_json: bool) -> int:
    """Enqueue one job; prints its id (and whether it was new)."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--payload is not JSON: {exc}", code="CL400") from exc
    assigned = client.assign(type, executor_id=executor, payload=body, idempotency_key=idempotency_key,
                             priority=priority, max_attempts=max_attempts, run_at=run_at_from(run_at, delay))
    print_assigned(assigned, as_json=as_json, repeated="already existed")
    return ExitStatus.OK


@command("jobs", help="recent jobs, newest last")
@client_options
@click.option("--status", type=Choice(sorted(JOB_STATUSES)))
@click.option("--executor")
@click.option("--type")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--follow", is_flag=True, help="then print their events as they commit (Ctrl-C stops)")
@with_client
def cmd_jobs(client: CollabClient, *, status: str | None, executor: str | None, type: str | None, limit: int,
             follow: bool, as_json: bool) -> int:
    """List recent jobs; ``--follow`` then prints the events that commit from the moment
    the listing began (a job that changes meanwhile may show in both)."""
    since = client.events_head() if follow else 0
    page = client.jobs_recent(executor_id=executor, status=status, type=type, page_size=limit)
    if as_json and not follow:
        print_json(page)
        return ExitStatus.OK
    listed = list(reversed(page.items))
    if as_json:
        for each in listed:
            print_line(each.model_dump_json(by_alias=True))
    else:
        print_table(JOB_COLUMNS, job_rows(listed))
    if follow:
        follow_events(client, since=since, executor=executor, status=status, type=type, as_json=as_json)
    return ExitStatus.OK


@command("job", help="a job with its events, artifacts and whole errors")
@client_options
@click.argument("job_id")
@with_client
def cmd_job(client: CollabClient, *, job_id: str, as_json: bool) -> int:
    """One job with its events and artifacts; its ``last_error`` and each event's error
    are printed whole (a traceback, a validation error with every field)."""
    summary = client.summary(job_id)
    if as_json:
        print_json(summary)
        return ExitStatus.OK
    _print_summary(summary)
    return ExitStatus.OK


def _print_summary(summary: JobSummary) -> None:
    found = summary.job
    print_table(JOB_COLUMNS, job_rows([found]))
    if found.result is not None:
        print_line(f"\nresult: {json.dumps(found.result)}")
    if found.last_error:
        print_line("")
        print_block("last error:", found.last_error)
    print_line("")
    print_table(("SEQ", "AT", "EVENT", "DETAIL"), [
        [e.seq, e.created_at.strftime("%H:%M:%S.%f")[:-3], e.event_type,
         json.dumps({k: v for k, v in e.payload.items() if k != "error"})[:80]] for e in summary.events])
    failed = [e for e in summary.events if e.payload.get("error")]
    if failed:
        print_line("\nevent errors:", "bold")
        for event in failed:
            attempt = event.payload.get("attempt")
            print_block(f"  #{event.seq} {event.event_type}" + (f" (attempt {attempt})" if attempt else "") + ":",
                        str(event.payload["error"]), indent="    ")
    if summary.artifacts:
        print_line("")
        print_table(("ARTIFACT", "PATH", "SIZE", "MIME"),
                    [[a.name, a.path, a.size, a.mime] for a in summary.artifacts])


@command("stats", help="job counts by status")
@client_options
@click.option("--executor")
@with_client
def cmd_stats(client: CollabClient, *, executor: str | None, as_json: bool) -> int:
    """Counts by status."""
    counts = client.stats(executor_id=executor)
    if as_json:
        print_json(counts)
    else:
        names = ("queued", "running", "succeeded", "failed", "cancelled", "total")
        print_table([n.upper() for n in names], [[getattr(counts, n) for n in names]])
    return ExitStatus.OK


def _print_job_change(changed: Job, as_json: bool) -> None:
    if as_json:
        print_json(changed)
    else:
        print_line(f"{changed.id} {changed.status.value}")


@command("cancel", help="cancel a queued or running job (exit 4 when it already finished)")
@client_options
@click.argument("job_id")
@click.option("--reason", help="recorded on the job's cancelled event")
@with_client
def cmd_cancel(client: CollabClient, *, job_id: str, reason: str | None, as_json: bool) -> int:
    """Cancel a job; prints its id and new status."""
    _print_job_change(client.cancel(job_id, reason=reason), as_json)
    return ExitStatus.OK


@command("retry", help="put a finished job back in the queue, attempts reset (exit 4 while it is live)")
@client_options
@click.argument("job_id")
@with_client
def cmd_retry(client: CollabClient, *, job_id: str, as_json: bool) -> int:
    """Re-queue a finished job (the same job, not a copy); prints its id and status."""
    _print_job_change(client.retry(job_id), as_json)
    return ExitStatus.OK


@command("purge", help="delete finished jobs (default: succeeded) with their events and artifact rows")
@client_options
@click.option("--older-than", type=int, metavar="SECONDS", help="only those finished at least this long ago (default 0)")
@click.option("--status", "statuses", multiple=True, type=Choice(sorted(FINAL_JOB_STATUSES)),
              help="repeatable: succeeded, failed, cancelled (default succeeded)")
@click.option("--executor")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=1000, show_default=True,
              help="jobs deleted per transaction")
@with_client
def cmd_purge(client: CollabClient, *, older_than: int | None, statuses: tuple[str, ...], executor: str | None,
              batch_size: int, as_json: bool) -> int:
    """Delete finished jobs in batches (each its own transaction); prints how many."""
    deleted = client.purge(older_than_seconds=older_than, executor_id=executor, statuses=list(statuses) or None,
                           batch_size=batch_size)
    if as_json:
        print_json({"purged": deleted})
    else:
        print_line(f"purged {deleted} job(s)")
    return ExitStatus.OK
