"""What each part of a 1,000-job ``assign_jobs_v1`` costs the backend: the call with one
part taken away, against the whole call, in interleaved rounds on one database.

    .venv/bin/python bench/assign_parts.py [--rounds 7] [--calls 8]

On a throw-away server (``engine.bench_server``) each variant runs in its own transaction
that is rolled back: its DDL first (a part removed: the jobs AFTER INSERT trigger
disabled, the trigger's ``job_events`` insert cut out of its body, ``job_events_job_idx``
dropped, the events' notify trigger (its transition table) dropped, the events' seq
sequence cached, ``assign_jobs_v1``'s validation pass cut out), one untimed call, then ``--calls``
timed calls of 1,000 jobs (the tables vacuumed after each rollback). The figure is the backend's on-CPU time per job
(``/proc/<pid>/schedstat``, as ``rpc_cpu.py``), median of ``--rounds`` rounds, and its
ratio to the whole call measured in the same rounds. A variant is an upper bound on what
cutting that part can buy, not a design: each one drops something issue 19 requires.
"""

from __future__ import annotations

import argparse
import re
import statistics

import psycopg

from engine import bench_server
from rpc_cpu import backend_cpu_ns

BATCH = ("select count(*) from collab.assign_jobs_v1(jobs => (select jsonb_agg(jsonb_build_object("
         "'type', 't', 'executor_id', 'b' || (g % 3), 'payload', jsonb_build_object('n', g)))"
         " from generate_series(1, 1000) g))")


def function_source(conn: psycopg.Connection, name: str) -> str:
    return conn.execute("select pg_get_functiondef(%s::regproc)", (name,)).fetchone()[0]


def cut(source: str, start: str, end: str) -> str:
    """``source`` without the text from ``start`` up to (not including) ``end``."""
    return source[:source.index(start)] + source[source.index(end):]


def variants(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Each variant's DDL, run inside the rolled-back transaction before its calls."""
    after_insert = function_source(conn, "collab._jobs_after_insert")
    assign = function_source(conn, "collab.assign_jobs_v1")
    return {
        "whole call": [],
        "no AFTER INSERT trigger": ["alter table collab.jobs disable trigger jobs_after_insert"],
        "trigger without events": [cut(after_insert, "with logged as (", "    insert into collab.job_count_deltas")],
        "events payload '{}'": [re.sub(r"case when n\.workflow_step_id is null.*?end,", "'{}'::jsonb,",
                                       after_insert, flags=re.S)],
        "no job_events_job_idx": ["drop index collab.job_events_job_idx"],
        "no job_events_notify": ["drop trigger job_events_notify on collab.job_events"],
        "seq drawn 1,000 a time": ["alter sequence collab.job_events_seq_seq cache 1000"],
        "no validation pass": [cut(assign, "  -- Validate every element", "  -- run_at: parse")],
    }


def measure(conn: psycopg.Connection, ddl: list[str], calls: int) -> float:
    """Backend CPU µs per job of ``calls`` batches with ``ddl`` applied, all rolled back."""
    with conn.transaction(force_rollback=True):
        for statement in ddl:
            conn.execute(statement)
        conn.execute(BATCH)
        before = backend_cpu_ns(conn)
        for _ in range(calls):
            conn.execute(BATCH)
        spent = (backend_cpu_ns(conn) - before) / calls / 1000 / 1000
    # The rolled-back rows are dead tuples and index entries the next variant would walk.
    conn.execute("vacuum collab.jobs, collab.job_events, collab.job_count_deltas")
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=8, help="timed 1,000-job calls per variant and round")
    args = ap.parse_args()
    with bench_server(settings={"fsync": "off"}) as (_, url), psycopg.connect(url, autocommit=True) as conn:
        table = variants(conn)
        figures: dict[str, list[float]] = {name: [] for name in table}
        for r in range(args.rounds):
            for name in (list(table) if r % 2 == 0 else list(reversed(table))):
                figures[name].append(measure(conn, table[name], args.calls))
    whole = statistics.median(figures["whole call"])
    print(f"backend CPU per job, µs (median of {args.rounds} rounds, {args.calls} calls of 1,000 jobs each)")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"{name:26} {median:7.2f}  {median / whole:6.3f}x")


if __name__ == "__main__":
    main()
