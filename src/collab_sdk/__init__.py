"""collab: a Supabase-native job queue. Postgres does the queue; this is the typed way in.

    from collab_sdk import CollabClient, Worker
    with CollabClient.from_env() as client:
        client.assign("browser.screenshot", executor_id="default", payload={"url": "..."})

``AsyncCollabClient`` is the async client, ``CollabClient`` its blocking face, ``Worker``
runs handlers. Errors are ``CollabError`` subclasses (``collab_sdk.errors``); rows are
pydantic models (``collab_sdk.models``). The packages by role are listed in
``docs/design.md`` ("Layout").
"""

from typing import TYPE_CHECKING

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.rpc import SUPPORTED_SCHEMA_VERSIONS
from collab_sdk.client.sync import CollabClient
from collab_sdk.errors import (CollabError, ConfigurationError, Conflict, Forbidden,
                               InvalidTransition, LeaseLost, NotFound, PayloadTooLarge,
                               ProtocolError, ReadOnly, SchemaMismatch, StorageError, Transient,
                               TransportError, Unauthorized, Unavailable, ValidationError)
from collab_sdk.exits import ExitStatus
from collab_sdk.local.storage import LocalStorage
from collab_sdk.models import (Artifact, Assigned, DeadLetter, EngineCounts, Job, JobCount, JobEvent,
                               JobSnapshot, JobSpec, JobStatus, JobSummary, Membership, MetricsOverview,
                               Page, Stats, WorkerHeartbeat)
from collab_sdk.transports.base import Transport
from collab_sdk.transports.postgres import PostgresTransport
from collab_sdk.transports.storage import Storage
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.loop import Worker
from collab_sdk.worker.tasks import PermanentFailure, Retry

if TYPE_CHECKING:
    from collab_sdk.transports.supabase.rpc import SupabaseTransport


def __getattr__(name: str) -> object:
    # supabase-py is heavy to import: load SupabaseTransport only when asked for.
    if name == "SupabaseTransport":
        from collab_sdk.transports.supabase.rpc import SupabaseTransport
        return SupabaseTransport
    raise AttributeError(f"module 'collab_sdk' has no attribute {name!r}")


__all__ = [
    "AsyncCollabClient", "CollabClient", "SUPPORTED_SCHEMA_VERSIONS",
    "Worker", "JobContext", "Retry", "PermanentFailure", "ExitStatus",
    "Transport", "PostgresTransport", "SupabaseTransport", "Storage", "LocalStorage",
    "CollabError", "ValidationError", "Unauthorized", "Forbidden", "NotFound", "Conflict",
    "LeaseLost", "InvalidTransition", "PayloadTooLarge", "SchemaMismatch", "ConfigurationError",
    "StorageError", "TransportError", "Unavailable", "ReadOnly", "Transient", "ProtocolError",
    "Job", "JobStatus", "JobEvent", "JobSnapshot", "Artifact", "DeadLetter", "WorkerHeartbeat", "Membership",
    "Assigned", "JobSpec", "Page", "JobSummary", "Stats", "MetricsOverview", "EngineCounts", "JobCount",
]
