"""In-process A/B of ``collab serve``'s request path: two variants of the same ASGI app take
turns, block by block, in one process, so the host's load falls on both alike.

    .venv/bin/python bench/http_inprocess.py --op result --compare result-row   # full row vs id only
    .venv/bin/python bench/http_inprocess.py --op claim --compare access-log    # log line on vs off

On a throw-away PostgreSQL (as bench/engine.py), ``--blocks`` blocks of ``--block`` requests
per variant, alternating, are driven straight into ``create_app(runtime)`` (an ASGI scope,
``receive`` and ``send`` in this process: no sockets, no HTTP parsing), one request at a
time on uvloop, as the API key (the trusted client), access log on (JSON lines to
``--log``, default /dev/null). Reported per variant: the process's CPU µs per request, min
and median over its blocks, and each block's figure. ``task.claim`` drains jobs queued
beforehand; ``task.result`` completes jobs claimed beforehand, with ``workerId`` and
``attempt`` (one RPC). The variants (``--compare``):

- ``result-row``: *a* = ``task.result`` through ``AsyncCollabClient.complete`` (the whole
  job row read and validated, as before ``complete_id``), *b* = as shipped;
- ``access-log``: *a* = the access log on (as shipped), *b* = ``collab.http`` at WARNING.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from typing import Any
from uuid import UUID

import psycopg

from engine import bench_server, enqueue

from collab_sdk.auth.tokens import AuthConfig, Authenticator
from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.http.app import create_app
from collab_sdk.http.runtime import Runtime, Settings
from collab_sdk.logs import configure_logging
from collab_sdk.transports.postgres import PostgresTransport

KEY = "bench-api-key-" + "x" * 24
SHIPPED_COMPLETE_ID = AsyncCollabClient.complete_id


async def _complete_whole_row(self: AsyncCollabClient, job_id: UUID | str, worker_id: str,
                              **given: Any) -> UUID:
    return (await self.complete(job_id, worker_id, **given)).id


def _variant(compare: str, first: bool) -> None:
    """Put the process in variant *a* (``first``) or *b* of ``compare``."""
    if compare == "result-row":
        AsyncCollabClient.complete_id = _complete_whole_row if first else SHIPPED_COMPLETE_ID  # type: ignore[method-assign]
    else:
        logging.getLogger("collab.http").setLevel(logging.INFO if first else logging.WARNING)


def _scope(path: str, body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
            "headers": [(b"host", b"127.0.0.1"), (b"x-api-key", KEY.encode()),
                        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]}


async def measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    configure_logging("info", "json", force=True)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(args.log, "w"))
    runtime = Runtime(AsyncCollabClient(PostgresTransport(url, max_size=4)),
                      Authenticator(AuthConfig(mode="local", api_key=KEY, jwt_secret="s" * 40)),
                      Settings(rate_limit=0))
    app = create_app(runtime)
    await runtime.client.connect()
    total = 2 * args.block * args.blocks + 100
    with psycopg.connect(url, autocommit=True) as conn:
        claimed = [row[0] for _ in range(total // 1000 + 1) for row in conn.execute(
            "select id from collab.claim_jobs_v1(executor_id => 'inproc', worker_id => 'pre',"
            " lease_seconds => 3600, max_jobs => 1000)").fetchall()] if args.op == "result" else []
    jobs = iter(claimed)
    statuses: set[int] = set()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    async def one() -> None:
        body = (b'{"executorId":"inproc","workerId":"w1","leaseSeconds":3600}' if args.op == "claim" else
                json.dumps({"jobId": str(next(jobs)), "ok": True, "workerId": "pre", "attempt": 1}).encode())
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        await app(_scope(f"/api/collab/task.{args.op}", body), receive, send)

    for _ in range(50):  # warm up: plans, prepared statements, caches
        await one()
    cpu: dict[str, list[float]] = {"a": [], "b": []}
    for block in range(2 * args.blocks):
        first = block % 2 == 0
        _variant(args.compare, first)
        started = time.process_time()
        for _ in range(args.block):
            await one()
        cpu["a" if first else "b"].append((time.process_time() - started) / args.block * 1e6)
    _variant(args.compare, False)
    await runtime.aclose()
    if statuses != {200}:
        raise RuntimeError(f"answers other than 200: {statuses}")
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--op", choices=("claim", "result"), default="result")
    parser.add_argument("--compare", choices=("result-row", "access-log"), default="result-row")
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--log", default="/dev/null", help="where the access log's JSON lines go")
    args = parser.parse_args()
    if args.compare == "result-row" and args.op != "result":
        parser.error("--compare result-row needs --op result")
    with bench_server() as (_, url):
        enqueue(url, "inproc", 2 * args.block * args.blocks + 2000)
        import uvloop
        cpu = uvloop.run(measure(url, args))
    names = {"result-row": ("whole row", "id only"), "access-log": ("log on", "log off")}[args.compare]
    for key, name in zip("ab", names):
        print(f"{args.op} {name:9}: CPU per request min {min(cpu[key]):.0f} µs, median "
              f"{statistics.median(cpu[key]):.0f} µs; blocks {[round(x) for x in cpu[key]]}")


if __name__ == "__main__":
    main()
