"""How the ``collab`` command prints: aligned tables for people, ``--json`` for scripts,
and the exit status (``collab_sdk.exits.ExitStatus``) each SDK error means."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from collab_sdk.errors import (CollabError, ConfigurationError, Conflict, Forbidden, NotFound,
                               TransportError, Unauthorized, ValidationError)
from collab_sdk.exits import ExitStatus
from collab_sdk.models import Assigned, Job

__all__ = ["exit_status_for", "print_json", "print_table", "print_assigned", "job_rows",
           "JOB_COLUMNS"]

_BY_ERROR: list[tuple[type[CollabError], ExitStatus]] = [
    (ValidationError, ExitStatus.USAGE), (ConfigurationError, ExitStatus.USAGE),
    (NotFound, ExitStatus.NOT_FOUND),
    (Conflict, ExitStatus.CONFLICT), (Unauthorized, ExitStatus.DENIED),
    (Forbidden, ExitStatus.DENIED), (TransportError, ExitStatus.UNAVAILABLE),
]


def exit_status_for(error: CollabError) -> ExitStatus:
    """The exit status for an SDK error (``ERROR`` for one the table does not name)."""
    return next((code for cls, code in _BY_ERROR if isinstance(error, cls)), ExitStatus.ERROR)


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
    """Left-aligned columns under a header; empty cells for None."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    for row in [list(columns)] + cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    sys.stdout.flush()


def print_assigned(assigned: Assigned, *, as_json: bool, repeated: str) -> None:
    """An enqueued job: its id and ``queued``, or ``repeated`` when it already existed."""
    if as_json:
        print_json(assigned)
    else:
        print(f"{assigned.job_id} {'queued' if assigned.queued else repeated}")


JOB_COLUMNS = ("ID", "TYPE", "EXECUTOR", "STATUS", "ATTEMPTS", "CREATED", "LAST ERROR")


def job_rows(jobs: Iterable[Job]) -> list[list[Any]]:
    """Table rows for jobs (the last error cut to its first line)."""
    return [[job.id, job.type, job.executor_id, job.status.value, f"{job.attempts}/{job.max_attempts}",
             job.created_at.strftime("%Y-%m-%d %H:%M:%S"), (job.last_error or "").strip().split("\n")[-1][:60]]
            for job in jobs]
