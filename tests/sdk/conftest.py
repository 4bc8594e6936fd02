"""Clients for the SDK conformance suite: every test here runs once per transport.

``connect(as_="service" | "anon" | "user", user_id=None)`` gives an ``AsyncCollabClient``
acting as that caller through the transport under test, against the test's own fresh
database. Transports are registered in ``TRANSPORTS``: each maps a caller to a
``Transport`` (and is closed by the fixture).

``"supabase"`` is ``SupabaseTransport`` (supabase-py) talking to the PostgREST stand-in
(``support.postgrest_standin``), which serves the test's database: "service" uses the secret
key, "anon" the publishable key alone, "user" the publishable key with a user's JWT.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.transports.postgres import PostgresTransport
from collab_sdk.transports.supabase.rpc import SupabaseTransport
from collab_sdk.transports.base import Transport
from support import add_members
from support.postgrest_standin import PUBLISHABLE_KEY, SECRET_KEY, SUPABASE_URL, PostgrestStandin, make_jwt


def _claims(as_: str, user_id: uuid.UUID | None) -> tuple[str, dict[str, Any]]:
    role = {"service": "service_role", "anon": "anon", "user": "authenticated"}[as_]
    claims: dict[str, Any] = {"role": role}
    if user_id is not None:
        claims["sub"] = str(user_id)
    return role, claims


async def postgres_transport(db_url: str, as_: str, user_id: uuid.UUID | None) -> Transport:
    """PostgresTransport acting as PostgREST would for this caller."""
    role, claims = _claims(as_, user_id)
    return PostgresTransport(db_url, role=role, claims=claims, max_size=4)


async def supabase_transport(db_url: str, as_: str, user_id: uuid.UUID | None) -> Transport:
    """SupabaseTransport with the key (and user session) of this caller; its requests
    are answered by the ``postgrest`` stand-in over ``db_url``."""
    if as_ == "service":
        return SupabaseTransport(SUPABASE_URL, SECRET_KEY)
    token = make_jwt(_claims(as_, user_id)[1]) if as_ == "user" else None
    return SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY, access_token=token)


TRANSPORTS: dict[str, Callable[[str, str, uuid.UUID | None], Awaitable[Transport]]] = {
    "postgres": postgres_transport,
    "supabase": supabase_transport,
}

Connect = Callable[..., Awaitable[AsyncCollabClient]]


@pytest.fixture
async def postgrest(db_url: str) -> AsyncIterator[PostgrestStandin]:
    """Supabase's REST API (gateway + PostgREST) at ``SUPABASE_URL``, over this test's
    database, for the test's duration; other HTTP traffic passes through."""
    async with PostgrestStandin(db_url) as api:
        yield api


@pytest.fixture(autouse=True)
def _supabase_api(request: pytest.FixtureRequest) -> None:
    """Serve the stand-in while a test runs through the supabase transport."""
    if "transport_name" in request.fixturenames and request.getfixturevalue("transport_name") == "supabase":
        request.getfixturevalue("postgrest")


@pytest.fixture(params=sorted(TRANSPORTS))
def transport_name(request: pytest.FixtureRequest) -> str:
    """The transport this run of the test uses."""
    return str(request.param)


@pytest.fixture
async def connect(db_url: str, transport_name: str) -> AsyncIterator[Connect]:
    """``await connect(as_="user", user_id=uid)`` → an AsyncCollabClient (closed after)."""
    made: list[AsyncCollabClient] = []

    async def make(as_: str = "service", user_id: uuid.UUID | None = None) -> AsyncCollabClient:
        transport = await TRANSPORTS[transport_name](db_url, as_, user_id)
        client = AsyncCollabClient(transport)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def client(connect: Connect) -> AsyncCollabClient:
    """A trusted (service_role) client."""
    return await connect()


@pytest.fixture
def member(owner: Any) -> Callable[[dict[str, str]], uuid.UUID]:
    """``member({"exec-a": "worker"})`` → a new user id with those memberships."""
    def make(memberships: dict[str, str]) -> uuid.UUID:
        user_id = uuid.uuid4()
        add_members(owner, user_id, memberships)
        return user_id
    return make
