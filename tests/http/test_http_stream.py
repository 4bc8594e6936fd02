"""GET /api/collab/events/stream: Server-Sent Events over the gapless event stream, through
Starlette's test client and against `collab serve` as a real process."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from typing import Any

import httpx

from http_support import SECRET, Api, Server, assert_error
from collab_sdk.auth.tokens import mint_token
from support import Caller, add_members, assign, claim

STREAM = "/api/collab/events/stream"


def parse_sse(text: str) -> list[dict[str, str]]:
    """SSE messages as dicts of their fields (comments and `retry` dropped)."""
    messages = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        if fields and set(fields) != {"retry"}:
            messages.append(fields)
    return messages


def test_a_finished_jobs_stream_is_its_log_then_end(api: Api) -> None:
    job_id = assign(api.owner, executor_id="ex")
    claim(api.owner, executor_id="ex")
    api.owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={"ok": True})
    response = api.get(f"{STREAM}?jobId={job_id}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.text
    assert body.startswith("retry: 2000\n\n")
    messages = parse_sse(body)
    events = [json.loads(m["data"]) for m in messages if "id" in m]
    assert [e["eventType"] for e in events] == ["queued", "claimed", "succeeded"]
    assert [int(m["id"]) for m in messages if "id" in m] == [e["seq"] for e in events]
    assert events[0]["jobId"] == str(job_id) and messages[-1] == {"event": "end", "data": "{}"}

    resumed = parse_sse(api.get(f"{STREAM}?jobId={job_id}",
                                headers={"Last-Event-ID": str(events[1]["seq"])}).text)
    assert [json.loads(m["data"])["eventType"] for m in resumed if "id" in m] == ["succeeded"]
    done = parse_sse(api.get(f"{STREAM}?jobId={job_id}&since={events[2]['seq']}").text)
    assert done == [{"event": "end", "data": "{}"}]


def test_an_executor_stream_closes_after_its_timeout(api: Api) -> None:
    assign(api.owner, executor_id="exec-a")
    assign(api.owner, executor_id="exec-b")
    started = time.monotonic()
    messages = parse_sse(api.get(f"{STREAM}?executorId=exec-a&timeout=1").text)
    assert 0.9 < time.monotonic() - started < 5
    assert [json.loads(m["data"])["executorId"] for m in messages] == ["exec-a"]


def test_stream_of_everything_and_of_a_job_in_its_executor(api: Api) -> None:
    """Neither filter: every event the caller may read; both: the job's, in that executor
    only (another executor's job is a 404, as if it did not exist)."""
    a = assign(api.owner, executor_id="exec-a")
    b = assign(api.owner, executor_id="exec-b")
    everything = parse_sse(api.get(f"{STREAM}?timeout=1").text)
    assert {json.loads(m["data"])["jobId"] for m in everything if "id" in m} == {str(a), str(b)}
    assert_error(api.get(f"{STREAM}?jobId={a}&executorId=exec-b"), 404, "not_found")
    own = parse_sse(api.get(f"{STREAM}?jobId={a}&executorId=exec-a&timeout=1").text)
    assert {json.loads(m["data"])["jobId"] for m in own if "id" in m} == {str(a)}


def test_stream_errors(api: Api) -> None:
    assert_error(api.get(f"{STREAM}?jobId={uuid.uuid4()}&executorId=ex"), 404, "not_found")
    assert_error(api.get(f"{STREAM}?jobId={uuid.uuid4()}"), 404, "not_found")
    assert_error(api.get(f"{STREAM}?jobId=nope"), 400, "invalid_query")
    assert_error(api.get(f"{STREAM}?executorId=ex&since=-1"), 400, "invalid_query")
    assert_error(api.get(f"{STREAM}?executorId=ex", headers={"Last-Event-ID": "x1"}), 400,
                 "invalid_last_event_id")
    assert_error(api.http.get(f"{STREAM}?executorId=ex"), 401, "missing_credentials")
    other = assign(api.owner, executor_id="exec-b")
    assert_error(api.get(f"{STREAM}?jobId={other}", token=api.user({"exec-a": "client"})), 404, "not_found")


def test_a_member_streams_only_its_executor(api: Api) -> None:
    token = api.user({"exec-a": "client"})
    assign(api.owner, executor_id="exec-b")
    mine = parse_sse(api.get(f"{STREAM}?executorId=exec-a&timeout=1", token=token).text)
    theirs = parse_sse(api.get(f"{STREAM}?executorId=exec-b&timeout=1", token=token).text)
    assert mine == [] and theirs == []


def read_until(response: httpx.Response, count: int, into: list[dict[str, Any]]) -> None:
    buffer = ""
    for chunk in response.iter_text():
        buffer += chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            for message in parse_sse(block + "\n\n"):
                if "id" in message:
                    into.append({"id": int(message["id"]), **json.loads(message["data"])})
        if len(into) >= count:
            return


def test_a_browser_like_client_reconnects_with_last_event_id(
        server: Server, owner: Caller) -> None:
    """A real HTTP client reads the stream from `collab serve` while jobs run, drops the
    connection, reconnects with Last-Event-ID, and sees every event once, in order."""
    base, _, _ = server
    user = uuid.uuid4()
    add_members(owner, user, {"sse": "worker"})
    headers = {"Authorization": f"Bearer {mint_token(SECRET, sub=str(user))}"}
    stop = threading.Event()

    def produce() -> None:
        while not stop.is_set():
            job_id = assign(owner, executor_id="sse")
            claim(owner, executor_id="sse")
            owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result=None)
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    seen: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            for _ in range(3):  # read some, hang up, come back where we left off
                last = {"Last-Event-ID": str(seen[-1]["id"])} if seen else {}
                started = time.monotonic()
                with http.stream("GET", f"{STREAM}?executorId=sse", headers=last) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    read_until(response, len(seen) + 30, seen)
                assert time.monotonic() - started < 10
    finally:
        stop.set()
        producer.join()
    committed = [r["seq"] for r in owner.sql(
        "select seq from collab.job_events where executor_id = 'sse' order by seq")]
    ids = [m["id"] for m in seen]
    assert len(ids) >= 90 and ids == committed[:len(ids)], "a gap or a repeat across reconnects"
    assert all(m["seq"] == m["id"] and m["executorId"] == "sse" for m in seen)
