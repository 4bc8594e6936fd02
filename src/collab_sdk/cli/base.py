"""The Click classes every ``collab`` command is built from: ``Command`` and ``Group``
(usage lines read ``usage: collab …``, as the README shows them), ``Choice`` (an unknown
value is an ``invalid choice``, listing the valid ones) and the ``command`` / ``group``
decorators that use them. A usage error exits 2 (``ExitStatus.USAGE``), as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["Command", "Group", "Choice", "command", "group"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Command(click.Command):
    """A ``collab`` command: ``usage:`` (lower case) heads its help and usage errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", dict(_CONTEXT))
        super().__init__(*args, **kwargs)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """``usage: collab <path> <pieces>``."""
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)), prefix="usage: ")


class Group(click.Group):
    """A ``collab`` command group; its commands and subgroups are ``Command`` and ``Group``,
    listed in the order they were added (not alphabetically)."""

    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", dict(_CONTEXT))
        super().__init__(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands in the order they were added."""
        return list(self.commands)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """``usage: collab <path> <pieces>``."""
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)), prefix="usage: ")


Group.group_class = Group


class Choice(click.Choice[str]):
    """``click.Choice`` whose error says ``invalid choice: 'x' (choose from a, b)``."""

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        """The message of a value that is not one of the choices."""
        return f"invalid choice: {value!r} (choose from {', '.join(map(str, self.choices))})"


def command(name: str, **attrs: Any) -> Callable[[Callable[..., Any]], Command]:
    """``@command("name", help=...)``: a ``Command``."""
    return click.command(name, cls=Command, **attrs)


def group(name: str, **attrs: Any) -> Callable[[Callable[..., Any]], Group]:
    """``@group("name", help=...)``: a ``Group``."""
    return click.group(name, cls=Group, **attrs)
