"""What every request needs: settings, the trusted client, the authenticator, the rate
limiter. One ``Runtime`` per process (``Runtime.from_env()`` for functions and
``collab serve``; tests build one directly).

Environment (``Settings.from_env``):

- ``COLLAB_ENV`` — ``development`` / ``dev`` / ``local``: development defaults (CORS
  for any ``http://localhost:<port>`` / ``127.0.0.1`` origin). Anything else: production.
- ``COLLAB_CORS_ORIGINS`` — comma-separated allowed origins (``*`` for any); overrides
  the default (none in production, localhost in development).
- ``COLLAB_MAX_BODY_BYTES`` — the largest request body (default 2 MiB: a 1 MiB payload
  or result plus its envelope).
- ``COLLAB_RATE_LIMIT`` — ``<requests>/<seconds>`` per caller (default ``600/60``);
  ``0`` or ``off`` turns it off. Counted in Postgres (``collab.rate_limit_hit_v1``).
- ``COLLAB_ARTIFACT_BUCKETS`` — buckets ``sign-artifact`` may sign (default ``artifacts``).
"""

from __future__ import annotations

import logging
import os
import random
import sys
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collab_sdk.auth.tokens import AuthConfig, Authenticator, Identity
from collab_sdk.http.errors import HttpError
from collab_sdk.local.storage import LocalStorage
from collab_sdk.client.sync import CollabClient

__all__ = ["Settings", "Runtime", "RateLimiter", "shared_runtime", "configure_logging"]

_DEV = {"development", "dev", "local"}
_LOCALHOST_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$")


@dataclass(frozen=True)
class Settings:
    """HTTP hardening knobs; see the module doc for the environment variables."""

    max_body_bytes: int = 2 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    cors_localhost: bool = False
    rate_limit: int = 600
    rate_window_seconds: int = 60
    buckets: tuple[str, ...] = ("artifacts",)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        dev = (env.get("COLLAB_ENV") or "").strip().lower() in _DEV
        origins_text = env.get("COLLAB_CORS_ORIGINS")
        origins = tuple(o.strip().rstrip("/") for o in (origins_text or "").split(",") if o.strip())
        limit, window = _rate(env.get("COLLAB_RATE_LIMIT"))
        buckets = tuple(b.strip() for b in (env.get("COLLAB_ARTIFACT_BUCKETS") or "artifacts").split(",")
                        if b.strip())
        return cls(max_body_bytes=int(env.get("COLLAB_MAX_BODY_BYTES") or 2 * 1024 * 1024),
                   cors_origins=origins, cors_localhost=dev and origins_text is None,
                   rate_limit=limit, rate_window_seconds=window, buckets=buckets)

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a browser at ``origin`` may read the answers (CORS)."""
        if not origin:
            return False
        if "*" in self.cors_origins or origin.rstrip("/") in self.cors_origins:
            return True
        return self.cors_localhost and _LOCALHOST_ORIGIN.match(origin) is not None


def _rate(text: str | None) -> tuple[int, int]:
    text = (text or "600/60").strip().lower()
    if text in ("0", "off", "none"):
        return 0, 60
    requests, _, seconds = text.partition("/")
    try:
        limit, window = int(requests), int(seconds or "60")
    except ValueError:
        raise ValueError(f"COLLAB_RATE_LIMIT must look like 600/60, not {text!r}") from None
    if limit < 0 or not 1 <= window <= 86400:
        raise ValueError("COLLAB_RATE_LIMIT: requests >= 0 per 1..86400 seconds")
    return limit, window


class RateLimiter:
    """Counts each caller's requests in Postgres (``collab.rate_limit_hit_v1``) through
    the trusted client, so every process and serverless instance shares one budget."""

    def __init__(self, client: CollabClient, limit: int, window_seconds: int) -> None:
        self.client, self.limit, self.window_seconds = client, limit, window_seconds

    def hit(self, key: str) -> None:
        """Count one request of ``key``; raise a 429 (with ``Retry-After``) over the limit."""
        if self.limit <= 0:
            return
        rows = self._call("rate_limit_hit_v1", {"key": key[:200], "limit": self.limit,
                                                "window_seconds": self.window_seconds})
        row = rows[0]
        if random.random() < 0.001:  # now and then, forget windows that ended long ago
            self._call("rate_limit_prune_v1", {})
        if not row["allowed"]:
            retry_after = str(max(1, int(row["retry_after"])))
            raise HttpError(429, "rate_limited",
                            f"more than {self.limit} requests in {self.window_seconds} s; "
                            f"retry after {retry_after} s",
                            headers={"Retry-After": retry_after, "X-RateLimit-Limit": str(self.limit),
                                     "X-RateLimit-Remaining": "0"})

    def _call(self, fn: str, args: dict[str, Any]) -> Any:
        # No SDK method wraps these operator RPCs: call them on the client's own loop.
        return self.client._loop.run(self.client.aio.transport.call(fn, args))


class Runtime:
    """The process-wide state of the HTTP surface."""

    def __init__(self, client: CollabClient, authenticator: Authenticator,
                 settings: Settings | None = None) -> None:
        self.client = client
        self.authenticator = authenticator
        self.settings = settings or Settings()
        self.rate_limiter = RateLimiter(client, self.settings.rate_limit,
                                        self.settings.rate_window_seconds)

    @classmethod
    def from_env(cls) -> Runtime:
        """The client, authenticator and settings the environment describes."""
        return cls(CollabClient.from_env(), Authenticator(AuthConfig.from_env()), Settings.from_env())

    @property
    def local_storage(self) -> LocalStorage | None:
        """The embedded storage whose signed URLs this process serves, if any."""
        storage = self.client.aio.storage
        return storage if isinstance(storage, LocalStorage) else None

    def client_for(self, identity: Identity) -> CollabClient:
        """The client acting for ``identity``: an API key or ``service_role`` token is
        the trusted client; a user's token acts as that user (RLS and memberships)."""
        if identity.via == "api_key" or identity.role == "service_role":
            return self.client
        try:
            return self.client.acting_as(identity.role, identity.claims)
        except TypeError:  # e.g. SupabaseTransport: no per-caller view over one connection
            raise HttpError(500, "misconfigured", "this server cannot act as a JWT caller: "
                            "set COLLAB_DATABASE_URL") from None

    def close(self) -> None:
        self.client.close()


def configure_logging(level: str = "info") -> None:
    """JSON access lines (``collab.http``) to stderr, unless the process already set up
    logging: ``collab serve`` and deployed functions (Cloud Run reads JSON lines)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(level.upper())
    logging.getLogger("collab.http").setLevel(level.upper())


_shared: Runtime | None = None
_shared_lock = threading.Lock()


def shared_runtime() -> Runtime:
    """The process's ``Runtime.from_env()``, made on first use (functions-framework)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            configure_logging(os.environ.get("COLLAB_LOG_LEVEL") or "info")
            _shared = Runtime.from_env()
        return _shared
