"""The taxonomy of database errors (``collab_sdk.errors``) and the retry policy built on it
(``collab_sdk.availability``): which codes are retryable and as what, one log line per
change of state, jittered and capped delays, bounded attempts, errors that are not
retryable raised at once. Database-free; the real database's behaviour is in
``tests/worker/test_worker_read_only.py`` and ``tests/http/test_http_read_only.py``."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from collab_sdk.availability import READ_ONLY, UNAVAILABLE, Availability, retrying
from collab_sdk.errors import (CollabError, Forbidden, LeaseLost, ProtocolError, ReadOnly, Transient,
                               TransportError, Unavailable, ValidationError, error_from_code, retry_kind)
from collab_sdk.http.errors import failure_for
from collab_sdk.timing import Backoff

log = logging.getLogger("collab.test.availability")


@pytest.mark.parametrize(("code", "message", "cls", "kind"), [
    ("25006", "cannot execute UPDATE in a read-only transaction", ReadOnly, "read_only"),
    ("40001", "could not serialize access due to concurrent update", Transient, "transient"),
    ("40P01", "deadlock detected", Transient, "transient"),
    ("55P03", "could not obtain lock on row", Transient, "transient"),
    ("08006", "connection failure", Unavailable, "unavailable"),
    ("08P01", "server conn crashed?", Unavailable, "unavailable"),  # pgbouncer
    ("08P01", "query_wait_timeout", Unavailable, "unavailable"),  # pgbouncer
    ("53300", "sorry, too many clients already", Unavailable, "unavailable"),
    ("57P01", "terminating connection due to administrator command", Unavailable, "unavailable"),
    ("57P03", "the database system is starting up", Unavailable, "unavailable"),
    ("58030", "could not write to file", Unavailable, "unavailable"),
    ("XX000", "(EDBHANDLEREXITED) connection to database closed. Check logs", Unavailable, "unavailable"),
    ("XX000", "(ECHECKOUTTIMEOUT) Pool checkout timeout", Unavailable, "unavailable"),
    ("XX000", "(EMAXCLIENTCONN) max client connections reached, limit: 200", Unavailable, "unavailable"),
    ("XX000", "(EWRONGPASSWORD) password authentication failed", CollabError, None),  # retrying cannot help
    ("XX000", "internal error", CollabError, None),
    ("57014", "canceling statement due to statement timeout", CollabError, None),
    ("CL410", "lease lost", LeaseLost, None),
    ("CL400", "bad input", ValidationError, None),
])
def test_each_code_is_one_kind(code: str, message: str, cls: type[CollabError], kind: str | None) -> None:
    error = error_from_code(code, message)
    assert type(error) is cls and error.code == code
    assert retry_kind(error) == kind
    # Every retryable kind is a TransportError: code that catches that keeps working.
    assert isinstance(error, TransportError) == (kind is not None)


def test_read_only_is_unavailable_and_plain_transport_errors_count_as_unavailable() -> None:
    assert issubclass(ReadOnly, Unavailable) and not issubclass(Transient, Unavailable)
    assert retry_kind(TransportError("network down")) == "unavailable"
    assert retry_kind(ProtocolError("garbled")) == "unavailable"
    assert retry_kind(Forbidden("no")) is None and retry_kind(ValueError("x")) is None


@pytest.mark.parametrize(("error", "status", "code", "retry_after"), [
    (ReadOnly("ro", code="25006"), 503, "read_only", "5"),
    (Unavailable("down", code="57P01"), 503, "unavailable", "1"),
    (TransportError("network"), 503, "unavailable", "1"),
    (Transient("deadlock", code="40P01"), 503, "busy", "1"),
])
def test_http_answers_503_with_retry_after(error: CollabError, status: int, code: str, retry_after: str) -> None:
    failure = failure_for(error)
    assert (failure.status, failure.code, failure.headers.get("Retry-After")) == (status, code, retry_after)
    assert failure.envelope() == {"error": {"code": code, "message": failure.message}}


def test_one_line_per_change_of_state(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    availability = Availability(log, name="w1")
    read_only = ReadOnly("ro", code="25006")
    for _ in range(50):
        assert availability.failed(read_only) == "read_only"
    assert availability.state == READ_ONLY
    availability.succeeded(wrote=False)  # a read works on a read-only database: no change
    assert availability.state == READ_ONLY
    for _ in range(20):
        availability.failed(Unavailable("gone", code="57P01"))
    assert availability.state == UNAVAILABLE
    availability.succeeded(wrote=False)  # reachable again
    availability.succeeded()
    availability.failed(LeaseLost("not yours", code="CL410"))  # the call's own failure: no state
    events = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert events == [("WARNING", "database.read_only"), ("WARNING", "database.unavailable"),
                      ("INFO", "database.reachable")]
    assert availability.changes == 3


def test_transient_errors_are_counted_and_logged_sparingly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    availability = Availability(log)
    for _ in range(30):
        assert availability.failed(Transient("deadlock", code="40P01")) == "transient"
    assert availability.transient == 30 and availability.state == "available"
    assert [r.getMessage() for r in caplog.records] == ["database.transient"]


async def test_retrying_waits_out_retryable_errors_with_capped_jittered_delays() -> None:
    failures = [ReadOnly("ro", code="25006")] * 6 + [Transient("t", code="40001")] * 2
    calls: list[float] = []

    async def call() -> str:
        calls.append(time.monotonic())
        if failures:
            raise failures.pop(0)
        return "stored"

    availability = Availability(log)
    assert await retrying(call, availability, backoff=Backoff(first=0.01, cap=0.04)) == "stored"
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert len(calls) == 9 and availability.state == "available"
    assert all(0.004 <= gap <= 0.2 for gap in gaps), gaps  # never a tight loop, never past the cap (+ slack)
    assert max(gaps[3:]) < 0.1  # capped: the delay stopped doubling at 0.04 s


async def test_retrying_raises_what_retrying_cannot_fix_and_stops_when_told() -> None:
    async def forbidden() -> None:
        raise Forbidden("no", code="CL403")

    with pytest.raises(Forbidden):
        await retrying(forbidden, Availability(log))

    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        await retrying(down, Availability(log), backoff=Backoff(first=0.001, cap=0.001), attempts=3)
    assert calls == 3
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    with pytest.raises(Unavailable):
        await retrying(down, Availability(log), backoff=Backoff(first=0.01, cap=0.01), stop=stop)
