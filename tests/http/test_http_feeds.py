"""Shared event feeds (``collab_sdk.http.feeds``) over a real database: viewers of one
identity and filter share one reader and each event's serialization; a viewer from an
older ``since`` catches up on its own and then shares; different identities never share
(RLS); a viewer whose buffer cannot take a batch reads on its own and still gets every
event once, in order; one that stops taking events is dropped."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collab_sdk.auth.tokens import mint_token
from collab_sdk.http.feeds import FeedKey, SharedEvent, SlowConsumer, Viewer
from collab_sdk.http.runtime import Runtime, Settings
from collab_sdk.local.storage import LocalStorage
from collab_sdk.transports.base import EventFilter
from http_support import SECRET, make_runtime
from support import Caller, add_members, assign, claim


@pytest.fixture
async def runtime(db_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    storage = LocalStorage(tmp_path / "storage", base_url="http://localhost", secret="s" * 40)
    made = make_runtime(db_url, storage, Settings(rate_limit=0, stream_buffer=50, stream_slow_seconds=1))
    await made.client.connect()
    yield made
    await made.aclose()


def append(owner: Caller, job_id: uuid.UUID, count: int) -> list[int]:
    """``count`` events in one statement; their seqs."""
    rows = owner.sql("select (collab.append_job_event_v1(job_id => %s, worker_id => 'w1', "
                     "payload => jsonb_build_object('i', g))).seq from generate_series(1, %s) g",
                     (job_id, count))
    return sorted(r["seq"] for r in rows)


def log_of(owner: Caller, executor: str) -> list[int]:
    return [r["seq"] for r in owner.sql("select e.seq from collab.job_events e join collab.jobs j "
                                        "on j.id = e.job_id where j.executor_id = %s order by e.seq",
                                        (executor,))]


async def take(viewer: Viewer, count: int, into: list[SharedEvent], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(into) < count:
        assert time.monotonic() < deadline, f"{len(into)} of {count}"
        item = await viewer.next(1.0)
        if item is not None:
            into.append(item)


async def live_viewers(runtime: Runtime, owner: Caller, executor: str, count: int) -> tuple[uuid.UUID, list[Viewer]]:
    """A claimed job of ``executor`` and ``count`` trusted viewers of it, following from now."""
    job_id = assign(owner, executor_id=executor)
    claim(owner, executor_id=executor)
    key = FeedKey("trusted", EventFilter(executor_id=executor))
    head = await runtime.client.events_head()
    viewers = [runtime.feeds.open(key, runtime.client, head) for _ in range(count)]
    await asyncio.gather(*(v.next(0.2) for v in viewers))  # each is level with the feed now
    return job_id, viewers


async def test_viewers_of_one_identity_share_one_reader_and_each_serialization(
        runtime: Runtime, owner: Caller) -> None:
    job_id, viewers = await live_viewers(runtime, owner, "share", 20)
    key = viewers[0].key
    assert runtime.feeds.feeds == 1
    late = runtime.feeds.open(key, runtime.client, 0)  # from the log's start: catches up alone
    seqs = await asyncio.to_thread(append, owner, job_id, 30)
    got: list[list[SharedEvent]] = [[] for _ in viewers]
    await asyncio.gather(*(take(v, 30, got[i]) for i, v in enumerate(viewers)))
    for events in got:
        assert [e.seq for e in events] == seqs
        assert all(e is first for e, first in zip(events, got[0]))  # one object, one JSON
    caught: list[SharedEvent] = []
    everything = await asyncio.to_thread(log_of, owner, "share")
    await take(late, len(everything), caught)
    assert [e.seq for e in caught] == everything
    assert await late.next(0.2) is None
    assert late.feed is not None and runtime.feeds.feeds == 1  # level: it joined the feed
    more = await asyncio.to_thread(append, owner, job_id, 5)
    tail: list[SharedEvent] = []
    await take(late, 5, tail)
    assert [e.seq for e in tail] == more
    for v in [*viewers, late]:
        await v.aclose()
    assert runtime.feeds.feeds == 0 and runtime.feeds.viewers == 0


async def test_identities_never_share_a_reader(runtime: Runtime, owner: Caller) -> None:
    job_id = assign(owner, executor_id="exec-a")
    claim(owner, executor_id="exec-a")
    member, stranger = uuid.uuid4(), uuid.uuid4()
    add_members(owner, member, {"exec-a": "client"})
    identities = [runtime.authenticator.verify_token(mint_token(SECRET, sub=str(u), executors=e))
                  for u, e in ((member, {"exec-a": "client"}), (stranger, None))]
    events = EventFilter(executor_id="exec-a")
    head = await runtime.client.events_head()
    mine, theirs = (runtime.feeds.open(FeedKey(runtime.reader_key(i), events), runtime.client_for(i), head)
                    for i in identities)
    await asyncio.gather(mine.next(0.2), theirs.next(0.2))
    assert runtime.feeds.feeds == 2
    seqs = await asyncio.to_thread(append, owner, job_id, 3)
    got: list[SharedEvent] = []
    await take(mine, 3, got)
    assert [e.seq for e in got] == seqs
    assert await theirs.next(1.5) is None  # RLS: the stranger's reader sees none of it
    await mine.aclose()
    await theirs.aclose()


async def test_a_lagging_viewer_reads_alone_and_a_stalled_one_is_dropped(
        runtime: Runtime, owner: Caller) -> None:
    job_id, (lagging, stalled) = await live_viewers(runtime, owner, "lag", 2)
    seqs = await asyncio.to_thread(append, owner, job_id, 120)  # more than a buffer (50) holds
    got: list[SharedEvent] = []
    await take(lagging, 120, got)
    assert [e.seq for e in got] == seqs  # it left the feed, caught up alone: every event once
    await asyncio.sleep(2.5)  # the other took nothing for over a second
    with pytest.raises(SlowConsumer):
        while True:
            await stalled.next(0.5)
    assert runtime.feeds.dropped == 1
    await lagging.aclose()
    await stalled.aclose()
