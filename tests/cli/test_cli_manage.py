"""The commands that cover the rest of the API — cancel, retry, purge, workers, metrics,
members, ``assign --run-at/--delay``, ``dlq retry`` by job id and ``job``'s whole errors
— against a real database, as processes: ``--json`` parsed back, exit codes pinned."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from support import Caller, assign, claim, make_due
from test_cli_commands import collab as run, collab_json as ok


def fails(db_url: str, code: int, *args: str) -> str:
    """The stderr of a command that must exit with ``code`` and one clear line."""
    result = run(db_url, *args)
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def test_cancel_and_retry_a_job(db_url: str, owner: Caller) -> None:
    job_id = str(assign(owner))
    cancelled = ok(db_url, "cancel", job_id, "--reason", "not needed")
    assert cancelled["id"] == job_id and cancelled["status"] == "cancelled"
    assert "cancelled" in fails(db_url, 4, "cancel", job_id)          # already final
    human = run(db_url, "retry", job_id)
    assert human.returncode == 0 and human.stdout == f"{job_id} queued\n", human.stderr
    assert fails(db_url, 4, "retry", job_id)                           # queued: nothing to retry
    assert ok(db_url, "job", job_id)["job"]["status"] == "queued"
    assert "not found" in fails(db_url, 3, "cancel", str(uuid.uuid4()))
    assert "uuid" in fails(db_url, 2, "retry", "not-a-uuid")


def _finish(owner: Caller, *, fail: bool = False, executor_id: str = "ex") -> str:
    job_id = assign(owner, executor_id=executor_id, max_attempts=1)
    claim(owner, executor_id=executor_id)
    if fail:
        owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error="boom")
    else:
        owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={"ok": True})
    return str(job_id)


def test_purge_deletes_finished_jobs_by_status_age_and_executor(db_url: str, owner: Caller) -> None:
    done, failed, live = _finish(owner), _finish(owner, fail=True), str(assign(owner))
    other = _finish(owner, fail=True, executor_id="other")
    assert ok(db_url, "purge", "--older-than", "3600") == {"purged": 0}   # all just finished
    assert ok(db_url, "purge") == {"purged": 1}                           # succeeded only, by default
    human = run(db_url, "purge", "--status", "failed", "--status", "cancelled", "--executor", "ex")
    assert human.returncode == 0 and human.stdout == "purged 1 job(s)\n", human.stderr
    left = {job["id"] for job in ok(db_url, "jobs", "--limit", "100")["items"]}
    assert left == {live, other} and not {done, failed} & left
    assert "invalid choice" in fails(db_url, 2, "purge", "--status", "queued")


def test_workers_lists_heartbeats(db_url: str, owner: Caller) -> None:
    owner.rpc("worker_heartbeat_v1", worker_id="w-cli", executor_id="ex", capacity=4, running=1, version="9.9")
    listed = ok(db_url, "workers")
    assert [(w["workerId"], w["executorId"], w["capacity"], w["running"]) for w in listed] == [("w-cli", "ex", 4, 1)]
    assert ok(db_url, "workers", "--executor", "other") == []
    table = run(db_url, "workers", "--within", "60")
    assert table.returncode == 0 and table.stdout.startswith("WORKER"), table.stderr
    assert "w-cli" in table.stdout and "1/4" in table.stdout and "9.9" in table.stdout
    assert "within_seconds" in fails(db_url, 2, "workers", "--within", "0")


def test_metrics_counts_jobs(db_url: str, owner: Caller) -> None:
    _finish(owner, fail=True)
    assign(owner, type="t.other")
    overview = ok(db_url, "metrics", "--executor", "ex")
    assert overview["byStatus"]["failed"] == 1 and overview["byStatus"]["queued"] == 1
    assert overview["dlq"]["size"] == 1 and set(overview["byType"]) == {"t.noop", "t.other"}
    human = run(db_url, "metrics")
    assert human.returncode == 0 and human.stdout.startswith("QUEUED"), human.stderr
    assert "t.other" in human.stdout and "dead letters: 1 open" in human.stdout


def test_members_add_list_and_remove(db_url: str, owner: Caller) -> None:
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    assert ok(db_url, "members", "list", "ex") == []
    added = ok(db_url, "members", "add", "ex", user, "--role", "worker")
    assert added["executorId"] == "ex" and added["userId"] == user and added["role"] == "worker"
    assert ok(db_url, "members", "add", "ex", user, "--role", "admin")["role"] == "admin"   # an upsert
    rows = owner.sql("select role from collab.executor_members where executor_id = 'ex' and user_id = %s", (user,))
    assert [r["role"] for r in rows] == ["admin"]
    ok(db_url, "members", "add", "ex", other)
    ok(db_url, "members", "add", "elsewhere", str(uuid.uuid4()))
    listed = ok(db_url, "members", "list", "ex")
    assert [(m["userId"], m["role"]) for m in listed] == [(user, "admin"), (other, "client")]
    table = run(db_url, "members", "list", "ex")
    assert table.returncode == 0 and table.stdout.splitlines()[0].split() == ["user", "role", "since"]
    assert [line.split()[:2] for line in table.stdout.splitlines()[1:]] == [[user, "admin"], [other, "client"]]
    assert "executor_id" in fails(db_url, 2, "members", "list", "not a name!")
    human = run(db_url, "members", "remove", "ex", user)
    assert human.returncode == 0 and human.stdout == f"{user} removed from ex\n", human.stderr
    assert "not a member" in fails(db_url, 3, "members", "remove", "ex", user)
    assert "invalid choice" in fails(db_url, 2, "members", "add", "ex", user, "--role", "owner")
    assert "uuid" in fails(db_url, 2, "members", "add", "ex", "not-a-uuid")


def test_assign_run_at_and_delay(db_url: str, owner: Caller) -> None:
    before = datetime.now(timezone.utc)
    when = (before + timedelta(days=30)).replace(microsecond=0, tzinfo=None)
    delayed = ok(db_url, "assign", "t.later", "--executor", "ex", "--delay", "3600")
    at = ok(db_url, "assign", "t.later", "--executor", "ex", "--run-at", when.isoformat())
    offset = ok(db_url, "assign", "t.later", "--executor", "ex", "--run-at", f"{when.isoformat()}+02:00")

    def due(answer: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(ok(db_url, "job", answer["jobId"])["job"]["nextRunAt"])

    assert before + timedelta(seconds=3590) < due(delayed) < before + timedelta(seconds=3700)
    assert due(at) == when.replace(tzinfo=timezone.utc)                          # no offset: UTC
    assert due(offset) == when.replace(tzinfo=timezone.utc) - timedelta(hours=2)
    assert owner.rpc("claim_one_job_v3", executor_id="ex", worker_id="w") == []   # none is due
    assert "not both" in fails(db_url, 2, "assign", "t", "--executor", "ex", "--delay", "1", "--run-at", "2030-01-01")
    assert "ISO 8601" in fails(db_url, 2, "assign", "t", "--executor", "ex", "--run-at", "tomorrow")
    assert "one year" in fails(db_url, 2, "assign", "t", "--executor", "ex", "--run-at", "2999-01-01T00:00:00Z")


def test_dlq_retry_takes_the_dead_letter_or_its_job(db_url: str, owner: Caller) -> None:
    job_id = _finish(owner, fail=True)
    _finish(owner, fail=True)   # another dead letter, newer: the job id must pick the right one
    retried = ok(db_url, "dlq", "retry", job_id)
    assert retried["queued"] is True and retried["jobId"] != job_id
    letter = next(d for d in ok(db_url, "dlq", "list")["items"] if d["jobId"] == job_id)
    assert letter["retriedJobId"] == retried["jobId"]
    assert ok(db_url, "dlq", "retry", letter["id"]) == {**retried, "queued": False}
    assert ok(db_url, "dlq", "retry", job_id) == {**retried, "queued": False}
    assert "not found" in fails(db_url, 3, "dlq", "retry", str(uuid.uuid4()))
    assert "uuid" in fails(db_url, 2, "dlq", "retry", "nope")


PYDANTIC_ERROR = """1 validation error for Shot
url
  Input should be a valid string [type=string_type, input_value=3, input_type=int]
    For further information visit https://errors.pydantic.dev/2.9/v/string_type"""


def test_job_shows_the_whole_last_error_and_every_events_error(db_url: str, owner: Caller) -> None:
    job_id = assign(owner, max_attempts=2)
    claim(owner)
    owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error="Traceback (most recent call last):\n"
              "  File \"app.py\", line 3, in handler\nRuntimeError: first attempt")
    make_due(owner, job_id)
    claim(owner)
    owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error=PYDANTIC_ERROR)
    shown = run(db_url, "job", str(job_id))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    last = out.split("last error:\n", 1)[1]
    assert all(f"  {line}\n" in last for line in PYDANTIC_ERROR.splitlines())
    events = out.split("event errors:\n", 1)[1]
    assert "retry_scheduled (attempt 1):\n" in events and "    RuntimeError: first attempt\n" in events
    assert "failed (attempt 2):\n" in events and "    url\n" in events
    # The one-line summary in the table is the telling line, not pydantic's URL.
    listed = run(db_url, "jobs").stdout
    assert "Input should be a valid string" in listed and "errors.pydantic.dev" not in listed
