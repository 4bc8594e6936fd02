"""Suite-wide secret capture: no log line of the test suite carries a configured secret or
a token (a pytest plugin, registered from ``tests/conftest.py``).

For the whole session one handler on the root logger sees every record that is created,
and collab's loggers (``collab.*``) are at DEBUG, so every line collab would write is
created. Each record's message, its collab fields and its traceback are searched for

- the secrets the suite configures, ``register_secret(value)``: JWT secrets, API and
  service keys, signing secrets, passwords (the support modules and test modules that
  define them register them at import; a test registers what it mints that is not a JWT),
- and anything shaped like a token: a JWT (every token the suite mints is one: local
  HS256 tokens, Supabase's legacy keys, users' sessions), a webhook secret (``whsec_…``),
  a Supabase secret key (``sb_secret_…``); these need no registration.

A test during which (setup, call or teardown of its function fixtures) a record carried
one fails at teardown, with the logger and an excerpt in which the secret is masked.
``check_output(text, what)`` does the same for the captured output of a real ``collab
serve`` or worker process (the helpers that start them call it when they stop them).
Records logged outside any test (session fixtures) fail the session at its end.

The check itself is ``find_secret(text)`` (tested in ``tests/unit/test_secret_capture.py``,
which also runs a failing suite of its own through ``pytester``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from collab_sdk.logs import FIELDS_ATTRIBUTE

__all__ = ["register_secret", "find_secret", "check_output", "SecretCapture", "CAPTURE", "MIN_LENGTH"]

#: Registered values must be at least this long: shorter ones would match harmless text.
MIN_LENGTH = 8
#: What minted tokens look like, whoever minted them: a compact JWS (its header ``{"``
#: base64url-encoded is ``eyJ``), a workflow webhook secret, a Supabase secret API key.
_TOKENS = (r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*|whsec_[0-9a-f]{16,}"
           r"|sb_secret_[A-Za-z0-9_-]{8,}")
#: How much text either side of a secret an excerpt shows.
_CONTEXT = 60

_secrets: set[str] = set()
_pattern: re.Pattern[str] = re.compile(_TOKENS)
_registry_lock = threading.Lock()


def register_secret(*values: str) -> None:
    """Values no log line may contain from now on (for the rest of the session)."""
    global _pattern
    for value in values:
        if len(value) < MIN_LENGTH:
            raise ValueError(f"a registered secret needs {MIN_LENGTH}+ characters, got {len(value)}")
    with _registry_lock:
        if _secrets.issuperset(values):
            return
        _secrets.update(values)
        # Longest first, so a secret that contains another is masked whole.
        literals = [re.escape(s) for s in sorted(_secrets, key=len, reverse=True)]
        _pattern = re.compile("|".join([*literals, _TOKENS]))


def find_secret(text: str) -> str | None:
    """An excerpt of ``text`` around its first secret or token, every secret in it masked
    (``<secret>``, ``<token>``) and saying which it was; None when it has none."""
    pattern = _pattern
    found = pattern.search(text)
    if found is None:
        return None
    value = found.group()
    which = f"a registered secret ({len(value)} chars, {value[:4]!r}…)" if value in _secrets \
        else f"a token ({value[:6]!r}…)"
    start, end = max(0, found.start() - _CONTEXT), found.end() + _CONTEXT
    excerpt = pattern.sub(lambda m: "<secret>" if m.group() in _secrets else "<token>", text[start:end])
    excerpt = excerpt.replace("\n", "\\n")
    return f"{which}: {'…' if start else ''}{excerpt}{'…' if end < len(text) else ''}"


def _record_text(record: logging.LogRecord) -> str:
    """What a line of ``record`` can show: message, collab fields, traceback, stack."""
    try:
        text = record.getMessage()
    except Exception:  # a bad %-format: the handlers that write lines print the raw parts
        text = f"{record.msg} {record.args}"
    extra = getattr(record, FIELDS_ATTRIBUTE, None)
    if extra:
        text += f" {extra!r}"
    if record.exc_info and record.exc_info[1] is not None:
        text += "\n" + "".join(traceback.format_exception(*record.exc_info))
    elif record.exc_text:
        text += "\n" + record.exc_text
    if record.stack_info:
        text += "\n" + record.stack_info
    return text


class SecretCapture(logging.Handler):
    """Collects, from every record it handles and every output it is given, a line per
    secret found (``take()`` hands them over and forgets them)."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self._found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Search one record (called under the handler's lock)."""
        excerpt = find_secret(_record_text(record))
        if excerpt is not None:
            self._found.append(f"logger {record.name!r} at {record.levelname}: {excerpt}")

    def add(self, line: str) -> None:
        """Report a secret found elsewhere (a process's output)."""
        with self.lock:  # type: ignore[union-attr]  # Handler.__init__ made it
            self._found.append(line)

    def take(self) -> list[str]:
        """The lines found since the last ``take()``."""
        with self.lock:  # type: ignore[union-attr]
            found, self._found = self._found, []
        return found


#: The session's capture (one per process: the helpers report processes' output to it).
CAPTURE = SecretCapture()
_outside_tests: list[str] = []
#: collab's logger level before the session (given back at its end).
_LEVEL = pytest.StashKey[int]()


def check_output(text: str, what: str) -> None:
    """Report a secret or token in the captured output of a process (``what`` names it):
    the running test fails at teardown."""
    excerpt = find_secret(text)
    if excerpt is not None:
        CAPTURE.add(f"output of {what}: {excerpt}")


def pytest_configure(config: pytest.Config) -> None:
    """Install the capture for the session and let collab's loggers create every record;
    the password of ``COLLAB_TEST_DATABASE_URL`` (a server the suite is given) is a secret."""
    password = str(conninfo_to_dict(os.environ.get("COLLAB_TEST_DATABASE_URL") or "").get("password") or "")
    if len(password) >= MIN_LENGTH:  # a shorter one would match harmless text
        register_secret(password)
    collab = logging.getLogger("collab")
    config.stash[_LEVEL] = collab.level
    collab.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(CAPTURE)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the capture; collab's loggers get their level back."""
    logging.getLogger().removeHandler(CAPTURE)
    logging.getLogger("collab").setLevel(config.stash.get(_LEVEL, logging.NOTSET))


@pytest.fixture(autouse=True)
def _no_secret_in_logs() -> Iterator[None]:
    """Fail the test at teardown when a record (or a process's output) carried a secret
    while it ran. Autouse and from a plugin: set up before, torn down after, the test's
    other function fixtures, so their set-up and tear-down are covered too. collab's
    level is set again for each test: a test that configures logging (``collab.logs``)
    must not turn the capture down for the tests after it."""
    _outside_tests.extend(CAPTURE.take())
    logging.getLogger("collab").setLevel(logging.DEBUG)
    yield
    found = CAPTURE.take()
    if found:
        pytest.fail("a secret or token was logged:\n  " + "\n  ".join(found), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: Any) -> None:
    """Fail the session for secrets logged outside any test (session fixtures)."""
    found = _outside_tests + CAPTURE.take()
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "secrets or tokens logged outside any test", red=True)
        for line in found:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
