"""The ``collab`` command against a real database: --json parsed back, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from support import Caller, expire_lease
from support.forked_cli import run_collab
from support.secret_capture import register_secret


def collab(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``collab *args --database-url db_url`` as a process forked from one that imported
    the CLI already (``support.forked_cli``: a second less per command)."""
    return run_collab([*args, "--database-url", db_url], timeout=60)


def collab_json(db_url: str, *args: str) -> Any:
    result = collab(db_url, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_assign_jobs_job_stats(db_url: str) -> None:
    first = collab_json(db_url, "assign", "t.cli", "--executor", "ex", "--payload", '{"n": 1}',
                        "--idempotency-key", "k")
    again = collab_json(db_url, "assign", "t.cli", "--executor", "ex", "--payload", '{"n": 1}',
                        "--idempotency-key", "k")
    assert first["queued"] is True and again == {"jobId": first["jobId"], "queued": False}
    page = collab_json(db_url, "jobs", "--executor", "ex", "--status", "queued")
    assert page["count"] == 1 and page["items"][0]["id"] == first["jobId"]
    summary = collab_json(db_url, "job", first["jobId"])
    assert summary["job"]["payload"] == {"n": 1} and summary["events"][0]["eventType"] == "queued"
    assert collab_json(db_url, "stats", "--executor", "ex")["queued"] == 1
    table = collab(db_url, "jobs")
    assert table.returncode == 0 and "t.cli" in table.stdout and table.stdout.startswith("ID")
    human = collab(db_url, "job", first["jobId"])
    assert "queued" in human.stdout and "SEQ" in human.stdout


def test_dlq_list_and_retry(db_url: str, owner: Caller) -> None:
    job_id = owner.rpc("assign_job_v1", type="t.d", executor_id="ex", max_attempts=1)[0]["job_id"]
    owner.rpc("claim_one_job_v3", executor_id="ex", worker_id="w")
    owner.rpc("fail_job_v1", job_id=job_id, worker_id="w", error="nope")
    dead = collab_json(db_url, "dlq", "list", "--open")
    assert dead["count"] == 1 and dead["items"][0]["jobId"] == str(job_id)
    retried = collab_json(db_url, "dlq", "retry", dead["items"][0]["id"])
    again = collab_json(db_url, "dlq", "retry", dead["items"][0]["id"])
    assert retried["queued"] and again == {**retried, "queued": False}
    assert collab_json(db_url, "dlq", "list", "--open")["count"] == 0


@pytest.mark.parametrize("args, code, message", [
    (["job", "00000000-0000-0000-0000-000000000000"], 3, "not found"),
    (["job", "not-a-uuid"], 2, "uuid"),
    (["assign", "t", "--executor", "ex", "--payload", "{"], 2, "not JSON"),
    (["assign", "bad type", "--executor", "ex"], 2, "type"),
    (["jobs", "--status", "sleeping"], 2, "invalid choice"),
    (["dlq", "retry", "00000000-0000-0000-0000-000000000000"], 3, "not found"),
])
def test_errors_have_clear_messages_and_exit_codes(db_url: str, args: list[str], code: int, message: str) -> None:
    result = collab(db_url, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_worker_spec_errors(db_url: str) -> None:
    for spec, text in [("nocolon", "module:attribute"), ("no_such_module:w", "cannot load"),
                       ("json:__name__", "not a collab Worker")]:
        result = subprocess.run([sys.executable, "-m", "collab_sdk.cli", "worker", spec],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and text in result.stderr, result.stderr


def test_unreachable_database_exits_69() -> None:
    result = subprocess.run([sys.executable, "-m", "collab_sdk.cli", "stats", "--database-url",
                             "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 69, result.stderr


def test_token_round_trips_through_the_authenticator() -> None:
    from collab_sdk.auth.tokens import AuthConfig, Authenticator

    secret = "a-local-development-secret-of-32+chars"
    register_secret(secret)
    result = subprocess.run([sys.executable, "-m", "collab_sdk.cli", "token", "--sub", "user-1",
                             "--executor", "ex=admin", "--secret", secret], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    auth = Authenticator(AuthConfig.from_env({"COLLAB_JWT_MODE": "local", "SUPABASE_JWT_SECRET": secret}))
    identity = auth.authenticate({"Authorization": f"Bearer {result.stdout.strip()}"})
    assert identity.subject == "user-1" and identity.role == "authenticated"
    assert identity.executor_hints == {"ex": "admin"}
    short = subprocess.run([sys.executable, "-m", "collab_sdk.cli", "token", "--sub", "u", "--secret", "short"],
                           capture_output=True, text=True)
    assert short.returncode == 2 and "at least" in short.stderr
