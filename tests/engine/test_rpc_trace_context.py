"""assign_job_v2 / assign_jobs_v2: the enqueuer's trace context in ``jobs.trace_context``,
never part of the job's identity, returned by the claims with the row."""

from __future__ import annotations

from typing import Any

from support import Caller, claim, events, job, raises_sqlstate

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
OTHER = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


def test_assign_v2_stores_the_trace_context_and_the_claim_returns_it(owner: Caller) -> None:
    row = owner.one("assign_job_v2", type="t.a", executor_id="ex", payload={"n": 1},
                    trace_context=TRACE)
    assert row is not None and row["queued"] is True
    assert job(owner, row["job_id"])["trace_context"] == TRACE
    assert events(owner, row["job_id"]) == ["queued"]  # setting it logged nothing more
    assert owner.one("assign_job_v2", type="t.b", executor_id="ex", trace_context=OTHER) is not None
    assert owner.one("assign_job_v2", type="t.d", executor_id="ex", trace_context=TRACE) is not None
    one = claim(owner, type_prefix="t.a")
    assert one is not None and one["trace_context"] == TRACE
    v1 = owner.rpc("claim_jobs_v1", executor_id="ex", worker_id="w1", types=["t.b"])
    v2 = owner.rpc("claim_jobs_v2", executor_id="ex", worker_id="w1", types=["t.d"], alone=True)
    assert [r["trace_context"] for r in v1 + v2] == [OTHER, TRACE]
    # v1 and a v2 call without one leave it null
    plain = owner.one("assign_job_v1", type="t.c", executor_id="ex")
    bare = owner.one("assign_job_v2", type="t.c", executor_id="ex")
    assert plain is not None and bare is not None
    assert job(owner, plain["job_id"])["trace_context"] is None
    assert job(owner, bare["job_id"])["trace_context"] is None


def test_the_trace_context_is_not_part_of_the_job(owner: Caller) -> None:
    first = owner.one("assign_job_v2", type="t.a", executor_id="ex", payload={"n": 1},
                      idempotency_key="k", trace_context=TRACE)
    again = owner.one("assign_job_v2", type="t.a", executor_id="ex", payload={"n": 1},
                      idempotency_key="k", trace_context=OTHER)
    assert first is not None and again == {"job_id": first["job_id"], "queued": False}
    assert job(owner, first["job_id"])["trace_context"] == TRACE  # the first enqueue's
    via_v1 = owner.one("assign_job_v1", type="t.a", executor_id="ex", payload={"n": 1}, idempotency_key="k")
    assert via_v1 == again
    with raises_sqlstate("CL409", "idempotency_key was already used"):  # the payload still is
        owner.rpc("assign_job_v2", type="t.a", executor_id="ex", payload={"n": 2},
                  idempotency_key="k", trace_context=TRACE)


def test_batch_v2_sets_each_element_s_context_in_input_order(owner: Caller) -> None:
    existing = owner.one("assign_job_v1", type="t.x", executor_id="ex", idempotency_key="dup")
    assert existing is not None
    rows = owner.rpc("assign_jobs_v2", jobs=[
        {"type": "t.a", "executor_id": "ex", "trace_context": TRACE},
        {"type": "t.x", "executor_id": "ex", "idempotency_key": "dup", "trace_context": OTHER},
        {"type": "t.b", "executor_id": "ex"},
        {"type": "t.c", "executor_id": "ex", "trace_context": OTHER},
    ])
    assert [r["queued"] for r in rows] == [True, False, True, True]
    assert rows[1]["job_id"] == existing["job_id"]
    assert [job(owner, r["job_id"])["trace_context"] for r in rows] == [TRACE, None, None, OTHER]


def test_a_bad_trace_context_is_refused_naming_its_element(owner: Caller) -> None:
    bad: list[Any] = ["00-abc", ["x"], {"traceparent": 1}, {"k": "v" * 5000}]
    for value in bad:
        with raises_sqlstate("CL400", "jobs[1]: trace_context must be a JSON object of strings"):
            owner.rpc("assign_jobs_v2", jobs=[{"type": "t", "executor_id": "ex"},
                                              {"type": "t", "executor_id": "ex", "trace_context": value}])
    with raises_sqlstate("CL400", "jobs[0]: trace_context"):
        owner.rpc("assign_job_v2", type="t", executor_id="ex", trace_context=["x"])
    assert owner.sql("select count(*) as n from collab.jobs")[0]["n"] == 0
    with raises_sqlstate("CL400", "jobs[0]: payload must be a JSON object"):  # v1's checks apply
        owner.rpc("assign_jobs_v2", jobs=[{"type": "t", "executor_id": "ex", "payload": 3}])


def test_members_assign_v2_as_they_assign_v1(owner: Caller, make_user: Any, anon: Caller) -> None:
    alice = make_user({"exec-a": "client"})
    row = alice.one("assign_job_v2", type="t", executor_id="exec-a", trace_context=TRACE)
    assert row is not None and job(owner, row["job_id"])["trace_context"] == TRACE
    with raises_sqlstate("CL403"):
        alice.rpc("assign_job_v2", type="t", executor_id="exec-b", trace_context=TRACE)
    with raises_sqlstate("42501"):
        anon.rpc("assign_jobs_v2", jobs=[])
