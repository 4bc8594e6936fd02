"""Wake-ups per transaction (migration 20261202020000): how many notifications a listener
gets, and what the writers pay, for three ways of hinting, on one server in one run.

    .venv/bin/python bench/notify_per_transaction.py [--statements 10000] [--rounds 3]

Variants (each installs its bodies of ``collab._job_events_notify`` and
``collab._notify_claimable`` with ``create or replace`` before it is measured):

- **before**: the bodies of 20261129000200 / 20261122000200: a hint per statement,
  ``{executor_id, job_id, seq}`` (never folded), and a ``pg_notify('collab_jobs', ...)``
  per statement (folded by Postgres: the payload is the executor id);
- **folded**: a payload Postgres folds, ``{executor_id}`` (null for several), and
  ``collab_jobs`` as before: one notification per distinct payload and transaction, with
  a ``pg_notify`` call and its duplicate check per statement;
- **marker**: the migration's bodies: a transaction-local setting remembers what was
  hinted (4 jobs by name per executor, then the executor), so later statements skip
  ``pg_notify``; ``collab_jobs`` as before (on plain Postgres the migration leaves
  ``_notify_claimable`` alone: only its Realtime broadcasts get a marker).

Three shapes, each with a listener attached to both channels (holding the events
listener lock, so the triggers notify) and, as the baseline, without one (the events
trigger's WHEN clause then skips its call):

- **bulk**: one client transaction of ``--statements`` single ``assign_job_v1``
  statements (pipelined), commit included: the issue's case, and the listener's counts;
- **in-server, one transaction**: a ``DO`` loop of ``--statements`` single-row inserts
  into ``job_events`` and ``_notify_claimable(['bench'])`` calls, one commit: the
  wake-up path alone, without client round trips;
- **in-server, a transaction each**: the same loop committing after every statement
  (``synchronous_commit = off``, so no WAL flush is waited for): every statement is its
  transaction's first, so the marker has nothing to skip (the common path of single
  claims and completes).

Figures: notifications received per transaction; what the wake-up path adds per
statement (with a listener minus without), as the writer's server-process CPU time
(``/proc/<pid>/schedstat``: steady on a shared machine, where wall time swings by more
than the cost looked for) and as wall time, each also as a ratio to the before variant. Medians of ``--rounds`` (variant order rotates
per round). Results go to stdout and bench/results/notify_per_transaction.json (not
committed).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import psycopg

from collab_sdk.transports.listen import EVENTS_LISTENER_LOCK
from engine import bench_server

ROOT = Path(__file__).resolve().parent
MIGRATIONS = ROOT.parent / "supabase" / "migrations"
ASSIGN = "select job_id from collab.assign_job_v1(type => 'bench.t', executor_id => 'bench')"

FOLDED_EVENTS = """
create or replace function collab._job_events_notify() returns trigger
  language plpgsql set search_path = ''
as $$
begin
  perform pg_notify('collab_events', json_build_object(
    'executor_id', case when min(n.executor_id) = max(n.executor_id) then min(n.executor_id) end)::text)
     from new_rows n having count(*) > 0;
  return null;
end
$$;
"""


def migration_function(migration: str, name: str) -> str:
    """The ``create function name(...) ... $$;`` of ``name`` in ``migration``, as create or replace."""
    text = (MIGRATIONS / migration).read_text()
    found = re.search(rf"^create (or replace )?function {re.escape(name)}\(.*?^\$\$;$", text, re.S | re.M)
    assert found, f"{name} not in {migration}"
    return found.group(0).replace("create function", "create or replace function", 1)


def current_function(url: str, signature: str) -> str:
    with psycopg.connect(url) as conn:
        return str(conn.execute("select pg_get_functiondef(%s::regprocedure)", (signature,)).fetchone()[0])


def variants(url: str) -> dict[str, list[str]]:
    before_events = migration_function("20261129000200_collab_cheaper_claims.sql", "collab._job_events_notify")
    before_jobs = migration_function("20261122000200_collab_internals.sql", "collab._notify_claimable")
    return {
        "before": [before_events, before_jobs],
        "folded": [FOLDED_EVENTS, before_jobs],
        "marker": [current_function(url, "collab._job_events_notify()"),
                   current_function(url, "collab._notify_claimable(text[])")],
    }


def install(url: str, bodies: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for body in bodies:
            conn.execute(body)


def empty_tables(url: str) -> None:
    """Every measurement starts from empty tables (so none runs on a bigger index)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate collab.jobs, collab.job_events cascade")
        conn.execute("vacuum analyze collab.jobs")
        conn.execute("vacuum analyze collab.job_events")


def backend_cpu_ns(conn: psycopg.Connection) -> int:
    """CPU time of the connection's server process so far (``/proc/<pid>/schedstat``: the
    server runs on this machine). Unlike wall time, other sessions' load barely moves it."""
    pid = conn.info.backend_pid
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def bulk(url: str, statements: int) -> tuple[float, float]:
    """(seconds, server CPU seconds) of one transaction of ``statements`` single assigns,
    commit included."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cpu, started = backend_cpu_ns(conn), time.perf_counter()
        cur.executemany(ASSIGN, [()] * statements)
        conn.commit()
        return time.perf_counter() - started, (backend_cpu_ns(conn) - cpu) / 1e9


LOOP = """
do $$
begin
  for i in 1 .. %s loop
    insert into collab.job_events (job_id, executor_id, event_type) values (gen_random_uuid(), 'bench', 'progress');
    perform collab._notify_claimable(array['bench']);%s
  end loop;
end
$$"""


def in_server(url: str, statements: int, each: bool) -> tuple[float, float]:
    """(seconds, server CPU seconds) of the DO loop (``each``: a commit after every statement)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set synchronous_commit = off")
        cpu, started = backend_cpu_ns(conn), time.perf_counter()
        conn.execute(LOOP % (statements, "\n    commit;" if each else ""))
        return time.perf_counter() - started, (backend_cpu_ns(conn) - cpu) / 1e9


def drained(listener: psycopg.Connection) -> dict[str, int]:
    counts = {"collab_events": 0, "collab_jobs": 0}
    for note in listener.notifies(timeout=1.0):
        counts[note.channel] += 1
    return counts


def measure(url: str, shape: str, size: int, listening: bool) -> dict[str, float]:
    empty_tables(url)
    run = {"bulk": bulk, "one transaction": lambda u, n: in_server(u, n, False),
           "a transaction each": lambda u, n: in_server(u, n, True)}[shape]
    if not listening:
        seconds, cpu = run(url, size)
        return {"seconds": seconds, "cpu": cpu}
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("select pg_advisory_lock_shared(%s)", (EVENTS_LISTENER_LOCK,))
        listener.execute("listen collab_events")
        listener.execute("listen collab_jobs")
        seconds, cpu = run(url, size)
        counts = drained(listener)
    transactions = size if shape == "a transaction each" else 1
    return {"seconds": seconds, "cpu": cpu,
            "events_per_tx": counts["collab_events"] / transactions,
            "jobs_per_tx": counts["collab_jobs"] / transactions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = {"bulk": args.statements, "one transaction": args.statements, "a transaction each": args.statements}
    samples: dict[str, list[dict[str, float]]] = {}
    with bench_server() as (_, url):
        bodies = variants(url)
        names = list(bodies)
        for round_no in range(args.rounds):
            order = names[round_no % len(names):] + names[:round_no % len(names)]
            for name in order:
                install(url, bodies[name])
                for shape, size in sizes.items():
                    for listening in (False, True):
                        key = f"{name} {shape} {'listener' if listening else 'no listener'}"
                        samples.setdefault(key, []).append(measure(url, shape, size, listening))
                        print(key, samples[key][-1], flush=True)
    report: dict[str, dict[str, float]] = {}
    for key, runs in samples.items():
        report[key] = {field: statistics.median(r[field] for r in runs) for field in runs[0]}
    print("\nnotifications per transaction (events, jobs) with a listener")
    for name in names:
        for shape in sizes:
            on = report[f"{name} {shape} listener"]
            print(f"  {name:8} {shape:20} {on['events_per_tx']:8.2f} {on['jobs_per_tx']:5.2f}")
    print("\nwhat the wake-ups add per statement: server CPU us (listener minus none), / before;"
          " wall us (the same), / before")
    for shape, size in sizes.items():
        added = {name: {field: (report[f"{name} {shape} listener"][field]
                                - report[f"{name} {shape} no listener"][field]) / size * 1e6
                        for field in ("cpu", "seconds")} for name in names}
        for name in names:
            on = report[f"{name} {shape} listener"]
            on["added_cpu_us"], on["added_wall_us"] = added[name]["cpu"], added[name]["seconds"]
            print(f"  {name:8} {shape:20} {added[name]['cpu']:7.2f}  {added[name]['cpu'] / added['before']['cpu']:5.2f}"
                  f"   {added[name]['seconds']:7.1f}  {added[name]['seconds'] / added['before']['seconds']:5.2f}")
    out = ROOT / "results" / "notify_per_transaction.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "medians": report}, indent=2))


if __name__ == "__main__":
    main()
