"""Claim, complete, fail, extend_lease and progress: fencing, retries, DLQ, replays."""

from __future__ import annotations

import uuid

import pytest

from support import Caller, assign, claim, events, expire_lease, job, make_due, raises_sqlstate


def test_claim_leases_the_job_and_counts_an_attempt(owner: Caller) -> None:
    job_id = assign(owner)
    got = claim(owner, worker_id="w1", lease_seconds=30)
    assert got["id"] == job_id
    assert (got["status"], got["attempts"], got["lease_owner"]) == ("running", 1, "w1")
    assert 29 <= (got["lease_until"] - got["started_at"]).total_seconds() <= 31
    assert events(owner, job_id) == ["queued", "claimed"]


def test_claim_returns_nothing_when_no_job_is_due(owner: Caller) -> None:
    assert claim(owner) is None
    assign(owner, executor_id="other")
    assert claim(owner, executor_id="ex") is None


def test_claim_order_is_priority_then_oldest(owner: Caller) -> None:
    low = assign(owner, priority=0)
    high = assign(owner, priority=10)
    low2 = assign(owner, priority=0)
    assert [claim(owner)["id"] for _ in range(3)] == [high, low, low2]


def test_claim_filters_by_type_prefix_literally(owner: Caller) -> None:
    assign(owner, type="figma.export")
    assign(owner, type="browserXrun")  # would match a LIKE 'browser_%' pattern
    wanted = assign(owner, type="browser_run")
    assert claim(owner, type_prefix="browser_")["id"] == wanted
    assert claim(owner, type_prefix="browser_") is None


def test_batch_claim_takes_up_to_max_jobs_with_type_filters(owner: Caller) -> None:
    ids = [assign(owner, type=t) for t in ("a.one", "a.two", "b.one", "c.exact", "c.exactly")]
    got = owner.rpc("claim_jobs_v1", executor_id="ex", worker_id="w1", max_jobs=10,
                    type_prefixes=["a."], types=["c.exact"])
    assert {g["id"] for g in got} == {ids[0], ids[1], ids[3]}
    rest = owner.rpc("claim_jobs_v1", executor_id="ex", worker_id="w2", max_jobs=1)
    assert len(rest) == 1 and rest[0]["id"] in {ids[2], ids[4]}


@pytest.mark.parametrize(("args", "message"), [
    ({"lease_seconds": 0}, "lease_seconds must be between 1 and 86400"),
    ({"lease_seconds": -5}, "lease_seconds must be between"),
    ({"worker_id": ""}, "worker_id must be"),
    ({"executor_id": "no spaces"}, "executor_id must be"),
])
def test_claim_rejects_bad_arguments(owner: Caller, args: dict, message: str) -> None:
    assign(owner)
    with raises_sqlstate("CL400", message):
        owner.rpc("claim_one_job_v3", **{"executor_id": "ex", "worker_id": "w1", "lease_seconds": 60, **args})
    assert job(owner, owner.sql("select id from collab.jobs")[0]["id"])["status"] == "queued"


def test_complete_records_result_and_artifacts(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    artifact = {"name": "shot.png", "path": f"ex/{job_id}/shot.png", "size": 10, "mime": "image/png",
                "sha256": "a" * 64}
    done = owner.one("complete_job_v1", job_id=job_id, worker_id="w1", result={"ok": True},
                     artifacts=[artifact])
    assert (done["status"], done["result"], done["lease_until"]) == ("succeeded", {"ok": True}, None)
    assert done["finished_at"] is not None
    rows = owner.rpc("artifacts_by_job_v1", job_id=job_id)
    assert [(a["name"], a["bucket"], a["size"], a["sha256"]) for a in rows] == [
        ("shot.png", "artifacts", 10, "a" * 64)]
    assert events(owner, job_id) == ["queued", "claimed", "succeeded"]


def test_repeated_complete_returns_the_same_outcome_and_writes_nothing(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    first = owner.one("complete_job_v1", job_id=job_id, worker_id="w1", result={"v": 1})
    again = owner.one("complete_job_v1", job_id=job_id, worker_id="w1", result={"v": 1})
    assert again == first
    assert events(owner, job_id) == ["queued", "claimed", "succeeded"]


@pytest.mark.parametrize("bad", [
    {"name": "x", "path": "../etc/passwd"},
    {"name": "x", "path": "/abs/path"},
    {"name": "x", "path": "a/../../b"},
    {"name": "", "path": "a"},
    {"name": "x", "path": "a", "sha256": "XYZ"},
    {"name": "x", "path": "a", "size": -1},
    {"name": "x", "path": "a", "bucket": "Bad Bucket"},
])
def test_complete_rejects_bad_artifacts_and_keeps_the_job_running(owner: Caller, bad: dict) -> None:
    job_id = assign(owner)
    claim(owner)
    with raises_sqlstate("CL400", "artifacts[0]"):
        owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={}, artifacts=[bad])
    assert job(owner, job_id)["status"] == "running"


def test_complete_rejects_an_oversized_result(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    with raises_sqlstate("CL413", "result is larger than"):
        owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={"x": "y" * 1_048_576})
    assert job(owner, job_id)["status"] == "running"


def test_unknown_job_is_cl404_and_malformed_id_is_22p02(owner: Caller) -> None:
    with raises_sqlstate("CL404", "not found"):
        owner.rpc("complete_job_v1", job_id=uuid.uuid4(), worker_id="w1")
    for fn, extra in (("complete_job_v1", {"worker_id": "w1"}), ("cancel_job_v1", {}),
                      ("complete_and_claim_v1", {"worker_id": "w1", "executor_id": "ex"})):
        with raises_sqlstate("CL400", "job_id is required"):
            owner.sql(f"select * from collab.{fn}(job_id => null"
                      + "".join(f", {k} => %s" for k in extra) + ")", tuple(extra.values()))
    with raises_sqlstate("22P02"):
        owner.sql("select * from collab.complete_job_v1(job_id => 'not-a-uuid', worker_id => 'w1')")


def test_wrong_worker_gets_lease_lost(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner, worker_id="w1")
    for fn, extra in (("complete_job_v1", {}), ("fail_job_v1", {"error": "x"}),
                      ("extend_lease_v1", {}), ("append_job_event_v1", {"payload": {"pct": 5}})):
        with raises_sqlstate("CL410", "lease lost"):
            owner.rpc(fn, job_id=job_id, worker_id="w2", **extra)
    assert job(owner, job_id)["status"] == "running"
    assert events(owner, job_id) == ["queued", "claimed"]


def test_stale_attempt_number_gets_lease_lost(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    with raises_sqlstate("CL410"):
        owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", attempt=2)
    assert owner.one("complete_job_v1", job_id=job_id, worker_id="w1", attempt=1)["status"] == "succeeded"


def test_crashed_workers_job_is_reclaimed_and_the_late_worker_is_fenced(owner: Caller) -> None:
    job_id = assign(owner, max_attempts=3)
    claim(owner, worker_id="w1")
    assert claim(owner, worker_id="w2") is None  # the lease is live
    expire_lease(owner, job_id)
    again = claim(owner, worker_id="w2")
    assert (again["id"], again["attempts"], again["lease_owner"]) == (job_id, 2, "w2")
    assert "lease of worker w1 expired" in again["last_error"]
    for fn in ("complete_job_v1", "fail_job_v1"):
        with raises_sqlstate("CL410", "leased by w2"):
            owner.rpc(fn, job_id=job_id, worker_id="w1")
    assert job(owner, job_id)["lease_owner"] == "w2"
    assert owner.one("complete_job_v1", job_id=job_id, worker_id="w2")["status"] == "succeeded"
    assert events(owner, job_id) == ["queued", "claimed", "claimed", "succeeded"]


def test_expired_lease_is_refused_even_before_anyone_reclaims(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    expire_lease(owner, job_id)
    with raises_sqlstate("CL410"):
        owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1")


def test_expired_lease_at_max_attempts_dead_letters(owner: Caller) -> None:
    job_id = assign(owner, max_attempts=1)
    claim(owner, worker_id="w1")
    expire_lease(owner, job_id)
    assert claim(owner, worker_id="w2") is None
    j = job(owner, job_id)
    assert (j["status"], j["attempts"]) == ("failed", 1)
    dead = owner.sql("select reason, attempts from collab.job_dead_letters where job_id = %s", (job_id,))
    assert dead == [{"reason": "lease_expired", "attempts": 1}]
    assert events(owner, job_id) == ["queued", "claimed", "failed"]


def test_fail_retries_with_growing_capped_backoff(owner: Caller) -> None:
    job_id = assign(owner, max_attempts=30)
    delays = []
    for attempt in range(1, 30):
        claim(owner)
        row = owner.one("fail_job_v1", job_id=job_id, worker_id="w1", error=f"boom {attempt}")
        assert (row["status"], row["attempts"], row["last_error"]) == ("queued", attempt, f"boom {attempt}")
        delays.append((row["next_run_at"] - row["updated_at"]).total_seconds())
        make_due(owner, job_id)
    # 5 s doubling, up to 25 % jitter downwards: ranges [3.75, 5], [7.5, 10], [15, 20] ...
    for attempt, delay in enumerate(delays[:6], start=1):
        nominal = 5 * 2 ** (attempt - 1)
        assert 0.75 * nominal - 0.01 <= delay <= nominal + 0.01, (attempt, delay)
    assert all(b > a for a, b in zip(delays[:6], delays[1:7]))
    assert max(delays) <= 3600.01 and min(delays[12:]) >= 0.75 * 3600 - 0.01


def test_fail_at_max_attempts_dead_letters_once(owner: Caller) -> None:
    job_id = assign(owner, max_attempts=2, payload={"p": 1})
    for attempt in (1, 2):
        claim(owner)
        row = owner.one("fail_job_v1", job_id=job_id, worker_id="w1", error=f"e{attempt}")
        make_due(owner, job_id)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    dead = owner.sql("select * from collab.job_dead_letters")
    assert [(d["job_id"], d["reason"], d["attempts"], d["last_error"], d["payload"]) for d in dead] == [
        (job_id, "max_attempts", 2, "e2", {"p": 1})]
    assert events(owner, job_id) == ["queued", "claimed", "retry_scheduled", "claimed", "failed"]


def test_non_retryable_failure_dead_letters_at_once(owner: Caller) -> None:
    job_id = assign(owner, max_attempts=5)
    claim(owner)
    row = owner.one("fail_job_v1", job_id=job_id, worker_id="w1", error="bad input", retryable=False)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert owner.sql("select reason from collab.job_dead_letters") == [{"reason": "non_retryable"}]


def test_explicit_retry_delay_and_its_bounds(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    with raises_sqlstate("CL400", "retry_delay_seconds must be between 0 and 604800"):
        owner.rpc("fail_job_v1", job_id=job_id, worker_id="w1", error="x", retry_delay_seconds=-1)
    row = owner.one("fail_job_v1", job_id=job_id, worker_id="w1", error="x", retry_delay_seconds=0)
    assert row["next_run_at"] <= row["updated_at"]
    assert claim(owner, worker_id="w2")["attempts"] == 2


def test_repeated_fail_returns_the_same_outcome_and_writes_nothing(owner: Caller) -> None:
    job_id = assign(owner, max_attempts=1)
    claim(owner)
    first = owner.one("fail_job_v1", job_id=job_id, worker_id="w1", error="boom")
    again = owner.one("fail_job_v1", job_id=job_id, worker_id="w1", error="boom")
    assert again == first
    assert owner.sql("select count(*) as n from collab.job_dead_letters")[0]["n"] == 1
    assert events(owner, job_id) == ["queued", "claimed", "failed"]


def test_long_error_text_is_kept_to_16_kib(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    row = owner.one("fail_job_v1", job_id=job_id, worker_id="w1", error="e" * 100_000)
    assert len(row["last_error"]) == 16384


def test_extend_lease_moves_the_lease_forward(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner, lease_seconds=5)
    row = owner.one("extend_lease_v1", job_id=job_id, worker_id="w1", lease_seconds=600)
    assert (row["lease_until"] - row["updated_at"]).total_seconds() == pytest.approx(600, abs=1)
    with raises_sqlstate("CL400", "lease_seconds"):
        owner.rpc("extend_lease_v1", job_id=job_id, worker_id="w1", lease_seconds=-1)
    assert events(owner, job_id) == ["queued", "claimed"]


def test_progress_events_are_appended_while_leased(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    ev = owner.one("append_job_event_v1", job_id=job_id, worker_id="w1", payload={"pct": 50})
    assert (ev["event_type"], ev["payload"]) == ("progress", {"pct": 50, "attempt": 1, "worker_id": "w1"})
    owner.rpc("append_job_event_v1", job_id=job_id, worker_id="w1", payload={"msg": "hi"}, event_type="log")
    with raises_sqlstate("CL400", "event_type must be progress or log"):
        owner.rpc("append_job_event_v1", job_id=job_id, worker_id="w1", payload={}, event_type="succeeded")
    with raises_sqlstate("CL400", "payload must be a JSON object"):
        owner.rpc("append_job_event_v1", job_id=job_id, worker_id="w1", payload=[1])
    with raises_sqlstate("CL413"):
        owner.rpc("append_job_event_v1", job_id=job_id, worker_id="w1", payload={"x": "y" * 70000})
    assert events(owner, job_id) == ["queued", "claimed", "progress", "log"]


def test_add_artifacts_while_running_is_fenced(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    rows = owner.rpc("add_artifacts_v1", job_id=job_id, worker_id="w1",
                     artifacts=[{"name": "log.txt", "path": f"ex/{job_id}/log.txt"}])
    assert [r["name"] for r in rows] == ["log.txt"]
    with raises_sqlstate("CL410"):
        owner.rpc("add_artifacts_v1", job_id=job_id, worker_id="w2",
                  artifacts=[{"name": "x", "path": "ex/x"}])


def test_batch_complete_completes_what_the_worker_holds(owner: Caller) -> None:
    ids = [assign(owner) for _ in range(4)]
    claimed = owner.rpc("claim_jobs_v1", executor_id="ex", worker_id="w1", max_jobs=3)
    assert [c["id"] for c in claimed] == ids[:3]
    expire_lease(owner, ids[2])
    done = owner.rpc("complete_jobs_v1", worker_id="w1", completions=[
        {"job_id": str(ids[0]), "result": {"n": 0}}, {"job_id": str(ids[1]), "attempt": 1},
        {"job_id": str(ids[2])}, {"job_id": str(ids[3])}, {"job_id": str(uuid.uuid4())}])
    assert sorted(d["id"] for d in done) == sorted(ids[:2])
    assert [job(owner, i)["status"] for i in ids] == ["succeeded", "succeeded", "running", "queued"]
    assert job(owner, ids[0])["result"] == {"n": 0}
    replay = owner.rpc("complete_jobs_v1", worker_id="w1", completions=[{"job_id": str(ids[0])}])
    assert [r["id"] for r in replay] == [ids[0]] and replay[0]["result"] == {"n": 0}
    assert events(owner, ids[0]) == ["queued", "claimed", "succeeded"]


@pytest.mark.parametrize(("completions", "code", "message"), [
    ({"job_id": "x"}, "CL400", "completions must be a JSON array"),
    ([1], "CL400", "completions[0]: must be a JSON object"),
    ([{"job_id": "00000000-0000-0000-0000-000000000000"}, {"job_id": 7}], "CL400", "completions[1]: job_id"),
    ([{"job_id": "not-a-uuid"}], "CL400", "job_id must be a uuid"),
    ([{"job_id": "00000000-0000-0000-0000-000000000000", "attempt": 0}], "CL400", "attempt must be"),
    ([{"job_id": "00000000-0000-0000-0000-000000000000", "result": {"x": "y" * 1_048_576}}], "CL413", "result"),
])
def test_batch_complete_rejects_bad_input(owner: Caller, completions: object, code: str, message: str) -> None:
    with raises_sqlstate(code, message):
        owner.rpc("complete_jobs_v1", worker_id="w1", completions=completions)


def test_batch_complete_respects_membership(owner: Caller, make_user) -> None:
    mine, theirs = assign(owner, executor_id="exec-a"), assign(owner, executor_id="exec-b")
    user = make_user({"exec-a": "worker"})
    claim(owner, executor_id="exec-a", worker_id="w1")
    claim(owner, executor_id="exec-b", worker_id="w1")
    done = user.rpc("complete_jobs_v1", worker_id="w1",
                    completions=[{"job_id": str(mine)}, {"job_id": str(theirs)}])
    assert [d["id"] for d in done] == [mine]
    assert job(owner, theirs)["status"] == "running"


def test_complete_and_claim_completes_then_leases_the_next_job(owner: Caller) -> None:
    first, second = assign(owner), assign(owner)
    claim(owner, worker_id="w1")
    nxt = owner.one("complete_and_claim_v1", job_id=first, worker_id="w1", executor_id="ex",
                    result={"ok": 1}, attempt=1, lease_seconds=30)
    assert (nxt["id"], nxt["status"], nxt["attempts"], nxt["lease_owner"]) == (second, "running", 1, "w1")
    assert 29 <= (nxt["lease_until"] - nxt["started_at"]).total_seconds() <= 31
    done = job(owner, first)
    assert (done["status"], done["result"]) == ("succeeded", {"ok": 1})
    assert events(owner, first) == ["queued", "claimed", "succeeded"]
    assert events(owner, second) == ["queued", "claimed"]
    # nothing left to claim: the complete still happens, and no row comes back
    assert owner.rpc("complete_and_claim_v1", job_id=second, worker_id="w1", executor_id="ex") == []
    assert job(owner, second)["status"] == "succeeded"


def test_complete_and_claim_filters_by_type_prefix(owner: Caller) -> None:
    first = assign(owner, type="a.one")
    assign(owner, type="b.one")
    wanted = assign(owner, type="a.two")
    claim(owner, type_prefix="a.")
    nxt = owner.one("complete_and_claim_v1", job_id=first, worker_id="w1", executor_id="ex",
                    type_prefix="a.")
    assert nxt["id"] == wanted


def test_complete_and_claim_with_a_lost_lease_claims_nothing(owner: Caller) -> None:
    first, second = assign(owner), assign(owner)
    claim(owner, worker_id="w1")
    with raises_sqlstate("CL410", "lease lost"):
        owner.rpc("complete_and_claim_v1", job_id=first, worker_id="w2", executor_id="ex")
    assert job(owner, first)["status"] == "running" and job(owner, second)["status"] == "queued"
    assert events(owner, second) == ["queued"]
    with raises_sqlstate("CL400", "executor_id must be"):  # a bad claim undoes the complete
        owner.rpc("complete_and_claim_v1", job_id=first, worker_id="w1", executor_id="no spaces")
    assert job(owner, first)["status"] == "running"


def test_complete_and_claim_replayed_claims_again_without_completing_twice(owner: Caller) -> None:
    first, second = assign(owner), assign(owner)
    claim(owner, worker_id="w1")
    assert owner.one("complete_and_claim_v1", job_id=first, worker_id="w1", executor_id="ex")["id"] == second
    # a retry after a dropped connection: the complete is a no-op, the claim finds nothing
    assert owner.rpc("complete_and_claim_v1", job_id=first, worker_id="w1", executor_id="ex") == []
    assert events(owner, first) == ["queued", "claimed", "succeeded"]
    assert job(owner, second)["lease_owner"] == "w1"
