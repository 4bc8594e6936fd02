"""``collab watch`` and ``collab jobs --follow`` against a real database, as processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from support import Caller, assign, claim
from support.forked_cli import run_collab


def start(db_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "collab_sdk.cli", *args, "--database-url", db_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_watch_prints_the_log_then_live_events_and_exits_with_the_outcome(db_url: str, owner: Caller) -> None:
    job_id = assign(owner, executor_id="ex")
    proc = start(db_url, "watch", str(job_id), "--json")
    assert proc.stdout is not None
    logged = proc.stdout.readline()  # the log is printed (not a fixed sleep): what follows is live
    claim(owner, executor_id="ex")
    owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={"ok": True})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    events = json_lines(logged + out)
    assert [e["eventType"] for e in events] == ["queued", "claimed", "succeeded"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


def test_watch_exit_codes(db_url: str, owner: Caller) -> None:
    failed = assign(owner, executor_id="ex", max_attempts=1)
    claim(owner, executor_id="ex")
    owner.rpc("fail_job_v1", job_id=failed, worker_id="w1", error="boom")
    # Forked from the CLI zygote (support.forked_cli): real exit statuses, a second less each.
    done = run_collab(["watch", str(failed), "--database-url", db_url], timeout=30)
    assert done.returncode == 1 and "failed" in done.stdout.splitlines()[-1]
    waiting = assign(owner, executor_id="ex")
    started = time.monotonic()
    timed_out = run_collab(["watch", str(waiting), "--timeout", "0.5", "--database-url", db_url],
                           timeout=30)
    assert timed_out.returncode == 124 and "queued" in timed_out.stdout
    assert time.monotonic() - started < 15
    missing = run_collab(["watch", str(uuid.uuid4()), "--database-url", db_url], timeout=30)
    assert missing.returncode == 3 and "not found" in missing.stderr and missing.stdout == ""


def test_jobs_follow_prints_new_events_of_its_executor_only(db_url: str, owner: Caller) -> None:
    old = assign(owner, executor_id="ex")
    proc = start(db_url, "jobs", "--executor", "ex", "--follow", "--json")
    assert proc.stdout is not None
    lines: list[Any] = [json.loads(proc.stdout.readline())]  # listed: following from before it
    new = assign(owner, executor_id="ex")
    assign(owner, executor_id="elsewhere")
    claim(owner, executor_id="ex")  # the older job first (fifo)
    deadline = time.monotonic() + 20
    while len([x for x in lines if "eventType" in x]) < 2 and time.monotonic() < deadline:
        lines.append(json.loads(proc.stdout.readline()))
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 130
    listed = [x for x in lines if "eventType" not in x]
    followed = [(x["jobId"], x["eventType"]) for x in lines if "eventType" in x]
    assert [x["id"] for x in listed] == [str(old)]
    assert followed == [(str(new), "queued"), (str(old), "claimed")]
