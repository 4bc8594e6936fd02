"""The suite-wide secret capture (``support.secret_capture``) can fail: its checker finds
registered secrets and token shapes and masks them in its excerpt, its handler reads
messages, fields and tracebacks, and a suite of its own that logs a secret fails at
teardown, naming the logger."""

from __future__ import annotations

import logging

import pytest

from collab_sdk.logs import fields
from support import REPO
from support.secret_capture import MIN_LENGTH, SecretCapture, find_secret, register_secret

#: Built, not written out: the literal in this file must not be what it searches for.
PLANTED = "planted-" + "secret-for-the-capture-test"
register_secret(PLANTED)
JWT = "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_the_checker_finds_registered_secrets_and_token_shapes_and_masks_them() -> None:
    assert find_secret("job.finished outcome=succeeded duration_ms=3") is None
    excerpt = find_secret(f"connecting with key={PLANTED} to the server")
    assert excerpt is not None and PLANTED not in excerpt
    assert "a registered secret (35 chars, 'plan'…)" in excerpt and "key=<secret> to the server" in excerpt
    for token in (JWT, "whsec_" + "ab" * 32, "sb_secret_" + "Q" * 20):
        found = find_secret(f"Authorization: {token}")
        assert found is not None and token not in found and "<token>" in found, (token, found)
    assert find_secret("whsec_ and sb_secret_ are prefixes, eyJ is a header") is None
    long = "x" * 500 + PLANTED + "y" * 500
    cut = find_secret(long)
    assert cut is not None and cut.count("x") == 60 and cut.startswith("a registered") and cut.endswith("…")
    with pytest.raises(ValueError, match=f"{MIN_LENGTH}"):
        register_secret("short")


def test_the_handler_reads_messages_fields_and_tracebacks() -> None:
    capture = SecretCapture()
    logger = logging.getLogger("capture-test.isolated")
    logger.propagate = False  # the suite's own capture must not see these
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("nothing to see")
        assert capture.take() == []
        logger.debug("using %s", PLANTED)
        logger.info("job.finished", extra=fields(error=f"Bearer {JWT}"))
        try:
            raise RuntimeError(f"bad key {PLANTED}")
        except RuntimeError:
            logger.exception("handler failed")
        found = capture.take()
    finally:
        logger.removeHandler(capture)
    assert len(found) == 3, found
    assert all(line.startswith("logger 'capture-test.isolated' at ") for line in found)
    assert "at DEBUG: a registered secret" in found[0] and "at INFO: a token" in found[1]
    assert "at ERROR" in found[2] and "RuntimeError: bad key <secret>" in found[2]
    assert not any(PLANTED in line or JWT in line for line in found)
    assert capture.take() == []


INNER_SUITE = '''
import logging
import subprocess
import sys

from support.secret_capture import check_output, register_secret

LEAKED = "inner-" + "suite-secret-0123456789"
register_secret(LEAKED)


def test_clean():
    logging.getLogger("inner.quiet").warning("nothing secret here")


def test_leaks_in_a_log_line():
    logging.getLogger("inner.leaky").warning("connecting with %s", LEAKED)


def test_leaks_in_a_process_output():
    out = subprocess.run([sys.executable, "-c", "print('token=' + 'inner-' + 'suite-secret-0123456789')"],
                         capture_output=True, text=True).stdout
    check_output(out, "the inner process")
'''


def test_a_suite_that_logs_a_secret_fails_at_teardown(pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_inner=INNER_SUITE)
    monkeypatch.setenv("PYTHONPATH", str(REPO / "tests"))
    # -rN: no short summary, which repeats each report in full when the CI variable is set
    # (pytest truncates it only on a terminal), so the count below is the same everywhere.
    result = pytester.runpytest_subprocess("-p", "support.secret_capture", "-p", "no:cacheprovider", "-rN")
    result.assert_outcomes(passed=3, errors=2)
    text = result.stdout.str()
    assert "ERROR at teardown of test_leaks_in_a_log_line" in text
    assert "ERROR at teardown of test_leaks_in_a_process_output" in text
    assert "logger 'inner.leaky' at WARNING: a registered secret" in text
    assert "connecting with <secret>" in text and "output of the inner process: " in text
    reported = [line for line in result.stdout.lines if "a registered secret" in line]
    assert len(reported) == 2 and not any("suite-secret" in line for line in reported), reported


def test_the_suite_registers_its_plugin() -> None:
    conftest = (REPO / "tests" / "conftest.py").read_text()
    assert '"support.secret_capture"' in conftest
    assert logging.getLogger("collab").level == logging.DEBUG  # every collab line is created
    assert any(isinstance(h, SecretCapture) for h in logging.getLogger().handlers)
