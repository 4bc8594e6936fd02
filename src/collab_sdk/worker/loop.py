"""``Worker``: the claim loop, and the start and finish of each attempt.

    worker = Worker(client, executor_id="default", concurrency=8)

    @worker.task("browser.screenshot", timeout=120)
    async def screenshot(job: Job[Shot], ctx: JobContext) -> dict:
        await ctx.progress(50)
        return {"ok": True}

    worker.run()          # blocks; SIGTERM/SIGINT drain gracefully; returns the exit status

Each process claims under a fresh identity ``<name>-<random>``, so a restarted worker
never inherits its predecessor's leases. It claims in batches for its free slots, only
job types it handles, then waits for a wake-up, a freed slot or the poll interval. A
claim carries the results waiting to be stored (``complete_and_claim_jobs_v1``: one
call and one commit for a batch's results and the next batch; ``completions``), and
falls back to ``claim_many`` on a database without that function. Its claims go through
the client's ``lane()``: one connection kept for the loop's life, so every claim runs on
the same database backend with warm caches (``collab_sdk.transports.lanes``).
Crash isolation: it tells the claim whether it runs anything now (``alone``), and a job
handed out ``solo`` (its previous worker died holding it) runs with nothing beside it.
The rest is in modules of its own: one attempt's life in ``runner`` (its lease in
``leases``), stopping in ``signals`` and ``drain``, ``heartbeat``, ``periodic``, and the
transport's optional wake-ups and Realtime presence in ``capabilities``. See
``docs/worker.md``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.sync import CollabClient
from collab_sdk.availability import Availability, retrying
from collab_sdk.errors import CollabError, PayloadTooLarge, SchemaMismatch, ValidationError
from collab_sdk.exits import ExitStatus
from collab_sdk.logs import fields
from collab_sdk.metrics import WorkerMetrics
from collab_sdk.models import ClaimedJob, Job
from collab_sdk.timing import Backoff, wait_event
from collab_sdk.tracing import active as tracing_active
from collab_sdk.worker import eventloop
from collab_sdk.worker.attempt import Attempt
from collab_sdk.worker.capabilities import listener_for, poll_interval_for, presence_for
from collab_sdk.worker.completions import Pending, payload
from collab_sdk.worker.context import JobContext
from collab_sdk.worker.drain import InFlight
from collab_sdk.worker.heartbeat import Heartbeat
from collab_sdk.worker.periodic import Periodic, fire_schedules
from collab_sdk.worker.retention import apply_retention
from collab_sdk.worker.processes import ProcessPool
from collab_sdk.worker.runner import JobRunner
from collab_sdk.worker.signals import StopRequests, handling_signals
from collab_sdk.worker.steps import StepHandler, StepSpec, step_handler
from collab_sdk.worker.tasks import Handler, TaskRegistry
from collab_sdk.worker.threads import HandlerThreads
from collab_sdk.worker.waiting import JobWaits

if TYPE_CHECKING:
    from collab_sdk.worker.presence import WorkerPresence

__all__ = ["Worker"]

log = logging.getLogger("collab.worker")


class Worker:
    """A pool of handlers for one executor's jobs."""

    def __init__(self, client: AsyncCollabClient | CollabClient, *, executor_id: str,
                 name: str | None = None, concurrency: int = 8, lease_seconds: int = 60,
                 poll_interval: float | None = None, heartbeat_interval: float = 5.0,
                 drain_timeout: float = 30.0, version: str | None = None,
                 realtime: bool = True, fire_schedules: bool = True, retention: bool = True,
                 max_abandoned_threads: int | None = None, metrics_port: int | None = None,
                 metrics_host: str = "0.0.0.0") -> None:
        self._sync_client = client if isinstance(client, CollabClient) else None
        self.client = client.aio if isinstance(client, CollabClient) else client
        self.executor_id = executor_id
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        #: This process's lease identity: fresh every time, never reused.
        self.worker_id = f"{self.name}-{secrets.token_hex(4)}"
        #: The database's state as this worker's loops see it (``collab_sdk.availability``):
        #: shared, so an outage or a read-only spell is one log line, and its end another.
        self.availability = Availability(log, name=self.worker_id)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        #: Seconds between polls when nothing wakes the worker (default: 2, or 30 where
        #: Realtime broadcasts wake it: ``capabilities.poll_interval_for``).
        self.poll_interval = poll_interval_for(self.client.transport, poll_interval)
        self.heartbeat_interval = heartbeat_interval
        self.drain_timeout = drain_timeout
        #: Hung sync handler threads tolerated (default: ``concurrency``); at that many the
        #: worker stops claiming and exits with ``ExitStatus.STUCK`` (``threads``).
        self.max_abandoned_threads = max_abandoned_threads or concurrency
        self.version = version
        self.tasks = TaskRegistry()
        #: The periodic jobs (``periodic``), enqueued by every worker once per tick.
        self.schedule = Periodic(self.client, executor_id, self.availability)
        #: The workflow step types this worker handles (``step``), put in the catalog at start.
        self.steps: list[StepSpec] = []
        #: Fire due workflow schedules of the executor about once a minute (pg_cron does
        #: it too where installed; a schedule's tick makes one run however many call).
        self.fire_schedules = fire_schedules
        #: Apply the executor's retention policy about once a minute (``worker.retention``).
        self.retention = retention
        #: Counts of outcomes and wake-ups, for tests, logs and heartbeats.
        self.stats: dict[str, int] = {}
        # One log gate for the Realtime parts: their trouble logs about once a second in all.
        self._log_gate = Backoff()
        #: The LISTEN wake-up source (a transport that ``Listens``; else polling alone).
        self.listener = listener_for(self.client.transport, executor_id, self._wake_up, self._log_gate)
        #: Tells the wake source when the claim loop waits or is busy (``worker.waiting``);
        #: set by ``run_async`` for the listener it runs.
        self._waits = JobWaits(None, self.poll_interval)
        #: Publish presence and broadcasts on Supabase Realtime (a transport that ``HasRealtime``).
        self.realtime = realtime
        self.presence: WorkerPresence | None = None
        self._running = InFlight()
        #: Handlers running now (jobs whose results are being stored are not counted:
        #: the next claim overlaps the previous batch's complete).
        self._busy = 0
        #: Job id of the attempt running alone (a suspect handed out ``solo``), if any.
        self._solo: Any = None
        self._stuck = False
        self._threads = HandlerThreads(self.max_abandoned_threads)
        self._stops = StopRequests(on_force=self._running.abort_all)
        self._wake = asyncio.Event()
        #: Claims go through ``complete_and_claim_jobs_v1`` (carrying waiting results);
        #: False once the database says it lacks the function (then ``claim_many``).
        self._carry = True
        #: The claim loop waits in ``_wait`` (and will claim when woken, ``_carry_results``).
        self._parked = False
        #: Prometheus metrics of this worker (``collab_sdk.metrics``), served on
        #: ``metrics_host:metrics_port`` while it runs when a port is given (0: any free
        #: port; ``metrics_port`` is then the one it got).
        self.metrics = WorkerMetrics(executor_id)
        self.metrics.count_running(lambda: len(self._running))
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host

    # -- registration ----------------------------------------------------------

    def task(self, type: str | None = None, *, prefix: str | None = None,
             timeout: float | None = None, isolation: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator: ``@worker.task("a.b")`` or ``@worker.task(prefix="a.")``;
        ``isolation="process"`` runs the handler in a child process (a crash or a hang
        then ends that job alone, and a timeout kills it)."""
        def register(handler: Handler) -> Handler:
            self.tasks.add(handler, type=type, prefix=prefix, timeout=timeout, isolation=isolation)
            return handler
        return register

    def step(self, name: str, *, title: str | None = None, description: str = "",
             category: str = "general", config_model: type[BaseModel] | None = None,
             input_model: type[BaseModel] | None = None, output_model: type[BaseModel] | None = None,
             timeout: float | None = None) -> Callable[[StepHandler], StepHandler]:
        """Decorator: ``@worker.step("http.fetch", title="Fetch a URL")`` handles the jobs
        of workflow steps of type ``name`` (``handler(step, ctx)``, see
        ``collab_sdk.worker.steps``) and registers the type in the step catalog when the
        worker starts."""
        spec = StepSpec(name=name, title=title or name, description=description, category=category,
                        config_model=config_model, input_model=input_model, output_model=output_model)

        def register(handler: StepHandler) -> StepHandler:
            self.tasks.add(step_handler(spec, handler), type=name, prefix=None, timeout=timeout)
            self.steps.append(spec)
            return handler
        return register

    def periodic(self, cron: str, type: str, payload: dict[str, Any] | None = None, *,
                 timezone: str | None = None) -> None:
        """Enqueue ``type`` at each tick of ``cron`` (five fields or a macro such as
        ``@hourly``, read in ``timezone``, an IANA name, default UTC), once across all
        workers: each tick's idempotency key is ``periodic:<type>:<tick in UTC>``."""
        self.schedule.add(cron, type, payload, timezone=timezone)

    async def enqueue_tick(self, tick: datetime, type: str, payload: dict[str, Any]) -> bool:
        """Enqueue the periodic job of ``tick``; False when another worker already did."""
        return await self.schedule.enqueue_tick(tick, type, payload)

    # -- running ---------------------------------------------------------------

    def run(self) -> ExitStatus:
        """Run until SIGTERM/SIGINT (second signal: stop at once); the exit status. On a
        loop of its own: uvloop's where installed (``collab_sdk.worker.eventloop``)."""
        if self._sync_client is not None:
            future = asyncio.run_coroutine_threadsafe(self.run_async(), self._sync_client.loop)
            return handling_signals(self.request_stop, future.result)
        return handling_signals(self.request_stop, lambda: eventloop.run(self.run_async()))

    def request_stop(self) -> None:
        """Begin a graceful stop (thread- and signal-safe); a second call forces it."""
        self._stops.request()

    async def run_async(self) -> ExitStatus:
        """The worker's main coroutine; returns the exit status."""
        stop = self._stops.bind()
        self._wake = asyncio.Event()
        self._waits = JobWaits(self.listener, self.poll_interval)
        self._threads = threads = HandlerThreads(self.max_abandoned_threads)
        processes = ProcessPool() if self.tasks.isolated else None
        runner = JobRunner(self.client, self.worker_id, self.lease_seconds, threads,
                           processes, self._count, availability=self.availability,
                           carry=self._carry_results)
        self.presence = presence_for(self.client.transport, enabled=self.realtime,
                                     agent_id=self.worker_id, executor_id=self.executor_id,
                                     version=self.version, log_gate=self._log_gate)
        heartbeat = Heartbeat(self.client, worker_id=self.worker_id, executor_id=self.executor_id,
                              name=self.name, version=self.version, capacity=self.concurrency,
                              tasks=self.tasks, stats=self.stats, running=lambda: len(self._running),
                              presence=self.presence, availability=self.availability)
        helpers = [heartbeat.run(stop, self.heartbeat_interval), runner.leases.run(),
                   *([self.listener.run(stop)] if self.listener is not None else []),
                   *self.schedule.loops(stop),
                   *([fire_schedules(self.client, self.executor_id, stop)] if self.fire_schedules else []),
                   *([apply_retention(self.client, self.executor_id, self.worker_id, stop)] if self.retention else [])]
        if self.metrics_port is not None:
            helpers.append(self._refresh_overview(stop))
        background = [asyncio.create_task(helper) for helper in helpers]
        try:
            if self.metrics_port is not None:
                self.metrics_port = self.metrics.serve(self.metrics_port, self.metrics_host)
                log.info("worker.metrics", extra=fields(
                    url=f"http://{self.metrics_host}:{self.metrics_port}/metrics"))
            await self.client.connect()
            if self.steps:  # a worker started on a read-only database waits here
                catalog = [spec.catalog_entry() for spec in self.steps]
                await retrying(lambda: self.client.workflows.register_step_types(self.executor_id, catalog),
                               self.availability, stop=stop)
            log.info("worker.started", extra=fields(worker=self.worker_id, executor=self.executor_id,
                                                    concurrency=self.concurrency,
                                                    types=sorted(self.tasks.by_type) + [
                                                        f"{p}*" for p in sorted(self.tasks.by_prefix)]))
            try:
                await self._claim_loop(runner)
            finally:
                runner.completions.kick()  # no claim carries them any more
            status = await self._drain(self.drain_timeout)
            if self._stuck and status is not ExitStatus.FORCED:
                status = ExitStatus.STUCK
            log.info("worker.stopped", extra=fields(worker=self.worker_id, status=int(status),
                                                    reason=status.name.lower()))
            return status
        except Exception as exc:
            log.error("worker.failed", exc_info=exc, extra=fields(
                worker=self.worker_id, error=str(exc), status=int(ExitStatus.ERROR)))
            self._running.abort_all()
            await self._drain(0.0)
            return ExitStatus.ERROR
        finally:
            stop.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            self.metrics.close()
            await heartbeat.beat("stopped")
            if self.presence is not None:
                await self.presence.aclose()
            if processes is not None:
                await processes.aclose()
            if threads.abandoned:
                log.warning("worker %s exits with %d hung handler thread(s) abandoned",
                            self.worker_id, threads.abandoned)

    async def _claim_loop(self, runner: JobRunner) -> None:
        """Claim until stopped, over one connection kept for the loop (``client.lane()``):
        a pool lends its idle connections in turn, so claims would rotate over its
        backends, each with cold caches for them."""
        async with self.client.lane() as claims:
            await self._claims(runner, claims)

    async def _claims(self, runner: JobRunner, claims: AsyncCollabClient) -> None:
        # An unavailable, read-only or contended database is waited out with backoff, never
        # an exit (``collab_sdk.availability``); any other error ends the worker.
        backoff, filters, stop = Backoff(), self.tasks.claim_filters(), self._stops.event
        carry = True  # whether the next claim takes the waiting results
        while not stop.is_set():
            if self._threads.stuck:
                self._give_up()
                break
            free = self._free()
            if free <= 0 or self._solo is not None:  # a suspect runs alone: nothing beside it
                # Only a slot freed from now on counts: a wake-up left over from the claim
                # would make this loop spin (two futures a turn) until one is free.
                self._wake.clear()
                self._waits.busy()
                await self._wait(runner, None)
                continue
            self._wake.clear()
            claim_sent = time.time_ns()
            carried = runner.completions.take() if self._carry and carry else []
            carry = True
            try:
                jobs = await self._claim(claims, runner, free, filters, carried)
            except SchemaMismatch:
                runner.completions.give_back(carried)
                if not self._carry:
                    raise
                self._carry = False  # a database without complete_and_claim_jobs_v1
                continue
            except (ValidationError, PayloadTooLarge):
                if not carried:
                    raise
                # A bad result: the batcher sends them (and tries each alone); the claim
                # goes again at once, without them.
                runner.completions.give_back(carried)
                carry = False
                continue
            except CollabError as exc:
                runner.completions.give_back(carried)
                if self.availability.failed(exc) is None:
                    raise
                self._count("claim_errors")
                await wait_event(stop, backoff.next())  # not woken early: no tight loop
                continue
            except BaseException:
                runner.completions.give_back(carried)
                raise
            self.availability.succeeded()
            backoff.reset()
            window, traced = (claim_sent, time.time_ns()), tracing_active()
            for job in jobs:
                self._start(runner, job, window, traced)
            if len(jobs) >= free:
                self._waits.busy()  # full: it claims again at once, or when a slot frees
                continue
            pause = await self._waits.settle()
            if pause is not None:  # not yet sure every job it missed will wake it
                if pause:
                    await self._wait(runner, pause)
                continue
            if not await self._wait(runner, self.poll_interval):
                self._count("polls")
                self.metrics.woken("poll")

    async def _claim(self, claims: AsyncCollabClient, runner: JobRunner, free: int,
                     filters: dict[str, Any], carried: list[Pending]) -> list[ClaimedJob]:
        """Claim up to ``free`` jobs, storing the ``carried`` results in the same call and
        transaction (``complete_and_claim_jobs_v1``, whose one JSON answer is also cheaper
        to read than rows); ``claim_many`` on a database without it."""
        if not self._carry:
            return await claims.claim_many(self.executor_id, self.worker_id, max_jobs=free,
                                           lease_seconds=self.lease_seconds,
                                           alone=self._busy == 0, **filters)
        batch = await claims.complete_and_claim_many(
            self.executor_id, self.worker_id, payload(carried), max_jobs=free,
            lease_seconds=self.lease_seconds, alone=self._busy == 0, **filters)
        runner.completions.delivered(carried, batch.lost)
        return batch.jobs

    def _free(self) -> int:
        """Slots for new jobs: handlers not running, and results still being stored
        bounded too, by another concurrency's worth."""
        return min(self.concurrency - self._busy, 2 * self.concurrency - len(self._running))

    def _carry_results(self) -> bool:
        """The completion batcher asks whether this loop's next claim carries its
        waiting results: yes while it waits and will claim when woken (it is woken now)."""
        if (not self._carry or not self._parked or self._stops.event.is_set() or self._solo is not None
                or self._threads.stuck or self._free() <= 0):
            return False
        self._wake.set()
        return True

    async def _wait(self, runner: JobRunner, timeout: float | None) -> bool:
        """Until a wake-up, a stop, a freed slot or ``timeout``; whether it was a wake-up.
        Results waiting now go out from the batcher, or with the claim it wakes."""
        stop = self._stops.event
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        self._parked = True
        runner.completions.kick()
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._parked = False
            for waiter in waiters:
                waiter.cancel()
        return self._wake.is_set() and not stop.is_set()

    def _give_up(self) -> None:
        """Too many hung threads: stop claiming; the supervisor restarts the process."""
        self._stuck = True
        log.error("worker %s: %d hung handler thread(s) abandoned (the limit is %d); it stops "
                  "claiming and exits with %d so that it is restarted", self.worker_id,
                  self._threads.abandoned, self.max_abandoned_threads, ExitStatus.STUCK)

    def _start(self, runner: JobRunner, job: Job, claim_window: tuple[int, int] | None = None,
               traced: bool = False) -> None:
        task = self.tasks.find(job.type)
        assert task is not None, f"claimed {job.type} without a handler"
        presence = self.presence
        context = (presence.context(self.client, job, self.worker_id) if presence is not None
                   else JobContext(self.client, job, self.worker_id))
        context.availability = self.availability  # its events wait out an outage too
        attempt = Attempt(job, context)
        attempt.claim_window, attempt.traced = claim_window, traced
        self._busy += 1
        rescues = job.rescues if isinstance(job, ClaimedJob) else 0
        if isinstance(job, ClaimedJob) and job.solo is True:
            self._solo = job.id
        if rescues:
            log.warning("job.reclaimed", extra=fields(
                type=job.type, id=str(job.id), attempt=job.attempts, rescues=rescues,
                alone=bool(isinstance(job, ClaimedJob) and job.solo),
                reason=f"its lease expired {rescues} time(s): a worker died or froze holding it"))
        if log.isEnabledFor(logging.INFO):  # the fields cost even when the line is dropped
            log.info("job.started", extra=fields(type=job.type, id=str(job.id), attempt=job.attempts,
                                                 executor=job.executor_id, worker=self.worker_id))
        attempt.on_handler_done = self._handler_done
        running = asyncio.create_task(runner.run(attempt, task))
        self._running.add(attempt, running)
        running.add_done_callback(functools.partial(self._finished, job.id))
        self._count("claimed")
        self.metrics.job_claimed(job.type)
        if presence is not None:
            presence.job(job, "claimed")
            presence.job(job, "started")

    def _finished(self, job_id: Any, done: asyncio.Task[str]) -> None:
        attempt = self._running.pop(job_id)
        if attempt is not None:
            attempt.handler_done()  # when the runner ended before its handler ran
        if self._solo == job_id:
            self._solo = None
        if not done.cancelled() and done.exception() is None:
            self._count(done.result())
            if attempt is not None:
                _log_finished(attempt, done.result())
                self.metrics.job_finished(attempt.job.type, done.result(), attempt.handler_seconds)
            if self.presence is not None and attempt is not None:
                self.presence.settled(attempt.job, done.result())
        elif not done.cancelled():
            self._count("runner_errors")
            log.error("job %s: runner crashed: %r", job_id, done.exception())
        else:
            self._count("runner_cancelled")
        self._wake.set()  # a slot is free

    def _handler_done(self) -> None:
        self._busy -= 1
        self._wake.set()  # a slot is free

    def _wake_up(self) -> None:
        self.metrics.woken("notify")
        self._wake.set()

    def _count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1
        if key == "lease_extensions":
            self.metrics.lease_extended()
        elif key == "leases_lost":
            self.metrics.lease_lost()
        elif key == "results_dropped":
            self.metrics.result_dropped()

    async def _refresh_overview(self, stop: asyncio.Event, interval: float = 10.0) -> None:
        """Keep ``metrics.overview`` (the executor's counts by type and state) fresh."""
        while not stop.is_set():
            try:
                self.metrics.overview = await self.client.metrics(executor_id=self.executor_id)
            except CollabError as exc:
                if self._log_gate.should_log():
                    log.warning("worker.metrics_stale", extra=fields(error=str(exc)))
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def _drain(self, timeout: float) -> ExitStatus:
        """Stop claiming; let running jobs finish, then hand the rest back."""
        leftover = await self._running.drain(timeout)
        if self._stops.forced:
            return ExitStatus.FORCED
        return ExitStatus.DRAIN_TIMEOUT if leftover else ExitStatus.OK


#: The level of each outcome's ``job.finished`` line.
_OUTCOME_LEVELS = {"succeeded": logging.INFO, "failed": logging.ERROR}


def _log_finished(attempt: Attempt, outcome: str) -> None:
    """One ``job.finished`` line: type, id, attempt, duration, outcome (why, for a lost or
    aborted one; the whole traceback of a handler that raised)."""
    level = _OUTCOME_LEVELS.get(outcome, logging.WARNING)
    if not log.isEnabledFor(level):
        return
    job = attempt.job
    extra: dict[str, Any] = {
        "type": job.type, "id": str(job.id), "attempt": job.attempts, "outcome": outcome,
        "duration_ms": round((time.monotonic() - attempt.started_at) * 1000, 1)}
    if attempt.handler_seconds is not None:
        extra["handler_ms"] = round(attempt.handler_seconds * 1000, 1)
    if outcome == "lost":
        extra["reason"] = (attempt.lost_reason or "the lease was lost") + "; its result was discarded"
    elif outcome == "aborted":
        extra["reason"] = "the worker stopped before the handler finished; the job was handed back"
    if attempt.traceback:
        extra["traceback"] = attempt.traceback
    log.log(level, "job.finished", extra=fields(**extra))
