"""Clients for the SDK conformance suite: every test here runs once per transport.

``connect(as_="service" | "anon" | "user", user_id=None)`` gives an ``AsyncCollabClient``
acting as that caller through the transport under test, against the test's own fresh
database. Transports are registered in ``TRANSPORTS``: each maps a caller to a
``Transport`` (and is closed by the fixture).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from collab_sdk.client import AsyncCollabClient
from collab_sdk.postgres import PostgresTransport
from collab_sdk.transport import Transport


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


TRANSPORTS: dict[str, Callable[[str, str, uuid.UUID | None], Awaitable[Transport]]] = {
    "postgres": postgres_transport,
}

Connect = Callable[..., Awaitable[AsyncCollabClient]]


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
        for executor_id, role in memberships.items():
            owner.rpc("add_executor_member_v1", executor_id=executor_id, user_id=user_id, role=role)
        return user_id
    return make
