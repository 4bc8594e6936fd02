"""The one exception tree of collab. Every failure the SDK raises is a ``CollabError``::

    CollabError
    ├── ValidationError        CL400, 22P02, 22003, 22023, 22007, 22008: bad input
    ├── Unauthorized           42501 and no identity (anon), PGRST301/302, bad credentials
    ├── Forbidden              CL403, 42501: not a member with the needed role
    ├── NotFound               CL404: unknown job or dead letter, or not visible to you
    ├── Conflict               CL409: idempotency key reused differently, worker bound elsewhere
    │   ├── LeaseLost          CL410: the worker no longer holds the job's lease
    │   └── InvalidTransition  CL412: e.g. cancelling a finished job
    ├── PayloadTooLarge        CL413
    ├── SchemaMismatch         unsupported schema_version(); 42883, PGRST202/106
    ├── ConfigurationError     the environment or arguments name no usable database/keys
    │   └── MissingExtra       an optional dependency group (collab-sdk[embedded], [http]) is not installed
    ├── StorageError           an artifact could not be stored or signed
    └── TransportError         the database or API could not be reached
        └── ProtocolError      it answered something this SDK cannot read

``code`` is always an engine code — a SQLSTATE, a ``CL…`` code or a PostgREST
``PGRST…`` code — or None. A service's own word for a failure (Storage's ``not_found``,
an auth failure's ``token_expired``) is ``reason``. The tree says what went wrong, not
how to answer it: the HTTP layer alone maps errors to statuses (``collab_sdk.http.errors``),
the CLI to exit statuses (``collab_sdk.cli.output``).

Both transports translate their driver's errors here, and only there, keeping the
engine's SQLSTATE (``code``) and PostgreSQL's ``hint`` and ``details``. The mapping is
by code alone, so one failure raises the same exception through either transport.
"""

from __future__ import annotations

__all__ = [
    "CollabError",
    "ValidationError",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "LeaseLost",
    "InvalidTransition",
    "PayloadTooLarge",
    "SchemaMismatch",
    "ConfigurationError",
    "MissingExtra",
    "require_extra",
    "StorageError",
    "TransportError",
    "ProtocolError",
    "error_from_code",
]


class CollabError(Exception):
    """Root of every collab error: ``code`` (SQLSTATE, collab or PostgREST code),
    ``message``, PostgreSQL's ``hint`` and ``details``, and a service's ``reason``."""


    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None,
                 details: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
        self.details = details
        #: A service's own name for the failure, when it is not an engine code.
        self.reason = reason

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


class ValidationError(CollabError):
    """The input was rejected: a bad name, an out-of-range number, a malformed id."""



class Unauthorized(CollabError):
    """No identity or a bad one (the ``anon`` role, a rejected token or key)."""



class Forbidden(CollabError):
    """The caller is known but lacks a membership or role for this executor."""



class NotFound(CollabError):
    """The job or dead letter does not exist or is not visible to the caller."""



class Conflict(CollabError):
    """The request conflicts with the current state."""



class LeaseLost(Conflict):
    """The worker no longer holds a live lease on the job; nothing was changed."""


class InvalidTransition(Conflict):
    """The job's status does not allow this change (e.g. cancelling a succeeded job)."""


class PayloadTooLarge(CollabError):
    """A payload, result, event or metadata exceeds its documented limit."""



class SchemaMismatch(CollabError):
    """The database runs a collab schema version this SDK does not understand."""


class ConfigurationError(CollabError):
    """collab is not configured to reach a database: a missing key, a malformed URL."""


class MissingExtra(ConfigurationError):
    """A feature needs an optional dependency group that is not installed; ``extra``
    names it and the message says which ``pip install`` brings it."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(f"{feature} needs collab-sdk[{extra}] ({module} is not installed): "
                         f"pip install 'collab-sdk[{extra}]'")
        self.extra = extra


def require_extra(feature: str, extra: str, *modules: str) -> None:
    """Raise ``MissingExtra`` unless every one of ``modules`` can be imported (looked up,
    not imported)."""
    import importlib.util
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise MissingExtra(feature, extra, module)


class StorageError(CollabError):
    """An artifact could not be stored, read or signed."""



class TransportError(CollabError):
    """The database or API could not be reached, or answered something unexpected."""


class ProtocolError(TransportError):
    """The database or API answered, but not in the shape this SDK expects (a broken
    server or proxy, or a schema newer than it says)."""



_BY_CODE: dict[str, type[CollabError]] = {
    "CL400": ValidationError,
    "CL403": Forbidden,
    "CL404": NotFound,
    "CL409": Conflict,
    "CL410": LeaseLost,
    "CL412": InvalidTransition,
    "CL413": PayloadTooLarge,
    "22P02": ValidationError,  # invalid text representation: a malformed uuid, "abc" for int
    "22003": ValidationError,  # numeric value out of range
    "22023": ValidationError,  # invalid parameter value
    "22007": ValidationError,  # invalid datetime format
    "22008": ValidationError,  # datetime field overflow
    "23502": ValidationError,  # a required argument was null
    "42883": SchemaMismatch,   # undefined function: the schema lacks an RPC this SDK calls
    "PGRST202": SchemaMismatch,  # PostgREST: function not found in its schema cache
    "PGRST106": SchemaMismatch,  # PostgREST: schema collab is not exposed
    "PGRST301": Unauthorized,    # PostgREST: JWT expired, malformed or badly signed
    "PGRST302": Unauthorized,    # PostgREST: anonymous access disabled, no JWT given
}

# Connection exceptions, insufficient resources, operator intervention (e.g. a server
# shutting down), system errors: the database is unavailable, not the request wrong.
_UNAVAILABLE_CLASSES = ("08", "53", "57P", "58")


def error_from_code(code: str | None, message: str, *, hint: str | None = None,
                    details: str | None = None, anonymous: bool = False) -> CollabError:
    """The ``CollabError`` for an engine/PostgreSQL/PostgREST error ``code``.

    ``42501`` (permission denied) is ``Unauthorized`` for an ``anonymous`` caller and
    ``Forbidden`` otherwise, as PostgREST answers 401 / 403. Unknown codes give a plain
    ``CollabError`` that still carries the code."""
    if code == "42501":
        cls: type[CollabError] = Unauthorized if anonymous else Forbidden
    elif code and code.startswith(_UNAVAILABLE_CLASSES):
        cls = TransportError
    else:
        cls = _BY_CODE.get(code or "", CollabError)
    return cls(message, code=code, hint=hint, details=details)
