"""The worker runtime: ``Worker`` (``loop``: the claim loop, start and drain) runs
handlers registered with ``@worker.task`` (``tasks``); each attempt runs in ``runner``
with its ``JobContext`` (``context``), its lease kept by ``leases``, results batched by
``completions``. Heartbeats, periodic jobs, signals and Realtime presence are modules of
their own.

May import: ``collab_sdk.client``, ``collab_sdk.transports``, ``errors``, ``models``,
``states``, ``timing``. Never the CLI or HTTP.
"""

from collab_sdk.worker.context import JobContext, SyncJobContext
from collab_sdk.worker.loop import ExitCode, Worker
from collab_sdk.worker.tasks import PermanentFailure, Retry

__all__ = ["Worker", "ExitCode", "JobContext", "SyncJobContext", "Retry", "PermanentFailure"]
