"""SupabaseStorage: the Storage API requests storage3 makes and the answers it reads,
as the Storage server defines them (supabase/storage: src/http/routes/object/
createObject.ts, getSignedURL.ts, src/http/error-handler.ts)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import StorageError, ValidationError
from collab_sdk.transports.storage import Storage
from collab_sdk.transports.supabase.storage import SupabaseStorage
from collab_sdk.transports.supabase.rpc import SupabaseTransport
from support.postgrest_standin import PUBLISHABLE_KEY, SECRET_KEY, SUPABASE_URL, PostgrestStandin, user_token

STORAGE = f"{SUPABASE_URL}/storage/v1"
TOKEN = user_token(uuid.uuid4())


@pytest.fixture
async def storage() -> AsyncIterator[SupabaseStorage]:
    transport = SupabaseTransport(SUPABASE_URL, PUBLISHABLE_KEY, access_token=TOKEN)
    yield transport.storage()
    await transport.aclose()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def _multipart_part(request: httpx.Request, name: str) -> bytes:
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    for part in request.content.split(b"--" + boundary):
        head, _, payload = part.partition(b"\r\n\r\n")
        if f'name="{name}"'.encode() in head:
            return payload.removesuffix(b"\r\n")
    raise AssertionError(f"no part {name!r}")


async def test_upload_request(storage: SupabaseStorage, api: respx.MockRouter) -> None:
    assert isinstance(storage, Storage)
    route = api.post(f"{STORAGE}/object/artifacts/ex/job-1/shot.png").mock(return_value=httpx.Response(
        200, json={"Key": "artifacts/ex/job-1/shot.png", "id": "2eb16359-ecd4-4070-8eb1-8408baa42493"}))
    await storage.upload("artifacts", "ex/job-1/shot.png", b"\x89PNG data", "image/png")
    request = route.calls.last.request
    assert request.headers["x-upsert"] == "true"
    assert request.headers["apikey"] == PUBLISHABLE_KEY
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert _multipart_part(request, "file").endswith(b"\x89PNG data")
    assert b"Content-Type: image/png" in request.content
    assert _multipart_part(request, "cacheControl") == b"3600"


async def test_sign_request_and_absolute_url(storage: SupabaseStorage, api: respx.MockRouter) -> None:
    route = api.post(f"{STORAGE}/object/sign/artifacts/ex/job-1/shot.png").mock(return_value=httpx.Response(
        200, json={"signedURL": "/object/sign/artifacts/ex/job-1/shot.png?token=eyJ.abc.def"}))
    url = await storage.sign("artifacts", "ex/job-1/shot.png", 60)
    assert url == f"{STORAGE}/object/sign/artifacts/ex/job-1/shot.png?token=eyJ.abc.def"
    # storage3 sends expiresIn as a string; the server's schema (integer) coerces it.
    assert json.loads(route.calls.last.request.content) == {"expiresIn": "60"}


@pytest.mark.parametrize("answer, code, status", [
    ({"statusCode": "404", "error": "not_found", "message": "Object not found"}, "not_found", "404"),
    ({"statusCode": "403", "error": "Unauthorized",
      "message": "new row violates row-level security policy"}, "Unauthorized", "403"),
])
async def test_sign_errors(storage: SupabaseStorage, api: respx.MockRouter, answer: dict[str, str],
                           code: str, status: str) -> None:
    api.post(f"{STORAGE}/object/sign/artifacts/ex/gone.txt").mock(
        return_value=httpx.Response(400, json=answer))  # Storage answers 400, the status is in the body
    with pytest.raises(StorageError) as failed:
        await storage.sign("artifacts", "ex/gone.txt", 60)
    assert failed.value.reason == code and failed.value.details == f"status {status}"
    assert answer["message"] in failed.value.message


async def test_upload_errors(storage: SupabaseStorage, api: respx.MockRouter) -> None:
    route = api.post(f"{STORAGE}/object/artifacts/ex/a.txt")
    route.mock(return_value=httpx.Response(413, json={
        "statusCode": "413", "error": "Payload too large", "message": "The object exceeded the maximum allowed size"}))
    with pytest.raises(StorageError) as too_big:
        await storage.upload("artifacts", "ex/a.txt", b"x", "text/plain")
    assert too_big.value.reason == "Payload too large" and too_big.value.details == "status 413"

    route.mock(return_value=httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(StorageError) as unparsable:
        await storage.upload("artifacts", "ex/a.txt", b"x", "text/plain")
    assert unparsable.value.details == "status 502"

    route.mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(StorageError) as offline:
        await storage.upload("artifacts", "ex/a.txt", b"x", None)
    assert offline.value.reason == "network_error"


async def test_remove_request_and_errors(storage: SupabaseStorage, api: respx.MockRouter) -> None:
    # storage/src/http/routes/object/deleteObjects.ts: DELETE /object/{bucket} {prefixes}
    route = api.delete(f"{STORAGE}/object/artifacts").mock(return_value=httpx.Response(200, json=[
        {"name": "ex/j/a.txt", "bucket_id": "artifacts"}]))
    await storage.remove("artifacts", ["ex/j/a.txt", "ex/j/gone.txt"])
    assert json.loads(route.calls.last.request.content) == {"prefixes": ["ex/j/a.txt", "ex/j/gone.txt"]}
    route.mock(return_value=httpx.Response(403, json={
        "statusCode": "403", "error": "Unauthorized", "message": "new row violates row-level security policy"}))
    with pytest.raises(StorageError) as denied:
        await storage.remove("artifacts", ["ex/j/a.txt"])
    assert denied.value.details == "status 403"
    with pytest.raises(ValidationError):
        await storage.remove("artifacts", ["../escape"])


async def test_bad_paths_send_nothing(storage: SupabaseStorage, api: respx.MockRouter) -> None:
    with pytest.raises(ValidationError):
        await storage.upload("artifacts", "../escape", b"x", None)
    with pytest.raises(ValidationError):
        await storage.sign("Bad Bucket", "a.txt", 60)
    with pytest.raises(ValidationError):
        await storage.sign("artifacts", "a.txt", 0)
    assert not api.calls


async def test_upload_artifact_through_supabase(postgrest: PostgrestStandin) -> None:
    """End to end: the bytes go to Storage, the row to PostgREST, with the same key."""
    transport = SupabaseTransport(SUPABASE_URL, SECRET_KEY)
    async with AsyncCollabClient(transport, storage=transport.storage()) as client:
        job_id = (await client.assign("t.art", executor_id="ex")).job_id
        path = f"ex/{job_id}/report.json"
        upload = postgrest.router.post(f"{STORAGE}/object/artifacts/{path}").mock(
            return_value=httpx.Response(200, json={"Key": f"artifacts/{path}", "id": str(uuid.uuid4())}))
        sign = postgrest.router.post(f"{STORAGE}/object/sign/artifacts/{path}").mock(
            return_value=httpx.Response(200, json={"signedURL": f"/object/sign/artifacts/{path}?token=t"}))
        artifact = await client.upload_artifact(job_id, "report.json", b'{"ok": true}')
        url = await client.sign_artifact(artifact.path, expires_in=120, job_id=job_id)
    assert artifact.sha256 == hashlib.sha256(b'{"ok": true}').hexdigest() and artifact.size == 12
    assert artifact.mime == "application/json" and artifact.path == path
    assert upload.call_count == 1 and upload.calls.last.request.headers["apikey"] == SECRET_KEY
    assert "authorization" not in upload.calls.last.request.headers
    assert url == f"{STORAGE}/object/sign/artifacts/{path}?token=t" and sign.call_count == 1
