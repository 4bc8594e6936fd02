"""The event hub (``collab_sdk.http.hub``) under the per-transaction hints of migration
20261202020000: a transaction of many statements over several executors sends a few
hints, and the hub still wakes every stream whose events it wrote (the executor's
streams, and a job stream whose job came after its executor's named hints ran out), and
no executor stream the transaction did not touch. (A hint naming no job wakes every job
stream: the hub indexes job streams by job only.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg

from collab_sdk.http.hub import EventHub
from collab_sdk.transports.base import EventFilter, Listens
from collab_sdk.transports.postgres import PostgresTransport
from support import Caller, eventually


async def test_a_long_transaction_over_several_executors_wakes_the_right_streams(
        db_url: str, owner: Caller) -> None:
    late = str(owner.one("assign_job_v1", type="t.late", executor_id="a")["job_id"])  # type: ignore[index]
    transport = PostgresTransport(db_url)
    assert isinstance(transport, Listens)
    hub = EventHub(transport)
    filters = {"a": EventFilter(executor_id="a"), "b": EventFilter(executor_id="b"),
               "c": EventFilter(executor_id="c"), "late": EventFilter(job_id=late)}
    woken = dict.fromkeys(filters, 0)
    stop = asyncio.Event()

    def waker(name: str) -> Callable[[], None]:
        return lambda: woken.__setitem__(name, woken[name] + 1)

    runs = [asyncio.create_task(hub.run(f, waker(name), stop)) for name, f in filters.items()]
    try:
        await eventually(lambda: hub.listener is not None and hub.listener.connected.is_set())
        await asyncio.sleep(0.1)
        before, notes = dict(woken), hub.notifications

        def one_transaction() -> None:
            with psycopg.connect(db_url) as writer:
                for executor in ["a", "b"] * 300:
                    writer.execute("select collab.assign_job_v1(type => 't.x', executor_id => %s)", (executor,))
                writer.execute("select collab.cancel_job_v1(job_id => %s)", (late,))

        await asyncio.to_thread(one_transaction)
        await eventually(lambda: all(woken[n] > before[n] for n in ("a", "b", "late")), timeout=10)
        await asyncio.sleep(0.3)  # every hint of the commit has arrived
        assert hub.notifications - notes == 10  # 4 named jobs + the executor, for a and for b
        assert woken["c"] == before["c"]  # an executor the transaction did not touch
    finally:
        stop.set()
        await asyncio.gather(*runs)
        await hub.aclose()
        await transport.aclose()
