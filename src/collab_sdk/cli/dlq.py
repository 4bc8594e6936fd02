"""``collab dlq list`` and ``collab dlq retry``: the dead-letter queue. ``retry`` takes a
dead letter's id or the id of the job that dead-lettered (found through ``dlq_list``)."""

from __future__ import annotations

from uuid import UUID

import click

from collab_sdk.cli.base import command, group
from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import print_assigned, print_json, print_table
from collab_sdk.client.sync import CollabClient
from collab_sdk.errors import NotFound, ValidationError
from collab_sdk.exits import ExitStatus
from collab_sdk.models import DeadLetter

__all__ = ["register", "dlq", "cmd_dlq_list", "cmd_dlq_retry", "dead_letter_of"]


@group("dlq", help="the dead-letter queue")
def dlq() -> None:
    """``collab dlq``."""


def register(cli: click.Group) -> None:
    """Add ``collab dlq list`` and ``collab dlq retry``."""
    cli.add_command(dlq)


@dlq.command("list", help="dead letters, newest first")
@client_options
@click.option("--executor")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--open", "only_open", is_flag=True, help="only those not yet retried")
@with_client
def cmd_dlq_list(client: CollabClient, *, executor: str | None, limit: int, only_open: bool, as_json: bool) -> int:
    """Dead letters, newest first."""
    page = client.dlq_list(executor_id=executor, page_size=limit, include_retried=not only_open)
    if as_json:
        print_json(page)
    else:
        print_table(("ID", "JOB", "TYPE", "REASON", "ATTEMPTS", "RETRIED AS"),
                    [[d.id, d.job_id, d.type, d.reason, d.attempts, d.retried_job_id] for d in page.items])
    return ExitStatus.OK


def dead_letter_of(client: CollabClient, job_id: UUID) -> DeadLetter | None:
    """The newest dead letter of the job ``job_id`` (retried or not), if any, read
    page by page through ``dlq_list``."""
    cursor: str | None = None
    while True:
        page = client.dlq_list(page_size=200, cursor=cursor, include_retried=True)
        found = next((d for d in page.items if d.job_id == job_id), None)
        if found is not None or page.next_cursor is None:
            return found
        cursor = page.next_cursor


@dlq.command("retry", help="re-enqueue a dead letter, by its id or its job's id (exactly once)")
@client_options
@click.argument("dead_letter_or_job_id", metavar="ID")
@with_client
def cmd_dlq_retry(client: CollabClient, *, dead_letter_or_job_id: str, as_json: bool) -> int:
    """Re-enqueue a dead letter (exactly once); prints the new job's id. Given a job's
    id, retries that job's dead letter."""
    try:
        wanted = UUID(dead_letter_or_job_id)
    except ValueError:
        raise ValidationError(f"invalid input syntax for type uuid: {dead_letter_or_job_id!r}",
                              code="CL400") from None
    try:
        assigned = client.dlq_retry(wanted)
    except NotFound:
        letter = dead_letter_of(client, wanted)
        if letter is None:
            raise NotFound(f"no dead letter {wanted} and no dead letter of a job {wanted}: not found",
                           code="CL404") from None
        assigned = client.dlq_retry(letter.id)
    print_assigned(assigned, as_json=as_json, repeated="already retried as this job")
    return ExitStatus.OK
