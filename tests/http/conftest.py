"""Fixtures for the HTTP surface: the real ASGI app over the test's own database (through
Starlette's test client), and ``collab serve`` as a real process (``server``); helpers in
``http_support``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collab_sdk.local.storage import LocalStorage
from http_support import STORAGE_SECRET, Api, Server, make_runtime, serving, start_server
from support import Caller


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage", base_url="http://localhost", secret=STORAGE_SECRET)


@pytest.fixture
def api(db_url: str, owner: Caller, storage: LocalStorage) -> Iterator[Api]:
    runtime = make_runtime(db_url, storage)
    with serving(runtime) as http:
        yield Api(http, runtime, owner, storage)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    with start_server(db_url, tmp_path) as running:
        yield running
