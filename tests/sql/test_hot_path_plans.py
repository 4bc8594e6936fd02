"""Plans of the hot path's statements as their functions run them: generic plans (the
functions force them), on a table with statistics, with sequential scans allowed."""

from __future__ import annotations

import re

from support import Caller

# complete_and_claim_v1's arguments as the function's one statement names them, and the
# types PREPARE gives them ($1 … $7); `trusted` is its local variable ($8)
CHAIN_ARGS = ("job_id", "worker_id", "executor_id", "result", "attempt", "lease_seconds", "type_prefix")
CHAIN_TYPES = "uuid, text, text, jsonb, integer, integer, text, boolean"


def _statement(owner: Caller, fn: str, start: str, end: str) -> str:
    """The statement of ``fn``'s body from ``start`` to ``end`` (both included)."""
    body = owner.sql("select prosrc from pg_proc where oid = %s::regproc", (f"collab.{fn}",))[0]["prosrc"]
    at = body.index(start)
    return body[at:body.index(end, at) + len(end)]


def _generic_plan(owner: Caller, name: str, types: str, statement: str, args: str) -> str:
    owner.conn.execute("set plan_cache_mode = force_generic_plan")
    owner.conn.execute(f"prepare {name} ({types}) as {statement}")
    rows = owner.conn.execute(f"explain execute {name} ({args})").fetchall()
    return "\n".join(r["QUERY PLAN"] for r in rows)


def test_complete_and_claim_is_one_statement_of_index_scans(owner: Caller) -> None:
    config = owner.sql("select proconfig from pg_proc where oid = 'collab.complete_and_claim_v1'::regproc")
    assert "plan_cache_mode=force_generic_plan" in config[0]["proconfig"]
    owner.rpc("assign_jobs_v1", jobs=[{"type": "t", "executor_id": f"ex{i % 5}"} for i in range(5000)])
    owner.rpc("claim_jobs_v1", executor_id="ex1", worker_id="w", max_jobs=500)
    owner.sql("analyze collab.jobs")
    statement = _statement(owner, "complete_and_claim_v1", "with target as materialized", "from written w")
    statement = statement.replace("into completed, next_jobs", "")
    for n, arg in enumerate(CHAIN_ARGS, start=1):
        statement = statement.replace(f"complete_and_claim_v1.{arg}", f"${n}")
    statement = re.sub(r"\btrusted\b", "$8", statement)
    assert "complete_and_claim_v1" not in statement, statement
    plan = _generic_plan(owner, "chain_probe", CHAIN_TYPES, statement,
                         "gen_random_uuid(), 'w', 'ex1', null, null, 60, null, true")
    assert "Seq Scan" not in plan, plan
    # the completed job and the rows written by id; the next job from the claim index
    assert "Index Scan using jobs_pkey" in plan and "Index Scan using jobs_claim_idx" in plan, plan
    assert "Hash Join" not in plan, plan
