"""Artifacts: bytes in (local) Storage, a row with size/mime/sha256, signed URLs."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import LeaseLost, NotFound, StorageError, ValidationError
from collab_sdk.local.storage import LocalStorage, verify_signed_url_token
from support.secret_capture import register_secret

SECRET = "a-test-signing-secret-of-32-bytes!!"
register_secret(SECRET)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "objects", base_url="http://localhost:3100", secret=SECRET)


@pytest.fixture
def client_with_storage(client: AsyncCollabClient, storage: LocalStorage) -> AsyncCollabClient:
    client.storage = storage
    return client


async def test_upload_records_row_and_signs(client_with_storage: AsyncCollabClient, storage: LocalStorage,
                                            tmp_path: Path) -> None:
    client = client_with_storage
    job_id = (await client.assign("t.art", executor_id="ex")).job_id
    source = tmp_path / "shot.png"
    source.write_bytes(b"\x89PNG fake")
    artifact = await client.upload_artifact(job_id, "shot.png", file=source)
    assert artifact.path == f"ex/{job_id}/shot.png" and artifact.bucket == "artifacts"
    assert artifact.size == 9 and artifact.mime == "image/png"
    assert artifact.sha256 == hashlib.sha256(b"\x89PNG fake").hexdigest()
    assert storage.object_file("artifacts", artifact.path).read_bytes() == b"\x89PNG fake"

    url = await client.sign_artifact(artifact.path, expires_in=60, job_id=job_id)
    parts = urlsplit(url)
    assert url.startswith(f"http://localhost:3100/storage/v1/object/sign/artifacts/ex/{job_id}/shot.png?")
    token = parse_qs(parts.query)["token"][0]
    verify_signed_url_token(SECRET, "artifacts", artifact.path, token)
    with pytest.raises(StorageError):
        verify_signed_url_token(SECRET, "artifacts", "ex/other/shot.png", token)
    with pytest.raises(StorageError):
        verify_signed_url_token("another-signing-secret-of-32-bytes", "artifacts", artifact.path, token)


async def test_signed_url_expires(storage: LocalStorage, client_with_storage: AsyncCollabClient) -> None:
    job_id = (await client_with_storage.assign("t.art", executor_id="ex")).job_id
    artifact = await client_with_storage.upload_artifact(job_id, "a.txt", b"a")
    url = await client_with_storage.sign_artifact(artifact.path, expires_in=1)
    token = parse_qs(urlsplit(url).query)["token"][0]
    time.sleep(2.1)
    with pytest.raises(StorageError, match="expired"):
        verify_signed_url_token(SECRET, "artifacts", artifact.path, token)


@pytest.mark.parametrize("name, data, file, error", [
    ("../escape", b"x", None, ValidationError),
    ("ok.txt", None, None, ValidationError),
    ("ok.txt", "text, not bytes", None, ValidationError),
    ("ok.txt", None, "/nonexistent/file", ValidationError),
])
async def test_bad_uploads(client_with_storage: AsyncCollabClient, name: str, data: Any, file: Any,
                           error: type[Exception]) -> None:
    job_id = (await client_with_storage.assign("t.art", executor_id="ex")).job_id
    with pytest.raises(error):
        await client_with_storage.upload_artifact(job_id, name, data, file=file)
    assert await client_with_storage.artifacts(job_id) == []


async def test_fenced_upload_and_foreign_paths(client_with_storage: AsyncCollabClient) -> None:
    client = client_with_storage
    job_id = (await client.assign("t.art", executor_id="ex")).job_id
    with pytest.raises(LeaseLost):
        await client.upload_artifact(job_id, "late.txt", b"x", worker_id="w-not-holding")
    assert await client.artifacts(job_id) == []
    with pytest.raises(NotFound):
        await client.sign_artifact(f"ex/{job_id}/late.txt", job_id=job_id)
    with pytest.raises(ValidationError):
        await client.sign_artifact("../etc/passwd")
    with pytest.raises(ValidationError):
        await client.sign_artifact(f"ex/{job_id}/x", expires_in=0)
