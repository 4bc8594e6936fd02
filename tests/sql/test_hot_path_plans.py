"""Plans of the hot path's statements as their functions run them: generic plans (the
functions force them), on a table with statistics, with sequential scans allowed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from collab_sdk.local.embedded import EmbeddedPostgres
from collab_sdk.local.migrate import migrate
from support import Caller

PG15 = Path("/usr/lib/postgresql/15/bin")  # as tests/migrations/test_migrations.py

# complete_and_claim_v1's arguments as the function's one statement names them, and the
# types PREPARE gives them ($1 … $7); `trusted` is its local variable ($8)
CHAIN_ARGS = ("job_id", "worker_id", "executor_id", "result", "attempt", "lease_seconds", "type_prefix")
CHAIN_TYPES = "uuid, text, text, jsonb, integer, integer, text, boolean"


def _statement(owner: Caller, fn: str, start: str, end: str) -> str:
    """The statement of ``fn``'s body from ``start`` to ``end`` (both included)."""
    body = owner.sql("select prosrc from pg_proc where oid = %s::regproc", (f"collab.{fn}",))[0]["prosrc"]
    at = body.index(start)
    return body[at:body.index(end, at) + len(end)]


def _generic_plan(owner: Caller, name: str, types: str, statement: str, args: str, fn: str) -> str:
    """EXPLAIN of ``statement``'s generic plan under ``fn``'s own settings (its SET clauses)."""
    config = owner.sql("select proconfig from pg_proc where oid = %s::regproc", (f"collab.{fn}",))[0]["proconfig"]
    for setting in config:
        owner.conn.execute("select set_config(%s, %s, false)", setting.split("=", 1))
    owner.conn.execute(f"prepare {name} ({types}) as {statement}")
    rows = owner.conn.execute(f"explain execute {name} ({args})").fetchall()
    return "\n".join(r["QUERY PLAN"] for r in rows)


def _chain_plan(owner: Caller) -> str:
    statement = _statement(owner, "complete_and_claim_v1", "with target as materialized", "from written w")
    statement = statement.replace("into completed, next_jobs", "")
    for n, arg in enumerate(CHAIN_ARGS, start=1):
        statement = statement.replace(f"complete_and_claim_v1.{arg}", f"${n}")
    statement = re.sub(r"\btrusted\b", "$8", statement)
    assert "complete_and_claim_v1" not in statement, statement
    return _generic_plan(owner, "chain_probe", CHAIN_TYPES, statement,
                         "gen_random_uuid(), 'w', 'ex1', null, null, 60, null, true", "complete_and_claim_v1")


def test_complete_and_claim_is_one_statement_of_index_scans(owner: Caller) -> None:
    config = owner.sql("select proconfig from pg_proc where oid = 'collab.complete_and_claim_v1'::regproc")
    assert "plan_cache_mode=force_generic_plan" in config[0]["proconfig"]
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": f"ex{i % 5}"} for i in range(5000)])
    owner.rpc("claim_jobs_v1", executor_id="ex1", worker_id="w", max_jobs=500)
    owner.sql("analyze collab.jobs")
    plan = _chain_plan(owner)
    assert "Seq Scan" not in plan, plan
    # the completed job and the rows written by id; the next job from the claim index
    assert "Index Scan using jobs_pkey" in plan and "Index Scan using jobs_claim_idx" in plan, plan
    assert "Hash Join" not in plan, plan


def _claim_pick_plan(owner: Caller) -> str:
    statement = _statement(owner, "claim_jobs_v2", "with picked as materialized", "from picked p")
    statement = statement.replace("into ids, suspects", "").replace("claim_jobs_v2.executor_id", "$1")
    for n, arg in enumerate(("types", "type_prefixes", "max_jobs"), start=2):
        statement = re.sub(rf"\b{arg}\b", f"${n}", statement)
    return _generic_plan(owner, "claim_probe", "text, text[], text[], integer", statement,
                         "'ex1', null, null, 1", "claim_jobs_v2")


@pytest.fixture(scope="module")
def pg15_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database on PostgreSQL 15, whose planner fell into the trap below."""
    if not (PG15 / "postgres").exists():
        pytest.skip(f"PostgreSQL 15 is not installed at {PG15}; .ci/run installs it (apt postgresql-15)")
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg15") / "data", bin_dir=PG15, settings={"fsync": "off"})
    url = server.start()
    try:
        migrate(url)
        yield url
    finally:
        server.destroy()


@pytest.fixture(params=["16", "15"])
def any_owner(request: pytest.FixtureRequest) -> Iterator[Caller]:
    """The database owner on the suite's server, then on PostgreSQL 15."""
    if request.param == "16":
        yield request.getfixturevalue("owner")
        return
    caller = Caller(request.getfixturevalue("pg15_url"))
    caller.sql("delete from collab.jobs")
    yield caller
    caller.close()


@pytest.mark.parametrize("short", [10, 40])
def test_claims_read_the_claim_index_in_order_after_a_short_queue(any_owner: Caller, short: int) -> None:
    """Statistics taken while the queue was short make a handful of due jobs look likely
    (PostgreSQL 15 then scanned the table and sorted it for every claim); the next jobs
    must still come from the claim index in order, and no plan is JIT-compiled."""
    owner = any_owner
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex1"} for _ in range(short)])
    owner.sql("analyze collab.jobs")
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex1"} for _ in range(2000)])
    plan = _chain_plan(owner)
    picked = plan.split("CTE picked")[1].split("CTE written")[0]
    assert "Index Scan using jobs_claim_idx" in picked and "Sort" not in picked, plan
    assert "JIT" not in plan, plan
    owner.conn.execute("reset all")
    plan = _claim_pick_plan(owner)
    assert "Index Scan using jobs_claim_idx" in plan and "Sort" not in plan, plan
    assert "JIT" not in plan, plan


def _nested_plans(caller: Caller, call: str) -> str:
    """The plans of every statement ``call`` runs, functions' statements included, as they
    ran, with row counts (auto_explain on the connection; PostgreSQL 15 has the module, the
    embedded 16 not)."""
    notices: list[str] = []
    caller.conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    caller.conn.execute("load 'auto_explain'")
    for name, value in (("auto_explain.log_min_duration", "0"), ("auto_explain.log_nested_statements", "on"),
                        ("auto_explain.log_analyze", "on"), ("auto_explain.log_timing", "off"),
                        ("client_min_messages", "log")):
        caller.conn.execute("select set_config(%s, %s, false)", (name, value))
    caller.conn.execute(call).fetchall()
    caller.conn.execute("reset all")
    return "\n".join(n for n in notices if "collab.jobs" in n)


# A listing, the indexes its plan must read and those it must not (migration
# 20261204000000: the listing indexes leave running jobs out, jobs_running_idx holds them).
# The all-executor recent listing also reads only per-executor ranges: each lateral read
# of jobs_executor_created_idx is at most a page and one (the `loops` are the executors).
LISTINGS = [
    # every executor: a skip scan for the executors, a page of each (migration 20261204000100)
    ("select collab.jobs_recent_v1()", {"jobs_executor_created_idx", "jobs_running_idx"}, set()),
    ("select collab.jobs_recent_v1(executor_id => 'ex1')",
     {"jobs_executor_created_idx", "jobs_running_idx"}, set()),
    ("select collab.jobs_recent_v1(executor_id => 'ex1', status => 'succeeded')",
     {"jobs_executor_created_idx"}, {"jobs_running_idx"}),
    ("select collab.jobs_recent_v1(executor_id => 'ex1', status => 'running')",
     {"jobs_running_idx"}, {"jobs_executor_created_idx"}),
    ("select * from collab.jobs_list_v1(executor_id => 'ex1', statuses => '{queued}')",
     {"jobs_queue_order_idx"}, {"jobs_running_idx", "Sort"}),
    ("select * from collab.jobs_list_v1(executor_id => 'ex1', statuses => '{running}')",
     {"jobs_running_idx"}, {"jobs_queue_order_idx"}),
    # the queued part sorts (as before: `= any` is no equality), read from either index
    ("select * from collab.jobs_list_v1(executor_id => 'ex1', statuses => '{queued,running}')",
     {"jobs_running_idx"}, set()),
    ("select * from collab.jobs_list_after_v1(executor_id => 'ex1', statuses => '{queued,running}',"
     " after_priority => 0, after_created_at => now(), after_id => gen_random_uuid())",
     {"jobs_queue_order_idx", "jobs_running_idx"}, set()),
    ("select * from collab._bulk_match('ex1', null, '{queued,running}', null)",
     {"jobs_running_idx"}, set()),
]


@pytest.fixture(scope="module")
def listed(pg15_url: str) -> Iterator[Caller]:
    """PostgreSQL 15 with 20,000 jobs of five executors: most queued, a hundred running
    and a few hundred finished per executor, statistics taken."""
    caller = Caller(pg15_url)
    caller.sql("delete from collab.jobs")
    for _ in range(4):
        caller.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": f"ex{i % 5}", "priority": i % 2}
                                           for i in range(5000)])
    for e in range(5):
        jobs = caller.rpc("claim_jobs_v1", executor_id=f"ex{e}", worker_id="w", max_jobs=400)
        caller.rpc("complete_jobs_v1", worker_id="w", completions=[{"job_id": str(j["id"])} for j in jobs[100:]])
    caller.conn.execute("vacuum analyze collab.jobs")
    yield caller
    caller.close()


@pytest.mark.parametrize(("call", "reads", "avoids"), LISTINGS)
def test_listings_read_the_listing_and_running_indexes(listed: Caller, call: str, reads: set[str],
                                                       avoids: set[str]) -> None:
    """Each part of a listing is an index read, and a part its status rules out is not
    read at all (its nodes never run); nothing scans the table."""
    plans = _nested_plans(listed, call)
    ran = "\n".join(line for line in plans.splitlines() if "(never executed)" not in line)
    assert "Seq Scan" not in plans, plans
    for index in reads:
        assert f" {index} " in ran, plans
    for index in avoids:
        assert (f" {index} " if index.endswith("_idx") else index) not in ran, plans
    if "jobs_recent_v1" in call:  # each read of the listing index stops after a page and one
        rows = [int(r) for r in re.findall(r"Scan using jobs_executor_created_idx .*actual rows=(\d+)", ran)]
        assert max(rows, default=0) <= 21, plans


def _replay_plans(owner: Caller) -> list[str]:
    """The generic plans of assign_jobs_v1's two reads of existing jobs (a batch some of
    whose keys exist): the answer, then the conflict check."""
    answer = _statement(owner, "assign_jobs_v1", "select coalesce(ins.id", "order by e.ord")
    check = _statement(owner, "assign_jobs_v1", "select e.ord into bad\n    from jsonb_array_elements(jobs)"
                       " with ordinality as e (j, ord)\n    cross join lateral", "order by e.ord limit 1")
    names = {r"(?<!\.)\bjobs\b": "$1", r"\binserted\b": "$2", r"\bprefix\b": "$3", r"\bbase\b": "$4"}
    plans = []
    for name, statement in (("replay_answer", answer), ("replay_check", check.replace(" into bad", ""))):
        for pattern, param in names.items():
            statement = re.sub(pattern, param, statement)
        owner.conn.execute("set plan_cache_mode = force_generic_plan")
        plans.append(_generic_plan(owner, name, "jsonb, uuid[], text, bigint", statement,
                                   "'[]', '{}', '01a2', 0", "assign_jobs_v1"))
    return plans


def test_a_replay_reads_each_existing_job_by_one_probe_of_its_key(owner: Caller) -> None:
    """Statistics taken while few jobs had keys make the whole idempotency index look
    small: joins of the batch with collab.jobs were hashed over every key (each replay read
    the whole index). Each existing job must be one index lookup of its key."""
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex"} for _ in range(2000)]
              + [{"type": "t", "executor_id": "ex", "idempotency_key": "k-0"}])
    owner.sql("analyze collab.jobs")
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": "ex", "idempotency_key": f"k-{i}"}
                                      for i in range(1, 3000)])
    for plan in _replay_plans(owner):
        lines = plan.splitlines()
        probes = [i for i, line in enumerate(lines) if "using jobs_idempotency_idx" in line]
        assert probes and "Seq Scan on jobs" not in plan, plan
        # idempotency_key is a domain over text (20261204600000): the plan shows it cast
        assert all("Index Cond" in lines[i + 1] and re.search(r"\(?idempotency_key(\)::text)? =", lines[i + 1])
                   for i in probes), plan
