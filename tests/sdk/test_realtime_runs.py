"""``watch_run`` woken live, by Supabase Realtime and by LISTEN: a run's watcher is
pushed its steps' starts and scheduled retries. Over Realtime the step jobs' ``claimed``
/ ``retry_scheduled`` rows carry the run's id, so the ``run_id=eq.<run>`` filter matches
them; over LISTEN the claim's trigger sends a hint naming the run. Streams poll every
30 s, so only a push can deliver an event within the bound."""

from __future__ import annotations

import asyncio
import time

import pytest

from collab_sdk.client.async_client import AsyncCollabClient
from collab_sdk.client.streams import live_source_for
from collab_sdk.models import JobEvent
from collab_sdk.transports.listen import PostgresLiveSource
from collab_sdk.transports.postgres import PostgresTransport
from test_realtime import POLL, Open, db_url, eventually, follow, open_client, realtime, source_of
from support.supabase import supabase_db_url, supabase_template_db

pytestmark = pytest.mark.filterwarnings("ignore:ConnectionClosed:DeprecationWarning")  # realtime-py's
__all__ = ["db_url", "open_client", "realtime", "supabase_db_url", "supabase_template_db"]  # fixtures
BOUND = 2.0  # seconds: far below the 30 s poll


async def _one_step_run(client: AsyncCollabClient) -> str:
    await client.workflows.register_step_types("ex", [{"name": "t.rt", "title": "RT"}])
    draft = await client.workflows.create("rt", executor_id="ex", definition={
        "nodes": [{"id": "a", "type": "t.rt", "data": {"max_attempts": 3}}], "edges": []})
    workflow = await client.workflows.publish(draft.id)
    return str((await client.workflows.start(workflow.id)).run.id)


def _kinds(seen: list[JobEvent]) -> list[str]:
    return [e.event_type for e in seen]


@pytest.mark.parametrize("live", ["realtime", "listen"])
async def test_a_run_watcher_is_pushed_its_steps_claims_and_retries(live: str, open_client: Open,
                                                                     db_url: str) -> None:
    client = open_client() if live == "realtime" else AsyncCollabClient(PostgresTransport(db_url))
    run_id = await _one_step_run(client)
    if live == "realtime":
        source = source_of(client)
        subscribed = lambda: source.subscriptions == 1  # noqa: E731
    else:
        listen = live_source_for(client.transport)
        assert isinstance(listen, PostgresLiveSource)
        source = listen
        subscribed = lambda: listen.listener is not None and listen.listener.connected.is_set()  # noqa: E731
    seen, watcher = follow(client.workflows.watch_run(run_id, since_seq=0, poll_interval=POLL, source=source))
    await eventually(lambda: _kinds(seen)[-1:] == ["run_running"] and subscribed())
    try:
        for attempt in (1, 2):
            started = time.monotonic()
            job = await client.claim("ex", "w1", type_prefix="t.rt")
            assert job is not None and job.attempts == attempt
            await eventually(lambda: _kinds(seen)[-1:] == ["step_running"], timeout=BOUND)
            assert time.monotonic() - started < BOUND
            assert seen[-1].payload["step_id"] == "a" and seen[-1].payload["attempt"] == attempt
            if attempt == 1:
                started = time.monotonic()
                await client.fail(job.id, "w1", error="again", retry_delay_seconds=0)
                await eventually(lambda: _kinds(seen)[-1:] == ["step_queued"], timeout=BOUND)
                assert time.monotonic() - started < BOUND and seen[-1].payload["error"] == "again"
        await client.complete(job.id, "w1", result={"ok": True}, attempt=job.attempts)
        await asyncio.wait_for(watcher, timeout=BOUND)  # run_succeeded pushed: the stream ends
    finally:
        watcher.cancel()
        if live == "listen":
            await client.aclose()
    assert _kinds(seen) == ["run_pending", "step_queued", "run_running", "step_running", "step_queued",
                            "step_running", "step_succeeded", "run_succeeded"]
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)
