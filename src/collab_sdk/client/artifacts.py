"""Artifact upload and signing: bytes to ``Storage``, metadata to ``add_artifacts_v1``.

An artifact of job J in executor E named N is stored at ``E/J/N`` in its bucket
(default ``artifacts``), so Storage policies can scope objects by executor. The upload
comes first and the row second: a row never points at a missing object. If recording
the row fails (e.g. the lease was lost) the object stays behind unreferenced and the
error is raised; re-uploading the same name replaces it.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from uuid import UUID

from collab_sdk.client.rpc import RpcCore
from collab_sdk.errors import ConfigurationError, NotFound, ValidationError
from collab_sdk.models import Artifact, Job
from collab_sdk.transports.storage import Storage, check_object_path

__all__ = ["DEFAULT_BUCKET", "upload_artifact", "sign_artifact"]

DEFAULT_BUCKET = "artifacts"


async def upload_artifact(rpc: RpcCore, storage: Storage | None, job_id: UUID | str, name: str,
                          data: bytes | None = None, *, file: str | Path | None = None,
                          mime: str | None = None, bucket: str = DEFAULT_BUCKET,
                          worker_id: str | None = None) -> Artifact:
    """Store ``data`` (or the contents of ``file``) as artifact ``name`` of the job and
    record its row with size and sha256. With ``worker_id`` the row is fenced by the
    worker's lease (``LeaseLost`` if it no longer holds the job)."""
    content = _content(data, file)
    if not name or "/" in name or name in (".", ".."):
        raise ValidationError(f"invalid artifact name {name!r}: a file name without '/'", code="CL400")
    job = await rpc.one(Job, "get_job_v1", job_id=job_id)
    path = f"{job.executor_id}/{job.id}/{name}"
    check_object_path(bucket, path)
    mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
    await _required(storage).upload(bucket, path, content, mime)
    rows = await rpc.many(Artifact, "add_artifacts_v1", job_id=job.id, worker_id=worker_id, artifacts=[{
        "name": name, "path": path, "bucket": bucket, "size": len(content), "mime": mime,
        "sha256": hashlib.sha256(content).hexdigest()}])
    return next(row for row in rows if row.bucket == bucket and row.path == path)


async def sign_artifact(rpc: RpcCore, storage: Storage | None, path: str, *, expires_in: int = 3600,
                        bucket: str = DEFAULT_BUCKET, job_id: UUID | str | None = None) -> str:
    """A URL that downloads ``bucket/path`` for ``expires_in`` seconds. With ``job_id``
    the path must be one of that job's recorded artifacts visible to the caller
    (``NotFound`` otherwise) — what an API serving untrusted callers should pass."""
    check_object_path(bucket, path)
    if job_id is not None:
        recorded = await rpc.many(Artifact, "artifacts_by_job_v1", job_id=job_id)
        if not any(a.bucket == bucket and a.path == path for a in recorded):
            raise NotFound(f"job {job_id} has no artifact {bucket}/{path}", code="CL404")
    return await _required(storage).sign(bucket, path, expires_in)


def _content(data: bytes | None, file: str | Path | None) -> bytes:
    if (data is None) == (file is None):
        raise ValidationError("give exactly one of data or file", code="CL400")
    if data is not None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValidationError(f"data must be bytes, not {type(data).__name__}", code="CL400")
        return bytes(data)
    try:
        return Path(file).read_bytes()  # type: ignore[arg-type]
    except OSError as exc:
        raise ValidationError(f"cannot read {file}: {exc.strerror}", code="CL400") from exc


def _required(storage: Storage | None) -> Storage:
    if storage is None:
        raise ConfigurationError("this client has no artifact storage configured")
    return storage
