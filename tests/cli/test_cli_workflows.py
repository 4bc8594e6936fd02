"""``collab workflows`` and ``collab runs`` as processes against a real database: a
definition file created, validated (exit 2 when invalid), published, shown and run with an
idempotency key; a paused run resumed, watched to its end, shown; cancel and retry, and
their exit codes when the run cannot be cancelled or retried."""

from __future__ import annotations

import json
from pathlib import Path

from support import Caller, claim
from test_cli_commands import collab as run, collab_json as ok

DEFINITION = {"nodes": [{"id": "fetch", "type": "c.fetch", "data": {}},
                        {"id": "review", "type": "approval", "data": {}}],
              "edges": [{"id": "e1", "source": "fetch", "target": "review"}]}


def test_a_workflow_from_a_file_to_a_finished_run(db_url: str, owner: Caller, tmp_path: Path) -> None:
    owner.rpc("register_step_types_v1", executor_id="ex", step_types=[{"name": "c.fetch", "title": "Fetch"}])
    definition = tmp_path / "flow.json"
    definition.write_text(json.dumps(DEFINITION))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"nodes": [{"id": "a", "type": "nope", "data": {}}], "edges": []}))

    bad = run(db_url, "workflows", "validate", "--definition", str(broken), "--executor", "ex")
    assert bad.returncode == 2 and "invalid" in bad.stdout and "nope" in bad.stdout, bad.stdout + bad.stderr
    workflow_id = run(db_url, "workflows", "create", "flow", "--executor", "ex",
                      "--definition", f"@{definition}").stdout.strip()
    assert ok(db_url, "workflows", "validate", workflow_id) == {"valid": True, "errors": []}
    assert run(db_url, "workflows", "run", workflow_id).returncode == 4        # still a draft
    assert ok(db_url, "workflows", "publish", workflow_id)["status"] == "published"
    listed = run(db_url, "workflows", "list", "--executor", "ex")
    assert workflow_id in listed.stdout and "published" in listed.stdout
    shown = run(db_url, "workflows", "show", workflow_id)
    assert shown.returncode == 0 and shown.stdout.splitlines()[0].split()[:3] == ["flow", "v1", "published"]
    assert [line.split() for line in shown.stdout.splitlines()[2:]] == [["fetch", "c.fetch"],
                                                                          ["review", "approval", "fetch"]]
    assert ok(db_url, "workflows", "show", workflow_id)["definition"]["edges"][0]["source"] == "fetch"
    assert run(db_url, "workflows", "show", "00000000-0000-0000-0000-000000000000").returncode == 3

    started = ok(db_url, "workflows", "run", workflow_id, "--input", '{"n": 1}', "--idempotency-key", "k")
    again = ok(db_url, "workflows", "run", workflow_id, "--input", '{"n": 1}', "--idempotency-key", "k")
    run_id = started["run"]["id"]
    assert started["created"] and not again["created"] and again["run"]["id"] == run_id

    job = claim(owner)
    assert job is not None
    owner.rpc("complete_job_v1", job_id=job["id"], worker_id="w1", result={"body": "x"})
    shown = run(db_url, "runs", "show", run_id)
    assert shown.returncode == 0 and "paused" in shown.stdout and "waiting" in shown.stdout
    assert run(db_url, "runs", "resume", run_id, "fetch").returncode == 4     # not waiting
    assert ok(db_url, "runs", "resume", run_id, "review", "--data", '{"ok": true}')["status"] == "succeeded"
    watched = run(db_url, "runs", "watch", run_id, "--timeout", "20")
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert "run_pending" in lines[0] and "run_succeeded" in lines[-1]
    assert ok(db_url, "runs", "list", "--workflow", workflow_id)["items"][0]["status"] == "succeeded"
    assert run(db_url, "runs", "cancel", run_id).returncode == 4              # already ended
    assert run(db_url, "runs", "retry", run_id).returncode == 4               # not failed
    assert run(db_url, "runs", "show", "00000000-0000-0000-0000-000000000000").returncode == 3


def test_runs_cancel_and_retry_change_the_run(db_url: str, owner: Caller) -> None:
    owner.rpc("register_step_types_v1", executor_id="ex", step_types=[{"name": "c.fetch", "title": "Fetch"}])
    workflow_id = run(db_url, "workflows", "create", "flow", "--executor", "ex",
                      "--definition", json.dumps(DEFINITION)).stdout.strip()
    ok(db_url, "workflows", "publish", workflow_id)
    cancelled = ok(db_url, "workflows", "run", workflow_id, "--idempotency-key", "a")["run"]["id"]
    assert ok(db_url, "runs", "cancel", cancelled, "--reason", "not needed")["status"] == "cancelled"
    failing = ok(db_url, "workflows", "run", workflow_id, "--idempotency-key", "b")["run"]["id"]
    job = claim(owner)
    assert job is not None and str(job["workflow_run_id"]) == failing
    owner.rpc("fail_job_v1", job_id=job["id"], worker_id="w1", error="upstream down", retryable=False)
    shown = ok(db_url, "runs", "show", failing)
    assert shown["run"]["status"] == "failed" and shown["steps"][0]["error"] == "upstream down", shown
    retried = run(db_url, "runs", "retry", failing)
    assert retried.returncode == 0 and "running" in retried.stdout, retried.stdout + retried.stderr
    assert claim(owner, worker_id="w2") is not None  # the failed step runs again
