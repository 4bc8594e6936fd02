"""``collab assign``, ``collab jobs``, ``collab job`` and ``collab stats``: enqueue jobs
and read them back, each through the client ``collab_sdk.cli.connect`` opens."""

from __future__ import annotations

import argparse
import json

from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import JOB_COLUMNS, job_rows, print_assigned, print_json, print_table
from collab_sdk.cli.watch import follow_events
from collab_sdk.client.sync import CollabClient
from collab_sdk.errors import ValidationError
from collab_sdk.exits import ExitStatus
from collab_sdk.models import Job, JobStatus

__all__ = ["register", "cmd_assign", "cmd_jobs", "cmd_job", "cmd_stats"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``collab assign``, ``jobs``, ``job`` and ``stats``."""
    assign = commands.add_parser("assign", parents=[client_options()], help="enqueue a job")
    assign.add_argument("type")
    assign.add_argument("--executor", required=True)
    assign.add_argument("--payload", default="{}", help="JSON object (default {})")
    assign.add_argument("--idempotency-key")
    assign.add_argument("--priority", type=int)
    assign.add_argument("--max-attempts", type=int)
    assign.set_defaults(run=with_client(cmd_assign))

    jobs = commands.add_parser("jobs", parents=[client_options()], help="recent jobs, newest last")
    jobs.add_argument("--status", choices=[s.value for s in JobStatus])
    jobs.add_argument("--executor")
    jobs.add_argument("--type")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--follow", action="store_true",
                      help="then print their events as they commit (Ctrl-C stops)")
    jobs.set_defaults(run=with_client(cmd_jobs))

    job = commands.add_parser("job", parents=[client_options()],
                              help="a job with its events and artifacts")
    job.add_argument("job_id")
    job.set_defaults(run=with_client(cmd_job))

    stats = commands.add_parser("stats", parents=[client_options()], help="job counts by status")
    stats.add_argument("--executor")
    stats.set_defaults(run=with_client(cmd_stats))


def cmd_assign(args: argparse.Namespace, client: CollabClient) -> int:
    """Enqueue one job; prints its id (and whether it was new)."""
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--payload is not JSON: {exc}", code="CL400") from exc
    assigned = client.assign(args.type, executor_id=args.executor, payload=payload,
                             idempotency_key=args.idempotency_key, priority=args.priority,
                             max_attempts=args.max_attempts)
    print_assigned(assigned, as_json=args.json, repeated="already existed")
    return ExitStatus.OK


def cmd_jobs(args: argparse.Namespace, client: CollabClient) -> int:
    """List recent jobs; ``--follow`` then prints the events that commit from the moment
    the listing began (a job that changes meanwhile may show in both)."""
    since = client.events_head() if args.follow else 0
    page = client.jobs_recent(executor_id=args.executor, status=args.status, type=args.type,
                              page_size=args.limit)
    if args.json and not args.follow:
        print_json(page)
        return ExitStatus.OK
    _print_jobs(args, list(reversed(page.items)))
    if args.follow:
        follow_events(args, client, since=since)
    return ExitStatus.OK


def _print_jobs(args: argparse.Namespace, jobs: list[Job]) -> None:
    if args.json:
        for job in jobs:
            print(job.model_dump_json(by_alias=True), flush=True)
    else:
        print_table(JOB_COLUMNS, job_rows(jobs))


def cmd_job(args: argparse.Namespace, client: CollabClient) -> int:
    """One job with its events and artifacts."""
    summary = client.summary(args.job_id)
    if args.json:
        print_json(summary)
        return ExitStatus.OK
    job = summary.job
    print_table(JOB_COLUMNS, job_rows([job]))
    if job.result is not None:
        print(f"\nresult: {json.dumps(job.result)}")
    print()
    print_table(("SEQ", "AT", "EVENT", "DETAIL"), [
        [e.seq, e.created_at.strftime("%H:%M:%S.%f")[:-3], e.event_type,
         json.dumps({k: v for k, v in e.payload.items() if k != "error"})[:80]] for e in summary.events])
    if summary.artifacts:
        print()
        print_table(("ARTIFACT", "PATH", "SIZE", "MIME"),
                    [[a.name, a.path, a.size, a.mime] for a in summary.artifacts])
    return ExitStatus.OK


def cmd_stats(args: argparse.Namespace, client: CollabClient) -> int:
    """Counts by status."""
    stats = client.stats(executor_id=args.executor)
    if args.json:
        print_json(stats)
    else:
        names = ("queued", "running", "succeeded", "failed", "cancelled", "total")
        print_table([n.upper() for n in names], [[getattr(stats, n) for n in names]])
    return ExitStatus.OK
