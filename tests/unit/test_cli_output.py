"""How the ``collab`` command prints, without a database: Rich on a terminal, plain
columns in a pipe; the one-line error summary; ``--run-at``/``--delay``."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from collab_sdk.cli.jobs import run_at_from
from collab_sdk.cli.output import error_summary, print_line, print_table
from collab_sdk.errors import ValidationError


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


ROWS = [["01a2-long-identifier", "t.cli", None], ["x", "[bold]not markup[/]", "failed"]]


def test_a_pipe_gets_plain_aligned_columns(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(("ID", "TYPE", "STATUS"), ROWS)
    assert capsys.readouterr().out.splitlines() == ["ID                    TYPE                 STATUS",
                                                    "01a2-long-identifier  t.cli",
                                                    "x                     [bold]not markup[/]  failed"]
    print_table(("ID", "TYPE"), [["y" * 300, "wide"]])
    assert capsys.readouterr().out.splitlines()[1] == "y" * 300 + "  wide"   # no wrapping, no colour


def test_a_terminal_gets_a_rich_table_in_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    out = Terminal()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.delenv("NO_COLOR", raising=False)
    print_table(("ID", "TYPE", "STATUS"), ROWS)
    print_line("done", "green")
    text = out.getvalue()
    assert "\x1b[" in text and "failed" in text and "[bold]not markup[/]" in text
    assert "─" in text   # the header rule of a boxed table


def test_error_summary_is_the_telling_line() -> None:
    pydantic = ("1 validation error for Shot\nurl\n  Input should be a valid string [type=string_type]\n"
                "    For further information visit https://errors.pydantic.dev/2.9/v/string_type")
    assert error_summary(pydantic) == "Input should be a valid string [type=string_type]"
    assert error_summary("Traceback (most recent call last):\n  File x\nRuntimeError: boom\n") == "RuntimeError: boom"
    assert error_summary(None) == "" and error_summary("https://only.example/a-url") == "https://only.example/a-url"


def test_run_at_and_delay() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert run_at_from(None, None) is None
    assert run_at_from(None, 90, now=now) == now + timedelta(seconds=90)
    assert run_at_from("2026-02-03T04:05:06", None) == datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert run_at_from("2026-02-03T04:05:06Z", None) == datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    assert run_at_from("2026-02-03T04:05:06+01:00", None) == datetime(2026, 2, 3, 3, 5, 6, tzinfo=timezone.utc)
    for run_at, delay in [("2026-02-03", 5.0), ("soon", None), (None, -1.0)]:
        with pytest.raises(ValidationError):
            run_at_from(run_at, delay)
