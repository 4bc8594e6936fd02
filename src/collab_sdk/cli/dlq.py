"""``collab dlq list`` and ``collab dlq retry``: the dead-letter queue."""

from __future__ import annotations

import argparse

from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import print_assigned, print_json, print_table
from collab_sdk.client.sync import CollabClient
from collab_sdk.exits import ExitStatus

__all__ = ["register", "cmd_dlq_list", "cmd_dlq_retry"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``collab dlq list`` and ``collab dlq retry``."""
    dlq = commands.add_parser("dlq", help="the dead-letter queue").add_subparsers(
        dest="dlq_command", required=True)
    listing = dlq.add_parser("list", parents=[client_options()], help="dead letters, newest first")
    listing.add_argument("--executor")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--open", action="store_true", help="only those not yet retried")
    listing.set_defaults(run=with_client(cmd_dlq_list))
    retry = dlq.add_parser("retry", parents=[client_options()],
                           help="re-enqueue a dead letter (exactly once)")
    retry.add_argument("dead_letter_id")
    retry.set_defaults(run=with_client(cmd_dlq_retry))


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
    """Re-enqueue a dead letter (exactly once); prints the new job's id."""
    print_assigned(client.dlq_retry(args.dead_letter_id), as_json=args.json,
                   repeated="already retried as this job")
    return ExitStatus.OK
