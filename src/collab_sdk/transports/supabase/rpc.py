"""``SupabaseTransport``: the RPCs through supabase-py (PostgREST), plus its Storage.

``SupabaseTransport(url, key)`` calls ``client.schema("collab").rpc(fn, args).execute()``
and answers ``.data``: rows for a set-returning function, the value for a scalar one.

Keys and headers:

- a **secret** key (``sb_secret_…``, or the legacy ``service_role`` JWT) on trusted
  servers only: it acts as ``service_role`` and bypasses RLS;
- a **publishable** key (``sb_publishable_…``, or the legacy ``anon`` JWT) with
  ``access_token=<a user's JWT>``: the token goes in ``Authorization: Bearer`` and the
  key in ``apikey``, so PostgREST runs as ``authenticated`` with that user's claims.
  Without a token the caller is ``anon`` (which may call nothing).

Acting for a caller (``ActsAsUser``): ``transport.as_user(token)`` is a view over the
same HTTP pool that sends a user's JWT in ``Authorization`` beside the transport's own
key, so a server holding the secret key serves each request as its caller (the HTTP
layer's JWT callers) without a database URL; PostgREST, not collab, then decides what
the token may do.

The new ``sb_…`` keys are not JWTs and are never sent as a Bearer token (supabase-py
would send the key there when there is no session); with no user token such a request
carries only ``apikey`` and Supabase's gateway stands in the key's role.

The supabase-py client lives in a ``SupabaseSession`` (``collab_sdk.transports.supabase.
session``) with an explicit ``httpx.AsyncClient``, created on the first call so that it
binds to the running event loop. supabase-py POSTs every RPC and never retries one, so this
transport retries network errors and unavailable answers (HTTP 502/503/504/520,
``PGRST000``–``PGRST003``) with exponential backoff, but only for the read-only RPCs in
``IDEMPOTENT_RPCS``; a write that may or may not have run raises ``TransportError``. A
``Transient`` answer (40001, 40P01, 55P03) is repeated for every RPC, writes too, up to
``TRANSIENT_RETRIES`` times: PostgREST runs an RPC in one transaction, rolled back whole.

Schema not exposed: a hosted project's Data API serves only the schemas listed under
Project Settings → Data API → Exposed schemas; until ``collab`` is there every call is
answered ``PGRST106``, raised as ``SchemaMismatch`` whose message and ``hint`` say how to
expose it (``expose_schema_hint``).

Row cap: PostgREST answers at most ``max_rows`` rows of any function result (Supabase's
default, local and hosted, is 1,000; the function still runs in full), so the transport
declares ``max_rows`` (``CapsRows``, default 1000: pass what the project's API settings
say) and the client sends batch RPCs in chunks of at most that many inputs.

Live events: ``transport.live_source()`` is a ``RealtimeLiveSource`` (``collab_sdk.transports.supabase.realtime``),
which ``AsyncCollabClient.watch`` uses to learn when to read again.

Workers: ``transport.claim_waker(executor_id, ...)`` is a ``RealtimeClaimWaker``
(``WakesClaims``): the database broadcasts ``jobs.claimable`` on the private channel
``queue:{executorId}`` when jobs become claimable, so workers poll only as a backstop.

Artifacts: ``transport.storage()`` is a ``SupabaseStorage`` (``collab_sdk.transports.supabase.storage``)
over the same supabase client, so ``AsyncCollabClient(t, storage=t.storage())`` talks to
PostgREST and Storage with one key, one session and one connection pool.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from postgrest.exceptions import APIError
from supabase import AsyncClient

from collab_sdk.errors import (TRANSIENT_RETRIES, CollabError, ConfigurationError, SchemaMismatch,
                               Transient, TransportError, ValidationError, error_from_code)
from collab_sdk.timing import Backoff
from collab_sdk.transports.base import JsonText
from collab_sdk.transports.supabase.realtime import RealtimeClaimWaker, RealtimeLiveSource
from collab_sdk.transports.supabase.session import SupabaseSession
from collab_sdk.transports.supabase.storage import SupabaseStorage

__all__ = ["SupabaseTransport", "IDEMPOTENT_RPCS", "expose_schema_hint"]

#: RPCs that change nothing: safe to send again after a network error.
IDEMPOTENT_RPCS = frozenset({
    "get_job_v1", "job_summary_v1", "events_by_job_v1", "artifacts_by_job_v1", "jobs_recent_v1",
    "dlq_list_v1", "workers_active_v1", "stats_v1", "stats_v2", "throughput_v1", "jobs_list_after_v1",
    "metrics_overview_v1", "schema_version",
    "job_events_after_v1", "job_events_head_v1",
    "get_workflow_v1", "workflows_v1", "validate_workflow_v1", "validate_definition_v1",
    "step_types_v1", "get_run_v1", "run_steps_v1", "runs_v1", "run_events_after_v1",
    "run_snapshot_v1", "schedules_v1", "webhook_secret_info_v1", "runs_v2", "my_executors_v1",
    "metrics_by_executor_v1", "executor_members_v1",
})

# What supabase-py reports for a non-JSON gateway error (the HTTP status as ``code``) and
# PostgREST's own "database unavailable" codes: the request may not have been served.
_UNAVAILABLE = frozenset({"502", "503", "504", "520", "PGRST000", "PGRST001", "PGRST002", "PGRST003"})
_MAX_BACKOFF_SECONDS = 5.0


def expose_schema_hint(schema: str) -> str:
    """How to expose ``schema`` to a project's Data API (what ``PGRST106`` asks for)."""
    return (f"expose it: Supabase dashboard → Project Settings → Data API → Exposed schemas, add "
            f"'{schema}' and save (a local project: add \"{schema}\" to [api] schemas in "
            "supabase/config.toml, then `supabase stop && supabase start`)")


def _json_value(text: JsonText) -> Any:
    """``text`` read back (the request body is one JSON document, which postgrest's own
    encoder writes); NaN and the infinities are not JSON, so they are a ``ValidationError``
    here, as the database refuses them over a direct connection."""
    def refuse(token: str) -> Any:
        raise ValidationError(f"an argument is not JSON: {token} has no JSON form", code="CL400")
    return json.loads(text, parse_constant=refuse)


class SupabaseTransport:
    """Calls collab's RPCs through supabase-py; see the module docstring."""

    def __init__(self, url: str, key: str, *, access_token: str | None = None,
                 http_client: httpx.AsyncClient | None = None, schema: str = "collab",
                 retries: int = 3, backoff: float = 0.2, max_rows: int = 1000) -> None:
        #: The supabase-py session this transport's RPCs, Storage and Realtime share.
        self.session = SupabaseSession(url, key, access_token=access_token,
                                       http_client=http_client, schema=schema)
        self.retries = retries
        self.backoff = backoff
        if max_rows < 1:
            raise ConfigurationError(f"max_rows must be at least 1 (got {max_rows})")
        #: PostgREST's ``max_rows`` for this project (``CapsRows``): no answer holds more.
        self.max_rows = max_rows

    def as_user(self, access_token: str) -> SupabaseTransport:
        """This transport acting as the user of ``access_token`` (``ActsAsUser``): the
        same project, key, retries and row cap over the same HTTP pool, sending the
        token as the caller's, so PostgREST runs every call as that user under RLS.
        Closing the view leaves the pool open."""
        view = SupabaseTransport.__new__(SupabaseTransport)
        view.session = self.session.for_user(access_token)
        view.retries, view.backoff, view.max_rows = self.retries, self.backoff, self.max_rows
        return view

    @property
    def anonymous(self) -> bool:
        """Whether calls go as ``anon`` (no user token with a publishable key)."""
        return self.session.anonymous

    async def supabase(self) -> AsyncClient:
        """The session's supabase-py client (created on first use)."""
        return await self.session.client()

    def storage(self) -> SupabaseStorage:
        """Supabase Storage over this transport's session (same key and token)."""
        return SupabaseStorage(self.session)

    def live_source(self) -> RealtimeLiveSource:
        """What wakes ``watch`` over this transport: Realtime ``postgres_changes`` on
        ``collab.job_events``, as this transport's user (``collab_sdk.transports.supabase.realtime``)."""
        return RealtimeLiveSource(self.session)

    def claim_waker(self, executor_id: str, on_wake: Callable[[], None], *,
                    backstop: float, log_gate: Backoff | None = None) -> RealtimeClaimWaker:
        """Workers' wake-ups (``WakesClaims``): the private Realtime channel
        ``queue:{executor_id}``, where the database broadcasts ``jobs.claimable``."""
        return RealtimeClaimWaker(self.session, executor_id, on_wake, backstop=backstop,
                                  log_gate=log_gate)

    def realtime_session(self) -> SupabaseSession:
        """The session whose Realtime socket worker presence and broadcasts use."""
        return self.session

    async def call(self, fn: str, args: Mapping[str, Any], columns: Sequence[str] | None = None) -> Any:
        """Call ``collab.<fn>`` via ``POST /rest/v1/rpc/<fn>``; rows (only ``columns`` of
        each, PostgREST's ``select=``, when given) or the value."""
        client = await self.supabase()
        idempotent = fn in IDEMPOTENT_RPCS
        params = {name: _json_value(value) if isinstance(value, JsonText) else value for name, value in args.items()}
        attempt = 0
        while True:
            try:
                request = client.schema(self.session.schema).rpc(fn, params)
                response = await (request.select(*columns) if columns else request).execute()
                return response.data
            except APIError as exc:
                error = self._translate(fn, exc)
                # A transient error (40001, 40P01, 55P03) rolled PostgREST's one transaction
                # back, so repeating any call is safe, a write too; a gateway's answer
                # (no code) may have been the database's commit, so only reads repeat that.
                retryable = ((isinstance(error, Transient) and attempt < TRANSIENT_RETRIES)
                             or (idempotent and attempt < self.retries
                                 and isinstance(error, TransportError) and exc.code is not None))
            except httpx.TransportError as exc:  # connect/read errors, timeouts, protocol errors
                error = TransportError(f"collab.{fn}: Supabase unreachable: "
                                       f"{type(exc).__name__}: {exc}")
                error.__cause__, retryable = exc, idempotent and attempt < self.retries
            if not retryable:
                raise error
            await asyncio.sleep(self._delay(attempt))
            attempt += 1

    def _translate(self, fn: str, exc: APIError) -> CollabError:
        details = exc.details if exc.details is None else str(exc.details)
        message = exc.message or str(exc)
        if exc.code in _UNAVAILABLE or exc.code is None:  # a gateway's answer, not the database's
            error: CollabError = TransportError(f"collab.{fn}: Supabase answered {message}",
                                                code=exc.code, hint=exc.hint, details=details)
        elif exc.code == "PGRST106":  # the schema is not in the Data API's exposed schemas
            schema, hint = self.session.schema, expose_schema_hint(self.session.schema)
            error = SchemaMismatch(f"collab.{fn}: this Supabase project's Data API does not expose schema "
                                   f"'{schema}' (PGRST106: {message}); {hint}", code=exc.code, hint=hint,
                                   details=details)
        else:
            error = error_from_code(exc.code, message, hint=exc.hint, details=details,
                                    anonymous=self.anonymous)
        error.__cause__ = exc
        return error

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: ~backoff × 2^attempt, capped."""
        return min(self.backoff * 2.0 ** attempt, _MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0)

    async def aclose(self) -> None:
        """Close the session: its Realtime socket and the HTTP client it created."""
        await self.session.aclose()
