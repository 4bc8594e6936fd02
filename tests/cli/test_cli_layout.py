"""The ``collab`` command's layout, without a database: each command comes from its
group module, ``main`` knows no flags, one exit-status enum, one database resolution."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

import click
import pytest

from collab_sdk.cli import (connect, db, demo, dev, dlq, jobs, members, monitor, retention, runs, serve, supabase,
                            watch, worker, workflows)
from collab_sdk.exits import ExitStatus

# `collab_sdk.cli.main` is the entry point function; the module behind it:
main = importlib.import_module("collab_sdk.cli.main")

README = Path(__file__).resolve().parents[2] / "README.md"

# The smallest valid command line of every command, and the module whose `register` adds it.
COMMANDS: list[tuple[list[str], ModuleType]] = [
    (["db", "migrate"], db), (["db", "migrate", "--project-dir", "p"], db), (["db", "url"], db), (["db", "start"], db),
    (["db", "stop"], db),
    (["supabase", "install"], supabase), (["supabase", "upgrade", "--project-dir", "p"], supabase),
    (["demo"], demo),
    (["worker", "app:worker"], worker),
    (["assign", "t", "--executor", "e"], jobs), (["jobs"], jobs), (["job", "id"], jobs),
    (["stats"], jobs), (["cancel", "id"], jobs), (["retry", "id"], jobs), (["purge"], jobs),
    (["watch", "id"], watch),
    (["dlq", "list"], dlq), (["dlq", "retry", "id"], dlq),
    (["workers"], monitor), (["metrics"], monitor),
    (["members", "add", "ex", "u"], members), (["members", "remove", "ex", "u"], members),
    (["members", "list", "ex"], members),
    (["retention", "show", "ex"], retention), (["retention", "set", "ex"], retention),
    (["retention", "apply", "ex"], retention),
    (["workflows", "list"], workflows), (["workflows", "show", "id"], workflows),
    (["workflows", "create", "n", "--executor", "e", "--definition", "{}"], workflows),
    (["workflows", "validate", "id"], workflows), (["workflows", "publish", "id"], workflows),
    (["workflows", "run", "id"], workflows),
    (["runs", "list"], runs), (["runs", "show", "id"], runs), (["runs", "watch", "id"], runs),
    (["runs", "resume", "id", "step"], runs), (["runs", "cancel", "id"], runs), (["runs", "retry", "id"], runs),
    (["serve"], serve), (["token", "--sub", "u"], serve), (["dev"], dev),
]
GROUPED = ("db", "supabase", "dlq", "members", "retention", "workflows", "runs")


def resolve(cli: click.Group, argv: list[str]) -> click.Command:
    """The command ``argv`` names, its arguments parsed (a usage error raises)."""
    command: click.Command = cli
    words = list(argv)
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    command.make_context(command.name or "", words)
    return command


@pytest.mark.parametrize("argv, group", COMMANDS, ids=[" ".join(a[:2]) for a, _ in COMMANDS])
def test_every_command_runs_in_the_module_that_registers_it(argv: list[str], group: ModuleType) -> None:
    alone = click.Group("collab")
    group.register(alone)
    for cli in (alone, main.build_cli()):
        command = resolve(cli, argv)
        assert command.callback is not None and command.callback.__module__ == group.__name__, argv


@pytest.mark.parametrize("argv", sorted({tuple(a[:2] if a[0] in GROUPED else a[:1])
                                         for a, _ in COMMANDS} | {(g,) for g in GROUPED} | {()}))
def test_every_command_and_group_has_help(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main([*argv, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: collab {' '.join(argv)}".rstrip())


def test_main_lists_every_group_and_knows_none_of_their_flags() -> None:
    registered = {group for _, group in COMMANDS}
    assert set(main.GROUPS) == registered
    assert "click.option(" not in inspect.getsource(main) and "click.argument(" not in inspect.getsource(main)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version
    assert main.main(["--version"]) == 0
    assert capsys.readouterr().out == f"collab {version('collab-sdk')}\n"


def test_exit_statuses_are_the_ones_the_readme_documents() -> None:
    assert {s.name: s.value for s in ExitStatus} == {
        "OK": 0, "ERROR": 1, "USAGE": 2, "NOT_FOUND": 3, "CONFLICT": 4, "DENIED": 5,
        "UNAVAILABLE": 69, "STUCK": 70, "DRAIN_TIMEOUT": 75, "TIMEOUT": 124, "FORCED": 130}
    section = README.read_text().split("## The `collab` command", 1)[1].split("\n## ", 1)[0]
    section = re.sub(r"\s+", " ", section)
    for value, words in [(0, "ok"), (1, "error"), (2, "bad arguments or input"), (3, "not found"),
                         (4, "conflict"), (5, "unauthorized/forbidden"), (69, "database unreachable"),
                         (70, "too many hung sync handler threads"), (75, "drain timeout"), (124, "timeout"), (130, "second signal")]:
        assert f"{value} {words}" in section, (value, words)


def test_the_database_url_is_the_flag_then_the_environment_then_the_embedded_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connect, "embedded_database_url", lambda migrated=True: f"embedded:{migrated}")
    monkeypatch.delenv("COLLAB_DATABASE_URL", raising=False)
    assert connect.database_url(None) == "embedded:True"
    assert connect.database_url(None, migrated=False) == "embedded:False"
    monkeypatch.setenv("COLLAB_DATABASE_URL", "postgresql://env/db")
    assert connect.database_url(None) == "postgresql://env/db"
    assert connect.database_url("postgresql://flag/db") == "postgresql://flag/db"
