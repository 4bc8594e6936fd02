"""The worker runtime: ``Worker`` (``loop``: the claim loop, the start and finish of each
attempt) runs handlers registered with ``@worker.task`` (``tasks``). Each ``Attempt``
(``attempt``) runs in ``runner`` with its ``JobContext`` (``context``), its lease kept by
``leases``, results batched by ``completions``. Stopping (``signals``, ``drain``),
``heartbeat``, ``periodic`` jobs (``cron``), ``Worker.run``'s event loop (``eventloop``: uvloop where installed) and what the transport may offer —
``LISTEN`` wake-ups and Realtime ``presence``, chosen in ``capabilities`` — are modules
of their own. ``Worker.run`` exits with a ``collab_sdk.exits.ExitStatus``.

May import: ``collab_sdk.client``, ``collab_sdk.transports``, ``errors``, ``models``,
``states``, ``timing``, ``exits``. Never the CLI or HTTP.
"""

from collab_sdk.worker.context import JobContext, SyncJobContext
from collab_sdk.worker.loop import Worker
from collab_sdk.worker.tasks import PermanentFailure, Retry

__all__ = ["Worker", "JobContext", "SyncJobContext", "Retry", "PermanentFailure"]
