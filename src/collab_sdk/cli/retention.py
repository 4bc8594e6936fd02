"""``collab retention show|set|apply``: an executor's retention policy (how long finished
jobs and dead letters are kept) and one pass of it now (``retention_policy``,
``set_retention_policy``, ``apply_retention``; docs/rpc.md, "Retention")."""

from __future__ import annotations

import os
import socket
from typing import Any

import click

from collab_sdk.cli.base import group
from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import print_json, print_line, print_table
from collab_sdk.client.sync import CollabClient
from collab_sdk.errors import ValidationError
from collab_sdk.exits import ExitStatus
from collab_sdk.models import RetentionPolicy

__all__ = ["register", "retention", "cmd_show", "cmd_set", "cmd_apply", "cmd_purge_runs",
           "seconds_or_forever"]


@group("retention", help="how long an executor keeps finished jobs and dead letters (show, set, apply);"
                         " purge-runs deletes finished workflow runs")
def retention() -> None:
    """``collab retention``."""


def register(cli: click.Group) -> None:
    """Add ``collab retention show``, ``set``, ``apply`` and ``purge-runs``."""
    cli.add_command(retention)


def seconds_or_forever(value: str | None) -> int | None:
    """``forever`` → None (keep forever); else whole seconds >= 0."""
    if value is None or value == "forever":
        return None
    if not value.isdigit():
        raise ValidationError(f"expected whole seconds or 'forever', got {value!r}", code="CL400")
    return int(value)


def _print_policy(policy: RetentionPolicy, as_json: bool) -> None:
    if as_json:
        print_json(policy)
        return
    print_table(["executor", "succeeded", "failed", "cancelled", "dead letters", "enabled", "default"],
                [[policy.executor_id, _shown(policy.succeeded_seconds), _shown(policy.failed_seconds),
                  _shown(policy.cancelled_seconds), _shown(policy.dead_letter_seconds), policy.enabled,
                  policy.is_default]])


def _shown(seconds: int | None) -> str:
    return "forever" if seconds is None else f"{seconds}s"


@retention.command("show", help="the executor's retention policy (the defaults until one is set)")
@client_options
@click.argument("executor")
@with_client
def cmd_show(client: CollabClient, *, executor: str, as_json: bool) -> int:
    """Print the policy."""
    _print_policy(client.retention_policy(executor), as_json)
    return ExitStatus.OK


@retention.command("set", help="change the given fields (SECONDS or 'forever'); needs the admin role")
@client_options
@click.argument("executor")
@click.option("--succeeded", metavar="SECONDS|forever")
@click.option("--failed", metavar="SECONDS|forever")
@click.option("--cancelled", metavar="SECONDS|forever")
@click.option("--dead-letters", metavar="SECONDS|forever")
@click.option("--enable/--disable", "enabled", default=None)
@with_client
def cmd_set(client: CollabClient, *, executor: str, succeeded: str | None, failed: str | None,
            cancelled: str | None, dead_letters: str | None, enabled: bool | None, as_json: bool) -> int:
    """Change the policy; print the result."""
    given: dict[str, Any] = {name: seconds_or_forever(value) for name, value in (
        ("succeeded_seconds", succeeded), ("failed_seconds", failed), ("cancelled_seconds", cancelled),
        ("dead_letter_seconds", dead_letters)) if value is not None}
    if enabled is not None:
        given["enabled"] = enabled
    _print_policy(client.set_retention_policy(executor, **given), as_json)
    return ExitStatus.OK


@retention.command("apply", help="one pass of the policy now, in batches (skipped while a worker holds it)")
@client_options
@click.argument("executor")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=1000, show_default=True)
@with_client
def cmd_apply(client: CollabClient, *, executor: str, batch_size: int, as_json: bool) -> int:
    """Apply the policy; print what was deleted."""
    done = client.apply_retention(executor, f"cli-{socket.gethostname()}-{os.getpid()}", batch_size=batch_size)
    if as_json:
        print_json(done)
    elif not done.ran:
        print_line(f"retention of {executor} not run: not due, disabled, or another caller holds it")
    else:
        print_line(f"deleted {done.purged} job(s), {done.events} event(s) and {done.dead_letters} dead letter(s)")
    return ExitStatus.OK


@retention.command("purge-runs", help="delete finished workflow runs with their steps, step jobs and events;"
                                      " needs the admin role")
@client_options
@click.argument("executor")
@click.option("--older-than", "older_than", type=click.IntRange(0), default=0, show_default=True,
              metavar="SECONDS", help="completed longer ago than this")
@click.option("--status", "statuses", multiple=True, type=click.Choice(["succeeded", "failed", "cancelled"]),
              help="repeatable; default: all three")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=100, show_default=True)
@with_client
def cmd_purge_runs(client: CollabClient, *, executor: str, older_than: int, statuses: tuple[str, ...],
                   batch_size: int, as_json: bool) -> int:
    """Purge the runs; print how many went."""
    purged = client.purge_runs(older_than_seconds=older_than, executor_id=executor,
                               statuses=list(statuses) or None, batch_size=batch_size)
    if as_json:
        print_json({"purged": purged})
    else:
        print_line(f"deleted {purged} workflow run(s)")
    return ExitStatus.OK
