"""The RPC core every client part shares: call one RPC, read its answer into a model.

``RpcCore`` checks ``collab.schema_version()`` once before the first call, leaves out
arguments that were not given (so the SQL defaults apply), sends the rest JSON-ready
(times in UTC) and validates answers. The client, its streams and its artifacts all
call through it, so they translate errors the same way: an argument that cannot be sent
is a ``ValidationError`` (the caller's mistake); an answer that does not parse is a
``ProtocolError`` (the server's), never a ``ValidationError``.

``value_json`` reads a scalar JSON answer in one pass where the transport can hand it
back as text (``AnswersJsonText``): ``TypeAdapter.validate_json`` on the text costs about
0.57x of decoding it (``json.loads``) and validating the objects (``validate_python``),
the worker's largest Python cost per job (a claim of 100 jobs answers about 61 KB). The
models, and how a mismatch is raised, are the same either way.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from collab_sdk.errors import ProtocolError, SchemaMismatch, ValidationError
from collab_sdk.models import as_utc
from collab_sdk.transports.base import AnswersJsonText, JsonText, Transport

__all__ = ["RpcCore", "SUPPORTED_SCHEMA_VERSIONS", "parse_answer", "parse_answer_json", "parse_input"]

#: The ``collab.schema_version()`` values this SDK understands.
SUPPORTED_SCHEMA_VERSIONS = frozenset({2, 3, 4})

M = TypeVar("M")


class _SchemaCheck:
    """Whether the schema version was checked: shared by a core and its role views."""

    def __init__(self, done: bool) -> None:
        self.done = done
        self.lock = asyncio.Lock()


class RpcCore:
    """Calls ``collab.<fn>`` over ``transport``; see the module docstring."""

    def __init__(self, transport: Transport, *, check_schema: bool = True) -> None:
        self.transport = transport
        self._check = _SchemaCheck(done=not check_schema)
        #: Whether scalar JSON answers can come back as text (asked once: a runtime
        #: protocol's ``isinstance`` is not free).
        self._answers_text = isinstance(transport, AnswersJsonText)

    def view(self, transport: Transport) -> RpcCore:
        """A core over another transport of the same database (a role view): the
        schema check is shared, so it runs once for both."""
        core = RpcCore(transport)
        core._check = self._check
        return core

    async def connect(self) -> None:
        """Check the database's schema version now rather than on the first call."""
        if self._check.done:
            return
        async with self._check.lock:
            if not self._check.done:
                version = await self.transport.call("schema_version", {})
                if version not in SUPPORTED_SCHEMA_VERSIONS:
                    supported = ", ".join(map(str, sorted(SUPPORTED_SCHEMA_VERSIONS)))
                    raise SchemaMismatch(
                        f"the database has collab schema version {version}; this SDK understands "
                        f"version {supported}. Upgrade collab-sdk or migrate the database.")
                self._check.done = True

    async def call(self, fn: str, **args: Any) -> Any:
        """Call ``collab.<fn>`` with the given arguments (None: not sent); its answer."""
        await self.connect()
        return await self.transport.call(fn, _rpc_args(args))

    async def column(self, fn: str, name: str, /, **args: Any) -> list[Any]:
        """The ``name`` column of every row of ``collab.<fn>``, unparsed: only that
        column is sent back (for answers whose rows the caller does not need)."""
        await self.connect()
        rows = await self.transport.call(fn, _rpc_args(args), columns=[name])
        return [row[name] for row in rows or []]

    async def one(self, model: type[M], fn: str, **args: Any) -> M:
        """The first row of ``collab.<fn>`` as ``model`` (``ProtocolError`` if none)."""
        rows = await self.call(fn, **args)
        if not rows:
            raise ProtocolError(f"collab.{fn} returned no row")
        return parse_answer(model, rows[0], fn)

    async def one_id(self, fn: str, **args: Any) -> UUID:
        """The ``id`` of the first row of ``collab.<fn>``: only that column is sent back
        and nothing else is parsed (``ProtocolError`` if there is no row)."""
        ids = await self.column(fn, "id", **args)
        if not ids:
            raise ProtocolError(f"collab.{fn} returned no row")
        return ids[0] if isinstance(ids[0], UUID) else parse_answer(UUID, ids[0], fn)

    async def maybe_one(self, model: type[M], fn: str, **args: Any) -> M | None:
        """The first row of ``collab.<fn>`` as ``model``, or None when there is none."""
        rows = await self.call(fn, **args)
        return parse_answer(model, rows[0], fn) if rows else None

    async def many(self, model: type[M], fn: str, **args: Any) -> list[M]:
        """Every row of ``collab.<fn>`` as ``model``."""
        return cast(list[M], parse_answer(list[model], await self.call(fn, **args), fn))  # type: ignore[valid-type]

    async def value(self, model: type[M], fn: str, **args: Any) -> M:
        """The answer of a scalar ``collab.<fn>`` read as ``model``."""
        return parse_answer(model, await self.call(fn, **args), fn)

    async def value_json(self, model: type[M], fn: str, **args: Any) -> M:
        """``value`` for a scalar ``collab.<fn>`` answering ``json`` or ``jsonb``: over a
        transport that ``AnswersJsonText`` the answer comes back as text and is validated
        in one pass (``parse_answer_json``), else as ``value`` reads it."""
        if not self._answers_text:
            return await self.value(model, fn, **args)
        await self.connect()
        text = await cast(AnswersJsonText, self.transport).call_text(fn, _rpc_args(args))
        return parse_answer(model, None, fn) if text is None else parse_answer_json(model, text, fn)


def _rpc_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready named arguments, leaving out the ones not given (SQL defaults apply);
    ``JsonText`` is JSON already."""
    try:
        return {k: v if isinstance(v, JsonText) else to_jsonable_python(as_utc(v) if isinstance(v, datetime) else v)
                for k, v in args.items() if v is not None}
    except PydanticSerializationError as exc:
        raise ValidationError(f"an argument is not JSON-serialisable: {exc}", code="CL400") from exc


@functools.lru_cache(maxsize=None)
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def parse_answer(model: type[M], data: Any, fn: str) -> M:
    """``data`` from ``collab.<fn>`` as ``model``; a mismatch is the server's fault."""
    try:
        return cast(M, _adapter(cast(Any, model)).validate_python(data))
    except PydanticValidationError as exc:
        raise ProtocolError(f"collab.{fn} answered something this SDK cannot read: {exc}") from exc


def parse_answer_json(model: type[M], text: str | bytes, fn: str) -> M:
    """``parse_answer`` of ``text``, the JSON of an answer, read and validated in one
    pass; a mismatch (or text that is not JSON) is the server's fault too."""
    try:
        return cast(M, _adapter(cast(Any, model)).validate_json(text))
    except PydanticValidationError as exc:
        raise ProtocolError(f"collab.{fn} answered something this SDK cannot read: {exc}") from exc


def parse_input(model: type[M], data: Any) -> M:
    """Caller-supplied ``data`` as ``model``; a mismatch is a ``ValidationError``."""
    try:
        return cast(M, _adapter(cast(Any, model)).validate_python(data))
    except PydanticValidationError as exc:
        raise ValidationError(str(exc), code="CL400") from exc
