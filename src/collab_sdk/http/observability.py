"""Readiness, Prometheus metrics and the start-up credentials check of ``collab serve``.

- ``GET /api/collab/ready`` (no auth): 200 ``{ ok, timestamp, schemaVersion }`` when the
  database answers within ``COLLAB_READY_TIMEOUT`` seconds (default 2) with a schema
  version this SDK speaks; else 503 ``not_ready`` whose message says which (the database
  is unreachable, or its schema is too old or too new). ``/health`` stays liveness: it
  never touches the database, so an orchestrator restarts a process only when it hangs.
- ``GET /metrics`` (the ``METRICS_API`` table, at the root as Prometheus expects):
  Prometheus text (``prometheus-client``'s exposition) of the engine's counts, one
  series per executor (``collab_jobs{executor,type,state}``,
  ``collab_dead_letters{executor}``, ``collab_active_workers{executor}``: one
  ``metrics_by_executor_v1`` call per scrape) and this process's open streams.
  **Protected**: only a trusted caller — the API key (``x-api-key``) or a
  ``service_role`` token — may read it, since the counts cover every executor; give the
  scraper that credential (``authorization`` or ``http_headers`` in the scrape config).
- ``credentials_warning(config)``: what ``collab serve`` logs at start when it accepts
  no credential at all (then it refuses every request but health, readiness and docs).
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import Field

from collab_sdk.auth.tokens import AuthConfig
from collab_sdk.client.rpc import SUPPORTED_SCHEMA_VERSIONS
from collab_sdk.errors import CollabError
from collab_sdk.http.errors import HttpError
from collab_sdk.http.pipeline import Call, Response, Route, RouteTable
from collab_sdk.http.wire import Body
from collab_sdk.metrics import CountsCollector

__all__ = ["Ready", "Metrics", "ready", "metrics", "READY_ROUTE", "METRICS_API",
           "credentials_warning"]


class Ready(Body):
    """`GET ready`: the database answers with a schema this server speaks."""

    ok: bool
    timestamp: datetime
    schema_version: int = Field(alias="schemaVersion")


class Metrics(Body):
    """`GET /metrics` answers Prometheus text, not JSON (this model only names it in OpenAPI)."""

    text: str = ""


async def ready(call: Call) -> Ready:
    """Readiness: the database and its schema version (503 ``not_ready`` with the reason)."""
    timeout = float(os.environ.get("COLLAB_READY_TIMEOUT") or 2)
    try:
        async with asyncio.timeout(timeout):
            version = await call.runtime.client.schema_version()
    except TimeoutError:
        raise HttpError(503, "not_ready", f"the database did not answer within {timeout:g} s") from None
    except CollabError as exc:
        raise HttpError(503, "not_ready", f"the database is unreachable: {exc.message}") from None
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        speaks = ", ".join(map(str, sorted(SUPPORTED_SCHEMA_VERSIONS)))
        raise HttpError(503, "not_ready", f"the database has collab schema {version}; this server "
                        f"speaks {speaks} (run `collab db migrate`, or upgrade collab-sdk)")
    return Ready(ok=True, timestamp=datetime.now(timezone.utc), schemaVersion=version)


async def metrics(call: Call) -> Response:
    """Prometheus text: the engine's job counts and this process's open streams."""
    identity = call.identity
    if identity is None or not (identity.via == "api_key" or identity.role == "service_role"):
        raise HttpError(403, "forbidden", "metrics are for trusted callers: send the API key "
                        "(x-api-key) or a service_role token")
    registry = CollectorRegistry(auto_describe=True)
    counts = await call.runtime.client.metrics_by_executor()
    registry.register(CountsCollector(lambda: counts))
    feeds = call.runtime.feeds
    streams = GaugeMetricFamily("collab_http_open_streams",
                                "SSE and WebSocket event streams this process serves")
    streams.add_metric([], feeds.viewers)
    readers = GaugeMetricFamily("collab_http_stream_readers",
                                "shared event readers (one per caller identity and filter)")
    readers.add_metric([], feeds.feeds)
    dropped = CounterMetricFamily("collab_http_slow_consumers_dropped",
                                  "event streams dropped as slow consumers since the process started")
    dropped.add_metric([], feeds.dropped)
    registry.register(_Fixed(streams, readers, dropped))
    return Response(body=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _Fixed:
    """A collector of metric families made for one scrape."""

    def __init__(self, *families: GaugeMetricFamily | CounterMetricFamily) -> None:
        self.families = families

    def collect(self) -> list[GaugeMetricFamily | CounterMetricFamily]:
        """The families, as they are."""
        return list(self.families)


#: ``GET /api/collab/ready``, listed in the Collab API beside health.
READY_ROUTE = Route("ready", "GET", "/ready", ready, Ready,
                    "Readiness: the database answers with a schema version this server speaks "
                    "(503 `not_ready` with the reason)", auth=False, errors=(503,))
#: ``GET /metrics`` at the root, for Prometheus (trusted callers only).
METRICS_API = RouteTable("metrics", "", (
    Route("metrics", "GET", "/metrics", metrics, Metrics,
          "Prometheus text: jobs by executor, type and state, dead letters and active workers "
          "by executor, open streams (API key or service_role token)", errors=(403,),
          media_type=CONTENT_TYPE_LATEST),))


def credentials_warning(config: AuthConfig) -> str | None:
    """The warning for a server that accepts no credential at all, or None."""
    if config.mode is not None or config.api_key is not None:
        return None
    return ("no credentials are configured: every request but health, ready and docs will be "
            "refused (401). Set COLLAB_API_KEY=<a long random key> for trusted callers "
            "(x-api-key), and SUPABASE_JWT_SECRET (local JWTs) or SUPABASE_URL / COLLAB_JWKS_URL "
            "(a project's JWKS) for users' Bearer tokens; see docs/auth.md")
