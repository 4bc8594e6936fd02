"""OpenTelemetry spans of a job's life: enqueue → claim → handler → complete.

Active only when ``opentelemetry-api`` is installed (``pip install 'collab-sdk[otel]'``)
**and** the application has set a tracer provider (``trace.set_tracer_provider``);
otherwise every helper here is a no-op and the client enqueues with the v1 RPCs, so the
hot path pays one ``isinstance`` per call.

While active:

- ``assign`` / ``assign_many`` run in a ``collab.enqueue <type>`` span (PRODUCER, a child
  of whatever span is current) and send its context, as the global propagator writes it
  (W3C ``traceparent``/``tracestate`` by default), in ``jobs.trace_context`` through
  ``assign_job_v2`` / ``assign_jobs_v2``. Never in the payload: payload and idempotency
  key are the job's identity, and the context differs on every call.
- A worker runs each attempt in a ``collab.job <type>`` span (CONSUMER) whose parent is
  that context, starting when the claim was sent; under it ``collab.claim`` (the claim
  call), ``collab.handler <type>`` (the handler; spans a handler opens are its children,
  sync handlers included) and ``collab.complete`` or ``collab.fail``. One trace goes from
  the enqueuer's span to the stored result.

Imports nothing of collab.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

try:
    from opentelemetry import propagate as _propagate
    from opentelemetry import trace as _trace
except ImportError:  # the [otel] extra is not installed: every helper is a no-op
    _HAVE_OTEL = False
else:
    _HAVE_OTEL = True

__all__ = ["TRACER_NAME", "active", "enqueue_span", "attempt_span", "child_span", "set_outcome"]

#: The instrumentation scope of collab's spans.
TRACER_NAME = "collab_sdk"

#: Attempt outcomes that mark the attempt's span as an error.
_FAILED_OUTCOMES = frozenset({"failed", "retried", "lost", "aborted"})


def active() -> bool:
    """Whether spans are recorded: ``opentelemetry-api`` is installed and a tracer
    provider other than the default proxy (or the no-op one) is set."""
    if not _HAVE_OTEL:
        return False
    provider = _trace.get_tracer_provider()
    return not isinstance(provider, (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider))


def _tracer() -> Any:
    return _trace.get_tracer(TRACER_NAME)


@contextlib.contextmanager
def enqueue_span(type: str, executor_id: str, count: int = 1) -> Iterator[dict[str, str] | None]:
    """A ``collab.enqueue <type>`` span around an enqueue; yields the trace context to
    store with the jobs (None while tracing is not active, or the propagator wrote nothing)."""
    if not active():
        yield None
        return
    attributes = {"messaging.system": "collab", "messaging.operation.type": "send",
                  "messaging.destination.name": executor_id, "collab.job.type": type,
                  "messaging.batch.message_count": count}
    with _tracer().start_as_current_span(f"collab.enqueue {type}", kind=_trace.SpanKind.PRODUCER,
                                         attributes=attributes):
        carrier: dict[str, str] = {}
        _propagate.inject(carrier)
        yield carrier or None


@contextlib.contextmanager
def attempt_span(*, type: str, job_id: str, attempt: int, executor_id: str, worker_id: str,
                 trace_context: Mapping[str, str] | None,
                 claim_window: tuple[int, int] | None = None) -> Iterator[Any]:
    """A ``collab.job <type>`` span for one attempt, a child of the enqueuer's
    ``trace_context`` (a root span without one), with the claim as a ``collab.claim``
    child spanning ``claim_window`` (start and end, ``time.time_ns()``). Yields the span
    (None while tracing is not active)."""
    if not active():
        yield None
        return
    tracer = _tracer()
    parent = _propagate.extract(dict(trace_context)) if trace_context else None
    start = claim_window[0] if claim_window else None
    attributes = {"messaging.system": "collab", "messaging.operation.type": "process",
                  "messaging.destination.name": executor_id, "messaging.message.id": job_id,
                  "collab.job.type": type, "collab.job.attempt": attempt, "collab.worker.id": worker_id}
    with tracer.start_as_current_span(f"collab.job {type}", context=parent, kind=_trace.SpanKind.CONSUMER,
                                      start_time=start, attributes=attributes) as span:
        if claim_window is not None:
            claim = tracer.start_span("collab.claim", start_time=claim_window[0],
                                      attributes={"messaging.operation.type": "receive",
                                                  "collab.worker.id": worker_id})
            claim.end(end_time=claim_window[1])
        yield span


@contextlib.contextmanager
def child_span(name: str, attributes: Mapping[str, str | int] | None = None) -> Iterator[Any]:
    """A span ``name`` under the current one (an exception raised through it is recorded);
    yields it, or None while tracing is not active."""
    if not active():
        yield None
        return
    with _tracer().start_as_current_span(name, attributes=dict(attributes or {})) as span:
        yield span


def set_outcome(span: Any, outcome: str, reason: str | None = None) -> None:
    """Record an attempt's outcome on its span (``attempt_span``'s; None: nothing to do):
    ``collab.outcome``, and an error status for failed, retried, lost and aborted."""
    if span is None:
        return
    span.set_attribute("collab.outcome", outcome)
    if outcome in _FAILED_OUTCOMES:
        span.set_status(_trace.Status(_trace.StatusCode.ERROR, reason or outcome))
