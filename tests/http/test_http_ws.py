"""WS /api/collab/events/ws through Starlette's test client: snapshot, then each event once
in seq order, resumable by `since`; the three ways to authenticate and the 4401 close for
missing, expired and forged tokens before any event; origins; executor isolation; ping."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from collab_sdk.http.sockets import CLOSE_NORMAL, SUBPROTOCOL
from collab_sdk.http import Settings
from collab_sdk.local.storage import LocalStorage
from http_support import SECRET, Api, make_runtime, serving
from collab_sdk.auth.tokens import mint_token
from support import assign, claim

WS = "/api/collab/events/ws"


def finished_job(api: Api, executor: str = "ex") -> uuid.UUID:
    job_id = assign(api.owner, executor_id=executor)
    claim(api.owner, executor_id=executor)
    api.owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={"ok": True})
    return job_id


def read_all(ws: Any) -> tuple[list[dict[str, Any]], int]:
    """Every message until the server closes; and the close code."""
    messages = []
    try:
        while True:
            messages.append(ws.receive_json())
    except WebSocketDisconnect as closed:
        return messages, closed.code


def test_snapshot_then_each_event_then_end(api: Api) -> None:
    job_id = finished_job(api)
    with api.http.websocket_connect(f"{WS}?jobId={job_id}", headers=api.as_service()) as ws:
        messages, code = read_all(ws)
    assert code == CLOSE_NORMAL
    assert messages[0]["type"] == "snapshot" and messages[0]["job"]["id"] == str(job_id)
    assert messages[0]["job"]["status"] == "succeeded" and messages[0]["seq"] == 0
    events = [m["event"] for m in messages[1:-1]]
    assert all(m["type"] == "event" for m in messages[1:-1])
    assert [e["eventType"] for e in events] == ["queued", "claimed", "succeeded"]
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    assert messages[-1] == {"type": "end", "reason": "final"}

    since = events[0]["seq"]
    with api.http.websocket_connect(f"{WS}?jobId={job_id}&since={since}", headers=api.as_service()) as ws:
        resumed, _ = read_all(ws)
    assert resumed[0]["seq"] == since
    assert [m["event"]["eventType"] for m in resumed if m["type"] == "event"] == ["claimed", "succeeded"]


def test_a_browser_authenticates_by_subprotocol_or_first_message(api: Api) -> None:
    token = api.user({"ex": "client"})
    job_id = finished_job(api)
    with api.http.websocket_connect(f"{WS}?jobId={job_id}",
                                    subprotocols=[SUBPROTOCOL, f"bearer.{token}"]) as ws:
        assert ws.accepted_subprotocol == SUBPROTOCOL  # never the token
        messages, code = read_all(ws)
    assert code == CLOSE_NORMAL and len([m for m in messages if m["type"] == "event"]) == 3

    with api.http.websocket_connect(f"{WS}?jobId={job_id}") as ws:
        ws.send_json({"type": "auth", "token": token})
        messages, code = read_all(ws)
    assert code == CLOSE_NORMAL and messages[0]["type"] == "snapshot"


@pytest.mark.parametrize("how", ["none", "expired", "forged", "garbage message", "bad header"])
def test_bad_credentials_close_4401_before_any_event(api: Api, how: str) -> None:
    job_id = finished_job(api)
    user = uuid.uuid4()
    expired = mint_token(SECRET, sub=str(user), extra={"exp": int(time.time()) - 60})
    forged = mint_token("another-secret-that-is-long-enough-000000", sub=str(user))
    subprotocols, headers, first = [], {}, None
    if how == "expired":
        subprotocols = [SUBPROTOCOL, f"bearer.{expired}"]
    elif how == "forged":
        subprotocols = [SUBPROTOCOL, f"bearer.{forged}"]
    elif how == "garbage message":
        first = "hello"
    elif how == "bad header":
        headers = {"Authorization": "Basic abc"}
    else:
        first = json.dumps({"type": "auth"})
    with api.http.websocket_connect(f"{WS}?jobId={job_id}", subprotocols=subprotocols,
                                    headers=headers) as ws:
        if first is not None:
            ws.send_text(first)
        messages, code = read_all(ws)
    assert code == 4401
    assert [m["type"] for m in messages] == ["error"]
    expected = {"expired": "token_expired", "forged": "invalid_signature", "bad header": "invalid_token"}
    assert messages[0]["error"]["code"] == expected.get(how, "missing_credentials")


def test_a_member_of_a_cannot_watch_bs_job_or_stream(api: Api) -> None:
    alice = api.user({"exec-a": "client"})
    theirs = finished_job(api, "exec-b")
    with api.http.websocket_connect(f"{WS}?jobId={theirs}", headers=api.bearer(alice)) as ws:
        messages, code = read_all(ws)
    assert code == 4404 and [m["type"] for m in messages] == ["error"]
    # an executor stream of B is empty for A: RLS filters every event
    with api.http.websocket_connect(f"{WS}?executorId=exec-b&timeout=1", headers=api.bearer(alice)) as ws:
        assert ws.receive_json() == {"type": "snapshot", "seq": 0, "job": None}
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # no event of B came before the pong
        assert read_all(ws) == ([{"type": "end", "reason": "timeout"}], CLOSE_NORMAL)
    with api.http.websocket_connect(f"{WS}?executorId=exec-a&timeout=1", headers=api.bearer(alice)) as ws:
        mine = read_all(ws)[0]
    assert [m["type"] for m in mine] == ["snapshot", "end"]
    assign(api.owner, executor_id="exec-a")
    with api.http.websocket_connect(f"{WS}?executorId=exec-a&timeout=1", headers=api.bearer(alice)) as ws:
        mine = read_all(ws)[0]
    assert [m["event"]["executorId"] for m in mine if m["type"] == "event"] == ["exec-a"]


def test_bad_queries_and_origins_are_refused(db_url: str, storage: LocalStorage, api: Api) -> None:
    # Neither filter is every visible event (it ends at its timeout); both, a job of
    # that executor (an unknown one is 4404).
    for query, code in (("timeout=1", CLOSE_NORMAL), (f"jobId={uuid.uuid4()}&executorId=ex", 4404),
                        ("jobId=nope", 4400), (f"jobId={uuid.uuid4()}", 4404)):
        with api.http.websocket_connect(f"{WS}?{query}", headers=api.as_service()) as ws:
            assert read_all(ws)[1] == code, query
    settings = Settings(rate_limit=0, cors_origins=("https://app.example",))
    with serving(make_runtime(db_url, storage, settings=settings)) as http:
        job_id = finished_job(api)
        with http.websocket_connect(f"{WS}?jobId={job_id}", headers={
                "Origin": "https://evil.example", **api.as_service()}) as ws:
            messages, code = read_all(ws)
        assert code == 4403 and messages[0]["error"]["code"] == "origin_not_allowed"
        with http.websocket_connect(f"{WS}?jobId={job_id}", headers={
                "Origin": "https://app.example", **api.as_service()}) as ws:
            assert read_all(ws)[1] == CLOSE_NORMAL


def test_live_events_arrive_in_order_on_an_open_socket(api: Api) -> None:
    job_id = assign(api.owner, executor_id="live")
    with api.http.websocket_connect(f"{WS}?jobId={job_id}", headers=api.as_service()) as ws:
        assert ws.receive_json()["type"] == "snapshot"
        assert ws.receive_json()["event"]["eventType"] == "queued"
        claim(api.owner, executor_id="live")
        for i in range(5):
            api.owner.rpc("append_job_event_v1", job_id=job_id, worker_id="w1", payload={"i": i})
        started = time.monotonic()
        api.owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result=None)
        messages, code = read_all(ws)
        assert time.monotonic() - started < 5  # woken by the hub, not a slow poll
    kinds = [m["event"]["eventType"] for m in messages if m["type"] == "event"]
    assert kinds == ["claimed"] + ["progress"] * 5 + ["succeeded"] and code == CLOSE_NORMAL
    assert [m["event"]["payload"]["i"] for m in messages if m["type"] == "event"
            and m["event"]["eventType"] == "progress"] == list(range(5))
