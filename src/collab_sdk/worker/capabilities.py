"""What a worker uses when its transport offers it, chosen by capability protocol
(``collab_sdk.transports.base``), never by probing attributes or URLs:

- ``Listens``: ``LISTEN collab_jobs`` wake-ups for the worker's executor, sent while it
  waits for jobs (``collab_sdk.worker.waiting``);
- ``WakesClaims`` (Supabase): ``jobs.claimable`` broadcasts on the private Realtime channel
  ``queue:{executorId}``, sent by the database itself; with them the worker polls only
  every ``WOKEN_POLL_INTERVAL`` seconds (and every ``POLL_INTERVAL`` while the channel is
  down); with neither, polling alone;
- ``HasRealtime``: presence and broadcasts on Supabase Realtime, when ``realtime=True``
  (``collab_sdk.worker.presence``, and with it supabase-py, is imported only then).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from collab_sdk.timing import Backoff
from collab_sdk.transports.base import HasRealtime, Listens, Transport, WakesClaims, WakeSource
from collab_sdk.transports.listen import CHANNEL, for_executor

if TYPE_CHECKING:
    from collab_sdk.worker.presence import WorkerPresence

__all__ = ["listener_for", "presence_for", "poll_interval_for", "POLL_INTERVAL", "WOKEN_POLL_INTERVAL"]

#: How often a worker polls for jobs when nothing may wake it (or LISTEN does).
POLL_INTERVAL = 2.0
#: How often it polls when Realtime broadcasts wake it: polling is only the backstop.
WOKEN_POLL_INTERVAL = 30.0


def listener_for(transport: Transport, executor_id: str, on_wake: Callable[[], None],
                 log_gate: Backoff) -> WakeSource | None:
    """The wake-up source for ``executor_id``'s jobs: ``LISTEN`` where the transport
    ``Listens``, else Realtime broadcasts where it ``WakesClaims``, else None."""
    if isinstance(transport, Listens):
        if not transport.can_listen:  # a transaction pooler without COLLAB_LISTEN_URL: poll
            return None
        return transport.listener(CHANNEL, for_executor(executor_id), on_wake, log_gate, waits_for=executor_id)
    if isinstance(transport, WakesClaims):
        return transport.claim_waker(executor_id, on_wake, backstop=POLL_INTERVAL, log_gate=log_gate)
    return None


def poll_interval_for(transport: Transport, requested: float | None) -> float:
    """The worker's poll interval: ``requested`` when given, else ``WOKEN_POLL_INTERVAL``
    over a transport that ``WakesClaims`` (and does not ``Listen``), else ``POLL_INTERVAL``."""
    if requested is not None:
        return requested
    woken = isinstance(transport, WakesClaims) and not isinstance(transport, Listens)
    return WOKEN_POLL_INTERVAL if woken else POLL_INTERVAL


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
