"""The ``collab`` subcommands that work through the SDK: assign, jobs, job, dlq, stats
(``(args, client) -> exit code``), and worker and token (``(args) -> exit code``).
``cli.py`` wires them up."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys

from collab_sdk.cli.output import (JOB_COLUMNS, ExitStatus, job_rows, print_json, print_table)
from collab_sdk.cli.watch import follow_events
from collab_sdk.errors import ValidationError
from collab_sdk.models import Assigned, Job
from collab_sdk.client.sync import CollabClient
from collab_sdk.worker.loop import Worker

__all__ = ["cmd_assign", "cmd_jobs", "cmd_job", "cmd_dlq_list", "cmd_dlq_retry", "cmd_stats",
           "cmd_worker", "cmd_token", "load_worker"]


def cmd_assign(args: argparse.Namespace, client: CollabClient) -> int:
    """Enqueue one job; prints its id (and whether it was new)."""
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--payload is not JSON: {exc}", code="CL400") from exc
    assigned = client.assign(args.type, executor_id=args.executor, payload=payload,
                             idempotency_key=args.idempotency_key, priority=args.priority,
                             max_attempts=args.max_attempts)
    return _print_assigned(args, assigned, "already existed")


def _print_assigned(args: argparse.Namespace, assigned: Assigned, repeated: str) -> int:
    if args.json:
        print_json(assigned)
    else:
        print(f"{assigned.job_id} {'queued' if assigned.queued else repeated}")
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


def cmd_dlq_list(args: argparse.Namespace, client: CollabClient) -> int:
    """Dead letters, newest first."""
    page = client.dlq_list(executor_id=args.executor, page_size=args.limit,
                           include_retried=not args.open)
    if args.json:
        print_json(page)
    else:
        print_table(("ID", "JOB", "TYPE", "REASON", "ATTEMPTS", "RETRIED AS"),
                    [[d.id, d.job_id, d.type, d.reason, d.attempts, d.retried_job_id] for d in page.items])
    return ExitStatus.OK


def cmd_dlq_retry(args: argparse.Namespace, client: CollabClient) -> int:
    """Re-enqueue a dead letter (exactly once)."""
    return _print_assigned(args, client.dlq_retry(args.dead_letter_id), "already retried as this job")


def cmd_stats(args: argparse.Namespace, client: CollabClient) -> int:
    """Counts by status."""
    stats = client.stats(executor_id=args.executor)
    if args.json:
        print_json(stats)
    else:
        names = ("queued", "running", "succeeded", "failed", "cancelled", "total")
        print_table([n.upper() for n in names], [[getattr(stats, n) for n in names]])
    return ExitStatus.OK


def cmd_token(args: argparse.Namespace) -> int:
    """Print a local HS256 token (``SUPABASE_JWT_SECRET`` or ``--secret`` signs it)."""
    from collab_sdk.auth.tokens import mint_token
    secret = args.secret or os.environ.get("SUPABASE_JWT_SECRET")
    if not secret:
        raise ValidationError("set SUPABASE_JWT_SECRET or pass --secret to sign the token", code="CL400")
    executors = {}
    for item in args.executor:
        executor_id, _, role = item.partition("=")
        executors[executor_id] = role or "worker"
    try:
        token = mint_token(secret, sub=args.sub, role=args.role, executors=executors or None,
                           expires_in=args.expires_in)
    except ValueError as exc:
        raise ValidationError(str(exc), code="CL400") from exc
    print(token)
    return ExitStatus.OK


def load_worker(spec: str) -> Worker:
    """``module:attribute`` → the ``Worker`` it names (or a callable returning one)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValidationError(f"worker must be given as module:attribute, not {spec!r}", code="CL400")
    sys.path.insert(0, os.getcwd())
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"cannot load {spec}: {exc}", code="CL400") from exc
    worker = target() if callable(target) and not isinstance(target, Worker) else target
    if not isinstance(worker, Worker):
        raise ValidationError(f"{spec} is a {type(worker).__name__}, not a collab Worker", code="CL400")
    return worker


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker until SIGTERM/SIGINT; its exit code (see ``Worker.run``)."""
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = load_worker(args.worker)
    if args.concurrency:
        worker.concurrency = args.concurrency
    return worker.run()
