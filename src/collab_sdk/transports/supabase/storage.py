"""``SupabaseStorage``: artifact bytes in Supabase Storage, through storage3.

Get one from a transport, ``SupabaseTransport(url, key).storage()``: it uses that
transport's ``SupabaseSession`` (its key, user token and HTTP connection pool).

- ``upload`` is ``POST /storage/v1/object/<bucket>/<path>`` (multipart, ``x-upsert:
  true``, so uploading the same path again replaces the object);
- ``sign`` is ``POST /storage/v1/object/sign/<bucket>/<path>`` with ``{"expiresIn": n}``;
  Storage answers ``{"signedURL": "/object/sign/…?token=…"}`` and the absolute URL under
  ``<url>/storage/v1`` is returned.

Storage's error answers (``{"statusCode", "error", "message"}``) become ``StorageError``
with Storage's ``error`` as ``code`` and ``status <statusCode>`` as ``details`` (Storage
answers HTTP 400 and puts the real status, e.g. 404, in the body); network
failures become ``StorageError`` too (code ``network_error``).
"""

from __future__ import annotations

import httpx
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException

from collab_sdk.errors import StorageError
from collab_sdk.transports.storage import check_expiry, check_object_path
from collab_sdk.transports.supabase.session import SupabaseSession

__all__ = ["SupabaseStorage"]


class SupabaseStorage:
    """The ``Storage`` protocol over Supabase Storage (storage3)."""

    def __init__(self, session: SupabaseSession) -> None:
        self.session = session

    async def upload(self, bucket: str, path: str, data: bytes, mime: str | None) -> None:
        """Store ``data`` at ``bucket/path``, replacing what was there."""
        check_object_path(bucket, path)
        client = await self.session.client()
        try:
            await client.storage.from_(bucket).upload(path, data, file_options={
                "content-type": mime or "application/octet-stream", "upsert": "true"})
        except (StorageException, httpx.HTTPError) as exc:
            raise _storage_error(f"cannot upload {bucket}/{path}", exc) from exc

    async def sign(self, bucket: str, path: str, expires_in: int) -> str:
        """A URL that downloads ``bucket/path`` for the next ``expires_in`` seconds."""
        check_object_path(bucket, path)
        check_expiry(expires_in)
        client = await self.session.client()
        try:
            signed = await client.storage.from_(bucket).create_signed_url(path, expires_in)
        except (StorageException, httpx.HTTPError) as exc:
            raise _storage_error(f"cannot sign {bucket}/{path}", exc) from exc
        url = signed.get("signedURL")
        if not url:
            raise StorageError(f"cannot sign {bucket}/{path}: Storage sent no signedURL",
                               reason="no_signed_url")
        return url

    async def remove(self, bucket: str, paths: list[str]) -> None:
        """Delete the objects (one request; Storage ignores paths that hold none)."""
        for path in paths:
            check_object_path(bucket, path)
        client = await self.session.client()
        try:
            await client.storage.from_(bucket).remove(paths)
        except (StorageException, httpx.HTTPError) as exc:
            raise _storage_error(f"cannot remove {len(paths)} object(s) from {bucket}", exc) from exc

    async def aclose(self) -> None:
        """Nothing to release: the transport owns the session (``transport.aclose()``)."""


def _storage_error(what: str, exc: Exception) -> StorageError:
    if isinstance(exc, StorageApiError):
        return StorageError(f"{what}: {exc.message}", reason=exc.code, details=f"status {exc.status}")
    if isinstance(exc, httpx.HTTPError):
        return StorageError(f"{what}: Storage unreachable: {type(exc).__name__}: {exc}",
                            reason="network_error")
    return StorageError(f"{what}: {exc}", reason="storage_error")
