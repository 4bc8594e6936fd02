"""job_events_after_v1: the gapless, seq-ordered read of the event log, and the
collab_events wake-ups. A later seq can commit before an earlier one; the reader must
never move past a seq that may still appear."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from collab_sdk.transports.listen import EVENTS_LISTENER_LOCK
from support import Caller, assign, assign_one_by_one, claim, raises_sqlstate, waiting_listener


def read(caller: Caller, after: int = 0, horizon: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"after_seq": after, **kw}
    if horizon:
        args |= {"horizon_seq": horizon["seq"], "horizon_xid": horizon["xid"]}
    return caller.value("job_events_after_v1", **args)  # type: ignore[no-any-return]


def seqs(page: dict[str, Any]) -> list[int]:
    return [e["seq"] for e in page["events"]]


def all_seqs(owner: Caller) -> list[int]:
    return [r["seq"] for r in owner.sql("select seq from collab.job_events order by seq")]


def test_a_jobs_life_in_order(owner: Caller) -> None:
    job_id = assign(owner)
    claim(owner)
    owner.rpc("complete_job_v1", job_id=job_id, worker_id="w1", result={"ok": True})
    page = read(owner, job_id=job_id)
    assert [e["event_type"] for e in page["events"]] == ["queued", "claimed", "succeeded"]
    assert page["cursor"] == max(seqs(page)) and page["horizon"] is None and page["more"] is False
    assert "xact_id" not in page["events"][0]
    again = read(owner, after=page["cursor"], job_id=job_id)
    assert again["events"] == [] and again["cursor"] == page["cursor"]


def test_an_open_transaction_holds_back_later_commits(owner: Caller, db_url: str) -> None:
    first = assign(owner)
    base = read(owner)["cursor"]
    with psycopg.connect(db_url, autocommit=True) as slow:
        with slow.transaction():
            slow.execute("select * from collab.assign_job_v1(type => 't.slow', executor_id => 'ex')")
            fast = assign(owner, type="t.fast")  # a higher seq, committed first
            page = read(owner, after=base)
            assert page["events"] == [] and page["cursor"] == base, "released past an open seq"
            assert page["horizon"] is not None
            held = read(owner, after=base, horizon=page["horizon"])
            assert held["events"] == [], "the horizon settled while its transaction was open"
        page = read(owner, after=base, horizon=page["horizon"])
    types = [e["payload"]["type"] for e in page["events"]]
    assert types == ["t.slow", "t.fast"] and seqs(page) == sorted(seqs(page))
    assert {e["job_id"] for e in page["events"]} >= {str(fast)} and first


def test_a_rolled_back_seq_is_skipped_once_older_transactions_end(owner: Caller, db_url: str) -> None:
    base = read(owner)["cursor"]
    with psycopg.connect(db_url, autocommit=True) as gone:
        with pytest.raises(ZeroDivisionError), gone.transaction():
            gone.execute("select * from collab.assign_job_v1(type => 't.gone', executor_id => 'ex')")
            raise ZeroDivisionError
    kept = assign(owner, type="t.kept")  # after the gap
    with psycopg.connect(db_url, autocommit=True) as busy, busy.transaction():
        busy.execute("select * from collab.assign_job_v1(type => 't.busy', executor_id => 'ex')")
        first = read(owner, after=base)
        assert first["events"] == [] and first["horizon"] is not None, "a gap with a writer still open"
    second = read(owner, after=first["cursor"], horizon=first["horizon"])
    assert [e["payload"]["type"] for e in second["events"]] == ["t.kept", "t.busy"]
    assert str(kept) == second["events"][0]["job_id"]
    assert second["cursor"] == all_seqs(owner)[-1]


def test_the_head_stays_below_open_transactions(owner: Caller, make_user: Any, db_url: str) -> None:
    assert owner.value("job_events_head_v1") == 0
    assign(owner)
    assert owner.value("job_events_head_v1") == all_seqs(owner)[-1]
    with psycopg.connect(db_url, autocommit=True) as slow, slow.transaction():
        slow.execute("select * from collab.assign_job_v1(type => 't.slow', executor_id => 'ex')")
        assign(owner)
        head = owner.value("job_events_head_v1")
        assert head == all_seqs(owner)[0], "the head passed a seq that may still commit"
    assert make_user({}).value("job_events_head_v1") == all_seqs(owner)[-1]


def test_pages_filters_and_visibility(owner: Caller, make_user: Any) -> None:
    for _ in range(3):
        assign(owner, executor_id="exec-a")
    b_job = assign(owner, executor_id="exec-b")
    page = read(owner, page_size=2)
    assert len(page["events"]) == 2 and page["more"] is True and page["cursor"] == seqs(page)[-1]
    rest = read(owner, after=page["cursor"], page_size=2)
    assert len(rest["events"]) == 2 and seqs(page) + seqs(rest) == all_seqs(owner)
    only_b = read(owner, executor_id="exec-b")
    assert [e["job_id"] for e in only_b["events"]] == [str(b_job)]
    member_a = make_user({"exec-a": "client"})
    assert {e["executor_id"] for e in read(member_a)["events"]} == {"exec-a"}
    assert read(member_a, executor_id="exec-b")["events"] == []
    assert read(member_a, executor_id="exec-b")["cursor"] == all_seqs(owner)[-1]
    with raises_sqlstate("CL404", "not found"):
        read(member_a, job_id=b_job)


def test_bad_arguments(owner: Caller, anon: Caller, db_url: str) -> None:
    with raises_sqlstate("CL400", "page_size must be between 1 and 10000"):
        read(owner, page_size=0)
    with raises_sqlstate("CL400", "after_seq must be >= 0"):
        read(owner, after=-1)
    with raises_sqlstate("CL400", "invalid horizon_xid"):
        read(owner, horizon={"seq": 1, "xid": "not-a-number"})
    with raises_sqlstate("CL404", "not found"):
        read(owner, job_id=uuid.uuid4())
    with raises_sqlstate("42501", "permission denied"):
        read(anon)
    with psycopg.connect(db_url, autocommit=True) as conn, conn.transaction():
        conn.execute("set transaction isolation level repeatable read")
        with raises_sqlstate("CL400", "read committed"):
            conn.execute("select collab.job_events_after_v1()")


def _listening(db_url: str) -> psycopg.Connection:
    listener = psycopg.connect(db_url, autocommit=True)
    listener.execute("select pg_advisory_lock_shared(%s)", (EVENTS_LISTENER_LOCK,))
    listener.execute("listen collab_events")
    return listener


def test_hints_name_the_executor_and_the_job_and_nothing_else(owner: Caller, db_url: str) -> None:
    with _listening(db_url) as listener:
        owner.rpc("assign_jobs_v1", jobs=[{"type": "t.batch", "executor_id": "ex"}] * 500)
        job_id = assign(owner, executor_id="other")
        owner.rpc("assign_jobs_v1", jobs=[{"type": "t.two", "executor_id": e} for e in ("a", "b", "b")])
        hints = [json.loads(n.payload) for n in listener.notifies(timeout=0.5)]
    assert hints[:2] == [{"executor_id": "ex", "job_id": None}, {"executor_id": "other", "job_id": str(job_id)}]
    a_job = owner.sql("select id from collab.jobs where executor_id = 'a'")[0]["id"]
    assert sorted(hints[2:], key=lambda h: h["executor_id"]) == [
        {"executor_id": "a", "job_id": str(a_job)}, {"executor_id": "b", "job_id": None}]


def test_ten_thousand_statements_in_one_transaction_send_a_handful(owner: Caller, db_url: str) -> None:
    """Postgres folds only identical payloads; the transaction remembers what it hinted:
    the first 4 jobs by name, then the executor once, then nothing (collab_jobs: once)."""
    with _listening(db_url) as events, waiting_listener(db_url, "ex") as jobs:
        ids = assign_one_by_one(db_url, ["ex"] * 10_000)
        hints = [json.loads(n.payload) for n in events.notifies(timeout=1.0)]
        wakeups = [n.payload for n in jobs.notifies(timeout=0.3)]
    assert len(ids) == 10_000 and len(set(ids)) == 10_000
    assert hints == [{"executor_id": "ex", "job_id": j} for j in ids[:4]] + [{"executor_id": "ex", "job_id": None}]
    assert wakeups == ["ex"]
    assert owner.sql("select count(*) as n from collab.job_events")[0]["n"] == 10_000


def test_each_executor_of_a_transaction_is_hinted(owner: Caller, db_url: str) -> None:
    with _listening(db_url) as events, waiting_listener(db_url, "a", "b", "c") as jobs:
        assign_one_by_one(db_url, ["a", "b", "c"] * 1000)
        hints = [json.loads(n.payload) for n in events.notifies(timeout=1.0)]
        wakeups = sorted(n.payload for n in jobs.notifies(timeout=0.3))
    assert wakeups == ["a", "b", "c"]
    for executor in "abc":
        mine = [h for h in hints if h["executor_id"] == executor]
        assert len(mine) == 5 and mine[-1]["job_id"] is None and all(h["job_id"] for h in mine[:4])
    assert len(hints) == 15  # nothing for nobody: every hint names its executor


def test_past_eight_executors_a_transaction_hints_everything_once(owner: Caller, db_url: str) -> None:
    with _listening(db_url) as events, waiting_listener(db_url, "late") as jobs:
        with psycopg.connect(db_url) as writer:
            for _ in range(3):
                writer.execute("select collab.assign_jobs_v1(jobs => %s)",
                               (Jsonb([{"type": "t", "executor_id": f"ex{i}"} for i in range(20)]),))
            writer.execute("select collab.assign_job_v1(type => 't', executor_id => 'late')")
        hints = [json.loads(n.payload) for n in events.notifies(timeout=1.0)]
        wakeups = [n.payload for n in jobs.notifies(timeout=0.3)]
    assert hints == [{"executor_id": None, "job_id": None}]
    assert wakeups == ["*", "late"]  # Postgres folds the three '*'


def test_a_rolled_back_savepoint_takes_its_hints_back(owner: Caller, db_url: str) -> None:
    """The marker and the notifications queued under a savepoint go back together: after
    5 jobs under a rolled-back savepoint (the executor fully hinted, had it committed),
    the next job of that executor is hinted again."""
    with _listening(db_url) as events:
        with psycopg.connect(db_url) as writer:
            writer.execute("select 1")  # the transaction is open: the block below is a savepoint
            with pytest.raises(ZeroDivisionError), writer.transaction():
                for _ in range(5):
                    writer.execute("select collab.assign_job_v1(type => 't.gone', executor_id => 'ex')")
                raise ZeroDivisionError
            kept = writer.execute("select job_id from collab.assign_job_v1(type => 't.kept', executor_id => 'ex')"
                                  ).fetchone()[0]  # type: ignore[index]
        hints = [json.loads(n.payload) for n in events.notifies(timeout=0.5)]
    assert hints == [{"executor_id": "ex", "job_id": str(kept)}]


def test_no_notifications_while_nobody_holds_the_listener_lock(owner: Caller, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("listen collab_events")  # listening without the lock: nothing is sent
        assign(owner)
        assert list(listener.notifies(timeout=0.3)) == []
        listener.execute("select pg_advisory_lock_shared(%s)", (EVENTS_LISTENER_LOCK,))
        assign(owner)
        assert len(list(listener.notifies(timeout=0.3))) == 1
        listener.execute("select pg_advisory_unlock_shared(%s)", (EVENTS_LISTENER_LOCK,))
        assign(owner)
        assert list(listener.notifies(timeout=0.3)) == []


@pytest.mark.slow
def test_a_polling_reader_sees_every_committed_event_once_in_order(owner: Caller, db_url: str) -> None:
    """Writers hold their transactions open for random times and sometimes roll back,
    so seqs commit out of order and leave gaps; the reader must still end with exactly
    the committed events, ascending, without duplicates."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        rng = random.Random(n)
        try:
            with psycopg.connect(db_url, autocommit=True) as conn:
                while not stop.is_set():
                    try:
                        with conn.transaction():
                            conn.execute("select * from collab.assign_job_v1(type => 't.w', executor_id => 'ex')")
                            time.sleep(rng.random() * 0.01)
                            if rng.random() < 0.15:
                                raise ZeroDivisionError  # roll back: a permanent gap
                    except ZeroDivisionError:
                        pass
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    seen: list[int] = []
    cursor, horizon = 0, None
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        def poll() -> None:
            nonlocal cursor, horizon
            page = conn.execute(
                "select collab.job_events_after_v1(after_seq => %s, horizon_seq => %s, horizon_xid => %s) as p",
                (cursor, horizon and horizon["seq"], horizon and horizon["xid"])).fetchone()["p"]
            seen.extend(e["seq"] for e in page["events"])
            cursor, horizon = page["cursor"], page["horizon"]

        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            poll()
        stop.set()
        for t in threads:
            t.join()
        for _ in range(3):
            poll()
    assert not errors
    committed = all_seqs(owner)
    assert len(committed) > 200
    assert seen == committed
