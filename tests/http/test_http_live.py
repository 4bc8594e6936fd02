"""Streams against `collab serve` as a real process: 200 concurrent SSE and WebSocket
clients get every event of 500 once, in seq order, over one LISTEN connection; a killed
client frees what it held; a slow WebSocket consumer (events or run socket) is dropped with 4009, a slow SSE one
with a ``dropped`` event (and cut if it never reads again); SIGTERM ends
every stream with an end event and the process exits 0."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from collab_sdk.http.pipeline import CUT_GRACE_SECONDS
from collab_sdk.http.serve import DEFAULT_GRACE_SECONDS
from collab_sdk.http.sockets import CLOSE_GOING_AWAY, CLOSE_SLOW_CONSUMER, SUBPROTOCOL
from collab_sdk.transports.listen import APPLICATION_NAME
from http_support import API_KEY, Server, start_server
from support import Caller, assign, claim

STREAM = "/api/collab/events/stream"
WS = "/api/collab/events/ws"
KEY = {"x-api-key": API_KEY}
#: Events appended to the job the 200 streams follow.
EVENTS = 500


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    with start_server(db_url, tmp_path, COLLAB_REQUIRE_JWT="0", COLLAB_API_KEY=API_KEY,
                      COLLAB_RATE_LIMIT="off", COLLAB_WS_BUFFER="8", COLLAB_WS_SLOW_SECONDS="1",
                      COLLAB_STREAM_BUFFER="8", COLLAB_STREAM_SLOW_SECONDS="1") as running:
        yield running


def metric(server: Server, name: str) -> float:
    """One of the server's own Prometheus figures."""
    text = httpx.get(f"{server.base}/metrics", headers=KEY).text
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def small_socket(server: Server) -> socket.socket:
    """A client socket with a small receive buffer (no autotuning to megabytes)."""
    host, port = server.base.removeprefix("http://").split(":")
    small = socket.socket()
    small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    small.connect((host, int(port)))
    return small


def produce_blobs(owner: Caller, job_id: uuid.UUID) -> None:
    """~12 MB of events: more than the socket buffers between a server and its client."""
    blob = "x" * 60000
    for _ in range(10):
        owner.sql("select collab.append_job_event_v1(job_id => %s, worker_id => 'w1', "
                  "payload => jsonb_build_object('blob', %s::text)) from generate_series(1, 20)",
                  (job_id, blob))


def listen_connections(owner: Caller) -> int:
    """The server's LISTEN connections to the test database."""
    rows = owner.sql("select count(*) as n from pg_stat_activity where application_name = %s "
                     "and datname = current_database()", (APPLICATION_NAME,))
    return int(rows[0]["n"])


async def eventually_equal(probe: Any, expected: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (value := await asyncio.to_thread(probe)) != expected:
        assert time.monotonic() < deadline, f"{value} != {expected}"
        await asyncio.sleep(0.1)


def ws_url(server: Server, query: str) -> str:
    return server.base.replace("http://", "ws://") + f"{WS}?{query}"


async def sse_client(http: httpx.AsyncClient, query: str, seqs: list[int], ends: list[str]) -> None:
    """Read an SSE stream until it ends; collect the seqs and the end event."""
    async with http.stream("GET", f"{STREAM}?{query}", headers=KEY) as response:
        assert response.status_code == 200
        buffer = ""
        async for chunk in response.aiter_text():
            buffer += chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines()
                              if ": " in line and not line.startswith(":"))
                if "id" in fields:
                    seqs.append(int(fields["id"]))
                if fields.get("event") == "end":
                    ends.append("end")
                    return


async def ws_client(url: str, seqs: list[int], ends: list[Any]) -> None:
    """Read a WebSocket stream until the server closes it; collect seqs, end and close code."""
    async with connect(url, additional_headers=KEY, subprotocols=[SUBPROTOCOL]) as ws:  # type: ignore[list-item]
        try:
            async for text in ws:
                message = json.loads(text)
                if message["type"] == "event":
                    seqs.append(message["event"]["seq"])
                elif message["type"] == "end":
                    ends.append(message["reason"])
        except ConnectionClosed:
            pass
        ends.append(ws.close_code)


def committed(owner: Caller, job_id: uuid.UUID) -> list[int]:
    return [r["seq"] for r in owner.sql("select seq from collab.job_events where job_id = %s "
                                        "order by seq", (job_id,))]


@pytest.mark.slow
async def test_200_streams_get_500_events_once_in_order_over_one_listen(
        live_server: Server, owner: Caller) -> None:
    job_id = assign(owner, executor_id="fan")
    claim(owner, executor_id="fan")
    clients = 200
    seqs: list[list[int]] = [[] for _ in range(clients)]
    ends: list[list[Any]] = [[] for _ in range(clients)]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=live_server.base, timeout=60, limits=limits) as http:
        tasks = [asyncio.create_task(sse_client(http, f"jobId={job_id}", seqs[i], ends[i]) if i % 2
                                     else ws_client(ws_url(live_server, f"jobId={job_id}"), seqs[i], ends[i]))
                 for i in range(clients)]
        deadline = time.monotonic() + 30
        while not all(len(s) >= 2 for s in seqs):  # every client is live: queued, claimed seen
            assert time.monotonic() < deadline, "the clients did not all connect"
            await asyncio.sleep(0.1)
        # A viewer's first events come from its own catch-up read; the shared LISTEN
        # connection opens beside it, so it may still be on its way here.
        await eventually_equal(lambda: listen_connections(owner), 1)

        # 500 events in 5 statements (one hint each): each a batch of 100, a dozen times
        # the streams' buffers (8 events), so every hint is read in many pages.
        # The cost is clients x events; 2,000 proved nothing 500 does not, in 4x the time.
        def produce() -> None:
            for start in range(0, EVENTS, 100):
                owner.sql("select collab.append_job_event_v1(job_id => %s, worker_id => 'w1', "
                          "payload => jsonb_build_object('i', g)) from generate_series(%s::int, %s::int) g",
                          (job_id, start, start + 99))
            owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result=None)

        await asyncio.to_thread(produce)
        assert await asyncio.to_thread(listen_connections, owner) == 1
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=240)  # generous: a loaded CI box
    expected = committed(owner, job_id)
    assert len(expected) == EVENTS + 3  # queued, claimed, the appended ones, succeeded
    for i in range(clients):
        assert seqs[i] == expected, f"client {i} (ended {ends[i]}): a gap, a repeat or a wrong order"
        assert ends[i][0] in ("end", "final")
    # every stream left: the hub stops its listener
    await eventually_equal(lambda: listen_connections(owner), 0)


async def test_a_killed_client_frees_its_stream(live_server: Server, owner: Caller) -> None:
    job_id = assign(owner, executor_id="kill")
    host, port = live_server.base.removeprefix("http://").split(":")
    raw = socket.create_connection((host, int(port)))
    raw.sendall(f"GET {STREAM}?jobId={job_id} HTTP/1.1\r\nHost: x\r\nx-api-key: {API_KEY}\r\n\r\n".encode())
    assert b"200 OK" in raw.recv(4096)
    async with connect(ws_url(live_server, f"jobId={job_id}"), additional_headers=KEY) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await eventually_equal(lambda: listen_connections(owner), 1)
        ws.transport.abort()  # killed: no close frame
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    raw.close()  # a reset, not a goodbye
    await eventually_equal(lambda: listen_connections(owner), 0)
    assert httpx.get(f"{live_server.base}/api/collab/health").status_code == 200


async def late_reads(ws: Any) -> tuple[int, int | None]:
    """Read a socket that stopped reading until the server closes it: how many messages
    it still got, and the close code the server sent."""
    received = 0
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=20)
            received += 1
    return received, closed.value.rcvd.code if closed.value.rcvd is not None else None


@pytest.mark.slow
async def test_a_slow_websocket_consumer_is_dropped_with_4009(live_server: Server, owner: Caller) -> None:
    job_id = assign(owner, executor_id="slow")
    claim(owner, executor_id="slow")
    small = small_socket(live_server)
    async with connect(ws_url(live_server, f"jobId={job_id}"), additional_headers=KEY,
                       max_queue=1, max_size=None, sock=small, compression=None) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await asyncio.to_thread(produce_blobs, owner, job_id)
        await asyncio.sleep(3)  # not reading: the server's outbox (8 messages) stays full
        received, code = await late_reads(ws)
    assert code == CLOSE_SLOW_CONSUMER and received < 200


@pytest.mark.slow
async def test_a_slow_run_socket_consumer_is_dropped_with_4009(live_server: Server, owner: Caller) -> None:
    async with httpx.AsyncClient(base_url=live_server.base, headers=KEY) as http:
        made = (await http.post("/api/v1/workflows", json={"name": "slow", "definition": {
            "nodes": [{"id": "gate", "type": "approval", "data": {}}], "edges": []}})).json()
        assert (await http.post(f"/api/v1/workflows/{made['id']}/publish")).status_code == 200
        run = (await http.post(f"/api/v1/workflows/{made['id']}/run", json={})).json()
    small = small_socket(live_server)
    url = live_server.base.replace("http://", "ws://") + f"/ws/runs/{run['id']}"
    async with connect(url, additional_headers=KEY, max_queue=1, max_size=None, sock=small,
                       compression=None) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await eventually_equal(lambda: metric(live_server, "collab_http_open_streams"), 1)
        blob = "x" * 60000  # ~12 MB of the run's events (as its steps' would be)
        for _ in range(10):
            owner.sql("insert into collab.job_events (job_id, executor_id, event_type, payload, run_id) "
                      "select %s, 'default', 'run_running', jsonb_build_object('blob', %s::text), %s "
                      "from generate_series(1, 20)", (run["id"], blob, run["id"]))
        await asyncio.sleep(3)  # not reading: the viewer's buffer and the outbox stay full
        received, code = await late_reads(ws)
    assert code == CLOSE_SLOW_CONSUMER and received < 200
    await eventually_equal(lambda: metric(live_server, "collab_http_open_streams"), 0)


def read_sse(sock: socket.socket, timeout: float) -> tuple[list[int], list[str]]:
    """Everything the server sends until it closes: the event ids and the event names."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(1 << 20):
        data += chunk
    ids = [int(m) for m in re.findall(rb"^id: (\d+)$", data, re.M)]
    names = [n.decode() for n in re.findall(rb"^event: (\w+)$", data, re.M)]
    return ids, names


async def flooded_sse_client(server: Server, owner: Caller, executor: str) -> socket.socket:
    """A raw SSE client of a new job's stream, with a small receive buffer, that has not
    read anything while ~12 MB of events were committed to it."""
    job_id = assign(owner, executor_id=executor)
    claim(owner, executor_id=executor)
    small = small_socket(server)
    small.sendall(f"GET {STREAM}?jobId={job_id} HTTP/1.1\r\nHost: x\r\nx-api-key: {API_KEY}\r\n\r\n".encode())
    await asyncio.to_thread(produce_blobs, owner, job_id)
    return small


@pytest.mark.slow
async def test_a_slow_sse_consumer_is_dropped_with_a_dropped_event(live_server: Server, owner: Caller) -> None:
    small = await flooded_sse_client(live_server, owner, "slow-sse")
    await asyncio.sleep(3)  # not reading: its buffer (8 events) stays full for over a second
    ids, names = await asyncio.to_thread(read_sse, small, 20)  # then it reads: the server ends it
    small.close()
    assert names == ["dropped"]
    assert ids == sorted(set(ids)) and len(ids) < 202  # in order, once, and not everything
    assert metric(live_server, "collab_http_slow_consumers_dropped_total") >= 1
    await eventually_equal(lambda: metric(live_server, "collab_http_open_streams"), 0)


@pytest.mark.slow
async def test_a_dropped_sse_client_that_never_reads_again_is_cut(live_server: Server, owner: Caller) -> None:
    small = await flooded_sse_client(live_server, owner, "stuck-sse")
    await eventually_equal(lambda: metric(live_server, "collab_http_slow_consumers_dropped_total"), 1)
    # never reading again: after the grace period the server gives up the stream and its viewer
    await eventually_equal(lambda: metric(live_server, "collab_http_open_streams"), 0,
                           timeout=CUT_GRACE_SECONDS + 10)
    assert await asyncio.to_thread(listen_connections, owner) == 0
    small.close()


@pytest.mark.slow
async def test_sigterm_ends_every_stream_and_exits_0(live_server: Server, owner: Caller) -> None:
    job_id = assign(owner, executor_id="term")
    sse: tuple[list[int], list[Any]] = ([], [])
    ws: tuple[list[int], list[Any]] = ([], [])
    async with httpx.AsyncClient(base_url=live_server.base, timeout=30) as http:
        tasks = [asyncio.create_task(sse_client(http, "executorId=term", *sse)),
                 asyncio.create_task(ws_client(ws_url(live_server, f"jobId={job_id}"), *ws))]
        deadline = time.monotonic() + 10
        while not (sse[0] and ws[0]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        started = time.monotonic()
        live_server.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=DEFAULT_GRACE_SECONDS)
    assert sse[1] == ["end"]
    assert ws[1] == ["shutdown", CLOSE_GOING_AWAY]
    assert await asyncio.to_thread(live_server.proc.wait, DEFAULT_GRACE_SECONDS + 5) == 0
    assert time.monotonic() - started < DEFAULT_GRACE_SECONDS + 5  # the grace, and the exit itself
