"""Fixtures for the HTTP surface: the real Flask app over the test's own database, and
``collab serve`` as a real process (``server``); helpers in ``http_support``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collab_sdk.http import create_app
from collab_sdk.local.storage import LocalStorage
from http_support import SECRET, Api, make_runtime
from support import Caller


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], dict[str, str]]]:
    port = _free_port()
    env = {**os.environ, "COLLAB_DATABASE_URL": db_url, "COLLAB_JWT_MODE": "local",
           "SUPABASE_JWT_SECRET": SECRET, "COLLAB_STORAGE_DIR": str(tmp_path / "storage"),
           "COLLAB_RATE_LIMIT": "1000/60", "COLLAB_REQUIRE_JWT": "1"}
    env.pop("COLLAB_PUBLIC_URL", None)
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "collab_sdk.cli.main", "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/collab/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "collab serve did not start"
            time.sleep(0.1)
        yield base, proc, env
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
