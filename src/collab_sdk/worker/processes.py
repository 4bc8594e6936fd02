"""``isolation="process"``: handlers in child processes, so a crash or a hang ends one job.

    @worker.task("pdf.render", isolation="process", timeout=60)
    def render(job: Job, ctx: SyncJobContext) -> dict: ...

Each such attempt runs in a child of a pool (at most one attempt per child at a time,
children reused). A segfault, ``os._exit``, an OOM kill or a hang then ends that child
alone: the worker sees the pipe close and fails the attempt retryably
(``HandlerDied``), and a timeout, a lost lease or a drain **kills** the child — the one
way to really stop a handler that ignores ``ctx.cancelled``. A dead or killed child is
replaced by a fresh one on the next attempt.

Children are started with ``multiprocessing``'s *spawn* method (no fork of a threaded
process): the handler is sent by reference, so it must be a module-level function, and
the child imports its module afresh. The child's ``ctx`` sends ``progress``, ``log`` and
``upload_artifact`` to the worker over the pipe, which runs them with the attempt's
fenced context; results and the job travel as JSON-ready values.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import signal
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from collab_sdk.models import Artifact, Job, JobEvent
from collab_sdk.worker.context import JobContext, _Attempt
from collab_sdk.worker.tasks import PermanentFailure, Retry, Task

__all__ = ["ProcessPool", "HandlerDied", "ChildFailed", "ChildJobContext", "ChildSyncJobContext", "child_main"]

_CONTEXT_METHODS: dict[str, type[BaseModel]] = {"progress": JobEvent, "log": JobEvent,
                                                "upload_artifact": Artifact}


class HandlerDied(Exception):
    """The child process running a handler died (signal, ``os._exit``, OOM kill)."""


class ChildFailed(Exception):
    """The handler raised in its child; ``remote_traceback`` is the child's traceback."""

    def __init__(self, remote_traceback: str) -> None:
        super().__init__(remote_traceback.strip().splitlines()[-1] if remote_traceback.strip() else "failed")
        self.remote_traceback = remote_traceback


class _Child:
    """One child process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process, self.conn = process, conn
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._reading = False

    def start_reading(self) -> None:
        if not self._reading:
            asyncio.get_running_loop().add_reader(self.conn.fileno(), self._readable)
            self._reading = True

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.inbox.put_nowait(self.conn.recv())
        except (EOFError, OSError):
            self.stop_reading()
            self.inbox.put_nowait(None)  # the child is gone

    def stop_reading(self) -> None:
        """Stop watching the pipe (on the loop's thread): the child is idle or done."""
        if self._reading:
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            self._reading = False

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        """Kill the process and close the pipe (blocking: call it off the loop)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def describe_death(self) -> str:
        self.process.join(timeout=5)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}"
        return f"the handler's child process died ({how})"


class ProcessPool:
    """Child processes for ``isolation="process"`` tasks (see the module docstring)."""

    def __init__(self, *, name: str = "collab-child") -> None:
        self.name = name
        self._idle: list[_Child] = []
        self._context = multiprocessing.get_context("spawn")
        #: Children started so far, for tests and stats.
        self.started = 0

    async def _acquire(self) -> _Child:
        while self._idle:
            child = self._idle.pop()
            if child.alive():
                return child
            child.kill()
        return await asyncio.to_thread(self._spawn)

    def _spawn(self) -> _Child:
        parent_end, child_end = self._context.Pipe(duplex=True)
        self.started += 1
        process = self._context.Process(target=child_main, args=(child_end,), daemon=True,
                                        name=f"{self.name}-{self.started}")
        process.start()
        child_end.close()
        return _Child(process, parent_end)

    async def run(self, task: Task, job: Job[Any], context: JobContext) -> Any:
        """Run ``task``'s handler on ``job`` in a child; its result. Raises what the handler
        raised (``Retry``, ``PermanentFailure``, ``ChildFailed``) or ``HandlerDied``; when
        cancelled (timeout, lost lease, drain) the child is killed."""
        child = await self._acquire()
        child.start_reading()
        healthy = False
        try:
            child.conn.send(("run", task.handler, job.model_dump(mode="json"), task.payload_model,
                             context.worker_id, inspect.iscoroutinefunction(task.handler)))
            while True:
                message = await child.inbox.get()
                if message is None:
                    raise HandlerDied(child.describe_death())
                kind = message[0]
                if kind == "call":
                    child.conn.send(await _perform(context, *message[1:]))
                    continue
                healthy = True
                if kind == "done":
                    return message[1]
                if kind == "retry":
                    raise Retry(message[1], after=message[2])
                if kind == "permanent":
                    raise PermanentFailure(message[1])
                raise ChildFailed(message[1])
        finally:
            child.stop_reading()
            if healthy:
                self._idle.append(child)
            else:
                await asyncio.shield(asyncio.to_thread(child.kill))

    async def aclose(self) -> None:
        """Stop the idle children (running ones were killed with their attempts)."""
        idle, self._idle = self._idle, []
        for child in idle:
            child.conn.close()
        for child in idle:
            await asyncio.to_thread(child.process.join, 2)
            if child.process.is_alive():
                await asyncio.to_thread(child.kill)


async def _perform(context: JobContext, method: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> tuple[str, bool, Any]:
    """A child's ``ctx.<method>(...)``, run with the attempt's own (fenced) context."""
    if method not in _CONTEXT_METHODS:
        return ("reply", False, f"ctx.{method} is not available in a child process")
    try:
        value = await getattr(context, method)(*args, **kwargs)
    except Exception as exc:
        return ("reply", False, f"{type(exc).__name__}: {exc}")
    return ("reply", True, value.model_dump(mode="json") if isinstance(value, BaseModel) else value)


# -- the child's side ------------------------------------------------------------------

class _Link:
    """The child's end of the pipe: ``ctx`` calls go to the worker and wait for the answer."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if "file" in kwargs and kwargs["file"] is not None:
            kwargs["file"] = str(Path(kwargs["file"]).resolve())
        with self.lock:
            self.conn.send(("call", method, args, kwargs))
            _, ok, value = self.conn.recv()
        if not ok:
            raise RuntimeError(value)
        return _CONTEXT_METHODS[method].model_validate(value)


class _ChildContextBase(_Attempt):
    """What a handler's ``ctx`` knows in a child: the job, the worker, the attempt. Its
    ``cancelled`` is never set: a cancelled child process is killed instead."""

    def __init__(self, job: Job[Any], worker_id: str, link: _Link) -> None:
        super().__init__(job, worker_id, threading.Event())
        self._link = link


class ChildSyncJobContext(_ChildContextBase):
    """``SyncJobContext`` in a child process: the same blocking methods, over the pipe."""

    def progress(self, value: float | None = None, **fields: Any) -> JobEvent:
        """Append a ``progress`` event."""
        return self._link.call("progress", value, **fields)  # type: ignore[no-any-return]

    def log(self, message: str, **fields: Any) -> JobEvent:
        """Append a ``log`` event."""
        return self._link.call("log", message, **fields)  # type: ignore[no-any-return]

    def upload_artifact(self, name: str, data: bytes | None = None, **kwargs: Any) -> Artifact:
        """Store an artifact of this job (fenced by the lease)."""
        return self._link.call("upload_artifact", name, data, **kwargs)  # type: ignore[no-any-return]


class ChildJobContext(_ChildContextBase):
    """``JobContext`` in a child process: the same awaitable methods, over the pipe."""

    async def progress(self, value: float | None = None, **fields: Any) -> JobEvent:
        """Append a ``progress`` event."""
        return await asyncio.to_thread(self._link.call, "progress", value, **fields)

    async def log(self, message: str, **fields: Any) -> JobEvent:
        """Append a ``log`` event."""
        return await asyncio.to_thread(self._link.call, "log", message, **fields)

    async def upload_artifact(self, name: str, data: bytes | None = None, **kwargs: Any) -> Artifact:
        """Store an artifact of this job (fenced by the lease)."""
        return await asyncio.to_thread(self._link.call, "upload_artifact", name, data, **kwargs)


def child_main(conn: Connection) -> None:
    """A child's life: run one handler per ``run`` message until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when to stop
    link = _Link(conn)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        _, handler, job_row, payload_model, worker_id, is_async = message
        conn.send(_run_one(handler, job_row, payload_model, worker_id, is_async, link))


def _run_one(handler: Callable[..., Any], job_row: dict[str, Any], payload_model: Any,
             worker_id: str, is_async: bool, link: _Link) -> tuple[Any, ...]:
    try:
        job: Job[Any] = Job.model_validate(job_row)
        if payload_model is not None:
            job = job.with_payload(payload_model)
        if is_async:
            result = asyncio.run(handler(job, ChildJobContext(job, worker_id, link)))
        else:
            result = handler(job, ChildSyncJobContext(job, worker_id, link))
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return ("done", result)
    except Retry as exc:
        return ("retry", str(exc), exc.after)
    except PermanentFailure as exc:
        return ("permanent", str(exc))
    except BaseException as exc:
        return ("error", "".join(traceback.format_exception(exc))[-4000:])
