"""Helpers for the HTTP tests (a module of its own: every test folder has a ``conftest``).

``Api``: Starlette's test client over the real ASGI app (its lifespan runs, one event
loop for the test) plus helpers that mint local HS256 tokens (``api.token_for(user)``)
for users made members of executors (``api.user({"ex": "worker"})``). The API key
``API_KEY`` is a trusted (service-role) caller. ``serving(runtime)`` is the same client
over another runtime; ``start_server(...)`` runs ``collab serve`` as a real process (its
output checked for secrets when it stops).
"""

from __future__ import annotations

import functools
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx (what collab ships with) works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from collab_sdk.auth.tokens import AuthConfig, Authenticator, mint_token
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.http import Runtime, Settings, create_app
from collab_sdk.local.storage import LocalStorage
from collab_sdk.transports.postgres import PostgresTransport
from support import Caller, add_members
from support.processes import LoggedProcess, free_port
from support.secret_capture import register_secret

SECRET = "test-secret-for-http-tests-0123456789abcdef"
API_KEY = "test-api-key-0123456789"
#: ``LocalStorage``'s signing secret in the HTTP tests.
STORAGE_SECRET = "storage-signing-secret-for-http-tests-0123"
register_secret(SECRET, API_KEY, STORAGE_SECRET)
R = TypeVar("R")


@dataclass
class Api:
    """The app under test and ways to call it as different callers."""

    http: TestClient
    runtime: Runtime
    owner: Caller
    storage: LocalStorage

    def run(self, fn: Callable[..., Awaitable[R]], *args: Any, **kw: Any) -> R:
        """Await ``fn(*args, **kw)`` on the app's event loop (e.g. a runtime client call)."""
        portal = self.http.portal
        assert portal is not None, "the test client is not running"
        return portal.call(functools.partial(fn, *args, **kw))  # type: ignore[arg-type]

    def user(self, memberships: dict[str, str] | None = None) -> str:
        """A new user with these memberships; its bearer token."""
        user_id = uuid.uuid4()
        add_members(self.owner, user_id, memberships or {})
        return self.token_for(user_id, memberships)

    def token_for(self, user_id: uuid.UUID | str, executors: dict[str, str] | None = None,
                  **kw: Any) -> str:
        return mint_token(SECRET, sub=str(user_id), executors=executors, **kw)

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def as_service(self) -> dict[str, str]:
        return {"x-api-key": API_KEY}

    def get(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**(self.bearer(token) if token else self.as_service()), **kw.pop("headers", {})}
        return self.http.get(path, headers=headers, **kw)

    def post(self, path: str, body: Any = None, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**(self.bearer(token) if token else self.as_service()), **kw.pop("headers", {})}
        return self.http.post(path, json=body, headers=headers, **kw)

    def delete(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**(self.bearer(token) if token else self.as_service()), **kw.pop("headers", {})}
        return self.http.delete(path, headers=headers, **kw)


def make_runtime(db_url: str, storage: LocalStorage, settings: Settings | None = None,
                 **auth: Any) -> Runtime:
    config = AuthConfig(**{"mode": "local", "jwt_secret": SECRET, "api_key": API_KEY, **auth})
    client = AsyncCollabClient(PostgresTransport(db_url, max_size=4), storage=storage)
    return Runtime(client, Authenticator(config), settings or Settings(rate_limit=0))


@contextmanager
def serving(runtime: Runtime) -> Iterator[TestClient]:
    """A test client over the app of ``runtime``; the app's lifespan closes the runtime."""
    with TestClient(create_app(runtime)) as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """``response`` is the error envelope with this status and code, and no traceback."""
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code, body
    assert "Traceback" not in body["error"]["message"]


@dataclass
class Server:
    """``collab serve`` running as a process: its base URL, the process, its env, its log."""

    base: str
    proc: LoggedProcess
    env: dict[str, str]
    log: Path

    def __iter__(self) -> Iterator[Any]:  # base, proc, env = server
        return iter((self.base, self.proc, self.env))


@contextmanager
def start_server(db_url: str, tmp_path: Path, *args: str, **env: str) -> Iterator[Server]:
    """``collab serve --port <free>`` over ``db_url`` (local JWTs signed with ``SECRET``)."""
    port = free_port()
    full = {**os.environ, "COLLAB_DATABASE_URL": db_url, "COLLAB_JWT_MODE": "local",
            "SUPABASE_JWT_SECRET": SECRET, "COLLAB_STORAGE_DIR": str(tmp_path / "storage"),
            "COLLAB_RATE_LIMIT": "1000/60", "COLLAB_REQUIRE_JWT": "1", "COLLAB_LOG_FORMAT": "json", **env}
    full.pop("COLLAB_PUBLIC_URL", None)
    log_path = tmp_path / f"serve-{port}.log"
    proc = LoggedProcess([sys.executable, "-m", "collab_sdk.cli.main", "serve", "--port", str(port),
                          *args], log_path, env=full)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/collab/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "collab serve did not start"
            time.sleep(0.1)
        yield Server(base, proc, full, log_path)
    finally:
        proc.stop()
