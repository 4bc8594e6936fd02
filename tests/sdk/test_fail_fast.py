"""Failing fast and clearly: a malformed database URL is refused at once (exit 2, naming
the variable to use), an unreachable server fails within ``COLLAB_CONNECT_TIMEOUT`` with
one line on stderr (exit 69: no pool warnings, no asyncio noise), the embedded server
keeps its port across a stop and start, and a client's pool recovers at once when its
server comes back (no connection the old server closed is lent, no backed-off reconnection
is waited for)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.config import check_database_url, transport_from_env
from collab_sdk.errors import ConfigurationError, TransportError
from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate
from collab_sdk.transports.postgres import DEFAULT_CONNECT_TIMEOUT, PostgresTransport, connect_timeout_from_env
from support.forked_cli import run_collab


def collab(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAB_", "SUPABASE_"))}
    # Forked from a process that imported the CLI once (support.forked_cli): a second less each.
    return run_collab(list(args), timeout=timeout, env={**environment, **(env or {})}, cwd=cwd)


@pytest.mark.parametrize("args, env, names", [
    (["stats", "--database-url", "not a url"], {}, ["--database-url", "PostgreSQL URL"]),
    (["stats", "--database-url", "https://abcdefgh.supabase.co"], {},
     ["--database-url", "Supabase project URL", "SUPABASE_URL"]),
    (["stats"], {"COLLAB_DATABASE_URL": "https://abcdefgh.supabase.co"},
     ["COLLAB_DATABASE_URL", "Supabase project URL", "SUPABASE_URL with a key"]),
    (["jobs"], {"COLLAB_DATABASE_URL": "mysql://u:hunter2@db/x"}, ["COLLAB_DATABASE_URL", "mysql://"]),
    (["db", "migrate", "--database-url", "localhost:5432"], {}, ["--database-url"]),
    (["stats", "--database-url", "postgresql://127.0.0.1:1/x"], {"COLLAB_CONNECT_TIMEOUT": "soon"},
     ["COLLAB_CONNECT_TIMEOUT"]),
])
def test_a_malformed_url_is_refused_at_once_with_exit_2(args: list[str], env: dict[str, str],
                                                        names: list[str]) -> None:
    started = time.monotonic()
    result = collab(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 5
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("collab: error: "), result.stderr
    assert all(name in lines[0] for name in names), lines[0]
    assert "hunter2" not in result.stderr


def test_the_url_check_names_its_source_and_keeps_good_urls() -> None:
    for good in ("postgresql://u:p@h:5432/d", "postgres://h/d", " postgresql://h/d?sslmode=require "):
        assert check_database_url(good) == good.strip()
    with pytest.raises(ConfigurationError, match="SUPABASE_URL"):
        transport_from_env({"COLLAB_DATABASE_URL": "https://xyz.supabase.co"})
    with pytest.raises(ConfigurationError, match="MY_URL"):
        check_database_url("not a url", "MY_URL")
    assert connect_timeout_from_env({}) == DEFAULT_CONNECT_TIMEOUT == 5.0
    assert connect_timeout_from_env({"COLLAB_CONNECT_TIMEOUT": "0.5"}) == 0.5
    for bad in ("0", "-1", "inf", "nan", "x"):
        with pytest.raises(ConfigurationError):
            connect_timeout_from_env({"COLLAB_CONNECT_TIMEOUT": bad})


def test_an_unreachable_server_is_one_line_and_exit_69() -> None:
    started = time.monotonic()
    result = collab("stats", "--database-url", "postgresql://nobody:s3cret@127.0.0.1:1/x")
    assert result.returncode == 69, result.stderr
    assert time.monotonic() - started < 5
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("collab: error: database unavailable at 127.0.0.1:1/x")
    for noise in ("pool", "Task was destroyed", "Traceback", "s3cret"):
        assert noise not in result.stderr


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a blackholed database)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        yield listening.getsockname()[1]


def test_a_server_that_never_answers_fails_after_the_connect_timeout(silent_server: int) -> None:
    started = time.monotonic()
    result = collab("jobs", "--database-url", f"postgresql://127.0.0.1:{silent_server}/x",
                    env={"COLLAB_CONNECT_TIMEOUT": "1"})
    elapsed = time.monotonic() - started
    assert result.returncode == 69, result.stderr
    assert 0.9 < elapsed < 4.5, elapsed
    assert result.stderr.splitlines() == [f"collab: error: database unavailable: no answer from "
                                          f"127.0.0.1:{silent_server}/x within 1 s (COLLAB_CONNECT_TIMEOUT)"]


async def test_the_sdk_raises_one_transport_error_and_can_try_again(silent_server: int, db_url: str) -> None:
    client = AsyncCollabClient.from_url("postgresql://127.0.0.1:1/x")
    for _ in range(2):  # nothing was opened by the first failure: the second fails the same way
        with pytest.raises(TransportError, match="Connection refused"):
            await client.stats()
    await client.aclose()
    async with AsyncCollabClient.from_url(db_url) as reachable:  # a reachable one still works
        assert (await reachable.stats()).total == 0


def test_the_embedded_server_keeps_its_url_across_stop_and_start(tmp_path: Path) -> None:
    home = {"COLLAB_HOME": str(tmp_path / "home")}
    try:
        first = collab("db", "url", env=home, timeout=180)
        assert first.returncode == 0, first.stderr
        url = first.stdout.strip()
        assert collab("db", "stop", env=home).returncode == 0
        assert collab("stats", env=home).returncode == 0      # from_env restarts it: same port
        assert collab("db", "stop", env=home).returncode == 0
        again = collab("db", "url", env=home, timeout=180)
        assert again.returncode == 0 and again.stdout.strip() == url, (url, again.stdout, again.stderr)
        assert (tmp_path / "home" / "port").read_text().strip() == url.split(":")[-1].split("/")[0]
    finally:
        collab("db", "stop", env=home)


def test_a_recorded_port_is_reused_only_while_free(tmp_path: Path, silent_server: int) -> None:
    server = EmbeddedPostgres(tmp_path / "pgdata", port_file=tmp_path / "port")
    assert server.recorded_port() is None                      # nothing recorded yet
    (tmp_path / "port").write_text(f"{silent_server}\n")
    assert server.recorded_port() is None                      # taken: a new one will be chosen
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    (tmp_path / "port").write_text(f"{free}\n")
    assert server.recorded_port() == free
    (tmp_path / "port").write_text("garbage")
    assert server.recorded_port() is None


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A migrated database server of this test alone (so that it can be stopped), keeping
    its port across restarts as the embedded default does."""
    server = EmbeddedPostgres(tmp_path / "pg", port_file=tmp_path / "port", settings={"max_connections": "30"})
    migrate(server.start())
    yield server
    server.stop("immediate")


async def test_no_connection_the_restarted_server_closed_is_lent(own_server: EmbeddedPostgres) -> None:
    client = AsyncCollabClient.from_url(own_server.url(), max_size=4)
    try:
        await asyncio.gather(*(client.assign("t", executor_id="ex") for _ in range(8)))  # idle connections
        own_server.restart("fast")  # each of them gets the server's goodbye
        for _ in range(3):  # not one call fails on an old connection
            await client.assign("t", executor_id="ex")
        assert (await client.stats(executor_id="ex")).queued == 11
    finally:
        await client.aclose()


async def test_the_first_call_after_a_long_outage_succeeds(own_server: EmbeddedPostgres) -> None:
    """psycopg_pool's own reconnection backs off 1, 2, 4, … s: a caller would wait for it
    long after the server is back. The pool gives up after the connect timeout instead, so
    the first call after the outage connects at once."""
    client = AsyncCollabClient(PostgresTransport(own_server.url(), max_size=2, connect_timeout=0.5))
    try:
        await client.assign("t", executor_id="ex")
        port = own_server.port()
        own_server.stop("fast")
        ended = time.monotonic() + 4
        failures = 0
        while time.monotonic() < ended:  # callers keep trying while the server is down
            with pytest.raises(TransportError):
                await client.assign("t", executor_id="ex")
            failures += 1
        assert failures >= 3
        assert own_server.start() == own_server.url() and own_server.port() == port
        await client.assign("t", executor_id="ex")  # the first call after the outage
        assert (await client.stats(executor_id="ex")).queued == 2
    finally:
        await client.aclose()
