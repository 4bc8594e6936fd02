"""``collab dev``'s development identity (``collab_sdk.http.devauth``) over the real app and
database: credential-less requests pass from loopback pages only; sent tokens are still
checked; ``collab dev`` refuses a non-loopback address."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collab_sdk.auth.tokens import AuthConfig
from collab_sdk.cli import main as cli_main
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.http import Runtime, Settings
from collab_sdk.http.devauth import LoopbackAuthenticator
from collab_sdk.transports.postgres import PostgresTransport
from http_support import SECRET, assert_error, serving

LOOPBACK = {"host": "127.0.0.1:3100"}


@pytest.fixture
def http(db_url: str) -> Iterator[object]:
    runtime = Runtime(AsyncCollabClient(PostgresTransport(db_url, max_size=2)),
                      LoopbackAuthenticator(AuthConfig(mode="local", jwt_secret=SECRET)),
                      Settings(rate_limit=0))
    with serving(runtime) as client:
        yield client


def test_a_loopback_page_needs_no_sign_in(http: object) -> None:
    for headers in (LOOPBACK, {"host": "localhost:3100", "origin": "http://localhost:3000"},
                    {"host": "[::1]:3100", "sec-fetch-site": "same-origin"}):
        response = http.post("/api/jobs/enqueue", json={"type": "t"}, headers=headers)  # type: ignore[attr-defined]
        assert response.status_code == 200, response.text
    assert http.get("/api/jobs", headers=LOOPBACK).json()["count"] == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("headers", [
    {"host": "evil.example:3100"},                                   # DNS rebinding
    {"host": "testserver"},
    {**LOOPBACK, "origin": "https://evil.example"},                  # a cross-site page
    {**LOOPBACK, "origin": "null"},
    {**LOOPBACK, "sec-fetch-site": "cross-site"},
])
def test_other_sites_get_no_development_identity(http: object, headers: dict[str, str]) -> None:
    response = http.delete("/api/jobs", headers=headers)  # type: ignore[attr-defined]
    assert_error(response, 401, "dev_identity_refused")


def test_sent_credentials_are_still_checked(http: object) -> None:
    response = http.get("/api/jobs", headers={**LOOPBACK, "authorization": "Bearer nope"})  # type: ignore[attr-defined]
    assert response.status_code == 401 and response.json()["error"]["code"] != "dev_identity_refused"


def test_collab_dev_refuses_a_non_loopback_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["dev", "--host", "0.0.0.0", "--database-url", "postgresql://127.0.0.1:1/x"]) == 2
    assert "loopback only" in capsys.readouterr().err
