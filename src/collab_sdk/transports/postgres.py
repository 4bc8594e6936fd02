"""``PostgresTransport``: the RPCs over psycopg 3 and an async connection pool.

It calls ``select * from collab.<fn>(name => %s::<type>, ...)``, casting each argument
to the type the function declares (read once per function from ``pg_proc``), the way
PostgREST binds a JSON body. With ``role`` it acts as PostgREST does for that caller:
in one transaction, ``set_config('role', …, true)`` and ``request.jwt.claims``, then the
call. Without ``role`` the connection's own user calls (trusted, like ``service_role``).

Safe behind a transaction-mode pooler (Supavisor :6543): no session state. Behind a
*transaction-mode* pooler — named by ``COLLAB_POOLER=transaction``, or port 6543
(Supavisor's transaction mode) unless ``COLLAB_POOLER=session`` says otherwise — nothing is
prepared (``prepare_threshold=None``: a prepared statement lives on whichever server
connection the pooler lent). Anywhere else (a direct or session-mode URL) the RPC
statements, whose text is composed once and never changes, are prepared on first use on
each pooled connection: Postgres then skips parsing and planning each call (~40 µs of its
CPU per ``claim``, ~12 % of the HTTP server's throughput; bench/README.md).
``COLLAB_PREPARE=off`` turns that off (for an A/B measurement, or a transaction pooler on
another port that is not named by ``COLLAB_POOLER``). A prepared statement can go stale
while the process runs: a migration that changes a function's result type (or a table a
``select *`` returns) makes Postgres answer ``0A000 cached plan must not change result
type``, and a server-side ``DEALLOCATE``/``DISCARD ALL`` gives ``26000``/``42P05``. For
exactly these errors — raised before the statement ran, so repeating it is safe — the call
drops the connection's prepared statements (``DEALLOCATE ALL``) and runs once more; any
other error, or the same one again, is the caller's. Behind a transaction-mode pooler it
also never LISTENs on the pooled URL: a
LISTEN (and the advisory lock an event listener holds) would stay on whichever server
connection the pooler lent, and notifications would never arrive. Wake-ups then go
through ``COLLAB_LISTEN_URL`` (a direct or session-mode URL) when it is set, else
nothing listens and workers and streams poll; one log line says which. Connecting fails fast: the first call makes one
plain connection attempt (``connect_timeout``, default ``COLLAB_CONNECT_TIMEOUT`` or
``DEFAULT_CONNECT_TIMEOUT`` seconds) before the pool opens, so an unreachable server is one
``Unavailable`` error rather than a pool retrying in the background; afterwards the pool waits
that long for a connection, never lends one the server has closed and never waits longer
than that for its own reconnection: after a database restart (``collab db stop`` +
``start``) the first call gets a new connection instead of failing. Errors are translated by SQLSTATE (``collab_sdk.errors.error_from_code``); a failure
without one (no connection could be made or kept) is ``Unavailable``. A ``Transient`` error
(40001, 40P01, 55P03) rolled the whole call back — it is one autocommitted statement, or
one transaction as a role — so ``call`` repeats it up to ``TRANSIENT_RETRIES`` times
before raising it. Its capabilities
(``collab_sdk.transports.base``): ``ActsAsRole`` (``as_role``), ``Listens``
(``listener``: LISTEN needs a direct or session-mode connection), ``HasLiveEvents``
(``live_source``) and ``AnswersJsonText`` (``call_text``: a scalar JSON answer as text).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import select
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from collab_sdk.errors import (TRANSIENT_RETRIES, CollabError, ConfigurationError, Transient, Unavailable,
                               error_from_code)
from collab_sdk.timing import Backoff
from collab_sdk.transports.base import JsonText
from collab_sdk.transports.lanes import LANE_MIN_POOL, Lane
from collab_sdk.transports.listen import Listener, PostgresLiveSource

__all__ = ["PostgresTransport", "RpcSignature", "SIGNATURE_QUERY", "choose_signature",
           "rpc_statement", "pooler_mode", "TRANSACTION_POOLER_PORT", "connect_timeout_from_env",
           "DEFAULT_CONNECT_TIMEOUT", "probe", "prepare_from_env", "stale_prepared",
           "TRANSIENT_DELAY"]

#: Seconds to wait for the database when ``COLLAB_CONNECT_TIMEOUT`` is not set.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: The first delay before repeating a call that met a ``Transient`` error (seconds,
#: doubling, jittered): ``TRANSIENT_RETRIES`` (3) retries wait about 35 ms in all.
TRANSIENT_DELAY = 0.01


log = logging.getLogger("collab.transport")

#: Supavisor's transaction-mode port (its session mode is 5432).
TRANSACTION_POOLER_PORT = 6543


def pooler_mode(url: str, given: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """``"transaction"`` when ``url`` goes through a transaction-mode pooler: ``given``,
    else ``COLLAB_POOLER`` (``transaction`` or ``session``/``none``), else port 6543."""
    env = os.environ if env is None else env
    named = (given or env.get("COLLAB_POOLER") or "").strip().lower()
    if named:
        if named not in ("transaction", "session", "none"):
            raise ConfigurationError(f"COLLAB_POOLER must be transaction, session or none, not {named!r}")
        return "transaction" if named == "transaction" else None
    try:
        port = conninfo_to_dict(url).get("port")
    except psycopg.ProgrammingError:
        return None
    return "transaction" if str(port) == str(TRANSACTION_POOLER_PORT) else None


def connect_timeout_from_env(env: Mapping[str, str] | None = None) -> float:
    """``COLLAB_CONNECT_TIMEOUT`` (seconds, a positive number) of ``env`` (default
    ``os.environ``), else ``DEFAULT_CONNECT_TIMEOUT``; ``ConfigurationError`` if malformed."""
    raw = (os.environ if env is None else env).get("COLLAB_CONNECT_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_CONNECT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise ConfigurationError(f"COLLAB_CONNECT_TIMEOUT must be a positive number of seconds, not {raw!r}")
    return seconds


def prepare_from_env(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``COLLAB_PREPARE`` of ``env`` (default ``os.environ``) lets the transport
    prepare its statements: ``on`` (the default when unset) or ``off``; ``ConfigurationError``
    otherwise. A transaction-mode pooler never prepares, whatever this says."""
    raw = (os.environ if env is None else env).get("COLLAB_PREPARE", "").strip().lower()
    if raw in ("", "on", "true", "1"):
        return True
    if raw in ("off", "false", "0"):
        return False
    raise ConfigurationError(f"COLLAB_PREPARE must be on or off, not {raw!r}")


#: The errors of a stale prepared statement, by SQLSTATE and the (unlocalised) server
#: routine raising it: a plan whose result type would change, a name the server forgot,
#: a name it already has. Postgres raises each before running anything. A function that
#: raises one of these codes itself (``exec_stmt_raise``) is not matched.
_STALE_PREPARED = {("0A000", "RevalidateCachedQuery"), ("26000", "FetchPreparedStatement"),
                   ("42P05", "StorePreparedStatement")}


def stale_prepared(exc: psycopg.Error) -> bool:
    """Whether ``exc`` says a prepared statement no longer matches the server (the errors
    a ``PostgresTransport`` call meets once and repeats unprepared)."""
    return (exc.sqlstate, exc.diag.source_function) in _STALE_PREPARED


def _where(url: str) -> str:
    """``host:port/dbname`` of a connection string, without its user or password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "the configured database"
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def _timeout_kwargs(url: str, seconds: float) -> dict[str, Any]:
    """libpq's ``connect_timeout`` for ``url`` — whole seconds, at least 2 (libpq treats 1
    as 2) — unless the URL sets its own."""
    try:
        if "connect_timeout" in conninfo_to_dict(url):
            return {}
    except psycopg.Error:
        pass
    return {"connect_timeout": max(2, math.ceil(seconds))}


async def probe(url: str, timeout: float) -> None:
    """Make one connection to ``url`` and close it: ``Unavailable`` (one line, naming
    the host but never the password) when the server cannot be reached within
    ``timeout`` seconds, ``ConfigurationError`` when ``url`` is not a connection string."""
    try:
        async with asyncio.timeout(timeout):
            conn = await psycopg.AsyncConnection.connect(url, prepare_threshold=None,
                                                         **_timeout_kwargs(url, timeout))
        await conn.close()
    except TimeoutError:
        raise Unavailable(f"database unavailable: no answer from {_where(url)} within {timeout:g} s "
                             "(COLLAB_CONNECT_TIMEOUT)") from None
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split("\n")[0].split()).removeprefix("connection failed: ")
        raise Unavailable(f"database unavailable at {_where(url)}: {reason}") from None
    except psycopg.ProgrammingError as exc:  # libpq could not parse the connection string
        raise ConfigurationError(f"not a PostgreSQL connection string: {exc}") from None

#: Each overload of ``collab.<fn>``: whether it returns a set, and its arguments' types.
SIGNATURE_QUERY = """
select p.proretset as retset,
       coalesce((select jsonb_object_agg(a.name, format_type(a.typ, null))
                   from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                               coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs])))
                        as a(typ, name, mode)
                  where a.mode in ('i', 'b', 'v')), '{}'::jsonb) as args
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = 'collab' and p.proname = %s
"""


@dataclass(frozen=True)
class RpcSignature:
    """One overload of an RPC, as ``pg_proc`` describes it."""

    returns_set: bool
    arg_types: dict[str, str]


class _Shared:
    """The pool and the signature cache, shared by a transport and its ``as_role`` views."""

    def __init__(self, url: str, min_size: int, max_size: int, connect_timeout: float,
                 prepare: bool) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        #: Whether pooled connections prepare the RPC statements (see the module doc).
        self.prepare = prepare
        # reconnect_timeout: psycopg_pool retries a failed connection in the background
        # with a doubling delay (1 s, 2 s, 4 s, … for 5 minutes by default), and a caller
        # waits for that retry: after a long outage the pool would stay empty long after
        # the server is back. Giving up after ``connect_timeout`` lets the next caller start
        # a fresh attempt at once.
        self.pool = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, timeout=connect_timeout,
            reconnect_timeout=connect_timeout, check=self._check_lent,
            # With a threshold, ``execute(..., prepare=True)`` prepares at once; with None
            # nothing ever is (psycopg ignores ``prepare=True`` then).
            kwargs={"autocommit": True, "prepare_threshold": 5 if prepare else None, "row_factory": dict_row,
                    **_timeout_kwargs(url, connect_timeout)})
        self.signatures: dict[str, list[RpcSignature]] = {}
        #: Statement text by (function, argument names, columns).
        self.statements: dict[tuple[Any, ...], bytes] = {}
        self.opened = False
        #: The ``Lane``s over this pool, given back when the pool closes.
        self.lanes: weakref.WeakSet[Lane] = weakref.WeakSet()
        self._opening: asyncio.Lock | None = None
        self._sweeping = False

    async def _check_lent(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The pool's check of each connection it lends: refuse one the server has closed
        (restarted, or ended the session), so that the call gets a new connection instead
        of failing on it. An idle connection has nothing to read; a readable socket holds
        the server's goodbye (``57P01`` on a fast shutdown) or its EOF. One zero-timeout
        ``poll``, no round trip (``AsyncConnectionPool.check_connection`` would send a
        query on every lend). A restart closes every idle connection at once, so the first
        one found sweeps the rest (``pool.check()``) rather than each costing the pool's
        retry backoff (1 s, 2 s, …)."""
        if _open_to_server(conn):
            return
        await conn.close()
        if not self._sweeping:
            self._sweeping = True
            try:
                await self.pool.check()
            finally:
                self._sweeping = False
        raise psycopg.OperationalError("the server closed this pooled connection")

    async def connection(self) -> Any:
        await self._open()
        return self.pool.connection()

    async def getconn(self) -> psycopg.AsyncConnection[Any]:
        """A connection of the pool, until ``putconn`` (a ``Lane``'s)."""
        await self._open()
        return await self.pool.getconn()

    async def putconn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Give back a connection of ``getconn``."""
        await self.pool.putconn(conn)

    async def _open(self) -> None:
        if not self.opened:
            self._opening = self._opening or asyncio.Lock()
            async with self._opening:
                if not self.opened:
                    await probe(self.url, self.connect_timeout)
                    await self.pool.open()
                    self.opened = True


def _open_to_server(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection is still open at both ends: the pool's check of each
    connection it lends (``_Shared._check_lent``), and a ``Lane``'s of the one it keeps
    out of the pool."""
    return not conn.closed and not _readable(conn.fileno())


def _readable(fd: int) -> bool:
    """Whether ``fd`` has something to read (or hung up) right now: ``poll``, which has no
    ``FD_SETSIZE`` limit (a busy server's sockets pass 1024), else ``select`` (Windows)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


class PostgresTransport:
    """Calls collab's RPCs over a psycopg connection pool.

    ``PostgresTransport(url)`` acts as the connecting user (trusted);
    ``.as_role("authenticated", {"sub": user_id})`` gives a view over the same pool
    acting as that JWT caller, with RLS and membership checks applied. ``connect_timeout``
    (seconds; default ``COLLAB_CONNECT_TIMEOUT``, else 5) bounds connecting and waiting
    for a pooled connection."""

    def __init__(self, url: str, *, role: str | None = None,
                 claims: Mapping[str, Any] | None = None, min_size: int = 1,
                 max_size: int = 10, connect_timeout: float | None = None,
                 pooler: str | None = None, listen_url: str | None = None) -> None:
        self.url = url
        self.role = role
        self.claims = dict(claims or {})
        #: ``transaction`` behind a transaction-mode pooler, else None (see the module doc).
        self.pooler = pooler_mode(url, pooler)
        #: Where LISTEN connects: ``listen_url`` / ``COLLAB_LISTEN_URL``, else ``url``
        #: unless it is a transaction pooler's (then None: nothing listens).
        self.listen_url = listen_url or os.environ.get("COLLAB_LISTEN_URL") or (
            None if self.pooler else url)
        if self.pooler:
            log.info("collab: %s is a transaction-mode pooler: no LISTEN or session state on it; %s",
                     _where(url), f"wake-ups through COLLAB_LISTEN_URL ({_where(self.listen_url)})"
                     if self.listen_url else "no COLLAB_LISTEN_URL, so workers and streams poll")
        self._shared = _Shared(url, min_size, max_size,
                               connect_timeout if connect_timeout is not None else connect_timeout_from_env(),
                               prepare=self.pooler is None and prepare_from_env())
        self._owns_pool = True

    #: The connection every call of a ``lane()`` view uses (None: a pooled one per call).
    _lane: Lane | None = None

    def as_role(self, role: str, claims: Mapping[str, Any] | None = None) -> PostgresTransport:
        """A transport over the same pool that calls as ``role`` with these JWT claims
        (``role`` is added to them). Closing it leaves the pool open."""
        view = PostgresTransport.__new__(PostgresTransport)
        view.url, view.role, view.claims = self.url, role, {**(claims or {}), "role": role}
        view.pooler, view.listen_url = self.pooler, self.listen_url
        view._shared, view._owns_pool = self._shared, False
        return view

    def lane(self) -> PostgresTransport:
        """A view over the same pool (same role and claims) whose calls all use one
        connection, kept between them (``HasLanes``; ``collab_sdk.transports.lanes``):
        the same backend, with warm caches, for a caller that calls again and again (a
        worker's claim loop). Closing it gives the connection back; the pool stays open.
        On a pool of one connection it keeps none (the rest of the process needs it)."""
        view = self._copy()
        view._lane = Lane(self._shared.getconn, self._shared.putconn, _open_to_server,
                          hold=self.max_size >= LANE_MIN_POOL)
        self._shared.lanes.add(view._lane)
        return view

    def _copy(self) -> PostgresTransport:
        """A view over the same pool with this one's role and claims (closing it leaves
        the pool open)."""
        view = PostgresTransport.__new__(PostgresTransport)
        view.__dict__.update(self.__dict__)
        view._owns_pool = False
        return view

    @property
    def max_size(self) -> int:
        """The most connections its pool opens (``COLLAB_POOL_SIZE`` from the environment)."""
        return self._shared.pool.max_size

    @property
    def prepares(self) -> bool:
        """Whether the RPC statements are prepared: not behind a transaction-mode pooler,
        and not with ``COLLAB_PREPARE=off``."""
        return self._shared.prepare

    @property
    def can_listen(self) -> bool:
        """Whether LISTEN has a connection to use (``Listens``): not on a transaction
        pooler without ``COLLAB_LISTEN_URL``."""
        return self.listen_url is not None

    def listener(self, channel: str, accept: Callable[[str], bool], on_wake: Callable[[], None],
                 log_gate: Backoff | None = None, *, waits_for: str | None = None) -> Listener:
        """``LISTEN channel`` on a connection of its own to ``listen_url`` (``Listens``;
        check ``can_listen`` first); ``waits_for``: the executor whose wake-ups it asks
        for while its worker waits (``Listener.wait_for_jobs``)."""
        if self.listen_url is None:
            raise ConfigurationError("LISTEN needs a direct or session-mode connection: "
                                     "set COLLAB_LISTEN_URL")
        return Listener(self.listen_url, accept, on_wake, log_gate, channel=channel, waits_for=waits_for)

    def live_source(self) -> PostgresLiveSource | None:
        """``LISTEN collab_events`` for one event stream (``HasLiveEvents``), or None
        when nothing can listen (the stream polls)."""
        return PostgresLiveSource(self.listen_url) if self.listen_url is not None else None

    async def call(self, fn: str, args: Mapping[str, Any], columns: Sequence[str] | None = None) -> Any:
        """Call ``collab.<fn>``; rows for a set-returning function (only ``columns`` of
        each, when given), else its value. A ``Transient`` error (a serialization failure,
        deadlock or lock timeout: the call was rolled back whole) is retried up to
        ``TRANSIENT_RETRIES`` times after a few jittered milliseconds, then raised."""
        return await self._retrying(fn, args, columns, text=False)

    async def call_text(self, fn: str, args: Mapping[str, Any]) -> str | None:
        """``call`` of a scalar ``collab.<fn>`` answering ``json`` or ``jsonb``, its value
        cast to ``text`` in the statement (``AnswersJsonText``): psycopg hands the JSON
        back as a string instead of decoding it, and the caller validates it in one
        pass. Same statement otherwise, same errors and retries."""
        return cast(str | None, await self._retrying(fn, args, None, text=True))

    async def _retrying(self, fn: str, args: Mapping[str, Any], columns: Sequence[str] | None,
                        text: bool) -> Any:
        for retry in range(TRANSIENT_RETRIES + 1):
            try:
                return await self._call(fn, args, columns, text)
            except Transient:
                if retry == TRANSIENT_RETRIES:
                    raise
                await asyncio.sleep(TRANSIENT_DELAY * 2 ** retry * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call(self, fn: str, args: Mapping[str, Any], columns: Sequence[str] | None,
                    text: bool = False) -> Any:
        try:
            async with self._lane.connection() if self._lane is not None else \
                    await self._shared.connection() as conn:
                signature = await self._signature(conn, fn, args)
                query, params = self._statement(conn, fn, args, signature, columns, text)
                try:
                    return await self._once(conn, query, params, signature)
                except psycopg.Error as exc:
                    if not (self._shared.prepare and stale_prepared(exc)):
                        raise
                    log.info("collab: collab.%s: prepared statements out of date (%s %s); "
                             "deallocating them and calling again", fn, exc.sqlstate,
                             exc.diag.message_primary)
                    # psycopg sees the DEALLOCATE ALL and forgets its own names too (it
                    # already has after an as_role transaction's rollback); the repeat is
                    # not prepared, so it cannot meet a stale statement whatever psycopg
                    # remembers. The next call prepares afresh.
                    await conn.execute("deallocate all", prepare=False)
                    return await self._once(conn, query, params, signature, prepare=False)
        except psycopg.Error as exc:
            raise _translate(exc, anonymous=self.role == "anon") from exc

    async def _once(self, conn: Any, query: bytes, params: list[Any], signature: RpcSignature,
                    prepare: bool = True) -> Any:
        """One call: an autocommitted statement, or as ``role`` the claims and the call in
        one transaction (rolled back on error, so a repeat starts clean). ``prepare``:
        prepared on first use when the connection prepares at all (psycopg's threshold
        would leave each pooled connection parsing its first calls of every RPC)."""
        if self.role is None:  # one autocommitted statement: no BEGIN/COMMIT trips
            return await _run(conn, query, params, signature, prepare)
        async with conn.transaction():
            await conn.execute(
                "select set_config('request.jwt.claims', %s, true), set_config('role', %s, true)",
                (json.dumps(self.claims or {"role": self.role}), self.role), prepare=prepare)
            return await _run(conn, query, params, signature, prepare)

    def _statement(self, conn: Any, fn: str, args: Mapping[str, Any], signature: RpcSignature,
                   columns: Sequence[str] | None, as_text: bool = False) -> tuple[bytes, list[Any]]:
        """``rpc_statement``'s text, composed once per function, argument names, columns
        and ``as_text`` (composing it costs more than a batch claim's own Python work per job)."""
        key = (fn, tuple(args), tuple(columns) if columns else None, as_text)
        text = self._shared.statements.get(key)
        if text is None:
            query, _ = rpc_statement(fn, dict.fromkeys(args), signature, columns, as_text=as_text)
            text = self._shared.statements[key] = query.as_bytes(conn)
        return text, [_adapt(value, signature.arg_types[name]) for name, value in args.items()]

    async def _signature(self, conn: Any, fn: str, args: Mapping[str, Any]) -> RpcSignature:
        if fn not in self._shared.signatures:
            rows = await (await conn.execute(SIGNATURE_QUERY, (fn,), prepare=False)).fetchall()
            self._shared.signatures[fn] = [RpcSignature(r["retset"], r["args"]) for r in rows]
        return choose_signature(fn, self._shared.signatures[fn], args)

    async def aclose(self) -> None:
        """Close the pool (only the transport that created it does); a ``lane()`` view
        gives its connection back."""
        if self._lane is not None:
            await self._lane.aclose()
        if self._owns_pool and self._shared.opened:
            for lane in list(self._shared.lanes):
                await lane.aclose()
            await self._shared.pool.close()
            self._shared.opened = False


def choose_signature(fn: str, candidates: list[RpcSignature], args: Mapping[str, Any]) -> RpcSignature:
    """The overload that takes every argument named in ``args`` (``SchemaMismatch`` if none)."""
    for candidate in candidates:
        if set(args) <= set(candidate.arg_types):
            return candidate
    raise error_from_code("42883", f"collab.{fn} with arguments ({', '.join(args)}) does not exist")


def rpc_statement(fn: str, args: Mapping[str, Any], signature: RpcSignature,
                  columns: Sequence[str] | None = None, *,
                  as_text: bool = False) -> tuple[sql.Composable, list[Any]]:
    """The statement calling ``collab.<fn>`` with ``args`` by name, each cast to its
    declared type (as PostgREST binds a JSON body), and its parameters; ``columns``
    selects only those of a set-returning function's rows; ``as_text`` casts a scalar
    function's value to ``text`` (``call_text``; a set-returning function is refused)."""
    named = sql.SQL(", ").join(
        sql.SQL("{} => %s::{}").format(sql.Identifier(name), sql.SQL(signature.arg_types[name]))
        for name in args)
    target = sql.SQL("{}.{}({})").format(sql.Identifier("collab"), sql.Identifier(fn), named)
    if as_text:
        if signature.returns_set:
            raise ValueError(f"collab.{fn} returns rows: only a scalar answer can be read as text")
        query = sql.SQL("select {}::text as value").format(target)
    elif not signature.returns_set:
        query = sql.SQL("select {} as value").format(target)
    elif columns:
        query = sql.SQL("select {} from {}").format(sql.SQL(", ").join(map(sql.Identifier, columns)), target)
    else:
        query = sql.SQL("select * from {}").format(target)
    params = [_adapt(value, signature.arg_types[name]) for name, value in args.items()]
    return query, params


def _adapt(value: Any, pg_type: str) -> Any:
    if value is not None and pg_type in ("jsonb", "json"):
        return Jsonb(value, dumps=_as_is) if isinstance(value, JsonText) else Jsonb(value)
    return value


def _as_is(text: JsonText) -> bytes:
    """``JsonText``'s bytes, which are its JSON already (psycopg's ``dumps`` for it)."""
    return text


async def _run(conn: Any, query: sql.Composable | bytes, params: list[Any], signature: RpcSignature,
               prepare: bool = False) -> Any:
    rows = await (await conn.execute(query, params, prepare=prepare)).fetchall()
    if signature.returns_set:
        return rows
    return rows[0]["value"] if rows else None


def _translate(exc: psycopg.Error, *, anonymous: bool) -> CollabError:
    if exc.sqlstate is None:  # no connection (refused, lost, a pool timeout, a pooler's FATAL)
        return Unavailable(f"database unavailable: {exc}")
    diag = exc.diag
    return error_from_code(exc.sqlstate, diag.message_primary or str(exc), hint=diag.message_hint,
                           details=diag.message_detail, anonymous=anonymous)
