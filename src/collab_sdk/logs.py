"""Structured logs: one configuration for the worker, ``collab serve`` and the CLI.

    from collab_sdk.logs import configure_logging, fields
    configure_logging("info")                      # COLLAB_LOG_FORMAT=json|text
    log.info("job.finished", extra=fields(type="a.b", id=job_id, outcome="succeeded"))

Every line carries a time, a level, the logger and an **event** (the message), then the
record's fields. ``COLLAB_LOG_FORMAT=json`` (or ``format="json"``) writes one JSON object a
line (Cloud Run, Loki, Datadog read them as they are; ``collab serve``'s default); ``text``
(the worker's and the CLI's default) writes
``2026-01-01T00:00:00.000Z INFO collab.worker job.finished type=a.b id=… outcome=succeeded``.
A message that is itself a JSON object (the HTTP access lines) has its keys taken as
fields. A failure's traceback is the ``exc`` field (JSON) or follows the line (text).

**Secrets are never written.** The formatter replaces, in the whole line and its
traceback: the values of environment variables whose names say they are secret
(``*SECRET*``, ``*KEY*``, ``*TOKEN*``, ``*PASSWORD*``; comma-separated lists split), the
password of any ``scheme://user:password@host`` URL, anything shaped like a JWT
(``eyJ….….…``) and what follows ``Bearer``. ``redact(text)`` is the same function.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import IO, Any

__all__ = ["configure_logging", "fields", "redact", "CollabFormatter", "FIELDS_ATTRIBUTE",
           "LOG_FORMATS"]

#: The ``LogRecord`` attribute that holds a line's fields (``fields(...)`` sets it).
FIELDS_ATTRIBUTE = "collab_fields"
#: The values ``COLLAB_LOG_FORMAT`` takes.
LOG_FORMATS = ("text", "json")

_SECRET_NAME = re.compile(r"SECRET|KEY|TOKEN|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?=@)", re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?P<head>\bBearer\s+)(?P<tok>[^\s\"',;]+)", re.IGNORECASE)
_MASK = "***"
_HANDLER_NAME = "collab"


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: these key/value pairs become the line's fields."""
    return {FIELDS_ATTRIBUTE: values}


def _secret_values(env: Mapping[str, str]) -> list[str]:
    found: set[str] = set()
    for name, value in env.items():
        if not value or not _SECRET_NAME.search(name) or name.endswith(("_FILE", "_VARIABLES")):
            continue
        for part in value.split(","):
            part = part.strip()
            if len(part) >= 6:  # shorter values (a flag, a port) would mask harmless text
                found.add(part)
    return sorted(found, key=len, reverse=True)


_environ_secrets: tuple[float, list[str]] = (-1e9, [])


def _process_secrets() -> list[str]:
    """``_secret_values(os.environ)``, recomputed at most once a second: scanning the
    environment on every line cost more than the rest of a request's access log."""
    global _environ_secrets
    now = time.monotonic()
    if now - _environ_secrets[0] >= 1.0:
        _environ_secrets = (now, _secret_values(os.environ))
    return _environ_secrets[1]


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret replaced by ``***`` (see the module doc; the process's
    environment is read again at most once a second)."""
    for value in (_process_secrets() if env is None else _secret_values(env)):
        if value in text:
            text = text.replace(value, _MASK)
    # Each pattern runs only where its fixed part occurs: the URL and Bearer scans cost
    # ~11 and ~4 us on an access line that has neither, more than the rest of its logging.
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + _MASK, text)
    text = _JWT.sub(_MASK, text)
    if "bearer" in text.lower():  # _BEARER's IGNORECASE matches only ASCII B/b, E/e, A/a, R/r
        text = _BEARER.sub(lambda m: m.group("head") + _MASK, text)
    return text


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        value = ",".join(str(v) for v in value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c in text for c in " =\"\n\t"):
        return json.dumps(text)
    return text


class CollabFormatter(logging.Formatter):
    """The JSON or key=value line of a record, with every secret redacted."""

    def __init__(self, format: str = "text") -> None:
        super().__init__()
        if format not in LOG_FORMATS:
            raise ValueError(f"COLLAB_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {format!r}")
        self.json = format == "json"

    def format(self, record: logging.LogRecord) -> str:
        """One line (text: plus the traceback's lines), secrets redacted."""
        message = record.getMessage()
        extra: dict[str, Any] = dict(getattr(record, FIELDS_ATTRIBUTE, None) or {})
        if message.startswith("{") and message.endswith("}"):
            try:
                parsed = json.loads(message)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                message = str(parsed.pop("event", "http.request" if "status" in parsed else "log"))
                extra = {**parsed, **extra}
        stamp = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        stamp = stamp.replace("+00:00", "Z")
        trace = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        trace = extra.pop("traceback", None) or trace  # a traceback given as text (a child's)
        if record.stack_info:
            trace = f"{trace or ''}\n{record.stack_info}".strip()
        if self.json:
            line: dict[str, Any] = {"ts": stamp, "level": record.levelname, "logger": record.name,
                                    "event": message, **extra}
            if trace:
                line["exc"] = trace
            return redact(json.dumps(line, default=str))
        parts = [stamp, record.levelname, record.name, message]
        parts += [f"{key}={_value(value)}" for key, value in extra.items()]
        text = " ".join(parts)
        return redact(f"{text}\n{trace}" if trace else text)


def configure_logging(level: str | int = "info", format: str | None = None, *,
                      stream: IO[str] | None = None, force: bool = False,
                      default: str = "text") -> None:
    """Send every logger's lines to ``stream`` (default stderr) through ``CollabFormatter``
    at ``level``; ``format`` defaults to ``COLLAB_LOG_FORMAT``, else ``default`` (``text``;
    ``collab serve`` and functions say ``json``, which Cloud Run reads). A process that
    already set up logging keeps its handlers (only the ``collab`` loggers' level is set)
    unless ``force``; calling it again replaces collab's own handler."""
    chosen = (format or os.environ.get("COLLAB_LOG_FORMAT") or default).strip().lower()
    formatter = CollabFormatter(chosen)
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    if root.handlers and not ours and not force:
        logging.getLogger("collab").setLevel(numeric)
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("collab").setLevel(numeric)
