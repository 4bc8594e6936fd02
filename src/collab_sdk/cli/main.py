"""The ``collab`` command: the parser built from one module per command group, the
dispatch, and the exit status each error means.

    collab db migrate [--database-url URL]   apply sql/ and pending migrations
    collab db url                            start the embedded Postgres; print its URL
    collab db stop                           stop the embedded Postgres
    collab demo                              a worker, jobs from the CLI, events as they happen
    collab worker MODULE:WORKER              run a worker until SIGTERM/SIGINT
    collab assign TYPE --executor E [--payload JSON] [--idempotency-key K]
    collab jobs [--status S] [--executor E] [--follow]
    collab job ID                            a job with its events and artifacts
    collab watch ID [--since SEQ] [--timeout S]  a job's events live, until it finishes
    collab dlq list | collab dlq retry ID
    collab stats [--executor E]
    collab token --sub UID [--executor E=worker]  a local HS256 JWT for development
    collab serve [--port 3100] [--host 127.0.0.1]  the Collab API, functions and /docs

Each group module (``jobs``, ``watch``, ``dlq``, ``worker``, ``db``, ``demo``, ``serve``)
adds its parsers in ``register`` with a ``run`` default; this module knows none of their
flags. ``collab_sdk.cli.connect`` picks the database. Every command, and ``collab worker``,
exits with a ``collab_sdk.exits.ExitStatus``.
"""

from __future__ import annotations

import argparse
import sys

from collab_sdk.cli import db, demo, dlq, jobs, serve, watch, worker
from collab_sdk.cli.output import exit_status_for
from collab_sdk.errors import CollabError
from collab_sdk.exits import ExitStatus

__all__ = ["GROUPS", "build_parser", "main"]

#: The command group modules, in the order ``collab --help`` (and the README) lists them.
GROUPS = (db, demo, worker, jobs, watch, dlq, serve)


def build_parser() -> argparse.ArgumentParser:
    """The ``collab`` parser: every group's ``register``ed commands."""
    parser = argparse.ArgumentParser(prog="collab", description="collab: a Postgres job queue")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``collab`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return ExitStatus.FORCED
    except BrokenPipeError:  # `collab jobs | head`
        return ExitStatus.OK
    except CollabError as exc:
        print(f"collab: error: {exc}", file=sys.stderr)
        return exit_status_for(exc)
    except Exception as exc:  # a clear one-line message, not a traceback
        print(f"collab: error: {exc}", file=sys.stderr)
        return ExitStatus.ERROR


if __name__ == "__main__":
    sys.exit(main())
