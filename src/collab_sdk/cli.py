"""The ``collab`` command.

    collab db migrate [--database-url URL]   apply sql/ and pending migrations
    collab db url                            start the embedded Postgres; print its URL
    collab db stop                           stop the embedded Postgres
    collab demo [--jobs N]                   enqueue jobs, run a worker loop, print events

Without ``--database-url`` (or ``COLLAB_DATABASE_URL``) the embedded Postgres under
``.collab/`` is used. Exit codes: 0 success, 1 failure, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys

from collab_sdk.local import local_database_url, local_server
from collab_sdk.migrate import migrate

__all__ = ["main"]


def _database_url(args: argparse.Namespace) -> str:
    url = args.database_url or os.environ.get("COLLAB_DATABASE_URL")
    return url if url else local_database_url()


def _cmd_migrate(args: argparse.Namespace) -> int:
    url = args.database_url or os.environ.get("COLLAB_DATABASE_URL") or local_server().start()
    applied = migrate(url)
    for migration in applied:
        print(f"applied {migration.version}_{migration.name}")
    print(f"{len(applied)} migration(s) applied; schema is up to date")
    return 0


def _cmd_url(args: argparse.Namespace) -> int:
    print(local_database_url())
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    local_server().stop()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from collab_sdk.config import storage_for
    from collab_sdk.demo import run_demo
    from collab_sdk.postgres import PostgresTransport
    from collab_sdk.sync import CollabClient

    transport = PostgresTransport(_database_url(args))
    with CollabClient(transport, storage=storage_for(transport)) as client:
        return run_demo(client, jobs=args.jobs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collab", description="collab: a Postgres job queue")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    m = db.add_parser("migrate", help="apply sql/ and pending migrations")
    m.add_argument("--database-url", help="PostgreSQL URL (default: COLLAB_DATABASE_URL or embedded)")
    m.set_defaults(func=_cmd_migrate)
    db.add_parser("url", help="start the embedded Postgres and print its URL").set_defaults(func=_cmd_url)
    db.add_parser("stop", help="stop the embedded Postgres").set_defaults(func=_cmd_stop)

    demo = sub.add_parser("demo", help="enqueue jobs, run a worker loop and print the event log")
    demo.add_argument("--database-url", help="PostgreSQL URL (default: COLLAB_DATABASE_URL or embedded)")
    demo.add_argument("--jobs", type=int, default=5, help="number of jobs to enqueue (default 5)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``collab`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line message, not a traceback
        print(f"collab: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
