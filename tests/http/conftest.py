"""Fixtures for the HTTP surface: the real Flask app over the test's own database.

``api`` is an ``Api``: Flask's test client plus helpers that mint local HS256 tokens
(``api.token_for(user)``) for users made members of executors (``api.user({"ex": "worker"})``).
The API key ``API_KEY`` is a trusted (service-role) caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from collab_sdk.auth import AuthConfig, Authenticator, mint_token
from collab_sdk.http import Runtime, Settings, create_app
from collab_sdk.postgres import PostgresTransport
from collab_sdk.storage import LocalStorage
from collab_sdk.sync import CollabClient
from support import Caller

SECRET = "test-secret-for-http-tests-0123456789abcdef"
API_KEY = "test-api-key-0123456789"


@dataclass
class Api:
    """The app under test and ways to call it as different callers."""

    http: FlaskClient
    runtime: Runtime
    owner: Caller
    storage: LocalStorage
    users: list[uuid.UUID] = field(default_factory=list)

    def user(self, memberships: dict[str, str] | None = None) -> str:
        """A new user with these memberships; its bearer token."""
        user_id = uuid.uuid4()
        for executor_id, role in (memberships or {}).items():
            self.owner.rpc("add_executor_member_v1", executor_id=executor_id, user_id=user_id, role=role)
        return self.token_for(user_id, memberships)

    def token_for(self, user_id: uuid.UUID | str, executors: dict[str, str] | None = None,
                  **kw: Any) -> str:
        return mint_token(SECRET, sub=str(user_id), executors=executors, **kw)

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def as_service(self) -> dict[str, str]:
        return {"x-api-key": API_KEY}

    def get(self, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = {**(self.bearer(token) if token else self.as_service()), **kw.pop("headers", {})}
        return self.http.get(path, headers=headers, **kw)

    def post(self, path: str, body: Any = None, token: str | None = None, **kw: Any) -> Any:
        headers = {**(self.bearer(token) if token else self.as_service()), **kw.pop("headers", {})}
        return self.http.post(path, json=body, headers=headers, **kw)

    def delete(self, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = {**(self.bearer(token) if token else self.as_service()), **kw.pop("headers", {})}
        return self.http.delete(path, headers=headers, **kw)


def make_runtime(db_url: str, storage: LocalStorage, settings: Settings | None = None,
                 **auth: Any) -> Runtime:
    config = AuthConfig(**{"mode": "local", "jwt_secret": SECRET, "api_key": API_KEY, **auth})
    client = CollabClient(PostgresTransport(db_url, max_size=4), storage=storage)
    return Runtime(client, Authenticator(config), settings or Settings(rate_limit=0))


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage", base_url="http://localhost", secret="s" * 40)


@pytest.fixture
def api(db_url: str, owner: Caller, storage: LocalStorage) -> Iterator[Api]:
    runtime = make_runtime(db_url, storage)
    app = create_app(runtime)
    try:
        yield Api(app.test_client(), runtime, owner, storage)
    finally:
        runtime.close()
