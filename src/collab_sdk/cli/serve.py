"""``collab serve`` (the Collab API, every function and ``/docs`` under waitress) and
``collab token`` (a local HS256 JWT to call it with during development)."""

from __future__ import annotations

import argparse
import os

from collab_sdk.errors import ValidationError
from collab_sdk.exits import ExitStatus

__all__ = ["register", "cmd_serve", "cmd_token"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``collab serve`` and ``collab token``."""
    serve = commands.add_parser("serve", help="serve the Collab API, every function and /docs (waitress)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3100)
    serve.add_argument("--threads", type=int, default=16, help="worker threads (default 16)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(run=cmd_serve)

    token = commands.add_parser("token", help="mint a local HS256 JWT for development")
    token.add_argument("--sub", required=True, help="the user id (auth.uid())")
    token.add_argument("--role", default="authenticated", choices=["authenticated", "service_role"])
    token.add_argument("--executor", action="append", default=[], metavar="ID[=ROLE]",
                       help="membership hint (repeatable); the database's membership table decides")
    token.add_argument("--expires-in", type=int, default=3600, help="seconds (default 3600)")
    token.add_argument("--secret", help="signing secret (default: SUPABASE_JWT_SECRET)")
    token.set_defaults(run=cmd_token)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; the runtime comes from the environment."""
    from collab_sdk.http.serve import serve
    serve(args.host, args.port, threads=args.threads, log_level=args.log_level)
    return ExitStatus.OK


def cmd_token(args: argparse.Namespace) -> int:
    """Print a local HS256 token (``SUPABASE_JWT_SECRET`` or ``--secret`` signs it)."""
    from collab_sdk.auth.tokens import mint_token
    secret = args.secret or os.environ.get("SUPABASE_JWT_SECRET")
    if not secret:
        raise ValidationError("set SUPABASE_JWT_SECRET or pass --secret to sign the token", code="CL400")
    executors = {}
    for item in args.executor:
        executor_id, _, role = item.partition("=")
        executors[executor_id] = role or "worker"
    print(mint_token(secret, sub=args.sub, role=args.role, executors=executors or None,
                     expires_in=args.expires_in))
    return ExitStatus.OK
