"""``collab members add|remove|list``: who may use an executor, and as what (``client``,
``worker`` or ``admin``; ``add_member``/``remove_member``/``members``)."""

from __future__ import annotations


import click

from collab_sdk.cli.base import Choice, command, group
from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import print_json, print_line, print_table
from collab_sdk.client.sync import CollabClient
from collab_sdk.errors import NotFound
from collab_sdk.exits import ExitStatus

__all__ = ["register", "members", "cmd_add", "cmd_remove", "cmd_list", "ROLES"]

#: The roles a member may have, least privileged first.
ROLES = ("client", "worker", "admin")


@group("members", help="executor memberships (add, remove, list)")
def members() -> None:
    """``collab members``."""


def register(cli: click.Group) -> None:
    """Add ``collab members add``, ``members remove`` and ``members list``."""
    cli.add_command(members)


@members.command("add", help="make a user a member of an executor (or change their role)")
@client_options
@click.argument("executor")
@click.argument("user_id")
@click.option("--role", default="client", show_default=True, type=Choice(list(ROLES)))
@with_client
def cmd_add(client: CollabClient, *, executor: str, user_id: str, role: str, as_json: bool) -> int:
    """Add or update a membership; prints it."""
    membership = client.add_member(executor, user_id, role)
    if as_json:
        print_json(membership)
    else:
        print_line(f"{membership.user_id} is {membership.role} of {membership.executor_id}")
    return ExitStatus.OK


@members.command("remove", help="remove a user from an executor (exit 3 when they were not a member)")
@client_options
@click.argument("executor")
@click.argument("user_id")
@with_client
def cmd_remove(client: CollabClient, *, executor: str, user_id: str, as_json: bool) -> int:
    """Remove a membership; ``NotFound`` (exit 3) when there was none."""
    removed = client.remove_member(executor, user_id)
    if as_json:
        print_json({"removed": removed})
    if not removed:
        raise NotFound(f"{user_id} is not a member of {executor}: not found", code="CL404")
    if not as_json:
        print_line(f"{user_id} removed from {executor}")
    return ExitStatus.OK


@members.command("list", help="the members of an executor, oldest first (trusted callers and its admins)")
@client_options
@click.argument("executor")
@with_client
def cmd_list(client: CollabClient, *, executor: str, as_json: bool) -> int:
    """The executor's memberships: a table, or JSON."""
    found = client.members(executor)
    if as_json:
        print_json(found)
    else:
        print_table(["user", "role", "since"], [[m.user_id, m.role, m.created_at] for m in found])
    return ExitStatus.OK
