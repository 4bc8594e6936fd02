"""The worker's retention loop: about once a minute, apply the executor's retention
policy (``AsyncCollabClient.apply_retention``: deleting due jobs, their events and due dead
letters in batches of ``DEFAULT_BATCH_SIZE``, each its own transaction), then remove the
deleted artifacts' Storage objects when the client has Storage.

Every worker runs the loop, and the executor's retention lease (``apply_retention_v1``)
makes one of them do a pass while the others' calls answer ``ran: false`` at once; a
worker that dies mid-pass is continued from its cursor by another after the lease (60 s)
expires. The policy (``set_retention_policy``) can disable it per executor; ``Worker(...,
retention=False)`` turns the loop off in one worker (pg_cron can apply it instead: see
docs/rpc.md, "Retention").
"""

from __future__ import annotations

import asyncio
import logging
import random

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.errors import CollabError
from collab_sdk.timing import wait_event

__all__ = ["RETENTION_INTERVAL", "apply_retention"]

#: Seconds between a worker's retention calls (jittered by up to 20 %, so the workers
#: of an executor do not all ask at once).
RETENTION_INTERVAL = 60.0

log = logging.getLogger("collab.worker")


async def apply_retention(client: AsyncCollabClient, executor_id: str, worker_id: str, stop: asyncio.Event,
                          interval: float = RETENTION_INTERVAL) -> None:
    """Apply the executor's retention policy now and about every ``interval`` seconds
    until ``stop`` is set; failures are logged, never raised."""
    while not stop.is_set():
        try:
            done = await client.apply_retention(executor_id, worker_id)
            if done.purged or done.dead_letters:
                log.info("retention: deleted %d job(s) with %d event(s) and %d dead letter(s) of %s",
                         done.purged, done.events, done.dead_letters, executor_id)
        except CollabError as exc:
            log.warning("retention not applied: %s", exc)
        if await wait_event(stop, interval * random.uniform(0.8, 1.0)):
            return
