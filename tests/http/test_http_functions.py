"""Each function directory is a working functions-framework target: its app (built by
functions-framework itself, in ASGI mode) serves the same route as the Collab API."""

from __future__ import annotations

import os
import sys
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from functions_framework import create_app as functions_app

from support import REPO
from support.processes import LoggedProcess
from collab_sdk.http import runtime as runtime_module
from collab_sdk.http.routes import FUNCTIONS
from http_support import SECRET, Api, TestClient, assert_error, free_port

FUNCTIONS_DIR = REPO / "functions"


@pytest.fixture
def deployed_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment a deployed function reads, over the test's database."""
    for name, value in {"COLLAB_DATABASE_URL": db_url, "COLLAB_JWT_MODE": "local",
                        "SUPABASE_JWT_SECRET": SECRET, "COLLAB_STORAGE_DIR": str(tmp_path / "s"),
                        "COLLAB_RATE_LIMIT": "off", "COLLAB_REQUIRE_JWT": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(runtime_module, "_shared", weakref.WeakKeyDictionary())
    yield


async def _close_shared() -> None:
    for runtime in list(runtime_module._shared.values()):
        await runtime.aclose()


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
    route = FUNCTIONS[name]
    with TestClient(app) as http:  # functions-framework's app is Starlette: its test client
        try:
            assert_error(http.request(route.method, "/"), 401, "missing_credentials")
            token = api.user({"ex": "worker"})
            headers = {"Authorization": f"Bearer {token}"}
            if name == "dlq-retry":
                assert_error(http.post("/", json={"dlqId": "00000000-0000-0000-0000-000000000000"},
                                       headers=headers), 404, "not_found")
            elif name == "sign-artifact":
                assert_error(http.get("/?path=../x", headers=headers), 400, "invalid_query")
            else:
                response = http.request(route.method, "/", headers=headers)
                assert response.status_code == 200, response.json()
                assert response.headers["X-Request-Id"]
        finally:
            assert http.portal is not None
            http.portal.call(_close_shared)


def test_functions_framework_serves_a_target_from_the_command_line(db_url: str, api: Api,
                                                                    tmp_path: Path) -> None:
    """`functions-framework --target dlq_list` (ASGI mode, found from the target itself)."""
    port = free_port()
    env = {**os.environ, "COLLAB_DATABASE_URL": db_url, "COLLAB_JWT_MODE": "local",
           "SUPABASE_JWT_SECRET": SECRET, "COLLAB_STORAGE_DIR": str(tmp_path / "s"),
           "COLLAB_RATE_LIMIT": "off"}
    command = [str(Path(sys.executable).with_name("functions-framework")), "--source",
               str(FUNCTIONS_DIR / "dlq-list" / "main.py"), "--target", "dlq_list", "--port", str(port)]
    proc = LoggedProcess(command, tmp_path / "ff.log", env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/?limit=5",
                                     headers=api.bearer(api.user({"ex": "worker"})), timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.output()
                time.sleep(0.1)
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "count": 0, "nextCursor": None}
        assert response.headers["server"] == "uvicorn"
    finally:
        proc.stop(graceful=True, timeout=10)
