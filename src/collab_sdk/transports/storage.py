"""Where artifact bytes live: the ``Storage`` protocol both implementations follow
(``collab_sdk.local.storage.LocalStorage``, ``collab_sdk.transports.supabase.storage.
SupabaseStorage``) and the object-path rules they share with the engine."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Protocol, runtime_checkable

from collab_sdk.errors import ValidationError

__all__ = ["Storage", "check_object_path", "check_expiry", "MAX_SIGNED_URL_SECONDS"]

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

    async def remove(self, bucket: str, paths: list[str]) -> None:
        """Delete the objects at ``bucket/<path>`` for each path; a missing one is no error."""
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


def check_expiry(expires_in: int) -> None:
    """Raise ``ValidationError`` unless a signed URL's lifetime is 1 s to 7 days."""
    if not 1 <= expires_in <= MAX_SIGNED_URL_SECONDS:
        raise ValidationError(f"expires_in must be 1..{MAX_SIGNED_URL_SECONDS} seconds", code="CL400")
