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
    └── TransportError         the database or API could not be reached (retry later)
        ├── Unavailable        08*, 53*, 57P*, 58*, a pooler's refusal, no connection at all
        │   └── ReadOnly       25006: it accepts reads only (failover, maintenance, hot standby)
        ├── Transient          40001, 40P01, 55P03: this call lost a race; the same call may succeed
        └── ProtocolError      it answered something this SDK cannot read

``code`` is always an engine code — a SQLSTATE, a ``CL…`` code or a PostgREST
``PGRST…`` code — or None. A service's own word for a failure (Storage's ``not_found``,
an auth failure's ``token_expired``) is ``reason``. The tree says what went wrong, not
how to answer it: the HTTP layer alone maps errors to statuses (``collab_sdk.http.errors``),
the CLI to exit statuses (``collab_sdk.cli.output``).

Both transports translate their driver's errors here, and only there, keeping the
engine's SQLSTATE (``code``) and PostgreSQL's ``hint`` and ``details``. The mapping is
by code alone, so one failure raises the same exception through either transport.

The three retryable kinds (``retry_kind``): an ``Unavailable`` database is down, starting,
out of connections or behind a pooler that refused (pgbouncer says so with ``08P01``,
Supavisor with ``XX000`` and a ``(ECODE)`` prefix: ``SUPAVISOR_UNAVAILABLE``); a ``ReadOnly``
one answers reads and refuses every write; a ``Transient`` error is one call's bad luck
(a serialization failure, a deadlock, a lock not granted at once) and the whole call was
rolled back. The worker and streams wait out the first two, and retry all three, with
jittered backoff (``collab_sdk.availability``); ``PostgresTransport`` retries a transient
error a few times itself; HTTP answers 503 with ``Retry-After``.
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
    "Unavailable",
    "ReadOnly",
    "Transient",
    "ProtocolError",
    "error_from_code",
    "retry_kind",
    "UNAVAILABLE_CLASSES",
    "READ_ONLY_CODES",
    "TRANSIENT_CODES",
    "TRANSIENT_RETRIES",
    "SUPAVISOR_UNAVAILABLE",
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


class Unavailable(TransportError):
    """The database cannot serve anyone now: it is down, starting or shutting down, out of
    connections or resources, or a pooler in front of it refused (SQLSTATE classes 08, 53,
    57P, 58; Supavisor's ``SUPAVISOR_UNAVAILABLE``; a connection that could not be made)."""


class ReadOnly(Unavailable):
    """The database answers reads but refuses every write (SQLSTATE 25006): a failover in
    progress, a maintenance window, a hot standby, Supabase's read-only mode on a full
    disk. Nothing was written; the same call succeeds once it accepts writes again."""


class Transient(TransportError):
    """The call lost a race and was rolled back whole (40001 serialization failure,
    40P01 deadlock, 55P03 lock not available): the same call again may well succeed."""


#: How many times a transport repeats a call that met a ``Transient`` error before raising
#: it (``PostgresTransport``, ``SupabaseTransport``): the call was one transaction, rolled
#: back whole, so repeating it is safe for a write too.
TRANSIENT_RETRIES = 3


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

#: Connection exceptions, insufficient resources, operator intervention (a server
#: shutting down or starting), system errors: the database is unavailable, not the
#: request wrong. pgbouncer reports its own refusals as ``08P01`` (``server conn
#: crashed?``, ``query_wait_timeout``, ``no more connections allowed``).
UNAVAILABLE_CLASSES = ("08", "53", "57P", "58")
#: read_only_sql_transaction: every write of a read-only database (and "… during recovery"
#: on a standby).
READ_ONLY_CODES = frozenset({"25006"})
#: serialization_failure (also a standby's conflict with recovery), deadlock_detected,
#: lock_not_available.
TRANSIENT_CODES = frozenset({"40001", "40P01", "55P03"})
#: Supavisor's codes (its message's ``(ECODE)`` prefix, under SQLSTATE ``XX000``) that mean
#: the pool cannot serve now: its database handler exited, a checkout timed out, a limit of
#: connections is reached, its circuit breaker is open, the pool is shutting down.
SUPAVISOR_UNAVAILABLE = frozenset({
    "EDBHANDLEREXITED", "ECHECKOUTTIMEOUT", "ECIRCUITBREAKER", "EPOOLTERMINATING",
    "EMAXCONN", "EMAXCONNSESSION", "EMAXCLIENTCONN", "EMAXCLIENTSESSION", "EMAXPROXYCONN",
})


def error_from_code(code: str | None, message: str, *, hint: str | None = None,
                    details: str | None = None, anonymous: bool = False) -> CollabError:
    """The ``CollabError`` for an engine/PostgreSQL/PostgREST error ``code``.

    ``42501`` (permission denied) is ``Unauthorized`` for an ``anonymous`` caller and
    ``Forbidden`` otherwise, as PostgREST answers 401 / 403. Unknown codes give a plain
    ``CollabError`` that still carries the code. ``message`` matters for one code only:
    Supavisor's ``XX000``, whose ``(ECODE)`` prefix says whether the pool is unavailable."""
    if code == "42501":
        cls: type[CollabError] = Unauthorized if anonymous else Forbidden
    elif code in READ_ONLY_CODES:
        cls = ReadOnly
    elif code in TRANSIENT_CODES:
        cls = Transient
    elif code and code.startswith(UNAVAILABLE_CLASSES) or _supavisor_unavailable(code, message):
        cls = Unavailable
    else:
        cls = _BY_CODE.get(code or "", CollabError)
    return cls(message, code=code, hint=hint, details=details)


def _supavisor_unavailable(code: str | None, message: str) -> bool:
    """Whether ``message`` is Supavisor saying its pool cannot serve now: ``XX000`` and
    ``(ECODE) …`` with a code of ``SUPAVISOR_UNAVAILABLE``."""
    if code != "XX000" or not message.startswith("(E"):
        return False
    return message[1:].partition(")")[0] in SUPAVISOR_UNAVAILABLE


def retry_kind(exc: BaseException) -> str | None:
    """``"read_only"``, ``"unavailable"`` or ``"transient"`` when retrying ``exc`` later may
    succeed, else None (the call itself is wrong: retrying cannot help). Any other
    ``TransportError`` (a plain one from a network failure, a ``ProtocolError`` from a
    broken proxy) counts as unavailable."""
    if isinstance(exc, ReadOnly):
        return "read_only"
    if isinstance(exc, Transient):
        return "transient"
    if isinstance(exc, TransportError):
        return "unavailable"
    return None
