"""``PostgresTransport.lane()``: one connection kept between calls, replaced when the
server closes it, given back on close (``collab_sdk.transports.lanes``).

The transport's connections are named (``application_name``), so ``pg_stat_activity``
shows the backends: the lane calls ``schema_version``, the transport itself
``job_events_head_v1`` alone, so each backend's last ``query`` says who used it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.sync import CollabClient
from collab_sdk.transports.base import HasLanes
from collab_sdk.transports.postgres import PostgresTransport
from collab_sdk.transports.supabase.rpc import SupabaseTransport

NAME = "lane-sdk"
BACKENDS = ("select pid from pg_stat_activity where application_name = %s and query like %s"
            " and pid <> pg_backend_pid()")


def _named(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={NAME}"


def _backends(db_url: str, like: str = "%") -> set[int]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return {row[0] for row in conn.execute(BACKENDS, (NAME, like)).fetchall()}


async def _gone(db_url: str, pids: set[int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _backends(db_url) & pids:
        assert time.monotonic() < deadline, f"backends {pids} still there"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def _lane(db_url: str, max_size: int) -> AsyncIterator[tuple[PostgresTransport, PostgresTransport]]:
    """A named transport and a lane of it; closing the transport gives the lane's back."""
    transport = PostgresTransport(_named(db_url), max_size=max_size)
    try:
        yield transport, transport.lane()
    finally:
        await transport.aclose()


async def test_a_lane_keeps_one_backend_while_the_pool_grows(db_url: str) -> None:
    async with _lane(db_url, 4) as (transport, lane):
        assert isinstance(transport, HasLanes)
        version = await lane.call("schema_version", {})
        for _ in range(10):  # the pool lends the others in turn; the lane keeps its own
            await asyncio.gather(*(transport.call("job_events_head_v1", {}) for _ in range(3)))
            assert await lane.call("schema_version", {}) == version
        assert len(_backends(db_url)) >= 3
        assert len(_backends(db_url, "%schema_version%")) == 1


async def test_a_lane_replaces_a_connection_the_server_closed(db_url: str) -> None:
    async with _lane(db_url, 2) as (_, lane):
        version = await lane.call("schema_version", {})
        [pid] = _backends(db_url, "%schema_version%")
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("select pg_terminate_backend(%s)", (pid,))
        await _gone(db_url, {pid})
        assert await lane.call("schema_version", {}) == version  # no error: a new connection
        [again] = _backends(db_url, "%schema_version%")
        assert again != pid


async def test_closing_gives_the_connection_back(db_url: str) -> None:
    transport = PostgresTransport(_named(db_url), max_size=2)
    lane = transport.lane()
    version = await lane.call("schema_version", {})
    held = _backends(db_url)
    await lane.aclose()
    # Back in the pool: both connections serve the transport's concurrent calls.
    await asyncio.gather(*(transport.call("job_events_head_v1", {}) for _ in range(4)))
    assert await lane.call("schema_version", {}) == version  # a closed lane lends per call
    other = transport.lane()
    await other.call("schema_version", {})
    await transport.aclose()  # closes the pool and gives back the lane it still holds
    await _gone(db_url, held | _backends(db_url))


async def test_a_client_lane_shares_the_pool(db_url: str) -> None:
    client = AsyncCollabClient.from_url(db_url)
    try:
        async with client.lane() as calls:
            assert calls is not client and calls.transport is not client.transport
            assert await calls.schema_version() == await client.schema_version()
        assert await client.schema_version() in (2, 3, 4)  # the pool is still open
    finally:
        await client.aclose()


async def test_a_transport_without_connections_has_no_lanes() -> None:
    """``SupabaseTransport`` (PostgREST over HTTP) has no lanes: the client's lane is itself."""
    client = AsyncCollabClient(SupabaseTransport("http://127.0.0.1:9", "key"))
    try:
        assert not isinstance(client.transport, HasLanes)
        async with client.lane() as calls:
            assert calls is client
    finally:
        await client.aclose()


def test_the_blocking_client_has_lanes_too(db_url: str) -> None:
    with CollabClient.from_url(db_url) as client:
        with client.lane() as calls:
            assert calls is not client and calls.schema_version() == client.schema_version()
        assert client.schema_version() in (2, 3, 4)
