"""How the ``collab`` command prints: Rich tables for people — boxed and coloured on a
terminal, plain aligned columns without colour or wrapping when stdout is a pipe or a
file, so scripts can cut them — ``--json`` for scripts, and the exit status
(``collab_sdk.exits.ExitStatus``) each SDK error means."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from collab_sdk.errors import (CollabError, ConfigurationError, Conflict, Forbidden, NotFound,
                               TransportError, Unauthorized, ValidationError)
from collab_sdk.exits import ExitStatus
from collab_sdk.models import Assigned, Job

__all__ = ["exit_status_for", "print_json", "print_table", "print_assigned", "print_line",
           "print_block", "console", "error_summary", "job_rows", "JOB_COLUMNS", "STYLES"]

_BY_ERROR: list[tuple[type[CollabError], ExitStatus]] = [
    (ValidationError, ExitStatus.USAGE), (ConfigurationError, ExitStatus.USAGE),
    (NotFound, ExitStatus.NOT_FOUND),
    (Conflict, ExitStatus.CONFLICT), (Unauthorized, ExitStatus.DENIED),
    (Forbidden, ExitStatus.DENIED), (TransportError, ExitStatus.UNAVAILABLE),
]

#: How an event type or status is coloured on a terminal.
STYLES = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "retry_scheduled": "yellow",
          "running": "cyan", "claimed": "cyan", "queued": "blue", "paused": "magenta", "waiting": "magenta",
          "skipped": "dim"}


def exit_status_for(error: CollabError) -> ExitStatus:
    """The exit status for an SDK error (``ERROR`` for one the table does not name)."""
    return next((code for cls, code in _BY_ERROR if isinstance(error, cls)), ExitStatus.ERROR)


def console() -> Console:
    """A Rich console on the current ``sys.stdout``: a terminal gets colour; a pipe or a
    file gets none, no markup, no highlighting and lines as long as they need to be."""
    terminal = sys.stdout.isatty()
    return Console(file=sys.stdout, highlight=False, markup=False, emoji=False,
                   no_color=not terminal, width=None if terminal else 1 << 16,
                   force_terminal=terminal, soft_wrap=not terminal)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """One JSON document on stdout (models in their camelCase wire form)."""
    json.dump(_jsonable(value), sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table: columns under a header, empty cells for None. On a terminal a Rich
    table; elsewhere left-aligned columns two spaces apart, one line per row."""
    out = console()
    table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, show_edge=False,
                  pad_edge=False, header_style="bold" if out.is_terminal else "", highlight=False)
    for column in columns:
        table.add_column(column, no_wrap=not out.is_terminal, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(value, out.is_terminal) for value in row))
    if out.is_terminal:
        out.print(table)
    else:
        with out.capture() as captured:
            out.print(table)
        for line in captured.get().splitlines():
            sys.stdout.write(line.rstrip() + "\n")
    sys.stdout.flush()


def _cell(value: Any, terminal: bool) -> Text:
    text = "" if value is None else str(value)
    return Text(text, style=STYLES.get(text, "") if terminal else "")


def print_line(text: str, style: str | None = None) -> None:
    """One line on stdout, in ``style`` on a terminal, flushed (live output)."""
    out = console()
    if out.is_terminal and style:
        out.print(Text(text, style=style))
    else:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_block(title: str, text: str, *, indent: str = "  ") -> None:
    """``title`` then every line of ``text``, indented — a traceback, whole."""
    print_line(title, "bold")
    for line in text.rstrip("\n").splitlines() or [""]:
        sys.stdout.write(indent + line + "\n")
    sys.stdout.flush()


def print_assigned(assigned: Assigned, *, as_json: bool, repeated: str) -> None:
    """An enqueued job: its id and ``queued``, or ``repeated`` when it already existed."""
    if as_json:
        print_json(assigned)
    else:
        print_line(f"{assigned.job_id} {'queued' if assigned.queued else repeated}")


JOB_COLUMNS = ("ID", "TYPE", "EXECUTOR", "STATUS", "ATTEMPTS", "CREATED", "LAST ERROR")


def error_summary(error: str | None, width: int = 60) -> str:
    """One line saying what an error was: a traceback's or message's last line that is
    neither a bare URL nor pydantic's "For further information" pointer."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    telling = [line for line in lines if not line.startswith(("http://", "https://", "For further information"))]
    return (telling or lines or [""])[-1][:width]


def job_rows(jobs: Iterable[Job]) -> list[list[Any]]:
    """Table rows for jobs (the last error as its one telling line)."""
    return [[job.id, job.type, job.executor_id, job.status.value, f"{job.attempts}/{job.max_attempts}",
             job.created_at.strftime("%Y-%m-%d %H:%M:%S"), error_summary(job.last_error)]
            for job in jobs]
