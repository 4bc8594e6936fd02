"""What a real pgbouncer's refusals and a read-only database look like through it, as the
SDK raises them: its own errors (``query_wait_timeout`` as 08P01 on an open connection,
``no more connections allowed`` as a refused connection) are ``Unavailable``, and
Postgres's 25006 comes through as ``ReadOnly`` — each with the retry kind the worker's
policy waits out."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from collab_sdk.errors import ReadOnly, Unavailable, retry_kind
from collab_sdk.transports.postgres import PostgresTransport
from support.faults import read_only
from support.pooler import pgbouncer


async def test_query_wait_timeout_is_unavailable(db_url: str) -> None:
    with pgbouncer(db_url, default_pool_size=1, query_wait_timeout=1) as url:
        holder = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None)
        transport = PostgresTransport(url, pooler="transaction", listen_url=None, max_size=1)
        try:
            await transport.call("schema_version", {})  # connected; the pool's one server is free
            hold = asyncio.create_task(holder.execute("select pg_sleep(3)"))
            await asyncio.sleep(0.3)
            with pytest.raises(Unavailable) as raised:
                await transport.call("schema_version", {})
            assert raised.value.code == "08P01" and "query_wait_timeout" in raised.value.message
            assert retry_kind(raised.value) == "unavailable"
            await hold
        finally:
            await transport.aclose()
            await holder.close()


async def test_a_full_pooler_refuses_the_connection_as_unavailable(db_url: str) -> None:
    with pgbouncer(db_url, max_client_conn=1) as url:
        first = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None)
        transport = PostgresTransport(url, pooler="transaction", listen_url=None, connect_timeout=2)
        try:
            with pytest.raises(Unavailable) as raised:
                await transport.call("schema_version", {})
            assert "no more connections allowed" in raised.value.message and raised.value.code is None
        finally:
            await transport.aclose()
            await first.close()


async def test_read_only_comes_through_the_pooler_as_read_only(db_url: str) -> None:
    with pgbouncer(db_url) as url:
        transport = PostgresTransport(url, pooler="transaction", listen_url=None, max_size=2)
        try:
            with read_only(db_url):
                assert await transport.call("schema_version", {}) >= 2  # reads are served
                with pytest.raises(ReadOnly) as raised:
                    await transport.call("assign_job_v1", {"type": "t", "executor_id": "ex"})
                assert raised.value.code == "25006" and retry_kind(raised.value) == "read_only"
            assert await transport.call("assign_job_v1", {"type": "t", "executor_id": "ex"})
        finally:
            await transport.aclose()
