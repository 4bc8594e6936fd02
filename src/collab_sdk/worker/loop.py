"""``Worker``: runs handlers for job types, with leases, wake-ups, heartbeats and drains.

    worker = Worker(client, executor_id="default", concurrency=8)

    @worker.task("browser.screenshot", timeout=120)
    async def screenshot(job: Job[Shot], ctx: JobContext) -> dict:
        await ctx.progress(50)
        return {"ok": True}

    worker.run()          # blocks; SIGTERM/SIGINT drain gracefully; returns the exit code

Each process claims under a fresh identity ``<name>-<random>``, so a restarted worker
never inherits its predecessor's leases. It claims in batches for its free slots, only
job types it handles, then waits for a ``LISTEN`` wake-up (Postgres transport) or the
poll interval. See ``collab_sdk.worker.runner`` for one attempt's life and ``docs/worker.md``.
Over a ``SupabaseTransport`` it also publishes its presence and its jobs' progress on
Supabase Realtime (``realtime=True``, best effort: ``collab_sdk.worker.presence``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.worker.cron import Cron
from collab_sdk.errors import TransportError
from collab_sdk.models import Job
from collab_sdk.worker.runner import Attempt, JobRunner
from collab_sdk.worker.context import JobContext
from collab_sdk.client.sync import CollabClient
from collab_sdk.worker.tasks import Handler, TaskRegistry
from collab_sdk.transports.listen import Listener, for_executor
from collab_sdk.timing import Backoff, wait_event

if TYPE_CHECKING:
    from collab_sdk.worker.presence import WorkerPresence

__all__ = ["Worker", "ExitCode"]

log = logging.getLogger("collab.worker")


class ExitCode:
    """What ``Worker.run`` returns: scripts and supervisors can trust these."""

    OK = 0               #: stopped by a signal after every running job finished
    ERROR = 1            #: a fatal error (bad configuration, permission denied, ...)
    DRAIN_TIMEOUT = 75   #: drain timed out; unfinished jobs were handed back (EX_TEMPFAIL)
    FORCED = 130         #: a second signal: stopped at once, jobs handed back where possible


class Worker:
    """A pool of handlers for one executor's jobs."""

    def __init__(self, client: AsyncCollabClient | CollabClient, *, executor_id: str,
                 name: str | None = None, concurrency: int = 8, lease_seconds: int = 60,
                 poll_interval: float = 2.0, heartbeat_interval: float = 5.0,
                 drain_timeout: float = 30.0, version: str | None = None,
                 realtime: bool = True) -> None:
        self._sync_client = client if isinstance(client, CollabClient) else None
        self.client = client.aio if isinstance(client, CollabClient) else client
        self.executor_id = executor_id
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        #: This process's lease identity: fresh every time, never reused.
        self.worker_id = f"{self.name}-{secrets.token_hex(4)}"
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.drain_timeout = drain_timeout
        self.version = version
        self.tasks = TaskRegistry()
        self.periodic_jobs: list[tuple[Cron, str, dict[str, Any]]] = []
        #: Counts of outcomes and wake-ups, for tests, logs and heartbeats.
        self.stats: dict[str, int] = {}
        # One log gate for every loop: an outage logs about once a second in all.
        self._log_gate = Backoff()
        url = getattr(self.client.transport, "url", None)
        #: The LISTEN wake-up source (Postgres transport only; else polling alone).
        self.listener = (Listener(url, for_executor(executor_id), self._wake_up, self._log_gate)
                         if isinstance(url, str) and url.startswith(("postgres://", "postgresql://"))
                         else None)
        #: Publish presence and broadcasts on Supabase Realtime (SupabaseTransport only).
        self.realtime = realtime
        self.presence: WorkerPresence | None = None
        self._running: dict[Any, tuple[Attempt, asyncio.Task[str]]] = {}
        #: Handlers running now (jobs whose results are being stored are not counted:
        #: the next claim overlaps the previous batch's complete).
        self._busy = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._signals = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- registration ----------------------------------------------------------

    def task(self, type: str | None = None, *, prefix: str | None = None,
             timeout: float | None = None) -> Callable[[Handler], Handler]:
        """Decorator: ``@worker.task("a.b")`` or ``@worker.task(prefix="a.")``."""
        def register(handler: Handler) -> Handler:
            self.tasks.add(handler, type=type, prefix=prefix, timeout=timeout)
            return handler
        return register

    def periodic(self, cron: str, type: str, payload: dict[str, Any] | None = None) -> None:
        """Enqueue ``type`` at each tick of ``cron`` (UTC), once across all workers: each
        tick's idempotency key is ``periodic:<type>:<tick>``."""
        self.periodic_jobs.append((Cron(cron), type, dict(payload or {})))

    # -- running ---------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (second signal: stop at once); the exit code."""
        if self._sync_client is not None:
            loop = self._sync_client._loop.loop
            future = asyncio.run_coroutine_threadsafe(self.run_async(), loop)
            return self._with_signals(loop, future.result)
        return self._with_signals(None, lambda: asyncio.run(self.run_async()))

    def _with_signals(self, loop: asyncio.AbstractEventLoop | None, body: Callable[[], int]) -> int:
        if threading.current_thread() is not threading.main_thread():
            return body()
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, lambda *_: self.request_stop())
        try:
            return body()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def request_stop(self) -> None:
        """Begin a graceful stop (thread- and signal-safe); a second call forces it."""
        self._signals += 1
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_stop_request)

    def _on_stop_request(self) -> None:
        self._stop.set()
        if self._signals > 1:
            for attempt, _ in self._running.values():
                attempt.abort()

    async def run_async(self) -> int:
        """The worker's main coroutine; returns the exit code."""
        self._loop = asyncio.get_running_loop()
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="collab-handler") as threads:
            runner = JobRunner(self.client, self.worker_id, self.lease_seconds, threads)
            self.presence = self._realtime_presence()
            helpers = [asyncio.create_task(coro) for coro in self._helpers(runner)]
            try:
                await self.client.connect()
                log.info("worker %s started: executor %s, concurrency %d", self.worker_id,
                         self.executor_id, self.concurrency)
                await self._claim_loop(runner)
                return await self._drain()
            except Exception as exc:
                log.error("worker %s stopped by an error: %s", self.worker_id, exc)
                for attempt, _ in self._running.values():
                    attempt.abort()
                await self._drain(0.0)
                return ExitCode.ERROR
            finally:
                self._stop.set()
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
                await self._heartbeat("stopped")
                if self.presence is not None:
                    await self.presence.aclose()

    def _realtime_presence(self) -> WorkerPresence | None:
        """Presence and broadcasts on Realtime, when the transport is a SupabaseTransport
        (whose module is then loaded: no import of supabase-py otherwise)."""
        supabase = sys.modules.get("collab_sdk.transports.supabase.rpc")
        transport = self.client.transport
        if not self.realtime or supabase is None or not isinstance(transport, supabase.SupabaseTransport):
            return None
        from collab_sdk.worker.presence import WorkerPresence
        presence = WorkerPresence(transport, agent_id=self.worker_id, executor_id=self.executor_id,
                                  version=self.version, log_gate=self._log_gate)
        presence.start()
        return presence

    def _helpers(self, runner: JobRunner) -> list[Any]:
        helpers: list[Any] = [self._heartbeat_loop(), runner.leases.run()]
        if self.listener is not None:
            helpers.append(self.listener.run(self._stop))
        helpers.extend(self._periodic_loop(*spec) for spec in self.periodic_jobs)
        return helpers

    async def _claim_loop(self, runner: JobRunner) -> None:
        backoff, filters = Backoff(), self.tasks.claim_filters()
        while not self._stop.is_set():
            # Results still being stored are bounded too, by another concurrency's worth.
            free = min(self.concurrency - self._busy, 2 * self.concurrency - len(self._running))
            if free <= 0:
                await self._wait(None)
                continue
            self._wake.clear()
            try:
                jobs = await self.client.claim_many(self.executor_id, self.worker_id, max_jobs=free,
                                                    lease_seconds=self.lease_seconds, **filters)
            except TransportError as exc:
                self._count("claim_errors")
                if self._log_gate.should_log():
                    log.warning("claim failed, retrying: %s", exc)
                await self._wait(backoff.next())
                continue
            backoff.reset()
            for job in jobs:
                self._start(runner, job)
            if len(jobs) < free and not await self._wait(self.poll_interval):
                self._count("polls")

    async def _wait(self, timeout: float | None) -> bool:
        """Until a wake-up, a stop, a freed slot or ``timeout``; whether it was a wake-up."""
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._wake.is_set() and not self._stop.is_set()

    def _start(self, runner: JobRunner, job: Job) -> None:
        task = self.tasks.find(job.type)
        assert task is not None, f"claimed {job.type} without a handler"
        presence = self.presence
        context = (presence.context(self.client, job, self.worker_id) if presence is not None
                   else JobContext(self.client, job, self.worker_id))
        attempt = Attempt(job, context)
        self._busy += 1
        attempt.on_handler_done = self._handler_done
        running = asyncio.create_task(runner.run(attempt, task))
        self._running[job.id] = (attempt, running)
        running.add_done_callback(functools.partial(self._finished, job.id))
        self._count("claimed")
        if presence is not None:
            presence.job(job, "claimed")
            presence.job(job, "started")

    def _finished(self, job_id: Any, done: asyncio.Task[str]) -> None:
        attempt, _ = self._running.pop(job_id, (None, None))
        if attempt is not None:
            attempt.handler_done()  # when the runner ended before its handler ran
        if not done.cancelled() and done.exception() is None:
            self._count(done.result())
            if self.presence is not None and attempt is not None:
                self.presence.settled(attempt.job, done.result())
        elif not done.cancelled():
            log.error("job %s: runner crashed: %r", job_id, done.exception())
        self._wake.set()  # a slot is free

    def _handler_done(self) -> None:
        self._busy -= 1
        self._wake.set()  # a slot is free

    def _wake_up(self) -> None:
        self._wake.set()

    def _count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1

    async def _drain(self, timeout: float | None = None) -> int:
        """Stop claiming; let running jobs finish, then hand the rest back."""
        timeout = self.drain_timeout if timeout is None else timeout
        pending = [running for _, running in self._running.values()]
        if pending:
            log.info("draining %d running job(s), up to %.0fs", len(pending), timeout)
            await asyncio.wait(pending, timeout=timeout)
        leftover = list(self._running.values())
        for attempt, _ in leftover:
            attempt.abort()
        if leftover:
            await asyncio.wait([running for _, running in leftover], timeout=10)
        if self._signals > 1:
            return ExitCode.FORCED
        return ExitCode.DRAIN_TIMEOUT if leftover else ExitCode.OK

    async def _heartbeat_loop(self) -> None:
        while not self._stop.is_set():
            await self._heartbeat("busy" if self._running else "idle")
            await wait_event(self._stop, self.heartbeat_interval)

    async def _heartbeat(self, status: str) -> None:
        running, last_seen_at = len(self._running), None
        try:
            beat = await self.client.heartbeat(
                self.worker_id, self.executor_id, status=status, version=self.version,
                capacity=self.concurrency, running=running,
                metadata={"name": self.name, "pid": os.getpid(), "host": socket.gethostname(),
                          "types": sorted(self.tasks.by_type), "prefixes": sorted(self.tasks.by_prefix),
                          "stats": self.stats})
            last_seen_at = beat.last_seen_at
        except TransportError as exc:
            if self._log_gate.should_log():
                log.warning("heartbeat failed: %s", exc)
        if self.presence is not None:  # the same values as the heartbeat row
            self.presence.heartbeat(status=status, running=running, capacity=self.concurrency,
                                    stats=self.stats, last_seen_at=last_seen_at)

    async def _periodic_loop(self, cron: Cron, type: str, payload: dict[str, Any]) -> None:
        while not self._stop.is_set():
            tick = cron.next_after(datetime.now(timezone.utc))
            delay = (tick - datetime.now(timezone.utc)).total_seconds()
            if await wait_event(self._stop, max(delay, 0)):
                return
            try:
                await self.enqueue_tick(tick, type, payload)
            except TransportError as exc:
                log.warning("periodic %s at %s not enqueued: %s", type, tick.isoformat(), exc)

    async def enqueue_tick(self, tick: datetime, type: str, payload: dict[str, Any]) -> bool:
        """Enqueue the periodic job of ``tick``; False when another worker already did."""
        assigned = await self.client.assign(type, executor_id=self.executor_id, payload=payload,
                                            idempotency_key=f"periodic:{type}:{tick.isoformat()}")
        return assigned.queued
