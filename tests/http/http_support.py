"""Helpers for the HTTP tests (a module of its own: every test folder has a ``conftest``).

``Api``: Flask's test client plus helpers that mint local HS256 tokens
(``api.token_for(user)``) for users made members of executors (``api.user({"ex": "worker"})``).
The API key ``API_KEY`` is a trusted (service-role) caller.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from collab_sdk.auth.tokens import AuthConfig, Authenticator, mint_token
from collab_sdk.http import Runtime, Settings, create_app
from collab_sdk.transports.postgres import PostgresTransport
from collab_sdk.local.storage import LocalStorage
from collab_sdk.client.sync import CollabClient
from support import Caller, add_members

SECRET = "test-secret-for-http-tests-0123456789abcdef"
API_KEY = "test-api-key-0123456789"


@dataclass
class Api:
    """The app under test and ways to call it as different callers."""

    http: FlaskClient
    runtime: Runtime
    owner: Caller
    storage: LocalStorage

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


def assert_error(response: Any, status: int, code: str) -> None:
    """``response`` is the error envelope with this status and code, and no traceback."""
    assert response.status_code == status, (response.status_code, response.get_data())
    body = response.json
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code, body
    assert "Traceback" not in body["error"]["message"]
