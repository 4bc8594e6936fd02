"""One supabase-py session shared by the RPCs, Storage and Realtime of a transport.

``SupabaseSession(url, key, access_token=...)`` holds the supabase-py ``AsyncClient``
(created on first use, in the running loop), the ``httpx.AsyncClient`` under it, and
the Realtime socket: one key, one user token, one connection pool.
``session.for_user(token)`` is another user's session over the same pool. ``rpc``, ``storage``
and ``realtime`` all take a session, so none of them imports another.

Keys: a **secret** key (``sb_secret_…``, or the legacy ``service_role`` JWT) acts as
``service_role``; a **publishable** key (``sb_publishable_…``, or the legacy ``anon``
JWT) with ``access_token=<a user's JWT>`` acts as that user, and without one as
``anon``. The new ``sb_…`` keys are not JWTs and are never sent as a Bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import jwt
from realtime import AsyncRealtimeClient
from supabase import AsyncClient, AsyncClientOptions, acreate_client

__all__ = ["SupabaseSession", "key_role", "close_realtime"]

#: How long closing the Realtime socket may take before it is abandoned.
_CLOSE_TIMEOUT = 2.0


def key_role(key: str) -> str:
    """``"service_role"`` for a secret key, ``"anon"`` for a publishable one (new
    ``sb_…`` keys by prefix, legacy JWT keys by their ``role`` claim)."""
    if key.startswith("sb_secret_"):
        return "service_role"
    if key.startswith("sb_publishable_"):
        return "anon"
    try:
        role = jwt.decode(key, options={"verify_signature": False}).get("role")
    except jwt.PyJWTError:
        return "anon"
    return "service_role" if role == "service_role" else "anon"


async def close_realtime(realtime: AsyncRealtimeClient, *, if_idle: bool = False) -> None:
    """Close the socket (``if_idle``: only when no channel uses it any more); never raises."""
    if if_idle and realtime.get_channels():
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_CLOSE_TIMEOUT):
            await realtime.close()


class SupabaseSession:
    """The supabase-py client of one key and user token; see the module docstring."""

    def __init__(self, url: str, key: str, *, access_token: str | None = None,
                 http_client: httpx.AsyncClient | None = None, schema: str = "collab") -> None:
        self.url = url
        self.key = key
        self.access_token = access_token
        self.schema = schema
        #: ``anon`` callers get ``Unauthorized`` (not ``Forbidden``) for ``42501``.
        self.anonymous = access_token is None and key_role(key) == "anon"
        #: Whether calls go as ``service_role`` (a secret key and no user token): RLS and
        #: Realtime's channel policies do not apply to it.
        self.trusted = access_token is None and key_role(key) == "service_role"
        self._given_http = http_client
        self._http: httpx.AsyncClient | None = None
        self._client: AsyncClient | None = None
        self._lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        """Whether the supabase-py client exists yet (nothing is sent before first use)."""
        return self._client is not None

    async def client(self) -> AsyncClient:
        """The supabase-py client (created on first use, in the running loop)."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await self._create()
        return self._client

    def http_pool(self) -> httpx.AsyncClient:
        """The HTTP client under every request of this session: the one given, else one
        made on first use (and closed by ``aclose``)."""
        if self._http is None:
            self._http = self._given_http or httpx.AsyncClient(timeout=httpx.Timeout(30.0),
                                                               follow_redirects=True)
        return self._http

    def for_user(self, access_token: str) -> SupabaseSession:
        """A session of the same project, key and schema acting as the user of
        ``access_token``, over this session's HTTP pool: the gateway passes a user's JWT
        in ``Authorization`` on to PostgREST (it mints one for the key only when there
        is none), which verifies it and runs as its user. Closing it leaves the pool open."""
        return SupabaseSession(self.url, self.key, access_token=access_token,
                               http_client=self.http_pool(), schema=self.schema)

    async def _create(self) -> AsyncClient:
        options = AsyncClientOptions(schema=self.schema, httpx_client=self.http_pool(),
                                     auto_refresh_token=False, persist_session=False,
                                     postgrest_client_retry=False)
        if self.access_token is not None:
            options.headers["Authorization"] = f"Bearer {self.access_token}"
        client = await acreate_client(self.url, self.key, options)
        if self.access_token is None and self.key.startswith("sb_"):
            # supabase-py defaults Authorization to "Bearer <key>"; new keys are no JWTs.
            client.options.headers.pop("Authorization", None)
        return client

    async def realtime(self) -> AsyncRealtimeClient:
        """The Realtime client, carrying the user's access token when there is one."""
        realtime = (await self.client()).realtime
        token = self.access_token
        if token is not None and realtime.access_token != token:
            await realtime.set_auth(token)
        return realtime

    async def aclose(self) -> None:
        """Close the Realtime socket and the HTTP client the session created (a given
        one stays open)."""
        http, self._http, client, self._client = self._http, None, self._client, None
        if client is not None:
            await close_realtime(client.realtime)
        if http is not None and http is not self._given_http:
            await http.aclose()
