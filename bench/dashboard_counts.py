"""The dashboard's reads on big tables at 10,000 / 100,000 / 1,000,000 jobs, beside a
plain ``select count(*) from collab.jobs`` on the same server in the same run (the figure
is the ratio to it): the overview (``stats_v1``, ``metrics_overview_v1``,
``throughput_v1``: the kept counts of migration 20261201053000) and the job list
(``jobs_list_v1`` by offset, ``jobs_list_after_v1`` by cursor).

    .venv/bin/python bench/dashboard_counts.py [--sizes 10000,100000,1000000] [--repeat 15]

A throw-away PostgreSQL (the ``pgserver`` wheel's, default settings), migrated; jobs are
inserted with ``generate_series`` as the owner (setup, untimed) over 10 executors, 60%
succeeded, 25% queued, 5% running, 7% failed, 3% cancelled, then ``VACUUM (ANALYZE)``.
Each query runs ``--repeat`` times; the figure is its median in ms:

- ``count(*)``: the anchor, the cheapest exact count of the table there is without a
  counter (an index-only scan of the whole table);
- ``counting stats_v1 (before)``: ``stats_v1`` as it was before the kept counts (a
  ``count(*) filter`` per status of the executor's jobs; its old body, verbatim, made in
  the bench's database), as a member of ``ex-0`` (RLS);
- ``stats_v1('ex-0')``, ``metrics_overview_v1('ex-0')`` and ``throughput_v1('ex-0')`` as
  that member (the overview's three reads), and ``stats_v1()`` as the owner (every
  executor);
- ``jobs_list_v1`` page 1 (50) of ``queued`` and of everything, and the page at offset
  ``size / 40`` of everything, for ``ex-0``, as the member; ``jobs_list_after_v1``: the
  same deep page by cursor (after that row), of everything and of ``queued``, and its
  first page of everything (what ``GET /api/jobs`` now reads for a first page);
- through one ``collab serve`` as the member (a JWT): the overview's three reads
  (``/api/jobs/stats``, ``/api/collab/metrics/overview``, ``/api/collab/metrics/throughput``)
  one after another, and ``GET /api/jobs`` (page 1, unfiltered).

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

import httpx  # noqa: E402
import psycopg  # noqa: E402

from collab_sdk.auth.tokens import mint_token  # noqa: E402
from dashboard_live import SECRET, free_port, start_serve  # noqa: E402

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


# stats_v1 as it was before the kept counts (migration 20261122000400), verbatim, made
# in the bench's database only: the "before" of this run.
COUNTING_STATS_V1 = """
create function public.counting_stats_v1(executor_id text default null)
  returns jsonb
  language sql stable set search_path = ''
as $$
  select jsonb_build_object(
    'queued', s.queued, 'running', s.running, 'succeeded', s.succeeded,
    'failed', s.failed, 'cancelled', s.cancelled, 'total', s.total,
    'pending', s.queued, 'claimed', s.running, 'completed', s.succeeded)
  from (select count(*) filter (where j.status = 'queued') as queued,
               count(*) filter (where j.status = 'running') as running,
               count(*) filter (where j.status = 'succeeded') as succeeded,
               count(*) filter (where j.status = 'failed') as failed,
               count(*) filter (where j.status = 'cancelled') as cancelled,
               count(*) as total
          from collab.jobs j
         where counting_stats_v1.executor_id is null or j.executor_id = counting_stats_v1.executor_id) s
$$;
grant execute on function public.counting_stats_v1(text) to authenticated;
"""
AFTER = """select count(*) from collab.jobs_list_after_v1(executor_id => 'ex-0', statuses => %s, page_size => 50,
           after_priority => %s, after_created_at => %s, after_id => %s)"""


def measure(owner: Caller, member: Caller, size: int, repeat: int) -> dict[str, float]:
    """Every figure at the table's current size."""
    stats = "select collab.stats_v1(executor_id => %s)"
    page = "select count(*) from collab.jobs_list_v1(executor_id => 'ex-0', statuses => %s, page_offset => %s)"
    deep = size // 40
    # The rows the deep pages start after: the offset page's row before it, by status.
    order = ("select priority, created_at, id from collab.jobs where executor_id = 'ex-0' {} "
             "order by priority desc, created_at, id offset %s limit 1")
    after_all = owner.sql(order.format(""), (deep - 1,))[0]
    after_queued = owner.sql(order.format("and status = 'queued'"), (deep - 1,))[0]
    figures = {
        "count(*)": timed(owner, "select count(*) from collab.jobs", None, repeat),
        "counting stats_v1 (before) member": timed(member, "select public.counting_stats_v1(%s)", ("ex-0",), repeat),
        "stats_v1(ex-0) member": timed(member, stats, ("ex-0",), repeat),
        "metrics_overview_v1(ex-0) member": timed(member, "select collab.metrics_overview_v1('ex-0')", None, repeat),
        "throughput_v1(ex-0) member": timed(member, "select count(*) from collab.throughput_v1('ex-0')", None, repeat),
        "stats_v1() owner": timed(owner, stats, (None,), repeat),
        "jobs_list_v1 queued page 1 member": timed(member, page, (["queued"], 0), repeat),
        "jobs_list_v1 all page 1 member": timed(member, page, (None, 0), repeat),
        "jobs_list_after_v1 all page 1 member": timed(member, AFTER, (None, None, None, None), repeat),
        f"jobs_list_v1 all offset {deep} member": timed(member, page, (None, deep), repeat),
        f"jobs_list_after_v1 all after {deep} member": timed(
            member, AFTER, (None, after_all["priority"], after_all["created_at"], after_all["id"]), repeat),
        f"jobs_list_after_v1 queued after {deep} member": timed(
            member, AFTER, (["queued"], after_queued["priority"], after_queued["created_at"], after_queued["id"]),
            repeat),
    }
    figures["overview (stats + metrics + throughput) member"] = sum(
        figures[k] for k in ("stats_v1(ex-0) member", "metrics_overview_v1(ex-0) member",
                             "throughput_v1(ex-0) member"))
    anchor = figures["count(*)"]
    return {**figures, **{f"{k} / count(*)": v / anchor for k, v in figures.items() if k != "count(*)"}}


OVERVIEW_READS = (("/api/jobs/stats", {"executorId": "ex-0"}),
                  ("/api/collab/metrics/overview", {"executorId": "ex-0"}),
                  ("/api/collab/metrics/throughput", {"executorId": "ex-0", "minutes": 60}))


def measure_http(http: httpx.Client, repeat: int) -> dict[str, float]:
    """The overview's three reads through ``collab serve`` as the member (JWT), one after
    another (the page sends them together): median ms of the three, and of page 1 of
    the unfiltered job list."""
    def overview() -> None:
        for path, params in OVERVIEW_READS:
            assert http.get(path, params=params).status_code == 200

    def first_page() -> None:
        assert http.get("/api/jobs", params={"executorId": "ex-0"}).status_code == 200

    figures = {}
    for name, call in (("HTTP overview (3 reads) member", overview), ("HTTP GET /api/jobs page 1 member", first_page)):
        call()
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        figures[name] = statistics.median(samples)
    return figures


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
            owner.sql(COUNTING_STATS_V1)
            add_members(owner, member.user_id, {"ex-0": "admin"})
            port = free_port()
            serve = start_serve(url, port, Path(tmp) / "serve.log")
            http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                headers={"Authorization": f"Bearer {mint_token(SECRET, sub=str(member.user_id))}"})
            done = 0
            for size in sizes:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(INSERT, (done + 1, size))
                    conn.execute("vacuum (analyze) collab.jobs")
                done = size
                results[str(size)] = figures = {**measure(owner, member, size, args.repeat),
                                                **measure_http(http, args.repeat)}
                print(f"{size:>9} jobs:")
                for k, v in figures.items():
                    if "/ count(*)" not in k:
                        print(f"    {k:52} {v:9.2f} ms  {v / figures['count(*)']:6.2f}x count(*)")
            http.close()
            serve.terminate()
            serve.wait(15)
        finally:
            server.stop("immediate")
    out = ROOT / "results" / "dashboard_counts.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
