"""Prepared RPC statements on a direct URL: they are prepared on the pooled connection and
used again; ``COLLAB_PREPARE=off`` turns them off; as a JWT role the claims still apply;
a function whose result type a migration changes under a live client (drop + create)
answers the next call with the new shape;
only the stale-statement errors are repeated, never a function's own error."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from collab_sdk.errors import CollabError, ConfigurationError
from collab_sdk.transports.postgres import PostgresTransport, stale_prepared, prepare_from_env
from support import Caller

#: Test-only functions: how many statements this session has prepared (it runs on the
#: pooled connection that calls it), and one whose result type the tests change.
FIXTURES = """
create function collab.t_prepared() returns table(statement text, uses bigint)
  language sql as $$ select statement, generic_plans + custom_plans from pg_prepared_statements $$;
create function collab.t_shape(n int) returns table(a int) language sql as $$ select n $$;
create table collab.t_rows(a int);
insert into collab.t_rows values (1);
create function collab.t_rows_of(n int) returns setof collab.t_rows
  language sql as $$ select * from collab.t_rows where a = n $$;
create function collab.t_claims() returns table(role text, sub text) language sql as $$
  select current_user::text, current_setting('request.jwt.claims', true)::jsonb ->> 'sub' $$;
create sequence collab.t_calls;
create function collab.t_fails(code text) returns int language plpgsql as $$
  begin perform nextval('collab.t_calls'); raise exception 'on purpose' using errcode = code; end $$;
grant usage on schema collab to authenticated;
grant select on collab.t_rows to authenticated;
grant usage on sequence collab.t_calls to authenticated;
grant execute on function collab.t_prepared(), collab.t_shape(int), collab.t_rows_of(int),
  collab.t_claims(), collab.t_fails(text) to authenticated;
"""


Make = Callable[[str | None], PostgresTransport]


@pytest.fixture
def fixtures(owner: Caller) -> Caller:
    owner.sql(FIXTURES)
    return owner


@pytest.fixture
async def transport_for(db_url: str) -> AsyncIterator[Make]:
    """A transport on one pooled connection (the calls share its session), or its view as
    ``role`` with a fresh ``sub``; closed at the end."""
    made: list[PostgresTransport] = []

    def make(role: str | None) -> PostgresTransport:
        made.append(PostgresTransport(db_url, max_size=1))
        return made[-1] if role is None else made[-1].as_role(role, {"sub": str(uuid.uuid4())})

    yield make
    for transport in made:
        await transport.aclose()


def test_collab_prepare_is_on_or_off() -> None:
    assert prepare_from_env({}) and prepare_from_env({"COLLAB_PREPARE": "on"})
    assert not prepare_from_env({"COLLAB_PREPARE": "off"})
    with pytest.raises(ConfigurationError, match="COLLAB_PREPARE"):
        prepare_from_env({"COLLAB_PREPARE": "sometimes"})


@pytest.mark.parametrize("role", [None, "authenticated"])
async def test_rpc_statements_are_prepared_and_reused(transport_for: Make, fixtures: Caller,
                                                      role: str | None) -> None:
    transport = transport_for(role)
    assert transport.prepares
    for _ in range(3):
        assert await transport.call("t_shape", {"n": 7}) == [{"a": 7}]
    claims = await transport.call("t_claims", {})
    prepared = {row["statement"]: row["uses"] for row in await transport.call("t_prepared", {})}
    shape = [uses for text, uses in prepared.items() if '"t_shape"' in text]
    assert shape == [3], prepared  # one statement, prepared once, run three times
    if role is not None:  # SET LOCAL role + claims in the call's transaction, prepared too
        assert claims == [{"role": "authenticated", "sub": transport.claims["sub"]}]
        assert any("set_config('role'" in text for text in prepared), prepared


async def test_collab_prepare_off_prepares_nothing(transport_for: Make, fixtures: Caller,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_PREPARE", "off")
    transport = transport_for(None)
    assert not transport.prepares
    for _ in range(6):  # past psycopg's own threshold of 5
        await transport.call("t_shape", {"n": 1})
    assert await transport.call("t_prepared", {}) == []


@pytest.mark.parametrize("role", [None, "authenticated"])
async def test_result_type_changed_under_a_live_client(transport_for: Make, fixtures: Caller, role: str | None,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collab.transport")
    transport = transport_for(role)
    assert await transport.call("t_shape", {"n": 2}) == [{"a": 2}]
    assert await transport.call("t_rows_of", {"n": 1}) == [{"a": 1}]
    # A migration, while the client holds the statement prepared: the function dropped and
    # created again with another result type (0A000 on the prepared statement).
    fixtures.sql("""
        drop function collab.t_shape(int);
        create function collab.t_shape(n int) returns table(a int, b text)
          language sql as $$ select n, 'two' $$;
        grant execute on function collab.t_shape(int) to authenticated;
    """)
    assert await transport.call("t_shape", {"n": 2}) == [{"a": 2, "b": "two"}]
    met = [r.getMessage() for r in caplog.records if "out of date" in r.getMessage()]
    assert len(met) == 1 and "0A000" in met[0], met  # the stale plan was met, and repeated
    # ``create or replace`` with the same result type: no error, the new body answers.
    fixtures.sql("create or replace function collab.t_shape(n int) returns table(a int, b text) "
                 "language sql as $$ select n, 'replaced' $$")
    assert await transport.call("t_shape", {"n": 2}) == [{"a": 2, "b": "replaced"}]
    # A column added to the table a ``setof`` function returns raises nothing: Postgres
    # keeps the prepared statement's column list, so this connection answers the columns
    # it knew until it is replaced (psycopg_pool's max_lifetime); a new one sees ``b``.
    await transport.call("t_rows_of", {"n": 1})
    fixtures.sql("alter table collab.t_rows add column b text default 'new'")
    assert await transport.call("t_rows_of", {"n": 1}) == [{"a": 1}]
    assert len([r for r in caplog.records if "out of date" in r.getMessage()]) == 1
    # and the next calls are prepared again
    assert await transport.call("t_shape", {"n": 3}) == [{"a": 3, "b": "replaced"}]
    prepared = {row["statement"]: row["uses"] for row in await transport.call("t_prepared", {})}
    assert [uses for text, uses in prepared.items() if '"t_shape"' in text] == [2], prepared


@pytest.mark.parametrize("code", ["0A000", "26000", "42P05"])
async def test_a_function_raising_those_codes_is_called_once(transport_for: Make, fixtures: Caller,
                                                             code: str) -> None:
    transport = transport_for(None)
    await transport.call("t_shape", {"n": 1})  # something prepared on the connection
    with pytest.raises(CollabError) as raised:
        await transport.call("t_fails", {"code": code})
    assert raised.value.code == code
    assert fixtures.sql("select last_value, is_called from collab.t_calls") == [
        {"last_value": 1, "is_called": True}]


def test_a_statement_the_server_forgot_is_recognised(db_url: str) -> None:
    with psycopg.connect(db_url, prepare_threshold=0) as conn:
        conn.execute("select 1")
        conn.pgconn.exec_(b"deallocate all")  # behind psycopg's back
        with pytest.raises(psycopg.Error) as forgot:
            conn.execute("select 1")
        assert forgot.value.sqlstate == "26000" and stale_prepared(forgot.value)

