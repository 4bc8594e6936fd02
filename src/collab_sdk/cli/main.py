"""The ``collab`` command: the Click group assembled from one module per command group,
the dispatch, and the exit status each error means.

    collab db migrate [--database-url URL] [--project-dir DIR]  apply collab's pending migrations
    collab db url                            start the embedded Postgres; print its URL
    collab db stop                           stop the embedded Postgres
    collab supabase install|upgrade [--project-dir DIR]  collab's migrations into a Supabase project
    collab demo                              a worker, jobs from the CLI, events as they happen
    collab worker MODULE:WORKER              run a worker until SIGTERM/SIGINT
    collab assign TYPE --executor E [--payload JSON] [--run-at ISO | --delay S]
    collab jobs [--status S] [--executor E] [--follow]
    collab job ID                            a job with its events, artifacts and whole errors
    collab cancel ID [--reason R] | collab retry ID | collab purge [--older-than S] [--status S] [--batch-size N]
    collab watch ID [--since SEQ] [--timeout S]  a job's events live, until it finishes
    collab dlq list | collab dlq retry ID    (a dead letter's id or its job's)
    collab stats [--executor E] | collab metrics [--executor E] | collab workers [--within S]
    collab members add|remove EXECUTOR USER_ID [--role R]
    collab retention show|set|apply EXECUTOR  how long finished jobs and dead letters are kept
    collab workflows list|show|create|validate|publish|run
    collab runs list|show|watch|resume|cancel|retry
    collab token --sub UID [--executor E=worker]  a local HS256 JWT for development
    collab serve [--port 3100] [--host 127.0.0.1]  the Collab API, functions and /docs
    collab dev [--worker MODULE:WORKER] [--open]  database, serve and the dashboard on loopback, no sign-in
    collab --version

Each group module (``db``, ``supabase``, ``demo``, ``worker``, ``jobs``, ``watch``, ``dlq``,
``monitor``, ``members``, ``retention``, ``workflows``, ``runs``, ``serve``, ``dev``) adds its commands in ``register``; this module knows
none of their options. ``collab_sdk.cli.connect`` picks the database. Every command, and
``collab worker``, exits with a ``collab_sdk.exits.ExitStatus``.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

import click
import psycopg

from collab_sdk.cli import (db, demo, dev, dlq, jobs, members, monitor, retention, runs, serve, supabase,
                            watch, worker, workflows)
from collab_sdk.cli.base import Group
from collab_sdk.cli.output import exit_status_for
from collab_sdk.errors import CollabError
from collab_sdk.exits import ExitStatus

__all__ = ["GROUPS", "build_cli", "main", "collab_version"]

#: The command group modules, in the order ``collab --help`` (and the README) lists them.
GROUPS = (db, supabase, demo, worker, jobs, watch, dlq, monitor, members, retention, workflows, runs, serve,
          dev)


def collab_version() -> str:
    """The installed ``collab-sdk``'s version."""
    try:
        return version("collab-sdk")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown"


def build_cli() -> click.Group:
    """The ``collab`` group: ``--version`` and every group's ``register``ed commands."""
    @click.group("collab", cls=Group, help="collab: a Postgres job queue")
    @click.version_option(collab_version(), "--version", prog_name="collab", message="%(prog)s %(version)s")
    def cli() -> None:
        """``collab``."""

    for group in GROUPS:
        group.register(cli)
    return cli


def _fail(message: str, status: ExitStatus) -> int:
    print(f"collab: error: {' '.join(message.split())}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``collab`` command; returns the exit status."""
    try:
        outcome = build_cli().main(args=argv, prog_name="collab", standalone_mode=False)
        return int(outcome or 0)
    except click.ClickException as exc:  # usage errors: exit 2, with the usage line
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        return ExitStatus.FORCED
    except BrokenPipeError:  # `collab jobs | head`
        return ExitStatus.OK
    except CollabError as exc:
        return _fail(str(exc), exit_status_for(exc))
    except psycopg.OperationalError as exc:  # `db migrate`, which connects without a client
        return _fail(f"database unavailable: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                     ExitStatus.UNAVAILABLE)
    except Exception as exc:  # a clear one-line message, not a traceback
        return _fail(str(exc), ExitStatus.ERROR)


if __name__ == "__main__":
    sys.exit(main())
