"""Fixtures for the HTTP surface: the real Flask app over the test's own database
(helpers in ``http_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collab_sdk.http import create_app
from collab_sdk.storage import LocalStorage
from http_support import Api, make_runtime
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
