"""A test-side stand-in for Supabase's API gateway + PostgREST, answering
``POST <SUPABASE_URL>/rest/v1/rpc/<fn>`` (a respx side effect) against a real database.

What it does per request, as PostgREST (v12) does:

1. **Gateway:** ``apikey`` must be one of this project's keys (else 401, Kong's
   ``{"message": "Invalid API key"}``). Without ``Authorization``, a new ``sb_secret_…``
   key stands for ``service_role`` and ``sb_publishable_…`` for ``anon`` (the gateway
   mints a JWT for them); ``Authorization`` equal to the ``apikey`` is treated the same.
2. **JWT:** ``Authorization: Bearer <jwt>`` must be an HS256 JWT signed with
   ``JWT_SECRET`` and not expired, else 401 ``PGRST301``. Its ``role`` claim is the role
   (no JWT → ``anon``).
3. **Schema:** ``Content-Profile`` picks the schema (default: the first exposed one); one
   not in ``EXPOSED_SCHEMAS`` → 406 ``PGRST106``. The body must be a JSON object
   (``PGRST102``) sent as ``application/json`` (``PGRST107``).
4. **Schema cache:** the function is looked up in ``pg_proc`` by name and by argument
   names (the body's keys must be parameters, and every parameter without a default
   must be given), else 404 ``PGRST202``.
5. **Transaction:** ``BEGIN`` (``READ ONLY`` for STABLE/IMMUTABLE functions), ``SET
   LOCAL ROLE <role>``, ``request.jwt.claims`` / ``request.method`` / ``request.path`` /
   ``request.headers`` as transaction-local settings, then ``collab.<fn>(name => …)``
   with the arguments typed by ``json_to_record`` from the JSON body, as PostgREST binds
   them.
6. **Answer:** a JSON array of rows for a set-returning function (only the columns
   ``?select=a,b`` names, when it does), the value (``to_json``) otherwise. A set-returning function's rows are cut at ``max_rows`` (PostgREST's
   ``db-max-rows``; Supabase's ``[api] max_rows``, 1,000 by default, local and hosted):
   the function runs in full, the answer holds the first ``max_rows`` rows and
   ``Content-Range: 0-<max_rows - 1>/*``; errors as ``{code, details, hint, message}`` with PostgREST's
   SQLSTATE→HTTP status table (``http_status``).

Sources: https://docs.postgrest.org/en/v12/references/errors.html (status table, PGRST
codes), …/references/transactions.html (access mode by volatility, transaction-scoped
settings), …/references/api/functions.html (named arguments from the JSON body).

Requests to other hosts pass through; other paths of ``SUPABASE_URL`` (Storage…) are
left for the test to mock on ``router``. Every RPC request is kept in ``requests``; ``faults`` (responses or exceptions) are served,
one per request, before anything else — to simulate a flaky network or gateway.

``PostgrestServer`` serves the same handler on a real local port (uvicorn in a thread of
its own, with its own event loop), for another process — ``collab serve`` with
``SUPABASE_URL=server.url`` — to reach.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import jwt
import psycopg
import respx
from psycopg import sql
from psycopg_pool import AsyncConnectionPool
from respx.patterns import M

from support.secret_capture import register_secret

SUPABASE_URL = "http://supabase.test:54321"
JWT_SECRET = "collab-standin-jwt-secret-at-least-32-characters-long"
SECRET_KEY = "sb_secret_collabStandinSecretKey0000000"
PUBLISHABLE_KEY = "sb_publishable_collabStandinPublishableKey00"
register_secret(JWT_SECRET, SECRET_KEY)  # the publishable key is public
EXPOSED_SCHEMAS = ("public", "graphql_public", "collab")
#: Supabase's ``[api] max_rows`` default (the CLI's template and hosted projects).
DEFAULT_MAX_ROWS = 1000


def make_jwt(claims: dict[str, Any], *, expires_in: int = 3600, secret: str = JWT_SECRET) -> str:
    """An HS256 JWT with these claims, issued now, expiring in ``expires_in`` seconds."""
    now = int(time.time())
    return jwt.encode({"iss": "supabase-standin", "iat": now, "exp": now + expires_in, **claims},
                      secret, algorithm="HS256")


def user_token(user_id: uuid.UUID | str, **kw: Any) -> str:
    """A user session's access token: role ``authenticated``, ``sub`` the user."""
    return make_jwt({"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}, **kw)


#: The legacy JWT keys of the same project.
ANON_KEY = make_jwt({"role": "anon"}, expires_in=10 * 365 * 86400)
SERVICE_ROLE_KEY = make_jwt({"role": "service_role"}, expires_in=10 * 365 * 86400)

_EXACT_STATUS = {"23503": 409, "23505": 409, "25006": 405, "53400": 500, "P0001": 400,
                 "42883": 404, "42P01": 404, "42P17": 500}
_CLASS_STATUS = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500,
                 "38": 500, "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500,
                 "57": 500, "58": 500, "F0": 500, "HV": 500, "P0": 500, "XX": 500}


def http_status(sqlstate: str, *, anonymous: bool) -> int:
    """PostgREST's HTTP status for a PostgreSQL error (anything unlisted is 400)."""
    if sqlstate == "42501":
        return 401 if anonymous else 403
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    return _EXACT_STATUS.get(sqlstate) or _CLASS_STATUS.get(sqlstate[:2], 400)


_FUNCTIONS_QUERY = """
select p.proretset, p.provolatile in ('s', 'i'), p.pronargdefaults,
       array(select array[a.name, format_type(a.typ, null)]
               from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                           coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs])))
                    with ordinality as a(typ, name, mode, n)
              where a.mode in ('i', 'b', 'v') order by a.n)
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = %s and p.proname = %s
"""


@dataclass(frozen=True)
class _Function:
    retset: bool
    read_only: bool
    ndefaults: int
    params: list[list[str]]  # [name, type] of the input parameters, in order

    def accepts(self, keys: set[str]) -> bool:
        names = [name for name, _ in self.params]
        return keys <= set(names) and set(names[:len(names) - self.ndefaults]) <= keys


class PostgrestError(Exception):
    """An error answer: PostgREST's body and ``Proxy-Status`` header."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None,
                 hint: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "details": details, "hint": hint, "message": message}
        self.headers = {"Proxy-Status": f"PostgREST; error={code}", **(headers or {})}

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, json=self.body, headers=self.headers)


class PostgrestStandin:
    """``async with PostgrestStandin(db_url) as api:`` — Supabase's REST API, mocked."""

    def __init__(self, db_url: str, *, base_url: str = SUPABASE_URL,
                 max_rows: int | None = DEFAULT_MAX_ROWS,
                 exposed_schemas: tuple[str, ...] = EXPOSED_SCHEMAS) -> None:
        self.db_url = db_url
        #: The Data API's exposed schemas (PostgREST's ``db-schemas``).
        self.exposed_schemas = exposed_schemas
        #: PostgREST's ``db-max-rows`` (None: no cap).
        self.max_rows = max_rows
        self.base_url = httpx.URL(base_url)
        self.requests: list[httpx.Request] = []
        self.faults: deque[httpx.Response | Exception] = deque()
        self.router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        self._cache: dict[tuple[str, str], list[_Function]] = {}
        self._pool = AsyncConnectionPool(db_url, min_size=1, max_size=8, open=False,
                                         kwargs={"autocommit": True})

    def rpc_requests(self, fn: str | None = None) -> list[httpx.Request]:
        """The recorded RPC requests (to ``fn`` only, when given)."""
        return [r for r in self.requests if r.url.path.startswith("/rest/v1/rpc/")
                and (fn is None or r.url.path == f"/rest/v1/rpc/{fn}")]

    def responses(self, fn: str | None = None) -> list[httpx.Response]:
        """The answers to ``rpc_requests(fn)``, in order."""
        sent = self.rpc_requests(fn)
        return [call.response for call in self.router.calls
                if any(call.request is r for r in sent) and call.response is not None]

    async def open(self) -> None:
        """Open the database pool (``__aenter__`` does, then intercepts httpx)."""
        await self._pool.open()

    async def close(self) -> None:
        """Close the database pool."""
        await self._pool.close()

    async def __aenter__(self) -> PostgrestStandin:
        await self.open()
        self.router.route(host=self.base_url.host, port=self.base_url.port, method="POST",
                          path__regex=r"^/rest/v1/rpc/[^/]+$").mock(side_effect=self._handle)
        # Other hosts go out for real; other Supabase paths (Storage…) are for the test to mock.
        self.router.route(~M(host=self.base_url.host, port=self.base_url.port)).pass_through()
        self.router.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.router.stop()
        await self.close()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request to ``/rest/v1/rpc/<fn>`` as the gateway and PostgREST would."""
        return await self._handle(request)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            fault = self.faults.popleft()
            if isinstance(fault, Exception):
                raise fault
            return fault
        try:
            role, claims = self._authenticate(request)
            return await self._rpc(request, role, claims)
        except PostgrestError as error:
            return error.response()

    def _authenticate(self, request: httpx.Request) -> tuple[str, dict[str, Any]]:
        key = request.headers.get("apikey", "")
        if key not in (SECRET_KEY, PUBLISHABLE_KEY, ANON_KEY, SERVICE_ROLE_KEY):
            raise _gateway_error(401, "Invalid API key")
        auth = request.headers.get("authorization")
        if auth is None or (key.startswith("sb_") and auth == f"Bearer {key}"):
            if key == SECRET_KEY:
                return "service_role", {"role": "service_role"}
            return "anon", {"role": "anon"}
        token = auth.removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"],
                                options={"verify_aud": False})
        except jwt.PyJWTError as exc:
            raise PostgrestError(401, "PGRST301", str(exc), headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc}"'}) from exc
        return str(claims.get("role") or "anon"), claims

    async def _rpc(self, request: httpx.Request, role: str, claims: dict[str, Any]) -> httpx.Response:
        fn = request.url.path.rsplit("/", 1)[1]
        schema = request.headers.get("content-profile", self.exposed_schemas[0])
        if schema not in self.exposed_schemas:
            raise PostgrestError(406, "PGRST106", "The schema must be one of the following: "
                                 + ", ".join(self.exposed_schemas))
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise PostgrestError(415, "PGRST107", "The Content-Type is not supported")
        try:
            body = json.loads(request.content or b"{}")
        except ValueError as exc:
            raise PostgrestError(400, "PGRST102", "Empty or invalid json") from exc
        if not isinstance(body, dict):
            raise PostgrestError(400, "PGRST102", "Empty or invalid json")
        function = await self._lookup(schema, fn, set(body))
        async with self._pool.connection() as conn:
            try:
                async with conn.transaction():
                    if function.read_only:
                        await conn.execute("set transaction read only")
                    await conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
                    await conn.execute(
                        "select set_config('request.jwt.claims', %s, true),"
                        " set_config('request.method', 'POST', true), set_config('request.path', %s, true),"
                        " set_config('request.headers', %s, true)",
                        (json.dumps(claims), request.url.path,
                         json.dumps({k.lower(): v for k, v in request.headers.items()})))
                    select = request.url.params.get("select")
                    columns = [c.strip() for c in select.split(",")] if select and select != "*" else None
                    cursor = await conn.execute(_call_query(schema, fn, function, body, self.max_rows, columns),
                                                [json.dumps(body)] if body else [])
                    text, count = (await cursor.fetchone()) or (None, 0)
            except psycopg.Error as exc:
                if exc.sqlstate is None:
                    raise
                diag = exc.diag
                raise PostgrestError(http_status(exc.sqlstate, anonymous=role == "anon"), exc.sqlstate,
                                     diag.message_primary or str(exc), diag.message_detail,
                                     diag.message_hint) from exc
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if function.retset:
            headers["Content-Range"] = f"0-{count - 1}/*" if count else "*/0"
        return httpx.Response(200, content=(text or "null").encode(), headers=headers)

    async def _lookup(self, schema: str, fn: str, keys: set[str]) -> _Function:
        if (schema, fn) not in self._cache:
            async with self._pool.connection() as conn:
                rows = await (await conn.execute(_FUNCTIONS_QUERY, (schema, fn))).fetchall()
            self._cache[schema, fn] = [_Function(*row) for row in rows]
        for function in self._cache[schema, fn]:
            if function.accepts(keys):
                return function
        names = ", ".join(sorted(keys))
        raise PostgrestError(
            404, "PGRST202", f"Could not find the function {schema}.{fn}({names}) in the schema cache",
            f"Searched for the function {schema}.{fn} with parameters {names} or with a single unnamed "
            "json/jsonb parameter, but no matches were found in the schema cache.")


def _call_query(schema: str, fn: str, function: _Function, body: dict[str, Any],
                max_rows: int | None = None, selected: list[str] | None = None) -> sql.Composed:
    """``collab.fn(a => args.a, …)`` with ``args`` typed by ``json_to_record`` (as PostgREST),
    a set's rows cut at ``max_rows`` (the function itself runs to the end first), each
    row only the ``selected`` columns when the request names them (``?select=a,b``)."""
    given = [(sql.Identifier(name), pg_type) for name, pg_type in function.params if name in body]
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(fn))
    call = sql.SQL("{}({})").format(target, sql.SQL(", ").join(
        sql.SQL("{0} => pgrst_args.{0}").format(name) for name, _ in given))
    source: sql.Composable = sql.SQL("")
    if given:  # the types come from pg_catalog (format_type), not from the request
        columns = sql.SQL(", ").join(sql.SQL("{} {}").format(name, sql.SQL(pg_type)) for name, pg_type in given)
        source = sql.SQL(" from json_to_record(%s::json) as pgrst_args({})").format(columns)
    if function.retset:
        rows = sql.SQL("select pgrst_row{}{} pgrst_row").format(
            source, sql.SQL(", lateral {}" if given else " from {}").format(call))
        if max_rows is not None:
            # A materialized CTE runs the function to its end, as PostgREST's does; then cut.
            rows = sql.SQL("with pgrst_all as materialized ({}) select pgrst_row from pgrst_all limit {}").format(
                rows, sql.Literal(max_rows))
        row: sql.Composable = sql.SQL("r.pgrst_row")
        if selected:
            row = sql.SQL("json_build_object({})").format(sql.SQL(", ").join(
                sql.SQL("{}, (r.pgrst_row).{}").format(sql.Literal(c), sql.Identifier(c)) for c in selected))
        return sql.SQL("select coalesce(json_agg({}), '[]')::text, count(*) from ({}) r").format(row, rows)
    return sql.SQL("select to_json({})::text, 1{}").format(call, source)


def _gateway_error(status: int, message: str) -> PostgrestError:
    """The API gateway's own answer (Kong): no PostgREST code."""
    error = PostgrestError(status, "", message)
    error.body, error.headers = {"message": message}, {}
    return error


class PostgrestServer:
    """``with PostgrestServer(db_url) as server:`` — the stand-in's handler over HTTP at
    ``server.url`` (``http://127.0.0.1:<port>``) until the block ends; ``server.api``
    is the ``PostgrestStandin`` (its ``requests`` are recorded as usual)."""

    def __init__(self, db_url: str, **standin: Any) -> None:
        import uvicorn  # collab-sdk[http]: only the tests that serve need it

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = PostgrestStandin(db_url, base_url=self.url, **standin)
        self._server = uvicorn.Server(uvicorn.Config(self._app, host="127.0.0.1", port=self.port,
                                                     lifespan="on", log_level="warning",
                                                     interface="asgi3"))
        self._thread = threading.Thread(target=self._server.run, name="postgrest-standin", daemon=True)

    def __enter__(self) -> PostgrestServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the PostgREST stand-in did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI app: lifespan opens and closes the pool; POST /rest/v1/rpc/<fn>
        goes to the stand-in, anything else is 404."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.api.open()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.api.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        request = httpx.Request(scope["method"], f"{self.url}{scope['path']}" + (f"?{query}" if query else ""),
                                headers=[(k.decode(), v.decode()) for k, v in scope["headers"]],
                                content=body)
        if scope["method"] == "POST" and re.fullmatch(r"/rest/v1/rpc/[^/]+", scope["path"]):
            response = await self.api.handle(request)
        else:
            response = httpx.Response(404, json={"message": "no Route matched with those values"})
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()
                                if k.lower() not in ("content-length", "transfer-encoding")]})
        await send({"type": "http.response.body", "body": response.content})
