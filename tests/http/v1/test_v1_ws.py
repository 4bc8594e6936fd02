"""``WS /ws/runs/{run_id}`` through the real app (Starlette's test client) over a real
database: the snapshot first, then each event once in seq order, then ``end``; a
reconnect gets the updated snapshot; an event committed while the snapshot is built is
delivered exactly once; a disconnect leaves no subscription or task behind; auth before
anything is sent (4401), another executor's run is 4404. The live tests with a real
worker and ``collab serve`` are in test_v1_live.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any, Callable

import psycopg

from collab_sdk.auth.tokens import mint_token
from collab_sdk.http.sockets import CLOSE_NORMAL, SUBPROTOCOL
from http_support import SECRET, Api
from test_http_ws import read_all
from v1_support import chain, claim, complete, node, ok, published, register, start

WS = "/ws/runs"


def replay(snapshot: dict[str, Any], events: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    """(run status, step statuses) after applying ``events`` to ``snapshot``."""
    status, steps = snapshot["run"]["status"], dict(snapshot["step_statuses"])
    for e in events:
        kind = e["event_type"]
        if kind.startswith("step_"):
            steps[e["step_id"]] = kind.removeprefix("step_")
        elif kind != "run_retried":
            status = kind.removeprefix("run_")
    return status, steps


def test_snapshot_then_events_then_end_and_a_reconnect_sees_the_new_state(api: Api) -> None:
    register(api)
    run = start(api, published(api, chain(node("a"), node("b"))))
    with api.http.websocket_connect(f"{WS}/{run['id']}?timeout=1", headers=api.as_service()) as ws:
        first = ws.receive_json()
        assert first["type"] == "snapshot" and first["run"]["id"] == run["id"]
        assert first["step_statuses"] == {"a": "queued", "b": "pending"}
        assert [s["step_id"] for s in first["steps"]] == ["a", "b"] and first["seq"] > 0
        (job,) = claim(api)
        complete(api, job)
        messages, code = read_all(ws)
    events = [m for m in messages if m["type"] == "event"]
    assert messages[-1] == {"type": "end", "reason": "timeout"} and code == CLOSE_NORMAL
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    assert all(e["seq"] > first["seq"] for e in events)
    assert ("step_succeeded", "a") in [(e["event_type"], e["step_id"]) for e in events]
    assert replay(first, events) == ("running", {"a": "succeeded", "b": "queued"})

    with api.http.websocket_connect(f"{WS}/{run['id']}", headers=api.as_service()) as ws:
        again = ws.receive_json()
        assert again["step_statuses"] == {"a": "succeeded", "b": "queued"}
        assert again["seq"] >= events[-1]["seq"]  # what it reflects is not sent again
        (job,) = claim(api)
        complete(api, job)
        rest, code = read_all(ws)
    assert code == CLOSE_NORMAL and rest[-1] == {"type": "end", "reason": "final"}
    assert rest[-2]["event_type"] == "run_succeeded" and rest[-2]["type"] == "event"
    assert replay(again, rest[:-1]) == ("succeeded", {"a": "succeeded", "b": "succeeded"})

    with api.http.websocket_connect(f"{WS}/{run['id']}", headers=api.as_service()) as ws:
        late, code = read_all(ws)  # a finished run: its state, then end at once
    assert [m["type"] for m in late] == ["snapshot", "end"] and code == CLOSE_NORMAL
    assert late[0]["run"]["status"] == "succeeded"


def test_an_event_committed_while_the_snapshot_is_built_arrives_exactly_once(api: Api, db_url: str) -> None:
    register(api)
    run = start(api, published(api, chain(node("gate", "approval"), node("after"))))
    with psycopg.connect(db_url) as writer:  # a resume whose events are written, not committed
        writer.execute("select * from collab.resume_run_v1(%s, 'gate', '{\"ok\": true}'::jsonb)", (run["id"],))
        with api.http.websocket_connect(f"{WS}/{run['id']}?timeout=1.5", headers=api.as_service()) as ws:
            snapshot = ws.receive_json()
            assert snapshot["step_statuses"] == {"gate": "waiting", "after": "pending"}
            writer.commit()
            messages, _ = read_all(ws)
    events = [m for m in messages if m["type"] == "event"]
    logged = [e for e in ok(api.get(f"/api/v1/runs/{run['id']}/events")) if e["seq"] > snapshot["seq"]]
    assert [e["seq"] for e in events] == [e["seq"] for e in logged]  # each once, none lost, in order
    assert [(e["event_type"], e["step_id"]) for e in events].count(("step_succeeded", "gate")) == 1
    assert replay(snapshot, events) == ("running", {"gate": "succeeded", "after": "queued"})


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def open_streams(api: Api) -> float:
    """``collab_http_open_streams`` as /metrics reports it."""
    text = api.get("/metrics").text
    (line,) = [ln for ln in text.splitlines() if ln.startswith("collab_http_open_streams ")]
    return float(line.split()[1])


def test_many_sockets_on_one_run_share_one_reader_and_each_gets_every_event_once(api: Api) -> None:
    register(api, "team-a")
    owner = api.user({"team-a": "client"})
    run = start(api, published(api, chain(node("a"), node("b"), node("c")), owner), owner)
    feeds, hub = api.runtime.feeds, api.runtime.hub
    assert hub is not None
    count = 8
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(api.http.websocket_connect(
            f"{WS}/{run['id']}", subprotocols=[SUBPROTOCOL, f"bearer.{owner}"])) for _ in range(count)]
        snapshots = [ws.receive_json() for ws in sockets]
        assert all(s["type"] == "snapshot" for s in snapshots)
        wait_for(lambda: feeds.viewers == count and feeds.feeds == 1)
        assert hub.subscribers == 1  # one reader, one hub subscription for all eight
        assert open_streams(api) == count
        # another member of team-a reads with other claims: a reader of its own
        other = api.user({"team-a": "client"})
        with api.http.websocket_connect(f"{WS}/{run['id']}?timeout=2", headers=api.bearer(other)) as extra:
            assert extra.receive_json()["type"] == "snapshot"
            wait_for(lambda: feeds.viewers == count + 1 and feeds.feeds == 2)
            assert read_all(extra) == ([{"type": "end", "reason": "timeout"}], CLOSE_NORMAL)
        # a member of another executor gets nothing: 4404 before any event, and no reader
        stranger = api.user({"team-b": "client"})
        with api.http.websocket_connect(f"{WS}/{run['id']}", headers=api.bearer(stranger)) as ws:
            messages, code = read_all(ws)
        assert code == 4404 and [m["type"] for m in messages] == ["error"]
        wait_for(lambda: feeds.feeds == 1 and feeds.viewers == count)
        for _ in range(3):
            (job,) = claim(api, "team-a")
            complete(api, job)
        received = [read_all(ws) for ws in sockets]
    logged = ok(api.get(f"/api/v1/runs/{run['id']}/events"))
    for snapshot, (messages, code) in zip(snapshots, received):
        assert code == CLOSE_NORMAL and messages[-1] == {"type": "end", "reason": "final"}
        events = [m for m in messages[:-1]]
        assert all(m["type"] == "event" for m in events)
        # every event after its own snapshot, once, in seq order, none lost
        assert [e["seq"] for e in events] == [e["seq"] for e in logged if e["seq"] > snapshot["seq"]]
        assert replay(snapshot, events) == ("succeeded", {"a": "succeeded", "b": "succeeded",
                                                         "c": "succeeded"})
    wait_for(lambda: feeds.viewers == 0 and feeds.feeds == 0)
    assert open_streams(api) == 0


def test_a_disconnect_leaves_no_subscription_or_task(api: Api) -> None:
    register(api)
    run = start(api, published(api))
    hub = api.runtime.hub
    assert hub is not None

    async def tasks() -> int:
        return len(asyncio.all_tasks())

    def settled() -> None:
        deadline = time.monotonic() + 10
        while hub.subscribers or hub.listener is not None or api.run(tasks) > before:
            assert time.monotonic() < deadline, (hub.subscribers, api.run(tasks), before)
            time.sleep(0.05)

    before = api.run(tasks)
    for _ in range(3):
        with api.http.websocket_connect(f"{WS}/{run['id']}", headers=api.as_service()) as ws:
            assert ws.receive_json()["type"] == "snapshot"
            ws.send_json({"type": "ping"})
            assert ws.receive_json() == {"type": "pong"}
            wait_for(lambda: hub.subscribers == 1 and hub.listener is not None)  # the feed's, once it read
            assert api.runtime.feeds.viewers == 1 and api.run(tasks) > before
        settled()


def test_auth_comes_before_anything_and_other_executors_runs_are_4404(api: Api) -> None:
    register(api, "team-a")
    owner = api.user({"team-a": "client"})
    run = start(api, published(api, chain(node("a")), owner), owner)
    with api.http.websocket_connect(f"{WS}/{run['id']}", subprotocols=[SUBPROTOCOL, f"bearer.{owner}"]) as ws:
        assert ws.accepted_subprotocol == SUBPROTOCOL and ws.receive_json()["type"] == "snapshot"
    with api.http.websocket_connect(f"{WS}/{run['id']}") as ws:  # first-message auth
        ws.send_json({"type": "auth", "token": owner})
        assert ws.receive_json()["type"] == "snapshot"
    expired = mint_token(SECRET, sub=str(uuid.uuid4()), extra={"exp": int(time.time()) - 60})
    forged = mint_token("another-secret-that-is-long-enough-000000", sub=str(uuid.uuid4()))
    for given in ({}, api.bearer(expired), api.bearer(forged), {"Authorization": "Bearer x"}):
        missing = not given
        with api.http.websocket_connect(f"{WS}/{run['id']}", headers=dict(given)) as ws:
            if missing:  # a first message without a token
                ws.send_json({"type": "auth"})
            messages, code = read_all(ws)
        assert code == 4401 and [m["type"] for m in messages] == ["error"], given
    stranger = api.user({"team-b": "client"})
    for path, code in ((run["id"], 4404), (uuid.uuid4(), 4404), ("nope", 4400)):
        with api.http.websocket_connect(f"{WS}/{path}", headers=api.bearer(stranger)) as ws:
            messages, closed = read_all(ws)
        assert closed == code and [m["type"] for m in messages] == ["error"]


