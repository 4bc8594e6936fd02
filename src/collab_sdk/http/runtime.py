"""What every request needs: settings, the trusted ``AsyncCollabClient``, the
authenticator, the rate limiter and the event hub. One ``Runtime`` per process and event
loop (``Runtime.from_env()`` for functions and ``collab serve``; tests build one
directly); its client's pool belongs to the loop that first uses it, and ``aclose()``
runs there too.

Environment (``Settings.from_env``):

- ``COLLAB_ENV`` — ``development`` / ``dev`` / ``local``: development defaults (CORS
  for any ``http://localhost:<port>`` / ``127.0.0.1`` origin). Anything else: production.
- ``COLLAB_CORS_ORIGINS`` — comma-separated allowed origins (``*`` for any): the
  production origins, allowed beside the development default (none in production,
  localhost — the editor's ``http://localhost:5173`` among them — in development).
- ``COLLAB_CORS_CREDENTIALS`` — ``0``/``off`` stops answering
  ``Access-Control-Allow-Credentials: true`` to allowed origins (default on; never for
  an origin that only ``*`` allows).
- ``COLLAB_MAX_BODY_BYTES`` — the largest request body (default 2 MiB: a 1 MiB payload
  or result plus its envelope).
- ``COLLAB_RATE_LIMIT`` — ``<requests>/<seconds>`` per caller (default ``600/60``);
  ``0`` or ``off`` turns it off. Counted in Postgres (``collab.rate_limit_hit_v1``).
- ``COLLAB_ARTIFACT_BUCKETS`` — buckets ``sign-artifact`` may sign (default ``artifacts``).
- ``COLLAB_WS_BUFFER`` / ``COLLAB_WS_SLOW_SECONDS`` — a WebSocket's outbox (default 256
  messages) and how long it may stay full before its client is dropped as a slow
  consumer (default 5 s; ``collab_sdk.http.sockets``).
- ``COLLAB_STREAM_BUFFER`` / ``COLLAB_STREAM_SLOW_SECONDS`` — how many events an SSE or
  WebSocket viewer may hold untaken (default 1000) and how long it may leave no room
  for the next read before it is dropped as a slow consumer (default 5 s;
  ``collab_sdk.http.feeds``).
- ``COLLAB_RESULT_BATCH`` — the most ``task.result`` completions of one caller and worker
  sent in one ``complete_jobs_v1`` call while another of theirs is in the database
  (default 64; ``1`` or ``off``: one call per request; ``collab_sdk.http.group_commit``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collab_sdk import logs
from collab_sdk.auth.tokens import AuthConfig, Authenticator, Identity
from collab_sdk.availability import Availability
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.streams import live_source_for
from collab_sdk.errors import ReadOnly
from collab_sdk.http.errors import HttpError
from collab_sdk.http.feeds import SharedFeeds
from collab_sdk.http.group_commit import DEFAULT_MAX_BATCH, GroupCommit
from collab_sdk.http.hub import EventHub
from collab_sdk.local.storage import LocalStorage
from collab_sdk.transports.base import ActsAsRole, ActsAsUser, Listens, LiveSource

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
    ws_buffer: int = 256
    ws_slow_seconds: float = 5.0
    cors_credentials: bool = True
    stream_buffer: int = 1000
    stream_slow_seconds: float = 5.0
    result_batch: int = DEFAULT_MAX_BATCH

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
                   cors_origins=origins, cors_localhost=dev,
                   cors_credentials=(env.get("COLLAB_CORS_CREDENTIALS") or "on").strip().lower()
                   not in ("0", "off", "false", "no"),
                   rate_limit=limit, rate_window_seconds=window, buckets=buckets,
                   ws_buffer=max(1, int(env.get("COLLAB_WS_BUFFER") or 256)),
                   ws_slow_seconds=max(0.1, float(env.get("COLLAB_WS_SLOW_SECONDS") or 5)),
                   stream_buffer=max(1, int(env.get("COLLAB_STREAM_BUFFER") or 1000)),
                   stream_slow_seconds=max(0.1, float(env.get("COLLAB_STREAM_SLOW_SECONDS") or 5)),
                   result_batch=_result_batch(env.get("COLLAB_RESULT_BATCH")))

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a browser at ``origin`` may read the answers (CORS)."""
        if not origin:
            return False
        if "*" in self.cors_origins or origin.rstrip("/") in self.cors_origins:
            return True
        return self.cors_localhost and _LOCALHOST_ORIGIN.match(origin) is not None

    def allows_credentials(self, origin: str | None) -> bool:
        """Whether a browser at ``origin`` may send credentials (``Authorization``,
        cookies): an allowed origin named by the settings, never one only ``*`` allows."""
        if not self.cors_credentials or not origin:
            return False
        return origin.rstrip("/") in self.cors_origins or (
            self.cors_localhost and _LOCALHOST_ORIGIN.match(origin) is not None)


def _result_batch(text: str | None) -> int:
    text = (text or "").strip().lower()
    if text in ("0", "off", "none", "no"):
        return 1
    if not text:
        return DEFAULT_MAX_BATCH
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise ValueError(f"COLLAB_RESULT_BATCH must be 1-1000 or off, not {text!r}")
    return int(text)


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

    def __init__(self, client: AsyncCollabClient, limit: int, window_seconds: int) -> None:
        self.client, self.limit, self.window_seconds = client, limit, window_seconds
        #: A read-only database cannot count hits: requests then pass uncounted (their
        #: writes get 503 ``read_only`` anyway), logged once when it starts and once when over.
        self.availability = Availability(logging.getLogger("collab.http"), name="rate limiter")

    async def hit(self, key: str) -> None:
        """Count one request of ``key``; raise a 429 (with ``Retry-After``) over the limit."""
        if self.limit <= 0:
            return
        # No SDK method wraps these operator RPCs: the client's RPC core calls them.
        try:
            rows = await self.client.rpc.call("rate_limit_hit_v1", key=key[:200], limit=self.limit,
                                              window_seconds=self.window_seconds)
        except ReadOnly as exc:  # nothing can be counted, nor written: reads go on meanwhile
            self.availability.failed(exc)
            return
        self.availability.succeeded()
        row = rows[0]
        if random.random() < 0.001:  # now and then, forget windows that ended long ago
            await self.client.rpc.call("rate_limit_prune_v1")
        if not row["allowed"]:
            retry_after = str(max(1, int(row["retry_after"])))
            raise HttpError(429, "rate_limited",
                            f"more than {self.limit} requests in {self.window_seconds} s; "
                            f"retry after {retry_after} s",
                            headers={"Retry-After": retry_after, "X-RateLimit-Limit": str(self.limit),
                                     "X-RateLimit-Remaining": "0"})


class Runtime:
    """The process-wide state of the HTTP surface."""

    def __init__(self, client: AsyncCollabClient, authenticator: Authenticator,
                 settings: Settings | None = None) -> None:
        self.client = client
        self.authenticator = authenticator
        self.settings = settings or Settings()
        self.rate_limiter = RateLimiter(client, self.settings.rate_limit,
                                        self.settings.rate_window_seconds)
        #: The one LISTEN connection of this process's streams (None: no LISTEN here).
        transport = client.transport
        self.hub = EventHub(transport) if isinstance(transport, Listens) and transport.can_listen else None
        #: Set when the server begins a graceful shutdown: open streams send ``end`` and close.
        self.shutting_down = asyncio.Event()
        #: The shared readers of every SSE and WebSocket event stream of this process.
        self.feeds = SharedFeeds(self._feed_source, self.shutting_down,
                                 buffer=self.settings.stream_buffer,
                                 slow_seconds=self.settings.stream_slow_seconds)
        #: ``task.result``'s completions, batched per caller and worker while one is in flight.
        self.group_commit = GroupCommit(max_batch=self.settings.result_batch)

    @classmethod
    def from_env(cls) -> Runtime:
        """The client, authenticator and settings the environment describes."""
        return cls(AsyncCollabClient.from_env(), Authenticator(AuthConfig.from_env()),
                   Settings.from_env())

    @property
    def local_storage(self) -> LocalStorage | None:
        """The embedded storage whose signed URLs this process serves, if any."""
        storage = self.client.storage
        return storage if isinstance(storage, LocalStorage) else None

    def live_source(self) -> LiveSource | bool:
        """What a stream of this process listens with: the hub, else the transport's own."""
        return self.hub if self.hub is not None else True

    def _feed_source(self, client: AsyncCollabClient) -> LiveSource | None:
        return self.hub if self.hub is not None else live_source_for(client.transport)

    def reader_key(self, identity: Identity) -> str:
        """Who ``client_for(identity)``'s calls run as: equal keys see the same rows and
        may do the same things (so their event streams may share one reader, and their
        completions one batch): the trusted client, a role with its exact claims, or the
        forwarded token."""
        if identity.via == "api_key" or identity.role == "service_role":
            return "trusted"
        transport = self.client.transport
        if not isinstance(transport, ActsAsRole) and isinstance(transport, ActsAsUser) \
                and identity.token is not None:
            return "token:" + identity.token
        return "role:" + identity.role + ":" + json.dumps(identity.claims, sort_keys=True, default=str)

    def client_for(self, identity: Identity) -> AsyncCollabClient:
        """The client acting for ``identity``: an API key or ``service_role`` token is
        the trusted client; a user's token acts as that user (RLS and memberships) —
        by switching role over the same connections when the transport ``ActsAsRole``
        (a database URL), else by forwarding the caller's own token when it
        ``ActsAsUser`` (``SupabaseTransport``: PostgREST runs as the token's user)."""
        if identity.via == "api_key" or identity.role == "service_role":
            return self.client
        transport = self.client.transport
        if not isinstance(transport, ActsAsRole) and isinstance(transport, ActsAsUser) \
                and identity.token is not None:
            return self.client.acting_for(identity.token)
        return self.client.acting_as(identity.role, identity.claims)

    async def aclose(self) -> None:
        """Stop the hub and close the client's pool (on the loop that used them)."""
        await self.feeds.aclose()
        if self.hub is not None:
            await self.hub.aclose()
        await self.client.aclose()


def configure_logging(level: str = "info") -> None:
    """``collab_sdk.logs.configure_logging``: the access lines (``collab.http``) and every
    other logger's to stderr, JSON lines unless ``COLLAB_LOG_FORMAT=text``, unless the
    process already set up logging: ``collab serve`` and deployed functions (Cloud Run reads
    JSON lines)."""
    logs.configure_logging(level, default="json")


_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = weakref.WeakKeyDictionary()


def shared_runtime() -> Runtime:
    """The running loop's ``Runtime.from_env()``, made on first use (functions-framework:
    one per process, since its server runs one loop)."""
    loop = asyncio.get_running_loop()
    runtime = _shared.get(loop)
    if runtime is None:
        configure_logging(os.environ.get("COLLAB_LOG_LEVEL") or "info")
        runtime = _shared[loop] = Runtime.from_env()
    return runtime
