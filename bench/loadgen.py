"""A cheap closed-loop load generator, run by ``http_api.py`` as its own process so that
the client's CPU is measured apart from the server's and the bench's.

    python bench/loadgen.py --mode http --target http://127.0.0.1:PORT --key KEY \
        --op claim --executor ex --concurrency 8 --seconds 10 [--jobs FILE]
    python bench/loadgen.py --mode sql --target postgresql://... --op claim ...

One event loop (uvloop when installed), ``--concurrency`` connections, each sending one
request at a time and the next as soon as the answer is in (as the httpx threads did):

- ``http``: raw HTTP/1.1 keep-alive connections over ``asyncio.open_connection``; each
  request is a pre-built bytes template (only ``task.result``'s job id changes), and only
  the status line, ``Content-Length`` and — for a claim — whether the body says
  ``"job":null`` are read from the answer;
- ``sql``: one psycopg ``AsyncConnection`` per client calling the same RPC the server
  calls (``assign_job_v1``, ``claim_one_job_v3``, ``complete_job_v1``; psycopg prepares
  it after a few runs), one statement at a time — the same closed loop.

``task.result`` / ``complete_job_v1`` take the ids of jobs claimed beforehand, one per
line of ``--jobs``, shared by the clients. A client stops early when claims find no job or
the ids run out. Protocol with the parent: it connects every client, prints ``ready``,
waits for a line on stdin, runs for ``--seconds``, prints one JSON line (requests,
seconds, p50/p99 ms), then keeps its connections open until another line comes, so the
parent can read its CPU and its Postgres backends' from /proc in between.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

ROUTES = {"assign": "task.assign", "claim": "task.claim", "result": "task.result"}
SQL = {"assign": "select job_id from collab.assign_job_v1(type => 'bench.noop', executor_id => %s)",
       "claim": "select id from collab.claim_one_job_v3(executor_id => %s, worker_id => %s, lease_seconds => 3600)",
       "result": "select id from collab.complete_job_v1(job_id => %s, worker_id => 'pre', attempt => 1)"}

#: One request: answers False when there is nothing left to do (no job to claim or complete).
Request = Callable[[], Awaitable[bool]]


def request_body(op: str, executor: str, worker: str, job_id: str | None = None) -> dict[str, Any]:
    """The body of one ``op`` request (both clients send the same): a result completes a
    job claimed beforehand by worker ``pre``, with its attempt, so the server makes one RPC."""
    if op == "assign":
        return {"type": "bench.noop", "executorId": executor}
    if op == "claim":
        return {"executorId": executor, "workerId": worker, "leaseSeconds": 3600}
    return {"jobId": job_id, "ok": True, "workerId": "pre", "attempt": 1}


def http_body(op: str, executor: str, worker: str, job_id: str | None = None) -> bytes:
    """``request_body`` as compact JSON bytes."""
    return json.dumps(request_body(op, executor, worker, job_id), separators=(",", ":")).encode()


async def http_client(target: str, key: str, op: str, executor: str, worker: str,
                      jobs: Iterator[str]) -> Request:
    """A keep-alive connection and the request it repeats."""
    url = urlsplit(target)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (f"POST /api/collab/{ROUTES[op]} HTTP/1.1\r\nHost: {url.netloc}\r\nx-api-key: {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    fixed = None if op == "result" else head + b"%d\r\n\r\n" % len(body := http_body(op, executor, worker)) + body

    async def request() -> bool:
        if fixed is not None:
            writer.write(fixed)
        else:
            job_id = next(jobs, None)
            if job_id is None:
                return False
            body = http_body(op, executor, worker, job_id)
            writer.write(head + b"%d\r\n\r\n" % len(body) + body)
        headers = await reader.readuntil(b"\r\n\r\n")
        status = headers[9:12]
        start = headers.find(b"content-length: ")
        if start < 0:
            start = headers.lower().find(b"content-length: ")
        length = int(headers[start + 16:headers.index(b"\r\n", start)])
        answer = await reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"{op}: {status.decode()} {answer[:300]!r}")
        return op != "claim" or b'"job":null' not in answer

    return request


async def sql_client(target: str, op: str, executor: str, worker: str, jobs: Iterator[str],
                     no_prepare: bool = False) -> Request:
    """A psycopg connection and the statement it repeats (``no_prepare``: never prepared,
    as the server's pooler-safe transport does)."""
    import psycopg

    conn = await psycopg.AsyncConnection.connect(target, autocommit=True,
                                                 prepare_threshold=None if no_prepare else 5)
    statement = SQL[op]
    args: tuple[Any, ...] = (executor,) if op == "assign" else (executor, worker)

    async def request() -> bool:
        if op == "result":
            job_id = next(jobs, None)
            if job_id is None:
                return False
            await (await conn.execute(statement, (job_id,))).fetchone()
            return True
        row = await (await conn.execute(statement, args)).fetchone()
        return op != "claim" or (row is not None and row[0] is not None)

    return request


async def run(args: argparse.Namespace) -> None:
    jobs = iter(open(args.jobs).read().split()) if args.jobs else iter(())
    make = (lambda w: http_client(args.target, args.key, args.op, args.executor, w, jobs)) \
        if args.mode == "http" else (lambda w: sql_client(args.target, args.op, args.executor, w, jobs, args.no_prepare))
    clients = [await make(f"w{i}") for i in range(args.concurrency)]
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    latencies: list[list[float]] = [[] for _ in clients]
    start = time.perf_counter()
    end = start + args.seconds

    async def drive(i: int) -> None:
        request, mine, clock = clients[i], latencies[i], time.perf_counter
        while (began := clock()) < end:
            if not await request():
                return
            mine.append(clock() - began)

    await asyncio.gather(*(drive(i) for i in range(len(clients))))
    elapsed = time.perf_counter() - start
    done = [x for lat in latencies for x in lat]
    q = statistics.quantiles(done, n=100) if len(done) > 1 else [0.0] * 99
    print(json.dumps({"requests": len(done), "seconds": elapsed, "per_s": len(done) / elapsed,
                      "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}), flush=True)
    # the connections stay open (their backends' CPU is read) until the parent says bye
    await loop.run_in_executor(None, sys.stdin.readline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("http", "sql"), required=True)
    parser.add_argument("--target", required=True, help="the server's base URL, or the database URL")
    parser.add_argument("--key", default="", help="the API key (http)")
    parser.add_argument("--op", choices=tuple(ROUTES), required=True)
    parser.add_argument("--executor", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--jobs", default=None, help="a file of claimed job ids (result)")
    parser.add_argument("--no-prepare", action="store_true",
                        help="sql: never prepare the statement (as collab serve's transport)")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
