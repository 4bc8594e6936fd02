"""The narrow protocol between the client and the database: call one RPC.

A transport calls ``collab.<fn>`` with named, JSON-ready arguments and answers what
PostgREST would: a list of row dicts for a set-returning function, the value for a
scalar one. It holds no queue logic; it translates its driver's errors into
``collab_sdk.errors`` and nothing else. ``PostgresTransport`` and ``SupabaseTransport``
implement it, and one conformance suite (``tests/sdk``) runs against both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Transport"]


@runtime_checkable
class Transport(Protocol):
    """What ``AsyncCollabClient`` needs from a way into the database."""

    async def call(self, fn: str, args: Mapping[str, Any]) -> Any:
        """Call ``collab.<fn>(name => value, ...)``: rows (list of dicts) for a
        set-returning function, else its value. Raises ``CollabError`` subclasses."""
        ...

    async def aclose(self) -> None:
        """Release connections, pools and sessions. Calling it twice is harmless."""
        ...
