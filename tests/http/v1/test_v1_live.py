"""The workflow API against ``collab serve`` as a real process, with a real worker
process running the steps (``v1_worker_app``): a WebSocket follows a run live (snapshot,
then each event once in seq order, then ``end``) and a reconnect gets the updated
snapshot; closed sockets leave no LISTEN connection; and the seed's end-to-end flow —
create → validate → publish → run with an approval step → the WebSocket shows the pause
→ resume over HTTP → the WebSocket shows completion."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from collab_sdk.http.sockets import SUBPROTOCOL
from collab_sdk.transports.listen import APPLICATION_NAME
from http_support import API_KEY, Server, start_server
from support import Caller
from support.processes import LoggedProcess
from v1_support import approval_flow, chain, node

HERE = Path(__file__).resolve().parent
KEY = {"x-api-key": API_KEY}


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """``collab serve`` (API key, no rate limit) and a worker process for ``default``."""
    env = {**os.environ, "COLLAB_DATABASE_URL": db_url}
    worker = LoggedProcess([sys.executable, "-m", "collab_sdk.cli", "worker", "v1_worker_app:worker"],
                           tmp_path / "worker.log", cwd=HERE, env=env)
    try:
        with start_server(db_url, tmp_path, COLLAB_REQUIRE_JWT="0", COLLAB_API_KEY=API_KEY,
                          COLLAB_RATE_LIMIT="off") as server:
            deadline = time.monotonic() + 30
            while "t.echo" not in {s["name"] for s in httpx.get(f"{server.base}/api/v1/catalog/steps",
                                                              headers=KEY).json()}:
                assert worker.poll() is None and time.monotonic() < deadline, worker.output()
                time.sleep(0.2)
            yield server
    finally:
        worker.stop(graceful=True)


def ws_url(server: Server, run_id: str) -> str:
    return server.base.replace("http://", "ws://") + f"/ws/runs/{run_id}"


async def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 30))  # type: ignore[no-any-return]


async def until(ws: ClientConnection, predicate: Any) -> list[dict[str, Any]]:
    """Messages until one satisfies ``predicate`` (included)."""
    got = []
    while True:
        got.append(await receive(ws))
        if predicate(got[-1]):
            return got


def kinds(messages: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(m["event_type"], m["step_id"]) for m in messages if m["type"] == "event"]


def listen_connections(owner: Caller) -> int:
    rows = owner.sql("select count(*) as n from pg_stat_activity where application_name = %s "
                     "and datname = current_database()", (APPLICATION_NAME,))
    return int(rows[0]["n"])


async def test_a_socket_follows_a_run_live_while_a_worker_runs_it(live: Server, owner: Caller) -> None:
    async with httpx.AsyncClient(base_url=live.base, headers=KEY) as http:
        made = (await http.post("/api/v1/workflows", json={"name": "live", "definition": chain(
            node("a", seconds=0.3), node("b", seconds=0.3), node("c", seconds=0.3))})).json()
        assert (await http.post(f"/api/v1/workflows/{made['id']}/publish")).status_code == 200
        baseline = listen_connections(owner)  # the worker's own, if it listens
        run = (await http.post(f"/api/v1/workflows/{made['id']}/run", json={})).json()
        sockets = [await connect(ws_url(live, run["id"]), additional_headers=KEY,
                                 subprotocols=[SUBPROTOCOL]) for _ in range(3)]  # type: ignore[list-item]
        assert listen_connections(owner) <= baseline + 1  # the server's three share one
        streams = [await until(ws, lambda m: m["type"] == "end") for ws in sockets]
        for ws in sockets:
            await ws.wait_closed()
            assert ws.close_code == 1000
        for messages in streams:
            snapshot, events = messages[0], [m for m in messages if m["type"] == "event"]
            assert snapshot["type"] == "snapshot" and messages[-1] == {"type": "end", "reason": "final"}
            assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
            assert all(e["seq"] > snapshot["seq"] for e in events)
            assert events[-1]["event_type"] == "run_succeeded"
            done = [k for k in kinds(messages) if k[0] == "step_succeeded"]
            assert done == [("step_succeeded", s) for s in "abc" if snapshot["step_statuses"][s] != "succeeded"]
            assert ("step_running", "b") in kinds(messages)  # live: the worker's progress, as it happened
        async with connect(ws_url(live, run["id"]), additional_headers=KEY) as ws:
            again = await until(ws, lambda m: m["type"] == "end")
        assert again[0]["step_statuses"] == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
        assert [m["type"] for m in again] == ["snapshot", "end"]
        steps = (await http.get(f"/api/v1/runs/{run['id']}/steps")).json()
        assert steps[2]["output"] == {"step": "c", "after": ["b"]}
    deadline = time.monotonic() + 10
    while listen_connections(owner) > baseline:
        assert time.monotonic() < deadline, "the LISTEN connection outlived its last socket"
        await asyncio.sleep(0.1)


async def test_the_seed_flow_end_to_end(live: Server) -> None:
    async with httpx.AsyncClient(base_url=live.base, headers=KEY) as http:
        created = await http.post("/api/v1/workflows", json={"name": "approve me", "definition": approval_flow()},
                                  headers={"X-Idempotency-Key": "e2e"})
        assert created.status_code == 201
        wf = created.json()
        verdict = (await http.post(f"/api/v1/workflows/{wf['id']}/validate")).json()
        assert verdict == {"valid": True, "errors": []}
        published = (await http.post(f"/api/v1/workflows/{wf['id']}/publish")).json()
        assert published["status"] == "published"
        started = await http.post(f"/api/v1/workflows/{wf['id']}/run", json={"input": {"order": 42}})
        assert started.status_code == 201
        run = started.json()
        async with connect(ws_url(live, run["id"]), additional_headers=KEY) as ws:
            first = await receive(ws)
            assert first["type"] == "snapshot" and first["run"]["input"] == {"order": 42}
            paused = [first] if first["run"]["status"] == "paused" else \
                await until(ws, lambda m: m.get("event_type") == "run_paused")
            assert ("step_waiting", "gate") in kinds(paused) or first["step_statuses"]["gate"] == "waiting"
            assert (await http.get(f"/api/v1/runs/{run['id']}")).json()["status"] == "paused"
            resumed = await http.post(f"/api/v1/runs/{run['id']}/resume",
                                      json={"step_id": "gate", "data": {"approved_by": "me"}})
            assert resumed.status_code == 200
            rest = await until(ws, lambda m: m["type"] == "end")
        assert ("step_succeeded", "gate") in kinds(rest) and ("step_succeeded", "finish") in kinds(rest)
        assert [m for m in rest if m["type"] == "event"][-1]["event_type"] == "run_succeeded"
        assert rest[-1] == {"type": "end", "reason": "final"}
        final = (await http.get(f"/api/v1/runs/{run['id']}")).json()
        assert final["status"] == "succeeded" and final["context"]["gate"] == {"approved_by": "me"}
        assert final["context"]["finish"] == {"step": "finish", "after": ["gate"]}
