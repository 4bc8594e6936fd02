"""What a worker uses when its transport offers it, chosen by capability protocol
(``collab_sdk.transports.base``), never by probing attributes or URLs:

- ``Listens``: ``LISTEN collab_jobs`` wake-ups for the worker's executor (else polling alone);
- ``HasRealtime``: presence and broadcasts on Supabase Realtime, when ``realtime=True``
  (``collab_sdk.worker.presence``, and with it supabase-py, is imported only then).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from collab_sdk.timing import Backoff
from collab_sdk.transports.base import HasRealtime, Listens, Transport, WakeSource
from collab_sdk.transports.listen import CHANNEL, for_executor

if TYPE_CHECKING:
    from collab_sdk.worker.presence import WorkerPresence

__all__ = ["listener_for", "presence_for"]


def listener_for(transport: Transport, executor_id: str, on_wake: Callable[[], None],
                 log_gate: Backoff) -> WakeSource | None:
    """The wake-up source for ``executor_id``'s jobs, or None when the transport cannot listen."""
    if not isinstance(transport, Listens):
        return None
    return transport.listener(CHANNEL, for_executor(executor_id), on_wake, log_gate)


def presence_for(transport: Transport, *, enabled: bool, agent_id: str, executor_id: str,
                 version: str | None, log_gate: Backoff) -> WorkerPresence | None:
    """Started presence for this worker on Realtime, or None (disabled, or no Realtime)."""
    if not enabled or not isinstance(transport, HasRealtime):
        return None
    from collab_sdk.worker.presence import WorkerPresence
    presence = WorkerPresence(transport.realtime_session(), agent_id=agent_id,
                              executor_id=executor_id, version=version, log_gate=log_gate)
    presence.start()
    return presence
