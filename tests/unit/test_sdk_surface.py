"""The SDK's public surface: exports, models on the wire, configuration, strict typing."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel

import collab_sdk
from collab_sdk.client.config import storage_for, transport_from_env
from collab_sdk.errors import (CollabError, ConfigurationError, Forbidden, LeaseLost, TransportError, Unauthorized,
                               Unavailable, ValidationError, error_from_code)
from collab_sdk.models import Job, JobSpec, JobStatus, Page
from collab_sdk.transports.postgres import PostgresTransport
from collab_sdk.local.storage import LocalStorage

REPO = Path(__file__).resolve().parents[2]


def _every_module() -> list[str]:
    """Every module of the package, subpackages included (``python -m`` entry points too)."""
    found = pkgutil.walk_packages(collab_sdk.__path__, prefix="collab_sdk.")
    return sorted(info.name for info in found if not info.name.rsplit(".", 1)[-1].startswith("_"))


def test_the_walk_reaches_into_subpackages() -> None:
    names = _every_module()
    assert {"collab_sdk.worker.runner", "collab_sdk.transports.supabase.session",
            "collab_sdk.http.routes", "collab_sdk.cli.main"} <= set(names)


@pytest.mark.parametrize("name", _every_module())
def test_all_lists_every_public_name_of_every_module(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(getattr(module, "__all__", []))
    defined = {key for key, value in vars(module).items()
               if not key.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
               and value.__module__ == module.__name__}
    assert defined <= exported, f"{name}.__all__ lacks {sorted(defined - exported)}"
    for key in exported:
        value = getattr(module, key)
        assert value.__doc__ or not callable(value), f"{name}.{key} has no docstring"
    assert module.__doc__, f"{name} has no module docstring"


def test_the_package_exports_what_it_lists() -> None:
    for name in collab_sdk.__all__:
        assert hasattr(collab_sdk, name)


def test_job_on_the_wire_is_camel_case_and_reads_either_spelling() -> None:
    row = {"id": str(uuid.uuid4()), "type": "t", "executor_id": "ex", "status": "running",
           "payload": {"url": "u"}, "created_at": "2026-11-23T00:00:00+00:00", "lease_owner": "w1"}
    job = Job.model_validate(row)
    wire = job.model_dump(mode="json")
    assert wire["executorId"] == "ex" and wire["leaseOwner"] == "w1" and "executor_id" not in wire
    assert Job.model_validate(wire) == job
    assert job.status is JobStatus.RUNNING and not job.status.is_final
    page = Page[Job].model_validate({"items": [row], "count": 1, "nextCursor": None})
    assert page.model_dump(mode="json")["nextCursor"] is None


def test_with_payload_types_and_rejects_clearly() -> None:
    class Shot(BaseModel):
        url: str
        width: int = 800

    job = Job.model_validate({"id": str(uuid.uuid4()), "type": "shot", "executor_id": "ex",
                              "status": "queued", "payload": {"url": "u"}, "created_at": "2026-11-23T00:00:00Z"})
    assert job.with_payload(Shot).payload.width == 800
    bad = job.model_copy(update={"payload": {"width": "wide"}})
    with pytest.raises(ValidationError, match="not a valid Shot") as raised:
        bad.with_payload(Shot)
    assert "url" in str(raised.value) and raised.value.code == "CL400"


def test_job_spec_leaves_engine_defaults_to_the_engine() -> None:
    assert JobSpec(type="t", executor_id="ex").rpc_args() == {"type": "t", "executor_id": "ex", "payload": {}}


def test_job_spec_sends_run_at_in_utc() -> None:
    far_west = datetime(2030, 1, 1, 1, 0, tzinfo=timezone(-timedelta(hours=16, minutes=52)))
    sent = JobSpec(type="t", executor_id="ex", run_at=far_west).rpc_args()["run_at"]
    assert sent == "2030-01-01T17:52:00Z"


@pytest.mark.parametrize("code, anonymous, cls", [
    ("CL410", False, LeaseLost), ("22P02", False, ValidationError), ("42501", True, Unauthorized),
    ("42501", False, Forbidden), ("08006", False, Unavailable), ("57P01", False, Unavailable),
    ("XX000", False, CollabError),
])
def test_error_mapping(code: str, anonymous: bool, cls: type[CollabError]) -> None:
    error = error_from_code(code, "m", hint="h", details="d", anonymous=anonymous)
    assert type(error) is cls and error.code == code and error.hint == "h" and error.details == "d"
    assert str(error) == f"[{code}] m"


def test_from_env_precedence(tmp_path: Path) -> None:
    transport = transport_from_env({"COLLAB_DATABASE_URL": "postgresql://u@h/db", "SUPABASE_URL": "https://x"})
    assert isinstance(transport, PostgresTransport) and transport.url == "postgresql://u@h/db"
    with pytest.raises(ConfigurationError, match="SUPABASE_SERVICE_ROLE_KEY"):
        transport_from_env({"SUPABASE_URL": "https://x.supabase.co"})
    storage = storage_for(transport, {"COLLAB_STORAGE_DIR": str(tmp_path), "COLLAB_PUBLIC_URL": "http://h:1"})
    assert isinstance(storage, LocalStorage) and storage.root == tmp_path and storage.base_url == "http://h:1"


def test_pool_size_from_env() -> None:
    url = "postgresql://u@h/db"
    default = transport_from_env({"COLLAB_DATABASE_URL": url})
    sized = transport_from_env({"COLLAB_DATABASE_URL": url, "COLLAB_POOL_SIZE": "32"})
    assert isinstance(default, PostgresTransport) and isinstance(sized, PostgresTransport)
    assert default.max_size == 10 and sized.max_size == 32
    for bad in ("0", "-3", "lots", "2.5"):
        with pytest.raises(ConfigurationError, match="COLLAB_POOL_SIZE"):
            transport_from_env({"COLLAB_DATABASE_URL": url, "COLLAB_POOL_SIZE": bad})


@pytest.mark.slow
def test_mypy_strict_passes_and_py_typed_ships() -> None:
    assert (REPO / "src" / "collab_sdk" / "py.typed").exists()
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "src/collab_sdk"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
