"""The embedded default's artifact storage: ``LocalStorage``, files under the home.

``LocalStorage`` keeps a directory per bucket (``<root>/<bucket>/<path>``) and signs
download URLs the way Supabase Storage does: ``<base>/storage/v1/object/sign/<bucket>/
<path>?token=<JWT>``, the token an HS256 JWT whose ``url`` claim is ``<bucket>/<path>``
and whose ``exp`` ends its validity. ``verify_signed_url_token`` is what the local HTTP
server calls before serving a download. ``SupabaseStorage`` (storage3) is the other
implementation of ``collab_sdk.transports.storage.Storage``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import jwt

from collab_sdk.errors import StorageError
from collab_sdk.transports.storage import check_expiry, check_object_path

__all__ = ["LocalStorage", "verify_signed_url_token"]

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
        check_expiry(expires_in)
        if not self.object_file(bucket, path).is_file():
            raise StorageError(f"object {bucket}/{path} not found", reason="not_found")
        token = jwt.encode({"url": f"{bucket}/{path}", "exp": int(time.time()) + expires_in},
                           self.secret, algorithm="HS256")
        return f"{self.base_url}/storage/v1/object/sign/{bucket}/{quote(path)}?token={token}"

    async def remove(self, bucket: str, paths: list[str]) -> None:
        """Delete the objects' files (a missing one is no error)."""
        files = [self.object_file(bucket, path) for path in paths]
        await asyncio.to_thread(_unlink_all, files)

    async def aclose(self) -> None:
        """Nothing to release."""


def verify_signed_url_token(secret: str, bucket: str, path: str, token: str) -> None:
    """Raise ``StorageError`` unless ``token`` signs ``bucket/path`` and has not expired."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "url"]})
    except jwt.PyJWTError as exc:
        raise StorageError(f"invalid signed URL: {exc}", reason="invalid_signature") from exc
    if claims["url"] != f"{bucket}/{path}":
        raise StorageError("signed URL is for another object", reason="invalid_signature")


def _unlink_all(files: list[Path]) -> None:
    try:
        for file in files:
            file.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot remove {exc.filename}: {exc.strerror}", reason="storage_error") from exc


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
    raise StorageError(f"{file} is empty", reason="no_secret")
