"""Where artifact bytes live: the ``Storage`` protocol and the embedded ``LocalStorage``.

``LocalStorage`` keeps a directory per bucket (``<root>/<bucket>/<path>``) and signs
download URLs the way Supabase Storage does: ``<base>/storage/v1/object/sign/<bucket>/
<path>?token=<JWT>``, the token an HS256 JWT whose ``url`` claim is ``<bucket>/<path>``
and whose ``exp`` ends its validity. ``verify_signed_url_token`` is what the local HTTP
server calls before serving a download. ``SupabaseStorage`` (storage3) is the other
implementation.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable
from urllib.parse import quote

import jwt

from collab_sdk.errors import StorageError, ValidationError

__all__ = ["Storage", "LocalStorage", "check_object_path", "verify_signed_url_token"]

MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600


@runtime_checkable
class Storage(Protocol):
    """Object storage for artifacts."""

    async def upload(self, bucket: str, path: str, data: bytes, mime: str | None) -> None:
        """Store ``data`` at ``bucket/path`` (replacing what was there)."""
        ...

    async def sign(self, bucket: str, path: str, expires_in: int) -> str:
        """A URL that downloads ``bucket/path`` for the next ``expires_in`` seconds."""
        ...

    async def aclose(self) -> None:
        """Release sessions. Calling it twice is harmless."""
        ...


def check_object_path(bucket: str, path: str) -> None:
    """Raise ``ValidationError`` unless ``path`` is a safe relative object path in a
    well-named bucket (the engine's artifact rules: no ``..``, no leading ``/``, no ``\\``)."""
    parts = PurePosixPath(path).parts
    if (not path or len(path) > 1024 or path.startswith("/") or "\\" in path or ".." in parts
            or any(ord(c) < 32 for c in path)):
        raise ValidationError(f"invalid artifact path {path!r}", code="CL400")
    if not bucket or len(bucket) > 63 or not all(c.islower() or c.isdigit() or c in "_.-" for c in bucket):
        raise ValidationError(f"invalid bucket name {bucket!r}", code="CL400")


def _check_expiry(expires_in: int) -> None:
    if not 1 <= expires_in <= MAX_SIGNED_URL_SECONDS:
        raise ValidationError(f"expires_in must be 1..{MAX_SIGNED_URL_SECONDS} seconds", code="CL400")


class LocalStorage:
    """Buckets as directories under ``root``; URLs signed with ``secret`` (HS256).

    Without a ``secret`` one is read from (or created in) ``root/.signing-secret``, so
    the server and the clients of one ``.collab/`` directory agree on it."""

    def __init__(self, root: Path, *, base_url: str = "http://127.0.0.1:3100",
                 secret: str | None = None) -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self.secret = secret or _local_secret(self.root)

    def object_file(self, bucket: str, path: str) -> Path:
        """The file holding ``bucket/path``."""
        check_object_path(bucket, path)
        return self.root / bucket / path

    async def upload(self, bucket: str, path: str, data: bytes, mime: str | None) -> None:
        """Write the object atomically (temp file + rename)."""
        target = self.object_file(bucket, path)
        await asyncio.to_thread(_write_atomically, target, data)

    async def sign(self, bucket: str, path: str, expires_in: int) -> str:
        """A Supabase-shaped signed URL served by ``collab serve``."""
        check_object_path(bucket, path)
        _check_expiry(expires_in)
        if not self.object_file(bucket, path).is_file():
            raise StorageError(f"object {bucket}/{path} not found", code="not_found")
        token = jwt.encode({"url": f"{bucket}/{path}", "exp": int(time.time()) + expires_in},
                           self.secret, algorithm="HS256")
        return f"{self.base_url}/storage/v1/object/sign/{bucket}/{quote(path)}?token={token}"

    async def aclose(self) -> None:
        """Nothing to release."""


def verify_signed_url_token(secret: str, bucket: str, path: str, token: str) -> None:
    """Raise ``StorageError`` unless ``token`` signs ``bucket/path`` and has not expired."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "url"]})
    except jwt.PyJWTError as exc:
        raise StorageError(f"invalid signed URL: {exc}", code="invalid_signature") from exc
    if claims["url"] != f"{bucket}/{path}":
        raise StorageError("signed URL is for another object", code="invalid_signature")


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    temp.write_bytes(data)
    os.replace(temp, target)


def _local_secret(root: Path) -> str:
    file = root / ".signing-secret"
    root.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: of two processes starting together, exactly one writes the secret
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    for _ in range(50):  # the other process may still be writing it
        secret = file.read_text().strip()
        if secret:
            return secret
        time.sleep(0.01)
    raise StorageError(f"{file} is empty", code="no_secret")
