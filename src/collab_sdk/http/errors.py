"""One error envelope for every failure: ``{"error": {"code", "message"}}``.

``HttpError`` is what the HTTP layer itself raises (bad JSON, a body too large, rate
limited); a ``CollabError`` from the SDK becomes its ``.status`` with a stable code
named after its class (``not_found``, ``lease_lost`` …); an ``AuthError`` keeps its own
code (``token_expired`` …). Anything else is a 500 ``internal_error`` whose details go
to the log only, never to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collab_sdk.errors import (CollabError, Conflict, Forbidden, InvalidTransition, LeaseLost,
                               NotFound, PayloadTooLarge, SchemaMismatch, StorageError,
                               TransportError, Unauthorized, ValidationError)

__all__ = ["HttpError", "Failure", "failure_for"]


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

    def envelope(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


# Most specific first: LeaseLost and InvalidTransition are Conflicts.
_CODES: tuple[tuple[type[CollabError], str], ...] = (
    (LeaseLost, "lease_lost"),
    (InvalidTransition, "invalid_transition"),
    (Conflict, "conflict"),
    (ValidationError, "invalid_input"),
    (Unauthorized, "unauthorized"),
    (Forbidden, "forbidden"),
    (NotFound, "not_found"),
    (PayloadTooLarge, "payload_too_large"),
)


def failure_for(exc: BaseException) -> Failure:
    """The answer to give for ``exc``."""
    if isinstance(exc, HttpError):
        return Failure(exc.status, exc.code, exc.message, exc.headers)
    if isinstance(exc, CollabError):
        return _collab_failure(exc)
    return Failure(500, "internal_error", "internal error", unexpected=True)


def _collab_failure(exc: CollabError) -> Failure:
    from collab_sdk.auth.tokens import AuthError

    if isinstance(exc, AuthError):
        return Failure(exc.status, exc.code, exc.message,
                       {"WWW-Authenticate": 'Bearer realm="collab"'} if exc.status == 401 else {})
    if isinstance(exc, StorageError):
        if exc.code == "not_found":
            return Failure(404, "not_found", exc.message)
        return Failure(502, "storage_error", "artifact storage failed", unexpected=True)
    if isinstance(exc, TransportError):
        return Failure(503, "unavailable", "the database is unavailable; retry later",
                       {"Retry-After": "1"}, unexpected=True)
    if isinstance(exc, SchemaMismatch):
        return Failure(500, "schema_mismatch", "the server's database schema is not supported",
                       unexpected=True)
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return Failure(kind.status, code, exc.message)
    return Failure(500, "internal_error", "internal error", unexpected=True)
