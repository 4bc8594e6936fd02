"""Test support: a real PostgreSQL, a migrated template, and callers acting as roles.

``Caller`` runs each RPC in its own transaction the way PostgREST does: ``SET LOCAL
ROLE`` to the role and ``request.jwt.claims`` set to the JWT claims. Direct connections
(role None) are the trusted database owner.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row


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
