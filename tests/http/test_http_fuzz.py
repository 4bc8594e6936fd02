"""The OpenAPI document is the truth: property-based runs of every operation from the
served document (schemathesis), against ``collab serve`` as a real process on a real
database, with every check schemathesis has — no 5xx; status codes, content types,
headers and bodies as documented; schema-invalid input refused (``negative_data_rejection``)
and schema-valid input accepted (``positive_data_acceptance``: no 400/422 for what the
document allows); auth not ignored — then a stateful run that follows the document's
links (assign → job, create → workflow → run …). Any mismatch fails.

The budget is bounded (about a minute): ``COLLAB_FUZZ_EXAMPLES`` cases per operation
(default 5) and ``COLLAB_FUZZ_SCENARIOS`` stateful scenarios (default 15). Raise them to
run longer by hand, e.g. ``COLLAB_FUZZ_EXAMPLES=400 COLLAB_FUZZ_SCENARIOS=1500``.

``positive_data_acceptance`` allows a 400 on the few operations whose answer depends on
stored state the request cannot show (``STATEFUL_400``): a schema-valid request may still
name a draft whose definition does not validate, or input that the workflow's own
``input_schema`` refuses.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from http_support import API_KEY, Server, start_server

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("COLLAB_FUZZ_EXAMPLES") or 5)
SCENARIOS = int(os.environ.get("COLLAB_FUZZ_SCENARIOS") or 15)
#: Operations whose 400 is about stored state, not the request (the seed's statuses).
STATEFUL_400 = {
    "workflows.publish": "the saved definition does not validate (`error.errors`)",
    "workflows.delete": "a published workflow, or one with runs, cannot be deleted",
    "runs.start": "the input does not match the workflow's own `input_schema`",
}
_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
#: The longest an event stream may stay open in a fuzz case (its `timeout`).
STREAM_SECONDS = 1


def fuzz_config(base_url: str) -> SchemathesisConfig:
    """Every check; the API key as the document's `apiKey` scheme (so `ignored_auth` can
    take it away); the per-operation allowances above."""
    return SchemathesisConfig.from_dict({
        "base-url": base_url,
        "request-timeout": 30,  # a hung request fails its case, not the whole budget
        "auth": {"openapi": {"apiKey": {"api_key": API_KEY}}},
        "checks": {"enabled": True},
        "operations": [
            {"include-operation-id": op,
             "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "400"]}}}
            for op in STATEFUL_400],
    })


@pytest.fixture
def fuzz_server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    with start_server(db_url, tmp_path, COLLAB_REQUIRE_JWT="0", COLLAB_API_KEY=API_KEY,
                      COLLAB_RATE_LIMIT="off") as running:
        yield running


@pytest.fixture
def api_schema(fuzz_server: Server) -> Any:
    loaded = schemathesis.openapi.from_url(f"{fuzz_server.base}/docs.json",
                                           config=fuzz_config(fuzz_server.base))
    loaded.hook(map_query)
    loaded.hook(map_body)
    return loaded


def _operation_id(context: Any) -> str | None:
    operation = context.operation
    return None if operation is None else operation.definition.raw.get("operationId")


def short_stream(query: dict[str, Any] | None) -> dict[str, Any] | None:
    """An event stream's query with its valid or missing `timeout` made ``STREAM_SECONDS``
    (schemathesis reads a stream until it ends or the request timeout passes, and an
    executor's stream lasts until its timeout, 300 s by default); other values are kept,
    to be refused. The coverage phase sends query values as strings."""
    timeout = (query or {}).get("timeout")
    if isinstance(timeout, str) and timeout.isascii() and timeout.isdigit():
        timeout = int(timeout)
    if timeout is None or (isinstance(timeout, int) and not isinstance(timeout, bool)
                           and 1 <= timeout <= 3600):
        return {**(query or {}), "timeout": STREAM_SECONDS}
    return query


def map_query(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    """``short_stream`` for the generated cases (the fuzzing and stateful phases)."""
    return short_stream(query) if _operation_id(context) == "events.stream" else query


def map_body(context: Any, body: Any) -> Any:
    """A valid `runAt` outside the engine's window (2000-01-01 to a year from now, which
    moves with the clock: the document says it in words) is moved inside it."""
    if not isinstance(body, dict) or not isinstance(body.get("runAt"), str):
        return body
    try:
        run_at = datetime.fromisoformat(body["runAt"])
    except ValueError:
        return body  # not a date-time: a negative case, left to be refused
    now = datetime.now(timezone.utc)
    if run_at.tzinfo is None or datetime(2000, 1, 1, tzinfo=timezone.utc) <= run_at < now + timedelta(days=360):
        return body
    return {**body, "runAt": (now + timedelta(hours=1)).isoformat()}


schema = schemathesis.pytest.from_fixture("api_schema")
_SETTINGS = dict(deadline=None, derandomize=False,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.filter_too_much, HealthCheck.data_too_large])


@schema.parametrize()
@pytest.mark.timeout(max(300, EXAMPLES * 8))  # every operation in one test: scale with the budget
@settings(max_examples=EXAMPLES, **_SETTINGS)  # type: ignore[arg-type]
def test_every_operation_holds_its_contract(case: Any) -> None:
    if case.operation.definition.raw.get("operationId") == "events.stream":
        case.query = short_stream(case.query)  # the coverage phase's cases pass no hook
    case.call_and_validate()


@pytest.mark.timeout(max(300, SCENARIOS))
def test_stateful_runs_hold_the_contract(api_schema: Any) -> None:
    """Sequences of calls along the document's links, every response checked."""
    machine = api_schema.as_state_machine()
    machine.run(settings=settings(max_examples=SCENARIOS, stateful_step_count=8,
                                  **_SETTINGS))  # type: ignore[arg-type]
