"""``collab dev``: one command for local development — the database (the embedded
Postgres unless ``--database-url`` / ``COLLAB_DATABASE_URL`` names one), its migrations,
``collab serve`` with the dashboard, and optionally a worker (``--worker
myapp.jobs:worker``, run as ``collab worker`` in a child process that stops with it).

It serves on 127.0.0.1 only (``--host`` may be another loopback name; anything else is
refused) and needs no sign-in: a request with no credentials is the development identity
(``collab_sdk.http.devauth``: loopback ``Host`` only, no cross-site ``Origin`` /
``Sec-Fetch-Site``), so the seed's own dashboard, which sends no ``Authorization``, works.
A request that sends a token is checked as ``collab serve`` checks it (tokens signed with
``SUPABASE_JWT_SECRET``: ``collab token``). It prints the URLs to open and opens none
unless ``--open`` is given.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import webbrowser
from typing import TYPE_CHECKING

import click

from collab_sdk.cli import connect
from collab_sdk.cli.base import command
from collab_sdk.cli.connect import database_url_option
from collab_sdk.cli.output import print_line
from collab_sdk.errors import ValidationError
from collab_sdk.exits import ExitStatus
from collab_sdk.http.devauth import LOOPBACK_HOSTS

if TYPE_CHECKING:
    from collab_sdk.http.runtime import Runtime

__all__ = ["register", "cmd_dev", "dev_runtime", "check_loopback"]


def register(cli: click.Group) -> None:
    """Add ``collab dev``."""
    cli.add_command(cmd_dev)


def check_loopback(host: str) -> None:
    """Refuse to serve the development identity on anything but loopback."""
    if host not in LOOPBACK_HOSTS:
        raise ValidationError(f"collab dev serves loopback only (127.0.0.1, localhost, ::1), not "
                              f"{host!r}: its requests need no sign-in. Use collab serve elsewhere.",
                              code="CL400")


def dev_runtime() -> Runtime:
    """The ``Runtime`` of ``collab dev`` (from the environment, with the loopback
    authenticator)."""
    from collab_sdk.auth.tokens import AuthConfig
    from collab_sdk.client.async_client import AsyncCollabClient
    from collab_sdk.http.devauth import LoopbackAuthenticator
    from collab_sdk.http.runtime import Runtime, Settings
    return Runtime(AsyncCollabClient.from_env(), LoopbackAuthenticator(AuthConfig.from_env()),
                   Settings.from_env())


@command("dev", help="local development: database, migrations, collab serve with the dashboard "
                     "on 127.0.0.1 with no sign-in, and optionally a worker")
@click.option("--host", default="127.0.0.1", show_default=True, help="a loopback address only")
@click.option("--port", type=int, default=3100, show_default=True)
@click.option("--worker", "worker_ref", metavar="MODULE:WORKER",
              help="also run this worker (as `collab worker MODULE:WORKER`)")
@click.option("--open", "open_browser", is_flag=True, help="open the dashboard in a browser")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@database_url_option
def cmd_dev(host: str, port: int, worker_ref: str | None, open_browser: bool, log_level: str,
            database_url: str | None) -> int:
    """Serve until SIGINT/SIGTERM; stop the worker with it."""
    check_loopback(host)
    from collab_sdk.http.serve import serve
    from collab_sdk.local.migrate import migrate
    url = connect.database_url(database_url)
    migrate(url)
    public = f"http://{'[::1]' if host == '::1' else host}:{port}"
    os.environ.update(COLLAB_DATABASE_URL=url, COLLAB_PUBLIC_URL=public)
    os.environ.setdefault("COLLAB_ENV", "development")
    runtime = dev_runtime()
    print_line(f"collab dev: database  {url}")
    print_line(f"collab dev: dashboard {public}/dashboard")
    print_line(f"collab dev: API       {public}/api/jobs  {public}/api/collab  (docs: {public}/docs)")
    print_line("collab dev: no sign-in needed from this machine (loopback only); Ctrl-C stops")
    child = None
    if worker_ref:
        child = subprocess.Popen([sys.executable, "-m", "collab_sdk.cli.main", "worker", worker_ref],
                                 env=dict(os.environ))
        print_line(f"collab dev: worker    {worker_ref} (pid {child.pid})")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(f"{public}/dashboard",)).start()
    try:
        serve(host, port, log_level=log_level, runtime=runtime)
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
    return ExitStatus.OK
