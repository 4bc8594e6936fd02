"""``CollabClient``: the blocking face of ``AsyncCollabClient``, not a copy of it.

Each ``CollabClient`` runs one private event loop in a daemon thread and submits the
async client's coroutines to it, so every method here *is* the async method: same
arguments, same answers, same errors, and the caller's context variables (its current
OpenTelemetry span: a blocking enqueue is a child of it). The async pool and sessions
live on that loop.
``close()`` (or leaving ``with CollabClient(...)``) closes the transport and stops it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import threading
import weakref
from contextlib import contextmanager
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from typing_extensions import Self

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.workflows import AsyncWorkflows
from collab_sdk.transports.storage import Storage
from collab_sdk.transports.base import Transport

__all__ = ["CollabClient", "Workflows"]

P = ParamSpec("P")
R = TypeVar("R")


class _LoopThread:
    """An event loop running forever in a daemon thread; at interpreter exit, a loop still
    running has its tasks cancelled and is stopped, as ``asyncio.run`` does (a pool's
    tasks destroyed pending would otherwise log ``Task was destroyed`` at ERROR)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="collab-client-loop",
                                       daemon=True)
        self.thread.start()
        self._at_exit = weakref.finalize(self, _shut_down, self.loop, self.thread)

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("CollabClient was called from its own event loop; use AsyncCollabClient")
        return self.submit(coro).result()

    def submit(self, coro: Coroutine[Any, Any, R]) -> concurrent.futures.Future[R]:
        """Schedule ``coro`` on the loop in a copy of the caller's context variables — its
        current OpenTelemetry span among them, so that a blocking ``assign`` is a child of
        the caller's span, from any thread. (``run_coroutine_threadsafe`` would copy the
        context by itself, through ``call_soon_threadsafe``'s default; this says so, and
        ``tests/worker/test_worker_tracing.py`` fails if it is lost.)"""
        return contextvars.copy_context().run(asyncio.run_coroutine_threadsafe, coro, self.loop)

    def stop(self) -> None:
        self._at_exit.detach()
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def _shut_down(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Cancel every task of a client loop left running, then stop it (at exit)."""
    if loop.is_closed() or not thread.is_alive():
        return

    async def cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_asyncgens()

    try:
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout=5)
    except (Exception, concurrent.futures.CancelledError):  # at exit: nothing left to tell
        pass
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)


class _Twin(Protocol):
    """What a blocking face has: the loop thread and the async object it wraps."""

    _loop: _LoopThread
    aio: Any


A = TypeVar("A")


def _blocking(method: Callable[Concatenate[A, P], Coroutine[Any, Any, R]]
              ) -> Callable[Concatenate[_Twin, P], R]:
    """An async method as a blocking one of the face wrapping its object (``self.aio``)."""
    @functools.wraps(method)
    def call(self: _Twin, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._loop.run(method(self.aio, *args, **kwargs))
    return call


def _blocking_iter(method: Callable[Concatenate[A, P], AsyncIterator[R]]
                   ) -> Callable[Concatenate[_Twin, P], Iterator[R]]:
    """An async-generator method as a blocking generator method."""
    @functools.wraps(method)
    def call(self: _Twin, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        agen = method(self.aio, *args, **kwargs)
        try:
            while True:
                try:
                    yield self._loop.run(anext(agen))  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
        finally:
            self._loop.run(agen.aclose())  # type: ignore[attr-defined]
    return call


class Workflows:
    """The blocking face of ``AsyncWorkflows`` (``CollabClient.workflows``)."""

    def __init__(self, loop: _LoopThread, aio: AsyncWorkflows) -> None:
        self._loop, self.aio = loop, aio

    create = _blocking(AsyncWorkflows.create)
    create_once = _blocking(AsyncWorkflows.create_once)
    update = _blocking(AsyncWorkflows.update)
    get = _blocking(AsyncWorkflows.get)
    list = _blocking(AsyncWorkflows.list)
    validate = _blocking(AsyncWorkflows.validate)
    validate_definition = _blocking(AsyncWorkflows.validate_definition)
    publish = _blocking(AsyncWorkflows.publish)
    duplicate = _blocking(AsyncWorkflows.duplicate)
    duplicate_once = _blocking(AsyncWorkflows.duplicate_once)
    archive = _blocking(AsyncWorkflows.archive)
    delete = _blocking(AsyncWorkflows.delete)
    step_types = _blocking(AsyncWorkflows.step_types)
    register_step_types = _blocking(AsyncWorkflows.register_step_types)
    start = _blocking(AsyncWorkflows.start)
    get_run = _blocking(AsyncWorkflows.get_run)
    steps = _blocking(AsyncWorkflows.steps)
    list_runs = _blocking(AsyncWorkflows.list_runs)
    snapshot = _blocking(AsyncWorkflows.snapshot)
    events = _blocking(AsyncWorkflows.events)
    watch_run = _blocking_iter(AsyncWorkflows.watch_run)
    resume = _blocking(AsyncWorkflows.resume)
    cancel = _blocking(AsyncWorkflows.cancel)
    retry = _blocking(AsyncWorkflows.retry)
    create_schedule = _blocking(AsyncWorkflows.create_schedule)
    create_schedule_once = _blocking(AsyncWorkflows.create_schedule_once)
    update_schedule = _blocking(AsyncWorkflows.update_schedule)
    delete_schedule = _blocking(AsyncWorkflows.delete_schedule)
    schedules = _blocking(AsyncWorkflows.schedules)
    fire_due_schedules = _blocking(AsyncWorkflows.fire_due_schedules)
    create_webhook_secret = _blocking(AsyncWorkflows.create_webhook_secret)
    webhook_secret = _blocking(AsyncWorkflows.webhook_secret)
    delete_webhook_secret = _blocking(AsyncWorkflows.delete_webhook_secret)
    start_from_webhook = _blocking(AsyncWorkflows.start_from_webhook)


class CollabClient:
    """The blocking collab client; see ``AsyncCollabClient`` for every method.

    ``with CollabClient.from_env() as client: client.assign("t", executor_id="e")``."""

    def __init__(self, transport: Transport, *, storage: Storage | None = None,
                 check_schema: bool = True) -> None:
        self._loop, self._owns_loop = _LoopThread(), True
        #: The async client underneath, for code that wants both faces.
        self.aio = AsyncCollabClient(transport, storage=storage, check_schema=check_schema)

    @classmethod
    def from_url(cls, url: str, *, role: str | None = None,
                 claims: Mapping[str, Any] | None = None, max_size: int = 10,
                 storage: Storage | None = None) -> CollabClient:
        """A client over ``PostgresTransport(url)``, optionally acting as ``role``."""
        return cls._wrap(AsyncCollabClient.from_url(url, role=role, claims=claims,
                                                    max_size=max_size, storage=storage))

    @classmethod
    def from_env(cls) -> CollabClient:
        """The client the environment asks for (see ``collab_sdk.client.config``)."""
        return cls._wrap(AsyncCollabClient.from_env())

    @classmethod
    def _wrap(cls, aio: AsyncCollabClient, loop: _LoopThread | None = None) -> CollabClient:
        client = cls.__new__(cls)
        client._loop, client.aio, client._owns_loop = loop or _LoopThread(), aio, loop is None
        return client

    def acting_as(self, role: str, claims: Mapping[str, Any] | None = None) -> CollabClient:
        """A client sharing this one's event loop and pool that acts as ``role`` with
        these JWT claims (see ``AsyncCollabClient.acting_as``); cheap enough per request."""
        return CollabClient._wrap(self.aio.acting_as(role, claims), self._loop)

    def acting_for(self, access_token: str) -> CollabClient:
        """A client sharing this one's event loop and pool that acts as the user of
        ``access_token`` (see ``AsyncCollabClient.acting_for``); cheap enough per request."""
        return CollabClient._wrap(self.aio.acting_for(access_token), self._loop)

    @contextmanager
    def lane(self) -> Iterator[CollabClient]:
        """``with client.lane() as calls:`` a client sharing this one's event loop whose
        calls all use one connection, given back when the block ends (see
        ``AsyncCollabClient.lane``)."""
        lane = self.aio.lane()
        view = self._loop.run(lane.__aenter__())
        try:
            yield CollabClient._wrap(view, self._loop)
        finally:
            self._loop.run(lane.__aexit__(None, None, None))

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The private event loop the async client runs on (in a daemon thread)."""
        return self._loop.loop

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run a coroutine of ``self.aio`` on the client's loop and wait for its result."""
        return self._loop.run(coro)

    @property
    def workflows(self) -> Workflows:
        """The blocking workflow methods (see ``AsyncCollabClient.workflows``)."""
        return Workflows(self._loop, self.aio.workflows)

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the transport and stop the client's event loop thread (a client from
        ``acting_as`` or ``acting_for`` leaves both to the client it came from)."""
        if self._owns_loop and not self._loop.loop.is_closed():
            try:
                self._loop.run(self.aio.aclose())
            finally:
                self._loop.stop()

    def submit(self, coro: Coroutine[Any, Any, R]) -> concurrent.futures.Future[R]:
        """Schedule a coroutine of ``self.aio`` on this client's loop without waiting
        (e.g. to pump ``self.aio.watch(...)`` into a queue); cancel the future to stop it.
        Like every method, it runs in a copy of the caller's context variables."""
        return self._loop.submit(coro)

    connect = _blocking(AsyncCollabClient.connect)
    assign = _blocking(AsyncCollabClient.assign)
    assign_many = _blocking(AsyncCollabClient.assign_many)
    claim = _blocking(AsyncCollabClient.claim)
    claim_many = _blocking(AsyncCollabClient.claim_many)
    complete = _blocking(AsyncCollabClient.complete)
    complete_id = _blocking(AsyncCollabClient.complete_id)
    complete_and_claim = _blocking(AsyncCollabClient.complete_and_claim)
    complete_many = _blocking(AsyncCollabClient.complete_many)
    complete_many_ids = _blocking(AsyncCollabClient.complete_many_ids)
    complete_and_claim_many = _blocking(AsyncCollabClient.complete_and_claim_many)
    fail = _blocking(AsyncCollabClient.fail)
    fail_id = _blocking(AsyncCollabClient.fail_id)
    extend_lease = _blocking(AsyncCollabClient.extend_lease)
    progress = _blocking(AsyncCollabClient.progress)
    add_artifacts = _blocking(AsyncCollabClient.add_artifacts)
    upload_artifact = _blocking(AsyncCollabClient.upload_artifact)
    sign_artifact = _blocking(AsyncCollabClient.sign_artifact)
    cancel = _blocking(AsyncCollabClient.cancel)
    retry = _blocking(AsyncCollabClient.retry)
    delete = _blocking(AsyncCollabClient.delete)
    purge = _blocking(AsyncCollabClient.purge)
    purge_runs = _blocking(AsyncCollabClient.purge_runs)
    retention_policy = _blocking(AsyncCollabClient.retention_policy)
    set_retention_policy = _blocking(AsyncCollabClient.set_retention_policy)
    apply_retention = _blocking(AsyncCollabClient.apply_retention)
    remove_deleted_objects = _blocking(AsyncCollabClient.remove_deleted_objects)
    get_job = _blocking(AsyncCollabClient.get_job)
    summary = _blocking(AsyncCollabClient.summary)
    events = _blocking(AsyncCollabClient.events)
    artifacts = _blocking(AsyncCollabClient.artifacts)
    jobs_recent = _blocking(AsyncCollabClient.jobs_recent)
    iter_jobs = _blocking_iter(AsyncCollabClient.iter_jobs)
    watch = _blocking_iter(AsyncCollabClient.watch)
    watch_job = _blocking_iter(AsyncCollabClient.watch_job)
    job_snapshot = _blocking(AsyncCollabClient.job_snapshot)
    events_head = _blocking(AsyncCollabClient.events_head)
    dlq_list = _blocking(AsyncCollabClient.dlq_list)
    dlq_retry = _blocking(AsyncCollabClient.dlq_retry)
    heartbeat = _blocking(AsyncCollabClient.heartbeat)
    workers_active = _blocking(AsyncCollabClient.workers_active)
    stats = _blocking(AsyncCollabClient.stats)
    throughput = _blocking(AsyncCollabClient.throughput)
    jobs_bulk = _blocking(AsyncCollabClient.jobs_bulk)
    metrics = _blocking(AsyncCollabClient.metrics)
    metrics_by_executor = _blocking(AsyncCollabClient.metrics_by_executor)
    add_member = _blocking(AsyncCollabClient.add_member)
    remove_member = _blocking(AsyncCollabClient.remove_member)
    members = _blocking(AsyncCollabClient.members)
    my_executors = _blocking(AsyncCollabClient.my_executors)
    schema_version = _blocking(AsyncCollabClient.schema_version)
