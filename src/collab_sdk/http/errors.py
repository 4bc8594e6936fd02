"""One error envelope for every failure: ``{"error": {"code", "message"}}`` (and
``errors``, each problem in words, when the engine listed several: a definition that
cannot be published, a run input that does not fit its schema).

``HttpError`` is what the HTTP layer itself raises (bad JSON, a body too large, rate
limited); a ``CollabError`` from the SDK becomes the status and stable code this module's
table gives its class (``not_found``, ``lease_lost`` …); an ``AuthError`` answers its
``reason`` (``token_expired`` …). Anything else is a 500 ``internal_error`` whose details go
to the log only, never to the caller.

The database's own trouble is 503 with ``Retry-After`` (seconds), never a 500:
``unavailable`` (unreachable, out of connections, a pooler's refusal: ``Unavailable`` or
any other ``TransportError``), ``read_only`` (SQLSTATE 25006: a failover, maintenance, a
hot standby; reads still work), ``busy`` (a ``Transient`` error that outlived the
transport's own retries: ``PostgresTransport.call`` repeats it ``TRANSIENT_RETRIES`` times
first). ``RETRY_AFTER`` has the seconds of each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from collab_sdk.auth.tokens import AuthError
from collab_sdk.errors import (CollabError, ConfigurationError, Conflict, Forbidden,
                               InvalidTransition, LeaseLost, NotFound, PayloadTooLarge,
                               ProtocolError, ReadOnly, SchemaMismatch, StorageError, Transient,
                               TransportError, Unauthorized, ValidationError)

__all__ = ["HttpError", "Failure", "failure_for", "RETRY_AFTER"]

#: ``Retry-After`` seconds of each 503 code: a contended call is worth repeating at once, a
#: lost connection soon, a read-only database (a failover takes tens of seconds) later.
RETRY_AFTER = {"busy": 1, "unavailable": 1, "read_only": 5}


class HttpError(Exception):
    """A failure the HTTP layer answers directly: ``status``, ``code``, ``message`` and
    extra response ``headers`` (``Retry-After`` …)."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Failure:
    """What the caller is told (and whether the log should carry the traceback)."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    unexpected: bool = False
    #: Each problem in words, when the engine listed several (publish, run input).
    errors: tuple[str, ...] = ()

    def envelope(self) -> dict[str, dict[str, Any]]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = list(self.errors)
        return {"error": body}


# The one table from SDK errors to HTTP answers. Most specific first: LeaseLost and
# InvalidTransition are Conflicts, ProtocolError is a TransportError.
_ANSWERS: tuple[tuple[type[CollabError], int, str], ...] = (
    (LeaseLost, 409, "lease_lost"),
    (InvalidTransition, 409, "invalid_transition"),
    (Conflict, 409, "conflict"),
    (ValidationError, 400, "invalid_input"),
    (Unauthorized, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (PayloadTooLarge, 413, "payload_too_large"),
)


def failure_for(exc: BaseException) -> Failure:
    """The answer to give for ``exc``."""
    if isinstance(exc, HttpError):
        return Failure(exc.status, exc.code, exc.message, exc.headers)
    if isinstance(exc, CollabError):
        return _collab_failure(exc)
    return Failure(500, "internal_error", "internal error", unexpected=True)


def _collab_failure(exc: CollabError) -> Failure:
    if isinstance(exc, AuthError):
        if exc.unavailable:
            return Failure(503, exc.reason, exc.message, {"Retry-After": "1"})
        return Failure(401, exc.reason, exc.message, {"WWW-Authenticate": 'Bearer realm="collab"'})
    if isinstance(exc, StorageError):
        if exc.reason == "not_found":
            return Failure(404, "not_found", exc.message)
        return Failure(502, "storage_error", "artifact storage failed", unexpected=True)
    if isinstance(exc, ProtocolError):
        return Failure(502, "bad_gateway", "the database answered something unexpected",
                       unexpected=True)
    if isinstance(exc, ReadOnly):
        return _retry_later("read_only", "the database is read-only for now (failover or "
                                         "maintenance); retry later")
    if isinstance(exc, Transient):
        return _retry_later("busy", "the database is busy (a serialization failure, deadlock or "
                                    "lock timeout); retry")
    if isinstance(exc, TransportError):
        return _retry_later("unavailable", "the database is unavailable; retry later", unexpected=True)
    if isinstance(exc, (SchemaMismatch, ConfigurationError)):
        code = "schema_mismatch" if isinstance(exc, SchemaMismatch) else "misconfigured"
        return Failure(500, code, "the server is not configured for this database", unexpected=True)
    for kind, status, code in _ANSWERS:
        if isinstance(exc, kind):
            return Failure(status, code, exc.message, errors=_listed(exc))
    return Failure(500, "internal_error", "internal error", unexpected=True)


def _retry_later(code: str, message: str, *, unexpected: bool = False) -> Failure:
    """A 503 ``code`` with its ``Retry-After``; ``unexpected`` logs the traceback (a lost
    database is news; a read-only or contended one is logged by its line alone)."""
    return Failure(503, code, message, {"Retry-After": str(RETRY_AFTER[code])}, unexpected=unexpected)


def _listed(exc: CollabError) -> tuple[str, ...]:
    """The problems a CL400 lists as a JSON array in its DETAIL (publish, run input)."""
    if not isinstance(exc, ValidationError) or not exc.details:
        return ()
    try:
        value = json.loads(exc.details)
    except ValueError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()
