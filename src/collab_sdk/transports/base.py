"""The narrow protocol between the client and the database, and what a transport may add.

``Transport`` is all the client needs: call ``collab.<fn>`` with named, JSON-ready
arguments (or ``JsonText``: an argument already serialised) and answer what PostgREST
would (a list of row dicts for a set-returning function, the value for a scalar one),
translating driver errors into ``collab_sdk.errors`` and nothing else.
``PostgresTransport`` and ``SupabaseTransport`` implement it, and one conformance suite
(``tests/sdk``) runs against both.

Anything more is a **capability**, declared by a protocol here and found with
``isinstance`` — never by probing attributes or URL prefixes:

- ``ActsAsRole``: per-caller views over one pool (the HTTP layer acting for a JWT caller);
- ``ActsAsUser``: per-caller views that forward the caller's own access token (the HTTP
  layer acting for a JWT caller where roles cannot be switched: PostgREST checks the
  token and runs as its user, under RLS);
- ``Listens``: ``LISTEN`` wake-ups on a session connection (workers' ``collab_jobs``);
- ``HasLiveEvents``: a ``LiveSource`` telling event streams when to read again;
- ``HasStorage``: artifact storage that goes with the transport (Supabase Storage);
- ``HasRealtime``: a Realtime session for presence and broadcasts (Supabase);
- ``CapsRows``: answers cut at ``max_rows`` rows (PostgREST's ``max_rows``), so the client
  splits batch RPCs into chunks of at most that many inputs;
- ``HasLanes``: views whose calls keep one connection between them (a worker's claim
  loop: the same backend, warm caches, every call);
- ``WaitsForJobs``: a wake source the engine wakes only while its worker says it waits
  (``LISTEN collab_jobs``; ``collab_sdk.worker.waiting``);
- ``WakesClaims``: claim wake-ups pushed over Realtime (a private ``queue:`` channel fed
  by ``realtime.send`` in the database), so workers can poll rarely;
- ``AnswersJsonText``: a scalar JSON answer handed back as its text, unparsed, so the
  client validates it in one pass (``TypeAdapter.validate_json``) instead of decoding it
  into Python objects and validating those (the worker's claim answers).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collab_sdk.timing import Backoff
    from collab_sdk.transports.storage import Storage
    from collab_sdk.transports.supabase.session import SupabaseSession

__all__ = ["JsonText", "Transport", "ActsAsRole", "ActsAsUser", "Listens", "WakeSource", "HasLiveEvents", "LiveSource",
           "EventFilter", "HasStorage", "HasRealtime", "CapsRows", "WakesClaims", "HasLanes",
           "AnswersJsonText", "WaitsForJobs"]


class JsonText(bytes):
    """An RPC argument already serialised as JSON (UTF-8): ``assign_many`` writes its
    batch in one pass (``pydantic_core.to_json``) rather than copying every job into
    JSON-ready dicts and dumping those. ``RpcCore`` passes it through unchanged; a
    transport sends it as that JSON value."""

    __slots__ = ()


@runtime_checkable
class Transport(Protocol):
    """What ``AsyncCollabClient`` needs from a way into the database."""

    async def call(self, fn: str, args: Mapping[str, Any], columns: Sequence[str] | None = None) -> Any:
        """Call ``collab.<fn>(name => value, ...)``: rows (list of dicts) for a
        set-returning function, else its value; ``columns`` keeps only those of each row
        (PostgREST's ``select=``; for set-returning functions). Raises ``CollabError``
        subclasses."""
        ...

    async def aclose(self) -> None:
        """Release connections, pools and sessions. Calling it twice is harmless."""
        ...


@runtime_checkable
class ActsAsRole(Protocol):
    """A transport that can call as another database role over the same connections."""

    def as_role(self, role: str, claims: Mapping[str, Any] | None = None) -> Transport:
        """A view calling as ``role`` with these JWT claims; closing it keeps the pool."""
        ...


@runtime_checkable
class ActsAsUser(Protocol):
    """A transport that can call as the user of an access token over the same
    connections: the service behind it (PostgREST) verifies the token and runs as that
    user, so RLS and membership checks apply to the token's user."""

    def as_user(self, access_token: str) -> Transport:
        """A view sending ``access_token`` as its caller's; closing it keeps the pool."""
        ...


class WakeSource(Protocol):
    """A loop that calls its wake-up callback on each notification, until stopped."""

    connected: asyncio.Event

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting after failures; never raises."""
        ...


@runtime_checkable
class WaitsForJobs(Protocol):
    """A wake source the engine wakes only while its worker says it waits
    (``LISTEN collab_jobs``: ``collab.wait_for_jobs_v1``); ``collab_sdk.worker.waiting``."""

    #: Whether a claim made now sees every job that no wake-up will announce.
    settled: bool

    async def wait_for_jobs(self) -> bool:
        """Start waiting; whether ``settled`` (else claim again shortly)."""
        ...

    def stop_waiting(self) -> None:
        """The worker is busy: wake-ups are not needed until it waits again."""
        ...


@runtime_checkable
class Listens(Protocol):
    """A transport with ``LISTEN``: a direct or session-mode connection. ``can_listen`` is
    False where the only connection is a transaction-mode pooler's (wake-ups then come
    from polling)."""

    can_listen: bool

    def listener(self, channel: str, accept: Callable[[str], bool], on_wake: Callable[[], None],
                 log_gate: Backoff | None = None, *, waits_for: str | None = None) -> WakeSource:
        """A wake source calling ``on_wake`` for each ``channel`` notification that
        ``accept`` takes, and once after every (re)connect; ``waits_for`` names the
        executor whose wake-ups it asks for while its worker waits (``WaitsForJobs``)."""
        ...


@dataclass(frozen=True)
class EventFilter:
    """Which events a stream follows: one job, one executor, one workflow run, or (all
    None) everything visible."""

    job_id: str | None = None
    executor_id: str | None = None
    run_id: str | None = None

    def matches_hint(self, payload: str) -> bool:
        """Whether a ``collab_events`` hint may concern this stream (unknown: yes)."""
        try:
            hint = json.loads(payload)
            job, executor = hint.get("job_id"), hint.get("executor_id")
        except (ValueError, AttributeError):
            return True
        return (self.job_id is None or job in (None, self.job_id)) and \
            (self.executor_id is None or executor in (None, self.executor_id))


class LiveSource(Protocol):
    """Tells a stream when to read again. ``run`` calls ``wake()`` on each relevant
    change and after every (re)connect, until ``stop`` is set; it never raises."""

    async def run(self, events: EventFilter, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Watch for changes until ``stop`` is set."""
        ...


@runtime_checkable
class HasLiveEvents(Protocol):
    """A transport that can tell event streams when new events may have committed."""

    def live_source(self) -> LiveSource | None:
        """A fresh live source for one stream (None: it cannot listen; poll)."""
        ...


@runtime_checkable
class HasStorage(Protocol):
    """A transport whose service also stores artifacts."""

    def storage(self) -> Storage:
        """Artifact storage over this transport's session."""
        ...


@runtime_checkable
class HasRealtime(Protocol):
    """A transport with a Realtime service (presence and broadcasts)."""

    def realtime_session(self) -> SupabaseSession:
        """The session whose Realtime socket presence and broadcasts use."""
        ...


@runtime_checkable
class CapsRows(Protocol):
    """A transport whose answers hold at most ``max_rows`` rows: PostgREST cuts any
    function result past its ``max_rows`` (1,000 on Supabase unless configured), after
    the function ran in full. The client sends batch RPCs that answer one row per input
    (``assign_many``, ``complete_many``) in chunks of at most ``max_rows`` inputs, each
    its own transaction, and never claims more than ``max_rows`` jobs in one call."""

    max_rows: int


@runtime_checkable
class WakesClaims(Protocol):
    """A transport that can be told when jobs of an executor become claimable, without
    ``LISTEN``: Supabase Realtime broadcasts that the database sends itself."""

    def claim_waker(self, executor_id: str, on_wake: Callable[[], None], *,
                    backstop: float, log_gate: Backoff | None = None) -> WakeSource:
        """A wake source calling ``on_wake`` on each wake-up for ``executor_id`` and once
        after every (re)subscribe; while it is not subscribed it calls ``on_wake``
        every ``backstop`` seconds, so a worker that polls rarely never waits longer."""
        ...


@runtime_checkable
class HasLanes(Protocol):
    """A transport with connections that can keep one for a caller's many calls."""

    def lane(self) -> Transport:
        """A view over the same connections whose calls, one at a time, all use one
        connection kept between them; closing it gives the connection back."""
        ...


@runtime_checkable
class AnswersJsonText(Protocol):
    """A transport that can answer a scalar ``json``/``jsonb`` RPC as its JSON text."""

    async def call_text(self, fn: str, args: Mapping[str, Any]) -> str | None:
        """Call the scalar ``collab.<fn>`` as ``call`` does (same arguments, errors and
        retries); its value as JSON text, unparsed (None for SQL NULL)."""
        ...
