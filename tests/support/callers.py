"""Callers acting as roles, the way PostgREST calls the RPCs.

``Caller`` runs each RPC in its own transaction the way PostgREST does: ``SET LOCAL
ROLE`` to the role and ``request.jwt.claims`` set to the JWT claims. Direct connections
(role None) are the trusted database owner.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from collab_sdk.transports.postgres import (SIGNATURE_QUERY, RpcSignature, choose_signature,
                                           rpc_statement)

__all__ = ["database_url", "rpc_query", "Caller", "add_members", "raises_sqlstate"]


def database_url(server_url: str, dbname: str) -> str:
    """``server_url`` (a postgresql:// URL) pointing at database ``dbname`` instead."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + dbname))


def rpc_query(conn: psycopg.Connection, fn: str, args: Mapping[str, Any]) -> tuple[sql.Composable, list[Any]]:
    """``select * from collab.<fn>(name => value::type, ...)``, bound by the SDK's own
    binder (``PostgresTransport``'s), with the signature read over ``conn``."""
    return rpc_statement(fn, args, choose_signature(fn, _signatures(conn, fn), args))


def _signatures(conn: psycopg.Connection, fn: str) -> list[RpcSignature]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SIGNATURE_QUERY, (fn,)).fetchall()
    return [RpcSignature(r["retset"], r["args"]) for r in rows]


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
        query, params = rpc_query(self.conn, fn, args)
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


def add_members(owner: Caller, user_id: uuid.UUID | str, memberships: Mapping[str, str]) -> None:
    """Make ``user_id`` a member of each executor with its role: ``{"exec-a": "worker"}``."""
    for executor_id, role in memberships.items():
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
