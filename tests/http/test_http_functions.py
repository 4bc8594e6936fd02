"""Each function directory is a working functions-framework target: its app (built by
functions-framework itself) serves the same route as the Collab API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from functions_framework import create_app as functions_app

from support import REPO
from collab_sdk.http import runtime as runtime_module
from collab_sdk.http.routes import FUNCTIONS
from http_support import SECRET, Api, assert_error

FUNCTIONS_DIR = REPO / "functions"


@pytest.fixture
def deployed_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment a deployed function reads, over the test's database."""
    for name, value in {"COLLAB_DATABASE_URL": db_url, "COLLAB_JWT_MODE": "local",
                        "SUPABASE_JWT_SECRET": SECRET, "COLLAB_STORAGE_DIR": str(tmp_path / "s"),
                        "COLLAB_RATE_LIMIT": "off", "COLLAB_REQUIRE_JWT": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(runtime_module, "_shared", None)
    yield
    if runtime_module._shared is not None:
        runtime_module._shared.close()


def _target(name: str) -> str:
    return name.replace("-", "_")


def test_every_function_has_a_directory() -> None:
    dirs = {p.parent.name for p in FUNCTIONS_DIR.glob("*/main.py")}
    assert dirs == set(FUNCTIONS)
    for name in FUNCTIONS:
        assert "collab-sdk" in (FUNCTIONS_DIR / name / "requirements.txt").read_text()
        assert f"`{_target(name)}`" in (FUNCTIONS_DIR / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_serves_its_route(name: str, deployed_env: None, api: Api) -> None:
    app = functions_app(target=_target(name), source=str(FUNCTIONS_DIR / name / "main.py"))
    http = app.test_client()
    route = FUNCTIONS[name]
    assert_error(http.open("/", method=route.method), 401, "missing_credentials")
    token = api.user({"ex": "worker"})
    headers = {"Authorization": f"Bearer {token}"}
    if name == "dlq-retry":
        assert_error(http.post("/", json={"dlqId": "00000000-0000-0000-0000-000000000000"}, headers=headers),
               404, "not_found")
    elif name == "sign-artifact":
        assert_error(http.get("/?path=../x", headers=headers), 400, "invalid_path")
    else:
        response = http.open("/", method=route.method, headers=headers)
        assert response.status_code == 200, response.json
        assert response.headers["X-Request-Id"]
