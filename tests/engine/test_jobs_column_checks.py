"""collab.jobs' column rules (domain CHECKs since 20261204600000, the table's two others):
a violating value is refused with SQLSTATE 23514 naming the same constraint as before."""

from __future__ import annotations

import psycopg
import pytest
from support import Caller

# column, a value it refuses, the constraint named in the error
REFUSED = [
    ("type", "''", "jobs_type_check"),
    ("type", "repeat('t', 201)", "jobs_type_check"),
    ("executor_id", "''", "jobs_executor_id_check"),
    ("attempts", "-1", "jobs_attempts_check"),
    ("max_attempts", "0", "jobs_max_attempts_check"),
    ("max_attempts", "1001", "jobs_max_attempts_check"),
    ("idempotency_key", "repeat('k', 256)", "jobs_idempotency_key_check"),
    ("rescues", "-1", "jobs_rescues_check"),
    ("forgiven_attempts", "2", "jobs_forgiven_attempts_check"),
    ("status", "'lost'", "jobs_status_check"),
    ("status", "'running'", "jobs_running_has_owner"),
]


@pytest.mark.parametrize(("column", "value", "constraint"), REFUSED)
def test_a_value_out_of_a_columns_rule_is_refused_by_its_constraint(owner: Caller, column: str, value: str,
                                                                    constraint: str) -> None:
    """By an INSERT and by an UPDATE alike, with 23514 and the constraint's name."""
    job = owner.rpc("assign_job_v1", type="t", executor_id="ex")[0]["job_id"]
    values = {"type": "'t'", "executor_id": "'ex'", column: value}
    statements = [f"update collab.jobs set {column} = {value} where id = %s",
                  f"insert into collab.jobs ({', '.join(values)}) select {', '.join(values.values())}"
                  " where %s is not null"]
    for statement in statements:
        with pytest.raises(psycopg.errors.CheckViolation) as caught:
            owner.sql(statement, (job,))
        assert caught.value.sqlstate == "23514"
        assert caught.value.diag.constraint_name == constraint, (statement, caught.value)


def test_values_inside_the_rules_are_taken(owner: Caller) -> None:
    """The bounds themselves pass (the domains keep the tables' ranges)."""
    owner.sql("insert into collab.jobs (type, executor_id, attempts, max_attempts, idempotency_key, rescues,"
              " forgiven_attempts) values (repeat('t', 200), repeat('e', 200), 0, 1000, repeat('k', 255), 0, 1),"
              " ('t', 'e', 5, 1, null, 3, 0)")
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 2
