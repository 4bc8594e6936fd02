"""``postgres_changes`` for the Realtime stand-in (``realtime_standin``): new
``collab.job_events`` rows, pushed to each subscriber that may read them.

A ``LISTEN collab_events`` connection (the triggers notify once per statement while a
listener holds ``EVENTS_LISTENER_LOCK``, which it does; Realtime itself reads the WAL)
finds the rows committed since the feed started, then reads them again for every
subscribed channel *as that channel's caller* (``set local role`` and
``request.jwt.claims``, as Realtime applies RLS). A channel is sent the rows it may read
that match one of its bindings (event INSERT or ``*``, schema, table, and a
``<column>=eq.<value>`` filter): one ``postgres_changes`` message ``{ids, data: {schema,
table, commit_timestamp, type, columns, record, errors}}`` each, recorded in ``pushed``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from collab_sdk.transports.listen import EVENTS_CHANNEL, EVENTS_LISTENER_LOCK

SCHEMA, TABLE = "collab", "job_events"


class Refused(Exception):
    """A join (or token) the server answers with ``{status: error, response: {reason}}``."""


@dataclass(frozen=True)
class Message:
    """A recorded broadcast (``event``, ``payload``) or pushed change (``event`` is
    ``postgres_changes``, ``payload`` the record), with the channel's caller."""

    topic: str
    event: str
    payload: dict[str, Any]
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass
class Binding:
    """One ``postgres_changes`` entry of a join, with the id the server gave it."""

    id: int
    spec: dict[str, Any]
    column: str | None = None
    value: str | None = None

    @classmethod
    def parse(cls, id: int, spec: dict[str, Any]) -> Binding:
        """The binding of ``spec``; ``Refused`` for a filter other than ``column=eq.value``."""
        binding = cls(id, dict(spec))
        if spec.get("filter"):
            column, _, rest = str(spec["filter"]).partition("=")
            op, _, value = rest.partition(".")
            if op != "eq" or not column or not value:
                raise Refused(f"invalid filter {spec['filter']!r}: this stand-in knows only column=eq.value")
            binding.column, binding.value = column, value
        return binding

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether an INSERT of ``record`` into collab.job_events concerns this binding."""
        spec = self.spec
        return (spec.get("event") in ("INSERT", "*") and spec.get("schema") == SCHEMA
                and spec.get("table") in (TABLE, "*", None)
                and (self.column is None or str(record.get(self.column)) == self.value))


class Subscriber(Protocol):
    """What the feed needs of a joined channel."""

    topic: str
    role: str
    claims: dict[str, Any]
    bindings: list[Binding]

    async def send(self, event: str, payload: Any, ref: str | None = None) -> None:
        """Send one frame on the channel's socket."""


class ChangesFeed:
    """Pushes new ``collab.job_events`` rows to ``subscribers()``; see the module docstring."""

    def __init__(self, db_url: str, subscribers: Callable[[], Sequence[Subscriber]]) -> None:
        self.db_url, self.subscribers = db_url, subscribers
        self.pushed: list[Message] = []
        self._seen: set[int] = set()
        self._floor = 0
        self._columns: list[dict[str, str]] = []
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pool = AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False,
                                         kwargs={"autocommit": True})

    async def start(self) -> None:
        """Listen from now on (rows already there are never pushed)."""
        await self._pool.open()
        async with self._pool.connection() as conn:
            self._floor = (await (await conn.execute(
                f"select coalesce(max(seq), 0) from {SCHEMA}.{TABLE}")).fetchone() or (0,))[0]
            self._columns = [{"name": name, "type": typ} for name, typ in await (await conn.execute(
                "select column_name, udt_name from information_schema.columns where table_schema = %s"
                " and table_name = %s order by ordinal_position", (SCHEMA, TABLE))).fetchall()]
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._listening.wait(), 10)

    async def aclose(self) -> None:
        """Stop listening and close the connections."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._pool.close()

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as conn:
            await conn.execute("select pg_advisory_lock_shared(%s)", (EVENTS_LISTENER_LOCK,))
            await conn.execute(f"listen {EVENTS_CHANNEL}")
            self._listening.set()
            async for _ in conn.notifies():
                await self._push_new_rows()

    async def _push_new_rows(self) -> None:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(f"select seq from {SCHEMA}.{TABLE} where seq > %s",
                                             (self._floor,))).fetchall()
        new = sorted(seq for (seq,) in rows if seq not in self._seen)
        self._seen.update(new)
        for channel in [c for c in self.subscribers() if c.bindings] if new else []:
            for record in await self._readable(channel, new):
                ids = [b.id for b in channel.bindings if b.matches(record)]
                if ids:
                    self.pushed.append(Message(channel.topic.removeprefix("realtime:"),
                                               "postgres_changes", record, channel.claims))
                    await channel.send("postgres_changes", {"ids": ids, "data": {
                        "schema": SCHEMA, "table": TABLE, "type": "INSERT",
                        "commit_timestamp": datetime.now(timezone.utc).isoformat(),
                        "columns": self._columns, "record": record, "errors": None}})

    async def _readable(self, channel: Subscriber, seqs: list[int]) -> list[dict[str, Any]]:
        """The rows of ``seqs`` that ``channel``'s caller may read (RLS), in seq order."""
        async with self._pool.connection() as conn:
            try:
                async with conn.transaction():
                    await conn.execute(sql.SQL("set local role {}").format(sql.Identifier(channel.role)))
                    await conn.execute("select set_config('request.jwt.claims', %s, true)",
                                       (json.dumps(channel.claims),))
                    rows = await (await conn.execute(
                        f"select to_jsonb(e) from {SCHEMA}.{TABLE} e where e.seq = any(%s) order by e.seq",
                        (seqs,))).fetchall()
            except psycopg.errors.InsufficientPrivilege:
                return []
        return [row[0] for row in rows]


__all__ = ["ChangesFeed", "Binding", "Message", "Refused", "Subscriber"]
