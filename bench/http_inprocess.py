"""In-process A/B of ``collab serve``'s request path: two variants of the same ASGI app take
turns, block by block, in one process, so the host's load falls on both alike.

    .venv/bin/python bench/http_inprocess.py --op result --compare result-row   # full row vs id only
    .venv/bin/python bench/http_inprocess.py --op claim --compare access-log    # log line on vs off
    .venv/bin/python bench/http_inprocess.py --compare group-commit --concurrency 32   # batching off vs on

On a throw-away PostgreSQL (as bench/engine.py), ``--blocks`` blocks of ``--block`` requests
per variant, alternating, are driven straight into ``create_app(runtime)`` (an ASGI scope,
``receive`` and ``send`` in this process: no sockets, no HTTP parsing), one request at a
time on uvloop (``--concurrency N``: N at a time), as the API key (the trusted client), access log on (JSON lines to
``--log``, default /dev/null). Reported per variant: the process's CPU µs per request, min
and median over its blocks, each block's figure, and its requests per second (wall clock). ``task.claim`` drains jobs queued
beforehand; ``task.result`` completes jobs claimed beforehand, with ``workerId`` and
``attempt`` (one RPC). The variants (``--compare``):

- ``result-row``: *a* = ``task.result`` through ``AsyncCollabClient.complete`` (the whole
  job row read and validated, as before ``complete_id``), *b* = as shipped;
- ``access-log``: *a* = the access log on (as shipped), *b* = ``collab.http`` at WARNING;
- ``group-commit``: *a* = ``task.result`` without group commit (``COLLAB_RESULT_BATCH=off``:
  every completion its own ``complete_job_v1``), *b* = as shipped (concurrent completions of
  one caller and worker share a ``complete_jobs_v1`` call; ``collab_sdk.http.group_commit``).
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
from collab_sdk.http.group_commit import DEFAULT_MAX_BATCH
from collab_sdk.http.runtime import Runtime, Settings
from collab_sdk.logs import configure_logging
from collab_sdk.transports.postgres import PostgresTransport

KEY = "bench-api-key-" + "x" * 24
SHIPPED_COMPLETE_ID = AsyncCollabClient.complete_id


async def _complete_whole_row(self: AsyncCollabClient, job_id: UUID | str, worker_id: str,
                              **given: Any) -> UUID:
    return (await self.complete(job_id, worker_id, **given)).id


def _variant(compare: str, first: bool, runtime: Runtime) -> None:
    """Put the process in variant *a* (``first``) or *b* of ``compare``."""
    if compare == "group-commit":
        runtime.group_commit.max_batch = 1 if first else DEFAULT_MAX_BATCH
    elif compare == "result-row":
        AsyncCollabClient.complete_id = _complete_whole_row if first else SHIPPED_COMPLETE_ID  # type: ignore[method-assign]
    else:
        logging.getLogger("collab.http").setLevel(logging.INFO if first else logging.WARNING)


def _scope(path: str, body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
            "headers": [(b"host", b"127.0.0.1"), (b"x-api-key", KEY.encode()),
                        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]}


async def measure(url: str, args: argparse.Namespace) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    configure_logging("info", "json", force=True)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(args.log, "w"))
    runtime = Runtime(AsyncCollabClient(PostgresTransport(url, max_size=args.pool)),
                      Authenticator(AuthConfig(mode="local", api_key=KEY, jwt_secret="s" * 40)),
                      Settings(rate_limit=0))
    app = create_app(runtime)
    await runtime.client.connect()
    total = 2 * args.block * args.blocks + 100 + 10 * args.concurrency
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
    async def several(n: int) -> None:
        for _ in range(n):
            await one()

    for first in (True, False):  # and every pooled connection, with both variants' statements
        _variant(args.compare, first, runtime)
        await asyncio.gather(*(several(5) for _ in range(args.concurrency)))
    cpu: dict[str, list[float]] = {"a": [], "b": []}
    rate: dict[str, list[float]] = {"a": [], "b": []}
    share = args.block // args.concurrency
    for block in range(2 * args.blocks):
        first = block % 2 == 0
        _variant(args.compare, first, runtime)
        started, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(several(share) for _ in range(args.concurrency)))
        done = share * args.concurrency
        cpu["a" if first else "b"].append((time.process_time() - started) / done * 1e6)
        rate["a" if first else "b"].append(done / (time.perf_counter() - wall))
    _variant(args.compare, False, runtime)
    await runtime.aclose()
    if statuses != {200}:
        raise RuntimeError(f"answers other than 200: {statuses}")
    return cpu, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--op", choices=("claim", "result"), default="result")
    parser.add_argument("--compare", choices=("result-row", "access-log", "group-commit"), default="result-row")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--pool", type=int, default=4, help="the runtime's pool size")
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--log", default="/dev/null", help="where the access log's JSON lines go")
    args = parser.parse_args()
    if args.compare in ("result-row", "group-commit") and args.op != "result":
        parser.error(f"--compare {args.compare} needs --op result")
    with bench_server() as (_, url):
        enqueue(url, "inproc", 2 * args.block * args.blocks + 2000)
        import uvloop
        cpu, rate = uvloop.run(measure(url, args))
    names = {"result-row": ("whole row", "id only"), "access-log": ("log on", "log off"),
             "group-commit": ("unbatched", "batched")}[args.compare]
    for key, name in zip("ab", names):
        print(f"{args.op} {name:9}: CPU per request min {min(cpu[key]):.0f} µs, median "
              f"{statistics.median(cpu[key]):.0f} µs; {statistics.median(rate[key]):.0f} req/s (median); "
              f"blocks {[round(x) for x in cpu[key]]}")


if __name__ == "__main__":
    main()
