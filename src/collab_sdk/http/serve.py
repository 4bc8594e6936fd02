"""``collab serve``: every function and the Collab API in one process, under waitress
(a production WSGI server: threaded, pure Python, no Flask development server).

    serve(host="127.0.0.1", port=3100)          # blocks until SIGINT / SIGTERM
    python -m collab_sdk.http.serve --port 3100

The runtime comes from the environment (``CollabClient.from_env()``: embedded Postgres
by default, with its ``LocalStorage`` whose signed URLs this process then serves).
Access logs are JSON lines on stderr. ``COLLAB_PUBLIC_URL`` should name this server
(default ``http://127.0.0.1:3100``) so that signed URLs point here; ``serve`` sets it
from the host and port when it is not set.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from collab_sdk.http.app import create_app
from collab_sdk.http.runtime import Runtime, configure_logging

__all__ = ["serve", "main"]

log = logging.getLogger("collab.http")


def serve(host: str = "127.0.0.1", port: int = 3100, *, threads: int = 16,
          runtime: Runtime | None = None, log_level: str = "info") -> None:
    """Serve the Collab API, the functions, the docs and (embedded mode) signed artifact
    downloads on ``host:port`` until SIGINT or SIGTERM; closes the runtime's client."""
    configure_logging(log_level)
    if runtime is None:
        public = "localhost" if host in ("0.0.0.0", "::") else host
        os.environ.setdefault("COLLAB_PUBLIC_URL", f"http://{public}:{port}")
        runtime = Runtime.from_env()
    from waitress.server import create_server

    runtime.client.connect()  # fail fast on an unreachable database or a foreign schema
    server = create_server(create_app(runtime), host=host, port=port, threads=threads,
                           ident="collab", channel_timeout=60, max_request_body_size=64 * 2**20)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # waitress's loop shuts its task threads down on it

    previous = signal.signal(signal.SIGTERM, stop)
    log.info('{"event": "listening", "url": "http://%s:%s"}', host,
             getattr(server, "effective_port", port))
    try:
        server.run()
    except (KeyboardInterrupt, OSError):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
        runtime.close()
        log.info('{"event": "stopped"}')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="collab serve",
                                     description="serve the Collab API and functions")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    serve(args.host, args.port, threads=args.threads, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
