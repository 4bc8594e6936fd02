"""``collab serve``: every function, the Collab API and the WebSockets in one process,
a Starlette app under uvicorn.

    serve(host="127.0.0.1", port=3100, workers=1)   # blocks until SIGINT / SIGTERM
    python -m collab_sdk.http.serve --port 3100 --workers 2

**Process model.** One process (``workers=1``, the default) runs one event loop: every
request, SSE stream and WebSocket is a task on it, with one connection pool and one
LISTEN connection (the ``EventHub``) for all its streams. ``workers=N`` starts N such
processes behind one listening socket (uvicorn's supervisor restarts a worker that dies);
each has its own pool and its own one LISTEN connection. The engine keeps them
consistent (leases, idempotency, rate limits all live in Postgres), so N is only a
question of CPU: about one per core.

**Shutdown.** On SIGTERM (or SIGINT) the server stops accepting connections, tells every
open stream to end (SSE: an ``end`` event; WebSocket: ``{"type": "end", "reason":
"shutdown"}`` and close 1001), waits up to ``grace_seconds`` for requests in flight, closes
the pool and exits 0.

**Proxies.** ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are ignored unless
``proxy_headers=True`` (``--proxy-headers``), and then trusted only from
``forwarded_allow_ips`` (default ``127.0.0.1``).

The runtime comes from the environment (``Runtime.from_env()``: embedded Postgres by
default, with its ``LocalStorage`` whose signed URLs this process then serves). Access logs
are JSON lines on stderr (uvicorn's own access log is off). ``COLLAB_PUBLIC_URL`` should
name this server (default ``http://<host>:<port>``) so that signed URLs point here;
``serve`` sets it from the host and port when it is not set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when serving, so that the CLI can read add_arguments cheaply
    from collab_sdk.http.app import CollabApp

    from collab_sdk.http.runtime import Runtime

__all__ = ["serve", "app_from_env", "main", "add_arguments", "serve_from_arguments",
           "DEFAULT_GRACE_SECONDS"]

log = logging.getLogger("collab.http")

#: How long a shutdown waits for requests in flight after streams were told to end.
DEFAULT_GRACE_SECONDS = 10.0


def app_from_env() -> CollabApp:
    """The app over ``Runtime.from_env()`` that passes SIGTERM on to its streams (the
    factory each uvicorn worker process calls)."""
    from collab_sdk.http.app import create_app
    from collab_sdk.http.runtime import Runtime, configure_logging

    configure_logging(os.environ.get("COLLAB_LOG_LEVEL") or "info")
    return create_app(Runtime.from_env(), handle_signals=True)


def serve(host: str = "127.0.0.1", port: int = 3100, *, workers: int = 1,
          log_level: str = "info", grace_seconds: float = DEFAULT_GRACE_SECONDS,
          proxy_headers: bool = False, forwarded_allow_ips: str | None = None,
          runtime: Runtime | None = None) -> None:
    """Serve the Collab API, the functions, the WebSockets, the docs and (embedded mode)
    signed artifact downloads on ``host:port`` with ``workers`` processes until SIGINT or
    SIGTERM (see the module doc); closes the runtime's client. ``runtime`` (one process
    only) replaces ``Runtime.from_env()``."""
    import uvicorn

    from collab_sdk.http.app import create_app
    from collab_sdk.http.runtime import configure_logging

    if workers < 1:
        raise ValueError("workers must be at least 1")
    if runtime is not None and workers != 1:
        raise ValueError("a given runtime serves one process: workers must be 1")
    configure_logging(log_level)
    os.environ["COLLAB_LOG_LEVEL"] = log_level
    public = "localhost" if host in ("0.0.0.0", "::") else host
    os.environ.setdefault("COLLAB_PUBLIC_URL", f"http://{public}:{port}")
    _warn_without_credentials(runtime)
    if runtime is None:
        asyncio.run(_check_database())  # fail fast; starts the embedded database once
    options = dict(host=host, port=port, log_level=log_level, log_config=None,
                   access_log=False, server_header=False, proxy_headers=proxy_headers,
                   forwarded_allow_ips=forwarded_allow_ips or "127.0.0.1",
                   timeout_graceful_shutdown=max(1, int(grace_seconds)),
                   ws_max_size=1024 * 1024, ws_ping_interval=20.0, ws_ping_timeout=20.0,
                   lifespan="on")
    log.info('{"event": "listening", "url": "http://%s:%s", "workers": %d}', host, port, workers)
    # uvicorn raises a captured SIGTERM/SIGINT again once it has shut down gracefully, with
    # the handlers found before it started: let those be no-ops, so a clean stop exits 0.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if runtime is not None:
            uvicorn.run(create_app(runtime, handle_signals=True), **options)  # type: ignore[arg-type]
        else:
            uvicorn.run("collab_sdk.http.serve:app_from_env", factory=True, workers=workers,
                        **options)  # type: ignore[arg-type]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info('{"event": "stopped"}')


def _warn_without_credentials(runtime: Runtime | None) -> None:
    """Log how to configure credentials when the server would accept none."""
    from collab_sdk.auth.tokens import AuthConfig
    from collab_sdk.http.observability import credentials_warning

    warning = credentials_warning(runtime.authenticator.config if runtime is not None
                                  else AuthConfig.from_env())
    if warning is not None:
        log.warning(json.dumps({"event": "no_credentials", "message": warning}))


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The signal that stopped uvicorn, raised again after its graceful shutdown."""


async def _check_database() -> None:
    from collab_sdk.client.async_client import AsyncCollabClient

    async with AsyncCollabClient.from_env():
        pass


def main(argv: list[str] | None = None) -> int:
    """``python -m collab_sdk.http.serve``: the same options as ``collab serve``."""
    parser = argparse.ArgumentParser(prog="collab serve",
                                     description="serve the Collab API and functions")
    add_arguments(parser)
    args = parser.parse_args(argv)
    serve_from_arguments(args)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``collab serve`` (the CLI adds these to its ``serve`` command)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--workers", type=int, default=1,
                        help="processes, each with one event loop (default 1; about one per core)")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE_SECONDS, metavar="SECONDS",
                        help="on SIGTERM, how long to wait for requests in flight (default 10)")
    parser.add_argument("--proxy-headers", action="store_true",
                        help="trust X-Forwarded-* from --forwarded-allow-ips (default: ignored)")
    parser.add_argument("--forwarded-allow-ips", default=None, metavar="IPS",
                        help="comma-separated proxy addresses to trust (default 127.0.0.1)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def serve_from_arguments(args: argparse.Namespace) -> None:
    """``serve`` with the options ``add_arguments`` parsed."""
    serve(args.host, args.port, workers=args.workers, log_level=args.log_level,
          grace_seconds=args.grace, proxy_headers=args.proxy_headers,
          forwarded_allow_ips=args.forwarded_allow_ips)



if __name__ == "__main__":
    sys.exit(main())
