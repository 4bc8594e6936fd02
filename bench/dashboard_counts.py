"""The dashboard's reads on big tables: ``stats_v1`` (the overview's counts and
``GET /api/jobs/stats``) and ``jobs_list_v1`` (``GET /api/jobs``'s pages) at 10,000 /
100,000 / 1,000,000 jobs, beside a plain ``select count(*) from collab.jobs`` on the same
server in the same run (the figure is the ratio to it).

    .venv/bin/python bench/dashboard_counts.py [--sizes 10000,100000,1000000] [--repeat 15]

A throw-away PostgreSQL (the ``pgserver`` wheel's, default settings), migrated; jobs are
inserted with ``generate_series`` as the owner (setup, untimed) over 10 executors, 60%
succeeded, 25% queued, 5% running, 7% failed, 3% cancelled, then ``VACUUM (ANALYZE)``.
Each query runs ``--repeat`` times; the figure is its median in ms:

- ``count(*)``: the anchor, the cheapest exact count of the table there is without a
  counter (an index-only scan of the whole table);
- ``stats_v1()`` as the owner (every executor), ``stats_v1('ex-0')`` as the owner, and
  ``stats_v1('ex-0')`` as an ``authenticated`` member of ``ex-0`` (RLS applies: the
  signed-in operator);
- ``jobs_list_v1`` page 1 (50) of ``queued`` and of everything, for ``ex-0``, as the member.

Results go to stdout and bench/results/dashboard_counts.json (not committed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT.parent / "tests")]

import psycopg  # noqa: E402

from collab_sdk.local.embedded import EmbeddedPostgres  # noqa: E402
from collab_sdk.local.migrate import migrate  # noqa: E402
from support import Caller, add_members, database_url  # noqa: E402

INSERT = """
insert into collab.jobs (type, executor_id, status, payload, priority, attempts, lease_owner,
                         next_run_at, created_at, started_at, finished_at)
select 'bench.t' || (g %% 5), 'ex-' || (g %% 10), s.status, jsonb_build_object('n', g), g %% 3,
       case when s.status = 'queued' then 0 else 1 end,
       case when s.status = 'running' then 'w-1' end,
       now() + case when s.status = 'running' then interval '1 hour' else interval '0' end,
       now() - make_interval(secs => g), now() - make_interval(secs => g),
       case when s.status in ('succeeded', 'failed', 'cancelled') then now() end
  from generate_series(%s::bigint, %s::bigint) g,
       lateral (select case when g %% 100 < 60 then 'succeeded' when g %% 100 < 85 then 'queued'
                            when g %% 100 < 90 then 'running' when g %% 100 < 97 then 'failed'
                            else 'cancelled' end as status) s
"""


def timed(caller: Caller, query: str, params: Any, repeat: int) -> float:
    """The median wall time in ms of ``query`` as ``caller``."""
    caller.sql(query, params)  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        caller.sql(query, params)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(owner: Caller, member: Caller, repeat: int) -> dict[str, float]:
    """Every figure at the table's current size."""
    stats = "select collab.stats_v1(executor_id => %s)"
    page = "select count(*) from collab.jobs_list_v1(executor_id => 'ex-0', statuses => %s)"
    figures = {
        "count(*)": timed(owner, "select count(*) from collab.jobs", None, repeat),
        "stats_v1() owner": timed(owner, stats, (None,), repeat),
        "stats_v1(ex-0) owner": timed(owner, stats, ("ex-0",), repeat),
        "stats_v1(ex-0) member": timed(member, stats, ("ex-0",), repeat),
        "jobs_list_v1 queued member": timed(member, page, (["queued"],), repeat),
        "jobs_list_v1 all member": timed(member, page, (None,), repeat),
    }
    anchor = figures["count(*)"]
    return {**figures, **{f"{k} / count(*)": v / anchor for k, v in figures.items() if k != "count(*)"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="collab-bench-counts-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data")
        server.start()
        try:
            url = server.url()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("create database bench")
            url = database_url(url, "bench")
            migrate(url)
            owner, member = Caller(url), Caller(url, role="authenticated", user_id=uuid.uuid4())
            add_members(owner, member.user_id, {"ex-0": "admin"})
            done = 0
            for size in sizes:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(INSERT, (done + 1, size))
                    conn.execute("vacuum (analyze) collab.jobs")
                done = size
                results[str(size)] = figures = measure(owner, member, args.repeat)
                print(f"{size:>9} jobs: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
        finally:
            server.stop("immediate")
    out = ROOT / "results" / "dashboard_counts.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
