"""The ``collab`` command.

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

Without ``--database-url`` the client comes from the environment (``COLLAB_DATABASE_URL``,
``SUPABASE_URL`` + key, else the embedded Postgres under ``.collab/``). ``--json``
prints JSON for scripts. Exit codes: 0 success, 1 failure, 2 bad arguments or input,
3 not found, 4 conflict (lease lost, invalid transition), 5 unauthorized/forbidden,
69 database unreachable; ``collab worker`` exits as ``collab_sdk.worker.loop.ExitCode`` says.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from collab_sdk.cli.jobs import (cmd_assign, cmd_dlq_list, cmd_dlq_retry, cmd_job, cmd_jobs,
                                 cmd_stats, cmd_token, cmd_worker)
from collab_sdk.cli.output import ExitStatus, exit_status_for
from collab_sdk.cli.watch import cmd_watch
from collab_sdk.errors import CollabError
from collab_sdk.models import JobStatus
from collab_sdk.client.sync import CollabClient

from collab_sdk.local.home import local_database_url, local_server
from collab_sdk.local.migrate import migrate

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
    from collab_sdk.client.async_client import AsyncCollabClient
    from collab_sdk.client.config import storage_for
    from collab_sdk.cli.demo import run_demo
    from collab_sdk.transports.postgres import PostgresTransport

    url = _database_url(args)
    transport = PostgresTransport(url)
    return run_demo(AsyncCollabClient(transport, storage=storage_for(transport)), url)


def _cmd_serve(args: argparse.Namespace) -> int:
    from collab_sdk.http.serve import serve
    serve(args.host, args.port, threads=args.threads, log_level=args.log_level)
    return 0


def _client(args: argparse.Namespace) -> CollabClient:
    if args.database_url:
        from collab_sdk.client.config import storage_for
        from collab_sdk.transports.postgres import PostgresTransport
        transport = PostgresTransport(args.database_url)
        return CollabClient(transport, storage=storage_for(transport))
    return CollabClient.from_env()


def _with_client(command: Callable[[argparse.Namespace, CollabClient], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        with _client(args) as client:
            return command(args, client)
    return run


def _client_commands(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", help="PostgreSQL URL (default: from the environment)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")

    a = sub.add_parser("assign", parents=[common], help="enqueue a job")
    a.add_argument("type")
    a.add_argument("--executor", required=True)
    a.add_argument("--payload", default="{}", help="JSON object (default {})")
    a.add_argument("--idempotency-key")
    a.add_argument("--priority", type=int)
    a.add_argument("--max-attempts", type=int)
    a.set_defaults(func=_with_client(cmd_assign))

    j = sub.add_parser("jobs", parents=[common], help="recent jobs, newest last")
    j.add_argument("--status", choices=[s.value for s in JobStatus])
    j.add_argument("--executor")
    j.add_argument("--type")
    j.add_argument("--limit", type=int, default=20)
    j.add_argument("--follow", action="store_true",
                   help="then print their events as they commit (Ctrl-C stops)")
    j.set_defaults(func=_with_client(cmd_jobs))

    one = sub.add_parser("job", parents=[common], help="a job with its events and artifacts")
    one.add_argument("job_id")
    one.set_defaults(func=_with_client(cmd_job))

    wa = sub.add_parser("watch", parents=[common],
                        help="a job's events (its log, then live) until it finishes: exit 0 "
                             "succeeded, 1 failed or cancelled, 124 --timeout passed")
    wa.add_argument("job_id")
    wa.add_argument("--since", type=int, default=0, help="only events after this seq")
    wa.add_argument("--timeout", type=float, help="give up after this many seconds")
    wa.set_defaults(func=_with_client(cmd_watch))

    dlq = sub.add_parser("dlq", help="the dead-letter queue").add_subparsers(dest="dlq_command", required=True)
    dl = dlq.add_parser("list", parents=[common], help="dead letters, newest first")
    dl.add_argument("--executor")
    dl.add_argument("--limit", type=int, default=20)
    dl.add_argument("--open", action="store_true", help="only those not yet retried")
    dl.set_defaults(func=_with_client(cmd_dlq_list))
    dr = dlq.add_parser("retry", parents=[common], help="re-enqueue a dead letter (exactly once)")
    dr.add_argument("dead_letter_id")
    dr.set_defaults(func=_with_client(cmd_dlq_retry))

    st = sub.add_parser("stats", parents=[common], help="job counts by status")
    st.add_argument("--executor")
    st.set_defaults(func=_with_client(cmd_stats))

    w = sub.add_parser("worker", help="run a worker (module:attribute naming a Worker)")
    w.add_argument("worker", help="e.g. myapp.jobs:worker")
    w.add_argument("--concurrency", type=int)
    w.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    w.set_defaults(func=cmd_worker)

    t = sub.add_parser("token", help="mint a local HS256 JWT for development")
    t.add_argument("--sub", required=True, help="the user id (auth.uid())")
    t.add_argument("--role", default="authenticated", choices=["authenticated", "service_role"])
    t.add_argument("--executor", action="append", default=[], metavar="ID[=ROLE]",
                   help="membership hint (repeatable); the database's membership table decides")
    t.add_argument("--expires-in", type=int, default=3600, help="seconds (default 3600)")
    t.add_argument("--secret", help="signing secret (default: SUPABASE_JWT_SECRET)")
    t.set_defaults(func=cmd_token)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collab", description="collab: a Postgres job queue")
    sub = parser.add_subparsers(dest="command", required=True)
    _client_commands(sub)

    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    m = db.add_parser("migrate", help="apply sql/ and pending migrations")
    m.add_argument("--database-url", help="PostgreSQL URL (default: COLLAB_DATABASE_URL or embedded)")
    m.set_defaults(func=_cmd_migrate)
    db.add_parser("url", help="start the embedded Postgres and print its URL").set_defaults(func=_cmd_url)
    db.add_parser("stop", help="stop the embedded Postgres").set_defaults(func=_cmd_stop)

    demo = sub.add_parser("demo", help="run a worker, enqueue jobs with the CLI, print events live")
    demo.add_argument("--database-url", help="PostgreSQL URL (default: COLLAB_DATABASE_URL or embedded)")
    demo.set_defaults(func=_cmd_demo)

    serve = sub.add_parser("serve", help="serve the Collab API, every function and /docs (waitress)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3100)
    serve.add_argument("--threads", type=int, default=16, help="worker threads (default 16)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=_cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``collab`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
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
