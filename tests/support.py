"""Test support: a real PostgreSQL, a migrated template, and callers acting as roles.

``Caller`` runs each RPC in its own transaction the way PostgREST does: ``SET LOCAL
ROLE`` to the role and ``request.jwt.claims`` set to the JWT claims. Direct connections
(role None) are the trusted database owner.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row


def database_url(server_url: str, dbname: str) -> str:
    """``server_url`` (a postgresql:// URL) pointing at database ``dbname`` instead."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + dbname))


def rpc_query(fn: str, args: dict[str, Any]) -> tuple[sql.Composed, dict[str, Any]]:
    """``select * from collab.<fn>(name => %(name)s, ...)`` for ``args``."""
    named = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in args
    )
    query = sql.SQL("select * from {}.{}({})").format(sql.Identifier("collab"), sql.Identifier(fn), named)
    return query, {k: _adapt(v) for k, v in args.items()}


def _adapt(value: Any) -> Any:
    if isinstance(value, (dict, list)) and not (isinstance(value, list) and value and isinstance(value[0], str)):
        return psycopg.types.json.Jsonb(value)
    return value


@dataclass
class Caller:
    """Calls RPCs as ``role`` (None: the database owner) with JWT claims for ``user_id``."""

    url: str
    role: str | None = None
    user_id: uuid.UUID | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    _conn: psycopg.Connection | None = field(default=None, init=False, repr=False)

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, row_factory=dict_row)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _enter_role(self, cur: psycopg.Cursor) -> None:
        if self.role is None:
            return
        claims = {"role": self.role, **({"sub": str(self.user_id)} if self.user_id else {}), **self.claims}
        cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        cur.execute(sql.SQL("set local role {}").format(sql.Identifier(self.role)))

    def rpc(self, fn: str, **args: Any) -> list[dict[str, Any]]:
        """Call ``collab.<fn>`` with named arguments; all result rows as dicts."""
        query, params = rpc_query(fn, args)
        return self.sql(query, params)

    def one(self, fn: str, **args: Any) -> dict[str, Any] | None:
        """Call ``collab.<fn>``; its only row, or None when it returned none."""
        rows = self.rpc(fn, **args)
        assert len(rows) <= 1, rows
        return rows[0] if rows else None

    def value(self, fn: str, **args: Any) -> Any:
        """Call a scalar-returning ``collab.<fn>``; its value."""
        row = self.one(fn, **args)
        assert row is not None
        return next(iter(row.values()))

    def sql(self, query: Any, params: Any = None) -> list[dict[str, Any]]:
        """Run ``query`` in a transaction as this caller; all rows (or [])."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._enter_role(cur)
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []


def add_member(owner: Caller, executor_id: str, user_id: uuid.UUID, role: str) -> None:
    owner.rpc("add_executor_member_v1", executor_id=executor_id, user_id=user_id, role=role)


class raises_sqlstate:
    """``with raises_sqlstate("CL404", "not found"):`` — a psycopg error with that
    SQLSTATE whose message contains the given text."""

    def __init__(self, code: str, match: str = "") -> None:
        self.code = code
        self.match = match
        self.error: psycopg.Error | None = None

    def __enter__(self) -> "raises_sqlstate":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        assert exc is not None, f"expected SQLSTATE {self.code}, nothing was raised"
        if not isinstance(exc, psycopg.Error):
            return False
        assert exc.sqlstate == self.code, f"expected {self.code}, got {exc.sqlstate}: {exc}"
        assert self.match in str(exc), f"{self.match!r} not in {exc}"
        self.error = exc
        return True


def assign(caller: Caller, type: str = "t.noop", executor_id: str = "ex", **kw: Any) -> uuid.UUID:
    """Enqueue one job; its id."""
    row = caller.one("assign_job_v1", type=type, executor_id=executor_id, **kw)
    assert row is not None
    return row["job_id"]


def claim(caller: Caller, executor_id: str = "ex", worker_id: str = "w1", lease_seconds: int = 60,
          **kw: Any) -> dict[str, Any] | None:
    """Claim one job with claim_one_job_v3; the job row or None."""
    return caller.one("claim_one_job_v3", executor_id=executor_id, worker_id=worker_id,
                      lease_seconds=lease_seconds, **kw)


def job(caller: Caller, job_id: uuid.UUID) -> dict[str, Any]:
    """The job row, read directly (no RPC)."""
    rows = caller.sql("select * from collab.jobs where id = %s", (job_id,))
    assert rows, f"job {job_id} not found"
    return rows[0]


def events(caller: Caller, job_id: uuid.UUID) -> list[str]:
    """The job's event types in seq order."""
    rows = caller.sql("select event_type from collab.job_events where job_id = %s order by seq", (job_id,))
    return [r["event_type"] for r in rows]


def expire_lease(caller: Caller, job_id: uuid.UUID) -> None:
    """Move a running job's lease into the past (what waiting for it would do)."""
    caller.sql("update collab.jobs set next_run_at = now() - interval '1 second' where id = %s", (job_id,))


def make_due(caller: Caller, job_id: uuid.UUID) -> None:
    """Make a queued job (e.g. waiting for backoff) due now."""
    caller.sql("update collab.jobs set next_run_at = now() where id = %s and status = 'queued'", (job_id,))


# Everything the migrations define in schema collab, as comparable text.
FINGERPRINT = """
select 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || case when a.attnotnull then ' not null' else '' end
  from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
 where n.nspname = 'collab' and a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'v')
union all
select 'index ' || pg_get_indexdef(i.indexrelid) from pg_index i join pg_class c on c.oid = i.indrelid
  join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'collab'
union all
select 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) from pg_constraint
 where connamespace = 'collab'::regnamespace
union all
select 'function ' || pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl::text, 'default')
  from pg_proc p where p.pronamespace = 'collab'::regnamespace
union all
select 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' ' || coalesce(qual, '')
  from pg_policies where schemaname = 'collab'
union all
select 'trigger ' || pg_get_triggerdef(t.oid) from pg_trigger t join pg_class c on c.oid = t.tgrelid
 where c.relnamespace = 'collab'::regnamespace and not t.tgisinternal
union all
select 'table ' || c.relname || ' rls=' || c.relrowsecurity || ' acl ' || coalesce(c.relacl::text, '')
  from pg_class c where c.relnamespace = 'collab'::regnamespace and c.relkind = 'r'
union all
select 'publication ' || pubname || ' ' || schemaname || '.' || tablename from pg_publication_tables
 where schemaname = 'collab'
order by 1
"""


def schema_fingerprint(url: str) -> list[str]:
    """Every object the migrations define in schema collab, one sorted line each."""
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(FINGERPRINT).fetchall()]


def empty_database(server_url: str) -> str:
    """A new, empty database on the test server (not migrated); its URL."""
    name = f"collab_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return database_url(server_url, name)


def migration_history(url: str) -> list[tuple[str, str, int]]:
    """(version, name, number of statements) recorded in the supabase CLI's history table."""
    with psycopg.connect(url) as conn:
        return conn.execute("select version, name, cardinality(statements)"
                            " from supabase_migrations.schema_migrations order by version").fetchall()


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> None:
    """Poll ``check`` (a function, sync or async, returning a truth value) until it is
    true; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
