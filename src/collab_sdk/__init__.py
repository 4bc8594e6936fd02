"""collab: a Supabase-native job queue. Postgres does the queue; this is the typed way in.

    from collab_sdk import CollabClient
    with CollabClient.from_env() as client:
        client.assign("browser.screenshot", executor_id="default", payload={"url": "..."})

``AsyncCollabClient`` is the async client, ``CollabClient`` its blocking face. Errors are
``CollabError`` subclasses (``collab_sdk.errors``); rows are pydantic models
(``collab_sdk.models``).
"""

from typing import TYPE_CHECKING

from collab_sdk.client.async_client import SUPPORTED_SCHEMA_VERSIONS, AsyncCollabClient
from collab_sdk.errors import (CollabError, Conflict, Forbidden, InvalidTransition, LeaseLost,
                               NotFound, PayloadTooLarge, SchemaMismatch, StorageError,
                               TransportError, Unauthorized, ValidationError)
from collab_sdk.models import (Artifact, Assigned, DeadLetter, Job, JobEvent, JobSnapshot, JobSpec,
                               JobStatus, JobSummary, Membership, MetricsOverview, Page, Stats,
                               WorkerHeartbeat)
from collab_sdk.transports.postgres import PostgresTransport
from collab_sdk.local.storage import LocalStorage, Storage
from collab_sdk.client.sync import CollabClient
from collab_sdk.transports.base import Transport

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
    "Transport", "PostgresTransport", "SupabaseTransport", "Storage", "LocalStorage",
    "CollabError", "ValidationError", "Unauthorized", "Forbidden", "NotFound", "Conflict",
    "LeaseLost", "InvalidTransition", "PayloadTooLarge", "SchemaMismatch", "StorageError",
    "TransportError",
    "Job", "JobStatus", "JobEvent", "JobSnapshot", "Artifact", "DeadLetter", "WorkerHeartbeat", "Membership",
    "Assigned", "JobSpec", "Page", "JobSummary", "Stats", "MetricsOverview",
]
