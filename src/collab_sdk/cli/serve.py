"""``collab serve`` (the Collab API, every function, the WebSockets and ``/docs``: a
Starlette app under uvicorn, ``collab_sdk.http.serve``) and ``collab token`` (a local
HS256 JWT to call it with during development)."""

from __future__ import annotations

import os

import click

from collab_sdk.cli.base import Choice, command
from collab_sdk.cli.output import print_line
from collab_sdk.errors import ValidationError, require_extra
from collab_sdk.exits import ExitStatus
from collab_sdk.http.serve import DEFAULT_GRACE_SECONDS

__all__ = ["register", "cmd_serve", "cmd_token"]

LOG_LEVELS = ["debug", "info", "warning", "error"]


def register(cli: click.Group) -> None:
    """Add ``collab serve`` and ``collab token``."""
    cli.add_command(cmd_serve)
    cli.add_command(cmd_token)


@command("serve", help="serve the Collab API, every function, the WebSockets and /docs (uvicorn)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=3100, show_default=True)
@click.option("--workers", type=int, default=1, help="processes, each with one event loop (default 1; "
                                                      "about one per core)")
@click.option("--grace", type=float, default=DEFAULT_GRACE_SECONDS, metavar="SECONDS",
              help=f"on SIGTERM, how long to wait for requests in flight (default {DEFAULT_GRACE_SECONDS:g})")
@click.option("--proxy-headers", is_flag=True, help="trust X-Forwarded-* from --forwarded-allow-ips "
                                                     "(default: ignored)")
@click.option("--forwarded-allow-ips", metavar="IPS", help="comma-separated proxy addresses to trust "
                                                            "(default 127.0.0.1)")
@click.option("--threads", type=int, help="accepted for old scripts and ignored: an event loop has no "
                                          "thread pool to size")
@click.option("--log-level", default="info", type=Choice(LOG_LEVELS))
def cmd_serve(host: str, port: int, workers: int, grace: float, proxy_headers: bool,
              forwarded_allow_ips: str | None, threads: int | None, log_level: str) -> int:
    """Serve until SIGINT/SIGTERM; the runtime comes from the environment."""
    require_extra("collab serve", "http", "starlette", "uvicorn")
    from collab_sdk.http.serve import serve
    serve(host, port, workers=workers, log_level=log_level, grace_seconds=grace, proxy_headers=proxy_headers,
          forwarded_allow_ips=forwarded_allow_ips)
    return ExitStatus.OK


@command("token", help="mint a local HS256 JWT for development")
@click.option("--sub", required=True, help="the user id (auth.uid())")
@click.option("--role", default="authenticated", type=Choice(["authenticated", "service_role"]))
@click.option("--executor", "executors", multiple=True, metavar="ID[=ROLE]",
              help="membership hint (repeatable); the database's membership table decides")
@click.option("--expires-in", type=int, default=3600, help="seconds (default 3600)")
@click.option("--secret", help="signing secret (default: SUPABASE_JWT_SECRET)")
def cmd_token(sub: str, role: str, executors: tuple[str, ...], expires_in: int, secret: str | None) -> int:
    """Print a local HS256 token (``SUPABASE_JWT_SECRET`` or ``--secret`` signs it)."""
    from collab_sdk.auth.tokens import mint_token
    key = secret or os.environ.get("SUPABASE_JWT_SECRET")
    if not key:
        raise ValidationError("set SUPABASE_JWT_SECRET or pass --secret to sign the token", code="CL400")
    hints = {}
    for item in executors:
        executor_id, _, member_role = item.partition("=")
        hints[executor_id] = member_role or "worker"
    print_line(mint_token(key, sub=sub, role=role, executors=hints or None, expires_in=expires_in))
    return ExitStatus.OK
