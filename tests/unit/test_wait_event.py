"""``wait_event``: the waits of streams and workers give up on a stop, a timeout, or a
cancellation — including one that arrives as the event is set."""

from __future__ import annotations

import asyncio

import pytest

from collab_sdk.timing import wait_event


async def test_set_timeout_and_already_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5) is True
    assert await wait_event(event, 0) is True


async def test_a_cancellation_arriving_with_the_event_is_not_swallowed() -> None:
    """On Python 3.11 ``asyncio.wait_for(event.wait(), t)`` returns normally here and the
    task runs on: an event stream's ``aclose()`` then waited for ever."""
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_event(event, 10))
    await asyncio.sleep(0)
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert waiting.cancelled()
