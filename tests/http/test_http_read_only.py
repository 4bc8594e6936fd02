"""``collab serve`` (a real process) while the database is read-only and while serialization
failures and deadlocks are injected: writes answer 503 with ``Retry-After`` and a stable
code (``read_only``, ``busy``), reads go on, transient errors are retried inside the
server a bounded number of times, and everything works again by itself."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from collab_sdk.auth.tokens import mint_token
from collab_sdk.errors import TRANSIENT_RETRIES
from http_support import SECRET, Server, assert_error
from support import Caller, add_members
from support.faults import inject_transient, injected, read_only


def _client(server: Server, owner: Caller) -> httpx.Client:
    user = uuid.uuid4()
    add_members(owner, user, {"ex": "worker"})
    token = mint_token(SECRET, sub=str(user), executors={"ex": "worker"})
    return httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _assign(http: httpx.Client) -> httpx.Response:
    return http.post("/api/collab/task.assign", json={"type": "t.ro", "executorId": "ex"})


def _events(server: Server, prefix: str) -> list[str]:
    found = []
    for text in server.log.read_text().splitlines():
        try:
            event = json.loads(text).get("event", "")
        except ValueError:
            continue
        if event.startswith(prefix):
            found.append(event)
    return found


def test_writes_answer_503_read_only_reads_go_on_and_it_recovers(db_url: str, owner: Caller,
                                                                   server: Server) -> None:
    with _client(server, owner) as http:
        before = _assign(http)
        assert before.status_code in (200, 201), before.text
        job_id = before.json()["jobId"]
        with read_only(db_url):
            refused = _assign(http)
            assert_error(refused, 503, "read_only")
            assert refused.headers["Retry-After"] == "5"
            claim = http.post("/api/collab/task.claim", json={"executorId": "ex", "workerId": "w1"})
            assert_error(claim, 503, "read_only")
            seen = http.get(f"/api/collab/job/{job_id}")  # a read, through the uncounted rate limiter
            assert seen.status_code == 200 and seen.json()["job"]["status"] == "queued"
        after = _assign(http)
        assert after.status_code in (200, 201), after.text
        claimed = http.post("/api/collab/task.claim", json={"executorId": "ex", "workerId": "w1"})
        assert claimed.json()["job"]["id"] == job_id
    assert _events(server, "database.") == ["database.read_only", "database.writable"]
    assert server.proc.poll() is None


def test_transient_errors_are_retried_inside_then_answered_busy(db_url: str, owner: Caller,
                                                                 server: Server) -> None:
    attempts = TRANSIENT_RETRIES + 1
    with _client(server, owner) as http:
        inject_transient(db_url, attempts - 1, on="insert")
        retried = _assign(http)  # every injected failure is absorbed by the server's retries
        assert retried.status_code in (200, 201), retried.text
        assert injected(db_url) == attempts
        inject_transient(db_url, attempts + injected(db_url), on="insert")  # one call's whole budget
        busy = _assign(http)
        assert_error(busy, 503, "busy")
        assert busy.headers["Retry-After"] == "1"
        assert injected(db_url) == 2 * attempts
        again = _assign(http)
        assert again.status_code in (200, 201), again.text
    jobs = owner.sql("select count(*) as n from collab.jobs where type = 't.ro'")[0]["n"]
    assert jobs == 2  # the refused call wrote nothing
